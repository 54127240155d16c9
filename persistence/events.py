"""The event log every store keeps: one event per status change, create and delete of a
volume, snapshot, connection, group or group snapshot.

An event is written by the store's own write path (:meth:`PersistenceDriverBase._set`
and ``_delete``), inside the transaction of the change it records, so a committed
change always has its event and a rolled-back one never has. Each store numbers its
events with increasing ids **in commit order**: whoever reads events after id ``n``
and later again after the last id it saw misses nothing (the SQL stores serialize the
numbering of concurrent transactions, see :mod:`volumelib.persistence.dbms.store`).

This module holds what is common to every store: the :class:`Event` value, what goes
into one (:func:`new_event`), the kinds that have events, argument checks, and the
default way of waiting for new events (polling).
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from volumelib import exceptions as exc

__all__ = ["EventLog", "Event", "EventPage", "EVENT_KINDS", "ACTIONS", "PAYLOAD_FIELDS", "new_event",
           "check_kinds", "check_since", "check_limit", "PollingWaiter", "REASON_LIMIT"]

#: The kinds of resources whose changes are logged.
EVENT_KINDS = ("volume", "snapshot", "connection", "group", "group_snapshot")
#: What happened: the resource was stored for the first time, its status changed,
#: or it was deleted (its ``new_status`` is then ``"deleted"``).
ACTIONS = ("create", "update", "delete")

#: Per kind, the fields copied into an event's ``payload`` (small: enough to react
#: without reading the resource).
PAYLOAD_FIELDS: dict[str, tuple[str, ...]] = {
    "volume": ("name", "size", "backend_name", "group_id"),
    "snapshot": ("name", "volume_id", "volume_size", "backend_name", "group_snapshot_id"),
    "connection": ("volume_id", "backend_name", "attach_mode", "attached_host"),
    "group": ("name", "backend_name"),
    "group_snapshot": ("name", "group_id", "backend_name"),
}
#: Longest error reason kept in a payload (characters).
REASON_LIMIT = 500


class Event:
    """One change of one resource (read-only).

    Attributes:
        id: increasing per store, in commit order.
        time: when the change was written (aware UTC).
        kind: ``volume``, ``snapshot``, ``connection``, ``group`` or ``group_snapshot``.
        resource_id: the resource's id.
        action: ``create``, ``update`` (a status change) or ``delete``.
        old_status: the status before (``None`` for a create).
        new_status: the status after (``"deleted"`` for a delete).
        project_id: the resource's project.
        payload: a few fields of the resource (name, size...) and, when an operation
            failed, its error ``reason``.
    """

    #: The fields, in order (also the keys of :attr:`json`).
    FIELDS = ("id", "time", "kind", "resource_id", "action", "old_status", "new_status",
              "project_id", "payload")
    __slots__ = FIELDS

    # A plain class, not a dataclass: a dataclass costs a millisecond of
    # ``import volumelib``, and two of them more than the event log's whole import.
    def __init__(self, id: int, time: datetime.datetime, kind: str, resource_id: str,
                 action: str, old_status: str | None, new_status: str | None,
                 project_id: str | None, payload: dict[str, Any]) -> None:
        setter = object.__setattr__
        setter(self, "id", id)
        setter(self, "time", time)
        setter(self, "kind", kind)
        setter(self, "resource_id", resource_id)
        setter(self, "action", action)
        setter(self, "old_status", old_status)
        setter(self, "new_status", new_status)
        setter(self, "project_id", project_id)
        setter(self, "payload", payload)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"an event is read-only ({name})")

    def __reduce__(self) -> tuple[Any, ...]:
        # pickle and copy: a plain Event (a claim does not travel with it)
        return Event, tuple(getattr(self, name) for name in Event.FIELDS)

    def values(self) -> dict[str, Any]:
        """The fields as a dict (the payload a copy), e.g. to build another event."""
        out = {name: getattr(self, name) for name in Event.FIELDS}
        out["payload"] = dict(self.payload)
        return out

    @property
    def json(self) -> dict[str, Any]:
        """A JSON-ready dict (``time`` in ISO 8601)."""
        return {"id": self.id, "time": self.time.isoformat(), "kind": self.kind,
                "resource_id": self.resource_id, "action": self.action,
                "old_status": self.old_status, "new_status": self.new_status,
                "project_id": self.project_id, "payload": dict(self.payload)}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Event):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in Event.FIELDS)

    def __hash__(self) -> int:
        return hash((self.id, self.resource_id))

    def __repr__(self) -> str:
        return (f"<Event {self.id} {self.kind} {self.resource_id} {self.action} "
                f"{self.old_status}->{self.new_status}>")


class EventPage(list):  # type: ignore[type-arg]
    """One page of events (a list, oldest first) and where the next page starts.

    Attributes:
        marker: pass it as ``since`` to get the events after this page. Unlike a
            resource listing's marker it is never ``None`` once a page was read (it
            is the last id looked at, filtered out or not), so a caller can keep
            asking for what came next.
        more: ``True`` when the page is full: more events may be waiting already.
    """

    def __init__(self, events: Iterable[Event] = (), marker: int | None = None,
                 more: bool = False) -> None:
        super().__init__(events)
        self.marker = marker
        self.more = more

    def __repr__(self) -> str:
        return f"<EventPage {len(self)} events marker={self.marker} more={self.more}>"


def new_event(kind: str, action: str, resource_id: str, old_status: str | None,
              new_status: str | None, values: Mapping[str, Any],
              reason: str | None = None, time_: datetime.datetime | None = None
              ) -> dict[str, Any]:
    """The row of a new event (without its id, which the store assigns).

    Args:
        values: the resource's field values (``project_id`` and the kind's
            :data:`PAYLOAD_FIELDS` are taken from them).
        reason: why the operation failed, for an error status (cut to
            :data:`REASON_LIMIT` characters).
    """
    payload = {name: values[name] for name in PAYLOAD_FIELDS[kind]
               if values.get(name) is not None}
    if reason:
        payload["reason"] = reason[:REASON_LIMIT]
    return {"time": time_ or datetime.datetime.now(datetime.timezone.utc), "kind": kind,
            "resource_id": resource_id, "action": action, "old_status": old_status,
            "new_status": new_status, "project_id": values.get("project_id"),
            "payload": payload}


def check_kinds(kinds: Any) -> tuple[str, ...] | None:
    """``kinds`` as a tuple of known event kinds (``None``: every kind).

    Raises:
        InvalidEventKind: one is not in :data:`EVENT_KINDS`, or ``kinds`` is no
            string or collection of strings (or an empty one).
    """
    if kinds is None:
        return None
    if isinstance(kinds, str):
        kinds = (kinds,)
    try:
        found = tuple(kinds)
    except TypeError:
        raise exc.InvalidEventKind(kind=kinds, known=", ".join(EVENT_KINDS)) from None
    if not found:
        raise exc.InvalidEventKind(kind=kinds, known=", ".join(EVENT_KINDS))
    for kind in found:
        if kind not in EVENT_KINDS:
            raise exc.InvalidEventKind(kind=kind, known=", ".join(EVENT_KINDS))
    return found


def check_since(since: Any) -> int:
    """``since`` as an event id (``None``: 0, before the first event).

    Raises:
        InvalidArgument: not an integer >= 0.
    """
    if since is None:
        return 0
    if isinstance(since, bool) or not isinstance(since, int) or since < 0:
        raise exc.InvalidArgument(reason=f"since must be an event id (an integer >= 0): "
                                         f"{since!r:.60}")
    return since


def check_limit(limit: Any) -> int | None:
    """``limit`` as a page size (``None``: no limit).

    Raises:
        InvalidArgument: not a positive integer.
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)
                              or limit < 1):
        raise exc.InvalidArgument(reason=f"limit must be a positive integer: {limit!r:.60}")
    return limit


