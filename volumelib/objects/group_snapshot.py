"""``GroupSnapshot``: snapshots of every volume of a group, taken together.

Taken atomically through the driver's ``create_cgsnapshot`` when it declares
``CONSISTENT_GROUP_SNAPSHOT``, else volume by volume (``consistent`` says which).
The operation holds the group's operation lease and its volumes'; deleting holds the
group snapshot's and its members'.
"""

from __future__ import annotations

import logging
from typing import Any

from volumelib import checkpoints, runtime, validation
from volumelib import exceptions as exc
from volumelib.drivers.types import Capability
from volumelib.objects import group_calls as calls
from volumelib.control.leases import OperationSteps
from volumelib.objects.driver_calls import apply_model_update
from volumelib.objects.group_status import GroupOp
from volumelib.objects.resource import Resource, leased
from volumelib.objects.snapshot import Snapshot
from volumelib.records.stored import TIMESTAMP_FIELDS, Status
from volumelib.versioned import fields

__all__ = ["GroupSnapshot"]

LOG = logging.getLogger(__name__)


class GroupSnapshot(Resource):
    """Snapshots of every volume of a group, taken together."""

    VERSION = "1.0"
    fields = {
        "id": fields.UUID(),
        "name": fields.String(nullable=True),
        "description": fields.String(nullable=True),
        "status": fields.String(default=Status.CREATING),
        "group_id": fields.String(),
        "group_type": fields.DictOfNullableStrings(default={}),
        "project_id": fields.String(nullable=True),
        "user_id": fields.String(nullable=True),
        "backend_name": fields.String(nullable=True),
        #: Taken atomically by the driver (True) or volume by volume by the library's
        #: fallback (False).
        "consistent": fields.Boolean(default=False),
        **TIMESTAMP_FIELDS,
    }

    def _backend_name(self) -> str | None:
        return self.backend_name

    @property
    def snapshots(self) -> list[Snapshot]:
        """The member snapshots, one per volume, from the store."""
        return self._bound(self.persistence.get_snapshots(group_snapshot_id=self.id))

    @property
    def group(self) -> Any:
        """The :class:`~volumelib.objects.group.Group` it was taken of, from the store.

        Raises:
            GroupNotFound: the group is gone.
        """
        found = self.persistence.get_groups(group_id=self.group_id)
        if not found:
            raise exc.GroupNotFound(group_id=self.group_id)
        found[0]._bind(self.__dict__.get("_backend"))
        return found[0]

    def info(self) -> dict[str, Any]:
        """The ``cgsnapshot`` dictionary handed to the driver's CG interface."""
        return {"id": self.id, "name": self.name, "status": self.status,
                "group_id": self.group_id, "backend_name": self.backend_name}

    # -- create ---------------------------------------------------------------------

    @classmethod
    def _create(cls, group: Any, *, name: Any, description: Any, id: Any) -> GroupSnapshot:
        """Snapshot every volume of ``group`` (``group.create_snapshot``)."""
        backend = group.backend
        name = validation.check_name(name)
        description = validation.check_description(description)
        gs_id = validation.new_id(id)
        group._require(Status.AVAILABLE, "snapshot")
        with group._exclusive("create_group_snapshot"):
            group._reload()
            group._require(Status.AVAILABLE, "snapshot")
            volumes = calls.ordered(group.volumes)
            with leased("create_snapshot", *volumes):
                for vol in volumes:
                    vol._reload()
                return cls._create_locked(backend, group, volumes, name=name,
                                          description=description, gs_id=gs_id)

    @classmethod
    def _create_locked(cls, backend: Any, group: Any, volumes: list[Any], *,
                       name: str | None, description: str | None,
                       gs_id: str) -> GroupSnapshot:
        if not volumes:
            raise exc.InvalidState(resource=f"Group {group.id}", status=group.status,
                                   reason="it has no volumes to snapshot")
        for vol in volumes:
            if vol.status not in calls.LIVE:
                raise exc.InvalidState(resource=f"Volume {vol.id}", status=vol.status,
                                       reason="every volume of a group snapshot must be "
                                              "available or in-use")
        settings = runtime.settings()
        store = backend.persistence
        gs = cls(id=gs_id, name=name, description=description, status=Status.CREATING,
                 group_id=group.id, group_type=dict(group.group_type),
                 project_id=settings.project_id, user_id=settings.user_id,
                 backend_name=backend.id)
        gs._bind(backend, store)
        snaps: list[Snapshot] = []
        for vol in volumes:
            snap = Snapshot(id=validation.new_id(), name=name, volume_id=vol.id,
                            volume_size=vol.size, status=Status.CREATING,
                            project_id=vol.project_id or settings.project_id,
                            user_id=settings.user_id, backend_name=backend.id,
                            group_snapshot_id=gs.id)
            snap._bind(backend, store)
            snaps.append(snap)
        calls.store_intent(store, calls.by_project(snaps, lambda s: {"snapshots": 1}), gs,
                           snaps)
        checkpoints.checkpoint("group_snapshot.create.intent_stored")
        by_vol = {v.id: v for v in volumes}
        infos = {s.id: s.info(by_vol[s.volume_id]) for s in snaps}
        driver = backend.driver
        native = None
        if Capability.CONSISTENT_GROUP_SNAPSHOT in backend.capabilities:
            def native() -> Any:
                return driver.create_cgsnapshot(calls.request_context(), gs.info(),
                                                list(infos.values()))

        def fallback() -> Any:
            def done(snap: Any, update: Any) -> None:
                apply_model_update(snap, update)
                checkpoints.checkpoint("group_snapshot.create.member_done")  # crash tests

            return None, calls.per_item(
                snaps, lambda s: driver.create_snapshot(infos[s.id]), "error", on_done=done)

        outcome, used_native, error = calls.call(backend, GroupOp.CREATE_SNAPSHOT, native,
                                                 fallback, [s.id for s in snaps])
        checkpoints.checkpoint("group_snapshot.create.driver_done")
        if not used_native:
            LOG.warning("group snapshot %s of group %s was taken volume by volume: it is "
                        "not crash-consistent across the group", gs.id, group.id)
        calls.finish(snaps, outcome)
        gs.consistent = used_native and not outcome.failed
        gs.status = outcome.status
        gs.save()
        if outcome.failed:
            calls.raise_failure(backend, GroupOp.CREATE_SNAPSHOT, outcome, error)
        return gs

    # -- delete ---------------------------------------------------------------------

    def delete(self) -> None:
        """Delete the group snapshot and its member snapshots. A repeated delete (this
        object's, or of one another process deleted meanwhile) is a no-op.

        Raises:
            ResourceBusy: another caller is operating on it or on a member.
            InvalidState: its status forbids it.
            BackendError: the driver failed; it is stored ``error_deleting``.
        """
        self._delete_under_lease()

    def _delete(self, steps: OperationSteps) -> None:
        snaps = calls.ordered(self.snapshots)
        with leased("delete", *snaps):
            for snap in snaps:
                snap._reload()
            self._delete_locked(snaps)

    def _delete_locked(self, snaps: list[Snapshot]) -> None:
        backend = self.backend
        if self.status not in (Status.AVAILABLE, Status.ERROR, Status.ERROR_DELETING):
            raise exc.InvalidState(resource=f"Group snapshot {self.id}", status=self.status,
                                   reason="delete needs available, error or error_deleting")
        infos = {s.id: s.info() for s in snaps}
        self.status = Status.DELETING
        self.save()
        for s in snaps:
            s.status = Status.DELETING
            s._save_own("status")
        checkpoints.checkpoint("group_snapshot.delete.intent_stored")
        driver = backend.driver
        native = None
        if self.consistent and Capability.CONSISTENT_GROUP_SNAPSHOT in backend.capabilities:
            def native() -> Any:
                return driver.delete_cgsnapshot(calls.request_context(), self.info(),
                                                list(infos.values()))

        def fallback() -> Any:
            return None, calls.per_item(snaps, lambda s: driver.delete_snapshot(infos[s.id]),
                                        "error_deleting")

        outcome, _, error = calls.call(backend, GroupOp.DELETE_SNAPSHOT, native, fallback,
                                       [s.id for s in snaps])
        checkpoints.checkpoint("group_snapshot.delete.driver_done")
        calls.finish(snaps, outcome, deleted_ok=True)
        calls.give_back(backend.persistence,
                        calls.by_project([s for s in snaps if s.status == Status.DELETED],
                                         lambda s: {"snapshots": 1}))
        if outcome.failed:
            self.status = outcome.status
            self.save()
            calls.raise_failure(backend, GroupOp.DELETE_SNAPSHOT, outcome, error)
        self._record_deleted()
