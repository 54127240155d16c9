"""The driver conformance suite: what every volume driver must do, through the public API.

Subclass :class:`DriverFixtures` (provide ``backend``; optionally override
``write_data``/``read_data``/``data_size`` when the backend offers a faster way to
reach a volume's bytes than a local attach) and :class:`DriverSuite`. A local attach
may give a block device path or a file-like handle in ``Connection.path``; the suite
handles both (:class:`AttachedDevice`). Tests needing a capability the
driver does not declare are skipped as not applicable.

**Nothing left behind.** After every test, the storage must hold no object that no
record knows of: the suite asks the driver's ``gc(is_known, dry_run=True)`` (the same
question ``backend.gc()`` asks), or, for a driver whose ``gc`` cannot list its
storage, the fixture's :meth:`DriverFixtures.storage_objects`. A test that leaks
fails in its teardown, naming what it left.
"""

from __future__ import annotations

import os
import stat
import uuid
from collections.abc import Callable
from typing import Any

import pytest

import volumelib
from volumelib import exceptions as exc
from volumelib.operations.reconcile import known_in
from volumelib.drivers.types import Capability
from volumelib.testing import not_applicable, require_capabilities
from volumelib.testing.moves import (AllocationMapTests, ManageSnapshotTests, ManageTests,
                                     MigrationTests, RetypeTests)

__all__ = ["DriverFixtures", "DriverSuite", "VolumeTests", "SizeTests", "is_known", "SnapshotTests", "CloneTests",
           "RevertTests", "ConnectionTests", "LocalAttachTests", "StatsTests",
           "GcTests", "SerializationTests", "BadInputTests", "GroupTests",
           "AttachedDevice", "through_attach", "ManageTests", "ManageSnapshotTests",
           "MigrationTests", "RetypeTests", "AllocationMapTests"]

MiB = 1024 ** 2
GiB = 1024 ** 3


class DriverFixtures:
    """Fixtures the suite needs. ``backend`` must be overridden."""

    @pytest.fixture
    def backend(self) -> Any:
        raise NotImplementedError("override the `backend` fixture with a volumelib.Backend")

    @pytest.fixture
    def connector(self) -> dict[str, Any]:
        return {"host": "conformance-host", "ip": "127.0.0.1",
                "initiator": "iqn.1994-05.org.volumelib:conformance", "multipath": False}

    # How the suite reaches a volume's bytes. The default attaches it on this host and
    # goes through ``conn.path``, a block device path or a file-like handle.
    def write_data(self, backend: Any, volume: Any, offset: int, data: bytes) -> None:
        through_attach(backend, volume, lambda dev: dev.write(offset, data))

    def read_data(self, backend: Any, volume: Any, offset: int, length: int) -> bytes:
        out: list[bytes] = []
        through_attach(backend, volume, lambda dev: out.append(dev.read(offset, length)))
        return out[0]

    def data_size(self, backend: Any, volume: Any) -> int:
        """The size in bytes of what a reader of ``volume`` sees (the attached device's
        size by default)."""
        out: list[int] = []
        through_attach(backend, volume, lambda dev: out.append(dev.size()))
        return out[0]

    # What the storage holds. ``None`` (the default): ask the driver's own
    # ``gc(is_known, dry_run=True)``. A fixture for a driver whose gc cannot list the
    # storage overrides this with every ``(kind, id)`` of a volumelib object it finds
    # there (kind ``volume``, ``snapshot``, ``group`` or ``group_snapshot``).
    def storage_objects(self, backend: Any) -> Any:
        return None

    def leftovers(self, backend: Any) -> list[str]:
        """What the storage holds that no record knows of."""
        known = is_known(backend)
        listed = self.storage_objects(backend)
        if listed is None:
            return [str(o) for o in backend.driver.gc(known, dry_run=True)]
        return [f"{kind} {obj_id}" for kind, obj_id in listed if not known(kind, obj_id)]

    @pytest.fixture(autouse=True)
    def _nothing_left_behind(self, backend: Any) -> Any:
        """After the test: no storage object without a record."""
        yield
        left = self.leftovers(backend)
        assert not left, (f"the storage of {backend.id} holds objects no record knows "
                          f"of after this test: {left}")


