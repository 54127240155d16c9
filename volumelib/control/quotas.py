"""Per-project quotas: ``volumes``, ``gigabytes`` and ``snapshots``.

::

    quotas = volumelib.quotas()                 # on the current store
    quotas.set_limit("project-a", "volumes", 10)
    quotas.set_limit("project-a", "gigabytes", 500)
    quotas.get("project-a")
    # {"volumes": {"limit": 10, "in_use": 3}, "gigabytes": {...}, "snapshots": {...}}

A limit is one :class:`~volumelib.objects.Quota` row per project and resource, with
the project's usage (``in_use``) kept next to it. The library reserves usage **before**
it stores the intent of an operation and calls the driver:

* ``create_volume`` (also clone, from a snapshot, from an image): 1 volume and
  ``size`` gigabytes; ``extend``: the added gigabytes; ``create_snapshot``: 1 snapshot.
* A reservation is a compare-and-set on the ``Quota`` row: of several processes
  racing for the last unit exactly the ones that fit win, the others get
  :class:`~volumelib.exceptions.QuotaExceeded` (with ``in_use``, ``requested`` and
  ``limit``) and nothing is stored. The usage never passes the limit.
* It is given back when the operation fails before its record is stored, when an
  extend fails, and when the volume or snapshot is deleted (also by ``gc()``). A
  create whose driver call failed leaves an ``error`` record, which counts until it
  is deleted (as in Cinder): usage is what the store holds.

Without any limit set for a project nothing is enforced or counted, and an operation
costs one extra read (the project's quota rows). ``set_limit`` starts counting: the
first limit of a resource takes its usage from the store's records; ``sync`` does that
again on demand (after a crash in the middle of an operation, which can leave a
reservation counted).

Group operations reserve through :func:`reserve` too (:mod:`volumelib.objects.group_calls`):
a group snapshot 1 ``snapshots`` per member, a group from a source 1 ``volumes`` and
its ``gigabytes`` per new volume; their deletions give them back.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from volumelib import exceptions as exc
from volumelib import runtime
from volumelib.persistence.base import PersistenceDriverBase
from volumelib.records.control import QUOTA_RESOURCES, UNLIMITED, Quota

__all__ = ["QuotaManager", "Reservation", "reserve", "release", "give_back", "usage",
           "QUOTA_RESOURCES", "UNLIMITED"]

LOG = logging.getLogger(__name__)

_ATTEMPTS = 50


def _rows(store: Any, project_id: str | None) -> dict[str, Quota]:
    """The project's quota rows by resource, in one read."""
    return {q.resource: q for q in store.find("quota", project_id=project_id)}


def _reread(store: Any, quota: Quota) -> Quota | None:
    return store.get_record("quota", quota.id)


def _check_resource(resource: Any) -> str:
    if resource not in QUOTA_RESOURCES:
        raise exc.InvalidArgument(reason=f"unknown quota resource {resource!r}; known: "
                                         f"{', '.join(QUOTA_RESOURCES)}")
    return resource


def _check_project(project_id: Any) -> str | None:
    if project_id is not None and (not isinstance(project_id, str) or not project_id
                                   or len(project_id) > 200 or "/" in project_id):
        raise exc.InvalidArgument(reason=f"project_id must be a string of 1 to 200 "
                                         f"characters without '/': {project_id!r:.80}")
    return project_id


class Reservation:
    """Usage taken by :func:`reserve`; :meth:`cancel` gives it back (once)."""

    def __init__(self, store: Any, project_id: str | None, taken: Mapping[str, int]) -> None:
        self._store = store
        self.project_id = project_id
        self.taken = dict(taken)

    def cancel(self) -> None:
        """Give the reserved usage back. Never raises (logs instead)."""
        taken, self.taken = self.taken, {}
        if not taken:
            return
        try:
            release(self._store, self.project_id, **taken)
        except Exception:  # noqa: BLE001 - never hide the operation's own error
            LOG.exception("could not give back quota %s of project %s", taken,
                          self.project_id)

    def __bool__(self) -> bool:
        return bool(self.taken)


def _apply(store: Any, quota: Quota, delta: int, *, enforce: bool) -> None:
    """Add ``delta`` to ``quota.in_use`` with compare-and-set (re-reading on conflict)."""
    for _ in range(_ATTEMPTS):
        new = max(0, (quota.in_use or 0) + delta)
        if enforce and delta > 0 and quota.limit is not None and quota.limit >= 0 \
                and new > quota.limit:
            raise exc.QuotaExceeded(project_id=quota.project_id, resource=quota.resource,
                                    in_use=quota.in_use, requested=delta,
                                    limit=quota.limit)
        quota.in_use = new
        try:
            store.set_quota(quota)
            return
        except exc.ConcurrentModification:
            fresh = _reread(store, quota)
            if fresh is None:
                return  # the limit was removed meanwhile: nothing to count
            quota = fresh
    raise exc.ConcurrentModification(resource="Quota", id=quota.id, expected="(busy)")


