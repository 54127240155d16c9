#!/usr/bin/env python3
"""Benchmark of the event log: what it costs the create/delete workloads on SQLite,
and how soon a change wakes a ``watch()`` in another process. Prints JSON lines.

**Cost** (``bench`` ``create`` / ``delete``): ``backend.create_volume(1)`` N times,
then the N deletes, with the ``fake`` driver on a fresh SQLite file
(``sqlite_synchronous=True``, as the perf harness), once with the event log on and
once with it off (``events=False``: the baseline), in the same process, alternating
which goes first, ``--rounds`` times. One line per sample::

    {"bench": "create", "store": "sqlite_file", "events": true, "round": 0, "n": 300,
     "ops_per_s": 1650.2, "cpu_us_per_op": 540.1}

then one summary per workload::

    {"bench": "create", "summary": true, "ops_per_s_on": ..., "ops_per_s_off": ...,
     "cost_pct": 4.1, "cost_pct_cpu": 3.9, "goal_pct": 10, "within_goal": true}

``cost_pct`` is the median over rounds of ``1 - on/off`` throughput of the two samples
of a round (back to back, so a busy neighbour weighs on both alike); ``cost_pct_cpu``
the same with the process's CPU time per operation, steadier on a shared machine.

**Latency** (``bench`` ``watch_latency``): a watcher process runs
``volumelib.watch()`` on the store; this process changes a volume's status
(``store.set_volume``) every 50-150 ms, ``--latency-samples`` times; the latency of
a sample is the time from the change's call returning (committed) to the watcher
having the event (both read ``time.time()`` on this host). PostgreSQL (a throwaway
server, ``tools/dbservers.py``) wakes the watcher with ``NOTIFY``; a SQLite file is
watched for changes::

    {"bench": "watch_latency", "store": "postgresql", "samples": 50,
     "median_ms": 1.9, "p90_ms": 3.2, "max_ms": 7.5}

Usage: ``python tools/bench_events.py [--quick] [--n 300] [--rounds 7]
[--latency-samples 50] [--stores sqlite_file,postgresql] [--only cost,latency]``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

GOAL_PCT = 10.0

WATCHER = """
import json, sys, time, volumelib
volumelib.setup(persistence_config={"storage": "db", "connection": sys.argv[1]})
found = volumelib.watch(since=int(sys.argv[2]), timeout=60)
print("ready", flush=True)
for event in found:
    print(json.dumps({"id": event.id, "t": time.time()}), flush=True)