def is_known(backend: Any) -> Callable[[str, str], bool]:
    """``is_known(kind, id)`` over ``backend``'s store, as ``backend.gc()`` asks it."""
    return known_in(backend.persistence)


class AttachedDevice:
    """Reads and writes what an attach gives in ``Connection.path``: a block device
    path (opened with ``os.open``), or a file-like handle with ``seek``/``read``/
    ``write`` (os-brick's userspace RBD connector, see DESIGN.md). A context manager;
    closing closes only what it opened (a handle belongs to the connection)."""

    def __init__(self, path: Any) -> None:
        self.path = path
        self.fd = os.open(path, os.O_RDWR) if isinstance(path, (str, bytes, os.PathLike)) \
            else None

    def __enter__(self) -> AttachedDevice:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def write(self, offset: int, data: bytes) -> None:
        """Write ``data`` at ``offset`` and flush it to the volume."""
        if self.fd is not None:
            os.pwrite(self.fd, data, offset)
            os.fsync(self.fd)
        else:
            self.path.seek(offset)
            self.path.write(data)
            self.path.flush()

    def read(self, offset: int, length: int) -> bytes:
        if self.fd is not None:
            return os.pread(self.fd, length, offset)
        self.path.seek(offset)
        return bytes(self.path.read(length))

    def size(self) -> int:
        """The size the device has now, in bytes."""
        if self.fd is not None:
            return os.lseek(self.fd, 0, os.SEEK_END)
        self.path.seek(0, os.SEEK_END)
        return int(self.path.tell())

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def through_attach(backend: Any, volume: Any, func: Callable[[AttachedDevice], Any]) -> None:
    """Run ``func(device)`` on ``volume`` attached on this host: its existing attached
    connection, else a new attach that is detached afterwards. Not applicable (skip)
    when the driver cannot attach locally."""
    if Capability.LOCAL_ATTACH not in backend.capabilities:
        not_applicable(f"{backend.driver_name} cannot attach locally and the fixture "
                       f"gives no other way to reach a volume's data")
    volume.refresh()
    attached = next((c for c in volume.connections if c.attached), None)
    conn = attached or volume.attach()
    try:
        with AttachedDevice(conn.path) as device:
            func(device)
    finally:
        if attached is None:
            volume.detach()


def _count(backend: Any) -> int:
    return len(backend.volumes)


class VolumeTests:
    def test_create_volume(self, backend: Any) -> None:
        vol = backend.create_volume(1, name="conf-vol", description="d", metadata={"k": "v"})
        assert vol.status == "available"
        stored = backend.get_volume(vol.id)
        assert (stored.size, stored.name, stored.metadata) == (1, "conf-vol", {"k": "v"})
        assert stored.backend_name == backend.id
        assert vol.id in {v.id for v in backend.volumes}
        vol.delete()

    def test_create_with_id_and_duplicate(self, backend: Any) -> None:
        vol_id = str(uuid.uuid4())
        vol = backend.create_volume(1, id=vol_id)
        assert vol.id == vol_id
        with pytest.raises(exc.AlreadyExists):
            backend.create_volume(2, id=vol_id)
        assert backend.get_volume(vol_id).size == 1
        vol.delete()

    def test_delete_volume_is_final_and_idempotent(self, backend: Any) -> None:
        vol = backend.create_volume(1)
        vol.delete()
        assert vol.status == "deleted"
        with pytest.raises(exc.VolumeNotFound):
            backend.get_volume(vol.id)
        vol.delete()  # a no-op on a deleted object

    def test_extend(self, backend: Any) -> None:
        vol = backend.create_volume(1)
        assert vol.extend(2) == 2 * GiB
        assert vol.status == "available"
        assert backend.get_volume(vol.id).size == 2
        vol.delete()

    def test_extend_to_smaller_or_same_changes_nothing(self, backend: Any) -> None:
        vol = backend.create_volume(2)
        for bad in (1, 2):
            with pytest.raises(exc.InvalidSize):
                vol.extend(bad)
        stored = backend.get_volume(vol.id)
        assert (stored.size, stored.status) == (2, "available")
        vol.delete()


