#!/usr/bin/env python3
"""Time the rbd driver on a real single-node Ceph cluster, each figure against a
baseline measured in the same run.

* ``clone_10g``: a volume from a snapshot of a 10 GiB volume holding ``--data-mib`` of
  data spread over it: the COW clone (default options) against a full copy
  (``rbd_flatten_volume_from_snapshot=True``, the clone flattened at once).
* ``group_snapshot_10``: a group snapshot of 10 volumes: one native RBD group
  snapshot (``CONSISTENT_GROUP_SNAPSHOT``) against the library's per-volume fallback
  (the same driver with that capability hidden).
* ``create_delete``: creating and deleting 1 GiB volumes (ops per second), with
  deferred deletion off (today's default) and on.

Runs through the public API (memory persistence). Starts a throwaway cluster with
``tools/cephcluster.py`` in a temporary folder under ``/var/tmp`` (stopped by PID and
removed at the end), or uses a running one with ``--cluster DIR``. Prints one JSON
line per measure, e.g.::

    {"bench": "clone_10g", "method": "cow_clone", "ms_per_op": 60.1,
     "baseline": "full_copy", "baseline_ms_per_op": 2400.5, "ratio_vs_baseline": 0.025}

``--against-cinderlib`` runs instead a side-by-side comparison with cinderlib 5.2.0
driving Cinder 23's own ``RBDDriver`` on the same cluster (its own pool and cephx
user, so neither side sees the other's images or trash): create, snapshot, clone and
delete of 1 GiB volumes, each side with deferred deletion off and on
(``rbd_deferred_deletion`` / Cinder's ``enable_deferred_deletion``, delay 0), in
interleaved rounds (ABBA order); the purge of the trash each deferred round leaves
is timed apart (``purge``: images purged per second, one pass per round). The cinderlib side runs in the anchor venv (``$ANCHOR_VENV``, default
``/tmp/anchor/venv``, built by ``../shared/perf/perf_compare.sh``) as a worker
process (``tools/bench_rbd_cinderlib.py``) with Debian's ``rados``/``rbd`` modules
linked into a temporary folder on its ``PYTHONPATH``. JSON lines go to stdout (one per
side, mode and round, then one per workload and mode with the ratio), the table
(Markdown) to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from typing import IO, Any

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


def bench_create_delete(config: dict[str, Any], count: int,
                        deferred: bool = False) -> dict[str, Any]:
    """Create then delete ``count`` 1 GiB volumes; with ``deferred`` the trash they
    leave is purged afterwards (timed apart)."""
    backend = volumelib.Backend(volume_backend_name=f"bench-ops-{int(deferred)}",
                                **dict(config, rbd_deferred_deletion=deferred))
    try:
        started = time.perf_counter()
        vols = [backend.create_volume(1) for _ in range(count)]
        created = time.perf_counter() - started
        started = time.perf_counter()
        for vol in vols:
            vol.delete()
        deleted = time.perf_counter() - started
        started = time.perf_counter()
        purged = len(backend.driver.purge_trash())
        purge_s = time.perf_counter() - started
    finally:
        backend.close()
    line = {"bench": "create_delete", "volumes": count, "deferred_deletion": deferred,
            "create_ops_per_s": round(count / created, 1),
            "delete_ops_per_s": round(count / deleted, 1)}
    if deferred:
        line["purge_ops_per_s"] = round(purged / purge_s, 1) if purged else None
    return line


# -- side by side with cinderlib ------------------------------------------------------------

WORKLOADS = ("create", "snapshot", "clone", "delete", "purge")
MODES = (False, True)  # deferred deletion off (today), on
CINDERLIB_POOL = "cinderlib"


def _mode(deferred: bool) -> str:
    return "deferred" if deferred else "remove"


def volumelib_round(backend: Any, n: int) -> dict[str, list[float]]:
    """One round through volumelib's public API: ``n`` source volumes and ``n`` plain
    ones created, a snapshot and a clone of each source, the plain ones deleted (the
    timed deletes), then the rest deleted untimed; with deferred deletion the trash
    is then purged (timed apart). Returns milliseconds per operation by workload."""
    ms: dict[str, list[float]] = {k: [] for k in WORKLOADS}

    def timed(fn: Callable[[], Any], workload: str) -> Any:
        took, result = _timed(fn)
        ms[workload].append(took)
        return result

    sources = [timed(lambda: backend.create_volume(1), "create") for _ in range(n)]
    plain = [timed(lambda: backend.create_volume(1), "create") for _ in range(n)]
    snaps = [timed(lambda v=v: v.create_snapshot(), "snapshot") for v in sources]
    clones = [timed(lambda v=v: v.clone(), "clone") for v in sources]
    for vol in plain:
        timed(vol.delete, "delete")
    for obj in clones + snaps + sources:
        obj.delete()
    if backend.driver.config.rbd_deferred_deletion:
        took, purged = _timed(backend.driver.purge_trash)
        ms["purge"] = _per_image(took, len(purged))
    return ms


def _per_image(total_ms: float, count: int) -> list[float]:
    """A purge pass as ``count`` samples of its mean time per image (so ops/s counts
    images purged)."""
    return [total_ms / count] * count if count else []


class CinderlibWorker:
    """``tools/bench_rbd_cinderlib.py`` in the anchor venv, spoken to over pipes;
    stopped by its PID (``Popen``) at :meth:`close`, also after failures.

    Args:
        python: the anchor venv's interpreter.
        workdir: a private folder (the Ceph modules' links, the worker's stderr log).
    """

    def __init__(self, python: str, workdir: str) -> None:
        mods = os.path.join(workdir, "ceph-bindings")
        os.makedirs(mods, exist_ok=True)
        found = _ceph_modules()
        for path in found:
            os.symlink(path, os.path.join(mods, os.path.basename(path)))
        self.log_path = os.path.join(workdir, "cinderlib-worker.log")
        self._log: IO[bytes] = open(self.log_path, "wb")  # noqa: SIM115 - closed in close()
        env = dict(os.environ, PYTHONPATH=mods)
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                              "bench_rbd_cinderlib.py")
        self.proc = subprocess.Popen([python, script], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self._log, cwd=workdir,
                                     env=env, text=True)

    def call(self, **request: Any) -> dict[str, Any]:
        """Send one request; return the reply. Raises ``RuntimeError`` on a failure."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the cinderlib worker exited ({self.proc.poll()}); see "
                               f"{self.log_path}")
        reply = json.loads(line)
        if not reply.get("ok"):
            raise RuntimeError(f"cinderlib worker: {reply.get('error')} (log: "
                               f"{self.log_path})")
        return reply

    def close(self) -> None:
        """Ask the worker to quit; kill it by PID if it does not within 30 s."""
        try:
            if self.proc.poll() is None:
                try:
                    self.call(cmd="quit")
                    self.proc.wait(timeout=30)
                except (OSError, RuntimeError, ValueError, subprocess.TimeoutExpired):
                    pass
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(timeout=30)
            self._log.close()


