"""Crash consistency: SIGKILL a real process at named steps of real operations.

A child process runs one operation (create, clone, volume from snapshot, snapshot,
extend, revert, connect, delete, snapshot delete, group snapshot and its delete, create from image,
with and without the image-volume cache) with the ``file`` driver on a real XFS
(reflink) and kills itself with SIGKILL at a named checkpoint
(``volumelib.checkpoints.checkpoint``, chosen by ``VOLUMELIB_CRASH_AT``): not by luck, at
exactly that step. The store is a SQLite file or a PostgreSQL database.

Then a fresh process reads the store (the intent must be visible), runs ``gc()`` (with
the driver's clock an hour ahead, so temp files of the crash count as stale), and the
test checks:

* every backend object (volume and snapshot file) has a record, and no temp file
  is left;
* every record in a final state (``available``/``in-use``) has its backend object,
  of at least its size, and no record is left in a transitional state;
* nothing ``available`` is half-written: clones, volumes from snapshots, snapshots
  and image volumes hold their source's bytes;
* the untouched volume (and its snapshot) kept its data, size and status;
* what gc marked ``error`` can be deleted by a user, after which records and files
  agree exactly.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest

import volumelib
from tests.functional.dbfixtures import pg_server, pg_url  # noqa: F401 - fixtures
from tests.helpers import requires_tool

GiB = 1024 ** 3
KEEP = b"untouched" * 100          # the keeper volume's data at offset 4096
VICTIM = b"victim-data!" * 75      # each victim volume's data at offset 4096 (900 bytes)
IMAGE = b"image-bytes!" * 4096     # the image's first bytes

CHILD = textwrap.dedent("""
    import json, sys
    import volumelib
    from volumelib import checkpoints
    url, root, op, args = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
    volumelib.setup(persistence_config={"storage": "dbms", "connection": url})
    backend = volumelib.Backend("crash", "file", file_root=root)
    checkpoints.crash_at_from_env()
    vol = lambda key: backend.get_volume(args[key])
    if op == "create":
        backend.create_volume(1, name="created")
    elif op == "clone":
        vol("keeper").clone(name="clone")
    elif op == "from_snapshot":
        [snap] = backend.persistence.get_snapshots(snapshot_id=args["keeper_snap"])
        snap._bind(backend)
        snap.create_volume(name="from-snap")
    elif op == "snapshot":
        vol("keeper").create_snapshot(name="crash-snap")
    elif op == "extend":
        vol("victim").extend(2)
    elif op == "revert":
        vol("victim").revert_to_snapshot(args["victim_snap"])
    elif op == "connect":
        vol("victim").connect({"host": "crash-node"})
    elif op == "delete":
        vol("deletable").delete()
    elif op == "delete_snapshot":
        [snap] = backend.persistence.get_snapshots(snapshot_id=args["victim_snap"])
        snap._bind(backend)
        snap.delete()
    elif op == "group_snapshot":
        backend.get_group(args["group"]).create_snapshot(name="crash-gsnap")
    elif op == "delete_group_snapshot":
        backend.get_group_snapshot(args["gsnap"]).delete()
    elif op in ("image", "image_tier2"):
        backend.create_volume(1, name="from-image", image=args["image"],
                              image_volume_cache=(op == "image_tier2"))
    print(json.dumps({"survived": True}))