class BadInputTests:
    @pytest.mark.parametrize("size", [0, -1, 1.5, "1", True, None, 2 ** 40])
    def test_bad_size(self, backend: Any, size: Any) -> None:
        before = _count(backend)
        with pytest.raises(exc.InvalidSize) as info:
            backend.create_volume(size)
        assert repr(size) in str(info.value)
        assert _count(backend) == before

    @pytest.mark.parametrize("name", ["a/b", "..", "../etc", "x\x00y", "tab\there", "x" * 256])
    def test_bad_name(self, backend: Any, name: str) -> None:
        before = _count(backend)
        with pytest.raises(exc.InvalidName):
            backend.create_volume(1, name=name)
        assert _count(backend) == before

    @pytest.mark.parametrize("vol_id", ["../x", "not-a-uuid", "", "A" * 36,
                                        "6F9619FF-8B86-D011-B42D-00C04FC964FF"])
    def test_bad_id(self, backend: Any, vol_id: str) -> None:
        before = _count(backend)
        with pytest.raises(exc.InvalidId):
            backend.create_volume(1, id=vol_id)
        assert _count(backend) == before

    @pytest.mark.parametrize("metadata", [{"k": 1}, {"k": {"nested": "x"}}, {1: "v"},
                                          {"k": b"bytes"}, ["k", "v"], {"k": "\udcff"}])
    def test_bad_metadata(self, backend: Any, metadata: Any) -> None:
        before = _count(backend)
        with pytest.raises(exc.InvalidArgument):
            backend.create_volume(1, metadata=metadata)
        assert _count(backend) == before


class SnapshotTests:
    def test_snapshot_lifecycle(self, backend: Any) -> None:
        vol = backend.create_volume(1)
        snap = vol.create_snapshot(name="conf-snap")
        assert (snap.status, snap.volume_id, snap.volume_size) == ("available", vol.id, 1)
        assert [s.id for s in vol.snapshots] == [snap.id]
        with pytest.raises(exc.HasSnapshots):
            vol.delete()
        assert backend.get_volume(vol.id).status == "available"
        snap.delete()
        assert snap.status == "deleted" and vol.snapshots == []
        vol.delete()

    def test_volume_from_snapshot_keeps_data(self, backend: Any) -> None:
        vol = backend.create_volume(1)
        self.write_data(backend, vol, 0, b"A" * 4096)  # type: ignore[attr-defined]
        snap = vol.create_snapshot()
        self.write_data(backend, vol, 0, b"B" * 4096)  # type: ignore[attr-defined]
        new = snap.create_volume(size=2)
        assert new.size == 2 and new.snapshot_id == snap.id
        assert self.read_data(backend, new, 0, 4096) == b"A" * 4096  # type: ignore[attr-defined]
        assert self.read_data(backend, vol, 0, 4096) == b"B" * 4096  # type: ignore[attr-defined]
        new.delete()
        snap.delete()
        vol.delete()

    def test_volume_from_snapshot_smaller_refused(self, backend: Any) -> None:
        vol = backend.create_volume(2)
        snap = vol.create_snapshot()
        before = _count(backend)
        with pytest.raises(exc.InvalidSize):
            snap.create_volume(size=1)
        assert _count(backend) == before
        snap.delete()
        vol.delete()


