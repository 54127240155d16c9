"""The rbd driver, through the public API, passes the driver conformance suite on a real
single-node Ceph cluster (``tools/cephcluster.py``, one per test session).

Data is written and read with librbd directly (faster than an attach per check). An
rbd attach yields os-brick's file-like handle, not a block device, so the suite's two
tests that ``stat``/``open`` ``conn.path`` are replaced by handle versions below.
"""

from __future__ import annotations

from typing import Any

import pytest

from volumelib.drivers.types import Capability
from volumelib.testing import drivers as suite

pytest_plugins = ["tests.functional.ceph_fixtures"]

MiB = 1024 ** 2
GiB = 1024 ** 3


class RBDFixtures(suite.DriverFixtures):
    @pytest.fixture
    def backend(self, rbd_backend: Any) -> Any:
        return rbd_backend

    def write_data(self, backend: Any, volume: Any, offset: int, data: bytes) -> None:
        with backend.driver.open_image(volume.id) as image:
            image.write(data, offset)
            image.flush()

    def read_data(self, backend: Any, volume: Any, offset: int, length: int) -> bytes:
        with backend.driver.open_image(volume.id, read_only=True) as image:
            return image.read(offset, length)


class TestRBDDriver(RBDFixtures, suite.DriverSuite):
    def test_attach_detach(self, backend: Any) -> None:
        """Attach through os-brick's RBD connector (userspace): ``conn.path`` is a
        file-like handle on the image that reads and writes it."""
        assert Capability.LOCAL_ATTACH in backend.capabilities
        vol = backend.create_volume(1)
        conn = vol.attach()
        try:
            handle = conn.path
            assert conn.attached and not isinstance(handle, str)
            assert conn.device["type"] == "handle"
            handle.seek(3 * MiB)
            handle.write(b"through-the-handle" * 100)
            handle.flush()
            handle.seek(3 * MiB)
            assert handle.read(1800) == b"through-the-handle" * 100
            assert backend.get_volume(vol.id).status == "in-use"
            assert "handle" in vol.connections[0].jsons  # stored without the handle
        finally:
            vol.detach()
        assert vol.status == "available" and vol.connections == []
        assert self.read_data(backend, vol, 3 * MiB, 18) == b"through-the-handle"
        vol.delete()

    def test_extend_while_attached(self, backend: Any) -> None:
        vol = backend.create_volume(1)
        conn = vol.attach()
        try:
            vol.extend(2)
            handle = conn.path
            handle.seek(0, 2)
            assert handle.tell() == 2 * GiB
        finally:
            vol.detach()
        vol.delete()
