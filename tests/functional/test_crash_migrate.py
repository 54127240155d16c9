"""Crash consistency of migrate, manage and unmanage: SIGKILL a real process at every
named checkpoint, then ``gc()`` in a fresh process.

A child process migrates a volume holding a known pattern (or adopts a file, or
unmanages a volume) and kills itself with SIGKILL at one checkpoint
(``VOLUMELIB_CRASH_AT``). The store is a SQLite file. Four migration paths:

* ``ext4``: XFS -> ext4, the host-assisted copy (loop devices, sparse copy, verify);
* ``xfs``: XFS -> another root of the same XFS, the file driver's reflink;
* ``rbd``: XFS -> Ceph RBD, the host-assisted copy (os-brick's userspace connector);
* ``rbd2``: RBD pool -> RBD pool of the same cluster, the rbd driver's deep copy.

Then a fresh process sees the intent, runs ``gc()`` on both backends (the file
drivers' clock an hour ahead, so the crash's temporary files count as stale) and the
test checks that there is exactly one volume with the user's id, ``available``, on
the backend the crash point implies (the source before the records' switch, the
target after), holding the pattern; no storage object of it (or temporary file,
export, loop device, intent record) anywhere else; and the untouched volume as it was.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from typing import Any

import pytest

import volumelib
from tests.helpers import requires_root

pytest_plugins = ["tests.functional.ceph_fixtures"]

MiB = 1024 ** 2
GiB = 1024 ** 3
STRIDE = 128 * MiB  # 1 MiB of pattern every 128 MiB of the 1 GiB volume

CHILD = textwrap.dedent("""
    import json, sys
    import volumelib
    from volumelib import checkpoints
    url, config, op, args = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], \\
        json.loads(sys.argv[4])
    volumelib.setup(persistence_config={"storage": "dbms", "connection": url})
    backends = {name: volumelib.Backend(name, **kw) for name, kw in config.items()}
    checkpoints.crash_at_from_env()
    src = backends["src"]
    if op == "migrate":
        src.get_volume(args["volume"]).migrate(backends[args["target"]])
    elif op == "retype":
        src.get_volume(args["volume"]).retype(
            {"volume_backend_name": args["target"]}, migration_policy="on-demand")
    elif op == "manage":
        src.manage({"source-name": "legacy.raw"}, name="legacy")
    elif op == "unmanage":
        src.get_volume(args["volume"]).unmanage()
    print(json.dumps({"survived": True}))
""")

INSPECT = textwrap.dedent("""
    import faulthandler, hashlib, json, os, sys, time
    faulthandler.enable()  # a native abort (librbd) prints the Python stack on stderr
    import volumelib
    from volumelib.drivers.file import loop
    from volumelib.drivers.file.driver import TMP_MAX_AGE
    url, config, mode = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
    volumelib.setup(persistence_config={"storage": "dbms", "connection": url})
    backends = {name: volumelib.Backend(name, **kw) for name, kw in config.items()}
    store = volumelib.get_persistence()
    before = {v.id: v.status for v in store.get_volumes()}
    intents_before = sorted(kv.key for kv in store.get_key_values())
    reports, reports_again = {}, {}
    if mode == "gc":
        for name, b in backends.items():
            if b.driver.name == "file":
                b.driver.clock = lambda: time.time() + TMP_MAX_AGE + 1
        for name, b in backends.items():
            reports[name] = b.gc(older_than=0)
        again = {name: b.gc(older_than=0) for name, b in backends.items()}
        reports_again = {n: {"actions": r["actions"], "orphans": r["orphans"]}
                         for n, r in again.items()}

    def objects(b):
        if b.driver.name == "rbd":
            import rbd
            ioctx = b.driver.client.ioctx
            out = []
            for name in sorted(rbd.RBD().list(ioctx)):
                with b.driver.client.image(name, read_only=True) as image:
                    snaps = [s["name"] for s in image.list_snaps()]
                out.append(name + ("@" + ",".join(snaps) if snaps else ""))
            return out + ["trash:" + e["name"] for e in rbd.RBD().trash_list(ioctx)]
        out = []
        for directory, _, files in os.walk(b.driver.root):
            out += [os.path.relpath(os.path.join(directory, f), b.driver.root) for f in files]
        return sorted(out)

    def digest(b, vid):
        h = hashlib.sha256()
        if b.driver.name == "rbd":
            with b.driver.open_image(vid, read_only=True) as image:
                for off in range(0, image.size(), 64 << 20):
                    h.update(image.read(off, 64 << 20))
        else:
            with open(b.driver.volume_path(vid), "rb") as f:
                for chunk in iter(lambda: f.read(64 << 20), b""):
                    h.update(chunk)
        return h.hexdigest()

    vols = {}
    for v in store.get_volumes():
        b = backends.get(v.backend_name)
        vols[v.id] = {"status": v.status, "backend": v.backend_name, "name": v.name,
                      "size": v.size, "digest": digest(b, v.id) if b else None}
    files = {}
    for name, b in backends.items():
        if b.driver.name == "file":
            folder = b.driver.import_dir
            for f in (sorted(os.listdir(folder)) if os.path.isdir(folder) else []):
                with open(os.path.join(folder, f), "rb") as fh:
                    files[f] = hashlib.sha256(fh.read(8 << 20)).hexdigest()
    print(json.dumps({
        "before": before, "intents_before": intents_before, "reports": reports,
        "reports_again": reports_again,
        "volumes": vols, "objects": {n: objects(b) for n, b in backends.items()},
        "loops": {n: loop.devices_under(b.driver.root) for n, b in backends.items()
                  if b.driver.name == "file"},
        "intents": sorted(kv.key for kv in store.get_key_values()),
        "imported": files}, default=str))
