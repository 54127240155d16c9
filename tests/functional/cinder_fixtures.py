"""Fixtures for Cinder's own drivers run through ``volumelib.drivers.cinder``.

* ``requires_cinder()``: skip (fail under ``CI=true``) unless Cinder (the extra
  ``volumelib[cinder]``, which ``tools/setup-env`` installs) imports.
* ``cinder_rbd_config`` (session): ``Backend`` keywords for Cinder's ``RBDDriver`` on
  the session's throwaway Ceph cluster (:mod:`tests.functional.ceph_fixtures`), in
  Cinder's option names (``rbd_keyring_conf``, as cinderlib users wrote them).
* ``cinder_rbd_backend``: a ``Backend`` on it (memory store); at teardown
  attachments are undone and every volumelib-named image or snapshot left in the
  pool is removed through the adapter's own ``gc`` with nothing known.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.functional.ceph_fixtures import cleanup_backend

__all__ = ["requires_cinder", "cinder_rbd_config", "cinder_rbd_backend",
           "CINDER_RBD"]

CINDER_RBD = "cinder.volume.drivers.rbd.RBDDriver"


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
