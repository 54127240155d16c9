"""Ceph fixtures: one throwaway single-node cluster for the whole test session.

Import them by name (``pytest_plugins = ["tests.functional.ceph_fixtures"]``):

* ``ceph_cluster`` (session): a :class:`tools.cephcluster.CephCluster` started in a
  fresh folder under ``/var/tmp`` (mon, mgr when installed, one bluestore OSD, pool
  ``volumelib`` of size 1, cephx user ``client.volumelib`` with ``profile rbd``),
  stopped by PID and removed at the end of the session, also after failures.
* ``rbd_backend_config`` (session): the ``volumelib.Backend`` keyword arguments for
  the ``rbd`` driver on that cluster (``volume_driver``, ``rbd_pool``, ``rbd_user``,
  ``rbd_ceph_conf``, ``rbd_keyring``, ``rados_connect_timeout``); copy it before
  changing it. Stable: other suites (the cinderlib compatibility scripts) use it.
* ``rbd_backend``: a ``Backend`` named ``rbd-test`` on memory persistence; at teardown
  its attachments are undone and every volumelib object left in the pool is removed
  (the driver's own ``gc`` with nothing known, then a purge of the RBD trash with the
  driver's clock past any deferred deletion delay), so tests do not see each other's.
* ``make_rbd_backend(**overrides)``: more backends with other options, cleaned up too.
* ``requires_ceph()``: skip (fail under ``CI=true``) without root, the Ceph programs or
  the ``rados``/``rbd`` bindings.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers import requires_root
from tools.cephcluster import CephCluster, ceph_available

__all__ = ["requires_ceph", "ceph_cluster", "rbd_backend_config", "rbd_backend",
           "make_rbd_backend", "cleanup_backend", "CEPH_PARENT"]

#: Where the cluster folder goes (the root filesystem: bluestore wants O_DIRECT).
CEPH_PARENT = "/var/tmp"


def requires_ceph() -> None:
    """Skip (fail under ``CI=true``) unless a cluster can be started and used here."""
    requires_root()
    missing = ceph_available()
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (Debian packages ceph-mon ceph-osd "
                    f"ceph-common; tools/setup-env installs them)")
    try:
        import rados  # noqa: F401
        import rbd  # noqa: F401
    except ImportError as e:
        pytest.skip(f"needs the rados and rbd Python bindings (python3-rados, "
                    f"python3-rbd, linked into the venv by tools/setup-env): {e}")


_PREFIX = "volumelib-ceph-"
_OWNER = "owner.pid"


def _reap_abandoned() -> None:
    """Stop (by PID) and remove the clusters of earlier sessions whose process died
    without its teardown (a crash, SIGKILL); live sessions' clusters are left alone."""
    for entry in os.listdir(CEPH_PARENT):
        folder = os.path.join(CEPH_PARENT, entry)
        owner_file = os.path.join(folder, _OWNER)
        if not entry.startswith(_PREFIX) or not os.path.isfile(owner_file):
            continue
        try:
            with open(owner_file, encoding="ascii") as f:
                owner = int(f.read().strip())
            os.kill(owner, 0)
            continue  # its session is still running
        except ProcessLookupError:
            pass
        except (OSError, ValueError):
            continue
        CephCluster(folder).purge()


@pytest.fixture(scope="session")
def ceph_cluster() -> Iterator[CephCluster]:
    """A running single-node cluster, stopped (by PID) and removed after the session.

    The folder records this process's PID, so a later session removes a cluster
    left behind by a crash (see :func:`_reap_abandoned`)."""
    requires_ceph()
    _reap_abandoned()
    workdir = tempfile.mkdtemp(prefix=_PREFIX, dir=CEPH_PARENT)
    with open(os.path.join(workdir, _OWNER), "w", encoding="ascii") as f:
        f.write(str(os.getpid()))
    cluster = CephCluster(workdir)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def rbd_backend_config(ceph_cluster: CephCluster) -> dict[str, Any]:
    """``Backend(**config)`` keywords (without ``volume_backend_name``) for the rbd driver."""
    return ceph_cluster.backend_config()


def cleanup_backend(backend: Any) -> None:
    """Undo attachments and remove every volumelib object of ``backend``'s pool, the
    images waiting in the RBD trash included (deferred deletion)."""
    import volumelib
    for vol in backend.volumes:
        for conn in vol.connections:
            try:
                if conn.attached:
                    conn.detach(force=True)
                conn.disconnect(force=True)
            except volumelib.VolumelibError:
                pass
    driver = backend.driver
    driver.gc(lambda kind, object_id: False)
    if not hasattr(driver, "purge_trash"):  # not volumelib's rbd driver (Cinder's, say)
        return
    now = time.time
    driver.clock = lambda: now() + driver.MAX_DEFERRED_DELETION_DELAY + 2
    try:
        driver.purge_trash()
    finally:
        driver.clock = now


@pytest.fixture
def rbd_backend(rbd_backend_config: dict[str, Any]) -> Iterator[Any]:
    """A ``Backend`` on the session's cluster with memory persistence."""
    import volumelib
    volumelib.setup()
    backend = volumelib.Backend(volume_backend_name="rbd-test", **rbd_backend_config)
    try:
        yield backend
    finally:
        try:
            cleanup_backend(backend)
        finally:
            backend.close()
            volumelib.setup()


@pytest.fixture
def make_rbd_backend(rbd_backend_config: dict[str, Any]) -> Iterator[Any]:
    """``make_rbd_backend(**overrides)``: more backends on the session's cluster with
    other options; cleaned up (like ``rbd_backend``) and closed at teardown."""
    import volumelib
    made: list[Any] = []

    def make(**overrides: Any) -> Any:
        config = dict(rbd_backend_config, **overrides)
        backend = volumelib.Backend(volume_backend_name=f"rbd-{len(made)}", **config)
        made.append(backend)
        return backend

    yield make
    for backend in made:
        try:
            cleanup_backend(backend)
        finally:
            backend.close()
