"""The SQL stores: the conformance suite on memory_dbms, a SQLite file, PostgreSQL and
MariaDB (real servers), then bad input and faults: wrong URLs, unreachable servers,
passwords, read-only SQLite files, server restarts, two processes racing."""

from __future__ import annotations

import datetime
import multiprocessing
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

import volumelib
from tests.functional.dbfixtures import (db_url, fresh_database, mariadb_server,  # noqa: F401
                                         mariadb_url, pg_server, pg_url, sqlite_url)
from tests.helpers import requires_root, requires_tool
from volumelib import exceptions as exc
from volumelib.objects import Volume, VolumeType
from volumelib.persistence import setup as persistence_setup
from volumelib.persistence.base import KINDS
from volumelib.persistence.dbms import schema
from volumelib.persistence.dbms.store import DBPersistence, MemoryDBPersistence
from volumelib.testing import persistence as suite
from volumelib.testing import persistence_listing as listing

# -- the conformance suite on every database ----------------------------------------------


class MemoryDBFixtures(suite.PersistenceFixtures):
    @pytest.fixture
    def store(self):
        store = MemoryDBPersistence()
        yield store
        store.close()

    @pytest.fixture
    def soft_store(self):
        store = MemoryDBPersistence(soft_deletes=True)
        yield store
        store.close()


class TestMemoryDBMS(MemoryDBFixtures, suite.PersistenceSuite, listing.ListingSuite):
    pass


class SQLiteFileFixtures(suite.PersistenceFixtures):
    @pytest.fixture
    def store(self, tmp_path):
        store = DBPersistence(f"sqlite:///{tmp_path / 'store.sqlite'}")
        yield store
        store.close()

    @pytest.fixture
    def soft_store(self, tmp_path):
        store = DBPersistence(f"sqlite:///{tmp_path / 'soft.sqlite'}", soft_deletes=True)
        yield store
        store.close()

    @pytest.fixture
    def other_store(self, tmp_path):
        # dump/load between two SQL files rather than into memory
        store = DBPersistence(f"sqlite:///{tmp_path / 'other.sqlite'}")
        yield store
        store.close()


class TestSQLiteFile(SQLiteFileFixtures, suite.PersistenceSuite, listing.ListingSuite):
    pass


class ServerFixtures(suite.PersistenceFixtures):
    server_fixture = ""

    @pytest.fixture
    def server(self, request):
        return request.getfixturevalue(self.server_fixture)

    @pytest.fixture
    def store(self, server):
        store = DBPersistence(fresh_database(server))
        yield store
        store.close()

    @pytest.fixture
    def soft_store(self, server):
        store = DBPersistence(fresh_database(server), soft_deletes=True)
        yield store
        store.close()


@pytest.mark.postgresql
class TestPostgreSQL(ServerFixtures, suite.PersistenceSuite, listing.ListingSuite):
    server_fixture = "pg_server"


@pytest.mark.mariadb
class TestMariaDB(ServerFixtures, suite.PersistenceSuite, listing.ListingSuite):
    server_fixture = "mariadb_server"


# -- schema and configuration -------------------------------------------------------------

def test_every_object_field_has_a_column_and_vice_versa():
    assert set(schema.TABLES) == set(KINDS)
    for name, kind in KINDS.items():
        columns = {c.name for c in schema.TABLES[name].columns}
        assert columns == set(kind.cls.fields) | {"version"}, name
        assert schema.TABLES[name].primary_key.columns.keys() == [kind.key]


def test_setup_by_plugin_names(tmp_path):
    previous = volumelib.get_persistence()
    try:
        for i, name in enumerate(("dbms", "db")):
            url = f"sqlite:///{tmp_path / f'{name}.sqlite'}"
            settings = volumelib.setup(persistence_config={"storage": name,
                                                           "connection": url})
            assert type(settings.persistence) is DBPersistence
            assert volumelib.get_persistence().url == url
        for name in ("memory_dbms", "memory_db"):
            store = persistence_setup({"storage": name})
            assert type(store) is MemoryDBPersistence and store.name == "memory_dbms"
        with pytest.raises(exc.InvalidPersistence):
            persistence_setup({"storage": "dbms", "connection": "sqlite://",
                               "no_such_option": 1})
        with pytest.raises(exc.InvalidPersistence):
            persistence_setup({"storage": "memory_dbms", "connection": "sqlite://"})
    finally:
        volumelib.setup(persistence_config={"storage": previous})


