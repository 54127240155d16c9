#!/usr/bin/env python3
"""volumelib against cinderlib 5.2.0 with the same Cinder RBD driver on the same Ceph
cluster: create, snapshot, clone, attach/detach and delete, operations per second.

* **cinderlib side**: cinderlib 5.2.0 in its own venv (``--cinderlib-venv``, default
  ``/tmp/volumelib-bench-cinderlib/venv``; built from
  ``../shared/perf/requirements-lock.txt`` when missing, ~75 s). cinderlib pins
  Cinder 23.0.0, so it runs **Cinder 23's** ``RBDDriver``.
* **volumelib side**: this checkout's ``.venv`` (``--volumelib-python``), running
  **the current Cinder's** (29.x) ``RBDDriver`` through ``volumelib.drivers.cinder``.

Both sides use an SQLite file store, the same pool and user, and attach as root with
os-brick's userspace RBD connector in-process (privsep client mode off on both). The
sides run interleaved, ``--rounds`` times each, alternating who goes first, each in a
fresh process; the pool is emptied between runs. Each workload is N operations:

==============  ===================================================================
create          ``create_volume(1)``
snapshot        ``vol.create_snapshot()`` of each volume
clone           ``vol.clone()`` of each volume (a clone of the volume, not snapshot)
connect_        ``vol.connect(connector)`` then ``conn.disconnect()`` (one operation:
disconnect      export + initialize_connection, terminate_connection + remove_export)
delete          delete the clones, then the snapshots, then the volumes (3N ops)
attach_detach   volumelib only: ``vol.attach()`` then ``vol.detach()`` (os-brick's
                userspace RBD connector). cinderlib attaches RBD with krbd
                (``do_local_attach=True``), which this kernel does not have, so it has
                no figure; the row is printed for volumelib alone.
==============  ===================================================================

The ratio is volumelib / cinderlib ops/s (> 1: volumelib is faster). Prints one JSON
line per run and workload, then the table, then one ``{"summary": ...}`` JSON line.

Starts a throwaway cluster (``tools/cephcluster.py``, in a new folder under
``/var/tmp``, stopped by PID and removed at the end, also on failure), or uses a
running one with ``--cluster DIR``. Needs root and the Ceph packages
(``tools/setup-env``). ``python tools/bench_cinder.py --n 20 --rounds 3``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tools.cephcluster import CephCluster  # noqa: E402

WORKLOADS = ("create", "snapshot", "clone", "connect_disconnect", "delete")
LOCK = os.path.join(os.path.dirname(ROOT), "shared", "perf", "requirements-lock.txt")
CINDER_RBD = "cinder.volume.drivers.rbd.RBDDriver"

# The worker, run by either side's interpreter: argv = side, n, settings JSON, db path.
WORKER = r'''
import json, os, sys, time
side, n, settings, db = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4]
opts = dict(volume_driver="cinder.volume.drivers.rbd.RBDDriver",
            rbd_pool=settings["pool"], rbd_user=settings["user"],
            rbd_ceph_conf=settings["conf_path"], rbd_keyring_conf=settings["keyring_path"])
import os_brick.privileged
os_brick.privileged.default.set_client_mode(False)   # in-process as root, both sides
persistence = {"storage": "db", "connection": "sqlite:///" + db}
if side == "cinderlib":
    import cinderlib
    cinderlib.setup(persistence_config=persistence, disable_logs=True)
    backend = cinderlib.Backend(volume_backend_name="bench", **opts)
    import cinder
    version = {"cinderlib": cinderlib.__version__,
               "cinder": __import__("importlib.metadata").metadata.version("cinder")}
else:
    import volumelib
    volumelib.setup(persistence_config=persistence)
    driver = opts.pop("volume_driver")
    backend = volumelib.Backend("bench", driver, **opts)
    version = {"volumelib": volumelib.__version__,
               "cinder": __import__("importlib.metadata").metadata.version("cinder")}
def timed(name, items, fn):
    out = []
    t0 = time.perf_counter()
    for it in items:
        out.append(fn(it))
    wall = time.perf_counter() - t0
    print(json.dumps({"side": side, "workload": name, "n": len(items),
                      "ops_per_s": round(len(items) / wall, 2),
                      "mean_ms": round(wall * 1000 / len(items), 2), **version}),
          flush=True)
    return out
vols = timed("create", range(n), lambda i: backend.create_volume(1))
snaps = timed("snapshot", vols, lambda v: v.create_snapshot())
clones = timed("clone", vols, lambda v: v.clone())
PROPS = {"host": "bench-node", "ip": "127.0.0.1", "platform": "x86_64", "os_type": "linux",
         "multipath": False, "initiator": "iqn.1994-05.org.volumelib:bench"}
def connect_disconnect(v):
    conn = v.connect(PROPS)
    assert conn.connection_info
    conn.disconnect()
timed("connect_disconnect", vols, connect_disconnect)
if side == "volumelib":  # cinderlib's local attach of RBD needs krbd: not on this kernel
    def attach_detach(v):
        conn = v.attach()
        assert conn.path is not None
        v.detach()
    timed("attach_detach", vols, attach_detach)
timed("delete", clones + snaps + vols, lambda o: o.delete())
'''


def ensure_cinderlib_venv(venv: str, bindings: str) -> str:
    """The cinderlib venv's python, built from the lock file when missing, with the
    Ceph bindings (rados, rbd) linked in as the project's own venv has them."""
    python = os.path.join(venv, "bin", "python")
    usable = os.path.exists(python) and subprocess.run(
        [python, "-c", "import cinderlib"], capture_output=True, check=False).returncode == 0
    if not usable:
        print(f"bench: building the cinderlib 5.2.0 venv in {venv} (~75 s)", file=sys.stderr)
        subprocess.run(["python3", "-m", "venv", "--clear", venv], check=True)
        subprocess.run([os.path.join(venv, "bin", "pip"), "install", "-q", "-r", LOCK],
                       check=True)
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()"
                                         "['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    with open(os.path.join(site, "volumelib-ceph.pth"), "w", encoding="ascii") as f:
        f.write(bindings + "\n")
    return python


