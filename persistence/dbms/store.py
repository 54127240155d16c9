"""``dbms`` and ``memory_dbms``: the SQL stores, on SQLAlchemy 2 Core.

:class:`DBPersistence` keeps objects in SQLite, PostgreSQL or MariaDB/MySQL; its
schema comes from the package's own alembic revisions (:mod:`.migrate`).
:class:`MemoryDBPersistence` runs the same code on an in-memory SQLite database.

Each primitive is one short transaction. Statements are built once per kind (and per
set of lookup fields) and reused, so SQLAlchemy's compiled cache serves them. Updates
are compare-and-set on the row's ``version``.

SQLite files are opened in WAL mode with a busy timeout, so several processes can
share one.

**The event log** (:mod:`volumelib.persistence.events`): the events a transaction
writes are kept aside and inserted at its end, just before its commit, so the lock
that numbers them is held for as short a time as possible. Their ids follow commit
order: on SQLite the database's write lock (held from a transaction's first write to
its commit) makes the ``AUTOINCREMENT`` ids do so; on PostgreSQL and MariaDB the
transaction takes its ids by updating the one row of ``event_sequence``, whose row
lock it holds until it commits. PostgreSQL also sends a ``NOTIFY volumelib_events``
with the commit, which wakes watchers at once (``LISTEN``); elsewhere they poll. ``sqlite_synchronous`` chooses ``PRAGMA synchronous``:

* ``True`` (default): ``NORMAL``, SQLite's recommended setting for WAL: every commit
  is atomic and survives a crash of the process; after a power loss or an OS crash the
  database is intact but the last commits may be missing.
* ``"full"``: ``FULL``, each commit is on disk when the call returns (an fsync per
  commit, several times slower).
* ``False`` (or ``"off"``): ``OFF``, no fsync at all; fastest, a power loss may
  corrupt the database.

Importing this module imports SQLAlchemy (about 0.17 s); ``import volumelib`` does not.
alembic is imported only when the schema has to change (see :mod:`.migrate`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
import weakref
from collections.abc import Iterator, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy import exc as sa_exc

from volumelib import exceptions as exc
from volumelib.persistence.base import KINDS, Kind, PersistenceDriverBase, name_matches
from volumelib.persistence.dbms import migrate, schema
from volumelib.persistence.dbms.event_log import EventSQL, PostgresListener, SQLiteFileWaiter
from volumelib.persistence.events import PAYLOAD_FIELDS
from volumelib.persistence.dbms.engine import (
    create_engine,
    is_memory,
    parse_url,
    redact_url,
)

__all__ = ["DBPersistence", "MemoryDBPersistence"]

LOG = logging.getLogger(__name__)

_PLAIN_JSON_KEY = re.compile(r'^[^"\\]+$')
_UNSET = object()


# -- the store ---------------------------------------------------------------------------

class _NoLock:
    """Servers and SQLite files need no in-process lock (a pooled connection per call)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc_info: Any) -> None:
        return None


class _Joined:
    """The connection of the transaction a block runs in (what a primitive or a
    nested ``transaction()`` gets inside one). A plain object, not a generator: the
    statements a transaction runs cost no more than themselves."""

    __slots__ = ("conn",)

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def __enter__(self) -> Any:
        return self.conn

    def __exit__(self, *exc_info: Any) -> None:
        return None


def _bind_processor(bind: Any, dialect: Any) -> Any:
    """The function that converts a value for ``bind`` as SQLAlchemy's execution
    does (``None``: none needed): the column type's own for the dialect, or for
    :class:`~.schema.UTCDateTime` on SQLite the same conversion in one step."""
    if bind is None:
        return None
    process = bind.type.dialect_impl(dialect).bind_processor(dialect)
    if dialect.name == "sqlite" and isinstance(bind.type, schema.UTCDateTime) \
            and process is not None:
        general = process

        def process(value: Any) -> Any:
            text = schema.UTCDateTime.sqlite_text(value)
            return general(value) if text is NotImplemented else text
    return process


