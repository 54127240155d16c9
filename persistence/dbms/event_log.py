"""The SQL of the ``dbms`` store's event log: writing a transaction's events, reading
them back, the last id, trimming, and ``LISTEN`` on PostgreSQL.

How ids follow commit order is explained in :mod:`.store`; here is how each database
does it:

* SQLite: ``INSERT`` with no id: the rowid, one more than the largest. The
  transaction holds the database's write lock since its first write, so nobody else
  numbers events until it commits; trimming always keeps the newest event, so an id
  is never given out twice. (``AUTOINCREMENT`` would do that too, at the price of one
  more page, ``sqlite_sequence``, written by every commit.) The insert goes
  straight to the ``sqlite3`` connection of the transaction, in the text SQLAlchemy
  itself stores (datetimes as ``YYYY-MM-DD HH:MM:SS.ffffff`` UTC, the payload as
  JSON): through SQLAlchemy it cost as much as the volume's own row, and an event
  must cost far less than the change it records.
* PostgreSQL: ``UPDATE event_sequence SET value = value + n ... RETURNING value``
  (which also queues the ``NOTIFY``), then the ``INSERT`` with those ids. The row
  stays locked until the commit.
* MariaDB/MySQL: the same ``UPDATE`` with ``LAST_INSERT_ID(value + n)``, whose value
  the server returns with the statement's result (no second round trip).
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import time
from json.encoder import encode_basestring_ascii as encode_basestring
from typing import Any

import sqlalchemy as sa

from volumelib import exceptions as exc
from volumelib.persistence.dbms import schema
from volumelib.persistence.events import PAYLOAD_FIELDS, REASON_LIMIT, Event, new_event

__all__ = ["EventSQL", "PostgresListener", "SQLiteFileWaiter", "CHANNEL"]

LOG = logging.getLogger(__name__)

#: The PostgreSQL notification channel of new events.
CHANNEL = "volumelib_events"
_dumps = json.dumps

#: Longest wait on a notification before asking the database again (a safety net
#: for a notification lost with a broken connection).
_LISTEN_STEP = 5.0


class EventSQL:
    """The event log's statements for one dialect, built once."""

    def __init__(self, dialect: str) -> None:
        table = schema.EVENTS
        self.dialect = dialect
        self.table = table
        self.names = ("id", "time", "kind", "resource_id", "action", "old_status",
                      "new_status", "project_id", "payload")
        self.insert = table.insert()
        self.select = sa.select(*(table.c[n] for n in self.names))
        sequence = schema.EVENT_SEQUENCE
        self.sqlite_insert = (
            f"INSERT INTO events ({', '.join(self.names[1:])}) "
            f"VALUES ({', '.join('?' * (len(self.names) - 1))})")
        if dialect == "sqlite":
            self.take = None
            self.last = sa.select(sa.func.max(table.c.id))
        else:
            self.last = sa.select(sequence.c.value).where(sequence.c.name == "events")
            if dialect == "postgresql":
                self.take = sa.text(
                    "UPDATE event_sequence SET value = value + :n WHERE name = 'events' "
                    f"RETURNING value, pg_notify('{CHANNEL}', '')")
            else:  # MariaDB/MySQL: the new value comes back as the result's insert id
                self.take = sa.text("UPDATE event_sequence SET value = "
                                    "LAST_INSERT_ID(value + :n) WHERE name = 'events'")
        self.trim_before = table.delete().where(table.c.time < sa.bindparam("before"))
        if dialect == "sqlite":  # keep the newest: its id must never be given out again
            self.trim_before = self.trim_before.where(
                table.c.id < sa.select(sa.func.max(table.c.id)).scalar_subquery())

    def row(self, kind: str, action: str, resource_id: str, old_status: Any,
            new_status: Any, values: Any, reason: str | None) -> Any:
        """A new event as :meth:`write` takes it: on SQLite, the parameters of the
        insert, made at once (no dict in between); elsewhere a :func:`new_event`
        row."""
        if self.take is not None:
            return new_event(kind, action, resource_id, old_status, new_status, values,
                             reason)
        return (_sqlite_now(), kind, resource_id, action, old_status, new_status,
                values.get("project_id"), _payload_json(kind, values, reason))

    def write(self, conn: Any, rows: list[Any]) -> None:
        """Insert a transaction's events (:meth:`row`), numbered after every
        committed one, on ``conn`` (whose transaction commits next)."""
        if self.take is None:  # SQLite, see the module docstring
            conn.connection.dbapi_connection.executemany(self.sqlite_insert, rows)
            return
        if self.take is not None:
            n = len(rows)
            result = conn.execute(self.take, {"n": n})
            if self.dialect == "postgresql":
                found = result.first()
                top = None if found is None else found[0]
            else:
                top = result.lastrowid if result.rowcount == 1 else None
            if not top:
                raise exc.SchemaError(reason="the event_sequence table has no 'events' row "
                                             "(run `volumelib db upgrade`)")
            first = top - n + 1
            for i, row in enumerate(rows):
                row["id"] = first + i
        conn.execute(self.insert, rows[0] if len(rows) == 1 else rows)

    def rows(self, conn: Any, since: int, limit: int | None,
             kinds: tuple[str, ...] | None, resource_id: str | None,
             project_id: str | None) -> list[Event]:
        """Committed events after ``since`` matching the filters, oldest first."""
        table = self.table
        stmt = self.select.where(table.c.id > since)
        if kinds is not None:
            stmt = stmt.where(table.c.kind.in_(kinds))
        if resource_id is not None:
            stmt = stmt.where(table.c.resource_id == resource_id)
        if project_id is not None:
            stmt = stmt.where(table.c.project_id == project_id)
        stmt = stmt.order_by(table.c.id)
        if limit is not None:
            stmt = stmt.limit(limit)
        return [Event(id=int(r[0]), time=r[1], kind=r[2], resource_id=r[3], action=r[4],
                      old_status=r[5], new_status=r[6], project_id=r[7],
                      payload=r[8] or {})
                for r in conn.execute(stmt)]

    def last_id(self, conn: Any) -> int:
        """The newest committed event's id (0: none ever)."""
        return int(conn.execute(self.last).scalar() or 0)

    def trim(self, conn: Any, before: datetime.datetime) -> int:
        """Delete the events written before ``before``; how many."""
        return int(conn.execute(self.trim_before, {"before": before}).rowcount or 0)


