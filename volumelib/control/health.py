"""Pool health: cheap checks from the store and the driver, and a synthetic probe.

:func:`pool_health` is what ``ControlPlane.health()`` reports per pool without
touching data: is the storage reachable (``is_alive``), its capacity (Cinder stats),
and its volumes counted by status from the store.

:func:`probe` exercises the data path for real on one backend: it creates a small
volume, snapshots it, clones it and deletes all three, timing each step. Whatever
happens, what it created is deleted again (newest first) before it returns, also the
record a failed clone leaves in ``error``; a step that fails is reported with its
error, and so is a clean-up that fails (the probe
volumes carry the metadata ``volumelib_probe=1`` so an operator can find leftovers,
and ``gc()`` reconciles any record a crash left in a transitional state).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from volumelib.backend import Backend
from volumelib.drivers.types import Capability

__all__ = ["probe", "pool_health", "PROBE_METADATA", "PROBE_STEPS"]

LOG = logging.getLogger(__name__)

#: Metadata on every volume a probe creates.
PROBE_METADATA = {"volumelib_probe": "1"}
#: The probe's steps, in order.
PROBE_STEPS = ("create", "snapshot", "clone", "delete")


def _error(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"


def probe(backend: Backend, *, size: int = 1,
          clock: Callable[[], float] = time.monotonic) -> dict[str, Any]:
    """Create, snapshot, clone and delete a ``size`` GiB volume on ``backend``.

    Args:
        backend: the pool's backend.
        size: GiB of the probe volume.
        clock: seconds, for the timings (injectable for tests).

    Returns:
        ``{"ok": bool, "steps": [{"step", "ok", "seconds", "error"?}...],
        "seconds": total, "error": first error or None, "cleanup": [errors]}``.
        A step that cannot run because the driver lacks the capability (a driver
        without CLONE) is reported with ``"skipped"`` and does not fail the probe.
        Never raises for a driver failure: it is the report.
    """
    steps: list[dict[str, Any]] = []
    created: list[Any] = []   # objects to delete, oldest first
    report: dict[str, Any] = {"backend": backend.id, "ok": False, "steps": steps,
                              "error": None, "cleanup": []}
    start = clock()

    def run(step: str, func: Callable[[], Any]) -> Any:
        t0 = clock()
        try:
            result = func()
        except Exception as e:  # noqa: BLE001 - a failed step is the report
            steps.append({"step": step, "ok": False, "seconds": clock() - t0,
                          "error": _error(e)})
            LOG.warning("probe of %s: %s failed: %s", backend.id, step, e)
            raise
        steps.append({"step": step, "ok": True, "seconds": clock() - t0})
        return result

    try:
        vol = run("create", lambda: backend.create_volume(
            size=size, name="volumelib-probe", metadata=PROBE_METADATA))
        created.append(vol)
        snap = run("snapshot", lambda: vol.create_snapshot(name="volumelib-probe"))
        created.append(snap)
        if Capability.CLONE in backend.capabilities:
            clone = run("clone", lambda: vol.clone(name="volumelib-probe-clone",
                                                   metadata=PROBE_METADATA))
            created.append(clone)
        else:
            steps.append({"step": "clone", "ok": True, "seconds": 0.0,
                          "skipped": "the driver does not declare CLONE"})

        def delete_all() -> None:
            while created:
                created[-1].delete()
                created.pop()

        run("delete", delete_all)
        report["ok"] = True
    except Exception as e:  # noqa: BLE001
        report["error"] = _error(e)
    finally:
        if created:
            # A create that failed leaves its record in error (as any failed create
            # does): the probe's own leftovers go too, before their source.
            source = created[0]
            leftovers = [v for v in backend.persistence.get_volumes(
                backend_name=backend.id)
                if v.source_volid == source.id and v.id not in {o.id for o in created}
                and v.metadata.get("volumelib_probe") == PROBE_METADATA["volumelib_probe"]]
            for v in leftovers:
                v._bind(backend)
            created[1:1] = leftovers
        for obj in reversed(created):
            try:
                obj.delete()
            except Exception as e:  # noqa: BLE001 - keep cleaning, report it
                LOG.warning("probe of %s: clean-up of %s %s failed: %s", backend.id,
                            type(obj).__name__, obj.id, e)
                report["cleanup"].append(f"{type(obj).__name__} {obj.id}: {_error(e)}")
    report["seconds"] = clock() - start
    return report


def pool_health(backend: Backend | None, *, error: str | None = None) -> dict[str, Any]:
    """What a pool's health says without touching data.

    Args:
        backend: the pool's backend, or ``None`` when it could not be built.
        error: why the backend could not be built.

    Returns:
        ``{"alive", "capacity": {total/free/provisioned GiB...} | None,
        "volumes_by_status": {...}, "error": str | None}``.
    """
    if backend is None:
        return {"alive": False, "capacity": None, "volumes_by_status": {},
                "error": error}
    alive = backend.is_alive()
    capacity = None
    problem = None
    try:
        stats = backend.stats(refresh=True)
        capacity = {key: sum(p.get(key) or 0 for p in stats.get("pools", [])
                             if isinstance(p.get(key) or 0, (int, float)))
                    for key in ("total_capacity_gb", "free_capacity_gb",
                                "provisioned_capacity_gb", "allocated_capacity_gb",
                                "total_volumes")}
    except Exception as e:  # noqa: BLE001 - health reports, never raises
        problem = _error(e)
    by_status: dict[str, int] = {}
    for vol in backend.persistence.get_volumes(backend_name=backend.id):
        by_status[vol.status] = by_status.get(vol.status, 0) + 1
    return {"alive": alive, "capacity": capacity, "volumes_by_status": by_status,
            "error": problem}
