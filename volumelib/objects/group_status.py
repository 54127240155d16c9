"""The consistency-group status rules, as one pure function.

Cinder's ``VolumeConsistencyGroupDriver`` interface lets a driver answer with a
``model_update`` for the group (or group snapshot) and a per-item list
(``volumes_model_update``, ``snapshots_model_update``, ``add_volumes_update``,
``remove_volumes_update``) of ``{"id": ..., "status": ...}`` entries. :func:`resolve`
turns the driver's answer (or the exception it raised) into the statuses to store and
whether the caller must raise. The rules:

1. ``None`` (or ``None`` parts) means success.
2. A ``model_update`` status of ``error`` (or ``error_deleting``) is a failure: the
   group becomes ``error`` and the operation raises. This holds for every operation,
   create-from-source included (Cinder ignores it there; we do not).
3. Any item whose status is ``error`` or ``error_deleting`` lifts the group status to
   that value when the group's is not already an error — and makes it a failure.
4. A failure without a per-item list marks every item ``error``.
5. Any exception from the driver (of any type) is a failure: the group and every item
   become ``error``, so no item is left in ``creating``/``deleting``.
6. On success the group and its items end in the operation's final status:
   ``available`` (create, create from source, update, group snapshot) or ``deleted``
   (delete, delete group snapshot), whatever transitional status a driver reported. In
   an update the volumes keep their own status (``None`` in the result).
7. On a failure with a per-item list, items the driver did not mention become ``error``
   (nothing stays in a transitional state); items it reported keep what it reported.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["GroupOp", "Outcome", "resolve", "ERROR_STATUSES"]

ERROR_STATUSES = frozenset({"error", "error_deleting"})


class GroupOp(str, enum.Enum):
    CREATE = "create_consistencygroup"
    CREATE_FROM_SRC = "create_consistencygroup_from_src"
    DELETE = "delete_consistencygroup"
    UPDATE = "update_consistencygroup"
    CREATE_SNAPSHOT = "create_cgsnapshot"
    DELETE_SNAPSHOT = "delete_cgsnapshot"


_SUCCESS = {
    GroupOp.CREATE: "available",
    GroupOp.CREATE_FROM_SRC: "available",
    GroupOp.DELETE: "deleted",
    GroupOp.UPDATE: "available",
    GroupOp.CREATE_SNAPSHOT: "available",
    GroupOp.DELETE_SNAPSHOT: "deleted",
}


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What to store after a group operation.

    Attributes:
        status: the group's (or group snapshot's) status.
        items: item id -> status to store (``None``: leave the item as it is).
        failed: the caller must raise after storing.
        reason: why it failed (empty on success).
    """

    status: str
    items: Mapping[str, str | None]
    failed: bool
    reason: str = ""


def _entries(update: Any) -> dict[str, str] | None:
    """``[{"id": .., "status": ..}, ...]`` as ``{id: status}``; ``None`` stays ``None``."""
    if update is None:
        return None
    result: dict[str, str] = {}
    for entry in update if isinstance(update, (list, tuple)) else []:
        if isinstance(entry, Mapping) and "id" in entry:
            status = entry.get("status")
            if status is not None:
                result[str(entry["id"])] = str(status)
    return result


def _split(op: GroupOp, answer: Any) -> tuple[Mapping[str, Any] | None, list[dict[str, str] | None]]:
    if op is GroupOp.CREATE:
        return answer, []
    if answer is None:
        return None, [None, None] if op is GroupOp.UPDATE else [None]
    parts = list(answer)
    model_update = parts[0] if parts else None
    return model_update, [_entries(p) for p in parts[1:]]


def resolve(op: GroupOp, items: Sequence[str], answer: Any = None,
            error: BaseException | None = None) -> Outcome:
    """Apply the rules to a driver's answer.

    Args:
        op: which interface method was called.
        items: the ids of the items the operation is about (volumes or snapshots).
        answer: what the driver returned (ignored when ``error`` is given).
        error: the exception it raised, if any.

    Returns:
        The :class:`Outcome` to store.
    """
    success = _SUCCESS[op]
    untouched = op is GroupOp.UPDATE
    if error is not None:
        return Outcome("error", {i: "error" for i in items}, True,
                       f"{type(error).__name__}: {error}")
    try:
        model_update, lists = _split(op, answer)
    except TypeError:
        model_update, lists = answer, []
    if model_update is not None and not isinstance(model_update, Mapping):
        return Outcome("error", {i: "error" for i in items}, True,
                       f"driver returned a model_update that is not a mapping: "
                       f"{model_update!r:.80}")
    group_status = (model_update or {}).get("status") or success
    reported: dict[str, str] = {}
    for entries in lists:
        reported.update(entries or {})
    wanted = set(items)
    reported = {k: v for k, v in reported.items() if k in wanted}
    item_errors = sorted({s for s in reported.values() if s in ERROR_STATUSES})
    if item_errors and group_status not in ERROR_STATUSES:
        group_status = item_errors[0]
    if group_status in ERROR_STATUSES:
        statuses = {i: reported.get(i, "error") for i in items}
        bad = sum(1 for s in statuses.values() if s in ERROR_STATUSES)
        return Outcome("error", statuses, True,
                       f"driver reported {group_status}"
                       + (f" for {bad} of {len(items)} item(s)" if item_errors else ""))
    # Success: the library owns the final statuses, so nothing stays transitional.
    final = None if untouched else success
    return Outcome(success, {i: final for i in items}, False)
