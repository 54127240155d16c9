"""``Resource``: a stored object with a life cycle run under operation leases.

Volumes, snapshots, connections, groups and group snapshots are resources: every
operation on one runs under its operation lease
(:meth:`volumelib.control.leases.LeaseManager.operation`), so a concurrent operation
on it, from any thread, process or host sharing the store, gets ``ResourceBusy``
before anything is changed. Deletion follows one path for all of them
(:meth:`Resource.delete`), with one rule for a repeated delete: it is a no-op.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from volumelib import exceptions as exc
from volumelib.control.leases import LeaseManager, OperationSteps
from volumelib.records.stored import Status, StoredObject

__all__ = ["Resource", "leased"]


class Resource(StoredObject):
    """Base of the objects with a life cycle (see the module docstring)."""

    def _lease_target(self) -> tuple[str, str | None]:
        """``(resource id, kind)`` whose operation lease guards this object."""
        return self.id, self._kind()  # type: ignore[attr-defined]

    #: Deletes of this kind store their lease and intent in one commit, and their
    #: outcome with the lease's release in another (:meth:`LeaseManager.steps`).
    _STEPPED_DELETE = False

    def _exclusive(self, action: str) -> Any:
        """A context manager: ``action`` runs on this object with nobody else
        operating on it (``ResourceBusy`` otherwise; nothing changed)."""
        rid, kind = self._lease_target()
        return LeaseManager(self.persistence).operation(rid, action, kind=kind)

    def _exclusive_steps(self, action: str, stepped: bool = True
                         ) -> contextlib.AbstractContextManager[OperationSteps]:
        """:meth:`_exclusive` yielding the operation's steps: with ``stepped``, its
        intent is committed with the lease (:meth:`LeaseManager.steps`); without,
        each step on its own."""
        rid, kind = self._lease_target()
        manager = LeaseManager(self.persistence)
        if stepped:
            return manager.steps(rid, action, kind=kind)
        return _unstepped(manager.operation(rid, action, kind=kind))

    def _deleted_status(self) -> str:
        return Status.DELETED

    def delete(self) -> None:
        """Delete it: the backend's storage, then the record.

        A repeated delete is a no-op: deleting an object that is already deleted (by
        this object, or by another process meanwhile) returns without error.

        Raises:
            ResourceBusy: another caller is operating on it; nothing changed.
            InvalidState: its status or its dependants do not allow it.
            BackendError: the driver failed; the record is kept in an error status.
        """
        self._delete_under_lease()

    def _delete_under_lease(self, action: str = "delete", **options: Any) -> None:
        """The one delete path: lease, catch up with the store, then :meth:`_delete`."""
        if self.status == self._deleted_status():  # type: ignore[attr-defined]
            return
        with self._exclusive_steps(action, self._STEPPED_DELETE) as steps:
            try:
                self._reload()
            except exc.NotFound:
                self._values["status"] = self._deleted_status()
                self.obj_reset_changes()
                return
            self._delete(steps, **options)

    def _delete(self, steps: OperationSteps, **options: Any) -> None:
        """Delete under the lease, the object being current (subclasses): store the
        intent, ``steps.intent_stored(checkpoint)``, call the driver,
        ``steps.finishing()``, store the outcome."""
        raise NotImplementedError


@contextlib.contextmanager
def _unstepped(operation: Any) -> Iterator[OperationSteps]:
    with operation:
        yield OperationSteps(None, None)


@contextlib.contextmanager
def leased(action: str, *objs: Resource) -> Iterator[None]:
    """Hold the operation lease of every object in ``objs`` (in id order, so two
    callers never wait on each other crosswise; re-entered when this call stack
    already holds one) for the block.

    Raises:
        ResourceBusy: one of them is busy; the leases taken so far are released and
            the block does not run.
    """
    with contextlib.ExitStack() as stack:
        for obj in sorted({o.id: o for o in objs}.values(),  # type: ignore[attr-defined]
                          key=lambda o: o.id):  # type: ignore[attr-defined]
            stack.enter_context(obj._exclusive(action))
        yield