def reserve(store: PersistenceDriverBase, project_id: str | None,
            **deltas: int) -> Reservation:
    """Take ``deltas`` (``volumes=1, gigabytes=10``...) from the project's quota.

    One read when the project has no quota rows (nothing enforced); otherwise a
    compare-and-set per limited resource, undone if a later one does not fit.

    Raises:
        QuotaExceeded: a limit would be passed; nothing is taken.
    """
    wanted = {r: d for r, d in deltas.items() if d}
    if not wanted:
        return Reservation(store, project_id, {})
    rows = _rows(store, project_id)
    if not rows:
        return Reservation(store, project_id, {})
    taken: dict[str, int] = {}
    try:
        for resource, delta in wanted.items():
            quota = rows.get(_check_resource(resource))
            if quota is None:
                continue
            _apply(store, quota, delta, enforce=True)
            taken[resource] = delta
    except Exception:
        Reservation(store, project_id, taken).cancel()
        raise
    return Reservation(store, project_id, taken)


def release(store: PersistenceDriverBase, project_id: str | None, **deltas: int) -> None:
    """Give back usage (``volumes=1, gigabytes=10``...); never below zero. One read
    when the project has no quota rows."""
    wanted = {r: d for r, d in deltas.items() if d}
    if not wanted:
        return
    rows = _rows(store, project_id)
    for resource, delta in wanted.items():
        quota = rows.get(resource)
        if quota is not None:
            _apply(store, quota, -delta, enforce=False)


def give_back(store: PersistenceDriverBase, project_id: str | None, **deltas: int) -> None:
    """:func:`release` after a deletion already done: logs instead of raising."""
    try:
        release(store, project_id, **deltas)
    except Exception:  # noqa: BLE001 - the deletion is done; never hide that
        LOG.exception("could not give back quota %s of project %s", deltas, project_id)


def usage(store: PersistenceDriverBase, project_id: str | None) -> dict[str, int]:
    """The project's usage according to the store's records (live volumes and
    snapshots; ``error`` ones count until deleted)."""
    vols = [v for v in store.find("volume", project_id=project_id)
            if v.status != "deleted"]
    snaps = [s for s in store.find("snapshot", project_id=project_id)
             if s.status != "deleted"]
    return {"volumes": len(vols), "gigabytes": sum(v.size or 0 for v in vols),
            "snapshots": len(snaps)}


class QuotaManager:
    """Limits and usage per project in a store (default: the current store).

    Args:
        persistence: a store, or a callable returning it (default: the store of
            :func:`volumelib.setup` at each call).
    """

    def __init__(self, persistence: Any = None) -> None:
        self._persistence = persistence

    @property
    def persistence(self) -> PersistenceDriverBase:
        return runtime.persistence(self._persistence)

    def set_limit(self, project_id: str | None, resource: str, limit: int) -> Quota:
        """Limit ``resource`` (``volumes``, ``gigabytes``, ``snapshots``) of a project;
        ``-1`` means unlimited (usage is still counted). The first limit of a resource
        takes the usage from the store's records.

        A new limit below the current usage is accepted (nothing is removed); new
        reservations are refused until usage falls under it.

        Raises:
            InvalidArgument: unknown resource, bad project id or limit.
        """
        project_id = _check_project(project_id)
        _check_resource(resource)
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < UNLIMITED:
            raise exc.InvalidArgument(reason=f"limit must be an integer >= -1: {limit!r}")
        store = self.persistence
        for _ in range(_ATTEMPTS):
            quota = _rows(store, project_id).get(resource)
            try:
                if quota is None:
                    quota = Quota(project_id=project_id, resource=resource, limit=limit,
                                  in_use=usage(store, project_id)[resource])
                else:
                    quota.limit = limit
                store.set_quota(quota)
                return quota
            except (exc.AlreadyExists, exc.ConcurrentModification):
                continue
        raise exc.ConcurrentModification(resource="Quota",
                                         id=Quota.make_id(project_id, resource),
                                         expected="(busy)")

    def remove_limit(self, project_id: str | None, resource: str | None = None) -> None:
        """Stop limiting and counting one resource (or all) of a project."""
        project_id = _check_project(project_id)
        store = self.persistence
        for name, quota in _rows(store, project_id).items():
            if resource is None or name == _check_resource(resource):
                store.delete_quota(quota)

    def get(self, project_id: str | None) -> dict[str, dict[str, int]]:
        """``{resource: {"limit": ..., "in_use": ...}}`` for the three resources; a
        resource without a row has limit -1 and its usage from the records."""
        project_id = _check_project(project_id)
        store = self.persistence
        rows = _rows(store, project_id)
        counted = None if len(rows) == len(QUOTA_RESOURCES) else usage(store, project_id)
        out = {}
        for resource in QUOTA_RESOURCES:
            quota = rows.get(resource)
            if quota is not None:
                out[resource] = {"limit": quota.limit, "in_use": quota.in_use}
            else:
                out[resource] = {"limit": UNLIMITED,
                                 "in_use": counted[resource]}  # type: ignore[index]
        return out

    def sync(self, project_id: str | None) -> dict[str, dict[str, int]]:
        """Set each quota row's usage to what the store's records say (after a crash,
        or for records made by group operations). Returns :meth:`get`."""
        project_id = _check_project(project_id)
        store = self.persistence
        for _ in range(_ATTEMPTS):
            counted = usage(store, project_id)
            try:
                for resource, quota in _rows(store, project_id).items():
                    if quota.in_use != counted[resource]:
                        quota.in_use = counted[resource]
                        store.set_quota(quota)
                break
            except exc.ConcurrentModification:
                continue
        return self.get(project_id)

    def __repr__(self) -> str:
        return "<QuotaManager>"
