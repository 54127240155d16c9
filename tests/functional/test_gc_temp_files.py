"""A copy killed half-way leaves a ``.tmp-*`` file; ``gc()`` in a fresh process
removes and reports it, and never touches the temp file of a copy still running in
another process (issue 15, finding 5).

Everything is real: the ``file`` backend on the root filesystem's ext4 (no reflink, so
snapshots and clones are data copies), a SQLite store, and child processes doing a
snapshot or a clone through the public API. One is SIGKILLed inside the copy loop (the
``file.copy.partial`` checkpoint, after the first 16 MiB chunk of a 24 MiB extent: the
temp file holds part of the data); another is paused at the same point by a
checkpoint hook and goes on when the test says so. ``gc`` runs in fresh processes.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import select
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest

import volumelib

MiB = 1024 ** 2
DATA = bytes(range(256)) * (24 * MiB // 256)   # one 24 MiB extent at offset 0...
MARK_AT = 512 * MiB                            # ...and a second one far away
MARK = b"second-extent" * 300

CHILD = textwrap.dedent("""
    import json, sys
    import volumelib
    from volumelib import checkpoints
    url, root, op, source_id, mode = sys.argv[1:6]
    volumelib.setup(persistence_config={"storage": "dbms", "connection": url})
    backend = volumelib.Backend("tmpgc", "file", file_root=root)
    if mode == "crash":
        checkpoints.crash_at_from_env()
    else:  # pause once inside the copy loop until the test writes a line
        paused = []

        def hook(name):
            if name == "file.copy.partial" and not paused:
                paused.append(name)
                print("paused", flush=True)
                sys.stdin.readline()

        checkpoints.set_checkpoint_hook(hook)
    vol = backend.get_volume(source_id)
    new = vol.create_snapshot(name="copy") if op == "snapshot" else vol.clone(name="copy")
    print(json.dumps({"id": new.id, "status": new.status}), flush=True)
""")

GC = textwrap.dedent("""
    import json, sys, time
    import volumelib
    from volumelib.drivers.file.driver import TMP_MAX_AGE
    url, root, older_than, dry_run, later = sys.argv[1:6]
    volumelib.setup(persistence_config={"storage": "dbms", "connection": url})
    backend = volumelib.Backend("tmpgc", "file", file_root=root)
    store = backend.persistence

    def records():
        return {"volumes": {v.id: v.status for v in backend.volumes},
                "snapshots": {s.id: s.status for s in store.get_snapshots()}}

    before = records()
    if later == "1":  # the driver's clock two hours ahead: age cannot save a temp file
        backend.driver.clock = lambda: time.time() + 2 * TMP_MAX_AGE
    report = backend.gc(older_than=float(older_than), dry_run=dry_run == "1")
    print(json.dumps({"before": before, "report": report, "after": records()},
                     default=str))
