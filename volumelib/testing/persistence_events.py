"""Conformance tests of a store's event log (:mod:`volumelib.persistence.events`).

Part of :class:`volumelib.testing.persistence.PersistenceSuite` for the stores that
keep an event log (``keeps_events``); a store without one skips them (``N/A``).
Only the store's contract is used: ``set_*``/``delete_*``, ``transaction()``,
``list_events``, ``last_event_id``, ``trim_events`` and ``event_waiter``.
"""

from __future__ import annotations

import datetime
import threading
import time
import uuid
from typing import Any

import pytest

from volumelib import exceptions as exc
from volumelib.objects import (
    Connection,
    Group,
    GroupSnapshot,
    KeyValue,
    Lease,
    Pool,
    Snapshot,
    Volume,
)
from volumelib.testing import not_applicable

__all__ = ["EventLogTests"]

UTC = datetime.timezone.utc


def _id() -> str:
    return str(uuid.uuid4())


def _volume(store: Any, **values: Any) -> Volume:
    vol = Volume(**{"id": _id(), "size": 1, "backend_name": "events", "status": "creating",
                    **values})
    store.set_volume(vol)
    return vol


def _status(store: Any, obj: Any, status: str) -> None:
    obj.status = status
    getattr(store, f"set_{obj._kind()}")(obj)


def _changes(events: Any) -> list[tuple[str, str, str | None, str | None]]:
    return [(e.kind, e.action, e.old_status, e.new_status) for e in events]


