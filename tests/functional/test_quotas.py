"""Per-project quotas: the API and its accounting (memory and SQLite file), and
real processes racing for the last units (SQLite file and PostgreSQL)."""

from __future__ import annotations

import pytest

import volumelib
from tests.functional.dbfixtures import pg_server, pg_url, sqlite_url  # noqa: F401
from tests.functional.test_leases import children, errors, pool, store, url  # noqa: F401
from volumelib import exceptions as exc
from volumelib.persistence.dbms.store import DBPersistence
from volumelib.persistence.memory import MemoryPersistence

PROJECT = "proj-a"


@pytest.fixture(params=["memory", "sqlite"])
def local_store(request, tmp_path):
    s = (MemoryPersistence() if request.param == "memory"
         else DBPersistence(f"sqlite:///{tmp_path / 'q.sqlite'}"))
    yield s
    s.close()


@pytest.fixture
def project(local_store):
    """The process works in PROJECT on ``local_store``."""
    volumelib.setup(persistence_config={"storage": local_store}, project_id=PROJECT)
    yield volumelib.quotas()
    volumelib.setup()


@pytest.fixture
def backend(project, local_store):
    b = volumelib.Backend("quota", "fake", persistence=local_store)
    yield b
    b.close()


def test_without_limits_nothing_is_counted(project, backend, local_store):
    vol = backend.create_volume(2)
    vol.create_snapshot()
    assert local_store.get_quotas() == []
    assert project.get(PROJECT) == {"volumes": {"limit": -1, "in_use": 1},
                                    "gigabytes": {"limit": -1, "in_use": 2},
                                    "snapshots": {"limit": -1, "in_use": 1}}


def test_volume_limit_and_release_on_delete(project, backend, local_store):
    existing = backend.create_volume(1)
    quota = project.set_limit(PROJECT, "volumes", 2)
    assert (quota.limit, quota.in_use) == (2, 1)  # usage taken from the records
    backend.create_volume(1)
    with pytest.raises(exc.QuotaExceeded) as info:
        backend.create_volume(1, name="one-too-many")
    e = info.value
    assert (e.project_id, e.resource, e.in_use, e.requested, e.limit) == \
        (PROJECT, "volumes", 2, 1, 2)
    assert "2 in use + 1 requested > limit 2" in str(e)
    assert len(local_store.get_volumes()) == 2  # nothing stored
    assert local_store.get_volumes(volume_name="one-too-many") == []
    existing.delete()
    assert project.get(PROJECT)["volumes"] == {"limit": 2, "in_use": 1}
    backend.create_volume(1, name="fits-again")


def test_gigabytes_on_create_extend_and_clone(project, backend, local_store):
    project.set_limit(PROJECT, "gigabytes", 8)
    project.set_limit(PROJECT, "volumes", 10)
    vol = backend.create_volume(5)
    with pytest.raises(exc.QuotaExceeded, match="gigabytes"):
        backend.create_volume(4)
    # the volumes reservation of the refused create was given back
    assert project.get(PROJECT)["volumes"]["in_use"] == 1
    with pytest.raises(exc.QuotaExceeded):
        vol.extend(9)
    vol.refresh()
    assert (vol.size, vol.status) == (5, "available")
    vol.extend(8)
    assert project.get(PROJECT)["gigabytes"] == {"limit": 8, "in_use": 8}
    with pytest.raises(exc.QuotaExceeded):
        vol.clone()
    project.set_limit(PROJECT, "gigabytes", -1)  # unlimited, still counted
    clone = vol.clone()
    assert project.get(PROJECT)["gigabytes"] == {"limit": -1, "in_use": 16}
    clone.delete()
    vol.delete()
    assert project.get(PROJECT) == {"volumes": {"limit": 10, "in_use": 0},
                                    "gigabytes": {"limit": -1, "in_use": 0},
                                    "snapshots": {"limit": -1, "in_use": 0}}