""")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("VOLUMELIB_CRASH_AT", None)
    return env


def run_gc(world: dict[str, Any], *, older_than: float = 0, dry_run: bool = False,
           later: bool = False) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-c", GC, world["url"], world["root"],
                           str(older_than), str(int(dry_run)), str(int(later))],
                          env=_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def crash_copy(world: dict[str, Any], op: str, source_id: str) -> None:
    env = dict(_env(), VOLUMELIB_CRASH_AT="file.copy.partial")
    proc = subprocess.run([sys.executable, "-c", CHILD, world["url"], world["root"], op,
                           source_id, "crash"], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, proc.stdout, proc.stderr)


def temp_files(root: str) -> list[str]:
    found = []
    for sub in ("", "volumes", "snapshots"):
        directory = os.path.join(root, sub)
        found += [os.path.join(directory, n) for n in sorted(os.listdir(directory))
                  if n.startswith(".tmp-")]
    return found


def entries(root: str, sub: str) -> list[str]:
    return sorted(n for n in os.listdir(os.path.join(root, sub)) if not n.startswith("."))


def digest(path: str) -> tuple[str, str]:
    with open(path, "rb") as f:
        head = hashlib.sha256(f.read(len(DATA))).hexdigest()
        f.seek(MARK_AT)
        mark = hashlib.sha256(f.read(len(MARK))).hexdigest()
    return head, mark


@pytest.fixture
def world(ext4_dir: str) -> Iterator[dict[str, Any]]:
    """Two 1 GiB volumes with the same two data extents, made in this process, which
    then lets go of the store: ``victim`` (its copies get killed) and ``live`` (its
    clone runs while gc does)."""
    root = os.path.join(ext4_dir, "root")
    url = f"sqlite:///{os.path.join(ext4_dir, 'store.sqlite')}"
    volumelib.setup(persistence_config={"storage": "dbms", "connection": url})
    backend = volumelib.Backend("tmpgc", "file", file_root=root)
    try:
        assert not backend.driver.health()["reflink"], "needs a filesystem without reflink"
        ids = {}
        for name in ("victim", "live"):
            vol = backend.create_volume(1, name=name)
            with open(backend.driver.volume_path(vol.id), "r+b") as f:
                f.write(DATA)
                f.seek(MARK_AT)
                f.write(MARK)
                os.fsync(f.fileno())
            ids[name] = vol.id
        source_digest = digest(backend.driver.volume_path(ids["live"]))
    finally:
        backend.close()
        volumelib.get_persistence().close()
        volumelib.setup()
    yield {"url": url, "root": root, "ids": ids, "digest": source_digest}


@pytest.mark.parametrize("op", ["snapshot", "clone"])
def test_gc_removes_and_reports_the_temp_file_of_a_killed_copy(world: dict[str, Any],
                                                                op: str) -> None:
    root, victim = world["root"], world["ids"]["victim"]
    crash_copy(world, op, victim)

    [tmp] = temp_files(root)
    assert os.path.dirname(tmp) == os.path.join(root, "snapshots" if op == "snapshot"
                                                else "volumes")
    assert 0 < os.path.getsize(tmp) < len(DATA), "killed mid-copy: part of the data"

    out = run_gc(world)  # a fresh process, right after the crash: no waiting an hour
    kind = "snapshot" if op == "snapshot" else "volume"
    assert list(out["before"]["snapshots" if op == "snapshot" else "volumes"].values()) \
        .count("creating") == 1, out["before"]

    assert temp_files(root) == []
    reported = [o for o in out["report"]["orphans"] if tmp in o]
    assert len(reported) == 1 and reported[0].startswith("stale temporary file"), out
    assert reported[0].endswith(f": {tmp}")
    # The store is reconciled: the half-made record is rolled back, nothing else moved.
    [action] = out["report"]["actions"]
    assert (action["kind"], action["action"]) == (kind, "roll back create"), out
    assert out["after"] == {"volumes": {world["ids"]["victim"]: "available",
                                        world["ids"]["live"]: "available"},
                            "snapshots": {}}
    assert entries(root, "snapshots") == []
    assert entries(root, "volumes") == sorted(f"volume-{i}" for i in world["ids"].values())
    # A second gc finds nothing more.
    again = run_gc(world)
    assert again["report"]["orphans"] == [] and again["report"]["actions"] == []


def test_gc_keeps_the_temp_file_of_a_copy_running_elsewhere(world: dict[str, Any]) -> None:
    root, ids = world["root"], world["ids"]
    crash_copy(world, "snapshot", ids["victim"])
    [dead] = temp_files(root)

    live = subprocess.Popen([sys.executable, "-c", CHILD, world["url"], root, "clone",
                             ids["live"], "pause"], env=_env(), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([live.stdout], [], [], 120)
        assert ready and live.stdout.readline().strip() == "paused", live.poll()
        [held] = [t for t in temp_files(root) if t != dead]
        assert os.path.dirname(held) == os.path.join(root, "volumes")
        size_held = os.path.getsize(held)
        assert 0 < size_held < len(DATA)

        dry = run_gc(world, older_than=600, dry_run=True)
        assert [o for o in dry["report"]["orphans"] if ".tmp-" in o] == [
            o for o in dry["report"]["orphans"] if dead in o] != [], dry["report"]
        assert sorted(temp_files(root)) == sorted([dead, held])

        # Even with the driver's clock two hours ahead, the held one stays.
        out = run_gc(world, older_than=600, later=True)
        temps = [o for o in out["report"]["orphans"] if ".tmp-" in o]
        assert len(temps) == 1 and dead in temps[0], out["report"]
        assert temp_files(root) == [held]
        assert os.path.getsize(held) == size_held
        # What kept it is the live process's lock, which it still holds.
        fd = os.open(held, os.O_RDONLY)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)

        stdout, stderr = live.communicate("go on\n", timeout=300)
    finally:
        if live.poll() is None:
            live.kill()
            live.wait()
    assert live.returncode == 0, stderr
    clone = json.loads(stdout.strip().splitlines()[-1])
    assert clone["status"] == "available"
    assert digest(os.path.join(root, "volumes", f"volume-{clone['id']}")) == world["digest"]
    assert temp_files(root) == []

    final = run_gc(world, older_than=0)  # now the killed snapshot's record goes too
    assert final["report"]["orphans"] == []
    assert [(a["kind"], a["action"]) for a in final["report"]["actions"]] == [
        ("snapshot", "roll back create")]
    assert final["after"]["snapshots"] == {}
    assert final["after"]["volumes"] == {ids["victim"]: "available",
                                         ids["live"]: "available",
                                         clone["id"]: "available"}
