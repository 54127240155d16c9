"""How group operations call the driver, and what they share.

The driver is called through Cinder's consistency-group interface. When it raises
``NotImplementedError`` (or, for group snapshots, does not declare
``CONSISTENT_GROUP_SNAPSHOT``), the library does the work volume by volume with the
driver's ordinary methods and answers in the interface's own shapes, so one set of
rules (:func:`volumelib.objects.group_status.resolve`) applies either way.

Group operations reserve quota per project (a group's members may belong to
several) and store each member's outcome the way single-volume operations do.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from volumelib import exceptions as exc
from volumelib import runtime
from volumelib.control import quotas
from volumelib.objects.group_status import GroupOp, Outcome, resolve
from volumelib.protocols import BackendLike
from volumelib.records.stored import Status, StoredObject

__all__ = ["RequestContext", "LIVE", "request_context", "own_fields", "by_project",
           "reserve", "store_intent", "cancel", "give_back", "call", "raise_failure", "per_item",
           "forget", "ordered", "finish"]

LOG = logging.getLogger(__name__)

#: Statuses in which a volume can join a group or be snapshotted with it.
LIVE = frozenset({Status.AVAILABLE, Status.IN_USE})


@dataclasses.dataclass(frozen=True)
class RequestContext:
    """The ``context`` argument of the CG interface: who is asking."""

    project_id: str | None = None
    user_id: str | None = None


def request_context() -> RequestContext:
    s = runtime.settings()
    return RequestContext(project_id=s.project_id, user_id=s.user_id)


def own_fields(item: StoredObject) -> tuple[str, ...]:
    """The fields a group operation sets on a member (status and the driver's)."""
    return tuple(n for n in ("status", "group_id", "provider_location", "provider_id",
                             "provider_auth") if n in item.fields)


def by_project(items: Iterable[Any], count: Callable[[Any], dict[str, int]]
               ) -> dict[str | None, dict[str, int]]:
    """Quota deltas per project: ``count(item)`` summed by ``item.project_id``."""
    out: dict[str | None, dict[str, int]] = {}
    for item in items:
        deltas = out.setdefault(item.project_id, {})
        for resource, n in count(item).items():
            deltas[resource] = deltas.get(resource, 0) + n
    return out


def reserve(store: Any, per_project: Mapping[str | None, Mapping[str, int]]
            ) -> list[quotas.Reservation]:
    """Reserve quota for every project, all or nothing (``QuotaExceeded``)."""
    taken: list[quotas.Reservation] = []
    try:
        for project, deltas in per_project.items():
            taken.append(quotas.reserve(store, project, **deltas))
    except Exception:
        cancel(taken)
        raise
    return taken


def store_intent(store: Any, per_project: Mapping[str | None, Mapping[str, int]],
                 parent: StoredObject, members: Sequence[StoredObject]) -> None:
    """Reserve quota for every project, then store ``parent`` (the group or group
    snapshot) and its ``members`` in their transitional status: all or nothing (on a
    failure the reservations are cancelled and what was stored is removed).

    Raises:
        QuotaExceeded: nothing stored.
    """
    reservations = reserve(store, per_project)
    try:
        parent.save()
        for member in members:
            member.save()
    except Exception:
        cancel(reservations)
        forget([*members, parent])
        raise


def cancel(reservations: Iterable[quotas.Reservation]) -> None:
    for reservation in reservations:
        reservation.cancel()


def give_back(store: Any, per_project: Mapping[str | None, Mapping[str, int]]) -> None:
    for project, deltas in per_project.items():
        quotas.give_back(store, project, **deltas)


def call(backend: BackendLike, op: GroupOp, native: Callable[[], Any] | None,
         fallback: Callable[[], Any], items: Sequence[str]
         ) -> tuple[Outcome, bool, BaseException | None]:
    """Run the native method (or the fallback) and resolve the answer.

    Returns ``(outcome, used_native, error)``.
    """
    used_native = native is not None
    error: BaseException | None = None
    answer: Any = None
    try:
        if native is not None:
            try:
                answer = native()
            except NotImplementedError:
                LOG.debug("%s: %s not implemented, using the per-volume fallback",
                          backend.id, op.value)
                used_native = False
                answer = fallback()
        else:
            answer = fallback()
    except Exception as e:  # noqa: BLE001 - rule 5: any exception fails every item
        error = e
    return resolve(op, items, answer, error), used_native, error


def raise_failure(backend: BackendLike, op: GroupOp, outcome: Outcome,
                  error: BaseException | None) -> None:
    """Raise the ``BackendError`` of a failed group operation."""
    raised = exc.BackendError(backend_name=backend.id, operation=op.value,
                              reason=outcome.reason)
    if error is not None:
        raise raised from error
    raise raised


def per_item(items: Iterable[Any], action: Callable[[Any], Any], failed_status: str,
             on_done: Callable[[Any, Any], None] | None = None) -> list[dict[str, str]]:
    """The fallback's per-item answer: ``[{"id", "status"}]`` with failures marked."""
    entries = []
    for item in items:
        try:
            result = action(item)
        except Exception as e:  # noqa: BLE001 - reported per item, like a native driver
            LOG.warning("fallback %s on %s failed: %s", getattr(action, "__name__", "op"),
                        item.id, e)
            entries.append({"id": item.id, "status": failed_status})
            continue
        if on_done is not None:
            on_done(item, result)
        entries.append({"id": item.id, "status": "ok"})
    return entries


def forget(records: Iterable[StoredObject]) -> None:
    """Remove the records of an intent that could not be stored whole (best effort)."""
    for record in records:
        if record.__dict__.get("_db_version") is None:
            continue
        try:
            getattr(record.persistence, f"delete_{record._kind()}")(record)
        except Exception:  # noqa: BLE001 - never hide the store's own error
            LOG.exception("could not remove %s %s", record.OBJ_NAME,
                          getattr(record, "id", "?"))


def ordered(items: Iterable[Any]) -> list[Any]:
    """Sources in a stable order (oldest first): targets line up with it."""
    return sorted(items, key=lambda o: (o.created_at is None, o.created_at, o.id))


def finish(items: Sequence[Any], outcome: Outcome, *, deleted_ok: bool = False) -> None:
    """Store each item's outcome; items that ended ``deleted`` leave the store."""
    done = Status.DELETED if deleted_ok else Status.AVAILABLE
    for item in items:
        status = outcome.items.get(item.id)
        if status is None:
            continue
        if status in ("ok", Status.DELETED, Status.AVAILABLE):
            status = done  # the item's own step succeeded (even if the group failed)
        if status == Status.DELETED:
            item._record_deleted()
            continue
        item.status = status
        item._save_own(*own_fields(item))