def test_snapshots_limit(project, backend):
    vol = backend.create_volume(1)
    project.set_limit(PROJECT, "snapshots", 1)
    snap = vol.create_snapshot()
    with pytest.raises(exc.QuotaExceeded, match="snapshots"):
        vol.create_snapshot()
    assert len(vol.snapshots) == 1
    snap.delete()
    assert project.get(PROJECT)["snapshots"]["in_use"] == 0
    vol.create_snapshot()


def test_failures_give_usage_back(project, local_store):
    project.set_limit(PROJECT, "gigabytes", 10)
    project.set_limit(PROJECT, "volumes", 10)
    steady = volumelib.Backend("steady", "fake", persistence=local_store)
    # fake_fail_on injects driver failures on purpose (a fault that cannot be caused
    # for real with an in-memory backend)
    flaky = volumelib.Backend("flaky", "fake", persistence=local_store,
                              fake_fail_on=["extend_volume", "create_volume"])
    try:
        vol = steady.create_volume(2)
        vol._bind(flaky)
        with pytest.raises(exc.BackendError):
            vol.extend(5)
        assert vol.status == "error_extending"
        assert project.get(PROJECT)["gigabytes"]["in_use"] == 2  # the 3 GiB came back
        with pytest.raises(exc.BackendError):
            flaky.create_volume(3, name="broken")
        # the failed create left an error record: it counts until deleted (as Cinder)
        assert project.get(PROJECT)["gigabytes"]["in_use"] == 5
        [broken] = local_store.get_volumes(volume_name="broken")
        assert broken.status == "error"
        broken._bind(steady)
        broken.delete()
        assert project.get(PROJECT)["gigabytes"]["in_use"] == 2
        assert project.get(PROJECT)["volumes"]["in_use"] == 1
    finally:
        flaky.close()
        steady.close()


@pytest.mark.parametrize("args, shown", [
    ((PROJECT, "disks", 3), "'disks'"), ((PROJECT, "volumes", -2), "-2"),
    ((PROJECT, "volumes", "3"), "'3'"), ((PROJECT, "volumes", True), "True"),
    (("a/b", "volumes", 3), "'a/b'"), (("", "volumes", 3), "''"),
])
def test_bad_limits_change_nothing(project, local_store, args, shown):
    with pytest.raises(exc.InvalidArgument) as info:
        project.set_limit(*args)
    assert shown in str(info.value)
    assert local_store.get_quotas() == []


def test_remove_limit_and_sync(project, backend, local_store):
    project.set_limit(PROJECT, "volumes", 5)
    project.set_limit(PROJECT, "snapshots", 5)
    vol = backend.create_volume(1)
    [row] = [q for q in local_store.get_quotas(PROJECT) if q.resource == "volumes"]
    row.in_use = 4  # drift, e.g. a reservation left by a crash
    local_store.set_quota(row)
    assert project.sync(PROJECT)["volumes"] == {"limit": 5, "in_use": 1}
    project.remove_limit(PROJECT, "volumes")
    assert {q.resource for q in local_store.get_quotas(PROJECT)} == {"snapshots"}
    project.remove_limit(PROJECT)
    assert local_store.get_quotas() == []
    vol.delete()


def test_projects_are_separate(project, backend, local_store):
    project.set_limit(PROJECT, "volumes", 1)
    backend.create_volume(1)
    volumelib.setup(persistence_config={"storage": local_store}, project_id="proj-b")
    backend.create_volume(1)  # no limit for proj-b
    backend.create_volume(1)
    assert project.get(PROJECT)["volumes"] == {"limit": 1, "in_use": 1}
    assert project.get("proj-b")["volumes"] == {"limit": -1, "in_use": 2}


# -- group operations ------------------------------------------------------------------------

def _usage(project):
    return {r: v["in_use"] for r, v in project.get(PROJECT).items()}