""")

INSPECT = textwrap.dedent("""
    import hashlib, json, os, sys, time
    import volumelib
    from volumelib.drivers.file.driver import TMP_MAX_AGE
    url, root, mode = sys.argv[1:4]
    volumelib.setup(persistence_config={"storage": "dbms", "connection": url})
    backend = volumelib.Backend("crash", "file", file_root=root)
    store = backend.persistence
    report = None
    statuses = ([v.status for v in backend.volumes]
                + [x.status for x in store.get_snapshots()]
                + [g.status for g in store.get_group_snapshots()])  # before anything
    if mode == "gc":
        # An hour later for the driver: a crash's temp files are stale by then.
        backend.driver.clock = lambda: time.time() + TMP_MAX_AGE + 1
        report = backend.gc(older_than=0)
    elif mode == "cleanup":  # what a user does with what gc marked error
        for gs in store.get_group_snapshots():
            if gs.status.startswith("error"):
                backend.get_group_snapshot(gs.id).delete()
        for s in store.get_snapshots():
            if s.status.startswith("error"):
                s._bind(backend)
                s.delete()
        for v in backend.volumes:
            if v.status.startswith("error") and not v.group_id:
                for s in v.snapshots:  # its data is unknown: snapshots go with it
                    if not s.group_snapshot_id:
                        s.delete()
                v.delete()

    def region(path, offset, length):
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read(length).hex()

    files = {}
    for sub in ("", "volumes", "snapshots"):
        for name in sorted(os.listdir(os.path.join(root, sub))):
            path = os.path.join(root, sub, name)
            if os.path.isfile(path):
                files[os.path.join(sub, name)] = {
                    "size": os.path.getsize(path), "at4096": region(path, 4096, 900),
                    "head": region(path, 0, 64)}
    print(json.dumps({
        "volumes": {v.id: {"status": v.status, "size": v.size, "name": v.name,
                           "source_volid": v.source_volid, "snapshot_id": v.snapshot_id,
                           "group_id": v.group_id} for v in backend.volumes},
        "snapshots": {s.id: {"status": s.status, "volume_id": s.volume_id,
                             "group_snapshot_id": s.group_snapshot_id}
                      for s in store.get_snapshots()},
        "group_snapshots": {g.id: g.status for g in store.get_group_snapshots()},
        "groups": {g.id: g.status for g in store.get_groups()},
        "connections": [c.id for c in store.get_connections()],
        "files": files, "report": report, "statuses_before": statuses}, default=str))
