"""URLs and engines of the SQL stores: volumelib's default database drivers, SQLite in
WAL mode with a busy timeout, connect timeouts for servers, and passwords kept out
of every message. Used by the stores (:mod:`.store`) and by the schema commands
(:mod:`.migrate`).
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Engine, make_url

from volumelib import exceptions as exc

__all__ = ["parse_url", "redact_url", "is_memory", "create_engine",
           "SQLITE_BUSY_TIMEOUT", "CONNECT_TIMEOUT"]

LOG = logging.getLogger(__name__)

#: Seconds a SQLite connection waits for another process's write lock.
SQLITE_BUSY_TIMEOUT = 30.0
#: Seconds to wait for a database server to accept a connection.
CONNECT_TIMEOUT = 10

_DEFAULT_DRIVERS = {"postgresql": "postgresql+psycopg", "postgres": "postgresql+psycopg",
                    "mysql": "mysql+pymysql", "mariadb": "mariadb+pymysql"}
_SYNCHRONOUS = {True: "NORMAL", False: "OFF", "off": "OFF", "normal": "NORMAL",
                "full": "FULL", "extra": "EXTRA"}
_PASSWORD_IN_URL = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")


def _invalid(message: str) -> exc.InvalidPersistence:
    return exc.InvalidPersistence(message, storage="dbms",
                                  available="sqlite, postgresql, mysql/mariadb")


def redact_url(url: URL | str) -> str:
    """The URL as text with its password replaced by ``***``."""
    if isinstance(url, URL):
        return url.render_as_string(hide_password=True)
    return _PASSWORD_IN_URL.sub(r"\1***@", str(url))


def parse_url(connection: Any) -> URL:
    """A SQLAlchemy URL for ``connection``, with volumelib's default drivers.

    ``postgresql://`` means psycopg 3 and ``mysql://``/``mariadb://`` PyMySQL (with
    ``charset=utf8mb4``), whatever SQLAlchemy's own defaults are.

    Raises:
        InvalidPersistence: not a string or URL, or not a URL at all.
    """
    if isinstance(connection, URL):
        url = connection
    elif isinstance(connection, str) and connection.strip():
        try:
            url = make_url(connection.strip())
        except (sa_exc.ArgumentError, ValueError) as e:
            raise _invalid(f"malformed database URL {redact_url(connection)!r}: "
                           f"{redact_url(str(e))}") from None
    else:
        raise _invalid(f"the dbms store needs a database URL (connection=...), "
                       f"not {type(connection).__name__}")
    driver = _DEFAULT_DRIVERS.get(url.drivername)
    if driver:
        url = url.set(drivername=driver)
    if url.get_backend_name() in ("mysql", "mariadb") and "charset" not in url.query:
        url = url.update_query_dict({"charset": "utf8mb4"})
    return url


def is_memory(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def create_engine(url: URL, *, sqlite_synchronous: Any = True,
                  **engine_options: Any) -> Engine:
    """An engine set up the volumelib way (no connection is made yet).

    SQLite: WAL and ``synchronous`` on files, a busy timeout, one shared connection
    (``StaticPool``) for an in-memory database. Servers: ``pool_pre_ping`` (a
    connection dropped by a server restart is replaced on the next call) and a
    connect timeout. ``engine_options`` go to :func:`sqlalchemy.create_engine`.

    Raises:
        InvalidPersistence: unknown dialect, driver not installed, bad options.
        PersistenceError: the SQLite file's directory does not exist.
    """
    backend = url.get_backend_name()
    given = ", ".join(sorted(engine_options)) or "none"
    options: dict[str, Any] = {}
    connect_args: dict[str, Any] = {}
    pragmas: list[str] = []
    if backend == "sqlite":
        try:
            sync = _SYNCHRONOUS[sqlite_synchronous.lower()
                                if isinstance(sqlite_synchronous, str) else
                                bool(sqlite_synchronous)]
        except KeyError:
            raise _invalid(f"sqlite_synchronous must be True, False, 'full', 'normal' "
                           f"or 'off', not {sqlite_synchronous!r}") from None
        if is_memory(url):
            options["poolclass"] = sa.pool.StaticPool
            connect_args["check_same_thread"] = False
        else:
            _check_sqlite_dir(url)
            connect_args["timeout"] = SQLITE_BUSY_TIMEOUT
            pragmas = ["PRAGMA journal_mode=WAL", f"PRAGMA synchronous={sync}"]
    else:
        options["pool_pre_ping"] = True
        if backend in ("postgresql", "mysql", "mariadb") \
                and "connect_timeout" not in url.query:
            connect_args["connect_timeout"] = CONNECT_TIMEOUT
    connect_args.update(engine_options.pop("connect_args", None) or {})
    options.update(engine_options)
    try:
        engine = sa.create_engine(url, connect_args=connect_args, **options)
    except sa_exc.NoSuchModuleError:
        raise _invalid(f"unknown database dialect in {redact_url(url)!r} (volumelib "
                       f"supports sqlite, postgresql and mysql/mariadb)") from None
    except ImportError as e:
        extra = {"postgresql+psycopg": "postgresql", "mysql+pymysql": "mysql",
                 "mariadb+pymysql": "mysql"}.get(url.drivername)
        hint = f"; pip install volumelib[{extra}]" if extra else ""
        raise _invalid(f"the database driver for {redact_url(url)!r} is not "
                       f"installed ({e}){hint}") from None
    except (TypeError, ValueError, AttributeError, sa_exc.ArgumentError) as e:
        # e.g. pool="x": SQLAlchemy fails on the value with an AttributeError
        raise _invalid(f"bad engine options ({given}) for {redact_url(url)!r}: "
                       f"{redact_url(str(e))}") from None
    if pragmas:
        event.listen(engine, "connect", _pragma_setter(pragmas))
    return engine


def _check_sqlite_dir(url: URL) -> None:
    path = url.database or ""
    if path.startswith("file:"):
        return  # a SQLite URI: SQLite reports the problems itself
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise exc.PersistenceError(
            reason=f"cannot open SQLite database {path!r}: directory {directory!r} does "
                   f"not exist (volumelib does not create it)")


def _pragma_setter(pragmas: list[str]) -> Any:
    def _on_connect(dbapi_connection: Any, record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            for pragma in pragmas:
                try:
                    cursor.execute(pragma)
                except Exception as e:  # noqa: BLE001 - e.g. a read-only file
                    LOG.debug("%s failed: %s", pragma, e)
        finally:
            cursor.close()
    return _on_connect
