"""A Cinder driver that implements the generic group interface, run through the
adapter by its dotted path (as a vendor's out-of-tree Cinder driver is), passes the
driver conformance suite: the adapter's mapping of the CG interface onto Cinder's
``create_group``/``create_group_snapshot``/``create_group_from_src``... is exercised,
with consistent group snapshots. The driver (``tests/unit/cinder_memory_driver.py``)
keeps its data in memory; it needs Cinder installed, not storage."""

from __future__ import annotations

from typing import Any

import pytest

import volumelib
from volumelib.drivers.types import Capability
from volumelib.testing import drivers as suite

PATH = "tests.unit.cinder_memory_driver.MemoryDriver"


class MemoryFixtures(suite.DriverFixtures):
    @pytest.fixture
    def backend(self) -> Any:
        try:
            import cinder.volume.driver  # noqa: F401
        except ImportError as e:
            pytest.skip(f"needs OpenStack Cinder (pip install 'volumelib[cinder]'): {e}")
        volumelib.setup()
        backend = volumelib.Backend("cinder-memory", PATH)
        yield backend
        backend.driver.gc(lambda kind, object_id: False)
        backend.close()

    def write_data(self, backend: Any, volume: Any, offset: int, data: bytes) -> None:
        backend.driver.cinder_driver.write(volume.id, offset, data)

    def read_data(self, backend: Any, volume: Any, offset: int, length: int) -> bytes:
        return backend.driver.cinder_driver.read(volume.id, offset, length)

    def data_size(self, backend: Any, volume: Any) -> int:
        return backend.driver.cinder_driver.size(volume.id)


class TestCinderMemoryDriver(MemoryFixtures, suite.DriverSuite):
    def test_group_snapshots_go_through_cinders_group_interface(self, backend: Any
                                                                ) -> None:
        from tests.unit import cinder_memory_driver as memory
        assert Capability.CONSISTENT_GROUP_SNAPSHOT in backend.capabilities
        a, b = backend.create_volume(1), backend.create_volume(1)
        group = backend.create_group(volumes=[a, b], group_type=suite.CONSISTENT)
        assert memory._GROUPS[group.id] == {a.id, b.id}  # update_group was called
        gs = group.create_snapshot()
        assert gs.consistent  # the driver's create_group_snapshot, not the fallback
        copy = backend.create_group_from_src(group_snapshot=gs)
        assert memory._GROUPS[copy.id] == {v.id for v in copy.volumes}
        copy.delete(delete_volumes=True)
        gs.delete()
        group.delete(delete_volumes=True)
        assert group.id not in memory._GROUPS and a.id not in memory._VOLUMES