"""


def emit(record: dict[str, Any], sink: Any) -> None:
    line = json.dumps(record)
    print(line, flush=True)
    if sink is not None:
        sink.write(line + "\n")
        sink.flush()


# -- cost on create and delete -------------------------------------------------------------------

def _sample(tmp: str, events: bool, n: int, tag: str) -> dict[str, float]:
    import volumelib
    from volumelib.persistence.dbms.store import DBPersistence

    path = os.path.join(tmp, f"cost-{tag}.sqlite")
    store = DBPersistence(f"sqlite:///{path}", sqlite_synchronous=True, events=events)
    volumelib.setup(persistence_config=store)
    backend = volumelib.Backend(volume_backend_name=f"bench-{tag}", volume_driver="fake")
    try:
        for vol in [backend.create_volume(1) for _ in range(20)]:  # warm up
            vol.delete()
        c0, w0 = time.process_time(), time.perf_counter()
        vols = [backend.create_volume(1) for _ in range(n)]
        c1, w1 = time.process_time(), time.perf_counter()
        for vol in vols:
            vol.delete()
        c2, w2 = time.process_time(), time.perf_counter()
        if events:
            assert store.last_event_id() == 4 * (n + 20), "an event is missing"
    finally:
        backend.close()
        volumelib.setup()
        store.close()
        for suffix in ("", "-wal", "-shm"):
            try:
                os.unlink(path + suffix)
            except FileNotFoundError:
                pass
    return {"create_ops": n / (w1 - w0), "create_cpu": (c1 - c0) / n * 1e6,
            "delete_ops": n / (w2 - w1), "delete_cpu": (c2 - c1) / n * 1e6}


def bench_cost(n: int, rounds: int, sink: Any) -> list[dict[str, Any]]:
    samples: dict[bool, list[dict[str, float]]] = {True: [], False: []}
    with tempfile.TemporaryDirectory(prefix="bench-events-") as tmp:
        for r in range(rounds):
            for events in ((True, False) if r % 2 else (False, True)):
                got = _sample(tmp, events, n, f"{r}-{events}")
                samples[events].append(got)
                for bench in ("create", "delete"):
                    emit({"bench": bench, "store": "sqlite_file", "events": events,
                          "round": r, "n": n, "ops_per_s": round(got[f"{bench}_ops"], 1),
                          "cpu_us_per_op": round(got[f"{bench}_cpu"], 1)}, sink)
    summaries = []
    for bench in ("create", "delete"):
        on, off = samples[True], samples[False]
        cost = [100 * (1 - a[f"{bench}_ops"] / b[f"{bench}_ops"]) for a, b in zip(on, off)]
        cost_cpu = [100 * (a[f"{bench}_cpu"] / b[f"{bench}_cpu"] - 1)
                    for a, b in zip(on, off)]
        summary = {"bench": bench, "store": "sqlite_file", "summary": True, "n": n,
                   "rounds": rounds,
                   "ops_per_s_on": round(statistics.median(s[f"{bench}_ops"] for s in on), 1),
                   "ops_per_s_off": round(statistics.median(s[f"{bench}_ops"] for s in off), 1),
                   "cpu_us_per_op_on": round(statistics.median(s[f"{bench}_cpu"] for s in on), 1),
                   "cpu_us_per_op_off": round(statistics.median(s[f"{bench}_cpu"]
                                                                for s in off), 1),
                   "cost_pct": round(statistics.median(cost), 1),
                   "cost_pct_cpu": round(statistics.median(cost_cpu), 1),
                   "goal_pct": GOAL_PCT}
        summary["within_goal"] = summary["cost_pct"] < GOAL_PCT
        emit(summary, sink)
        summaries.append(summary)
    return summaries


# -- change -> watch() latency ------------------------------------------------------------------

def bench_latency(name: str, url: str, samples: int, sink: Any) -> dict[str, Any]:
    import volumelib
    from volumelib.persistence.dbms.store import DBPersistence
    from volumelib.testing.persistence import saved_volume

    store = DBPersistence(url)
    watcher = None
    try:
        vol = saved_volume(store, status="available")
        start = store.last_event_id()
        env = dict(os.environ, PYTHONPATH=REPO)
        watcher = subprocess.Popen([sys.executable, "-c", WATCHER, url, str(start)],
                                   stdout=subprocess.PIPE, text=True, env=env)
        assert watcher.stdout is not None
        if watcher.stdout.readline().strip() != "ready":
            raise RuntimeError("the watcher did not start")
        committed: dict[int, float] = {}
        for i in range(samples):
            time.sleep(random.uniform(0.05, 0.15))
            vol.status = f"s{i % 2}"
            store.set_volume(vol)
            committed[store.last_event_id()] = time.time()
        latencies = []
        for _ in range(samples):
            got = json.loads(watcher.stdout.readline())
            latencies.append((got["t"] - committed[got["id"]]) * 1e3)
    finally:
        if watcher is not None:
            watcher.kill()  # by its PID
            watcher.wait(30)
        store.close()
        volumelib.setup()
    latencies.sort()
    record = {"bench": "watch_latency", "store": name, "samples": samples,
              "median_ms": round(statistics.median(latencies), 2),
              "p90_ms": round(latencies[int(0.9 * (len(latencies) - 1))], 2),
              "max_ms": round(latencies[-1], 2), "min_ms": round(latencies[0], 2)}
    emit(record, sink)
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="n=100, 3 rounds, 15 latency samples (a harness check)")
    parser.add_argument("--n", type=int, default=300, help="volumes per sample")
    parser.add_argument("--rounds", type=int, default=7, help="on/off pairs")
    parser.add_argument("--latency-samples", type=int, default=50)
    parser.add_argument("--stores", default="sqlite_file,postgresql",
                        help="latency on: sqlite_file, postgresql, mariadb")
    parser.add_argument("--only", default="cost,latency", help="cost, latency or both")
    parser.add_argument("--out", help="also append the JSON lines to this file")
    args = parser.parse_args(argv)
    n, rounds, lat = args.n, args.rounds, args.latency_samples
    if args.quick:
        n, rounds, lat = 100, 3, 15
    only = {p.strip() for p in args.only.split(",")}
    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    unknown = set(stores) - {"sqlite_file", "postgresql", "mariadb"}
    if unknown or not only <= {"cost", "latency"}:
        parser.error(f"unknown store(s) or part(s): {sorted(unknown | (only - {'cost', 'latency'}))}")
    sink = open(args.out, "a") if args.out else None  # noqa: SIM115
    try:
        emit({"bench": "meta", "python": sys.version.split()[0], "cpus": os.cpu_count(),
              "load": os.getloadavg()[0], "n": n, "rounds": rounds,
              "latency_samples": lat, "quick": args.quick}, sink)
        if "cost" in only:
            bench_cost(n, rounds, sink)
        if "latency" in only:
            with tempfile.TemporaryDirectory(prefix="bench-events-") as tmp:
                if "sqlite_file" in stores:
                    bench_latency("sqlite_file",
                                  f"sqlite:///{os.path.join(tmp, 'lat.sqlite')}", lat, sink)
                for name in ("postgresql", "mariadb"):
                    if name not in stores:
                        continue
                    from tools.dbservers import MariaDBServer, PostgresServer
                    server = (PostgresServer if name == "postgresql" else MariaDBServer)()
                    server.start()
                    try:
                        bench_latency(name, server.new_database("bench_events"), lat, sink)
                    finally:
                        server.stop()
    finally:
        if sink is not None:
            sink.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