class _Begun:
    """``conn.begin()`` as a block that gives the connection (as ``engine.begin()``
    does), for a connection kept between transactions."""

    __slots__ = ("conn", "trans")

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def __enter__(self) -> Any:
        self.trans = self.conn.begin()
        return self.conn

    def __exit__(self, *exc_info: Any) -> Any:
        return self.trans.__exit__(*exc_info)


class _ClosedEngine:
    def __init__(self, url: str) -> None:
        self.url = url

    def _closed(self, *args: Any, **kwargs: Any) -> Any:
        raise exc.PersistenceError(reason=f"the store on {self.url} is closed")

    connect = begin = _closed

    def dispose(self) -> None:
        pass


class _KindSQL:
    """Statements of one kind, built once."""

    def __init__(self, kind: Kind, table: sa.Table) -> None:
        self.kind = kind
        self.table = table
        self.names = tuple(kind.cls.fields)
        missing = [n for n in self.names if n not in table.c]
        if missing:
            raise exc.SchemaError(reason=f"table {table.name} has no column for "
                                         f"{kind.class_name}.{', '.join(missing)}")
        self.n = len(self.names)
        self.key = table.c[kind.key]
        self.deleted = table.c["deleted"] if "deleted" in table.c else None
        self.select = sa.select(*(table.c[n] for n in self.names), table.c.version)
        self.alive = [] if self.deleted is None else [self.deleted == sa.false()]
        self.insert = table.insert()
        self.update = (table.update()
                       .where(self.key == sa.bindparam("_k"),
                              table.c.version == sa.bindparam("_v"), *self.alive)
                       .values(version=table.c.version + 1))
        self.delete = table.delete().where(self.key == sa.bindparam("_k"))
        self.delete_if = table.delete().where(self.key == sa.bindparam("_k"),
                                              table.c.version == sa.bindparam("_v"))
        self.exists = sa.select(self.key).where(self.key == sa.bindparam("_k"))
        self.version_of = sa.select(table.c.version).where(self.key == sa.bindparam("_k"),
                                                           *self.alive)
        self._insert_if_absent: dict[str, Any] = {}
        self._raw: dict[tuple[int, str], Any] = {}
        self.uniques = [c for idx in table.indexes if idx.unique for c in idx.columns]
        self.fetch: dict[tuple[tuple[str, bool], ...], Any] = {}

    def raw(self, stmt: Any, dialect: Any, keys: tuple[str, ...] | None = None
            ) -> tuple[str, tuple[str, ...], dict[str, Any], tuple[Any, ...]] | None:
        """``stmt`` compiled once for a dialect with positional parameters (SQLite's
        ``?``): ``(SQL text, parameter names in order, their defaults, their bind
        processors)``; ``None`` for the others (their statements go through
        SQLAlchemy's execution). ``keys``: the columns an ``INSERT`` or ``UPDATE``
        sets (its text depends on them). The processors are the column types' own
        for the dialect (``type.dialect_impl(dialect).bind_processor``), so a value
        is stored as SQLAlchemy's execution would store it (datetimes as ISO text
        with microseconds, JSON serialized)."""
        cache_key = (id(stmt), dialect.name, keys)
        found = self._raw.get(cache_key, _UNSET)
        if found is _UNSET:
            found = None
            if dialect.paramstyle == "qmark":
                compiled = (stmt.compile(dialect=dialect) if keys is None else
                            stmt.compile(dialect=dialect, column_keys=list(keys)))
                order = tuple(getattr(compiled, "positiontup", None) or ())
                binds = [compiled.binds.get(name) for name in order]
                defaults = {name: getattr(bind, "value", None)
                            for name, bind in zip(order, binds)}
                processors = tuple(_bind_processor(bind, dialect) for bind in binds)
                found = (compiled.string, order, defaults, processors)
            self._raw[cache_key] = found
        return found

    def insert_if_absent(self, dialect: str) -> Any:
        """An insert that does nothing (rowcount 0, no error, so no aborted
        transaction) when the key is taken."""
        stmt = self._insert_if_absent.get(dialect)
        if stmt is None:
            if dialect == "sqlite":
                stmt = sqlite_dialect.insert(self.table).on_conflict_do_nothing()
            elif dialect == "postgresql":  # psycopg reports no rowcount for it
                stmt = pg_dialect.insert(self.table).on_conflict_do_nothing().returning(
                    self.key)
            else:  # MariaDB/MySQL
                stmt = self.table.insert().prefix_with("IGNORE")
            self._insert_if_absent[dialect] = stmt
        return stmt

    def fetch_statement(self, filters: Mapping[str, Any]) -> Any:
        shape = tuple((name, value is None) for name, value in filters.items())
        stmt = self.fetch.get(shape)
        if stmt is None:
            conds = list(self.alive)
            for name, is_null in shape:
                col = self._column(name)
                conds.append(col.is_(None) if is_null else col == sa.bindparam(name))
            stmt = self.select.where(*conds)
            self.fetch[shape] = stmt
        return stmt

    def _column(self, name: str) -> sa.Column:
        if name not in self.names or isinstance(self.table.c[name].type, sa.JSON):
            raise exc.InvalidArgument(
                reason=f"cannot look {self.kind.class_name} up by {name!r}")
        return self.table.c[name]

    def rows(self, result: Any) -> list[tuple[int, dict[str, Any]]]:
        names, n = self.names, self.n
        return [(r[n], dict(zip(names, r))) for r in result]