class SizeTests:
    """A volume made larger than its source has the size asked, as its reader sees it
    (through the attach, or the fixture's ``data_size``), and its data where the
    source's ended is readable and writable."""

    def _check_size(self, backend: Any, volume: Any, size_gb: int) -> None:
        assert self.data_size(backend, volume) == size_gb * GiB  # type: ignore[attr-defined]
        tail = (size_gb * GiB) - 4096
        self.write_data(backend, volume, tail, b"tail" * 1024)  # type: ignore[attr-defined]
        assert self.read_data(backend, volume, tail, 4096) == b"tail" * 1024  # type: ignore[attr-defined]

    def test_volume_from_snapshot_larger_has_the_size_asked(self, backend: Any) -> None:
        vol = backend.create_volume(1)
        self.write_data(backend, vol, 0, b"S" * 4096)  # type: ignore[attr-defined]
        snap = vol.create_snapshot()
        new = snap.create_volume(size=2)
        try:
            self._check_size(backend, new, 2)
            assert self.read_data(backend, new, 0, 4096) == b"S" * 4096  # type: ignore[attr-defined]
        finally:
            new.delete()
            snap.delete()
            vol.delete()

    @pytest.mark.parametrize("source_has_snapshot", [False, True])
    def test_clone_larger_has_the_size_asked(self, backend: Any,
                                             source_has_snapshot: bool) -> None:
        require_capabilities(backend, Capability.CLONE)
        vol = backend.create_volume(1)
        self.write_data(backend, vol, 0, b"C" * 4096)  # type: ignore[attr-defined]
        snap = vol.create_snapshot() if source_has_snapshot else None
        clone = vol.clone(size=2)
        try:
            self._check_size(backend, clone, 2)
            assert self.read_data(backend, clone, 0, 4096) == b"C" * 4096  # type: ignore[attr-defined]
            assert clone.extend(3) == 3 * GiB  # the clone is a working volume
        finally:
            clone.delete()
            if snap is not None:
                snap.delete()
            vol.delete()

    def test_extend_has_the_size_asked(self, backend: Any) -> None:
        vol = backend.create_volume(1)
        try:
            vol.extend(2)
            self._check_size(backend, vol, 2)
        finally:
            vol.delete()


class CloneTests:
    def test_clone_keeps_data(self, backend: Any) -> None:
        require_capabilities(backend, Capability.CLONE)
        vol = backend.create_volume(1)
        self.write_data(backend, vol, 5 * MiB, b"clone-me" * 512)  # type: ignore[attr-defined]
        clone = vol.clone(name="conf-clone", size=2)
        assert (clone.size, clone.source_volid) == (2, vol.id)
        got = self.read_data(backend, clone, 5 * MiB, 4096)  # type: ignore[attr-defined]
        assert got == b"clone-me" * 512
        clone.delete()
        vol.delete()

    def test_clone_source_deleted_after_clone(self, backend: Any) -> None:
        """Source deleted while its clone lives, then the clone: nothing is left."""
        require_capabilities(backend, Capability.CLONE)
        vol = backend.create_volume(1)
        self.write_data(backend, vol, 0, b"keep" * 1024)  # type: ignore[attr-defined]
        clone = vol.clone()
        vol.delete()
        assert self.read_data(backend, clone, 0, 4096) == b"keep" * 1024  # type: ignore[attr-defined]
        clone.delete()

    def test_clone_smaller_refused(self, backend: Any) -> None:
        require_capabilities(backend, Capability.CLONE)
        vol = backend.create_volume(2)
        with pytest.raises(exc.InvalidSize):
            vol.clone(size=1)
        vol.delete()


class RevertTests:
    def test_revert_to_snapshot(self, backend: Any) -> None:
        require_capabilities(backend, Capability.REVERT_TO_SNAPSHOT)
        vol = backend.create_volume(1)
        self.write_data(backend, vol, 0, b"old!" * 1024)  # type: ignore[attr-defined]
        snap = vol.create_snapshot()
        self.write_data(backend, vol, 0, b"new!" * 1024)  # type: ignore[attr-defined]
        vol.revert_to_snapshot(snap)
        assert vol.status == "available"
        assert self.read_data(backend, vol, 0, 4096) == b"old!" * 1024  # type: ignore[attr-defined]
        snap.delete()
        vol.delete()

    def test_revert_to_other_volumes_snapshot_refused(self, backend: Any) -> None:
        require_capabilities(backend, Capability.REVERT_TO_SNAPSHOT)
        a, b = backend.create_volume(1), backend.create_volume(1)
        snap = a.create_snapshot()
        with pytest.raises(exc.InvalidArgument):
            b.revert_to_snapshot(snap)
        assert backend.get_volume(b.id).status == "available"
        snap.delete()
        a.delete()
        b.delete()