def empty_pool(cluster: CephCluster) -> None:
    """Remove every image (children first), its snapshots and the trash of the pool."""
    import rados
    import rbd
    with rados.Rados(conffile=cluster.conf_path, rados_id="admin",
                     conf={"keyring": cluster.admin_keyring_path}) as client:
        with client.open_ioctx(cluster.pool) as ioctx:
            for _ in range(10):
                names = rbd.RBD().list(ioctx)
                if not names:
                    break
                for name in names:
                    try:
                        with rbd.Image(ioctx, name) as image:
                            if any(True for s in image.list_snaps()
                                   if image.is_protected_snap(s["name"]) and
                                   _has_children(image, s["name"])):
                                continue  # its clones go first
                            for s in list(image.list_snaps()):
                                if image.is_protected_snap(s["name"]):
                                    image.unprotect_snap(s["name"])
                                image.remove_snap(s["name"])
                        rbd.RBD().remove(ioctx, name)
                    except (rbd.ImageNotFound, rbd.ImageBusy, rbd.ImageHasSnapshots):
                        continue
            for entry in list(rbd.RBD().trash_list(ioctx)):
                try:
                    rbd.RBD().trash_remove(ioctx, entry["id"], force=True)
                except rbd.Error:
                    pass


def _has_children(image: Any, snap: str) -> bool:
    image.set_snap(snap)
    try:
        return bool(list(image.list_children()))
    finally:
        image.set_snap(None)


def run_side(python: str, side: str, n: int, settings: dict[str, Any],
             workdir: str) -> list[dict[str, Any]]:
    db = os.path.join(workdir, f"{side}-{time.monotonic_ns()}.sqlite")
    proc = subprocess.run([python, "-c", WORKER, side, str(n), json.dumps(settings), db],
                          capture_output=True, text=True, timeout=1800, cwd=workdir,
                          check=False)
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0:
        raise SystemExit(f"bench: the {side} run failed:\n{proc.stderr[-3000:]}")
    for row in rows:
        print(json.dumps(row), flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20, help="operations per workload")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cluster", help="a running tools/cephcluster.py folder")
    parser.add_argument("--cinderlib-venv", default="/tmp/volumelib-bench-cinderlib/venv")
    parser.add_argument("--volumelib-python", default=os.path.join(ROOT, ".venv", "bin",
                                                                   "python"))
    args = parser.parse_args(argv)
    bindings = os.path.join(ROOT, ".venv", "ceph-bindings")
    cl_python = ensure_cinderlib_venv(args.cinderlib_venv, bindings)
    workdir = tempfile.mkdtemp(prefix="volumelib-bench-cinder-")
    cluster = None
    try:
        if args.cluster:
            cluster = CephCluster(args.cluster)
        else:
            cluster = CephCluster(os.path.join(tempfile.mkdtemp(prefix="volumelib-ceph-bench-",
                                                                dir="/var/tmp"), "c"))
            cluster.start()
        settings = {"pool": cluster.pool, "user": cluster.user,
                    "conf_path": cluster.conf_path, "keyring_path": cluster.keyring_path}
        results: dict[str, dict[str, list[float]]] = {"cinderlib": {}, "volumelib": {}}
        versions: dict[str, dict[str, str]] = {}
        for rnd in range(args.rounds):
            order = ("cinderlib", "volumelib") if rnd % 2 == 0 else ("volumelib", "cinderlib")
            for side in order:
                empty_pool(cluster)
                python = cl_python if side == "cinderlib" else args.volumelib_python
                for row in run_side(python, side, args.n, settings, workdir):
                    results[side].setdefault(row["workload"], []).append(row["ops_per_s"])
                    versions[side] = {k: row[k] for k in ("cinderlib", "volumelib", "cinder")
                                      if k in row}
        empty_pool(cluster)
        summary = {}
        print(f"\n| workload (ops/s, n={args.n}, median of {args.rounds}) | cinderlib 5.2.0 "
              f"(Cinder {versions['cinderlib'].get('cinder')}) | volumelib (Cinder "
              f"{versions['volumelib'].get('cinder')}) | ratio |")
        print("|---|---:|---:|---:|")
        for workload in WORKLOADS:
            cl = statistics.median(results["cinderlib"][workload])
            vl = statistics.median(results["volumelib"][workload])
            summary[workload] = {"cinderlib": cl, "volumelib": vl, "ratio": round(vl / cl, 2)}
            print(f"| {workload} | {cl:.1f} | {vl:.1f} | {vl / cl:.2f} |")
        if "attach_detach" in results["volumelib"]:
            vl = statistics.median(results["volumelib"]["attach_detach"])
            summary["attach_detach"] = {"cinderlib": None, "volumelib": vl, "ratio": None}
            print(f"| attach_detach | - (needs krbd) | {vl:.1f} | - |")
        print(json.dumps({"summary": summary, "versions": versions, "n": args.n,
                          "rounds": args.rounds}))
        return 0
    finally:
        if cluster is not None and not args.cluster:
            cluster.purge()
            shutil.rmtree(os.path.dirname(cluster.workdir), ignore_errors=True)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