def test_group_snapshot_reserves_and_gives_back_snapshots(project, backend, local_store):
    vols = [backend.create_volume(1) for _ in range(3)]
    group = backend.create_group(volumes=vols)
    project.set_limit(PROJECT, "snapshots", 4)
    gs = group.create_snapshot()
    assert _usage(project)["snapshots"] == 3
    # A second group snapshot needs 3 more: refused whole, nothing stored.
    with pytest.raises(exc.QuotaExceeded) as info:
        group.create_snapshot(name="too-many")
    assert (info.value.resource, info.value.in_use, info.value.requested,
            info.value.limit) == ("snapshots", 3, 3, 4)
    assert [g.id for g in local_store.get_group_snapshots()] == [gs.id]
    assert len(local_store.get_snapshots()) == 3
    assert _usage(project)["snapshots"] == 3
    gs.delete()
    assert _usage(project)["snapshots"] == 0
    group.create_snapshot(name="fits-again")
    assert project.sync(PROJECT)["snapshots"] == {"limit": 4, "in_use": 3}


def test_group_from_source_reserves_volumes_and_gigabytes(project, backend, local_store):
    vols = [backend.create_volume(2) for _ in range(2)]
    group = backend.create_group(volumes=vols)
    gs = group.create_snapshot()
    project.set_limit(PROJECT, "volumes", 6)
    project.set_limit(PROJECT, "gigabytes", 8)
    from_snap = backend.create_group_from_src(group_snapshot=gs)
    assert _usage(project)["volumes"] == 4 and _usage(project)["gigabytes"] == 8
    before = (len(local_store.get_volumes()), len(local_store.get_groups()))
    with pytest.raises(exc.QuotaExceeded) as info:  # 2 more volumes fit, 4 GiB do not
        backend.create_group_from_src(source_group=group)
    assert (info.value.resource, info.value.in_use, info.value.requested) == \
        ("gigabytes", 8, 4)
    assert (len(local_store.get_volumes()), len(local_store.get_groups())) == before
    assert _usage(project)["volumes"] == 4  # the volumes taken first were given back
    from_snap.delete(delete_volumes=True)
    assert _usage(project)["volumes"] == 2 and _usage(project)["gigabytes"] == 4
    clone = backend.create_group_from_src(source_group=group)
    assert _usage(project) == {"volumes": 4, "gigabytes": 8, "snapshots": 2}
    assert project.sync(PROJECT)["gigabytes"] == {"limit": 8, "in_use": 8}
    clone.delete(delete_volumes=True)


# -- real processes racing -------------------------------------------------------------------

def test_create_race_never_passes_the_limit(children, store, pool):
    volumelib.quotas(store).set_limit(PROJECT, "volumes", 3)
    outs = children.race(["result = backend.create_volume(1).id"] * 6, root=pool,
                         project=PROJECT)
    assert errors(outs) == ["QuotaExceeded"] * 3 + ["ok"] * 3, outs
    assert len(store.get_volumes()) == 3
    assert volumelib.quotas(store).get(PROJECT)["volumes"] == {"limit": 3, "in_use": 3}


def test_extend_race_never_passes_the_gigabytes_limit(children, store, pool):
    quotas = volumelib.quotas(store)
    ids = children.run("result = [backend.create_volume(1).id for _ in range(4)]",
                       root=pool, project=PROJECT)["ok"]
    quotas.set_limit(PROJECT, "gigabytes", 10)  # 4 in use: room for 6 more
    outs = children.race([f"result = backend.get_volume({i!r}).extend(4)" for i in ids],
                         root=pool, project=PROJECT)
    assert errors(outs) == ["QuotaExceeded"] * 2 + ["ok"] * 2, outs
    sizes = sorted(v.size for v in store.get_volumes())
    assert sizes == [1, 1, 4, 4]
    assert quotas.get(PROJECT)["gigabytes"] == {"limit": 10, "in_use": 10}