def test_sqlite_file_pragmas(tmp_path):
    def pragmas(store):
        with store._engine.connect() as conn:
            return (conn.exec_driver_sql("PRAGMA journal_mode").scalar(),
                    conn.exec_driver_sql("PRAGMA synchronous").scalar())

    for option, expected in ((True, 1), ("full", 2), (False, 0), ("off", 0)):
        store = DBPersistence(f"sqlite:///{tmp_path / f'{option}.sqlite'}",
                              sqlite_synchronous=option)
        assert pragmas(store) == ("wal", expected)
        store.close()
    with pytest.raises(exc.InvalidPersistence):
        DBPersistence(f"sqlite:///{tmp_path / 'x.sqlite'}", sqlite_synchronous="fast")


def test_sqlite_fast_path_stores_what_sqlalchemy_stores(tmp_path):
    """The SQLite store runs its hot statements on the DBAPI cursor with the column
    types' bind processors (``_execute_raw``): the bytes it stores must be those
    SQLAlchemy's own execution stores, or listings ordered by time and JSON filters
    would see two formats."""
    path = tmp_path / "raw.sqlite"
    store = DBPersistence(f"sqlite:///{path}")
    table = schema.TABLES["volume"]
    try:
        paris = datetime.timezone(datetime.timedelta(hours=1))
        vol = suite.saved_volume(store, name="fast", metadata={"k": "v", "n": "1"},
                                 multiattach=True,
                                 created_at=datetime.datetime(2024, 2, 1, 12, 30, 5,
                                                              tzinfo=paris))
        vol.status = "in-use"
        vol.metadata = {"k": "w"}
        store.set_volume(vol)  # an UPDATE on the fast path
        with store._engine.begin() as conn:
            typed = dict(conn.execute(sa.select(table).where(table.c.id == vol.id))
                         .mappings().one())
            twin = dict(typed, id="twin", name="twin", status="creating", metadata={})
            conn.execute(table.insert(), twin)
            conn.execute(table.update().where(table.c.id == "twin"),
                         {"status": "in-use", "metadata": {"k": "w"}, "name": "fast"})
        raw = sqlite3.connect(path)
        try:
            rows = {r[0]: r[1:] for r in raw.execute(
                "SELECT id, " + ", ".join(c for c in table.c.keys() if c != "id")
                + " FROM volumes")}
        finally:
            raw.close()
        assert rows[vol.id] == rows["twin"]
        assert "2024-02-01 11:30:05.000000" in rows[vol.id]
    finally:
        store.close()


@pytest.mark.parametrize("value", [
    None,
    "2024-01-02 03:04:05.000006",
    datetime.date(2024, 1, 2),
    datetime.datetime(2024, 1, 2, 3, 4, 5),
    datetime.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=datetime.timezone.utc),
    datetime.datetime(999, 12, 31, 23, 59, 59, 999999,
                      tzinfo=datetime.timezone(datetime.timedelta(hours=-5, minutes=-30))),
])
def test_sqlite_fast_datetime_text_is_sqlalchemys(value):
    """The fast path's one-step conversion of a UTCDateTime value gives what the
    column type's own processors give (and leaves what is not a datetime to them)."""
    from sqlalchemy.dialects import sqlite

    from volumelib.persistence.dbms.store import _bind_processor
    dialect = sqlite.dialect()
    compiled = schema.TABLES["lease"].insert().compile(dialect=dialect,
                                                       column_keys=["id", "expires_at"])
    bind = compiled.binds["expires_at"]
    general = bind.type.dialect_impl(dialect).bind_processor(dialect)
    try:
        expected = general(value)
    except Exception as e:  # noqa: BLE001 - then the fast one fails alike
        with pytest.raises(type(e)):
            _bind_processor(bind, dialect)(value)
        return
    assert _bind_processor(bind, dialect)(value) == expected


