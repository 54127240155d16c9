#!/usr/bin/env python3
"""Time the rbd driver on a real single-node Ceph cluster, each figure against a
baseline measured in the same run.

* ``clone_10g``: a volume from a snapshot of a 10 GiB volume holding ``--data-mib`` of
  data spread over it: the COW clone (default options) against a full copy
  (``rbd_flatten_volume_from_snapshot=True``, the clone flattened at once).
* ``group_snapshot_10``: a group snapshot of 10 volumes: one native RBD group
  snapshot (``CONSISTENT_GROUP_SNAPSHOT``) against the library's per-volume fallback
  (the same driver with that capability hidden).
* ``create_delete``: creating and deleting 1 GiB volumes (ops per second).

Runs through the public API (memory persistence). Starts a throwaway cluster with
``tools/cephcluster.py`` in a temporary folder under ``/var/tmp`` (stopped by PID and
removed at the end), or uses a running one with ``--cluster DIR``. Prints one JSON
line per measure, e.g.::

    {"bench": "clone_10g", "method": "cow_clone", "ms_per_op": 60.1,
     "baseline": "full_copy", "baseline_ms_per_op": 2400.5, "ratio_vs_baseline": 0.025}
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import volumelib  # noqa: E402
from tools.cephcluster import CephCluster  # noqa: E402
from volumelib.drivers.rbd.driver import RBDDriver  # noqa: E402
from volumelib.drivers.types import Capability, VolumeInfo  # noqa: E402

MiB = 1024 ** 2
GiB = 1024 ** 3


class FallbackRBDDriver(RBDDriver):
    """The rbd driver without CONSISTENT_GROUP_SNAPSHOT: group snapshots go through the
    library's per-volume fallback (the baseline of ``group_snapshot_10``)."""

    @property
    def capabilities(self) -> frozenset[Capability]:
        return super().capabilities - {Capability.CONSISTENT_GROUP_SNAPSHOT}


@contextlib.contextmanager
def _cluster(workdir: str | None) -> Iterator[CephCluster]:
    if workdir:
        yield CephCluster(workdir).start()
        return
    folder = tempfile.mkdtemp(prefix="volumelib-bench-ceph-", dir="/var/tmp")
    cluster = CephCluster(folder)
    try:
        yield cluster.start()
    finally:
        cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return (time.perf_counter() - started) * 1000.0, result


def _spread(backend: Any, vol: Any, size: int, data: int) -> None:
    """Write ``data`` bytes in 4 MiB pieces spread evenly over ``size`` bytes."""
    piece = 4 * MiB
    count = max(1, data // piece)
    stride = size // count
    block = os.urandom(piece)
    with backend.driver.open_image(vol.id) as image:
        for i in range(count):
            image.write(block, i * stride)
        image.flush()


def _line(bench: str, method: str, ms: list[float], baseline: str,
          baseline_ms: list[float], **extra: Any) -> dict[str, Any]:
    med, base = statistics.median(ms), statistics.median(baseline_ms)
    return {"bench": bench, "method": method, "ms_per_op": round(med, 2),
            "runs": len(ms), "baseline": baseline, "baseline_ms_per_op": round(base, 2),
            "ratio_vs_baseline": round(med / base, 4) if base else None, **extra}


def bench_clone(config: dict[str, Any], runs: int, data_mib: int) -> dict[str, Any]:
    """Both methods through the driver (no store), on the same snapshot."""
    cow = volumelib.Backend(volume_backend_name="bench-cow", **config)
    full = volumelib.Backend(volume_backend_name="bench-full",
                             **dict(config, rbd_flatten_volume_from_snapshot=True))
    try:
        vol = cow.create_volume(10, name="clone-source")
        _spread(cow, vol, 10 * GiB, data_mib * MiB)
        snap = vol.create_snapshot()
        source = snap.info()
        results: dict[str, list[float]] = {"cow": [], "full": []}
        for _ in range(runs):
            for label, backend in (("cow", cow), ("full", full)):
                target = VolumeInfo(id=str(uuid.uuid4()), size=10)
                ms, _ = _timed(lambda: backend.driver.create_volume_from_snapshot(
                    target, source))
                results[label].append(ms)
                backend.driver.delete_volume(target)
        snap.delete()
        vol.delete()
        return _line("clone_10g", "cow_clone", results["cow"], "full_copy", results["full"],
                     data_mib=data_mib)
    finally:
        cow.close()
        full.close()


def bench_group_snapshot(config: dict[str, Any], runs: int) -> dict[str, Any]:
    times: dict[str, list[float]] = {}
    for label, driver in (("native", "rbd"),
                          ("fallback", f"{__name__}.FallbackRBDDriver")):
        backend = volumelib.Backend(volume_backend_name=f"bench-{label}",
                                    **dict(config, volume_driver=driver))
        try:
            vols = [backend.create_volume(1, name=f"g{i}") for i in range(10)]
            for vol in vols:
                _spread(backend, vol, GiB, 8 * MiB)
            group = backend.create_group(volumes=vols, group_type={
                "consistent_group_snapshot_enabled": "<is> True"})
            times[label] = []
            for _ in range(runs):
                ms, gs = _timed(lambda: group.create_snapshot())
                assert gs.consistent == (label == "native")
                times[label].append(ms)
                gs.delete()
            group.delete(delete_volumes=True)
        finally:
            backend.close()
    return _line("group_snapshot_10", "native_rbd_group_snapshot", times["native"],
                 "per_volume_fallback", times["fallback"])


def bench_create_delete(config: dict[str, Any], count: int) -> dict[str, Any]:
    backend = volumelib.Backend(volume_backend_name="bench-ops", **config)
    try:
        started = time.perf_counter()
        vols = [backend.create_volume(1) for _ in range(count)]
        created = time.perf_counter() - started
        started = time.perf_counter()
        for vol in vols:
            vol.delete()
        deleted = time.perf_counter() - started
    finally:
        backend.close()
    return {"bench": "create_delete", "volumes": count,
            "create_ops_per_s": round(count / created, 1),
            "delete_ops_per_s": round(count / deleted, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cluster", help="use the cluster in this folder (started if "
                                          "needed, left running)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--data-mib", type=int, default=256,
                        help="data written into the 10 GiB source volume")
    parser.add_argument("--ops", type=int, default=50, help="volumes for create_delete")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("bench_rbd: needs root (the cluster's daemons and attach)", file=sys.stderr)
        return 2
    volumelib.setup()
    with _cluster(args.cluster) as cluster:
        config = cluster.backend_config()
        for line in (bench_clone(config, args.runs, args.data_mib),
                     bench_group_snapshot(config, args.runs),
                     bench_create_delete(config, args.ops)):
            print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