class PollingWaiter:
    """Waits for new events by asking the store for its last event id every
    ``interval`` seconds (the default way; PostgreSQL and the memory store are told
    instead).

    Args:
        store: has ``last_event_id()``.
        interval: seconds between two questions.
    """

    def __init__(self, store: Any, interval: float) -> None:
        self._store = store
        self._interval = interval

    def wait(self, since: int, timeout: float | None) -> bool:
        """Block until the store has an event after ``since`` (``True``) or
        ``timeout`` seconds passed (``False``; ``None``: no limit)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self._store.last_event_id() > since:
                return True
            if deadline is None:
                pause = self._interval
            else:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                pause = min(self._interval, left)
            time.sleep(pause)

    def close(self) -> None:
        """Nothing to release."""

    def __enter__(self) -> PollingWaiter:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


class EventLog:
    """The event log's part of the store contract (a base of
    :class:`~volumelib.persistence.base.PersistenceDriverBase`).

    A store that keeps events sets :attr:`keeps_events` and implements four
    primitives: :meth:`_emit` (inside the current transaction), :meth:`_event_rows`,
    :meth:`last_event_id` and :meth:`_trim_events`; it may wait for new events
    better than by polling (:meth:`event_waiter`). The write path
    (``PersistenceDriverBase._set``/``_delete``) calls :meth:`_log`.
    """

    #: Whether this class implements the event log's primitives.
    keeps_events: ClassVar[bool] = False
    #: Seconds between two looks at the store while waiting for new events.
    event_poll_interval: float = 0.05
    #: The store's ``events`` option.
    _events_on: bool = True

    @property
    def events_enabled(self) -> bool:
        """Whether changes are logged (the class can, and ``events`` is on)."""
        return self.keeps_events and self._events_on

    # -- primitives ---------------------------------------------------------------

    def _emit(self, kind: str, action: str, resource_id: str, old_status: Any,
              new_status: Any, values: Mapping[str, Any], reason: str | None) -> None:
        """Store a new event (what :func:`new_event` makes of these arguments),
        numbered after every event committed before, as part of the current
        transaction: committed with it, or never. Called inside ``transaction()``
        only.

        Args:
            values: the resource's field values (for ``project_id`` and the payload).
            reason: an error reason for the payload, or ``None``.
        """
        raise NotImplementedError

    def _event_rows(self, since: int, limit: int | None, kinds: tuple[str, ...] | None,
                    resource_id: str | None, project_id: str | None) -> list[Event]:
        """Committed events with ids after ``since`` matching the filters (``None``:
        any), oldest first, at most ``limit``."""
        raise NotImplementedError

    def last_event_id(self) -> int:
        """The id of the newest committed event (``0``: none yet). Never decreases,
        even when old events are trimmed.

        Raises:
            NotSupported: this store keeps no event log.
        """
        self._require_events()
        return 0

    def _trim_events(self, before: datetime.datetime) -> int:
        """Delete the events written before ``before``; how many."""
        raise NotImplementedError

    def event_waiter(self) -> Any:
        """A context manager whose ``wait(since, timeout) -> bool`` blocks until an
        event after ``since`` is committed (``True``) or ``timeout`` passes. Default:
        :class:`PollingWaiter` every :attr:`event_poll_interval` seconds.

        Raises:
            NotSupported: this store keeps no event log.
        """
        self._require_events()
        return PollingWaiter(self, self.event_poll_interval)

    # -- reading and trimming -----------------------------------------------------

    def _require_events(self) -> None:
        if not self.events_enabled:
            name = getattr(self, "name", type(self).__name__)
            raise exc.NotSupported(
                operation="the event log",
                driver=f"store {name}" + (" (opened with events=False)"
                                          if self.keeps_events else ""))

    def list_events(self, since: int | None = None, limit: int | None = None,
                    kinds: Any = None, resource_id: str | None = None,
                    project_id: str | None = None) -> EventPage:
        """One page of events after ``since``, oldest first.

        Args:
            since: an event id (a page's ``marker``); ``None``: from the oldest kept.
            limit: page size (``None``: every event).
            kinds: only these kinds (:data:`EVENT_KINDS`).
            resource_id, project_id: only events of this resource, this project.

        Returns:
            An :class:`EventPage`; its ``marker`` is where the next page starts.

        Raises:
            InvalidArgument: bad ``since`` or ``limit``. InvalidEventKind: an unknown
                kind. NotSupported: this store keeps no event log.
        """
        since = check_since(since)
        limit = check_limit(limit)
        kinds = check_kinds(kinds)
        self._require_events()
        filtered = bool(kinds or resource_id is not None or project_id is not None)
        # Every event up to the newest id seen now is committed (ids follow commit
        # order), so a filtered page that is not full has looked at all of them.
        tip = self.last_event_id() if filtered else 0
        rows = self._event_rows(since, None if limit is None else limit + 1, kinds,
                                resource_id, project_id)
        more = limit is not None and len(rows) > limit
        if more:
            rows = rows[:limit]
        marker = rows[-1].id if rows else since
        if not more:
            marker = max(marker, tip)
        return EventPage(rows, marker, more)

    def trim_events(self, older_than: float) -> int:
        """Delete the events older than ``older_than`` seconds (what ``gc()`` does
        with the configured event ttl). Returns how many.

        Raises:
            InvalidArgument: not a number of seconds >= 0.
        """
        if isinstance(older_than, bool) or not isinstance(older_than, (int, float)) \
                or not 0 <= older_than < float("inf"):
            raise exc.InvalidArgument(reason=f"older_than must be seconds >= 0: "
                                             f"{older_than!r:.60}")
        if not self.events_enabled:
            return 0
        cutoff = datetime.datetime.now(datetime.timezone.utc) \
            - datetime.timedelta(seconds=older_than)
        return self._trim_events(cutoff)

    # -- the write path's helpers ---------------------------------------------------

    def _stored_status(self, kind: Any, resource: Any, version: int) -> Any:
        """The status of ``resource``'s row at ``version``: remembered from when the
        object read or wrote that version, else read (if the row is at another
        version now, the compare-and-set that follows fails anyway)."""
        seen = resource.__dict__.get("_seen")
        if seen is not None and seen[0] == version:
            return seen[1]
        rows = self._fetch(kind, {kind.key: getattr(resource, kind.key)})  # type: ignore[attr-defined]
        return rows[0][1].get("status") if rows else None

    def _log(self, kind: Any, resource: Any, action: str, old: Any,
             values: Mapping[str, Any] | None = None) -> None:
        """Write the event of a change of ``resource`` (inside its transaction). An
        error reason the operation left on the object (``_event_reason``, see
        ``StoredObject._settle``) goes into the payload."""
        values = resource._values if values is None else values
        self._emit(kind.name, action, values[kind.key], old,
                   "deleted" if action == "delete" else values.get("status"), values,
                   resource.__dict__.pop("_event_reason", None))

    def _remove_logged(self, kind: Any, resource: Any, key: str) -> None:
        """Hard-delete ``resource``'s row and log it. The object usually knows the row
        as it is (it read or wrote that version: its status is the old status, its
        fields the payload): then one compare-and-set delete does it. Otherwise (the
        row changed since, or the object never read it) the row's own values are
        taken as it is deleted."""
        seen = resource.__dict__.get("_seen")
        version = resource.__dict__.get("_db_version")
        if seen is not None and version is not None and seen[0] == version:
            try:
                removed = self._remove_if(kind, key, version)  # type: ignore[attr-defined]
                if removed:
                    self._log(kind, resource, "delete", seen[1])
                return
            except exc.ConcurrentModification:
                pass  # changed since: delete what is there now, with its values
        removed = self._remove_returning(kind, key)  # type: ignore[attr-defined]
        if removed is not None and not removed.get("deleted"):
            self._log(kind, resource, "delete", removed.get("status"), removed)