""")


def block(seed: str, offset: int) -> bytes:
    return hashlib.sha256(f"{seed}:{offset}".encode()).digest() * (MiB // 32)


def expected_digest(seed: str) -> str:
    h = hashlib.sha256()
    for offset in range(0, GiB, STRIDE):
        h.update(block(seed, offset))
        h.update(bytes(STRIDE - MiB))
    return h.hexdigest()


def _run(script: str, *args: str, crash_at: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("VOLUMELIB_CRASH_AT", None)
    if crash_at:
        env["VOLUMELIB_CRASH_AT"] = crash_at
    return subprocess.run([sys.executable, "-c", script, *args], env=env, text=True,
                          capture_output=True, timeout=600)


def _inspect(setup: dict[str, Any], mode: str) -> dict[str, Any]:
    proc = _run(INSPECT, setup["url"], json.dumps(setup["config"]), mode)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


#: How long Ceph keeps the watch of a client that died with an image open
#: (``osd_client_watch_timeout``, 30 s by default), plus margin.
WATCH_EXPIRY = 60.0


def _gc_until_settled(setup: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """gc in fresh processes until nothing is skipped; returns the first run's view of
    the state before gc, the last run's state after it, and every action taken.

    A process killed while it had an RBD image open (the os-brick attach of a
    host-assisted copy) leaves its watch on the image until Ceph expires it: until
    then the image counts as in use, gc skips it (reported), and a later gc finishes.
    """
    first = after = _inspect(setup, "gc")
    acted = [a for r in after["reports"].values() for a in r["actions"]]
    deadline = time.monotonic() + WATCH_EXPIRY
    while any("is open by" in x["reason"] for r in after["reports"].values()
              for x in r["skipped"]):
        assert time.monotonic() < deadline, after["reports"]
        time.sleep(5)
        after = _inspect(setup, "gc")
        acted += [a for r in after["reports"].values() for a in r["actions"]]
    return dict(after, before=first["before"], intents_before=first["intents_before"]), acted


def _write(path: str, seed: str) -> None:
    with open(path, "r+b") as f:
        for offset in range(0, GiB, STRIDE):
            f.seek(offset)
            f.write(block(seed, offset))
        os.fsync(f.fileno())


@pytest.fixture
def setup(request: pytest.FixtureRequest, xfs_dir: str) -> Iterator[dict[str, Any]]:
    """The source (XFS) with the volume to move (pattern ``moving``), an untouched
    volume (pattern ``keeper``) and a file to adopt in its import folder; the target
    backend's configuration. Made here, then this process lets go of the store."""
    requires_root()
    target = request.param
    config: dict[str, Any] = {"src": {"volume_driver": "file",
                                      "file_root": os.path.join(xfs_dir, "src")}}
    if target == "xfs":
        config["xfs"] = {"volume_driver": "file", "file_root": os.path.join(xfs_dir, "dst")}
    elif target == "ext4":
        config["ext4"] = {"volume_driver": "file", "file_root": os.path.join(
            request.getfixturevalue("ext4_dir"), "dst")}
    elif target == "rbd":
        config["rbd"] = request.getfixturevalue("ceph_cluster").backend_config()
    elif target == "rbd2":
        cluster = request.getfixturevalue("ceph_cluster")
        config["src"] = cluster.backend_config()
        config["rbd2"] = cluster.add_pool("volumelib-crash")
    url = f"sqlite:///{os.path.join(xfs_dir, 'crash.sqlite')}"
    volumelib.setup(persistence_config={"storage": "dbms", "connection": url})
    backends = {name: volumelib.Backend(name, **kw) for name, kw in config.items()}
    src = backends["src"]
    try:
        moving = src.create_volume(1, name="moving")
        keeper = src.create_volume(1, name="keeper")
        if src.driver.name == "rbd":
            for vol, seed in ((moving, "moving"), (keeper, "keeper")):
                with src.driver.open_image(vol.id) as image:
                    for offset in range(0, GiB, STRIDE):
                        image.write(block(seed, offset), offset)
        else:
            _write(src.driver.volume_path(moving.id), "moving")
            _write(src.driver.volume_path(keeper.id), "keeper")
            os.makedirs(src.driver.import_dir)
            legacy = os.path.join(src.driver.import_dir, "legacy.raw")
            with open(legacy, "wb") as f:
                f.truncate(GiB)
            _write(legacy, "legacy")
        args = {"volume": moving.id, "keeper": keeper.id, "target": target}
    finally:
        for backend in backends.values():
            backend.close()
        volumelib.get_persistence().close()
        volumelib.setup()
    yield {"url": url, "config": config, "args": args, "target": target}
    if target in ("rbd", "rbd2"):  # the cluster outlives the test: empty its pools
        from tests.functional.ceph_fixtures import cleanup_backend
        volumelib.setup()
        for name in {"src", "rbd", "rbd2"} & set(config):
            if config[name]["volume_driver"] == "rbd":
                backend = volumelib.Backend(f"cleanup-{name}", **config[name])
                cleanup_backend(backend)
                backend.close()