def _ceph_modules() -> list[str]:
    """Debian's ``rados``/``rbd`` extension modules for this Python (as tools/setup-env
    finds them)."""
    tag = sysconfig.get_config_var("SOABI") or "cpython-311-x86_64-linux-gnu"
    found = []
    for name in ("rados", "rbd"):
        matches = glob.glob(f"/usr/lib/python3/dist-packages/{name}.{tag}.so") or \
            glob.glob(f"/usr/lib/python3/dist-packages/{name}.cpython-*.so")
        if not matches:
            raise RuntimeError(f"no {name} module in /usr/lib/python3/dist-packages "
                               f"(Debian package python3-{name})")
        found.append(matches[0])
    return found


def _summary(samples: list[float]) -> dict[str, Any]:
    """ops/s over all samples (count / total time) and the median ms per op."""
    total = sum(samples) / 1000.0
    return {"ops": len(samples), "ops_per_s": round(len(samples) / total, 1) if total else None,
            "median_ms": round(statistics.median(samples), 2) if samples else None}


def against_cinderlib(cluster: CephCluster, config: dict[str, Any], rounds: int, n: int,
                      anchor_python: str, out: IO[str]) -> list[dict[str, Any]]:
    """Interleaved rounds of both sides in both modes; prints JSON lines to ``out``
    and returns the per-workload summary lines."""
    keyring = cluster.add_pool_for(CINDERLIB_POOL, CINDERLIB_POOL)
    workdir = tempfile.mkdtemp(prefix="bench-rbd-cinderlib-")
    worker = CinderlibWorker(anchor_python, workdir)
    backends: dict[bool, Any] = {}
    samples: dict[tuple[str, bool], dict[str, list[float]]] = {
        (side, d): {k: [] for k in WORKLOADS} for side in ("cinderlib", "volumelib")
        for d in MODES}
    try:
        version = worker.call(cmd="setup", config={
            "pool": CINDERLIB_POOL, "user": CINDERLIB_POOL, "conf": cluster.conf_path,
            "keyring": keyring, "delay": 0})["cinderlib"]
        for d in MODES:
            backends[d] = volumelib.Backend(
                volume_backend_name=f"bench-volumelib-{_mode(d)}",
                **dict(config, rbd_deferred_deletion=d, rbd_deferred_deletion_delay=0))
        plan = [(side, d) for d in MODES for side in ("cinderlib", "volumelib")]
        for r in range(rounds):
            for side, d in (plan if r % 2 == 0 else plan[::-1]):
                if side == "cinderlib":
                    reply = worker.call(cmd="round", deferred=d, n=n)
                    ms = reply["ms"]
                    ms["purge"] = _per_image(sum(ms["purge"]), reply["purged"])
                else:
                    ms = volumelib_round(backends[d], n)
                for workload, values in ms.items():
                    samples[(side, d)][workload].extend(values)
                line = {"bench": "rbd_against_cinderlib", "side": side, "mode": _mode(d),
                        "round": r, "n": n, "load": round(os.getloadavg()[0], 2),
                        **{w: _summary(v) for w, v in ms.items() if v}}
                print(json.dumps(line), file=out, flush=True)
    finally:
        for backend in backends.values():
            backend.close()
        worker.close()
        shutil.rmtree(workdir, ignore_errors=True)
    lines = []
    for d in MODES:
        for workload in WORKLOADS:
            cl = _summary(samples[("cinderlib", d)][workload])
            vl = _summary(samples[("volumelib", d)][workload])
            if not cl["ops"] and not vl["ops"]:
                continue
            today = _summary(samples[("volumelib", False)][workload])
            line = {"bench": "rbd_against_cinderlib", "workload": workload,
                    "mode": _mode(d), "rounds": rounds, "n": n, "cinderlib": version,
                    "cinderlib_ops_per_s": cl["ops_per_s"],
                    "volumelib_ops_per_s": vl["ops_per_s"],
                    "cinderlib_median_ms": cl["median_ms"],
                    "volumelib_median_ms": vl["median_ms"],
                    "ratio": _ratio(vl["ops_per_s"], cl["ops_per_s"]),
                    "volumelib_vs_remove": _ratio(vl["ops_per_s"], today["ops_per_s"])}
            print(json.dumps(line), file=out, flush=True)
            lines.append(line)
    return lines


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b else None


