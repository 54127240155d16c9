"""The persistence conformance suite: every store (ours and third parties') runs it.

A store joins in a few lines::

    import pytest
    from volumelib.testing import persistence as suite

    class MyStoreFixtures(suite.PersistenceFixtures):
        @pytest.fixture
        def store(self, tmp_path):
            s = MyStore(path=tmp_path / "db")
            yield s
            s.close()

    class TestMyStore(MyStoreFixtures, suite.PersistenceSuite):
        pass

:class:`PersistenceSuite` is every mixin below; a store may pick single mixins
instead. Fixtures a store may override besides ``store``:

* ``soft_store``: the store with ``soft_deletes`` on. The default sets the attribute
  on ``store``; override it if your store only takes the option at construction.
* ``other_store``: a second store for dump/load round trips (default: memory).

Only public API is used: ``volumelib.Backend`` with the ``fake`` driver, the object
classes, ``volumelib.setup``/``dump``/``load`` and the store's contract methods.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

import volumelib
from volumelib import exceptions as exc
from volumelib.objects import (
    Connection,
    Group,
    GroupSnapshot,
    KeyValue,
    Snapshot,
    Volume,
    VolumeType,
)
from volumelib.persistence.base import PersistenceDriverBase
from volumelib.persistence.memory import MemoryPersistence
from volumelib.testing.persistence_events import EventLogTests
from volumelib.testing.persistence_control import (
    ControlKindTests,
    LeaseTests,
    PoolTests,
    QuotaTests,
)
from volumelib.records.control import Lease

__all__ = ["PersistenceFixtures", "PersistenceSuite", "VolumeTests", "ConcurrencyTests",
           "DeleteTests", "RoundTripTests", "SnapshotConnectionTests", "KeyValueTests",
           "VolumeTypeTests", "GroupTests", "ListingTests", "DBFacadeTests",
           "BackendTests", "DumpLoadTests", "ControlKindTests", "PoolTests",
           "LeaseTests", "QuotaTests", "EventLogTests"]

UTC = datetime.timezone.utc
BACKEND = "conformance"


def new_id() -> str:
    return str(uuid.uuid4())


def new_volume(**values: Any) -> Volume:
    """A never-saved volume with sensible defaults."""
    defaults: dict[str, Any] = {"id": new_id(), "size": 1, "backend_name": BACKEND,
                                "status": "available"}
    defaults.update(values)
    return Volume(**defaults)


def saved_volume(store: Any, **values: Any) -> Volume:
    vol = new_volume(**values)
    store.set_volume(vol)
    return vol


def new_snapshot(volume: Volume, **values: Any) -> Snapshot:
    defaults: dict[str, Any] = {"id": new_id(), "volume_id": volume.id,
                                "volume_size": volume.size, "status": "available",
                                "backend_name": volume.backend_name}
    defaults.update(values)
    return Snapshot(**defaults)


def ids(objs: Any) -> list[str]:
    return [o.id for o in objs]


class PersistenceFixtures:
    """Fixtures of the suite. Subclasses override ``store``."""

    @pytest.fixture
    def store(self) -> Any:
        raise NotImplementedError(
            "a conformance test class must override the `store` fixture")

    @pytest.fixture
    def soft_store(self, store: Any) -> Any:
        store.soft_deletes = True
        return store

    @pytest.fixture
    def other_store(self) -> Iterator[Any]:
        other = MemoryPersistence()
        yield other
        other.close()

    @pytest.fixture
    def current(self, store: Any) -> Iterator[Any]:
        """``store`` is the process's current store (for dump/load); restored after."""
        previous = volumelib.get_persistence()
        volumelib.setup(persistence_config={"storage": store})
        yield store
        volumelib.setup(persistence_config={"storage": previous})

    @pytest.fixture
    def backend(self, store: Any) -> Iterator[volumelib.Backend]:
        b = volumelib.Backend(BACKEND, "fake", persistence=store)
        yield b
        b.close()


