"""Conformance tests of manage/unmanage, retype, migration and the allocation map
(part of :class:`volumelib.testing.drivers.DriverSuite`).

Each test says which capability it needs (``MANAGE_EXISTING``,
``MANAGE_EXISTING_SNAPSHOT``, ``ALLOCATION_MAP``...) and is not applicable (``N/A:``)
to a driver that does not declare it. What a driver declares is checked:

* manage: an object made outside volumelib is what :meth:`MoveFixtures.foreign_volume`
  returns; by default a volume made through the library and unmanaged, so any driver
  is tested without knowing its storage (override it to adopt a truly foreign one);
* migration: to :meth:`MoveFixtures.migration_target`, a second backend of the driver
  in the same store, which a driver's own test module provides (without one the
  migration tests are ``N/A``); whatever the driver declares, the volume must arrive
  with its id, record and data, and the host-assisted copy runs too when both
  backends declare ``LOCAL_ATTACH``.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from volumelib import exceptions as exc
from volumelib.drivers.types import Capability
from volumelib.testing import not_applicable, require_capabilities

__all__ = ["MoveFixtures", "ManageTests", "ManageSnapshotTests", "MigrationTests",
           "RetypeTests", "AllocationMapTests", "MOVE_TESTS"]

MiB = 1024 ** 2
GiB = 1024 ** 3
#: A name no backend holds (references to it must be refused as not found).
MISSING = "volumelib-conformance-no-such-object"


def _records(backend: Any) -> list[tuple[str, str, str, int]]:
    store = backend.persistence
    return sorted((v.id, v.status, v.backend_name, v.size) for v in store.get_volumes())


class MoveFixtures:
    """Fixtures of the move tests; a backend's test module overrides what it can."""

    @pytest.fixture
    def migration_target(self, backend: Any) -> Any:
        """A second backend of the same driver, in the same store as ``backend``, that
        ``backend``'s volumes may migrate to (another pool, root, array...). Default:
        none, and the migration tests are not applicable; a driver's own test module
        provides one (volumelib's do, for fake, file and rbd). The vendor kit has a
        single backend per target, so there they are reported ``N/A``."""
        not_applicable(f"the fixtures give no second {backend.driver_name} backend to "
                       f"migrate to (override migration_target)")

    def foreign_volume(self, backend: Any, data: bytes, offset: int) -> dict[str, Any]:
        """A storage object made outside volumelib holding ``data`` at ``offset``, of
        1 GiB; returns its reference. Default: a volume made here, then unmanaged."""
        vol = backend.create_volume(1, name="conformance-foreign")
        self.write_data(backend, vol, offset, data)  # type: ignore[attr-defined]
        ref = vol.unmanage()
        assert ref, f"{backend.driver_name}.unmanage() returned no reference"
        return ref


class ManageTests(MoveFixtures):
    """``MANAGE_EXISTING``: list, adopt, unmanage."""

    def test_unmanage_keeps_the_data_and_manage_adopts_it_again(self, backend: Any) -> None:
        require_capabilities(backend, Capability.MANAGE_EXISTING)
        data = b"made outside volumelib" * 100
        ref = self.foreign_volume(backend, data, 4096)  # type: ignore[attr-defined]
        assert backend.volumes == []
        listed = [m for m in backend.manageable_volumes() if m["reference"] == ref]
        assert len(listed) == 1, backend.manageable_volumes()
        entry = listed[0]
        assert set(entry) >= {"reference", "size", "safe_to_manage", "reason_not_safe",
                              "cinder_id", "extra_info"}
        assert entry["safe_to_manage"] is True and entry["size"] == 1
        assert backend.gc(older_than=0)["orphans"] == []  # not taken for an orphan
        vol = backend.manage(ref, name="adopted")
        assert (vol.status, vol.size, vol.name) == ("available", 1, "adopted")
        assert backend.get_volume(vol.id).status == "available"
        assert self.read_data(backend, vol, 4096, len(data)) == data  # type: ignore[attr-defined]
        assert not [m for m in backend.manageable_volumes() if m["reference"] == ref
                    and m["safe_to_manage"]]
        vol.delete()

    def test_bad_references_change_nothing(self, backend: Any) -> None:
        require_capabilities(backend, Capability.MANAGE_EXISTING)
        keep = backend.create_volume(1)
        before = _records(backend)
        for reference, error in (({"source-name": MISSING}, exc.ReferenceNotFound),
                                 ({"no-such-key": "x"}, exc.InvalidReference),
                                 ("not a mapping", exc.InvalidReference)):
            with pytest.raises(error):
                backend.manage(reference)
            assert _records(backend) == before
        with pytest.raises(exc.VolumeTypeNotFound):
            backend.manage({"source-name": MISSING}, volume_type="no-such-type")
        assert _records(backend) == before
        keep.delete()

    def test_unmanage_refuses_snapshots_and_connections(self, backend: Any,
                                                        connector: dict[str, Any]) -> None:
        require_capabilities(backend, Capability.MANAGE_EXISTING)
        vol = backend.create_volume(1)
        snap = vol.create_snapshot()
        with pytest.raises(exc.HasSnapshots):
            vol.unmanage()
        snap.delete()
        conn = vol.connect(connector)
        with pytest.raises(exc.VolumeInUse):
            vol.unmanage()
        assert backend.get_volume(vol.id).status == "in-use"
        conn.disconnect()
        vol.delete()