class ConnectionTests:
    def test_connect_disconnect(self, backend: Any, connector: dict[str, Any]) -> None:
        vol = backend.create_volume(1)
        conn = vol.connect(connector)
        assert conn.connected and not conn.attached
        info = conn.connection_info
        assert isinstance(info.get("driver_volume_type"), str) and "data" in info
        assert backend.get_volume(vol.id).status == "in-use"
        assert [c.id for c in vol.connections] == [conn.id]
        with pytest.raises(exc.VolumeInUse):
            vol.delete()
        conn.disconnect()
        assert vol.status == "available" and vol.connections == []
        vol.delete()

    def test_second_connection_needs_multiattach(self, backend: Any,
                                                 connector: dict[str, Any]) -> None:
        vol = backend.create_volume(1)
        conn = vol.connect(connector)
        with pytest.raises(exc.VolumeInUse):
            vol.connect(dict(connector, host="other-host"))
        assert len(vol.connections) == 1
        conn.disconnect()
        vol.delete()

    def test_connection_json_round_trip_hides_secrets(self, backend: Any,
                                                      connector: dict[str, Any]) -> None:
        vol = backend.create_volume(1)
        conn = vol.connect(connector)
        loaded = volumelib.load(conn.jsons)
        assert loaded.id == conn.id and loaded.volume_id == vol.id
        assert loaded.connection_info["driver_volume_type"] == \
            conn.connection_info["driver_volume_type"]
        for key in ("auth_password", "password", "secret", "keyring"):
            value = conn.connection_info.get("data", {}).get(key)
            if value:
                assert value not in conn.jsons and value not in repr(conn)
        conn.disconnect()
        vol.delete()


class LocalAttachTests:
    """Attach on this host. ``conn.path`` is a block device path (loop devices, iSCSI...)
    or a file-like handle on the volume (os-brick's userspace RBD connector): both are
    read and written through :class:`AttachedDevice`."""

    def test_attach_detach(self, backend: Any) -> None:
        require_capabilities(backend, Capability.LOCAL_ATTACH)
        vol = backend.create_volume(1)
        conn = vol.attach()
        try:
            assert conn.attached and conn.path is not None
            if isinstance(conn.path, str):
                assert stat.S_ISBLK(os.stat(conn.path).st_mode)
            with AttachedDevice(conn.path) as device:
                device.write(3 * MiB, b"through-the-device" * 100)
                assert device.read(3 * MiB, 1800) == b"through-the-device" * 100
            assert backend.get_volume(vol.id).status == "in-use"
        finally:
            vol.detach()
        assert vol.status == "available" and vol.connections == []
        assert self.read_data(backend, vol, 3 * MiB, 18) == b"through-the-device"  # type: ignore[attr-defined]
        vol.delete()

    def test_extend_while_attached(self, backend: Any) -> None:
        require_capabilities(backend, Capability.LOCAL_ATTACH, Capability.ONLINE_EXTEND)
        vol = backend.create_volume(1)
        conn = vol.attach()
        try:
            vol.extend(2)
            with AttachedDevice(conn.path) as device:
                assert device.size() == 2 * GiB
        finally:
            vol.detach()
        vol.delete()

    def test_attach_deleted_volume_refused(self, backend: Any) -> None:
        require_capabilities(backend, Capability.LOCAL_ATTACH)
        vol = backend.create_volume(1)
        vol.delete()
        with pytest.raises(exc.VolumeNotFound):
            vol.attach()
        assert backend.persistence.get_connections(volume_id=vol.id) == []


class StatsTests:
    def test_stats_format(self, backend: Any) -> None:
        stats = backend.stats(refresh=True)
        for key in ("vendor_name", "volume_backend_name", "driver_version",
                    "storage_protocol", "pools"):
            assert key in stats, key
        assert stats["volume_backend_name"] == backend.id
        pool = stats["pools"][0]
        for key in ("pool_name", "total_capacity_gb", "free_capacity_gb",
                    "provisioned_capacity_gb", "allocated_capacity_gb", "total_volumes",
                    "thin_provisioning_support", "max_over_subscription_ratio"):
            assert key in pool, key

    def test_stats_follow_volumes(self, backend: Any) -> None:
        before = backend.stats(refresh=True)["pools"][0]
        vol = backend.create_volume(3)
        after = backend.stats(refresh=True)["pools"][0]
        assert after["total_volumes"] == before["total_volumes"] + 1
        assert after["provisioned_capacity_gb"] >= before["provisioned_capacity_gb"] + 3
        vol.delete()

    def test_alive_and_health(self, backend: Any) -> None:
        assert backend.is_alive() is True
        health = backend.health()
        assert health["alive"] is True and health["backend"] == backend.id