class DBPersistence(PersistenceDriverBase):
    """A store in a SQL database (SQLite, PostgreSQL, MariaDB/MySQL).

    Args:
        connection: a database URL: ``sqlite:///path/volumelib.sqlite``,
            ``postgresql://user:pw@host/db`` (psycopg 3), ``mysql://...`` (PyMySQL).
            The directory of a SQLite file must exist.
        sqlite_synchronous: see the module docstring (SQLite files only).
        soft_deletes: keep deleted rows with ``deleted=True`` (hidden from reads).
        events: keep the event log (see the module docstring).
        auto_upgrade: create or upgrade the schema on open; ``False`` raises
            ``SchemaError`` instead when the schema is missing or older than the code.
        **engine_options: passed to :func:`sqlalchemy.create_engine`.

    The database is contacted at construction, to check its schema.

    Raises:
        InvalidPersistence: malformed URL, unknown dialect, driver not installed.
        PersistenceError: the database cannot be reached or opened.
        SchemaError: the schema is newer than this code, or out of date and
            ``auto_upgrade`` is off.
    """

    name = "dbms"
    keeps_events = True

    def __init__(self, connection: Any, sqlite_synchronous: Any = True,
                 soft_deletes: bool = False, auto_upgrade: bool = True,
                 events: bool = True, **engine_options: Any) -> None:
        super().__init__(events=events)
        self.soft_deletes = bool(soft_deletes)
        url = parse_url(connection)
        #: The database URL with the password hidden.
        self.url = redact_url(url)
        # Scrubbed from messages besides the URL (too short a one would mangle them).
        self._secret = url.password if url.password and len(url.password) >= 4 else None
        self._memory = is_memory(url)
        self._lock: Any = threading.RLock() if self._memory else _NoLock()
        self._local = threading.local()
        #: SQLite files: each thread's connection, kept between transactions
        #: (:meth:`_begin`); closed by :meth:`close`.
        self._held: weakref.WeakSet[Any] | None = None
        self._inherited: list[Any] = []
        #: The DBAPI's own errors (the raw statements of :meth:`_execute_raw` raise them).
        self._dbapi_errors: tuple[type[BaseException], ...] = ()
        self._integrity_error: Any = ()
        self._engine: Any = create_engine(url, sqlite_synchronous=sqlite_synchronous,
                                          **engine_options)
        self.dialect = self._engine.dialect.name
        if self.dialect == "sqlite" and not self._memory:
            self._held = weakref.WeakSet()
        dbapi = getattr(self._engine.dialect, "dbapi", None)
        self._dbapi_errors = (dbapi.Error,) if dbapi is not None else ()
        self._integrity_error = getattr(dbapi, "IntegrityError", ())
        try:
            #: The schema revision of the database (``migrate.HEAD_REVISION``).
            self.schema_revision = migrate.ensure_schema(
                self._engine, auto_upgrade=bool(auto_upgrade), where=self.url)
        except exc.VolumelibError:
            self._engine.dispose()
            raise
        except sa_exc.SQLAlchemyError as e:
            self._engine.dispose()
            raise self._error(e, "opening the database") from e
        self._sql = {name: _KindSQL(kind, schema.TABLES[name])
                     for name, kind in KINDS.items()}
        self._events_sql = EventSQL(self.dialect)
        self._remove_returning_sql: dict[str, Any] = {}

    # -- errors ----------------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        text = redact_url(text)
        if self._secret:
            text = text.replace(self._secret, "***")
        return text

    def _error(self, e: BaseException, action: str) -> exc.PersistenceError:
        orig = getattr(e, "orig", None) or e
        message = " ".join(str(orig).split()) or type(orig).__name__
        if "readonly database" in message or "read-only" in message.lower():
            reason = f"{action} failed: {self.url} is read-only ({message})"
        else:
            reason = f"{action} failed on {self.url}: {type(orig).__name__}: {message}"
        return exc.PersistenceError(reason=self._scrub(reason))

    # -- transactions ------------------------------------------------------------------

    def transaction(self) -> contextlib.AbstractContextManager[Any]:
        """See :meth:`PersistenceDriverBase.transaction`: one database transaction
        (one connection, one commit) for every primitive this thread calls in the
        block; nested blocks join it."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            return _Joined(conn)
        return self._new_transaction()

    @contextlib.contextmanager
    def _new_transaction(self) -> Iterator[Any]:
        try:
            with self._lock, self._begin() as conn:
                self._local.conn = conn
                self._local.events = pending = []
                try:
                    yield conn
                    if pending:  # last, so the numbering lock is held briefly
                        self._events_sql.write(conn, pending)
                finally:
                    self._local.conn = None
                    self._local.events = None
        except sa_exc.SQLAlchemyError as e:
            raise self._error(e, "committing") from e

    def _reading(self) -> contextlib.AbstractContextManager[Any]:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            return _Joined(conn)
        return self._connected(self._engine.connect if self._held is None else self._begin)

    def _writing(self) -> contextlib.AbstractContextManager[Any]:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            return _Joined(conn)
        return self._connected(self._begin)

    @contextlib.contextmanager
    def _connected(self, how: Any) -> Iterator[Any]:
        with self._lock, how() as conn:
            yield conn

    def _begin(self) -> contextlib.AbstractContextManager[Any]:
        """A transaction (commit at the end of the block, rollback on an error): on a
        SQLite file, on this thread's own connection, kept from one transaction to
        the next (taking a pooled one and giving it back cost more than a commit's
        bookkeeping); elsewhere ``engine.begin()``, so that a server's connection
        is checked (``pool_pre_ping``) each time."""
        if self._held is None:
            return self._engine.begin()
        return _Begun(self._held_connection())

    def _held_connection(self) -> Any:
        engine = self._engine
        held = getattr(self._local, "held", None)
        if held is not None:
            pid, owner, conn = held
            if owner is engine and pid == os.getpid() and not conn.invalidated \
                    and not conn.closed:
                return conn
            if pid != os.getpid():
                # Inherited across fork: SQLite's connection must not be used here,
                # nor closed (its file locks are the parent's); keep it unreached.
                self._inherited.append(conn)
        conn = engine.connect()  # a closed store raises here
        self._local.held = (os.getpid(), engine, conn)
        assert self._held is not None
        self._held.add(conn)
        return conn

    def _execute_raw(self, conn: Any, sql: _KindSQL, stmt: Any,
                     params: Mapping[str, Any], keys: tuple[str, ...] | None = None
                     ) -> Any:
        """Run ``stmt`` on the DBAPI cursor of ``conn`` when the dialect takes
        positional parameters (SQLite), each value converted by its column type's
        bind processor, as SQLAlchemy's execution would (:meth:`_KindSQL.raw`); the
        cursor, or ``None`` when it cannot. ``keys``: see :meth:`_KindSQL.raw`.
        SQLAlchemy's execution of one statement costs more than SQLite's, so the
        statements every operation runs (leases, intents, versions, deletes,
        lookups) go this way. The DBAPI's errors are raised as they are."""
        raw = sql.raw(stmt, self._engine.dialect, keys)
        if raw is None:
            return None
        text, order, defaults, processors = raw
        values = []
        for name, process in zip(order, processors):
            value = params[name] if name in params else defaults.get(name)
            if process is not None:
                value = process(value)
            elif value is not None and type(value) not in (str, int, bool, float):
                return None  # SQLAlchemy's execution says what it makes of it
            values.append(value)
        cursor = conn.connection.dbapi_connection.cursor()
        try:
            cursor.execute(text, values)
        except BaseException:
            cursor.close()
            raise
        return cursor

    # -- primitives ----------------------------------------------------------------------

    def _fetch(self, kind: Kind, filters: Mapping[str, Any]
               ) -> list[tuple[int, dict[str, Any]]]:
        sql = self._sql[kind.name]
        stmt = sql.fetch_statement(filters)
        params = {k: v for k, v in filters.items() if v is not None}
        try:
            with self._reading() as conn:
                cursor = self._execute_raw(conn, sql, stmt, params)
                if cursor is not None:
                    try:
                        found = cursor.fetchone()
                    finally:
                        cursor.close()
                    if found is None:
                        return []  # nothing to convert: the common answer, made cheap
                return sql.rows(conn.execute(stmt, params))
        except sa_exc.SQLAlchemyError as e:
            raise self._error(e, f"reading {kind.name}s") from e
        except self._dbapi_errors as e:
            raise self._error(e, f"reading {kind.name}s") from e

    def row_version(self, kind: str, key: str) -> int | None:
        sql = self._sql.get(kind)
        if sql is None:
            return super().row_version(kind, key)
        try:
            with self._reading() as conn:
                cursor = self._execute_raw(conn, sql, sql.version_of, {"_k": key})
                if cursor is None:
                    return conn.execute(sql.version_of, {"_k": key}).scalar()
                try:
                    row = cursor.fetchone()
                finally:
                    cursor.close()
                return None if row is None else row[0]
        except sa_exc.SQLAlchemyError as e:
            raise self._error(e, f"reading {kind} {key}") from e
        except self._dbapi_errors as e:
            raise self._error(e, f"reading {kind} {key}") from e

    def _insert(self, kind: Kind, values: Mapping[str, Any]) -> int:
        sql = self._sql[kind.name]
        row = self._new_row(sql, values)
        try:
            with self._writing() as conn:
                cursor = self._execute_raw(conn, sql, sql.insert, row, tuple(row))
                if cursor is None:
                    conn.execute(sql.insert, row)
                else:
                    cursor.close()
        except sa_exc.IntegrityError as e:
            raise self._duplicate(sql, row, e) from None
        except sa_exc.SQLAlchemyError as e:
            raise self._error(e, f"inserting {kind.name} {row.get(kind.key)}") from e
        except self._dbapi_errors as e:
            if isinstance(e, self._integrity_error):
                raise self._duplicate(sql, row, e) from None
            raise self._error(e, f"inserting {kind.name} {row.get(kind.key)}") from e
        return 1

    def _insert_if_absent(self, kind: Kind, values: Mapping[str, Any]) -> bool:
        sql = self._sql[kind.name]
        row = self._new_row(sql, values)
        stmt = sql.insert_if_absent(self.dialect)
        try:
            with self._writing() as conn:
                cursor = self._execute_raw(conn, sql, stmt, row, tuple(row))
                if cursor is not None:
                    inserted = cursor.rowcount == 1
                    cursor.close()
                    return inserted
                result = conn.execute(stmt, row)
                if self.dialect == "postgresql":
                    return result.first() is not None
                return result.rowcount == 1
        except sa_exc.SQLAlchemyError as e:
            raise self._error(e, f"inserting {kind.name} {row.get(kind.key)}") from e
        except self._dbapi_errors as e:
            raise self._error(e, f"inserting {kind.name} {row.get(kind.key)}") from e

    @staticmethod
    def _new_row(sql: _KindSQL, values: Mapping[str, Any]) -> dict[str, Any]:
        row = dict(values)
        row["version"] = 1
        if sql.deleted is not None and row.get("deleted") is None:
            row["deleted"] = False
        return row

    def _duplicate(self, sql: _KindSQL, row: Mapping[str, Any],
                   error: BaseException) -> exc.VolumelibError:
        """Which constraint a failed insert broke: the key, a unique name, or other."""
        kind = sql.kind
        key = row.get(kind.key)
        try:
            with self._lock, self._engine.connect() as conn:  # not a failed transaction's
                if conn.execute(sql.exists, {"_k": key}).first() is not None:
                    return exc.AlreadyExists(resource=kind.class_name, id=key)
                for col in sql.uniques:
                    value = row.get(col.name)
                    if value is not None and conn.execute(
                            sa.select(sql.key).where(col == value)).first() is not None:
                        return exc.AlreadyExists(
                            f"{kind.class_name} with {col.name} {value!r} already exists",
                            resource=kind.class_name, id=key)
        except sa_exc.SQLAlchemyError as e:
            return self._error(e, f"inserting {kind.name} {key}")
        if key is not None and not sql.uniques:
            # The key was taken when the insert ran (nothing else can be violated
            # here) and its row is gone since: a duplicate all the same (a lease
            # acquired and released by another process in between).
            return exc.AlreadyExists(resource=kind.class_name, id=key)
        return self._error(error, f"inserting {kind.name} {key}")

    def _update(self, kind: Kind, key: str, expected_version: int,
                changes: Mapping[str, Any]) -> int:
        sql = self._sql[kind.name]
        params = dict(changes)
        if params.pop(kind.key, key) != key or "version" in params:
            raise exc.InvalidArgument(reason=f"cannot change the key or version of "
                                             f"{kind.name} {key}")
        keys = tuple(params)
        params["_k"] = key
        params["_v"] = expected_version
        try:
            with self._writing() as conn:
                cursor = self._execute_raw(conn, sql, sql.update, params, keys)
                if cursor is None:
                    count = conn.execute(sql.update, params).rowcount
                else:
                    count = cursor.rowcount
                    cursor.close()
        except sa_exc.SQLAlchemyError as e:
            raise self._error(e, f"updating {kind.name} {key}") from e
        except self._dbapi_errors as e:
            raise self._error(e, f"updating {kind.name} {key}") from e
        if count != 1:
            raise exc.ConcurrentModification(resource=kind.class_name, id=key,
                                             expected=expected_version)
        return expected_version + 1

    def _remove(self, kind: Kind, key: str) -> None:
        sql = self._sql[kind.name]
        try:
            with self._writing() as conn:
                cursor = self._execute_raw(conn, sql, sql.delete, {"_k": key})
                if cursor is None:
                    conn.execute(sql.delete, {"_k": key})
                else:
                    cursor.close()
        except sa_exc.SQLAlchemyError as e:
            raise self._error(e, f"deleting {kind.name} {key}") from e
        except self._dbapi_errors as e:
            raise self._error(e, f"deleting {kind.name} {key}") from e

    def _remove_returning(self, kind: Kind, key: str) -> dict[str, Any] | None:
        if not self._engine.dialect.delete_returning:
            return super()._remove_returning(kind, key)
        sql = self._sql[kind.name]
        found = self._remove_returning_sql.get(kind.name)
        if found is None:  # what an event needs, not the whole row
            names = tuple(n for n in sql.names if n in (
                kind.key, "status", "deleted", "project_id", *PAYLOAD_FIELDS[kind.name]))
            found = (sql.delete.returning(*(sql.table.c[n] for n in names)), names)
            self._remove_returning_sql[kind.name] = found
        stmt, names = found
        try:
            with self._writing() as conn:
                row = conn.execute(stmt, {"_k": key}).first()
        except sa_exc.SQLAlchemyError as e:
            raise self._error(e, f"deleting {kind.name} {key}") from e
        return None if row is None else dict(zip(names, row))

    def _remove_if(self, kind: Kind, key: str, expected_version: int) -> bool:
        sql = self._sql[kind.name]
        try:
            with self._writing() as conn:
                params = {"_k": key, "_v": expected_version}
                cursor = self._execute_raw(conn, sql, sql.delete_if, params)
                if cursor is None:
                    deleted = conn.execute(sql.delete_if, params).rowcount
                else:
                    deleted = cursor.rowcount
                    cursor.close()
                if deleted == 1:
                    return True
                if conn.execute(sql.exists, {"_k": key}).first() is None:
                    return False
        except sa_exc.SQLAlchemyError as e:
            raise self._error(e, f"deleting {kind.name} {key}") from e
        except self._dbapi_errors as e:
            raise self._error(e, f"deleting {kind.name} {key}") from e
        raise exc.ConcurrentModification(resource=kind.class_name, id=key,
                                         expected=expected_version)

    def _name_conditions(self, col: Any, name_match: tuple[tuple[str, str], ...]
                         ) -> list[Any]:
        """SQL for the listings' name filters, literal and case-sensitive everywhere:
        ``LIKE`` with the text escaped (``autoescape``: ``%``, ``_`` and the escape
        character are literal) on servers, whose collations here are case-sensitive
        (PostgreSQL's, ``utf8mb4_bin``); ``instr``/``substr`` on SQLite, whose ``LIKE``
        ignores ASCII case."""
        conds = []
        for op, text in name_match:
            if self.dialect == "sqlite":
                conds.append(sa.func.instr(col, text) > 0 if op == "contains"
                             else sa.func.substr(col, 1, len(text)) == text)
            elif op == "contains":
                conds.append(col.contains(text, autoescape=True))
            else:
                conds.append(col.startswith(text, autoescape=True))
        return conds

    def _page(self, kind: Kind, *, marker: str | None, limit: int | None,
              filters: Mapping[str, Any], metadata: Mapping[str, str],
              name_match: tuple[tuple[str, str], ...] = ()
              ) -> list[tuple[int, dict[str, Any]]]:
        sql = self._sql[kind.name]
        table = sql.table
        created, ident = table.c.created_at, table.c.id
        conds = list(sql.alive)
        for name, value in filters.items():
            col = sql._column(name)
            conds.append(col.is_(None) if value is None else col == value)
        conds.extend(self._name_conditions(table.c.name, name_match))
        # Metadata items SQL can match exactly go to SQL; every row is checked again
        # in Python below, which is the rule (collations and JSON paths differ).
        if metadata:
            meta = table.c.metadata
            conds.extend(meta[k].as_string() == v for k, v in metadata.items()
                         if _PLAIN_JSON_KEY.match(k))
        stmt = sql.select.where(*conds).order_by(created, ident)
        out: list[tuple[int, dict[str, Any]]] = []
        try:
            with self._reading() as conn:
                after = None
                if marker is not None:
                    after = conn.execute(sa.select(created, ident).where(ident == marker)
                                         ).first()
                while True:
                    page = stmt if after is None else stmt.where(_after(created, ident, *after))
                    if limit is not None:
                        page = page.limit(limit)
                    rows = sql.rows(conn.execute(page))
                    for version, values in rows:
                        found = values.get("metadata") or {}
                        if all(found.get(k) == v for k, v in metadata.items()) \
                                and name_matches(values.get("name"), name_match):
                            out.append((version, values))
                            if limit is not None and len(out) >= limit:
                                return out
                    if limit is None or len(rows) < limit:
                        return out
                    last = rows[-1][1]
                    after = (last["created_at"], last["id"])
        except sa_exc.SQLAlchemyError as e:
            raise self._error(e, f"listing {kind.name}s") from e

    def _count(self, kind: Kind, group_by: str, *,
               filters: Mapping[str, Any] | None = None,
               metadata: Mapping[str, str] | None = None,
               name_match: tuple[tuple[str, str], ...] = (),
               sum_of: str | None = None) -> dict[Any, int]:
        if metadata:
            # Metadata items are checked in Python (see _page): count what it returns.
            return super()._count(kind, group_by, filters=filters, metadata=metadata,
                                  name_match=name_match, sum_of=sum_of)
        sql = self._sql[kind.name]
        col = sql._column(group_by)
        conds = list(sql.alive)
        for name, value in (filters or {}).items():
            column = sql._column(name)
            conds.append(column.is_(None) if value is None else column == value)
        conds.extend(self._name_conditions(sql.table.c.name, name_match))
        total = sa.func.count() if sum_of is None else sa.func.sum(sql._column(sum_of))
        stmt = sa.select(col, total).where(*conds).group_by(col)
        try:
            with self._reading() as conn:
                return {value: int(count or 0) for value, count in conn.execute(stmt)}
        except sa_exc.SQLAlchemyError as e:
            raise self._error(e, f"counting {kind.name}s") from e

    # -- the event log (see the module docstring) ------------------------------------------

    def _emit(self, kind: str, action: str, resource_id: str, old_status: Any,
              new_status: Any, values: Mapping[str, Any], reason: str | None) -> None:
        pending = getattr(self._local, "events", None)
        if pending is None:
            raise exc.PersistenceError(reason="an event is written inside a transaction")
        pending.append(self._events_sql.row(kind, action, resource_id, old_status,
                                            new_status, values, reason))

    def _event_rows(self, since: int, limit: int | None, kinds: tuple[str, ...] | None,
                    resource_id: str | None, project_id: str | None) -> list[Any]:
        try:
            with self._reading() as conn:
                return self._events_sql.rows(conn, since, limit, kinds, resource_id,
                                             project_id)
        except sa_exc.SQLAlchemyError as e:
            raise self._error(e, "reading events") from e

    def last_event_id(self) -> int:
        self._require_events()
        try:
            with self._reading() as conn:
                return self._events_sql.last_id(conn)
        except sa_exc.SQLAlchemyError as e:
            raise self._error(e, "reading the last event id") from e

    def _trim_events(self, before: Any) -> int:
        try:
            with self._writing() as conn:
                return self._events_sql.trim(conn, before)
        except sa_exc.SQLAlchemyError as e:
            raise self._error(e, "trimming events") from e

    def event_waiter(self) -> Any:
        """PostgreSQL: a ``LISTEN`` on a connection of its own; a SQLite file: watching
        the file change; elsewhere, polling the last event id."""
        self._require_events()
        if self.dialect == "postgresql":
            try:
                return PostgresListener(self, self._engine)
            except sa_exc.SQLAlchemyError as e:
                raise self._error(e, "listening for events") from e
        database = self._engine.url.database if not self._memory else None
        if self.dialect == "sqlite" and database and not database.startswith("file:"):
            return SQLiteFileWaiter(self, os.path.abspath(database))
        return super().event_waiter()

    def close(self) -> None:
        """Close every pooled connection; later calls raise ``PersistenceError``.

        An in-memory database is gone once closed. Idempotent.
        """
        engine, self._engine = self._engine, _ClosedEngine(self.url)
        for conn in list(self._held or ()):
            with contextlib.suppress(Exception):  # one in use by another thread
                conn.close()
        engine.dispose()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url}>"


class MemoryDBPersistence(DBPersistence):
    """The SQL store on a private in-memory SQLite database (gone when closed).

    Args:
        soft_deletes, events: as for :class:`DBPersistence`.
    """

    name = "memory_dbms"

    def __init__(self, soft_deletes: bool = False, events: bool = True) -> None:
        super().__init__("sqlite://", soft_deletes=soft_deletes, events=events)


def _after(created: Any, ident: Any, created_at: Any, key: str) -> Any:
    """Rows after ``(created_at, key)`` in ``(created_at, id)`` order."""
    if created_at is None:
        return ident > key
    return sa.or_(created > created_at, sa.and_(created == created_at, ident > key))