HOST = ["intent_stored", "target_created", "attached", "copied", "verified", "detached",
        "swapped", "source_deleted", "settled"]
NATIVE = ["intent_stored", "copied", "swapped", "source_deleted", "settled"]
CASES = ([("ext4", f"volume.migrate.{c}") for c in HOST]
         + [("xfs", f"volume.migrate.{c}") for c in NATIVE]
         + [("xfs", "file.copy.tmp_created"), ("xfs", "file.copy.tmp_written")]
         + [("rbd", f"volume.migrate.{c}") for c in HOST]
         + [("rbd2", f"volume.migrate.{c}") for c in NATIVE])
AFTER_SWITCH = ("volume.migrate.swapped", "volume.migrate.source_deleted",
                "volume.migrate.settled")


def _check_one_volume_home(after: dict[str, Any], args: dict[str, Any], home: str,
                           other: str) -> None:
    vols = after["volumes"]
    assert sorted(vols) == sorted([args["volume"], args["keeper"]]), vols
    moved, keeper = vols[args["volume"]], vols[args["keeper"]]
    assert (moved["status"], moved["backend"], moved["size"]) == ("available", home, 1), moved
    assert moved["digest"] == expected_digest("moving"), "the data is not the user's"
    assert (keeper["status"], keeper["backend"]) == ("available", "src")
    assert keeper["digest"] == expected_digest("keeper")
    objects = after["objects"]
    for name in (home, other):
        ours = [o for o in objects[name] if args["volume"] in o]
        if name == home:
            assert len(ours) == 1, (name, objects[name])
        else:
            assert ours == [], (name, objects[name])
        strays = [o for o in objects[name] if args["volume"] not in o
                  and args["keeper"] not in o and not o.startswith("import/")]
        assert strays == [], (name, objects[name])
    assert all(not devices for devices in after["loops"].values()), after["loops"]
    assert after["intents"] == []


@pytest.mark.parametrize("setup, crash_at", CASES, indirect=["setup"],
                         ids=[f"{t}-{c}" for t, c in CASES])
