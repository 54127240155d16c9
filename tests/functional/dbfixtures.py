"""Database server fixtures for the SQL persistence tests (import them by name).

``pg_server`` / ``mariadb_server`` start one throwaway server each per test session
(``tools.dbservers``; stopped by PID at the end, also when several test modules import
these fixtures); ``pg_url`` / ``mariadb_url`` give each test a fresh, empty database
on it; ``sqlite_url`` a fresh SQLite file. ``db_url`` is parametrized over all three.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers import requires_tool
from tools.dbservers import MariaDBServer, PostgresServer

_TOOLS = {"postgresql": ("initdb", "postgres", "psql"),
          "mariadb": ("mariadb-install-db", "mariadbd", "mariadb")}
_CLASSES = {"postgresql": PostgresServer, "mariadb": MariaDBServer}
_servers: dict[str, Any] = {}
_users: dict[str, int] = {}
_lock = threading.Lock()
_names = itertools.count(1)


def _acquire(kind: str) -> Any:
    requires_tool(*_TOOLS[kind])
    with _lock:
        if kind not in _servers:
            _servers[kind] = _CLASSES[kind]().start()
        _users[kind] = _users.get(kind, 0) + 1
        return _servers[kind]


def _release(kind: str) -> None:
    with _lock:
        _users[kind] -= 1
        if _users[kind] == 0:
            _servers.pop(kind).stop()


def _server(kind: str) -> Iterator[Any]:
    srv = _acquire(kind)
    try:
        yield srv
    finally:
        _release(kind)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    yield from _server("postgresql")


@pytest.fixture(scope="session")
def mariadb_server() -> Iterator[MariaDBServer]:
    yield from _server("mariadb")


def fresh_database(server: Any) -> str:
    """A new empty database on ``server``; its URL."""
    return server.new_database(f"t_{next(_names)}")


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> str:
    return fresh_database(pg_server)


@pytest.fixture
def mariadb_url(mariadb_server: MariaDBServer) -> str:
    return fresh_database(mariadb_server)


@pytest.fixture
def sqlite_url(tmp_path: Any) -> str:
    return f"sqlite:///{tmp_path / 'volumelib.sqlite'}"


@pytest.fixture(params=[
    "sqlite",
    pytest.param("postgresql", marks=pytest.mark.postgresql),
    pytest.param("mariadb", marks=pytest.mark.mariadb),
])
def db_url(request: pytest.FixtureRequest) -> str:
    """A fresh empty database on SQLite, PostgreSQL and MariaDB in turn."""
    name = {"sqlite": "sqlite_url", "postgresql": "pg_url",
            "mariadb": "mariadb_url"}[request.param]
    return request.getfixturevalue(name)