""")

FINAL = ("available", "in-use")
TRANSITIONAL = ("creating", "deleting", "extending", "attaching", "detaching", "reverting")


def _run(script: str, *args: str, crash_at: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("VOLUMELIB_CRASH_AT", None)
    if crash_at:
        env["VOLUMELIB_CRASH_AT"] = crash_at
    return subprocess.run([sys.executable, "-c", script, *args], env=env, text=True,
                          capture_output=True, timeout=300)


def _inspect(url: str, root: str, mode: str) -> dict[str, Any]:
    proc = _run(INSPECT, url, root, mode)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def store_url(request: pytest.FixtureRequest, xfs_dir: str) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{os.path.join(xfs_dir, 'crash.sqlite')}"
    return request.getfixturevalue("pg_url")


def _write(path: str, offset: int, data: bytes) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


@pytest.fixture
def world(store_url: str, xfs_dir: str) -> Iterator[dict[str, Any]]:
    """A keeper volume with data and a snapshot (never touched by the operations), four
    victim volumes with data (one with a snapshot, two in a group with a group snapshot,
    one to delete), and an image file. Made in this process, which then lets go of the store."""
    root = os.path.join(xfs_dir, "root")
    image = os.path.join(xfs_dir, "image.raw")
    with open(image, "wb") as f:
        f.write(IMAGE)
        f.truncate(16 * 1024 ** 2)
    volumelib.setup(persistence_config={"storage": "dbms", "connection": store_url})
    backend = volumelib.Backend("crash", "file", file_root=root)
    try:
        keeper = backend.create_volume(1, name="keeper")
        _write(backend.driver.volume_path(keeper.id), 4096, KEEP)
        keeper_snap = keeper.create_snapshot(name="keeper-snap")
        victims = [backend.create_volume(1, name=f"victim-{i}") for i in range(4)]
        for v in victims:
            _write(backend.driver.volume_path(v.id), 4096, VICTIM)
        victim_snap = victims[0].create_snapshot(name="victim-snap")
        group = backend.create_group("g", volumes=victims[1:3])
        gsnap = group.create_snapshot("g-snap")
        args = {"keeper": keeper.id, "keeper_snap": keeper_snap.id, "victim": victims[0].id,
                "deletable": victims[3].id,
                "victim_snap": victim_snap.id, "group": group.id, "gsnap": gsnap.id,
                "image": image}
    finally:
        backend.close()
        volumelib.get_persistence().close()
        volumelib.setup()
    yield {"url": store_url, "root": root, "args": args}


def _assert_consistent(state: dict[str, Any], args: dict[str, Any]) -> None:
    vols, snaps, files = state["volumes"], state["snapshots"], state["files"]
    assert not [f for f in files if os.path.basename(f).startswith(".tmp-")], files
    vol_files = {f.split("volume-", 1)[1]: d for f, d in files.items()
                 if f.startswith("volumes/volume-")}
    snap_files = {f.split("snapshot-", 1)[1]: d for f, d in files.items()
                  if f.startswith("snapshots/snapshot-")}
    # Every backend object has a record.
    assert set(vol_files) <= set(vols), (set(vol_files) - set(vols), state)
    assert set(snap_files) <= set(snaps), (set(snap_files) - set(snaps), state)
    # Nothing transitional is left; every final record has its object, whole.
    for vid, v in vols.items():
        assert v["status"] not in TRANSITIONAL, (vid, v)
        if v["status"] in FINAL:
            assert vid in vol_files, (vid, v, state)
            assert vol_files[vid]["size"] >= v["size"] * GiB, (vid, v, vol_files[vid])
    for sid, s in snaps.items():
        assert s["status"] not in TRANSITIONAL, (sid, s)
        if s["status"] in FINAL:
            assert sid in snap_files, (sid, s, state)
    for gid, status in {**state["groups"], **state["group_snapshots"]}.items():
        assert status not in TRANSITIONAL and status != "updating", (gid, status)
    # Nothing available is half-written.
    keep, victim = KEEP.hex(), VICTIM.hex()
    for vid, v in vols.items():
        if v["status"] not in FINAL:
            continue
        data = vol_files[vid]
        if vid == args["keeper"] or v["source_volid"] == args["keeper"] \
                or v["snapshot_id"] == args["keeper_snap"]:
            assert data["at4096"] == keep, (vid, v)
        elif v["name"] == "from-image" or (v["name"] or "").startswith("image-"):
            assert data["head"] == IMAGE[:64].hex(), (vid, v)
        elif (v["name"] or "").startswith("victim"):
            assert data["at4096"] == victim, (vid, v)
    for sid, s in snaps.items():
        if s["status"] in FINAL and sid in snap_files:
            expected = keep if s["volume_id"] == args["keeper"] else victim
            assert snap_files[sid]["at4096"] == expected, (sid, s)
    # The untouched volume and its snapshot.
    assert vols[args["keeper"]]["status"] == "available"
    assert vols[args["keeper"]]["size"] == 1
    assert vol_files[args["keeper"]]["size"] == GiB
    assert snaps[args["keeper_snap"]]["status"] == "available"


def _assert_exact(state: dict[str, Any]) -> None:
    """After the user's clean-up: records and files agree one to one."""
    vol_files = {f.split("volume-", 1)[1] for f in state["files"]
                 if f.startswith("volumes/volume-")}
    snap_files = {f.split("snapshot-", 1)[1] for f in state["files"]
                  if f.startswith("snapshots/snapshot-")}
    assert vol_files == set(state["volumes"]), state
    flat = {sid for sid, s in state["snapshots"].items() if not s["group_snapshot_id"]}
    assert snap_files <= set(state["snapshots"]) and flat <= snap_files, state
    assert all(v["status"] in FINAL for v in state["volumes"].values()), state
    assert all(s["status"] in FINAL for s in state["snapshots"].values()), state


