"""Functional tests of tools/dbservers.py: real PostgreSQL / MariaDB servers."""

from __future__ import annotations

import os
import signal
import socket
import time

import pytest

sqlalchemy = pytest.importorskip("sqlalchemy")
from sqlalchemy import exc as sa_exc  # noqa: E402

from tests.helpers import requires_tool  # noqa: E402
from tools import dbservers  # noqa: E402
from tools.dbservers import MariaDBServer, PostgresServer  # noqa: E402

SERVERS = {
    "postgresql": (PostgresServer, ("initdb", "postgres", "psql")),
    "mariadb": (MariaDBServer, ("mariadb-install-db", "mariadbd", "mariadb")),
}


@pytest.fixture(params=[
    pytest.param("postgresql", marks=pytest.mark.postgresql),
    pytest.param("mariadb", marks=pytest.mark.mariadb),
])
def server_cls(request):
    cls, tools = SERVERS[request.param]
    requires_tool(*tools)
    return cls


def _pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _port_closed(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except ConnectionRefusedError:
        return True


def _engine(url):
    return sqlalchemy.create_engine(url, pool_pre_ping=True)


def test_lifecycle_data_survives_restart(server_cls):
    with server_cls() as srv:
        assert srv.host == "127.0.0.1"
        assert srv.url.split("://", 1)[1].startswith(("volumelib@127.0.0.1:", "root@127.0.0.1:"))
        assert f":{srv.port}/volumelib_test" in srv.url
        assert os.path.isdir(srv.datadir)
        assert srv.datadir.startswith(srv.tmpdir)
        first_pid, port, datadir = srv.pid, srv.port, srv.datadir
        assert not _pid_gone(first_pid)
        # bound to loopback only
        assert dbservers.port_is_open(port)

        engine = _engine(srv.url)
        try:
            with engine.begin() as conn:
                conn.execute(sqlalchemy.text(
                    "CREATE TABLE volumes (id INTEGER PRIMARY KEY, name VARCHAR(64))"))
                conn.execute(sqlalchemy.text(
                    "INSERT INTO volumes (id, name) VALUES (1, 'vol-1')"))
            with engine.connect() as conn:
                assert conn.execute(sqlalchemy.text(
                    "SELECT name FROM volumes WHERE id = 1")).scalar() == "vol-1"

            # A connection held across restart() sees a dropped connection.
            held = engine.connect()
            srv.restart()
            with pytest.raises(sa_exc.DBAPIError) as info:
                held.execute(sqlalchemy.text("SELECT 1"))
            assert info.value.connection_invalidated
            held.close()

            assert srv.pid != first_pid
            assert _pid_gone(first_pid)
            assert (srv.port, srv.datadir) == (port, datadir)
            # pool_pre_ping replaces the dead pooled connections; data is kept.
            with engine.connect() as conn:
                assert conn.execute(sqlalchemy.text(
                    "SELECT name FROM volumes WHERE id = 1")).scalar() == "vol-1"
        finally:
            engine.dispose()
        last_pid = srv.pid

    assert srv.pid is None
    assert _pid_gone(last_pid)
    assert not os.path.exists(datadir)
    assert not os.path.exists(os.path.dirname(datadir))
    assert _port_closed(port)


def test_new_database_is_empty_and_separate(server_cls):
    with server_cls() as srv:
        url = srv.new_database("extra_db_1")
        assert url.startswith(srv.url.split("/volumelib_test")[0] + "/extra_db_1")
        main, extra = _engine(srv.url), _engine(url)
        try:
            with main.begin() as conn:
                conn.execute(sqlalchemy.text("CREATE TABLE only_in_main (id INTEGER)"))
            assert sqlalchemy.inspect(extra).get_table_names() == []
            assert sqlalchemy.inspect(main).get_table_names() == ["only_in_main"]
            with extra.begin() as conn:
                conn.execute(sqlalchemy.text("CREATE TABLE t (id INTEGER)"))
                conn.execute(sqlalchemy.text("INSERT INTO t VALUES (7)"))
            with extra.connect() as conn:
                assert conn.execute(sqlalchemy.text("SELECT id FROM t")).scalar() == 7
        finally:
            main.dispose()
            extra.dispose()
        with pytest.raises(dbservers.DBServerError):
            srv.new_database("bad name; DROP")
        with pytest.raises(dbservers.DBServerError):
            srv.new_database("extra_db_1")  # already exists


def test_stop_on_exception_with_open_connection_and_idempotent(server_cls):
    srv = server_cls(stop_timeout=10)
    with pytest.raises(RuntimeError, match="boom"):
        with srv:
            pid, port, tmpdir = srv.pid, srv.port, srv.tmpdir
            engine = _engine(srv.url)
            conn = engine.connect()  # left open on purpose: stop must not hang
            conn.execute(sqlalchemy.text("SELECT 1"))
            t0 = time.monotonic()
            raise RuntimeError("boom")
    assert time.monotonic() - t0 < 10, "stop() waited for the client to go away"
    assert _pid_gone(pid)
    assert not os.path.exists(tmpdir)
    assert _port_closed(port)
    srv.stop()  # idempotent
    srv.stop()
    conn.invalidate()
    engine.dispose()


def test_start_again_after_stop_gives_fresh_server(server_cls):
    srv = server_cls()
    try:
        srv.start()
        first_tmp, first_pid = srv.tmpdir, srv.pid
        srv.stop()
        srv.start()
        assert srv.tmpdir != first_tmp and srv.pid != first_pid
        assert not os.path.exists(first_tmp) and _pid_gone(first_pid)
        second_pid = srv.pid
        engine = _engine(srv.url)
        try:
            with engine.connect() as conn:
                assert conn.execute(sqlalchemy.text("SELECT 1")).scalar() == 1
        finally:
            engine.dispose()
    finally:
        srv.stop()
    assert _pid_gone(second_pid)


def test_startup_failure_reports_log_and_cleans_up(server_cls):
    # Occupy the requested port so the server cannot bind it.
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    port = blocker.getsockname()[1]
    srv = server_cls(port=port, startup_timeout=20)
    try:
        with pytest.raises(dbservers.DBServerError) as info:
            srv.start()
    finally:
        blocker.close()
        srv.stop()
    assert "tail" in str(info.value)
    assert srv.proc is None and srv.tmpdir is None
    assert not os.path.exists(os.path.dirname(srv.datadir))


def test_stop_escalates_to_sigkill_when_signal_ignored(server_cls):
    srv = server_cls(stop_timeout=1)
    # Pretend the server ignores its shutdown signals: only the last (SIGKILL) works.
    srv.stop_signals = (signal.SIGCONT, signal.SIGKILL)
    with srv:
        pid, tmpdir = srv.pid, srv.tmpdir
    assert _pid_gone(pid)
    assert not os.path.exists(tmpdir)


def test_find_binary():
    requires_tool("postgres")
    path = dbservers.find_binary("postgres")
    assert os.path.isabs(path) and os.access(path, os.X_OK)
    assert dbservers.find_binary("no-such-binary-xyz", required=False) is None
    with pytest.raises(dbservers.DBServerError):
        dbservers.find_binary("no-such-binary-xyz")