class GcTests:
    def test_gc_finishes_interrupted_delete(self, backend: Any) -> None:
        vol = backend.create_volume(1)
        vol.status = "deleting"  # what a crash after storing the intent leaves behind
        vol.save()
        report = backend.gc(older_than=0)
        assert {"kind": "volume", "id": vol.id, "action": "finish delete"} in report["actions"]
        with pytest.raises(exc.VolumeNotFound):
            backend.get_volume(vol.id)

    def test_gc_keeps_young_records(self, backend: Any) -> None:
        vol = backend.create_volume(1)
        vol.status = "deleting"
        vol.save()
        report = backend.gc(older_than=3600)
        assert not [a for a in report["actions"] if a["id"] == vol.id]
        assert backend.get_volume(vol.id).status == "deleting"
        backend.gc(older_than=0)

    def test_gc_dry_run_changes_nothing(self, backend: Any) -> None:
        vol = backend.create_volume(1)
        vol.status = "deleting"
        vol.save()
        report = backend.gc(older_than=0, dry_run=True)
        assert any(a["id"] == vol.id for a in report["actions"])
        assert backend.get_volume(vol.id).status == "deleting"
        backend.gc(older_than=0)


class SerializationTests:
    def test_volume_round_trip(self, backend: Any) -> None:
        vol = backend.create_volume(1, name="ser", metadata={"a": "b"})
        snap = vol.create_snapshot(name="ser-snap")
        loaded = volumelib.load(vol.jsons)
        assert loaded == vol and loaded.backend is backend
        dumped = volumelib.load(vol.dumps)
        assert dumped.id == vol.id
        assert volumelib.load(snap.json) == snap
        both = volumelib.load([vol.json, snap.json])
        assert [type(o).__name__ for o in both] == ["Volume", "Snapshot"]
        snap.delete()
        vol.delete()


CONSISTENT = {"consistent_group_snapshot_enabled": "<is> True"}