def test_sigkill_during_migration(setup: dict[str, Any], crash_at: str) -> None:
    args, target = setup["args"], setup["target"]
    proc = _run(CHILD, setup["url"], json.dumps(setup["config"]), "migrate",
                json.dumps(args), crash_at=crash_at)
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, proc.stdout, proc.stderr)
    after, acted = _gc_until_settled(setup)
    # The intent was stored before the crash (a fresh process saw it before gc).
    if crash_at == "volume.migrate.settled":
        assert after["intents_before"] == [f"volumelib.migration:{args['volume']}"]
    else:
        assert after["before"][args["volume"]] == "migrating", after["before"]
    assert any(a["id"] == args["volume"] for a in acted), after["reports"]
    home, other = (target, "src") if crash_at in AFTER_SWITCH else ("src", target)
    _check_one_volume_home(after, args, home, other)
    # gc once more: nothing left to do.
    assert all(r["actions"] == [] and r["orphans"] == []
               for r in after["reports_again"].values()), after["reports_again"]


@pytest.mark.parametrize("setup", ["ext4", "xfs", "rbd", "rbd2"], indirect=True)
def test_migration_without_crash_baseline(setup: dict[str, Any]) -> None:
    """The same migrations, not interrupted: the checks above hold with the volume on
    the target (so they are not vacuous), and gc has nothing to do."""
    args, target = setup["args"], setup["target"]
    proc = _run(CHILD, setup["url"], json.dumps(setup["config"]), "migrate", json.dumps(args))
    assert proc.returncode == 0, proc.stderr
    after = _inspect(setup, "gc")
    assert all(r["actions"] == [] and r["orphans"] == [] for r in after["reports"].values())
    _check_one_volume_home(after, args, target, "src")


@pytest.mark.parametrize("setup", ["ext4"], indirect=True)
@pytest.mark.parametrize("crash_at", ["volume.migrate.intent_stored", "volume.migrate.copied",
                                      "volume.migrate.swapped"])
def test_sigkill_during_retype_that_migrates(setup: dict[str, Any], crash_at: str) -> None:
    """A retype that migrates stores the new type with the switch: before it the volume
    keeps its old type on the source, after it has the new one on the target."""
    args = setup["args"]
    proc = _run(CHILD, setup["url"], json.dumps(setup["config"]), "retype",
                json.dumps(args), crash_at=crash_at)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    after = _inspect(setup, "gc")
    switched = crash_at == "volume.migrate.swapped"
    _check_one_volume_home(after, args, "ext4" if switched else "src",
                           "src" if switched else "ext4")
    volumelib.setup(persistence_config={"storage": "dbms", "connection": setup["url"]})
    try:
        [vol] = volumelib.get_persistence().get_volumes(volume_id=args["volume"])
        assert vol.volume_type == ({"volume_backend_name": "ext4"} if switched else {})
    finally:
        volumelib.get_persistence().close()
        volumelib.setup()


MANAGE_CASES = [("manage", "volume.manage.intent_stored"),
                ("manage", "volume.manage.driver_done"),
                ("unmanage", "volume.unmanage.intent_stored"),
                ("unmanage", "volume.unmanage.driver_done")]


@pytest.mark.parametrize("setup", ["xfs"], indirect=True)
@pytest.mark.parametrize("op, crash_at", MANAGE_CASES, ids=[c for _, c in MANAGE_CASES])
def test_sigkill_during_manage_and_unmanage(setup: dict[str, Any], op: str,
                                            crash_at: str) -> None:
    """gc finishes both: the adopted file is a volume with its data; the unmanaged
    volume's record is gone and its file is in the import folder. Never lost, never
    deleted, never an orphan."""
    args = setup["args"]
    proc = _run(CHILD, setup["url"], json.dumps(setup["config"]), op, json.dumps(args),
                crash_at=crash_at)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    after = _inspect(setup, "gc")
    vols = after["volumes"]
    legacy = hashlib.sha256(block("legacy", 0) + bytes(7 * MiB)).hexdigest()
    if op == "manage":
        assert "managing" in after["before"].values(), after["before"]
        [adopted] = [v for v in vols.values() if v["name"] == "legacy"]
        assert (adopted["status"], adopted["size"]) == ("available", 1)
        assert adopted["digest"] == expected_digest("legacy")
        assert after["imported"] == {}
    else:
        assert after["before"][args["volume"]] == "unmanaging"
        assert args["volume"] not in vols
        assert after["imported"][f"volume-{args['volume']}"] == hashlib.sha256(
            block("moving", 0) + bytes(7 * MiB)).hexdigest()
        assert after["imported"]["legacy.raw"] == legacy
    src_objects = after["objects"]["src"]
    assert not [o for o in src_objects if ".tmp-" in o], src_objects
    known = {f"volumes/volume-{vid}" for vid in vols}
    assert {o for o in src_objects if o.startswith("volumes/")} == known
    assert after["intents"] == []