class VolumeTests:
    """Insert, look up by every filter, live objects and change tracking."""

    def test_insert_then_get_by_id_returns_an_equal_object(self, store: Any) -> None:
        vol = saved_volume(store, name="v1", description="d", project_id="p",
                           user_id="u", metadata={"k": "v"}, volume_type={"a": "b"},
                           multiattach=True, provider_location="loc")
        found = store.get_volumes(volume_id=vol.id)
        assert len(found) == 1 and found[0] == vol
        assert found[0] is not vol

    def test_get_by_name_backend_and_combined(self, store: Any) -> None:
        a = saved_volume(store, name="alpha")
        b = saved_volume(store, name="beta", backend_name="other")
        c = saved_volume(store, name="alpha", backend_name="other")
        assert sorted(ids(store.get_volumes(volume_name="alpha"))) == sorted([a.id, c.id])
        assert sorted(ids(store.get_volumes(backend_name="other"))) == sorted([b.id, c.id])
        assert ids(store.get_volumes(volume_name="alpha", backend_name="other")) == [c.id]
        assert ids(store.get_volumes(volume_id=a.id, backend_name="other")) == []
        assert sorted(ids(store.get_volumes())) == sorted([a.id, b.id, c.id])
        assert store.get_volumes(volume_id=new_id()) == []
        assert store.get_volumes(volume_name="ALPHA") == []  # names are case-sensitive

    def test_objects_are_live_change_and_save(self, store: Any) -> None:
        vol = saved_volume(store, name="live")
        found = store.get_volumes(volume_id=vol.id)[0]
        found.status = "in-use"
        found.metadata["added"] = "in place"
        store.set_volume(found)
        again = store.get_volumes(volume_id=vol.id)[0]
        assert again.status == "in-use" and again.metadata == {"added": "in place"}
        assert again.updated_at is not None and again.created_at == vol.created_at

    def test_changed_fields_and_reset(self, store: Any) -> None:
        vol = saved_volume(store)
        assert store.get_changed_fields(vol) == {}
        found = store.get_volumes(volume_id=vol.id)[0]
        assert store.get_changed_fields(found) == {}
        found.name = "renamed"
        found.size = 3
        assert set(store.get_changed_fields(found)) == {"name", "size"}
        store.reset_change_tracker(found, ["size"])
        assert set(store.get_changed_fields(found)) == {"name"}
        store.set_volume(found)
        assert store.get_changed_fields(found) == {}
        assert store.get_fields(found)["name"] == "renamed"

    def test_save_without_changes_writes_nothing(self, store: Any) -> None:
        vol = saved_volume(store, name="first")
        stale = store.get_volumes(volume_id=vol.id)[0]
        writer = store.get_volumes(volume_id=vol.id)[0]
        writer.name = "second"
        store.set_volume(writer)
        # `stale` has no changes: saving it writes nothing (no overwrite of the name,
        # no compare-and-set failure), and does not bump the version ...
        store.set_volume(stale)
        assert store.get_volumes(volume_id=vol.id)[0].name == "second"
        # ... so `writer`, the latest, can still save.
        store.set_volume(writer)
        writer.status = "error"
        store.set_volume(writer)
        assert store.get_volumes(volume_id=vol.id)[0].status == "error"


class ConcurrencyTests:
    """Versions and compare-and-set."""

    def test_second_writer_gets_concurrent_modification(self, store: Any) -> None:
        vol = saved_volume(store, name="race")
        first = store.get_volumes(volume_id=vol.id)[0]
        second = store.get_volumes(volume_id=vol.id)[0]
        first.status = "in-use"
        store.set_volume(first)
        second.name = "lost"
        with pytest.raises(exc.ConcurrentModification):
            store.set_volume(second)
        stored = store.get_volumes(volume_id=vol.id)[0]
        assert (stored.status, stored.name) == ("in-use", "race")
        # The loser reloads and retries.
        retry = store.get_volumes(volume_id=vol.id)[0]
        retry.name = "won later"
        store.set_volume(retry)
        assert store.get_volumes(volume_id=vol.id)[0].name == "won later"

    def test_every_save_bumps_the_version(self, store: Any) -> None:
        vol = saved_volume(store)
        stale = store.get_volumes(volume_id=vol.id)[0]
        for status in ("a", "b", "c"):
            vol.status = status
            store.set_volume(vol)
        stale.status = "stale"
        with pytest.raises(exc.ConcurrentModification):
            store.set_volume(stale)

    def test_saving_a_deleted_row_is_a_concurrent_modification(self, store: Any) -> None:
        vol = saved_volume(store)
        other = store.get_volumes(volume_id=vol.id)[0]
        store.delete_volume(other)
        vol.status = "error"
        with pytest.raises(exc.ConcurrentModification):
            store.set_volume(vol)
        assert store.get_volumes(volume_id=vol.id) == []

    def test_duplicate_id_is_already_exists_and_keeps_the_first(self, store: Any) -> None:
        vol = saved_volume(store, name="original")
        with pytest.raises(exc.AlreadyExists):
            store.set_volume(new_volume(id=vol.id, name="impostor"))
        assert [v.name for v in store.get_volumes(volume_id=vol.id)] == ["original"]
        snap = new_snapshot(vol)
        store.set_snapshot(snap)
        with pytest.raises(exc.AlreadyExists):
            store.set_snapshot(new_snapshot(vol, id=snap.id))


