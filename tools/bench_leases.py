#!/usr/bin/env python3
"""Benchmark of leases and quota checks on SQLite and PostgreSQL. Prints JSON lines.

One line per measurement::

    {"bench": "acquire", "store": "sqlite_file", "n": 1000, "ops_per_s": ...,
     "seconds": ..., "baseline": "kv_write", "ratio": 0.62}

Measurements, each on a SQLite file (WAL, ``synchronous=NORMAL``) and on a throwaway
PostgreSQL server (``tools/dbservers.py``), in one process per store:

* ``kv_write``: ``store.set_key_value`` of a new key — a plain write, the baseline of
  the ratios (one read and one insert, like ``acquire``).
* ``acquire``: a new lease (one read, one insert); ``renew`` (one read, one
  compare-and-set update); ``release`` (one read, one compare-and-set delete);
  ``acquire_held``: an acquire refused with ``LeaseHeld`` (one read).
* ``operation``: ``LeaseManager.operation()`` entered and left — what every library
  operation on a volume now pays (acquire, heartbeat thread, release).
* ``create_no_quota_check`` / ``create``: ``backend.create_volume`` (fake driver)
  without and with the quota check of a project that has no limits (one read); the
  ratio ``create``/``create_no_quota_check`` is the cost of quotas when unused.

Usage: ``python tools/bench_leases.py [--quick] [--n 1000] [--stores sqlite_file,postgresql]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)


def _rate(n: int, func: Callable[[int], Any]) -> tuple[float, float]:
    t0 = time.perf_counter()
    for i in range(n):
        func(i)
    seconds = time.perf_counter() - t0
    return n / seconds, seconds


def bench_store(name: str, url: str, n: int) -> list[dict[str, Any]]:
    import volumelib
    from volumelib import exceptions as exc
    from volumelib.control import quotas
    from volumelib.control.leases import LeaseManager
    from volumelib.objects import KeyValue
    from volumelib.persistence.dbms.store import DBPersistence

    store = DBPersistence(url)
    lines: list[dict[str, Any]] = []

    def line(bench: str, rate: tuple[float, float], baseline: str | None = "kv_write",
             base_rate: float | None = None) -> None:
        out = {"bench": bench, "store": name, "n": n, "ops_per_s": round(rate[0], 1),
               "seconds": round(rate[1], 4)}
        if baseline and base_rate:
            out["baseline"] = baseline
            out["ratio"] = round(rate[0] / base_rate, 3)
        lines.append(out)
        print(json.dumps(out), flush=True)

    try:
        kv = _rate(n, lambda i: store.set_key_value(KeyValue(f"bench-{i}", "x")))
        line("kv_write", kv, baseline=None)
        leases = LeaseManager(store, holder="bench")
        line("acquire", _rate(n, lambda i: leases.acquire(f"r-{i}", ttl=60)), base_rate=kv[0])
        line("renew", _rate(n, lambda i: leases.renew(f"r-{i}")), base_rate=kv[0])
        other = LeaseManager(store, holder="other")

        def held(i: int) -> None:
            try:
                other.acquire(f"r-{i}", ttl=60)
            except exc.LeaseHeld:
                return
            raise AssertionError("acquire of a held lease succeeded")

        line("acquire_held", _rate(n, held), base_rate=kv[0])
        line("release", _rate(n, lambda i: leases.release(f"r-{i}")), base_rate=kv[0])

        def op(i: int) -> None:
            with leases.operation(f"op-{i}", "bench"):
                pass

        line("operation", _rate(n, op), base_rate=kv[0])

        volumelib.setup(persistence_config={"storage": store}, project_id="bench")
        backend = volumelib.Backend("bench", "fake", persistence=store)
        # Alternate batches of both, so that the growing table weighs on both alike.
        real_reserve = quotas.reserve
        no_check = lambda *a, **k: quotas.Reservation(store, None, {})  # noqa: E731
        spent = {"plain": 0.0, "checked": 0.0}
        batch = max(1, n // 10)
        for _ in range(max(1, n // batch)):
            quotas.reserve = no_check  # type: ignore[assignment]
            try:
                spent["plain"] += _rate(batch, lambda i: backend.create_volume(1))[1]
            finally:
                quotas.reserve = real_reserve  # type: ignore[assignment]
            spent["checked"] += _rate(batch, lambda i: backend.create_volume(1))[1]
        done = batch * max(1, n // batch)
        plain = (done / spent["plain"], spent["plain"])
        line("create_no_quota_check", plain, baseline=None)
        line("create", (done / spent["checked"], spent["checked"]),
             baseline="create_no_quota_check", base_rate=plain[0])
        backend.close()
        volumelib.setup()
    finally:
        store.close()
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="N=200")
    parser.add_argument("--n", type=int, default=1000, help="operations per measurement")
    parser.add_argument("--stores", default="sqlite_file,postgresql",
                        help="comma-separated: sqlite_file, postgresql")
    args = parser.parse_args(argv)
    n = 200 if args.quick else args.n
    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    unknown = set(stores) - {"sqlite_file", "postgresql"}
    if unknown:
        parser.error(f"unknown store(s): {', '.join(sorted(unknown))}")
    with tempfile.TemporaryDirectory(prefix="bench-leases-") as tmp:
        if "sqlite_file" in stores:
            bench_store("sqlite_file", f"sqlite:///{os.path.join(tmp, 'b.sqlite')}", n)
        if "postgresql" in stores:
            from tools.dbservers import PostgresServer
            server = PostgresServer().start()
            try:
                bench_store("postgresql", server.new_database("bench_leases"), n)
            finally:
                server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