#: ``(second, "YYYY-MM-DD HH:MM:SS")`` of the last event's time (one tuple, so a
#: thread never sees the second of one and the text of another).
_second: tuple[int, str] = (-1, "")


def _sqlite_now() -> str:
    """Now in UTC as SQLAlchemy stores datetimes in SQLite
    (``YYYY-MM-DD HH:MM:SS.ffffff``); the text of the second is made once a second."""
    global _second
    sec, micro = divmod(time.time_ns() // 1000, 1_000_000)
    known, text = _second
    if known != sec:
        text = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(sec))
        _second = (sec, text)
    return "%s.%06d" % (text, micro)


def _payload_json(kind: str, values: Any, reason: str | None) -> str | None:
    """The JSON text of the payload :func:`new_event` makes (the same text
    ``json.dumps`` gives), made straight from the resource's values: a flat mapping of
    strings and integers needs no encoder (anything else goes to ``json.dumps``)."""
    parts = []
    for name in PAYLOAD_FIELDS[kind]:
        value = values.get(name)
        if value is None:
            continue
        kind_of_value = type(value)
        if kind_of_value is int:
            parts.append(f'"{name}": {value}')
        elif kind_of_value is str:
            parts.append(f'"{name}": {encode_basestring(value)}')
        else:
            payload = new_event(kind, "", "", None, None, values, reason)["payload"]
            return _dumps(payload)
    if reason:
        parts.append(f'"reason": {encode_basestring(reason[:REASON_LIMIT])}')
    return "{" + ", ".join(parts) + "}" if parts else None


class SQLiteFileWaiter:
    """Waits for new events in a SQLite file by watching the file and its
    write-ahead log change (``os.stat`` every ``interval`` seconds: a few
    microseconds, no database access), asking the database for the last event id
    only when they did, and every ``recheck`` seconds regardless (a commit within the
    same clock tick as the previous one may leave both unchanged).

    Args:
        store: has ``last_event_id()``.
        path: the database file.
    """

    def __init__(self, store: Any, path: str, interval: float = 0.005,
                 recheck: float = 0.25) -> None:
        self._store = store
        self._paths = (path, path + "-wal")
        self._interval = interval
        self._recheck = recheck

    def _stamp(self) -> tuple[Any, ...]:
        stamp: list[Any] = []
        for path in self._paths:
            try:
                st = os.stat(path)
            except OSError:
                stamp.append(None)
            else:
                stamp.append((st.st_ino, st.st_size, st.st_mtime_ns))
        return tuple(stamp)

    def wait(self, since: int, timeout: float | None) -> bool:
        """Block until an event after ``since`` is committed (``True``) or
        ``timeout`` seconds passed (``False``; ``None``: no limit)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        seen: tuple[Any, ...] | None = None
        ask_at = 0.0
        while True:
            now = time.monotonic()
            stamp = self._stamp()
            if stamp != seen or now >= ask_at:
                seen, ask_at = stamp, now + self._recheck
                if self._store.last_event_id() > since:
                    return True
            pause = self._interval
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                pause = min(pause, left)
            time.sleep(pause)

    def close(self) -> None:
        """Nothing to release."""

    def __enter__(self) -> SQLiteFileWaiter:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


class PostgresListener:
    """Waits for new events with ``LISTEN volumelib_events`` on a dedicated
    connection (in autocommit mode), woken by the ``NOTIFY`` every transaction that
    writes events sends with its commit.

    The connection listens from construction on, so no commit between a check and a
    wait is missed. Close it (or use it as a context manager) to give the connection
    back.
    """

    def __init__(self, store: Any, engine: Any) -> None:
        self._store = store
        conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            conn.exec_driver_sql(f"LISTEN {CHANNEL}")
        except BaseException:
            conn.close()
            raise
        self._conn: Any = conn
        self._raw = conn.connection.driver_connection

    def wait(self, since: int, timeout: float | None) -> bool:
        """Block until an event after ``since`` is committed (``True``) or
        ``timeout`` seconds passed (``False``; ``None``: no limit).

        Raises:
            PersistenceError: the connection broke.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self._store.last_event_id() > since:
                return True
            step = _LISTEN_STEP
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                step = min(step, left)
            try:
                for _ in self._raw.notifies(timeout=step, stop_after=1):
                    pass
            except Exception as e:  # noqa: BLE001 - psycopg's errors are not ours
                raise exc.PersistenceError(
                    reason=f"listening for events failed: {type(e).__name__}: {e}") from e

    def close(self) -> None:
        """Stop listening and give the connection back. Idempotent."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.exec_driver_sql(f"UNLISTEN {CHANNEL}")
        except Exception:  # noqa: BLE001 - a broken connection is dropped anyway
            LOG.debug("UNLISTEN failed", exc_info=True)
            conn.invalidate()
        conn.close()

    def __enter__(self) -> PostgresListener:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()
