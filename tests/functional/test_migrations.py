"""The dbms store's own alembic migrations, on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import subprocess
import sys

import pytest
import sqlalchemy as sa

from tests.functional.dbfixtures import (db_url, mariadb_server, mariadb_url,  # noqa: F401
                                         pg_server, pg_url, sqlite_url)
from volumelib import exceptions as exc
from volumelib.objects import Lease, Pool, Quota
from volumelib.persistence.dbms import migrate
from volumelib.persistence.dbms.engine import parse_url
from volumelib.persistence.dbms.store import DBPersistence
from volumelib.testing import persistence as suite

TABLES = {"volumes", "snapshots", "connections", "groups", "group_snapshots",
          "key_values", "volume_types", "pools", "leases", "quotas", "subscriptions",
          "events", "event_sequence"}
#: What revision 0004 added.
EVENT_TABLES = {"subscriptions", "events", "event_sequence"}


def _tables(url: str) -> set[str]:
    engine = sa.create_engine(parse_url(url))
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _sql(url: str, statement: str) -> None:
    engine = sa.create_engine(parse_url(url))
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(statement))
    finally:
        engine.dispose()


def test_head_constant_matches_the_scripts():
    assert migrate.HEAD_REVISION == migrate.script_head()


def test_new_database_gets_head_by_migrations(db_url):
    assert migrate.current(db_url) is None
    store = DBPersistence(db_url)
    assert store.schema_revision == migrate.HEAD_REVISION
    store.close()
    assert migrate.current(db_url) == migrate.HEAD_REVISION
    assert _tables(db_url) == TABLES | {migrate.VERSION_TABLE}  # no `alembic_version`
    assert migrate.check(db_url) == []  # schema.py and the revisions agree


def test_downgrade_to_base_and_upgrade_again(db_url):
    store = DBPersistence(db_url)
    suite.saved_volume(store)
    store.close()
    assert migrate.downgrade(db_url, "base") is None
    assert migrate.current(db_url) is None
    assert _tables(db_url) == {migrate.VERSION_TABLE}
    assert migrate.upgrade(db_url) == migrate.HEAD_REVISION
    assert migrate.upgrade(db_url) == migrate.HEAD_REVISION  # idempotent
    store = DBPersistence(db_url, auto_upgrade=False)
    assert store.get_volumes() == []
    suite.saved_volume(store)
    store.close()


def test_unknown_revision_is_refused(db_url):
    DBPersistence(db_url).close()
    _sql(db_url, f"UPDATE {migrate.VERSION_TABLE} SET version_num = 'f00dfeed9999'")
    for auto_upgrade in (True, False):
        with pytest.raises(exc.SchemaError) as info:
            DBPersistence(db_url, auto_upgrade=auto_upgrade)
        assert "f00dfeed9999" in str(info.value)
        assert repr(migrate.HEAD_REVISION) in str(info.value)
        assert "newer" in str(info.value)
    with pytest.raises(exc.SchemaError, match="f00dfeed9999"):
        migrate.upgrade(db_url)
    assert migrate.current(db_url) == "f00dfeed9999"  # nothing changed


def test_out_of_date_schema_without_auto_upgrade(db_url):
    with pytest.raises(exc.SchemaError, match="volumelib db upgrade"):
        DBPersistence(db_url, auto_upgrade=False)
    assert _tables(db_url) == set()  # nothing was created
    DBPersistence(db_url).close()
    migrate.downgrade(db_url, "base")  # an old schema: the version table, at base
    with pytest.raises(exc.SchemaError, match="volumelib db upgrade"):
        DBPersistence(db_url, auto_upgrade=False)
    assert DBPersistence(db_url).schema_revision == migrate.HEAD_REVISION


def test_a_users_own_alembic_table_is_left_alone(db_url):
    _sql(db_url, "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
    _sql(db_url, "INSERT INTO alembic_version VALUES ('users_rev')")
    DBPersistence(db_url).close()
    engine = sa.create_engine(parse_url(db_url))
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT version_num FROM alembic_version")
                                ).scalars().all() == ["users_rev"]
    finally:
        engine.dispose()


def test_foreign_tables_in_the_way_give_a_schema_error(db_url):
    _sql(db_url, "CREATE TABLE volumes (id INTEGER PRIMARY KEY)")
    with pytest.raises(exc.SchemaError, match="upgrade"):
        DBPersistence(db_url)


def test_opening_at_head_does_not_import_alembic(sqlite_url):
    DBPersistence(sqlite_url).close()
    code = ("import sys; from volumelib.persistence.dbms.store import DBPersistence; "
            f"DBPersistence({sqlite_url!r}).get_volumes(); "
            "print('alembic' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "False"


def test_current_of_unreachable_or_bad_url():
    with pytest.raises(exc.PersistenceError) as info:
        migrate.current("postgresql://u:secretpw@127.0.0.1:1/x")
    assert "secretpw" not in str(info.value)
    with pytest.raises(exc.InvalidPersistence):
        migrate.upgrade("nosuchdb://x")


def test_processes_creating_one_database_at_once(tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.sqlite'}"
    code = ("import sys; from volumelib.persistence.dbms.store import DBPersistence; "
            "from volumelib.testing.persistence import saved_volume; "
            f"s = DBPersistence({url!r}); saved_volume(s); print(s.schema_revision)")
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, outs
    assert {o.strip() for o, _ in outs} == {migrate.HEAD_REVISION}
    store = DBPersistence(url)
    assert len(store.get_volumes()) == 4
    store.close()


def test_alembic_offline_sql_renders(tmp_path):
    from alembic import command
    import io
    buffer = io.StringIO()
    config = migrate.alembic_config(url="postgresql+psycopg://h/db")
    config.output_buffer = buffer
    command.upgrade(config, "head", sql=True)
    text = buffer.getvalue()
    assert "CREATE TABLE volumes" in text and migrate.VERSION_TABLE in text


def test_upgrade_from_0001_keeps_rows_and_adds_consistent(db_url):  # noqa: F811
    """A database made by an older volumelib is upgraded on open, data intact."""
    migrate.upgrade(db_url, "0001")
    assert migrate.current(db_url) == "0001"
    _sql(db_url, "INSERT INTO group_snapshots (id, name, status, group_id, version, deleted)"
                 " VALUES ('11111111-1111-4111-8111-111111111111', 'old', 'available',"
                 " '22222222-2222-4222-8222-222222222222', 1, false)")
    store = DBPersistence(db_url)
    try:
        assert migrate.current(db_url) == migrate.HEAD_REVISION
        [gs] = store.get_group_snapshots()
        assert (gs.name, gs.status) == ("old", "available")
        assert not gs.consistent  # unknown for old rows: reads as not consistent
        gs.consistent = True
        store.set_group_snapshot(gs)
        assert store.get_group_snapshots()[0].consistent is True
    finally:
        store.close()


def test_upgrade_from_0002_keeps_rows_and_adds_the_control_plane(db_url):  # noqa: F811
    """A 0002 database with rows upgrades to 0003 on open: its rows are intact and the
    pools, leases and quotas tables exist and work; downgrading to 0002 drops just
    those three."""
    migrate.upgrade(db_url, "0002")
    assert migrate.current(db_url) == "0002"
    assert not {"pools", "leases", "quotas"} & _tables(db_url)
    _sql(db_url, "INSERT INTO volumes (id, name, size, status, version, deleted)"
                 " VALUES ('33333333-3333-4333-8333-333333333333', 'old', 3,"
                 " 'available', 4, false)")
    _sql(db_url, "INSERT INTO key_values (" + _quote(db_url, "key") + ", value, version)"
                 " VALUES ('k', 'v', 1)")
    store = DBPersistence(db_url)
    try:
        assert store.schema_revision == migrate.HEAD_REVISION
        assert migrate.current(db_url) == migrate.HEAD_REVISION
        [vol] = store.get_volumes()
        assert (vol.name, vol.size, vol.status) == ("old", 3, "available")
        vol.size = 4
        store.set_volume(vol)  # the old row's version (4) is honoured
        assert store.get_volumes()[0].size == 4
        assert store.get_key_values("k")[0].value == "v"
        store.set_pool(Pool(name="p", volume_driver="fake", weight=0.5))
        store.set_lease(Lease(id=vol.id, holder="h", ttl=1.5))
        store.set_quota(Quota(project_id="pr", resource="volumes", limit=2))
        assert store.get_pools("p")[0].weight == 0.5
        assert store.get_leases(vol.id)[0].ttl == 1.5
        assert store.get_quotas("pr")[0].limit == 2
    finally:
        store.close()
    assert migrate.check(db_url) == []
    assert migrate.downgrade(db_url, "0002") == "0002"
    assert _tables(db_url) == (TABLES - {"pools", "leases", "quotas"} - EVENT_TABLES) \
        | {migrate.VERSION_TABLE}
    store = DBPersistence(db_url)  # and up again
    try:
        assert store.get_volumes()[0].size == 4 and store.get_pools() == []
    finally:
        store.close()


def test_upgrade_from_0003_keeps_rows_and_adds_the_event_log(db_url):  # noqa: F811
    """A 0003 database with rows upgrades to the head on open: its rows are intact, the
    event log starts at id 1 and numbers the changes of old rows, subscriptions
    work; downgrading to 0003 drops just the three new tables."""
    migrate.upgrade(db_url, "0003")
    assert not EVENT_TABLES & _tables(db_url)
    _sql(db_url, "INSERT INTO volumes (id, name, size, status, version, deleted)"
                 " VALUES ('44444444-4444-4444-8444-444444444444', 'old', 3,"
                 " 'available', 2, false)")
    store = DBPersistence(db_url)
    try:
        assert migrate.current(db_url) == migrate.HEAD_REVISION == "0005"
        assert store.last_event_id() == 0 and list(store.list_events()) == []
        [vol] = store.get_volumes()
        vol.status = "error"
        store.set_volume(vol)
        [event] = store.list_events()
        assert (event.id, event.resource_id, event.old_status, event.new_status) == \
            (1, vol.id, "available", "error")
        assert event.payload == {"name": "old", "size": 3}
    finally:
        store.close()
    assert migrate.check(db_url) == []
    assert migrate.downgrade(db_url, "0003") == "0003"
    assert _tables(db_url) == (TABLES - EVENT_TABLES) | {migrate.VERSION_TABLE}
    store = DBPersistence(db_url)  # up again: the log starts afresh
    try:
        assert store.get_volumes()[0].status == "error" and store.last_event_id() == 0
    finally:
        store.close()


def _quote(url: str, name: str) -> str:
    """``name`` quoted for the database at ``url`` (``key`` is reserved on MySQL)."""
    engine = sa.create_engine(parse_url(url))
    try:
        return engine.dialect.identifier_preparer.quote(name)
    finally:
        engine.dispose()


def _lease_indexes(url: str) -> set[str]:
    engine = sa.create_engine(parse_url(url))
    try:
        return {ix["name"] for ix in sa.inspect(engine).get_indexes("leases")}
    finally:
        engine.dispose()


def _without_rowid(url: str) -> bool | None:
    """Whether SQLite's ``leases`` is a table without rowid (``None``: a server)."""
    engine = sa.create_engine(parse_url(url))
    try:
        if engine.dialect.name != "sqlite":
            return None
        with engine.connect() as conn:
            sql = conn.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE name = 'leases'").scalar()
        return "WITHOUT ROWID" in sql.upper()
    finally:
        engine.dispose()