class TransactionTests:
    """``transaction()``, ``insert_record()`` and ``row_version()``."""

    def test_transaction_commits_everything_or_nothing(self, store: Any) -> None:
        kept = saved_volume(store, name="kept")
        with store.transaction():
            a = saved_volume(store, name="a")
            kept.status = "in-use"
            store.set_volume(kept)
        assert store.get_volumes(volume_id=a.id)[0].name == "a"
        assert store.get_volumes(volume_id=kept.id)[0].status == "in-use"
        before = store.row_version("volume", kept.id)
        with pytest.raises(RuntimeError):
            with store.transaction():
                b = saved_volume(store, name="b")
                fresh = store.get_volumes(volume_id=kept.id)[0]
                fresh.status = "error"
                store.set_volume(fresh)
                assert store.get_volumes(volume_id=b.id)  # the block sees its writes
                raise RuntimeError("boom")
        if type(store).transaction is not PersistenceDriverBase.transaction:
            assert store.get_volumes(volume_id=b.id) == []  # nothing kept
            assert store.get_volumes(volume_id=kept.id)[0].status == "in-use"
            assert store.row_version("volume", kept.id) == before

    def test_nested_transactions_join_the_outer_one(self, store: Any) -> None:
        with pytest.raises(RuntimeError):
            with store.transaction():
                with store.transaction():
                    inner = saved_volume(store, name="inner")
                raise RuntimeError("after the inner block")
        if type(store).transaction is not PersistenceDriverBase.transaction:
            assert store.get_volumes(volume_id=inner.id) == []

    def test_insert_record_answers_taken(self, store: Any) -> None:
        mine = Lease(id="res-x", holder="me", ttl=5.0)
        assert store.insert_record(mine) is True
        assert mine.__dict__["_db_version"] == store.row_version("lease", "res-x")
        assert store.insert_record(Lease(id="res-x", holder="you", ttl=5.0)) is False
        assert [lease.holder for lease in store.get_leases(resource_id="res-x")] == ["me"]
        with pytest.raises(exc.InvalidArgument):
            store.insert_record(mine)  # saved already
        assert store.row_version("lease", "nope") is None


class DeleteTests:
    def test_hard_delete_and_idempotence(self, store: Any) -> None:
        vol = saved_volume(store)
        keep = saved_volume(store)
        store.delete_volume(vol)
        assert store.get_volumes(volume_id=vol.id) == []
        assert ids(store.get_volumes()) == [keep.id]
        store.delete_volume(vol)  # again: no-op
        store.delete_volume(new_volume())  # never saved: no-op
        store.set_volume(new_volume(id=vol.id))  # a hard-deleted id may come back

    def test_soft_delete_hides_rows_everywhere(self, soft_store: Any) -> None:
        store = soft_store
        assert store.soft_deletes
        vol = saved_volume(store, project_id="p")
        keep = saved_volume(store, project_id="p")
        snap = new_snapshot(vol)
        store.set_snapshot(snap)
        store.delete_snapshot(snap)
        store.delete_volume(vol)
        assert vol.deleted and vol.deleted_at is not None
        assert store.get_volumes(volume_id=vol.id) == []
        assert ids(store.get_volumes()) == [keep.id]
        assert store.get_snapshots(volume_id=vol.id) == []
        assert ids(store.list_volumes()[0]) == [keep.id]
        assert store.count_volumes_by_project() == {"p": 1}
        store.delete_volume(vol)  # again: no-op
        with pytest.raises(exc.AlreadyExists):  # the row is kept: its id is taken
            store.set_volume(new_volume(id=vol.id))
        with pytest.raises(exc.VolumeNotFound):
            store.db.volume_get(None, vol.id)