class ManageSnapshotTests:
    """``MANAGE_EXISTING_SNAPSHOT``: a snapshot unmanaged and managed again."""

    def test_snapshot_unmanage_and_manage(self, backend: Any) -> None:
        require_capabilities(backend, Capability.MANAGE_EXISTING_SNAPSHOT)
        vol = backend.create_volume(1)
        self.write_data(backend, vol, 0, b"before")  # type: ignore[attr-defined]
        snap = vol.create_snapshot(name="s")
        self.write_data(backend, vol, 0, b"after!")  # type: ignore[attr-defined]
        ref = snap.unmanage()
        assert ref and vol.snapshots == []
        listed = [m for m in backend.manageable_snapshots() if m["reference"] == ref]
        assert len(listed) == 1 and listed[0]["safe_to_manage"], listed
        assert "source_reference" in listed[0]
        with pytest.raises(exc.ReferenceNotFound):
            backend.manage_snapshot({"source-name": MISSING}, vol)
        again = backend.manage_snapshot(ref, vol, name="again")
        assert (again.status, again.volume_id) == ("available", vol.id)
        copy = again.create_volume()
        assert self.read_data(backend, copy, 0, 6) == b"before"  # type: ignore[attr-defined]
        copy.delete()
        again.delete()
        vol.delete()


class MigrationTests(MoveFixtures):
    """Migration to :meth:`MoveFixtures.migration_target`."""

    def _pattern(self, backend: Any, vol: Any) -> bytes:
        data = os.urandom(64 * 1024)
        self.write_data(backend, vol, 3 * MiB, data)  # type: ignore[attr-defined]
        return data

    def test_migrate_keeps_id_record_and_data(self, backend: Any,
                                             migration_target: Any) -> None:
        target = migration_target
        vol = backend.create_volume(1, name="moving", metadata={"k": "v"})
        data = self._pattern(backend, vol)
        result = vol.migrate(target)
        assert result.target == target.id and result.method in ("driver", "host")
        stored = target.get_volume(vol.id)
        assert (stored.name, stored.metadata, stored.status) == ("moving", {"k": "v"},
                                                                 "available")
        assert backend.volumes == []
        read = self.read_data  # type: ignore[attr-defined]
        assert read(target, stored, 3 * MiB, len(data)) == data
        assert backend.gc(older_than=0)["orphans"] == []
        assert target.gc(older_than=0)["orphans"] == []
        stored.delete()

    def test_migrate_through_this_host(self, backend: Any, migration_target: Any) -> None:
        target = migration_target
        require_capabilities(backend, Capability.LOCAL_ATTACH)
        require_capabilities(target, Capability.LOCAL_ATTACH)
        vol = backend.create_volume(1)
        data = self._pattern(backend, vol)
        result = vol.migrate(target, force_host_copy=True)
        assert (result.method, result.verified) == ("host", True)
        assert result.bytes_written >= len(data)
        stored = target.get_volume(vol.id)
        read = self.read_data  # type: ignore[attr-defined]
        assert read(target, stored, 3 * MiB, len(data)) == data
        stored.delete()

    def test_migration_refusals_change_nothing(self, backend: Any, migration_target: Any,
                                               connector: dict[str, Any]) -> None:
        target = migration_target
        vol = backend.create_volume(1)
        snap = vol.create_snapshot()
        other = backend.create_volume(1)
        conn = other.connect(connector)
        before = _records(backend)
        for call, error in ((lambda: vol.migrate(target), exc.HasSnapshots),
                            (lambda: other.migrate(target), exc.VolumeInUse),
                            (lambda: vol.migrate(backend), exc.InvalidArgument)):
            with pytest.raises(error):
                call()
            assert _records(backend) == before and target.volumes == []
        conn.disconnect()
        snap.delete()
        vol.delete()
        other.delete()


class RetypeTests:
    """Retype without migration (every driver), refused migration, unknown types."""

    def test_retype_in_place(self, backend: Any) -> None:
        vol = backend.create_volume(1)
        assert vol.retype({"volume_backend_name": backend.id}) is None
        stored = backend.get_volume(vol.id)
        assert stored.volume_type == {"volume_backend_name": backend.id}
        assert (stored.backend_name, stored.status) == (backend.id, "available")
        vol.delete()

    def test_retype_refusals_change_nothing(self, backend: Any) -> None:
        vol = backend.create_volume(1)
        before = _records(backend)
        with pytest.raises(exc.MigrationRequired):
            vol.retype({"volume_backend_name": "volumelib-conformance-elsewhere"})
        with pytest.raises(exc.VolumeTypeNotFound):
            vol.retype("volumelib-conformance-no-such-type")
        with pytest.raises(exc.InvalidArgument):
            vol.retype({}, migration_policy="always")
        assert _records(backend) == before
        assert backend.get_volume(vol.id).volume_type == {}
        vol.delete()


class AllocationMapTests:
    """``ALLOCATION_MAP``: the reported extents cover what was written."""

    def test_allocated_extents_cover_the_data(self, backend: Any) -> None:
        require_capabilities(backend, Capability.ALLOCATION_MAP)
        vol = backend.create_volume(1)
        self.write_data(backend, vol, 100 * MiB, b"x" * 8192)  # type: ignore[attr-defined]
        extents = backend.driver.get_allocated_extents(vol.info())
        assert extents == sorted(extents)
        assert all(0 <= off and length > 0 and off + length <= GiB
                   for off, length in extents), extents
        assert any(off <= 100 * MiB and 100 * MiB + 8192 <= off + length
                   for off, length in extents), extents
        for (a, la), (b, _) in zip(extents, extents[1:]):
            assert a + la <= b, extents
        vol.delete()


#: The mixins :class:`volumelib.testing.drivers.DriverSuite` includes.
MOVE_TESTS = (ManageTests, ManageSnapshotTests, MigrationTests, RetypeTests,
              AllocationMapTests)