def test_upgrade_from_0004_drops_the_lease_indexes_and_keeps_leases(db_url):  # noqa: F811
    """0005 drops the secondary indexes of ``leases`` (read by key only) and on SQLite
    rebuilds it without rowid: a lease in force before the upgrade is still in force
    after it, and the model matches; downgrading to 0004 puts it back as it was,
    the lease still there."""
    migrate.upgrade(db_url, "0004")
    assert _lease_indexes(db_url) == {"ix_leases_holder", "ix_leases_expires_at"}
    rowid_before = _without_rowid(db_url)
    assert rowid_before in (None, False)
    with pytest.raises(exc.SchemaError, match="volumelib db upgrade"):
        DBPersistence(db_url, auto_upgrade=False)  # 0004 is too old for this library
    _sql(db_url, "INSERT INTO leases (id, resource_kind, holder, operation, ttl, grace,"
                 " expires_at, expired_count, version) VALUES ('res-1', 'volume',"
                 " 'h:1:op-x-1', 'delete', 30, 5, '2999-01-01 00:00:00', 0, 1)")
    store = DBPersistence(db_url)
    try:
        assert migrate.current(db_url) == "0005"
        [lease] = store.get_leases(resource_id="res-1")
        assert (lease.holder, lease.operation) == ("h:1:op-x-1", "delete")
        assert [x.id for x in store.get_leases(holder="h:1:op-x-1")] == ["res-1"]
    finally:
        store.close()
    assert _lease_indexes(db_url) == set()
    assert _without_rowid(db_url) is (None if rowid_before is None else True)
    assert migrate.check(db_url) == []
    assert migrate.downgrade(db_url, "0004") == "0004"
    assert _lease_indexes(db_url) == {"ix_leases_holder", "ix_leases_expires_at"}
    assert _without_rowid(db_url) == rowid_before
    engine = sa.create_engine(parse_url(db_url))
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT holder FROM leases WHERE id = 'res-1'"
                                        ).scalar() == "h:1:op-x-1"
    finally:
        engine.dispose()
