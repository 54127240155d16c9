"""``memory``: a store that lives and dies with its instance.

Each instance has its own tables (no class-level dicts shared between instances),
guarded by a lock, with the same versioned compare-and-set rules as the SQL stores.
Its event log is a list in the instance; a transaction's events join it when the
transaction ends well, and waiting watchers are woken at once.
A row is never modified in place: an update stores a new row. So reads hand out the
rows themselves, and the objects built from them copy what they may change
(:meth:`volumelib.versioned.VersionedObject._from_values`).
"""

from __future__ import annotations

import bisect
import contextlib
import datetime
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

from volumelib import exceptions as exc
from volumelib.persistence.base import Kind, PersistenceDriverBase, name_matches
from volumelib.persistence.events import Event, new_event

__all__ = ["MemoryPersistence"]

#: Fields the memory store indexes (the lookups operations make on every call: a
#: volume's snapshots and connections, a group's members, a project's quotas).
_INDEXED: dict[str, tuple[str, ...]] = {
    "volume": ("group_id", "name"),
    "snapshot": ("volume_id", "group_snapshot_id"),
    "connection": ("volume_id",),
    "group_snapshot": ("group_id",),
    "quota": ("project_id",),
}


class MemoryPersistence(PersistenceDriverBase):
    """In-process store. Fast, not durable, not shared between processes."""

    name = "memory"
    keeps_events = True

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._lock = threading.RLock()
        self._local = threading.local()
        self._tables: dict[str, dict[str, tuple[int, dict[str, Any]]]] = {}
        #: The event log, oldest first (the rows :func:`new_event` made: events
        #: are built when read, the rarer thing), and its ids (for bisecting).
        self._events: list[dict[str, Any]] = []
        self._event_ids: list[int] = []
        self._last_event = 0
        self._new_events = threading.Condition(self._lock)
        #: kind -> field -> value -> keys of the rows with that value (a dict used as
        #: an ordered set: reads return rows in the order they were written).
        self._indexes: dict[str, dict[str, dict[Any, dict[str, None]]]] = {
            kind: {name: {} for name in names} for kind, names in _INDEXED.items()}

    def transaction(self) -> contextlib.AbstractContextManager[Any]:
        """The store's lock for the whole block (other threads wait), and on an
        exception every row the block wrote is put back as it was."""
        if getattr(self._local, "undo", None) is not None:
            return _JOINED  # inside one already: no generator for a nested block
        return self._new_transaction()

    @contextlib.contextmanager
    def _new_transaction(self) -> Iterator[None]:
        with self._lock:
            undo: list[tuple[str, str, tuple[int, dict[str, Any]] | None]] = []
            self._local.undo = undo
            self._local.events = []
            try:
                yield
                if self._local.events:
                    self._append_events(self._local.events)
            except BaseException:
                for kind, key, before in reversed(undo):
                    table = self._tables.setdefault(kind, {})
                    now = table.pop(key, None)
                    if before is not None:
                        table[key] = before
                    self._index(kind, key, None if now is None else now[1],
                                None if before is None else before[1])
                raise
            finally:
                self._local.undo = None
                self._local.events = None

    def _remember(self, kind: str, key: str,
                  before: tuple[int, dict[str, Any]] | None) -> None:
        undo = getattr(self._local, "undo", None)
        if undo is not None:
            undo.append((kind, key, before))

    def _table(self, kind: Kind) -> dict[str, tuple[int, dict[str, Any]]]:
        return self._tables.setdefault(kind.name, {})

    def _index(self, kind: str, key: str, old: Mapping[str, Any] | None,
               new: Mapping[str, Any] | None) -> None:
        for name, index in self._indexes.get(kind, {}).items():
            before = None if old is None else old.get(name)
            after = None if new is None else new.get(name)
            if old is not None and (new is None or before != after):
                keys = index.get(before)
                if keys is not None:
                    keys.pop(key, None)
                    if not keys:
                        del index[before]
            if new is not None and (old is None or before != after):
                index.setdefault(after, {})[key] = None

    @staticmethod
    def _matches(values: Mapping[str, Any], filters: Mapping[str, Any]) -> bool:
        return all(values.get(k) == v for k, v in filters.items())

    def _fetch(self, kind: Kind, filters: Mapping[str, Any]
               ) -> list[tuple[int, dict[str, Any]]]:
        with self._lock:
            table = self._tables.get(kind.name)
            if not table:
                return []
            key = filters.get(kind.key)
            if key is not None:
                row = table.get(key)
                if row is None or row[1].get("deleted"):
                    return []
                if len(filters) == 1:
                    return [row]
                rows = [row]
            else:
                rows = None
                for name, index in self._indexes.get(kind.name, {}).items():
                    value = filters.get(name)
                    if value is not None:
                        rows = [table[k] for k in index.get(value, ())]
                        break
                if rows is None:
                    rows = list(table.values())
            return [(v, vals) for v, vals in rows
                    if not vals.get("deleted") and self._matches(vals, filters)]

    def row_version(self, kind: str, key: str) -> int | None:
        row = self._tables.get(kind, {}).get(key)
        return None if row is None or row[1].get("deleted") else row[0]

    def _insert(self, kind: Kind, values: Mapping[str, Any]) -> int:
        key = values[kind.key]
        with self._lock:
            table = self._table(kind)
            if key in table:
                raise exc.AlreadyExists(resource=kind.class_name, id=key)
            row = dict(values)
            table[key] = (1, row)
            self._index(kind.name, key, None, row)
            self._remember(kind.name, key, None)
        return 1

    def _update(self, kind: Kind, key: str, expected_version: int,
                changes: Mapping[str, Any]) -> int:
        with self._lock:
            table = self._table(kind)
            current = table.get(key)
            if current is None or current[0] != expected_version:
                raise exc.ConcurrentModification(resource=kind.class_name, id=key,
                                                 expected=expected_version)
            values = dict(current[1])
            values.update(changes)
            table[key] = (expected_version + 1, values)
            self._index(kind.name, key, current[1], values)
            self._remember(kind.name, key, current)
        return expected_version + 1

    def _remove(self, kind: Kind, key: str) -> None:
        with self._lock:
            row = self._table(kind).pop(key, None)
            if row is not None:
                self._index(kind.name, key, row[1], None)
                self._remember(kind.name, key, row)

    def _remove_returning(self, kind: Kind, key: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._table(kind).pop(key, None)
            if row is None:
                return None
            self._index(kind.name, key, row[1], None)
            self._remember(kind.name, key, row)
            return row[1]

    def _remove_if(self, kind: Kind, key: str, expected_version: int) -> bool:
        with self._lock:
            table = self._table(kind)
            current = table.get(key)
            if current is None:
                return False
            if current[0] != expected_version:
                raise exc.ConcurrentModification(resource=kind.class_name, id=key,
                                                 expected=expected_version)
            del table[key]
            self._index(kind.name, key, current[1], None)
            self._remember(kind.name, key, current)
            return True

    def _page(self, kind: Kind, *, marker: str | None, limit: int | None,
              filters: Mapping[str, Any], metadata: Mapping[str, str],
              name_match: tuple[tuple[str, str], ...] = ()
              ) -> list[tuple[int, dict[str, Any]]]:
        with self._lock:
            table = self._table(kind)
            rows = sorted((r for r in table.values()
                           if not r[1].get("deleted") and self._matches(r[1], filters)
                           and all((r[1].get("metadata") or {}).get(k) == v
                                   for k, v in metadata.items())
                           and name_matches(r[1].get("name"), name_match)),
                          key=lambda r: (r[1]["created_at"], r[1]["id"]))
            if marker is not None and marker in table:
                mark = table[marker][1]
                pos = (mark["created_at"], mark["id"])
                rows = [r for r in rows if (r[1]["created_at"], r[1]["id"]) > pos]
            return rows if limit is None else rows[:limit]

    # -- the event log ------------------------------------------------------------------

    def _emit(self, kind: str, action: str, resource_id: str, old_status: Any,
              new_status: Any, values: Mapping[str, Any], reason: str | None) -> None:
        pending = getattr(self._local, "events", None)
        if pending is None:
            raise exc.PersistenceError(reason="an event is written inside a transaction")
        pending.append(new_event(kind, action, resource_id, old_status, new_status,
                                 values, reason))

    def _append_events(self, rows: list[dict[str, Any]]) -> None:
        """Number and keep a committed transaction's events (the lock is held)."""
        for row in rows:
            self._last_event += 1
            row["id"] = self._last_event
            self._events.append(row)
            self._event_ids.append(self._last_event)
        self._new_events.notify_all()

    def _event_rows(self, since: int, limit: int | None, kinds: tuple[str, ...] | None,
                    resource_id: str | None, project_id: str | None) -> list[Event]:
        with self._lock:
            start = bisect.bisect_right(self._event_ids, since)
            found: list[Event] = []
            for row in self._events[start:]:
                if (kinds is None or row["kind"] in kinds) \
                        and (resource_id is None or row["resource_id"] == resource_id) \
                        and (project_id is None or row["project_id"] == project_id):
                    found.append(Event(**{**row, "payload": dict(row["payload"])}))
                    if limit is not None and len(found) >= limit:
                        break
            return found

    def last_event_id(self) -> int:
        self._require_events()
        return self._last_event

    def _trim_events(self, before: datetime.datetime) -> int:
        with self._lock:
            keep = next((i for i, e in enumerate(self._events) if e["time"] >= before),
                        len(self._events))
            del self._events[:keep]
            del self._event_ids[:keep]
            return keep

    def event_waiter(self) -> Any:
        self._require_events()
        return _MemoryWaiter(self)

    def __repr__(self) -> str:
        return f"<MemoryPersistence {id(self):#x}>"


#: The context manager of a block inside a transaction already.
_JOINED = contextlib.nullcontext()


class _MemoryWaiter:
    """Waits on the store's condition: woken by the commit of new events."""

    def __init__(self, store: MemoryPersistence) -> None:
        self._store = store

    def wait(self, since: int, timeout: float | None) -> bool:
        store = self._store
        deadline = None if timeout is None else time.monotonic() + timeout
        with store._new_events:
            while store._last_event <= since:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                store._new_events.wait(left)
            return True

    def close(self) -> None:
        """Nothing to release."""

    def __enter__(self) -> _MemoryWaiter:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()
