"""Crash consistency: SIGKILL a real process between "intent stored" and "driver done".

A child process runs one operation with the file driver on a SQLite file and kills
itself with SIGKILL at a named checkpoint (``VOLUMELIB_CRASH_AT``). A fresh process
then reads the store (the intent must be visible), runs ``gc()``, and the test
checks that records and volume files agree and that untouched data is intact.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

CHILD = textwrap.dedent("""
    import json, os, sys
    import volumelib
    from volumelib import core
    db, root, op, arg = sys.argv[1:5]
    volumelib.setup(persistence_config={"storage": "dbms", "connection": f"sqlite:///{db}"})
    backend = volumelib.Backend("crash", "file", file_root=root)
    core.crash_at_from_env()
    if op == "create":
        backend.create_volume(1, name="victim")
    elif op == "snapshot":
        backend.get_volume(arg).create_snapshot(name="victim-snap")
    elif op == "clone":
        backend.get_volume(arg).clone(name="victim-clone")
    elif op == "delete":
        backend.get_volume(arg).delete()
    elif op == "extend":
        backend.get_volume(arg).extend(2)
    print(json.dumps({"survived": True}))
""")

INSPECT = textwrap.dedent("""
    import json, os, sys
    import volumelib
    db, root, do_gc = sys.argv[1:4]
    volumelib.setup(persistence_config={"storage": "dbms", "connection": f"sqlite:///{db}"})
    backend = volumelib.Backend("crash", "file", file_root=root)
    report = backend.gc(older_than=0) if do_gc == "gc" else None
    vols = {v.id: {"status": v.status, "size": v.size, "name": v.name}
            for v in backend.volumes}
    snaps = {s.id: s.status for s in backend.persistence.get_snapshots()}
    files = sorted(os.listdir(os.path.join(root, "volumes")))
    snap_files = sorted(os.listdir(os.path.join(root, "snapshots")))
    print(json.dumps({"volumes": vols, "snapshots": snaps, "files": files,
                      "snap_files": snap_files, "report": report}))
""")


def _run(script: str, *args: str, crash_at: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("VOLUMELIB_CRASH_AT", None)
    if crash_at:
        env["VOLUMELIB_CRASH_AT"] = crash_at
    return subprocess.run([sys.executable, "-c", script, *args], env=env, text=True,
                          capture_output=True, timeout=120)


def _inspect(db: str, root: str, gc: bool) -> dict:
    proc = _run(INSPECT, db, root, "gc" if gc else "look")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture
def env(tmp_path):
    db = str(tmp_path / "crash.sqlite")
    root = str(tmp_path / "root")
    proc = _run(CHILD, db, root, "create", "")  # a survivor with known data
    assert proc.returncode == 0, proc.stderr
    state = _inspect(db, root, gc=False)
    [keeper] = state["volumes"]
    path = os.path.join(root, "volumes", f"volume-{keeper}")
    with open(path, "r+b") as f:
        f.seek(4096)
        f.write(b"untouched" * 100)
    return db, root, keeper, path


def _assert_agree(state: dict, root: str) -> None:
    """Every record in a final state has its file and every file has a record."""
    recorded = {f"volume-{vid}" for vid in state["volumes"]}
    assert set(state["files"]) == recorded, state
    assert all(v["status"] in ("available", "in-use", "error") for v in state["volumes"].values())
    assert set(state["snap_files"]) == {f"snapshot-{sid}" for sid in state["snapshots"]}


@pytest.mark.parametrize("op, crash_at, intent_status", [
    ("create", "volume.create.intent_stored", "creating"),
    ("create", "volume.create.driver_done", "creating"),
    ("clone", "volume.create.intent_stored", "creating"),
    ("clone", "volume.create.driver_done", "creating"),
    ("delete", "volume.delete.intent_stored", "deleting"),
    ("delete", "volume.delete.driver_done", "deleting"),
    ("extend", "volume.extend.intent_stored", "extending"),
    ("snapshot", "snapshot.create.intent_stored", "creating"),
    ("snapshot", "snapshot.create.driver_done", "creating"),
])
def test_sigkill_between_intent_and_outcome(env, op, crash_at, intent_status):
    db, root, keeper, keeper_path = env
    arg = keeper
    if op == "delete":
        victim = _run(CHILD, db, root, "create", "")
        assert victim.returncode == 0, victim.stderr
        arg = next(v for v in _inspect(db, root, gc=False)["volumes"] if v != keeper)
    proc = _run(CHILD, db, root, op, arg, crash_at=crash_at)
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, proc.stderr)

    before = _inspect(db, root, gc=False)
    statuses = list(before["volumes"].values()) + [{"status": s}
                                                   for s in before["snapshots"].values()]
    assert intent_status in [s["status"] for s in statuses], before

    after = _inspect(db, root, gc=True)
    assert after["report"]["actions"], after
    _assert_agree(after, root)
    assert keeper in after["volumes"] and after["volumes"][keeper]["status"] == "available"
    with open(keeper_path, "rb") as f:
        f.seek(4096)
        assert f.read(900) == b"untouched" * 100
    if op == "delete":
        assert arg not in after["volumes"]
    if op == "extend":
        assert after["volumes"][keeper]["size"] == 1
