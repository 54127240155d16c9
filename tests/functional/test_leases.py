"""Leases across real processes, on a SQLite file and on a real PostgreSQL.

Every race here is between separate Python processes started with ``subprocess``
(not threads): each opens the store itself, signals that it is ready, and all start
at once when the test creates a "go" file. Expiry is driven by giving a process a
clock set ahead (``clock_offset``) instead of sleeping.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

import volumelib
from tests.functional.dbfixtures import pg_server, pg_url, sqlite_url  # noqa: F401
from volumelib.control.leases import LeaseManager
from volumelib.persistence.dbms.store import DBPersistence

CHILD = textwrap.dedent("""
    import datetime, json, os, sys, time
    import volumelib
    from volumelib import checkpoints
    from volumelib import exceptions as exc
    from volumelib.control.leases import LeaseManager
    from volumelib.versioned import utcnow
    spec = json.loads(sys.argv[1])
    volumelib.setup(persistence_config={"storage": "dbms", "connection": spec["url"]},
                    project_id=spec.get("project"), **spec.get("setup", {}))
    backend = (volumelib.Backend("race", "file", file_root=spec["root"])
               if spec.get("root") else None)
    offset = datetime.timedelta(seconds=spec.get("clock_offset", 0))
    leases = LeaseManager(holder=spec.get("holder"), clock=lambda: utcnow() + offset)
    if spec.get("pause_at"):
        def _pause(name):
            if name == spec["pause_at"]:
                open(spec["paused"], "w").close()
                while not os.path.exists(spec["resume"]):
                    time.sleep(0.01)
        checkpoints.set_checkpoint_hook(_pause)
    if spec.get("crash_at"):
        os.environ["VOLUMELIB_CRASH_AT"] = spec["crash_at"]
        checkpoints.crash_at_from_env()
    if spec.get("go"):
        open(spec["ready"], "w").close()
        while not os.path.exists(spec["go"]):
            time.sleep(0.002)
    ns = {"volumelib": volumelib, "exc": exc, "backend": backend, "leases": leases,
          "spec": spec, "store": volumelib.get_persistence()}
    try:
        exec(spec["code"], ns)
        out = {"ok": ns.get("result")}
    except exc.VolumelibError as e:
        out = {"error": type(e).__name__, "message": str(e), "retryable": e.retryable}
    print(json.dumps(out, default=str), flush=True)
    if spec.get("no_cleanup"):
        os._exit(0)  # like a crash: no release, no close
