#!/usr/bin/env python3
"""The cinderlib side of ``tools/bench_rbd.py --against-cinderlib``: a worker process
that runs in the cinderlib 5.2.0 venv (``../shared/perf/``) and drives Cinder 23's own
``cinder.volume.drivers.rbd.RBDDriver`` through cinderlib.

It imports only the standard library and cinderlib (never volumelib), and needs
Debian's ``rados``/``rbd`` modules on ``PYTHONPATH`` (``bench_rbd.py`` links them into
a temporary folder, as ``tools/setup-env`` does for the project's venv).

Protocol: one JSON object per line on stdin, one JSON reply per line on stdout
(anything else cinderlib or Ceph prints goes to stderr)::

    {"cmd": "setup", "config": {...}}      -> {"ok": true}
        config: pool, user, conf, keyring, delay; two backends are made, one with
        enable_deferred_deletion=False, one with True (deferred_deletion_delay=delay,
        deferred_deletion_purge_interval one day: never during a run; the bench purges)
    {"cmd": "round", "deferred": bool, "n": int}
        -> {"ok": true, "ms": {"create": [...], "snapshot": [...], "clone": [...],
                               "delete": [...], "purge": [...]}, "purged": int}
        (purge: one pass of Cinder's periodic ``_trash_purge``; purged: the entries it
        removed, counted by listing the trash before and after)
    {"cmd": "quit"}                          -> {"ok": true}, then exit

A failure replies ``{"ok": false, "error": "..."}`` and the worker keeps serving.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import traceback
from typing import Any, Callable

DAY = 24 * 3600


def _timed(fn: Callable[[], Any], into: list[float]) -> Any:
    started = time.perf_counter()
    result = fn()
    into.append((time.perf_counter() - started) * 1000.0)
    return result


class Worker:
    """Two cinderlib backends on one pool (deferred deletion off and on)."""

    def __init__(self) -> None:
        self.backends: dict[bool, Any] = {}

    def setup(self, config: dict[str, Any]) -> dict[str, Any]:
        import cinderlib
        cinderlib.setup(persistence_config={"storage": "memory"},
                        file_locks_path=tempfile.mkdtemp(prefix="bench-rbd-cl-locks-"),
                        disable_logs=True)
        for deferred in (False, True):
            self.backends[deferred] = cinderlib.Backend(
                volume_driver="cinder.volume.drivers.rbd.RBDDriver",
                volume_backend_name=f"bench-cinderlib-{'deferred' if deferred else 'remove'}",
                rbd_pool=config["pool"], rbd_user=config["user"],
                rbd_ceph_conf=config["conf"], rbd_keyring_conf=config["keyring"],
                enable_deferred_deletion=deferred,
                deferred_deletion_delay=int(config.get("delay", 0)),
                deferred_deletion_purge_interval=DAY)
        return {"ok": True, "cinderlib": cinderlib.__version__}

    def round(self, deferred: bool, n: int) -> dict[str, Any]:
        backend = self.backends[deferred]
        ms: dict[str, list[float]] = {k: [] for k in ("create", "snapshot", "clone",
                                                       "delete", "purge")}
        sources = [_timed(lambda: backend.create_volume(1), ms["create"]) for _ in range(n)]
        plain = [_timed(lambda: backend.create_volume(1), ms["create"]) for _ in range(n)]
        snaps = [_timed(lambda v=v: v.create_snapshot(), ms["snapshot"]) for v in sources]
        clones = [_timed(lambda v=v: v.clone(), ms["clone"]) for v in sources]
        for vol in plain:
            _timed(vol.delete, ms["delete"])
        for clone in clones:  # not timed: the pool back to empty for the next round
            clone.delete()
        for snap in snaps:
            snap.delete()
        for vol in sources:
            vol.delete()
        purged = 0
        if deferred:
            driver = backend.driver
            before = self._trash_count(driver)
            _timed(driver._trash_purge, ms["purge"])  # Cinder's periodic task, run once
            purged = before - self._trash_count(driver)  # one pass may leave parents
        return {"ok": True, "ms": ms, "purged": purged}

    @staticmethod
    def _trash_count(driver: Any) -> int:
        from cinder.volume.drivers import rbd as cinder_rbd
        with cinder_rbd.RADOSClient(driver) as client:
            return len(list(driver.RBDProxy().trash_list(client.ioctx)))


def main() -> int:
    worker = Worker()
    out = sys.stdout
    sys.stdout = sys.stderr  # whatever else prints must not break the protocol
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
            cmd = request["cmd"]
            if cmd == "setup":
                reply = worker.setup(request["config"])
            elif cmd == "round":
                reply = worker.round(bool(request["deferred"]), int(request["n"]))
            elif cmd == "quit":
                out.write(json.dumps({"ok": True}) + "\n")
                out.flush()
                return 0
            else:
                reply = {"ok": False, "error": f"unknown command {cmd!r}"}
        except Exception as e:  # noqa: BLE001 - the bench reports it and stops
            traceback.print_exc()
            reply = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        out.write(json.dumps(reply) + "\n")
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