def _forked_child_writes(store: Any, queue: Any) -> None:
    try:
        vol = suite.saved_volume(store, name="from-child")
        queue.put(("ok", vol.id, [v.name for v in store.get_volumes()]))
    except BaseException as e:  # noqa: BLE001
        queue.put(("error", repr(e), []))


def test_sqlite_connections_kept_per_thread_survive_threads_fork_and_close(tmp_path):
    """A SQLite file store keeps each thread's connection between transactions: a
    write in one thread is seen at once by another, a forked child gets its own
    connection (not the parent's), and close() closes them all."""
    store = DBPersistence(f"sqlite:///{tmp_path / 'held.sqlite'}")
    try:
        first = suite.saved_volume(store, name="parent")
        seen: list[Any] = []
        thread = threading.Thread(target=lambda: seen.append(
            [v.name for v in store.get_volumes()]))
        thread.start()
        thread.join()
        assert seen == [["parent"]]
        queue = multiprocessing.get_context("fork").Queue()
        child = multiprocessing.get_context("fork").Process(
            target=_forked_child_writes, args=(store, queue))
        child.start()
        status, child_vol, names = queue.get(timeout=60)
        child.join(60)
        assert status == "ok" and child.exitcode == 0, child_vol
        assert sorted(names) == ["from-child", "parent"]
        assert {v.id for v in store.get_volumes()} == {first.id, child_vol}
        held = list(store._held)
        assert held and not any(c.closed for c in held)
    finally:
        store.close()
    assert all(c.closed for c in held)
    with pytest.raises(exc.PersistenceError, match="closed"):
        store.get_volumes()


def test_unique_volume_type_name(db_url):
    store = DBPersistence(db_url)
    try:
        store.set_volume_type(VolumeType(id=str(uuid.uuid4()), name="gold"))
        with pytest.raises(exc.AlreadyExists, match="name 'gold'"):
            store.set_volume_type(VolumeType(id=str(uuid.uuid4()), name="gold"))
        assert len(store.get_volume_types()) == 1
    finally:
        store.close()