# (operation, checkpoint, a status the store must show before gc)
CASES = [
    ("create", "volume.create.intent_stored", "creating"),
    ("create", "volume.create.driver_done", "creating"),
    ("clone", "volume.create.intent_stored", "creating"),
    ("clone", "file.copy.tmp_created", "creating"),
    ("clone", "file.copy.tmp_written", "creating"),
    ("clone", "volume.create.driver_done", "creating"),
    ("from_snapshot", "file.copy.tmp_written", "creating"),
    ("from_snapshot", "volume.create.driver_done", "creating"),
    ("snapshot", "snapshot.create.intent_stored", "creating"),
    ("snapshot", "file.copy.tmp_created", "creating"),
    ("snapshot", "file.copy.tmp_written", "creating"),
    ("snapshot", "snapshot.create.driver_done", "creating"),
    ("extend", "volume.extend.intent_stored", "extending"),
    ("extend", "file.extend.grown", "extending"),
    ("extend", "volume.extend.driver_done", "extending"),
    ("revert", "volume.revert.intent_stored", "reverting"),
    ("revert", "volume.revert.driver_done", "reverting"),
    ("connect", "connection.connect.intent_stored", "attaching"),
    ("connect", "connection.connect.driver_done", "attaching"),
    ("delete", "volume.delete.intent_stored", "deleting"),
    ("delete", "volume.delete.driver_done", "deleting"),
    ("delete_snapshot", "snapshot.delete.intent_stored", "deleting"),
    ("delete_snapshot", "snapshot.delete.driver_done", "deleting"),
    ("group_snapshot", "group_snapshot.create.intent_stored", "creating"),
    ("group_snapshot", "file.copy.tmp_written", "creating"),
    ("group_snapshot", "group_snapshot.create.member_done", "creating"),
    ("group_snapshot", "group_snapshot.create.driver_done", "creating"),
    ("delete_group_snapshot", "group_snapshot.delete.intent_stored", "deleting"),
    ("delete_group_snapshot", "group_snapshot.delete.driver_done", "deleting"),
    ("image", "volume.create.intent_stored", "creating"),
    ("image", "image.create.volume_created", "creating"),
    ("image", "image.create.written", "creating"),
    ("image", "volume.create.driver_done", "creating"),
    ("image_tier2", "volume.create.intent_stored", "creating"),
    ("image_tier2", "image.create.written", "creating"),
    ("image_tier2", "file.copy.tmp_written", "creating"),
]


@pytest.mark.parametrize("op, crash_at, intent_status", CASES,
                         ids=[f"{op}-{at}" for op, at, _ in CASES])
def test_sigkill_at_checkpoint(world: dict[str, Any], op: str, crash_at: str,
                               intent_status: str) -> None:
    if op.startswith("image"):
        requires_tool("qemu-img")
    url, root, args = world["url"], world["root"], world["args"]
    proc = _run(CHILD, url, root, op, json.dumps(args), crash_at=crash_at)
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, proc.stdout, proc.stderr)

    after = _inspect(url, root, "gc")
    # The intent was stored before the crash (a fresh process saw it before gc).
    assert intent_status in after["statuses_before"], after
    assert after["report"]["actions"], after["report"]
    _assert_consistent(after, args)
    if op == "delete":
        assert args["deletable"] not in after["volumes"]
        assert f"volumes/volume-{args['deletable']}" not in after["files"]
    if op == "delete_snapshot":
        assert args["victim_snap"] not in after["snapshots"]
    if op == "revert":  # the data is the snapshot's or the old: gc cannot tell
        assert after["volumes"][args["victim"]]["status"] == "error"
    if op == "connect":  # the half-made connection is undone
        assert after["volumes"][args["victim"]]["status"] == "available"
        assert after["connections"] == [], after["connections"]
    if op == "extend":  # the record keeps the old size; the file may have grown
        assert after["volumes"][args["victim"]]["size"] == 1
        assert after["volumes"][args["victim"]]["status"] == "available"

    cleaned = _inspect(url, root, "cleanup")
    _assert_exact(cleaned)
    _assert_consistent(cleaned, args)
    # The volume survives a retry of the operation that crashed.
    if op == "extend":
        retry = _run(CHILD, url, root, op, json.dumps(args))
        assert retry.returncode == 0, retry.stderr
        final = _inspect(url, root, "look")
        assert final["volumes"][args["victim"]]["size"] == 2
        assert final["files"][f"volumes/volume-{args['victim']}"]["size"] == 2 * GiB


@pytest.mark.parametrize("op", ["create", "clone", "snapshot", "group_snapshot", "image"])
def test_no_crash_baseline(world: dict[str, Any], op: str) -> None:
    """The same operations without a crash: they finish, gc has nothing to do, and the
    checks above hold (so they are not vacuous)."""
    if op == "image":
        requires_tool("qemu-img")
    url, root, args = world["url"], world["root"], world["args"]
    proc = _run(CHILD, url, root, op, json.dumps(args))
    assert proc.returncode == 0 and json.loads(proc.stdout) == {"survived": True}, proc.stderr
    after = _inspect(url, root, "gc")
    assert after["report"]["actions"] == [] and after["report"]["orphans"] == []
    _assert_consistent(after, args)
    _assert_exact(after)