class RoundTripTests:
    """Values come back with the types and precision they went in with."""

    def test_datetimes_are_aware_utc_with_microseconds(self, store: Any) -> None:
        created = datetime.datetime(2024, 2, 29, 23, 59, 58, 123456, tzinfo=UTC)
        elsewhere = datetime.datetime(2024, 3, 1, 3, 0, 0, 654321,
                                      tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
        vol = saved_volume(store, created_at=created, deleted_at=elsewhere)
        found = store.get_volumes(volume_id=vol.id)[0]
        assert found.created_at == created
        assert found.created_at.utcoffset() == datetime.timedelta(0)
        assert found.created_at.microsecond == 123456
        assert found.deleted_at == elsewhere  # the same instant
        assert found.deleted_at.tzinfo is not None
        assert found.updated_at is None

    def test_new_rows_get_created_at_and_saves_updated_at(self, store: Any) -> None:
        before = datetime.datetime.now(UTC)
        vol = saved_volume(store)
        found = store.get_volumes(volume_id=vol.id)[0]
        assert found.created_at.tzinfo is not None and found.created_at >= before
        found.status = "x"
        store.set_volume(found)
        again = store.get_volumes(volume_id=vol.id)[0]
        assert again.updated_at >= again.created_at

    def test_unicode_text(self, store: Any) -> None:
        name = "données-卷-🚀 ẞ"
        vol = saved_volume(store, name=name, description="ünïcødé\n\ttabs 'quotes\"",
                           metadata={"ключ": "значение", "emoji": "🙂"})
        found = store.get_volumes(volume_name=name)
        assert ids(found) == [vol.id]
        assert found[0].description == vol.description
        assert found[0].metadata == {"ключ": "значение", "emoji": "🙂"}

    def test_dict_and_null_fields(self, store: Any) -> None:
        vol = saved_volume(store)
        connector = {"host": "node-1", "initiator": "iqn.1993-08.org.debian:01:abc",
                     "multipath": False, "wwpns": ["50:01", "50:02"], "nested": {"n": 1},
                     "empty": ""}
        info = {"driver_volume_type": "iscsi",
                "data": {"target_lun": 0, "target_portals": ["127.0.0.1:3260"],
                         "auth_password": "secret"}}
        conn = Connection(id=new_id(), volume_id=vol.id, backend_name=BACKEND,
                          status="connected", connector=connector, connection_info=info)
        store.set_connection(conn)
        found = store.get_connections(connection_id=conn.id)[0]
        assert found.connector == connector and found.connection_info == info
        assert isinstance(found.connector, dict)
        assert found.device is None and found.attached_host is None
        found.device = {"path": "/dev/loop7", "type": "block"}
        store.set_connection(found)
        assert store.get_connections(connection_id=conn.id)[0].device == found.device
        empty = saved_volume(store, name=None, description=None, metadata={})
        got = store.get_volumes(volume_id=empty.id)[0]
        assert (got.name, got.description, got.metadata, got.volume_type) == \
            (None, None, {}, {})
        assert got.multiattach is False and got.deleted is False


class SnapshotConnectionTests:
    def test_snapshots_by_id_name_and_volume(self, store: Any) -> None:
        vol = saved_volume(store)
        other = saved_volume(store)
        s1 = new_snapshot(vol, name="s1", metadata={"a": "1"})
        s2 = new_snapshot(vol, name="s2")
        s3 = new_snapshot(other, name="s1")
        for s in (s1, s2, s3):
            store.set_snapshot(s)
        assert store.get_snapshots(snapshot_id=s1.id) == [s1]
        assert sorted(ids(store.get_snapshots(snapshot_name="s1"))) == sorted([s1.id, s3.id])
        assert sorted(ids(store.get_snapshots(volume_id=vol.id))) == sorted([s1.id, s2.id])
        assert ids(store.get_snapshots(snapshot_name="s1", volume_id=other.id)) == [s3.id]
        found = store.get_snapshots(snapshot_id=s2.id)[0]
        found.status = "deleting"
        store.set_snapshot(found)
        assert store.get_snapshots(snapshot_id=s2.id)[0].status == "deleting"
        store.delete_snapshot(found)
        assert sorted(ids(store.get_snapshots())) == sorted([s1.id, s3.id])

    def test_connections_by_id_and_volume(self, store: Any) -> None:
        vol = saved_volume(store)
        c1 = Connection(id=new_id(), volume_id=vol.id, status="connected")
        c2 = Connection(id=new_id(), volume_id=vol.id, status="connecting")
        for c in (c1, c2):
            store.set_connection(c)
        assert sorted(ids(store.get_connections(volume_id=vol.id))) == sorted([c1.id, c2.id])
        assert store.get_connections(connection_id=c2.id) == [c2]
        store.delete_connection(c1)
        assert ids(store.get_connections()) == [c2.id]


class KeyValueTests:
    def test_set_get_overwrite_delete(self, store: Any) -> None:
        store.set_key_value(KeyValue("driver.state", "one"))
        store.set_key_value(KeyValue("other", None))
        assert [kv.value for kv in store.get_key_values("driver.state")] == ["one"]
        assert sorted(kv.key for kv in store.get_key_values()) == ["driver.state", "other"]
        store.set_key_value(KeyValue("driver.state", "two"))  # a new object overwrites
        found = store.get_key_values("driver.state")
        assert [kv.value for kv in found] == ["two"]
        found[0].value = "three"  # a loaded object saves too
        store.set_key_value(found[0])
        assert store.get_key_values("driver.state")[0].value == "three"
        store.delete_key_value("driver.state")
        store.delete_key_value(store.get_key_values("other")[0])
        store.delete_key_value("never-there")
        assert store.get_key_values() == []
        assert store.get_key_values("driver.state") == []


class VolumeTypeTests:
    def test_volume_types(self, store: Any) -> None:
        gold = VolumeType(id=new_id(), name="gold",
                          extra_specs={"multiattach": "<is> True",
                                       "volume_backend_name": BACKEND},
                          qos_specs={"total_iops_sec": "1000"})
        silver = VolumeType(id=new_id(), name="silver", is_public=False)
        store.set_volume_type(gold)
        store.set_volume_type(silver)
        assert store.get_volume_types(name="gold") == [gold]
        assert store.get_volume_types(volume_type_id=silver.id) == [silver]
        assert sorted(t.name for t in store.get_volume_types()) == ["gold", "silver"]
        found = store.get_volume_types(name="gold")[0]
        found.extra_specs["replication"] = "<is> False"
        store.set_volume_type(found)
        assert store.get_volume_types(name="gold")[0].extra_specs["replication"] == \
            "<is> False"
        assert store.db.get_volume_type(None, gold.id)["extra_specs"]["multiattach"] == \
            "<is> True"
        assert store.db.qos_specs_get(None, gold.id)["specs"] == {"total_iops_sec": "1000"}
        store.delete_volume_type(silver)
        assert store.get_volume_types(name="silver") == []
        with pytest.raises(exc.NotFound):
            store.db.get_volume_type(None, silver.id)


class GroupTests:
    def test_groups_and_group_snapshots(self, store: Any) -> None:
        group = Group(id=new_id(), name="g1", backend_name=BACKEND, status="available",
                      group_type={"consistent_group_snapshot_enabled": "<is> True"})
        other = Group(id=new_id(), name="g2", backend_name="elsewhere")
        store.set_group(group)
        store.set_group(other)
        assert store.get_groups(group_id=group.id) == [group]
        assert ids(store.get_groups(group_name="g2")) == [other.id]
        assert ids(store.get_groups(backend_name=BACKEND)) == [group.id]
        vol = saved_volume(store, group_id=group.id)
        assert ids(store.get_volumes(backend_name=BACKEND)) == [vol.id]
        gs = GroupSnapshot(id=new_id(), name="gs", group_id=group.id, status="available",
                           group_type=dict(group.group_type))
        store.set_group_snapshot(gs)
        assert store.get_group_snapshots(group_id=group.id) == [gs]
        assert ids(store.get_group_snapshots(group_snapshot_name="gs")) == [gs.id]
        assert ids(store.get_group_snapshots(group_snapshot_id=gs.id)) == [gs.id]
        snap = new_snapshot(vol, group_snapshot_id=gs.id)
        store.set_snapshot(snap)
        found = store.get_groups(group_id=group.id)[0]
        found.status = "deleting"
        store.set_group(found)
        assert store.get_groups(group_id=group.id)[0].status == "deleting"
        store.delete_group_snapshot(gs)
        store.delete_group(found)
        assert store.get_group_snapshots() == [] and ids(store.get_groups()) == [other.id]


class ListingTests:
    """``list_volumes``: order, marker/limit pages, filters; counts per project."""

    @staticmethod
    def _fill(store: Any, n: int = 9) -> list[Volume]:
        base = datetime.datetime(2024, 1, 1, tzinfo=UTC)
        vols = []
        for i in range(n):
            # Pairs share a created_at, so the id breaks the tie.
            created = base + datetime.timedelta(seconds=i // 2, microseconds=7)
            vols.append(saved_volume(
                store, name=f"v{i}", created_at=created, project_id=f"p{i % 3}",
                status="available" if i % 2 else "error", size=1 + i % 2,
                metadata={"tier": "gold" if i % 3 == 0 else "silver", "i": str(i)}))
        return sorted(vols, key=lambda v: (v.created_at, v.id))

    def test_order_and_pages_cover_everything_once(self, store: Any) -> None:
        vols = self._fill(store)
        items, marker = store.list_volumes()
        assert ids(items) == ids(vols) and marker is None
        seen: list[str] = []
        marker = None
        pages = 0
        while True:
            items, marker = store.list_volumes(marker=marker, limit=2)
            seen += ids(items)
            pages += 1
            if marker is None:
                break
            assert len(items) == 2
        assert seen == ids(vols) and pages == 5
        items, marker = store.list_volumes(limit=9)
        assert len(items) == 9 and marker is None

    def test_filters_project_backend_and_metadata(self, store: Any) -> None:
        vols = self._fill(store)
        saved_volume(store, backend_name="elsewhere", project_id="p0",
                     metadata={"tier": "gold"})
        mine = vols
        items, _ = store.list_volumes(filters={"status": "error"}, backend_name=BACKEND)
        assert ids(items) == [v.id for v in mine if v.status == "error"]
        items, _ = store.list_volumes(project_id="p1", backend_name=BACKEND)
        assert ids(items) == [v.id for v in mine if v.project_id == "p1"]
        items, _ = store.list_volumes(filters={"size": 2, "status": "available"})
        assert ids(items) == [v.id for v in mine if v.size == 2]
        gold = [v.id for v in mine if v.metadata["tier"] == "gold"]
        items, _ = store.list_volumes(filters={"metadata": {"tier": "gold"}},
                                      backend_name=BACKEND)
        assert ids(items) == gold
        seen: list[str] = []
        marker = None
        while True:  # metadata filters and pages together
            items, marker = store.list_volumes(filters={"metadata": {"tier": "gold"}},
                                               backend_name=BACKEND, marker=marker,
                                               limit=1)
            seen += ids(items)
            if marker is None:
                break
        assert seen == gold
        items, _ = store.list_volumes(filters={"metadata": {"tier": "gold", "i": "3"}})
        assert [v.name for v in items] == ["v3"]
        assert store.list_volumes(filters={"metadata": {"tier": "GOLD"}}) == ([], None)
        assert store.list_volumes(filters={"name": "v4"})[0][0].name == "v4"

    def test_bad_listing_arguments(self, store: Any) -> None:
        self._fill(store, 2)
        with pytest.raises(exc.InvalidArgument):
            store.list_volumes(marker=new_id())
        with pytest.raises(exc.InvalidArgument):
            store.list_volumes(filters={"no_such_field": 1})
        with pytest.raises(exc.InvalidArgument):
            store.list_volumes(limit=0)

    def test_count_volumes_by_project(self, store: Any) -> None:
        assert store.count_volumes_by_project() == {}
        self._fill(store)
        saved_volume(store, project_id=None)
        assert store.count_volumes_by_project() == {"p0": 3, "p1": 3, "p2": 3, None: 1}


class DBFacadeTests:
    def test_db_facade(self, store: Any) -> None:
        vol = saved_volume(store)
        snap = new_snapshot(vol)
        store.set_snapshot(snap)
        assert store.db.volume_get(None, vol.id) == vol
        assert store.db.snapshot_get(None, snap.id) == snap
        with pytest.raises(exc.VolumeNotFound) as info:
            store.db.volume_get(None, "00000000-0000-0000-0000-000000000000")
        assert isinstance(info.value, exc.NotFound)
        with pytest.raises(exc.SnapshotNotFound):
            store.db.snapshot_get(None, new_id())
        with pytest.raises(exc.NotFound):
            store.db.qos_specs_get(None, new_id())
        assert store.db.image_volume_cache_get_by_volume_id(None, vol.id) is None


class BackendTests:
    """Real objects from a backend with the ``fake`` driver, kept in this store."""

    def test_volume_life_cycle_is_stored(self, store: Any, backend: Any) -> None:
        vol = backend.create_volume(size=1, name="data", metadata={"app": "db"})
        found = store.get_volumes(volume_id=vol.id)[0]
        assert (found.status, found.name, found.backend_name) == \
            ("available", "data", BACKEND)
        snap = vol.create_snapshot(name="s1")
        assert store.get_snapshots(volume_id=vol.id)[0].status == "available"
        clone = snap.create_volume(name="from-snap")
        assert clone.snapshot_id == snap.id
        assert vol.extend(2) == 2 * 1024 ** 3
        assert store.get_volumes(volume_id=vol.id)[0].size == 2
        conn = vol.connect({"host": "node-1", "initiator": "iqn.2024-01.test:node-1"})
        assert store.get_connections(volume_id=vol.id)[0].id == conn.id
        assert store.get_volumes(volume_id=vol.id)[0].status == "in-use"
        conn.disconnect()
        assert store.get_connections(volume_id=vol.id) == []
        assert sorted(ids(backend.volumes)) == sorted([vol.id, clone.id])
        stale = store.get_volumes(volume_id=vol.id)[0]
        vol.refresh()
        snap.delete()
        vol.delete()
        clone.delete()
        assert store.get_volumes() == [] and store.get_snapshots() == []
        with pytest.raises(exc.VolumeNotFound):
            stale.refresh()


class DumpLoadTests:
    """``volumelib.dump()`` from one store and ``load(..., save=True)`` into another."""

    def test_dump_from_store_load_into_another(self, store: Any, other_store: Any,
                                               backend: Any, current: Any) -> None:
        vol = backend.create_volume(size=1, name="moved", metadata={"k": "v"})
        snap = vol.create_snapshot(name="snap")
        conn = vol.connect({"host": "node-1"})
        data = volumelib.dump()
        volumelib.setup(persistence_config={"storage": other_store})
        volumelib.load(data, save=True)
        assert other_store.get_volumes(volume_id=vol.id)[0] == \
            store.get_volumes(volume_id=vol.id)[0]
        assert other_store.get_snapshots(snapshot_id=snap.id)[0].name == "snap"
        assert other_store.get_connections(volume_id=vol.id)[0].id == conn.id
        # ... and back again, into a store that already has them (overwrite).
        again = volumelib.dumps()
        volumelib.setup(persistence_config={"storage": store})
        volumelib.load(again, save=True)
        assert store.get_volumes(volume_id=vol.id)[0].name == "moved"

    def test_load_into_this_store(self, store: Any, other_store: Any, current: Any
                                  ) -> None:
        vols = [saved_volume(other_store, name=f"m{i}", project_id="p") for i in range(3)]
        volumelib.setup(persistence_config={"storage": other_store},
                        fail_on_missing_backend=False)
        data = volumelib.dump()
        volumelib.setup(persistence_config={"storage": store}, fail_on_missing_backend=False)
        volumelib.load(data, save=True)
        assert sorted(ids(store.get_volumes())) == sorted(ids(vols))
        assert store.count_volumes_by_project() == {"p": 3}

    def test_corrupt_payload_writes_nothing(self, store: Any, current: Any) -> None:
        volumelib.setup(persistence_config={"storage": store}, fail_on_missing_backend=False)
        good = new_volume(name="good").json
        bad = new_volume(name="bad").json
        bad["ovo"]["versioned_object.data"]["size"] = "not a number"
        for payload in ([good, bad], "{not json", [good, {"class": "Volume"}],
                        [good, {"class": "Nope", "ovo": {}}]):
            with pytest.raises(exc.InvalidPayload):
                volumelib.load(payload, save=True)
        assert store.get_volumes() == []


class PersistenceSuite(VolumeTests, ConcurrencyTests, TransactionTests, DeleteTests,
                       RoundTripTests,
                       SnapshotConnectionTests, KeyValueTests, VolumeTypeTests,
                       GroupTests, ListingTests, DBFacadeTests, BackendTests,
                       DumpLoadTests, ControlKindTests, EventLogTests):
    """The whole contract."""