class GroupTests:
    """Groups work on every driver: natively, or through the library's fallback
    (whose group snapshots say ``consistent=False``)."""

    def test_group_lifecycle(self, backend: Any) -> None:
        a, b = backend.create_volume(1), backend.create_volume(1)
        group = backend.create_group(name="conf-group", volumes=[a, b.id],
                                     group_type=CONSISTENT)
        assert group.status == "available" and group.consistent
        assert sorted(v.id for v in group.volumes) == sorted([a.id, b.id])
        assert backend.get_volume(a.id).group_id == group.id
        gs = group.create_snapshot(name="conf-gs")
        assert gs.status == "available" and gs.group_id == group.id
        assert gs.consistent == (Capability.CONSISTENT_GROUP_SNAPSHOT in backend.capabilities)
        assert sorted(s.volume_id for s in gs.snapshots) == sorted([a.id, b.id])
        assert all(s.status == "available" for s in gs.snapshots)
        with pytest.raises(exc.InvalidState):
            group.delete(delete_volumes=True)  # group snapshots exist
        with pytest.raises(exc.InvalidState):
            gs.snapshots[0].delete()  # members go with their group snapshot
        gs.delete()
        assert backend.persistence.get_snapshots(group_snapshot_id=gs.id) == []
        gs.delete()  # a repeated delete is a no-op
        assert gs.status == "deleted"
        with pytest.raises(exc.InvalidState):
            group.delete()  # has volumes
        with pytest.raises(exc.InvalidState):
            backend.get_volume(a.id).delete()  # a member
        group.delete(delete_volumes=True)
        assert backend.volumes == [] or {a.id, b.id}.isdisjoint(v.id for v in backend.volumes)
        group.delete()  # a repeated delete is a no-op
        assert group.status == "deleted"
        with pytest.raises(exc.GroupNotFound):
            backend.get_group(group.id)

    def test_group_snapshot_is_point_in_time_and_sources_line_up(self, backend: Any) -> None:
        vols = [backend.create_volume(1, name=f"g{i}") for i in range(3)]
        for i, vol in enumerate(vols):
            self.write_data(backend, vol, i * MiB, bytes([65 + i]) * 8192)  # type: ignore[attr-defined]
        group = backend.create_group(volumes=vols, group_type=CONSISTENT)
        gs = group.create_snapshot()
        for vol in vols:
            self.write_data(backend, vol, 0, b"\xee" * (4 * MiB))  # type: ignore[attr-defined]
        copy = backend.create_group_from_src(name="from-gs", group_snapshot=gs)
        assert copy.status == "available" and copy.group_snapshot_id == gs.id
        by_snapshot = {s.id: s.volume_id for s in gs.snapshots}
        targets = copy.volumes
        assert len(targets) == 3
        for target in targets:
            i = [v.id for v in vols].index(by_snapshot[target.snapshot_id])
            got = self.read_data(backend, target, i * MiB, 8192)  # type: ignore[attr-defined]
            assert got == bytes([65 + i]) * 8192, (target.name, i)
        clone = backend.create_group_from_src(source_group=group)
        for target in clone.volumes:
            assert self.read_data(backend, target, 0, 4096) == b"\xee" * 4096  # type: ignore[attr-defined]
        for g in (copy, clone):
            g.delete(delete_volumes=True)
        gs.delete()
        group.delete(delete_volumes=True)

    def test_update_add_remove_and_bad_members(self, backend: Any) -> None:
        a, b, c = (backend.create_volume(1) for _ in range(3))
        g1 = backend.create_group(volumes=[a])
        g2 = backend.create_group()
        g2.update(add_volumes=[b, c])
        assert sorted(v.id for v in g2.volumes) == sorted([b.id, c.id])
        with pytest.raises(exc.InvalidState):
            g2.update(add_volumes=[a])  # one group only
        with pytest.raises(exc.InvalidArgument):
            g1.update(remove_volumes=[b])  # not a member
        gone = backend.create_volume(1)
        gone.delete()
        with pytest.raises(exc.VolumeNotFound):
            g1.update(add_volumes=[gone])
        assert [v.id for v in g1.volumes] == [a.id] and g1.status == "available"
        g2.update(remove_volumes=[c])
        assert backend.get_volume(c.id).group_id is None
        snap = c.create_snapshot()  # still a working volume
        snap.delete()
        c.delete()
        g1.delete(delete_volumes=True)
        g2.delete(delete_volumes=True)

    def test_bad_group_requests_change_nothing(self, backend: Any) -> None:
        empty = backend.create_group(name="empty")
        with pytest.raises(exc.InvalidState):
            empty.create_snapshot()
        assert empty.group_snapshots == []
        with pytest.raises(exc.GroupNotFound):
            backend.get_group(str(uuid.uuid4()))
        with pytest.raises(exc.InvalidArgument):
            backend.create_group_from_src()
        with pytest.raises(exc.InvalidState):
            backend.create_group_from_src(source_group=empty)
        with pytest.raises(exc.InvalidName):
            backend.create_group(name="a/b")
        with pytest.raises(exc.InvalidArgument):
            backend.create_group(group_type={"consistent_group_snapshot_enabled": True})
        assert [g.id for g in backend.groups] == [empty.id]
        empty.delete()

    def test_group_with_connected_volume_not_deleted(self, backend: Any,
                                                     connector: dict[str, Any]) -> None:
        vol = backend.create_volume(1)
        group = backend.create_group(volumes=[vol])
        conn = backend.get_volume(vol.id).connect(connector)
        with pytest.raises(exc.VolumeInUse):
            group.delete(delete_volumes=True)
        assert backend.get_volume(vol.id).status == "in-use"
        conn.disconnect()
        group.delete(delete_volumes=True)


class DriverSuite(VolumeTests, BadInputTests, SnapshotTests, SizeTests, CloneTests,
                  RevertTests,
                  ConnectionTests, LocalAttachTests, StatsTests, GcTests,
                  SerializationTests, GroupTests,
                  # Manage, retype, migration, allocation map: volumelib/testing/moves.py
                  ManageTests, ManageSnapshotTests, MigrationTests, RetypeTests,
                  AllocationMapTests):
    """Every conformance test."""