def test_threads_share_a_store(db_url):
    store = DBPersistence(db_url)
    memory = MemoryDBPersistence()
    errors: list[BaseException] = []

    def work(target):
        try:
            for _ in range(20):
                vol = suite.saved_volume(target)
                vol.status = "in-use"
                target.set_volume(vol)
                assert target.get_volumes(volume_id=vol.id)[0].status == "in-use"
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    try:
        threads = [threading.Thread(target=work, args=(s,)) for s in (store, memory)
                   for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert len(store.get_volumes()) == len(memory.get_volumes()) == 80
    finally:
        store.close()
        memory.close()


def test_closed_store_refuses_calls(tmp_path):
    store = DBPersistence(f"sqlite:///{tmp_path / 'c.sqlite'}")
    store.close()
    store.close()
    with pytest.raises(exc.PersistenceError, match="closed"):
        store.get_volumes()


# -- bad URLs, unreachable servers, passwords -----------------------------------------------

@pytest.mark.parametrize("url", ["nosuchdb://x", "not a url", "", "postgresql+nodriver://h/db",
                                 "://missing-scheme"])
def test_bad_urls_are_invalid_persistence(url):
    with pytest.raises(exc.InvalidPersistence):
        DBPersistence(url)


def test_connection_must_be_a_url():
    with pytest.raises(exc.InvalidPersistence):
        DBPersistence(None)
    with pytest.raises(exc.InvalidPersistence, match="engine options"):
        DBPersistence("sqlite://", pool_size="many", no_such_option=True)


@pytest.mark.parametrize("url", [
    "postgresql+psycopg://u:secretpw@127.0.0.1:1/x",
    "postgresql://u:secretpw@127.0.0.1:1/x",
    "mysql://u:secretpw@127.0.0.1:1/x",
])
def test_unreachable_server_hides_the_password(url):
    with pytest.raises(exc.PersistenceError) as info:
        DBPersistence(url)
    error = info.value
    assert not isinstance(error, exc.InvalidPersistence)
    text = f"{error} {error!r} {error.__cause__} {error.__cause__!r}"
    assert "secretpw" not in text
    assert "u:***@127.0.0.1:1/x" in str(error)
    assert "refused" in str(error).lower() or "can't connect" in str(error).lower()


def test_password_never_shown(pg_server, tmp_path):
    # trust authentication ignores the password, so the store opens with one
    url = fresh_database(pg_server).replace("volumelib@", "volumelib:topsecret@")
    store = DBPersistence(url)
    try:
        assert "topsecret" not in repr(store) and "topsecret" not in store.url
        assert "volumelib:***@" in repr(store)
        engine = store._engine
        store.close()
        with pytest.raises(exc.PersistenceError) as info:
            store.get_volumes()
        assert "topsecret" not in str(info.value)
    finally:
        engine.dispose()


def test_missing_directory_is_a_clear_error(tmp_path):
    missing = tmp_path / "no" / "such" / "dir"
    with pytest.raises(exc.PersistenceError, match="does not exist") as info:
        DBPersistence(f"sqlite:///{missing / 'db.sqlite'}")
    assert str(missing) in str(info.value)
    assert not (tmp_path / "no").exists()


# -- read-only SQLite -------------------------------------------------------------------------

def _findmnt_fstype(path):
    return subprocess.run(["findmnt", "-n", "-o", "FSTYPE", "-T", str(path)],
                          capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def ext4_tmp():
    """A directory on the ext4 root filesystem (``chattr +i`` needs a real fs)."""
    requires_root()
    requires_tool("chattr", "findmnt", "mount", "umount")
    path = "/var/tmp"
    fstype = _findmnt_fstype(path)
    if fstype not in ("ext4", "xfs", "btrfs"):
        pytest.skip(f"{path} is on {fstype}, which has no immutable flag")
    import tempfile
    directory = tempfile.mkdtemp(prefix="volumelib-ro-", dir=path)
    yield directory
    for name in os.listdir(directory):
        subprocess.run(["chattr", "-i", os.path.join(directory, name)], check=False)
    shutil.rmtree(directory, ignore_errors=True)


def test_immutable_sqlite_file_refuses_writes_and_keeps_data(ext4_tmp):
    # chattr +i: the kernel refuses every write to the file, also root's (plain
    # chmod 0444 would not stop root). Reads still work.
    path = os.path.join(ext4_tmp, "ro.sqlite")
    url = f"sqlite:///{path}"
    store = DBPersistence(url)
    vol = suite.saved_volume(store, name="before")
    store.close()
    subprocess.run(["chattr", "+i", path], check=True)
    try:
        store = DBPersistence(url)
        assert store.get_volumes(volume_id=vol.id)[0].name == "before"
        found = store.get_volumes(volume_id=vol.id)[0]
        found.name = "after"
        with pytest.raises(exc.PersistenceError, match="read-only"):
            store.set_volume(found)
        with pytest.raises(exc.PersistenceError, match="read-only"):
            suite.saved_volume(store)
        with pytest.raises(exc.PersistenceError, match="read-only"):
            store.delete_volume(found)
        assert [v.name for v in store.get_volumes()] == ["before"]
        store.close()
    finally:
        subprocess.run(["chattr", "-i", path], check=True)
    store = DBPersistence(url)
    assert [v.name for v in store.get_volumes()] == ["before"]
    store.close()


def test_sqlite_on_read_only_mount_is_a_persistence_error(ext4_tmp):
    # A read-only bind mount: SQLite cannot even create its WAL index there.
    rw = os.path.join(ext4_tmp, "rw")
    ro = os.path.join(ext4_tmp, "ro")
    os.mkdir(rw)
    os.mkdir(ro)
    store = DBPersistence(f"sqlite:///{rw}/db.sqlite")
    suite.saved_volume(store)
    store.close()
    subprocess.run(["mount", "--bind", rw, ro], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", ro], check=True)
        with pytest.raises(exc.PersistenceError):
            DBPersistence(f"sqlite:///{ro}/db.sqlite")
    finally:
        subprocess.run(["umount", ro], check=True)
    store = DBPersistence(f"sqlite:///{rw}/db.sqlite")
    assert len(store.get_volumes()) == 1
    store.close()


# -- server restarts ------------------------------------------------------------------------

@pytest.mark.parametrize("server_name", [
    pytest.param("pg_server", marks=pytest.mark.postgresql),
    pytest.param("mariadb_server", marks=pytest.mark.mariadb),
])
def test_server_restart_mid_run(request, server_name):
    server = request.getfixturevalue(server_name)
    store = DBPersistence(fresh_database(server), pool_size=2)
    try:
        vols = [suite.saved_volume(store) for _ in range(3)]
        # every pooled connection is about to die
        server.restart()
        assert sorted(v.id for v in store.get_volumes()) == sorted(v.id for v in vols)
        vols[0].status = "in-use"
        store.set_volume(vols[0])
        suite.saved_volume(store)
        server.restart()
        vols[1].status = "error"
        store.set_volume(vols[1])  # a write first, after the restart
        assert store.get_volumes(volume_id=vols[0].id)[0].status == "in-use"
        assert len(store.get_volumes()) == 4
    finally:
        store.close()


@pytest.mark.parametrize("server_name", [
    pytest.param("pg_server", marks=pytest.mark.postgresql),
    pytest.param("mariadb_server", marks=pytest.mark.mariadb),
])
def test_connection_dropped_under_a_call(request, server_name):
    # Without the pre-ping, the call that meets the dead connection fails with a
    # PersistenceError (nothing written) and the next call reconnects.
    server = request.getfixturevalue(server_name)
    store = DBPersistence(fresh_database(server), pool_pre_ping=False, pool_size=1)
    try:
        vol = suite.saved_volume(store, name="kept")
        server.restart()
        vol.name = "maybe"
        with pytest.raises(exc.PersistenceError) as info:
            store.set_volume(vol)
        assert not isinstance(info.value, exc.ConcurrentModification)
        assert [v.name for v in store.get_volumes()] == ["kept"]
        store.set_volume(vol)  # the failed save left the object's changes pending
        assert [v.name for v in store.get_volumes()] == ["maybe"]
    finally:
        store.close()


# -- two real processes on one volume -------------------------------------------------------

def _racer(url, volume_id, field, value, barrier, results):
    store = DBPersistence(url)
    vol = store.get_volumes(volume_id=volume_id)[0]
    barrier.wait(timeout=60)
    setattr(vol, field, value)
    try:
        store.set_volume(vol)
        results.put((field, "won"))
    except exc.ConcurrentModification:
        results.put((field, "conflict"))
        vol.refresh()  # the loser reloads and applies its change again
        setattr(vol, field, value)
        store.set_volume(vol)
    store.close()


@pytest.mark.parametrize("url_fixture", [
    "sqlite_url", pytest.param("pg_url", marks=pytest.mark.postgresql)])
def test_two_processes_update_the_same_volume(request, url_fixture):
    url = request.getfixturevalue(url_fixture)
    store = DBPersistence(url)
    ctx = multiprocessing.get_context("spawn")
    try:
        for round_ in range(3):
            vol = suite.saved_volume(store, name="start", status="available")
            barrier, results = ctx.Barrier(2), ctx.Queue()
            procs = [ctx.Process(target=_racer, args=(url, vol.id, field, value, barrier,
                                                      results))
                     for field, value in (("name", f"renamed-{round_}"),
                                          ("status", "in-use"))]
            for p in procs:
                p.start()
            for p in procs:
                p.join(120)
            assert [p.exitcode for p in procs] == [0, 0]
            outcome = sorted(results.get(timeout=10)[1] for _ in procs)
            assert outcome == ["conflict", "won"]
            final = store.get_volumes(volume_id=vol.id)[0]
            assert (final.name, final.status) == (f"renamed-{round_}", "in-use")
    finally:
        store.close()


def test_import_volumelib_does_not_import_sqlalchemy():
    code = ("import sys, volumelib; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('sqlalchemy', 'alembic')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_volume_objects_from_sql_are_plain(db_url):
    store = DBPersistence(db_url)
    try:
        vol = suite.saved_volume(store, metadata={"a": "b"})
        found = store.get_volumes(volume_id=vol.id)[0]
        assert isinstance(found, Volume)
        assert type(found.metadata) is dict and found.metadata == {"a": "b"}
        with store._engine.connect() as conn:
            version = conn.execute(sa.text("SELECT version FROM volumes")).scalar()
        assert version == 1
    finally:
        store.close()
