"""Reading the event log: :func:`events` (a page) and :func:`watch` (an iterator that
waits), and trimming it in ``gc()``.

Every store logs the status changes, creates and deletes of volumes, snapshots,
connections, groups and group snapshots in the transaction of the change
(:mod:`volumelib.persistence.events`). Any process sharing the store reads the same
log: a process on another host with the same PostgreSQL URL, another process on the
same SQLite file.

::

    page = volumelib.events(kinds=["volume"], limit=100)
    for event in page:
        print(event.id, event.resource_id, event.old_status, "->", event.new_status)
    for event in volumelib.watch(since=page.marker, timeout=60):
        ...  # each new event as it is committed; ends after 60 s without one
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from volumelib import exceptions as exc
from volumelib import runtime
from volumelib.persistence.events import Event, EventPage, check_kinds, check_since

__all__ = ["events", "watch", "trim"]

LOG = logging.getLogger(__name__)

#: Events read per query while watching.
WATCH_BATCH = 100


def events(since: int | None = None, limit: int | None = None, kinds: Any = None,
           resource_id: str | None = None, project_id: str | None = None, *,
           persistence: Any = None) -> EventPage:
    """One page of the event log, oldest first.

    Args:
        since: the id of the last event already seen (a page's ``marker``);
            ``None``: from the oldest event kept.
        limit: page size (``None``: everything).
        kinds: only these kinds (``"volume"``, ``"snapshot"``, ``"connection"``,
            ``"group"``, ``"group_snapshot"``; one or a list).
        resource_id, project_id: only the events of this resource, this project.
        persistence: the store (default: the current one).

    Returns:
        An :class:`~volumelib.persistence.events.EventPage`: a list of
        :class:`~volumelib.persistence.events.Event`; its ``marker`` is the ``since``
        of the next page.

    Raises:
        InvalidArgument: bad ``since`` or ``limit``. InvalidEventKind: an unknown kind.
        NotSupported: the store keeps no event log (opened with ``events=False``).
    """
    return runtime.persistence(persistence).list_events(
        since=since, limit=limit, kinds=kinds, resource_id=resource_id,
        project_id=project_id)


def watch(since: int | None = None, timeout: float | None = None, *, kinds: Any = None,
          resource_id: str | None = None, project_id: str | None = None,
          persistence: Any = None) -> Iterator[Event]:
    """Iterate over new events as they are committed, by any process sharing the
    store: PostgreSQL wakes the watcher (``LISTEN``/``NOTIFY``), a SQLite file is
    watched for changes, other stores are polled.

    Args:
        since: start after this event id; ``None``: with the events committed after
            this call (the log's newest id is read now, not at the first ``next()``).
        timeout: end the iteration after this many seconds without a new event
            (``None``: never end; break out of the loop, or ``close()`` the iterator).
        kinds, resource_id, project_id: filters, as for :func:`events`.
        persistence: the store (default: the current one).

    Returns:
        An iterator of :class:`~volumelib.persistence.events.Event`, oldest first.
        Closing it (or leaving the ``for`` loop and dropping it) releases what it
        waits with (a database connection on PostgreSQL).

    Raises:
        InvalidArgument: bad ``since`` or ``timeout``. InvalidEventKind: an unknown
            kind. NotSupported: the store keeps no event log. (Raised by this call,
            before iterating.)
    """
    store = runtime.persistence(persistence)
    kinds = check_kinds(kinds)
    if timeout is not None and (isinstance(timeout, bool)
                                or not isinstance(timeout, (int, float))
                                or not 0 <= timeout < float("inf")):
        raise exc.InvalidArgument(reason=f"timeout must be seconds >= 0 or None: "
                                         f"{timeout!r:.60}")
    marker = store.last_event_id() if since is None else check_since(since)
    return _watching(store, marker, timeout, kinds, resource_id, project_id)


def _watching(store: Any, marker: int, timeout: float | None, kinds: Any,
              resource_id: str | None, project_id: str | None) -> Iterator[Event]:
    with store.event_waiter() as waiter:
        while True:
            page = store.list_events(since=marker, limit=WATCH_BATCH, kinds=kinds,
                                     resource_id=resource_id, project_id=project_id)
            yield from page
            marker = page.marker
            if page.more:
                continue
            if not waiter.wait(marker, timeout):
                return


def trim(persistence: Any = None, ttl: float | None = None) -> int:
    """Delete the events older than ``ttl`` seconds (default: the
    ``volumelib.setup(event_ttl=...)`` setting; the newest event is always kept).
    What ``gc()`` calls.

    Returns:
        How many events were deleted (``0`` for a store without an event log).

    Raises:
        InvalidArgument: ``ttl`` is no number of seconds >= 0.
    """
    store = runtime.persistence(persistence)
    if not store.events_enabled:
        return 0
    return store.trim_events(runtime.settings().event_ttl if ttl is None else ttl)