def table(lines: list[dict[str, Any]]) -> str:
    """The summary lines as two Markdown tables: throughput (ops/s: operations over
    their total time) and the median milliseconds per operation, for each side and
    mode, with the ratios volumelib/cinderlib (> 1: volumelib is faster) and
    volumelib's deferred figure against its own without deferred deletion (today)."""
    by = {(x["workload"], x["mode"]): x for x in lines}

    def cell(value: Any) -> str:
        return "–" if value is None else f"{value:,}"

    def inverse(a: float | None, b: float | None) -> float | None:
        return _ratio(b, a)  # times: the smaller is faster

    out = []
    for title, key, ratio in (("ops/s", "ops_per_s", _ratio),
                              ("median ms per op", "median_ms", inverse)):
        out += [f"| {title} | cinderlib, remove | volumelib, remove (today) | ratio "
                f"| cinderlib, deferred | volumelib, deferred | ratio "
                f"| volumelib deferred vs today |",
                "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for workload in WORKLOADS:
            off, on = by.get((workload, "remove"), {}), by.get((workload, "deferred"), {})
            if not off and not on:
                continue
            cl_off, vl_off = off.get(f"cinderlib_{key}"), off.get(f"volumelib_{key}")
            cl_on, vl_on = on.get(f"cinderlib_{key}"), on.get(f"volumelib_{key}")
            out.append(f"| {workload} | {cell(cl_off)} | {cell(vl_off)} "
                       f"| {cell(ratio(vl_off, cl_off))} | {cell(cl_on)} | {cell(vl_on)} "
                       f"| {cell(ratio(vl_on, cl_on))} | {cell(ratio(vl_on, vl_off))} |")
        out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cluster", help="use the cluster in this folder (started if "
                                          "needed, left running)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--data-mib", type=int, default=256,
                        help="data written into the 10 GiB source volume")
    parser.add_argument("--ops", type=int, default=None,
                        help="volumes for create_delete (default 50); per round, side "
                             "and mode with --against-cinderlib (default 20)")
    parser.add_argument("--against-cinderlib", action="store_true",
                        help="side by side with cinderlib 5.2.0 driving Cinder's RBDDriver")
    parser.add_argument("--rounds", type=int, default=3,
                        help="interleaved rounds per side and mode (--against-cinderlib)")
    parser.add_argument("--anchor-venv", default=os.environ.get("ANCHOR_VENV",
                                                                "/tmp/anchor/venv"),
                        help="the cinderlib 5.2.0 venv (../shared/perf/perf_compare.sh "
                             "builds it)")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("bench_rbd: needs root (the cluster's daemons and attach)", file=sys.stderr)
        return 2
    if args.against_cinderlib:
        anchor = os.path.join(args.anchor_venv, "bin", "python")
        if not os.access(anchor, os.X_OK):
            print(f"bench_rbd: no cinderlib venv at {args.anchor_venv} (build it with "
                  f"../shared/perf/perf_compare.sh --side cinderlib --quick, or set "
                  f"ANCHOR_VENV)", file=sys.stderr)
            return 2
    volumelib.setup()
    with _cluster(args.cluster) as cluster:
        config = cluster.backend_config()
        if args.against_cinderlib:
            lines = against_cinderlib(cluster, config, args.rounds, args.ops or 20, anchor,
                                      sys.stdout)
            print("\n" + table(lines), file=sys.stderr)
            return 0
        for line in (bench_clone(config, args.runs, args.data_mib),
                     bench_group_snapshot(config, args.runs),
                     bench_create_delete(config, args.ops or 50),
                     bench_create_delete(config, args.ops or 50, deferred=True)):
            print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
