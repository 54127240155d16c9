"""The rbd driver, through the public API, passes the driver conformance suite on a real
single-node Ceph cluster (``tools/cephcluster.py``, one per test session), with its
default options and again with deferred deletion on (deletes move images to the RBD
trash; the suite must not tell the difference, and its "nothing left behind" check does
not count images waiting in the trash for their delay).

Data is reached through the suite's default: a local attach, which for rbd is
os-brick's userspace connector giving a file-like handle in ``conn.path`` (the suite
reads and writes either form). One test here checks what is rbd's own: the handle is
not stored with the connection.
"""

from __future__ import annotations

from typing import Any

import pytest

from volumelib.testing import drivers as suite

pytest_plugins = ["tests.functional.ceph_fixtures"]


class RBDFixtures(suite.DriverFixtures):
    @pytest.fixture
    def backend(self, rbd_backend: Any) -> Any:
        return rbd_backend

    @pytest.fixture
    def migration_target(self, ceph_cluster: Any, make_rbd_backend: Any) -> Any:
        """A backend on another pool of the same cluster (the deep copy)."""
        return make_rbd_backend(rbd_pool=ceph_cluster.add_pool("volumelib-target")["rbd_pool"])


class TestRBDDriver(RBDFixtures, suite.DriverSuite):
    def test_attach_gives_a_handle_not_stored(self, backend: Any) -> None:
        """An rbd attach is userspace: ``conn.path`` is a file-like handle on the
        image, and the stored connection names the device type, not the handle."""
        vol = backend.create_volume(1)
        conn = vol.attach()
        try:
            assert not isinstance(conn.path, str) and callable(conn.path.read)
            assert conn.device["type"] == "handle"
            assert "handle" in vol.connections[0].jsons
        finally:
            vol.detach()
        vol.delete()


class RBDDeferredFixtures(suite.DriverFixtures):
    @pytest.fixture
    def backend(self, make_rbd_backend: Any) -> Any:
        return make_rbd_backend(rbd_deferred_deletion=True, rbd_deferred_deletion_delay=60)


class TestRBDDriverDeferredDeletion(RBDDeferredFixtures, suite.DriverSuite):
    """The whole suite with every delete going through the RBD trash (a minute's
    delay, so nothing is purged while a test runs)."""