""")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def url(request: pytest.FixtureRequest) -> str:
    """A fresh database shared by the processes of one test: SQLite file, PostgreSQL."""
    return request.getfixturevalue({"sqlite": "sqlite_url", "postgresql": "pg_url"}
                                   [request.param])


class Children:
    """Start child processes running ``code`` against one store; collect their JSON."""

    def __init__(self, url: str, tmp: Path) -> None:
        self.url = url
        self.tmp = tmp
        self._n = 0

    def spec(self, code: str, **extra: Any) -> dict[str, Any]:
        return {"url": self.url, "code": textwrap.dedent(code), **extra}

    def start(self, code: str, **extra: Any) -> subprocess.Popen:
        spec = self.spec(code, **extra)
        return subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(spec)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def run(self, code: str, **extra: Any) -> dict[str, Any]:
        [out] = self.finish([self.start(code, **extra)])
        return out

    @staticmethod
    def finish(procs: list[subprocess.Popen], check: bool = True) -> list[dict[str, Any]]:
        outs = []
        try:
            for p in procs:
                stdout, stderr = p.communicate(timeout=180)
                if check:
                    assert p.returncode == 0, stderr
                    outs.append(json.loads(stdout.strip().splitlines()[-1]))
                else:
                    outs.append({"returncode": p.returncode, "stdout": stdout})
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        return outs

    def race(self, codes: list[str], **extra: Any) -> list[dict[str, Any]]:
        """Run each code in its own process; all start at the same moment."""
        self._n += 1
        go = self.tmp / f"go-{self._n}"
        procs = []
        readies = []
        try:
            for i, code in enumerate(codes):
                ready = self.tmp / f"ready-{self._n}-{i}"
                readies.append(ready)
                procs.append(self.start(code, go=str(go), ready=str(ready), index=i,
                                        **extra))
            deadline = time.monotonic() + 180
            while not all(r.exists() for r in readies):
                dead = [p for p in procs if p.poll() is not None]
                assert not dead, [p.communicate() for p in dead]
                assert time.monotonic() < deadline, "children did not get ready"
                time.sleep(0.01)
            go.touch()
        except BaseException:
            for p in procs:
                p.kill()
                p.wait()
            raise
        return self.finish(procs)


@pytest.fixture
def children(url: str, tmp_path: Path) -> Children:
    DBPersistence(url).close()  # create the schema once, before the racers
    return Children(url, tmp_path)


@pytest.fixture
def store(url: str):
    s = DBPersistence(url)
    yield s
    s.close()


def errors(outs: list[dict[str, Any]]) -> list[str]:
    return sorted(o.get("error", "ok") for o in outs)


# -- the lease API ----------------------------------------------------------------------

def test_acquire_race_has_exactly_one_winner(children, store):
    for round_ in range(2):
        rid = f"res-{round_}"
        outs = children.race([f"result = leases.acquire({rid!r}, ttl=60, "
                              f"holder='p{i}').holder" for i in range(5)])
        winners = [o["ok"] for o in outs if "ok" in o]
        assert len(winners) == 1, outs
        assert errors(outs) == ["LeaseHeld"] * 4 + ["ok"]
        assert all(o["retryable"] for o in outs if "error" in o)
        [row] = store.get_leases(resource_id=rid)
        assert row.holder == winners[0] and row.expired_count == 0


def test_expiry_is_implicit_and_takeover_races_have_one_winner(children, store):
    first = children.run("result = leases.acquire('job', ttl=5, holder='crashed').holder",
                         no_cleanup=True)
    assert first == {"ok": "crashed"}
    # still held for a process on time
    assert children.run("result = leases.acquire('job', ttl=5, holder='early').holder"
                        )["error"] == "LeaseHeld"
    # six processes whose clock is past the ttl race to take it over
    outs = children.race(["l = leases.acquire('job', ttl=60, holder=f\"t{spec['index']}\")\n"
                          "result = [l.holder, l.expired_count]"] * 6, clock_offset=10)
    won = [o["ok"] for o in outs if "ok" in o]
    assert len(won) == 1 and won[0][1] == 1, outs  # one expiry, counted once
    [row] = store.get_leases(resource_id="job")
    assert (row.holder, row.expired_count) == (won[0][0], 1)
    # the crashed holder coming back finds someone else's lease, changes nothing
    out = children.run("leases.release('job', holder='crashed')", clock_offset=10)
    assert out["error"] == "LeaseHeld"
    assert store.get_leases(resource_id="job")[0].holder == won[0][0]


def test_renew_release_and_distinct_errors_across_processes(children, store):
    assert "ok" in children.run("leases.acquire('r', ttl=30, holder='a')")
    assert "ok" in children.run("result = str(leases.renew('r', holder='a').expires_at)")
    assert children.run("leases.renew('r', holder='a')",
                        clock_offset=60)["error"] == "LeaseExpired"
    assert children.run("leases.release('r', holder='b')")["error"] == "LeaseHeld"
    assert children.run("leases.release('nothing', holder='a')")["error"] == "NotLeased"
    assert "ok" in children.run("leases.release('r', holder='a')")
    assert store.get_leases() == []


def test_grace_keeps_an_expired_lease_until_gc_may_drop_it(children, store):
    children.run("leases.acquire('tmp-vol', ttl=2, grace=3600, holder='worker')",
                 no_cleanup=True)
    in_grace = children.run("""
        lease = leases.get('tmp-vol', include_expired=True)
        result = [leases.get('tmp-vol') is None, lease.in_grace(leases.now()),
                  leases.expire()["expired"]]
    """, clock_offset=60)
    assert in_grace == {"ok": [True, True, []]}
    assert store.get_leases("tmp-vol")[0].holder == "worker"  # kept alive
    past_grace = children.run("result = leases.expire()['expired']", clock_offset=4000)
    assert past_grace == {"ok": ["tmp-vol"]}
    [row] = store.get_leases("tmp-vol")
    assert (row.holder, row.expired_count) == (None, 1)


def test_retry_budget_moves_the_volume_to_error(children, store, tmp_path):
    root = str(tmp_path / "pool")
    os.mkdir(root)
    vol_id = children.run("result = backend.create_volume(1, name='flaky').id",
                          root=root)["ok"]
    # three workers in turn lease the volume and die without releasing it; each sees
    # the previous one's lease expired (its clock is later)
    for i in range(3):
        out = children.run(f"v = backend.get_volume({vol_id!r})\n"
                           f"result = leases.acquire(v, ttl=5, holder='w{i}').expired_count",
                           root=root, clock_offset=10 * i, setup={"lease_retry_budget": 3},
                           no_cleanup=True)
        assert out == {"ok": i}, out
    [vol] = store.get_volumes(volume_id=vol_id)
    assert vol.status == "available"
    out = children.run(f"v = backend.get_volume({vol_id!r})\n"
                       f"result = leases.acquire(v, ttl=5, holder='w3').expired_count",
                       root=root, clock_offset=30, setup={"lease_retry_budget": 3})
    assert out == {"ok": 0}  # the third expiry exhausted the budget; the count restarts
    [vol] = store.get_volumes(volume_id=vol_id)
    assert vol.status == "error"


# -- library operations on one volume ------------------------------------------------------

OPS = {
    "delete": "backend.get_volume(spec['vol']).delete()",
    "extend": "result = backend.get_volume(spec['vol']).extend(3)",
    "snapshot": "result = backend.get_volume(spec['vol']).create_snapshot().id",
    "clone": "result = backend.get_volume(spec['vol']).clone().id",
    "revert": ("v = backend.get_volume(spec['vol'])\n"
               "v.revert_to_snapshot(v.snapshots[0].id)"),
}


@pytest.fixture
def pool(tmp_path: Path) -> str:
    root = tmp_path / "pool"
    root.mkdir()
    return str(root)


def _state(store: Any, root: str) -> dict[str, Any]:
    vols = {v.id: (v.status, v.size) for v in store.get_volumes()}
    files = sorted(os.listdir(os.path.join(root, "volumes")))
    return {"volumes": vols, "snapshots": sorted(s.id for s in store.get_snapshots()),
            "files": files}


def test_operations_on_a_busy_volume_get_resource_busy(children, store, pool, tmp_path):
    """One process is in the middle of an extend (paused after storing its intent);
    delete, extend, snapshot and clone from four other processes at once all get
    ResourceBusy and change nothing; then the extend finishes."""
    vol_id = children.run("result = backend.create_volume(1, name='shared').id",
                          root=pool)["ok"]
    paused, resume = tmp_path / "paused", tmp_path / "resume"
    extender = children.start(OPS["extend"], root=pool, vol=vol_id,
                              pause_at="volume.extend.intent_stored", paused=str(paused),
                              resume=str(resume))
    try:
        deadline = time.monotonic() + 120
        while not paused.exists():
            assert extender.poll() is None, extender.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.01)
        [before] = store.get_volumes(volume_id=vol_id)
        assert before.status == "extending"
        outs = children.race([OPS[op] for op in ("delete", "extend", "snapshot", "clone")],
                             root=pool, vol=vol_id)
        assert errors(outs) == ["ResourceBusy"] * 4, outs
        assert all(o["retryable"] and "extend" in o["message"] for o in outs)
        [after] = store.get_volumes(volume_id=vol_id)
        assert after._db_version == before._db_version  # nothing written
        assert len(store.get_volumes()) == 1 and store.get_snapshots() == []
    finally:
        resume.touch()
    [out] = Children.finish([extender])
    assert out == {"ok": 3 * 1024 ** 3}
    [vol] = store.get_volumes(volume_id=vol_id)
    assert (vol.status, vol.size) == ("available", 3)
    assert store.get_leases() == []


@pytest.mark.parametrize("mix", [
    ("delete",) * 5,
    ("extend", "extend", "snapshot", "snapshot", "clone", "delete"),
])
def test_free_for_all_races_leave_a_consistent_state(children, store, pool, mix):
    vol_id = children.run("result = backend.create_volume(1, name='contested').id",
                          root=pool)["ok"]
    outs = children.race([OPS[op] for op in mix], root=pool, vol=vol_id)
    results = dict(zip(range(len(mix)), outs))
    # only these outcomes: success, busy, or (after another process deleted or
    # changed it) not found / invalid state / has snapshots; never a lost update
    allowed = {"ok", "ResourceBusy", "VolumeNotFound", "InvalidState", "HasSnapshots",
               "InvalidSize"}
    assert set(errors(outs)) <= allowed, outs
    assert "ConcurrentModification" not in json.dumps(outs)
    assert any("ok" in o for o in outs)
    state = _state(store, pool)
    snaps = {s.id for s in store.get_snapshots()}
    ok_snaps = {o["ok"] for op, o in zip(mix, outs) if op == "snapshot" and "ok" in o}
    assert snaps == ok_snaps
    ok_clones = {o["ok"] for op, o in zip(mix, outs) if op == "clone" and "ok" in o}
    live = set(state["volumes"])
    deleted = any(op == "delete" and "ok" in o for op, o in zip(mix, outs))
    assert live == ok_clones | (set() if deleted else {vol_id}), results
    assert {f.removeprefix("volume-") for f in state["files"]} == live  # files agree
    if not deleted:
        extended = any(op == "extend" and "ok" in o for op, o in zip(mix, outs))
        assert state["volumes"][vol_id] == ("available", 3 if extended else 1)
    assert all(row.holder is None for row in store.get_leases())


def test_a_crashed_operation_blocks_until_gc_takes_its_lease_over(children, store, pool):
    vol_id = children.run("result = backend.create_volume(1, name='victim').id",
                          root=pool)["ok"]
    [crashed] = Children.finish([children.start(OPS["extend"], root=pool, vol=vol_id,
                                                crash_at="volume.extend.intent_stored")],
                                check=False)
    assert crashed["returncode"] == -9
    [row] = store.get_leases(resource_id=vol_id)
    assert row.operation == "extend"
    # the crashed process's lease still stands (its ttl has not run out)
    assert children.run(OPS["delete"], root=pool, vol=vol_id)["error"] == "ResourceBusy"
    report = children.run("result = backend.gc(older_than=0)", root=pool)["ok"]
    assert {"kind": "volume", "id": vol_id, "action": "back to previous status"} \
        in report["actions"]
    assert "ok" in children.run(OPS["delete"], root=pool, vol=vol_id)
    assert store.get_volumes() == []


def test_gc_from_several_processes_at_once(children, store, pool):
    ids = children.run("result = [backend.create_volume(1).id for _ in range(4)]",
                       root=pool)["ok"]
    for vol in store.get_volumes():
        vol.status = "deleting"
        store.set_volume(vol)
    outs = children.race(["result = backend.gc(older_than=0)"] * 4, root=pool)
    reports = [o["ok"] for o in outs]
    acted = [a["id"] for r in reports for a in r["actions"]]
    assert sorted(acted) == sorted(ids)  # each volume finished once, by one of them
    busy = [r for r in reports if "busy" in r]
    assert all(r["actions"] == [] for r in busy)  # a busy gc did nothing
    assert store.get_volumes() == []
    assert os.listdir(os.path.join(pool, "volumes")) == []


def test_user_lease_from_another_process_blocks_library_operations(children, store, pool):
    vol_id = children.run("result = backend.create_volume(1, name='reserved').id",
                          root=pool)["ok"]
    mine = LeaseManager(store, holder="maintenance")
    mine.acquire(vol_id, ttl=300, operation="backup")
    out = children.run(OPS["extend"], root=pool, vol=vol_id)
    assert out["error"] == "ResourceBusy" and "backup" in out["message"]
    # the same holder in another process operates under its lease
    out = children.run("with leases.as_holder('maintenance'):\n"
                       "    result = backend.get_volume(spec['vol']).extend(2)",
                       root=pool, vol=vol_id)
    assert out == {"ok": 2 * 1024 ** 3}
    mine.release(vol_id)
    assert volumelib.Lease  # exported