class EventLogTests:
    """Every status change, create and delete of a resource is logged in its own
    transaction, numbered in commit order, readable by pages and filters."""

    @pytest.fixture(autouse=True)
    def _needs_events(self, store: Any) -> None:
        if not getattr(store, "keeps_events", False):
            not_applicable(f"store {type(store).__name__} keeps no event log")

    def test_life_of_a_volume_is_logged_in_order(self, store: Any) -> None:
        start = store.last_event_id()
        vol = _volume(store, name="v", project_id="p1")
        _status(store, vol, "available")
        vol.metadata["k"] = "v"  # not a status change: no event
        store.set_volume(vol)
        _status(store, vol, "available")  # the same status again: no event
        vol.size = 2
        _status(store, vol, "extending")
        store.delete_volume(vol)
        found = store.list_events(since=start)
        assert _changes(found) == [("volume", "create", None, "creating"),
                                   ("volume", "update", "creating", "available"),
                                   ("volume", "update", "available", "extending"),
                                   ("volume", "delete", "extending", "deleted")]
        ids = [e.id for e in found]
        assert ids == sorted(ids) and len(set(ids)) == 4 and ids[0] > start
        assert store.last_event_id() == ids[-1]
        first = found[0]
        assert first.resource_id == vol.id and first.project_id == "p1"
        assert first.payload == {"name": "v", "size": 1, "backend_name": "events"}
        assert found[2].payload["size"] == 2 and found[3].payload["size"] == 2
        assert all(e.time.tzinfo is not None for e in found)
        assert [e.time for e in found] == sorted(e.time for e in found)
        assert found[0].json["time"] == first.time.isoformat()

    def test_every_resource_kind_is_logged(self, store: Any) -> None:
        start = store.last_event_id()
        vol = _volume(store)
        snap = Snapshot(id=_id(), volume_id=vol.id, volume_size=1, status="creating")
        store.set_snapshot(snap)
        conn = Connection(id=_id(), volume_id=vol.id, status="connecting")
        store.set_connection(conn)
        _status(store, conn, "connected")
        group = Group(id=_id(), name="g", status="creating")
        store.set_group(group)
        gs = GroupSnapshot(id=_id(), group_id=group.id, status="creating")
        store.set_group_snapshot(gs)
        _status(store, gs, "available")
        store.delete_group_snapshot(gs)
        store.delete_connection(conn)
        found = store.list_events(since=start)
        assert _changes(found) == [
            ("volume", "create", None, "creating"),
            ("snapshot", "create", None, "creating"),
            ("connection", "create", None, "connecting"),
            ("connection", "update", "connecting", "connected"),
            ("group", "create", None, "creating"),
            ("group_snapshot", "create", None, "creating"),
            ("group_snapshot", "update", "creating", "available"),
            ("group_snapshot", "delete", "available", "deleted"),
            ("connection", "delete", "connected", "deleted")]
        assert found[1].payload == {"volume_id": vol.id, "volume_size": 1}
        assert found[5].payload == {"group_id": group.id}

    def test_kinds_without_a_life_cycle_are_not_logged(self, store: Any) -> None:
        start = store.last_event_id()
        store.set_key_value(KeyValue("k", "v"))
        store.set_lease(Lease(id="leased", holder="h", ttl=5.0))
        store.set_pool(Pool(name="p", volume_driver="fake"))
        assert list(store.list_events(since=start)) == []

    def test_a_rolled_back_change_leaves_no_event(self, store: Any) -> None:
        vol = _volume(store)
        start = store.last_event_id()
        with pytest.raises(RuntimeError):
            with store.transaction():
                _status(store, vol, "in-use")
                _volume(store)
                raise RuntimeError("boom")
        assert list(store.list_events(since=start)) == []
        assert store.last_event_id() == start
        stale = store.get_volumes(volume_id=vol.id)[0]
        _status(store, store.get_volumes(volume_id=vol.id)[0], "available")
        with pytest.raises(exc.ConcurrentModification):
            _status(store, stale, "error")  # lost the compare-and-set: no event
        assert _changes(store.list_events(since=start)) == \
            [("volume", "update", "creating", "available")]

    def test_a_transactions_changes_and_events_commit_together(self, store: Any) -> None:
        start = store.last_event_id()
        with store.transaction():
            a = _volume(store)
            b = _volume(store)
            _status(store, a, "available")
        found = store.list_events(since=start)
        assert [(e.resource_id, e.new_status) for e in found] == \
            [(a.id, "creating"), (b.id, "creating"), (a.id, "available")]
        assert [e.id for e in found] == list(range(found[0].id, found[0].id + 3))

    def test_deleting_what_is_not_there_logs_nothing(self, store: Any) -> None:
        vol = _volume(store)
        store.delete_volume(vol)
        start = store.last_event_id()
        store.delete_volume(vol)
        store.delete_volume(Volume(id=_id(), size=1, backend_name="events"))
        assert list(store.list_events(since=start)) == []

    def test_soft_delete_is_logged_once(self, soft_store: Any) -> None:
        vol = _volume(soft_store, status="available")
        start = soft_store.last_event_id()
        soft_store.delete_volume(vol)
        soft_store.delete_volume(vol)
        assert _changes(soft_store.list_events(since=start)) == \
            [("volume", "delete", "available", "deleted")]

    def test_pages_markers_and_filters(self, store: Any) -> None:
        start = store.last_event_id()
        a = _volume(store, project_id="pa")
        b = _volume(store, project_id="pb")
        snap = Snapshot(id=_id(), volume_id=a.id, volume_size=1, status="creating",
                        project_id="pa")
        store.set_snapshot(snap)
        _status(store, a, "available")
        page = store.list_events(since=start, limit=2)
        assert len(page) == 2 and page.more and page.marker == page[-1].id
        rest = store.list_events(since=page.marker, limit=2)
        assert len(rest) == 2 and rest.marker == rest[-1].id
        last = store.list_events(since=rest.marker, limit=2)
        assert list(last) == [] and not last.more and last.marker == rest.marker
        assert [e.resource_id for e in store.list_events(since=start,
                                                         resource_id=a.id)] == [a.id, a.id]
        assert [e.kind for e in store.list_events(since=start, kinds="snapshot")] == \
            ["snapshot"]
        assert [e.kind for e in store.list_events(since=start, kinds=["snapshot", "volume"])] \
            == ["volume", "volume", "snapshot", "volume"]
        only_b = store.list_events(since=start, project_id="pb")
        assert [e.resource_id for e in only_b] == [b.id]
        # A filtered page that is not full has looked at everything up to now.
        assert only_b.marker == store.last_event_id() and not only_b.more
        none = store.list_events(since=start, kinds="group")
        assert list(none) == [] and none.marker == store.last_event_id()

    def test_bad_arguments_are_refused(self, store: Any) -> None:
        with pytest.raises(exc.InvalidEventKind):
            store.list_events(kinds=["volume", "lease"])
        with pytest.raises(exc.InvalidEventKind):
            store.list_events(kinds=[])
        for since in (-1, "3", 1.5, True):
            with pytest.raises(exc.InvalidArgument):
                store.list_events(since=since)
        for limit in (0, -2, "10", True):
            with pytest.raises(exc.InvalidArgument):
                store.list_events(limit=limit)
        with pytest.raises(exc.InvalidArgument):
            store.trim_events(-1)

    def test_trimming_keeps_ids_increasing(self, store: Any) -> None:
        vol = _volume(store)
        _status(store, vol, "available")
        newest = store.last_event_id()
        assert store.trim_events(3600) == 0  # nothing that old
        store.trim_events(0)
        assert store.last_event_id() == newest
        assert [e.id for e in store.list_events()] in ([], [newest])
        _status(store, vol, "error")
        assert store.last_event_id() > newest
        assert store.list_events()[-1].id == store.last_event_id()

    def test_waiter_wakes_on_a_commit_and_times_out(self, store: Any) -> None:
        vol = _volume(store)
        with store.event_waiter() as waiter:
            last = store.last_event_id()
            t0 = time.monotonic()
            assert waiter.wait(last, 0.2) is False
            assert time.monotonic() - t0 >= 0.15
            timer = threading.Timer(0.2, _status, (store, vol, "available"))
            timer.start()
            try:
                assert waiter.wait(last, 10) is True
            finally:
                timer.join()
            assert waiter.wait(last, 0) is True  # already there: no wait

    def test_concurrent_writers_never_hide_an_event_from_a_reader(self, store: Any
                                                                  ) -> None:
        """Ids follow commit order: a reader that goes on from the last id it saw
        misses nothing, however writers interleave."""
        vols = [_volume(store) for _ in range(4)]
        start = store.last_event_id()
        errors: list[BaseException] = []
        done = threading.Event()

        def write(vol: Volume) -> None:
            try:
                for i in range(15):
                    _status(store, vol, f"s{i}")
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        seen: list[int] = []

        def read() -> None:
            marker = start
            while True:
                finished = done.is_set()
                page = store.list_events(since=marker)
                seen.extend(e.id for e in page)
                marker = page.marker
                if finished:
                    return
                time.sleep(0.001)

        reader = threading.Thread(target=read)
        reader.start()
        writers = [threading.Thread(target=write, args=(v,)) for v in vols]
        for t in writers:
            t.start()
        for t in writers:
            t.join()
        done.set()
        reader.join()
        assert errors == []
        everything = [e.id for e in store.list_events(since=start)]
        assert len(everything) == 60 and everything == sorted(set(everything))
        assert seen == everything
