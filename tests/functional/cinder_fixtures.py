"""Fixtures for Cinder's own drivers run through ``volumelib.drivers.cinder``.

* ``requires_cinder()``: skip (fail under ``CI=true``) unless Cinder (the extra
  ``volumelib[cinder]``, which ``tools/setup-env`` installs) imports.
* ``cinder_rbd_config`` (session): ``Backend`` keywords for Cinder's ``RBDDriver`` on
  the session's throwaway Ceph cluster (:mod:`tests.functional.ceph_fixtures`), in
  Cinder's option names (``rbd_keyring_conf``, as cinderlib users wrote them).
* ``cinder_rbd_backend``: a ``Backend`` on it (memory store); at teardown
  attachments are undone and every volumelib-named image or snapshot left in the
  pool is removed through the adapter's own ``gc`` with nothing known.
* ``nfs_share``: a local directory presented to Cinder's NFS driver as the share
  ``127.0.0.1:<dir>``, bind-mounted at the mount point the driver computes (this
  kernel has no NFS client: see ``test_cinder_nfs_conformance.py``), with the
  ``Backend`` keywords for it; unmounted by path and removed afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import hashlib
import os
import shutil
import subprocess
import tempfile

import pytest

from tests.functional.ceph_fixtures import cleanup_backend
from tests.helpers import requires_root, requires_tool

__all__ = ["requires_cinder", "cinder_rbd_config", "cinder_rbd_backend", "nfs_share",
           "CINDER_RBD", "NFS"]

CINDER_RBD = "cinder.volume.drivers.rbd.RBDDriver"
NFS = "cinder.volume.drivers.nfs.NfsDriver"


def requires_cinder() -> None:
    """Skip (fail under ``CI=true``) unless Cinder is installed in this venv."""
    try:
        import cinder.volume.driver  # noqa: F401
    except ImportError as e:
        pytest.skip(f"needs OpenStack Cinder (pip install 'volumelib[cinder]'; "
                    f"tools/setup-env installs it): {e}")


@pytest.fixture(scope="session")
def cinder_rbd_config(rbd_backend_config: dict[str, Any]) -> dict[str, Any]:
    requires_cinder()
    return {"volume_driver": CINDER_RBD,
            "rbd_pool": rbd_backend_config["rbd_pool"],
            "rbd_user": rbd_backend_config["rbd_user"],
            "rbd_ceph_conf": rbd_backend_config["rbd_ceph_conf"],
            "rbd_keyring_conf": rbd_backend_config["rbd_keyring"],
            "rados_connect_timeout": 10}


@pytest.fixture
def cinder_rbd_backend(cinder_rbd_config: dict[str, Any]) -> Iterator[Any]:
    import volumelib
    volumelib.setup()
    backend = volumelib.Backend(volume_backend_name="cinder-rbd", **cinder_rbd_config)
    try:
        yield backend
    finally:
        try:
            cleanup_backend(backend)
        finally:
            backend.close()
            volumelib.setup()


@pytest.fixture
def nfs_share() -> Iterator[dict[str, Any]]:
    """A local directory presented as the NFS share ``127.0.0.1:<dir>`` (bind mount at
    the driver's mount point), unmounted (by path) and removed afterwards."""
    requires_root()
    requires_tool("mount", "umount", "qemu-img", "qemu-io")
    requires_cinder()
    if not (shutil.which("mount.nfs") or os.path.exists("/sbin/mount.nfs")):
        pytest.skip("needs mount.nfs (Debian nfs-common; tools/setup-env installs it): "
                    "Cinder's NFS driver checks it at set-up")
    work = tempfile.mkdtemp(prefix="volumelib-cinder-nfs-", dir="/var/tmp")
    export = os.path.join(work, "export")
    base = os.path.join(work, "mnt")
    os.makedirs(export)
    share = f"127.0.0.1:{export}"
    mount_point = os.path.join(base, hashlib.md5(share.encode()).hexdigest())
    os.makedirs(mount_point)
    shares = os.path.join(work, "shares.conf")
    with open(shares, "w", encoding="ascii") as f:
        f.write(share + "\n")
    subprocess.run(["mount", "--bind", export, mount_point], check=True, timeout=60)
    try:
        yield {"export": export, "config": {
            "volume_driver": NFS, "nfs_shares_config": shares,
            "nfs_mount_point_base": base, "nfs_snapshot_support": True,
            "nfs_sparsed_volumes": True, "nas_secure_file_operations": "false",
            "nas_secure_file_permissions": "false"}}
    finally:
        subprocess.run(["umount", mount_point], check=False, timeout=60)
        shutil.rmtree(work, ignore_errors=True)
