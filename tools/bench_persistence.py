#!/usr/bin/env python3
"""Benchmark of volumelib's stores with the ``fake`` driver. Prints JSON lines.

One line per measurement::

    {"bench": "create", "store": "sqlite_file", "n": 1000, "ops_per_s": ...,
     "seconds": ..., "target": 2000, "meets_target": true,
     "baseline": "memory", "ratio": 0.31}

Measurements:

* ``import``: ``import volumelib`` in a fresh interpreter (median of 5).
* ``create`` / ``snapshot`` / ``lookup`` (``store.get_volumes(volume_id=...)``) /
  ``delete_snapshot`` / ``delete`` ops per second, ``list_all`` (``backend.volumes``
  once) and ``peak_rss_mb_all_ops`` (that process kept all its objects), on the
  ``memory``, ``memory_dbms``, ``sqlite_file`` (``sqlite_synchronous=True``: WAL +
  ``synchronous=NORMAL``) and ``sqlite_file_full`` (``synchronous=FULL``, an fsync per
  commit) stores, at N=1000 and N=5000, each run in its own process. The memory store
  is the baseline of the ratios.
* ``peak_rss_mb``: a process per store that creates N volumes (keeping no
  references) and lists them all (``resource.getrusage``), at the largest N.
* ``cold_list``: a fresh process lists 5000 volumes of a SQLite file
  (``backend.volumes``). ``seconds`` is the listing call; the line also gives
  ``import_s`` (``import volumelib``), ``open_s`` (building the store, which imports
  SQLAlchemy) and ``process_s`` (the whole process, interpreter start to exit).
* ``cold_first_volume``: a fresh process, from interpreter start to its first created
  volume on an existing SQLite file (``seconds``), plus the same on a new file, where
  the schema is created by the migrations (``new_file_s``, informational).

Usage: ``python tools/bench_persistence.py [--quick] [--n 1000 --n 5000]``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STORES = ("memory", "memory_dbms", "sqlite_file", "sqlite_file_full")
TARGETS = {
    ("import", None): ("max_s", 0.35),
    ("create", "sqlite_file"): ("min_ops", 2000),
    ("create", "sqlite_file_full"): ("min_ops", 2000),
    ("lookup", "memory_dbms"): ("min_ops", 10000),
    ("lookup", "sqlite_file"): ("min_ops", 10000),
    ("lookup", "sqlite_file_full"): ("min_ops", 10000),
    ("cold_list", "sqlite_file"): ("max_s", 0.25),
    ("cold_first_volume", "sqlite_file"): ("max_s", 0.5),
    ("peak_rss_mb", "*"): ("max_mb", 80),
}


def _config(store: str, path: str) -> dict[str, Any]:
    if store in ("memory", "memory_dbms"):
        return {"storage": store}
    sync = "full" if store == "sqlite_file_full" else True
    return {"storage": "dbms", "connection": f"sqlite:///{path}",
            "sqlite_synchronous": sync}


# -- in a worker process ------------------------------------------------------------------

def _timed(ops: list[Any]) -> float:
    t0 = time.perf_counter()
    for op in ops:
        op()
    return time.perf_counter() - t0


def worker_ops(store: str, n: int, path: str) -> dict[str, Any]:
    import volumelib

    volumelib.setup(persistence_config=_config(store, path))
    backend = volumelib.Backend("bench", "fake", fake_capacity_gb=10 * n)
    db = volumelib.get_persistence()
    out: dict[str, Any] = {}
    vols: list[Any] = []
    t0 = time.perf_counter()
    for _ in range(n):
        vols.append(backend.create_volume(size=1))
    out["create"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    snaps = [v.create_snapshot() for v in vols]
    out["snapshot"] = time.perf_counter() - t0
    order = [v.id for v in vols]
    random.Random(1).shuffle(order)
    t0 = time.perf_counter()
    for vid in order:
        db.get_volumes(volume_id=vid)
    out["lookup"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    listed = backend.volumes
    out["list_all"] = time.perf_counter() - t0
    assert len(listed) == n
    del listed
    t0 = time.perf_counter()
    for s in snaps:
        s.delete()
    out["delete_snapshot"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    for v in vols:
        v.delete()
    out["delete"] = time.perf_counter() - t0
    assert db.get_volumes() == []
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    backend.close()
    return out


def worker_rss(store: str, n: int, path: str) -> dict[str, Any]:
    """A process that creates N volumes (keeping no references) and lists them all."""
    import volumelib

    volumelib.setup(persistence_config=_config(store, path))
    backend = volumelib.Backend("bench", "fake", fake_capacity_gb=10 * n)
    for _ in range(n):
        backend.create_volume(size=1)
    assert len(backend.volumes) == n
    return {"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def worker_fill(path: str, n: int) -> dict[str, Any]:
    import volumelib

    volumelib.setup(persistence_config=_config("sqlite_file", path))
    backend = volumelib.Backend("bench", "fake", fake_capacity_gb=10 * n)
    for i in range(n):
        backend.create_volume(size=1, name=f"vol-{i}", metadata={"i": str(i)})
    return {"filled": n}


def worker_cold_list(path: str) -> dict[str, Any]:
    t0 = time.perf_counter()
    import volumelib
    t1 = time.perf_counter()
    volumelib.setup(persistence_config=_config("sqlite_file", path))
    backend = volumelib.Backend("bench", "fake")
    t2 = time.perf_counter()
    vols = backend.volumes
    t3 = time.perf_counter()
    return {"import_s": t1 - t0, "open_s": t2 - t1, "list_s": t3 - t2, "count": len(vols),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def worker_first_volume(path: str) -> dict[str, Any]:
    import volumelib

    volumelib.setup(persistence_config=_config("sqlite_file", path))
    backend = volumelib.Backend("bench", "fake")
    backend.create_volume(size=1)
    return {"done": True}


# -- the parent --------------------------------------------------------------------------

def _run_worker(*args: str) -> tuple[dict[str, Any], float]:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", *args],
                          capture_output=True, text=True, cwd=REPO)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"worker {args} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1]), wall


def _judge(line: dict[str, Any]) -> dict[str, Any]:
    rule = TARGETS.get((line["bench"], line.get("store"))) or \
        TARGETS.get((line["bench"], "*"))
    if rule is None or line.get("n") not in (None, 1000, 5000) \
            or (line["bench"] == "peak_rss_mb" and line.get("n") != 5000):
        return line
    how, value = rule
    line["target"] = {"min_ops": f">= {value} ops/s", "max_s": f"<= {value} s",
                      "max_mb": f"<= {value} MB"}[how]
    measured = {"min_ops": line.get("ops_per_s"), "max_s": line.get("seconds"),
                "max_mb": line.get("mb")}[how]
    line["meets_target"] = bool(measured is not None and (
        measured >= value if how == "min_ops" else measured <= value))
    return line


def _emit(line: dict[str, Any]) -> None:
    print(json.dumps(_judge(line)), flush=True)


def bench_import(repeats: int) -> None:
    code = ("import time; t = time.perf_counter(); import volumelib; "
            "print(time.perf_counter() - t)")
    times = [float(subprocess.run([sys.executable, "-c", code], capture_output=True,
                                  text=True, check=True, cwd="/").stdout)
             for _ in range(repeats)]
    _emit({"bench": "import", "store": None, "n": None, "ops_per_s": None,
           "seconds": round(statistics.median(times), 4),
           "all_s": [round(t, 4) for t in times]})


def bench_ops(sizes: list[int], tmp: str) -> None:
    for n in sizes:
        baseline: dict[str, float] = {}
        for store in STORES:
            path = os.path.join(tmp, f"{store}-{n}.sqlite")
            result, _ = _run_worker("ops", store, str(n), path)
            for bench in ("create", "snapshot", "lookup", "list_all", "delete_snapshot",
                          "delete"):
                seconds = result[bench]
                ops = (1 if bench == "list_all" else n) / seconds
                line = {"bench": bench, "store": store, "n": n,
                        "ops_per_s": round(ops, 1), "seconds": round(seconds, 4)}
                if store == "memory":
                    baseline[bench] = ops
                else:
                    line.update(baseline="memory", ratio=round(ops / baseline[bench], 3))
                _emit(line)
            _emit({"bench": "peak_rss_mb_all_ops", "store": store, "n": n,
                   "ops_per_s": None, "seconds": None,
                   "mb": round(result["peak_rss_mb"], 1),
                   "workload": "this process kept every volume and snapshot object"})
            if n == max(sizes):
                rss, _ = _run_worker("rss", store, str(n), path + ".rss")
                _emit({"bench": "peak_rss_mb", "store": store, "n": n, "ops_per_s": None,
                       "seconds": None, "mb": round(rss["peak_rss_mb"], 1),
                       "workload": "create N volumes, then list them all"})


def bench_cold(n: int, repeats: int, tmp: str) -> None:
    path = os.path.join(tmp, f"cold-{n}.sqlite")
    _run_worker("fill", path, str(n))
    runs = []
    for _ in range(repeats):
        result, wall = _run_worker("cold_list", path)
        assert result["count"] == n
        runs.append((result, wall))
    result, wall = sorted(runs, key=lambda r: r[0]["list_s"])[len(runs) // 2]
    _emit({"bench": "cold_list", "store": "sqlite_file", "n": n,
           "ops_per_s": round(n / result["list_s"], 1),
           "seconds": round(result["list_s"], 4), "import_s": round(result["import_s"], 4),
           "open_s": round(result["open_s"], 4), "process_s": round(wall, 4),
           "peak_rss_mb": round(result["peak_rss_mb"], 1)})
    walls, new_walls = [], []
    for i in range(repeats):
        walls.append(_run_worker("first_volume", path)[1])
        new_walls.append(_run_worker("first_volume",
                                     os.path.join(tmp, f"new-{i}.sqlite"))[1])
    _emit({"bench": "cold_first_volume", "store": "sqlite_file", "n": None,
           "ops_per_s": None, "seconds": round(statistics.median(walls), 4),
           "new_file_s": round(statistics.median(new_walls), 4),
           "all_s": [round(w, 4) for w in walls]})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="N=200, fewer repeats")
    parser.add_argument("--n", type=int, action="append", help="sizes (default 1000, 5000)")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        what, *rest = args.worker
        if what == "ops":
            out = worker_ops(rest[0], int(rest[1]), rest[2])
        elif what == "rss":
            out = worker_rss(rest[0], int(rest[1]), rest[2])
        elif what == "fill":
            out = worker_fill(rest[0], int(rest[1]))
        elif what == "cold_list":
            out = worker_cold_list(rest[0])
        else:
            out = worker_first_volume(rest[0])
        print(json.dumps(out))
        return 0
    sizes = args.n or ([200] if args.quick else [1000, 5000])
    repeats = 3 if args.quick else 5
    tmp = tempfile.mkdtemp(prefix="volumelib-bench-", dir="/var/tmp")
    try:
        bench_import(repeats)
        bench_ops(sizes, tmp)
        bench_cold(200 if args.quick else 5000, repeats, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
