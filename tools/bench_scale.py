#!/usr/bin/env python3
"""Scale benchmark: N volumes, each with a snapshot, in a SQLite file and in PostgreSQL.

The ``fake`` driver keeps the data plane out of the way, so what is measured is the
library and its store. For each store and for two sizes, a baseline ``N/10`` and ``N``
(``--count``, default 100,000), a fresh worker process:

* ``create``: creates N volumes (``backend.create_volume(1)``) and ``snapshot``: a
  snapshot of each right after it is created (ops/s, µs per op, timed separately);
* ``lookup``: ``backend.get_volume(id)`` for 10,000 random ids (µs per lookup);
* ``list_pages``: ``backend.list_volumes(marker, limit=1000)`` page after page through
  all N (seconds, µs per volume listed, slowest page);
* ``gc``: ``backend.gc(older_than=0)`` with nothing to reconcile (it reads every record
  and asks the store about every storage object the driver has: 2N lookups);
* ``peak_rss_mb`` of that worker (``getrusage``; the fake driver holds 2N small images).

Then ``cold_first_page``: a fresh process from interpreter start to its first page of
1000 volumes (``import volumelib``, open the store, ``list_volumes``), median of 3.

Each measurement at N is compared with the same measurement at N/10 in the same run:
``ratio`` is cost per item at N divided by cost per item at N/10 (for the cold start,
seconds divided by seconds), so 1.0 means the cost per operation did not grow with the
data; ``scales`` is ``ratio <= 2``. Output: one JSON line per measurement, then a
summary object (also written to ``--output``).

PostgreSQL is a throwaway server from :mod:`tools.dbservers` on a loopback port,
stopped by its PID at the end; ``--stores sqlite`` skips it.

Usage::

    .venv/bin/python tools/bench_scale.py                 # N=100,000 (several minutes)
    .venv/bin/python tools/bench_scale.py --count 2000    # a quick run
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
PAGE = 1000
LOOKUPS = 10_000
SCALES_MAX_RATIO = 2.0


# -- in a worker process ---------------------------------------------------------------

def _setup(url: str) -> Any:
    import volumelib
    volumelib.setup(persistence_config={"storage": "dbms", "connection": url})
    return volumelib


def worker_fill(url: str, n: int) -> dict[str, Any]:
    """Create N volumes with a snapshot each, then measure lookups, pages and gc."""
    volumelib = _setup(url)
    backend = volumelib.Backend("scale", "fake", fake_capacity_gb=n + 10,
                                max_over_subscription_ratio=1.0)
    out: dict[str, Any] = {"n": n}
    ids: list[str] = []
    create_s = snapshot_s = 0.0
    clock = time.perf_counter
    for _ in range(n):
        t0 = clock()
        vol = backend.create_volume(1)
        t1 = clock()
        vol.create_snapshot()
        snapshot_s += clock() - t1
        create_s += t1 - t0
        ids.append(vol.id)
    out["create_s"], out["snapshot_s"] = create_s, snapshot_s
    del vol

    sample = random.Random(7).sample(ids, min(LOOKUPS, n))
    t0 = time.perf_counter()
    for vid in sample:
        vol = backend.get_volume(vid)
        assert vol.id == vid
    out["lookup_s"] = time.perf_counter() - t0
    out["lookups"] = len(sample)

    listed, pages, slowest, marker = 0, 0, 0.0, None
    t0 = time.perf_counter()
    while True:
        p0 = time.perf_counter()
        items, marker = backend.list_volumes(marker=marker, limit=PAGE)
        slowest = max(slowest, time.perf_counter() - p0)
        listed += len(items)
        pages += 1
        if marker is None or not items:
            break
    out["list_s"] = time.perf_counter() - t0
    out["listed"], out["pages"], out["slowest_page_s"] = listed, pages, slowest
    assert listed == n, (listed, n)

    t0 = time.perf_counter()
    report = backend.gc(older_than=0)
    out["gc_s"] = time.perf_counter() - t0
    assert report["actions"] == [] and report["orphans"] == [], report
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    backend.close()
    return out


def worker_cold(url: str, n: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    import volumelib
    t1 = time.perf_counter()
    volumelib.setup(persistence_config={"storage": "dbms", "connection": url})
    backend = volumelib.Backend("scale", "fake")
    t2 = time.perf_counter()
    items, marker = backend.list_volumes(limit=PAGE)
    t3 = time.perf_counter()
    assert len(items) == min(PAGE, n), (len(items), n)
    return {"import_s": t1 - t0, "open_s": t2 - t1, "page_s": t3 - t2}


# -- the parent ------------------------------------------------------------------------

def _worker(*args: str) -> tuple[dict[str, Any], float]:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", *args],
                          capture_output=True, text=True, cwd=REPO)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"worker {args[0]} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1]), wall


def _per_item(result: dict[str, Any]) -> dict[str, float]:
    """Cost per item in µs, the quantities compared across sizes."""
    n = result["n"]
    return {"create": result["create_s"] / n * 1e6,
            "snapshot": result["snapshot_s"] / n * 1e6,
            "lookup": result["lookup_s"] / result["lookups"] * 1e6,
            "list_pages": result["list_s"] / result["listed"] * 1e6,
            "gc": result["gc_s"] / (3 * n) * 1e6}  # n volumes + n snapshots + 2n lookups


def _cold(url: str, n: int, repeats: int = 3) -> dict[str, Any]:
    runs = [_worker("cold", url, str(n)) for _ in range(repeats)]
    result, wall = sorted(runs, key=lambda r: r[1])[len(runs) // 2]
    return {**result, "process_s": wall}


def _emit(line: dict[str, Any]) -> None:
    print(json.dumps(line), flush=True)


def run_store(store: str, url_for: Any, sizes: list[int]) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    per: dict[int, dict[str, float]] = {}
    cold: dict[int, dict[str, Any]] = {}
    for n in sizes:
        url = url_for(n)
        result, wall = _worker("fill", url, str(n))
        per[n] = _per_item(result)
        cold[n] = _cold(url, n)
        base = sizes[0]
        for bench, us in per[n].items():
            line = {"bench": bench, "store": store, "n": n, "us_per_item": round(us, 2),
                    "ops_per_s": round(1e6 / us, 1)}
            if bench == "list_pages":
                line.update(pages=result["pages"], seconds=round(result["list_s"], 3),
                            slowest_page_s=round(result["slowest_page_s"], 4))
            elif bench == "gc":
                line["seconds"] = round(result["gc_s"], 3)
            elif bench in ("create", "snapshot"):
                line["seconds"] = round(result[f"{bench}_s"], 3)
            if n != base:
                ratio = us / per[base][bench]
                line.update(baseline_n=base, ratio=round(ratio, 3),
                            scales=ratio <= SCALES_MAX_RATIO)
            lines.append(line)
            _emit(line)
        line = {"bench": "cold_first_page", "store": store, "n": n,
                "seconds": round(cold[n]["process_s"], 4),
                "import_s": round(cold[n]["import_s"], 4),
                "open_s": round(cold[n]["open_s"], 4),
                "page_s": round(cold[n]["page_s"], 4)}
        if n != sizes[0]:
            ratio = cold[n]["process_s"] / cold[sizes[0]]["process_s"]
            line.update(baseline_n=sizes[0], ratio=round(ratio, 3),
                        scales=ratio <= SCALES_MAX_RATIO)
        lines.append(line)
        _emit(line)
        line = {"bench": "peak_rss_mb", "store": store, "n": n,
                "mb": round(result["peak_rss_mb"], 1), "worker_s": round(wall, 1)}
        lines.append(line)
        _emit(line)
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100_000,
                        help="volumes (each with a snapshot) at full size; the baseline "
                             "is a tenth of it (default 100000)")
    parser.add_argument("--stores", default="sqlite,postgresql",
                        help="comma separated: sqlite, postgresql")
    parser.add_argument("--output", help="also write the summary JSON here")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        what, *rest = args.worker
        worker = worker_fill if what == "fill" else worker_cold
        out = worker(rest[0], int(rest[1]))
        print(json.dumps(out))
        return 0
    if args.count < 100:
        parser.error("--count must be at least 100")
    sizes = [args.count // 10, args.count]
    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    unknown = set(stores) - {"sqlite", "postgresql"}
    if unknown:
        parser.error(f"unknown store(s): {', '.join(sorted(unknown))}")
    started = time.time()
    lines: list[dict[str, Any]] = []
    tmp = tempfile.mkdtemp(prefix="volumelib-scale-", dir="/var/tmp")
    try:
        if "sqlite" in stores:
            lines += run_store("sqlite_file",
                               lambda n: f"sqlite:///{os.path.join(tmp, f'scale-{n}.sqlite')}",
                               sizes)
        if "postgresql" in stores:
            sys.path.insert(0, REPO)
            from tools.dbservers import PostgresServer
            with PostgresServer() as pg:  # stopped by PID on exit
                lines += run_store("postgresql",
                                   lambda n: pg.new_database(f"scale_{n}"), sizes)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ratios = [line for line in lines if "ratio" in line]
    summary = {"bench": "summary", "count": args.count, "baseline_n": sizes[0],
               "stores": stores, "wall_s": round(time.time() - started, 1),
               "python": sys.version.split()[0], "cpus": os.cpu_count(),
               "all_scale": all(line["scales"] for line in ratios),
               "worst_ratio": max((line["ratio"] for line in ratios), default=None),
               "median_ratio": (round(statistics.median(line["ratio"] for line in ratios), 3)
                                if ratios else None),
               "results": lines}
    _emit({k: v for k, v in summary.items() if k != "results"})
    if args.output:
        with open(args.output, "w") as f:
            json.dump(summary, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
