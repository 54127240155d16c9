#!/usr/bin/env python3
"""Benchmark of placement: how long choosing a pool takes with 10 and 100 pools.

Prints one JSON line per measurement::

    {"bench": "place_pure", "pools": 100, "decisions": 2000, "us_per_decision": ...,
     "us_median": ..., "baseline_pools": 10, "ratio": 9.8}

``us_per_decision``/``ms_per_decision`` is the fastest call (the least disturbed by
other processes on a shared machine), the ratios are taken from it; the median is
given too. The pool counts are measured interleaved, call after call, so both see
the same load.

Measurements (the 10-pool figure of the same run is the baseline of each ratio):

* ``place_pure``: :func:`volumelib.control.placement.place` over synthetic pool
  states (Cinder stats with varied capacity, thin and thick pools, a quarter of them
  failing the type's capability spec, one drained), i.e. the decision alone.
* ``place_control_plane``: ``ControlPlane.place(size, volume_type)`` with ``fake``
  driver pools on the memory store: reading the pools from the store, refreshing each
  backend's stats, then deciding -- what ``create_volume`` pays before the driver call.
* ``place_control_plane_sqlite``: the same with the pools in a SQLite file.

Placement is linear in the number of pools, so a ratio near 10 is expected; much
more would mean something quadratic crept in.

Usage: ``python tools/bench_placement.py [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from typing import Any

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

SPECS = {"thin_provisioning_support": "<is> True", "multiattach": "<is> True",
         "consistent_group_snapshot_enabled": "<is> True"}


def synthetic_states(n: int) -> list[Any]:
    from volumelib.control.placement import PoolState
    states = []
    for i in range(n):
        thin = i % 3 != 0
        caps = {"thin", "clone", "multiattach"} | (
            {"consistent_group_snapshot"} if i % 4 else set())
        stats = {"volume_backend_name": f"pool-{i:03d}", "vendor_name": "volumelib",
                 "storage_protocol": "file", "driver_version": "1.0",
                 "pools": [{"pool_name": f"pool-{i:03d}",
                            "total_capacity_gb": 1000.0 + i,
                            "free_capacity_gb": 100.0 + (i * 37) % 900,
                            "provisioned_capacity_gb": float((i * 53) % 1500),
                            "thin_provisioning_support": thin,
                            "thick_provisioning_support": not thin,
                            "max_over_subscription_ratio": 2.0,
                            "reserved_percentage": i % 10}]}
        states.append(PoolState(name=f"pool-{i:03d}", weight=0.0 if i == 5 else 1.0 + i % 5,
                                capabilities=frozenset(caps), stats=stats))
    return states


def interleaved(funcs: dict[int, Any], min_seconds: float) -> dict[int, dict[str, Any]]:
    """Time each ``funcs[n]()`` in turn, round after round, for ``min_seconds`` in all,
    so that every pool count sees the same load on a shared machine. Per ``n``:
    ``min_s`` (the least disturbed call, used for the ratios), ``median_s``, ``calls``."""
    for func in funcs.values():
        func()  # warm up
    samples: dict[int, list[float]] = {n: [] for n in funcs}
    start = time.perf_counter()
    while time.perf_counter() - start < min_seconds or min(map(len, samples.values())) < 5:
        for n, func in funcs.items():
            t0 = time.perf_counter()
            func()
            samples[n].append(time.perf_counter() - t0)
    return {n: {"min_s": min(v), "median_s": statistics.median(v), "calls": len(v)}
            for n, v in samples.items()}


def bench_pure(counts: list[int], seconds: float) -> list[dict[str, Any]]:
    from volumelib.control.placement import PlacementRequest, place
    request = PlacementRequest(size=10, extra_specs=SPECS, volume_type="bench")
    states = {n: synthetic_states(n) for n in counts}
    timed = interleaved({n: (lambda s=states[n]: place(request, s)) for n in counts},
                        seconds)
    return [{"bench": "place_pure", "pools": n, "decisions": timed[n]["calls"],
             "us_per_decision": round(timed[n]["min_s"] * 1e6, 2),
             "us_median": round(timed[n]["median_s"] * 1e6, 2),
             "candidates": len(place(request, states[n]))} for n in counts]


def bench_plane(counts: list[int], seconds: float, storage: str) -> list[dict[str, Any]]:
    from volumelib.control.plane import ControlPlane
    planes = {}
    tmp = tempfile.mkdtemp(prefix="volumelib-bench-placement-", dir="/var/tmp")
    try:
        for n in counts:
            if storage == "memory":
                config: Any = {"storage": "memory"}
            else:
                config = {"storage": "dbms",
                          "connection": f"sqlite:///{tmp}/bench-{n}.sqlite"}
            cp = planes[n] = ControlPlane(persistence=config)
            for i in range(n):
                cp.add_pool(f"pool-{i:03d}", "fake", weight=1.0 + i % 5,
                            fake_capacity_gb=100 + i, fake_native_groups=bool(i % 4))
            cp.create_volume_type("bench", SPECS)
        timed = interleaved({n: (lambda cp=planes[n]: cp.place(10, "bench"))
                             for n in counts}, seconds)
    finally:
        for cp in planes.values():
            cp.close()   # also closes the store it built from the config
        for entry in os.listdir(tmp):
            os.unlink(os.path.join(tmp, entry))
        os.rmdir(tmp)
    name = "place_control_plane" + ("" if storage == "memory" else "_sqlite")
    return [{"bench": name, "pools": n, "decisions": timed[n]["calls"],
             "ms_per_decision": round(timed[n]["min_s"] * 1e3, 3),
             "ms_median": round(timed[n]["median_s"] * 1e3, 3)} for n in counts]


def with_ratios(rows: list[dict[str, Any]], baseline: int) -> list[dict[str, Any]]:
    base = {r["bench"]: r for r in rows if r["pools"] == baseline}
    for row in rows:
        key = "us_per_decision" if "us_per_decision" in row else "ms_per_decision"
        ref = base[row["bench"]][key]
        row["baseline_pools"] = baseline
        row["ratio"] = round(row[key] / ref, 2) if ref else None
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs")
    args = parser.parse_args(argv)
    seconds = 0.3 if args.quick else 2.0
    counts = [10, 100]
    rows = bench_pure(counts, seconds)
    rows += bench_plane(counts, seconds, "memory")
    rows += bench_plane(counts, seconds, "sqlite")
    for row in with_ratios(rows, baseline=10):
        print(json.dumps(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
