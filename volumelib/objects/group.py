"""``Group``: volumes of one backend managed and snapshotted together.

Each operation runs under the operation lease of its group and, as the single-volume
operations do, of the member volumes it works on: a concurrent operation on any of
them gets ``ResourceBusy`` and nothing is changed. Groups made from a source reserve
the project's ``volumes`` and ``gigabytes``; deletions give them back. The driver is
called through Cinder's consistency-group interface, with the library's per-volume
fallback (:mod:`volumelib.objects.group_calls`), and
:func:`volumelib.objects.group_status.resolve` decides what is stored.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from volumelib import checkpoints, runtime, validation
from volumelib import exceptions as exc
from volumelib import specs as spec_syntax
from volumelib.control.leases import LeaseManager, OperationSteps
from volumelib.objects import group_calls as calls
from volumelib.objects.driver_calls import apply_model_update
from volumelib.objects.group_snapshot import GroupSnapshot
from volumelib.objects.group_status import GroupOp
from volumelib.objects.resource import Resource, leased
from volumelib.objects.volume import Volume
from volumelib.protocols import BackendLike
from volumelib.records.stored import TIMESTAMP_FIELDS, Status
from volumelib.versioned import fields

__all__ = ["Group", "find_group", "find_group_snapshot"]

LOG = logging.getLogger(__name__)


class Group(Resource):
    """A group of volumes of one backend."""

    VERSION = "1.0"
    fields = {
        "id": fields.UUID(),
        "name": fields.String(nullable=True),
        "description": fields.String(nullable=True),
        "status": fields.String(default=Status.CREATING),
        "group_type": fields.DictOfNullableStrings(default={}),
        "project_id": fields.String(nullable=True),
        "user_id": fields.String(nullable=True),
        "backend_name": fields.String(),
        "source_group_id": fields.String(nullable=True),
        "group_snapshot_id": fields.String(nullable=True),
        **TIMESTAMP_FIELDS,
    }

    def _backend_name(self) -> str | None:
        return self.backend_name

    @property
    def volumes(self) -> list[Volume]:
        """The group's volumes, from the store."""
        return self._bound(self.persistence.get_volumes(group_id=self.id))

    @property
    def group_snapshots(self) -> list[GroupSnapshot]:
        return self._bound(self.persistence.get_group_snapshots(group_id=self.id))

    @property
    def consistent(self) -> bool:
        """Whether its type asks for consistent group snapshots."""
        return spec_syntax.spec_is_true(self.group_type, "consistent_group_snapshot_enabled")

    def info(self) -> dict[str, Any]:
        """The ``group`` dictionary handed to the driver's CG interface."""
        return {"id": self.id, "name": self.name, "status": self.status,
                "group_type": dict(self.group_type), "backend_name": self.backend_name}

    def _require(self, status: str, action: str) -> None:
        if self.status == Status.DELETED or self.deleted:
            raise exc.GroupNotFound(group_id=self.id)
        if self.status != status:
            raise exc.InvalidState(resource=f"Group {self.id}", status=self.status,
                                   reason=f"{action} needs {status}")

    # -- create ---------------------------------------------------------------------

    @classmethod
    def _create(cls, backend: BackendLike, *, name: Any = None, volumes: Iterable[Any] = (),
                group_type: Any = None, description: Any = None, id: Any = None) -> Group:
        """``backend.create_group(...)``: store it, create it on the backend, then add
        ``volumes``."""
        name = validation.check_name(name)
        description = validation.check_description(description)
        specs = spec_syntax.check_group_specs(group_type)
        group_id = validation.new_id(id)
        members = _resolve_volumes(backend, volumes)
        _check_addable(None, members)
        settings = runtime.settings()
        group = cls(id=group_id, name=name, description=description, status=Status.CREATING,
                    group_type=specs, project_id=settings.project_id,
                    user_id=settings.user_id, backend_name=backend.id)
        group._bind(backend, backend.persistence)
        with leased("create_group", group, *members):
            for vol in members:
                vol._reload()
            _check_addable(None, members)
            backend.persistence.set_group(group)
            checkpoints.checkpoint("group.create.intent_stored")
            driver = backend.driver
            outcome, _, error = calls.call(
                backend, GroupOp.CREATE,
                lambda: driver.create_consistencygroup(calls.request_context(),
                                                       group.info()),
                lambda: None, [])
            group.status = outcome.status
            group.save()
            if outcome.failed:
                calls.raise_failure(backend, GroupOp.CREATE, outcome, error)
            if members:
                group.update(add_volumes=members)
            return group

    @classmethod
    def _create_from_src(cls, backend: BackendLike, *, name: Any = None,
                         group_snapshot: Any = None, source_group: Any = None,
                         description: Any = None, id: Any = None) -> Group:
        """``backend.create_group_from_src(...)``: a new group with copies of a group
        snapshot's or a group's volumes, under the leases of the new group, the source
        and its members."""
        if (group_snapshot is None) == (source_group is None):
            raise exc.InvalidArgument(reason="give exactly one of group_snapshot and "
                                             "source_group")
        name = validation.check_name(name)
        description = validation.check_description(description)
        group_id = validation.new_id(id)
        source = find_group_snapshot(backend, group_snapshot) if group_snapshot is not None \
            else find_group(backend, source_group)
        with LeaseManager(backend.persistence).operation(group_id, "create_group_from_src",
                                                         kind="group"), \
                source._exclusive("create_group_from_src"):
            source._reload()
            members = calls.ordered(source.snapshots if group_snapshot is not None
                                    else source.volumes)
            with leased("create_volume" if group_snapshot is not None else "clone",
                        *members):
                for member in members:
                    member._reload()
                return cls._create_from_src_locked(backend, name, description, group_id,
                                                   members, source)

    @classmethod
    def _create_from_src_locked(cls, backend: BackendLike, name: str | None,
                                description: str | None, group_id: str,
                                sources: list[Any], source: Any) -> Group:
        store = backend.persistence
        from_snapshot = isinstance(source, GroupSnapshot)
        kind = "Group snapshot" if from_snapshot else "Group"
        if source.status != Status.AVAILABLE:
            raise exc.InvalidState(resource=f"{kind} {source.id}", status=source.status,
                                   reason="a source must be available")
        for s in sources:
            ok = s.status == Status.AVAILABLE if from_snapshot else s.status in calls.LIVE
            if not ok:
                raise exc.InvalidState(
                    resource=f"{'Snapshot' if from_snapshot else 'Volume'} {s.id}",
                    status=s.status,
                    reason=f"every source {'snapshot' if from_snapshot else 'volume'} "
                           f"must be available")
        if not sources:
            raise exc.InvalidState(resource="source", status="empty",
                                   reason="a group is created from a non-empty source")
        settings = runtime.settings()
        group = cls(id=group_id, name=name, description=description, status=Status.CREATING,
                    group_type=dict(source.group_type), project_id=settings.project_id,
                    user_id=settings.user_id, backend_name=backend.id,
                    source_group_id=None if from_snapshot else sources[0].group_id,
                    group_snapshot_id=source.id if from_snapshot else None)
        group._bind(backend, store)
        source_vols = [s.volume if from_snapshot else s for s in sources]
        targets: list[Volume] = []
        for src, svol in zip(sources, source_vols):
            vol = Volume(id=validation.new_id(), name=svol.name,
                         size=src.volume_size if from_snapshot else src.size,
                         status=Status.CREATING, project_id=settings.project_id,
                         user_id=settings.user_id, backend_name=backend.id,
                         volume_type_id=svol.volume_type_id,
                         volume_type=dict(svol.volume_type), metadata=dict(svol.metadata),
                         multiattach=svol.multiattach, group_id=group.id,
                         snapshot_id=src.id if from_snapshot else None,
                         source_volid=None if from_snapshot else src.id)
            vol._bind(backend, store)
            targets.append(vol)
        calls.store_intent(store, calls.by_project(
            targets, lambda v: {"volumes": 1, "gigabytes": v.size}), group, targets)
        checkpoints.checkpoint("group.create_from_src.intent_stored")
        driver = backend.driver
        target_infos = [v.info() for v in targets]
        if from_snapshot:
            snap_infos = [s.info(v) for s, v in zip(sources, source_vols)]

            def native() -> Any:
                return driver.create_consistencygroup_from_src(
                    calls.request_context(), group.info(), target_infos,
                    cgsnapshot=source.info(), snapshots=snap_infos)

            def one(t: Any) -> Any:
                return driver.create_volume_from_snapshot(t.info(),
                                                          snap_infos[targets.index(t)])
        else:
            src_infos = [v.info() for v in sources]

            def native() -> Any:
                return driver.create_consistencygroup_from_src(
                    calls.request_context(), group.info(), target_infos,
                    source_cg=source.info(), source_vols=src_infos)

            def one(t: Any) -> Any:
                return driver.create_cloned_volume(t.info(), src_infos[targets.index(t)])

        def fallback() -> Any:
            driver_group: Any = None
            try:
                driver_group = driver.create_consistencygroup(calls.request_context(),
                                                              group.info())
            except NotImplementedError:
                pass
            return driver_group, calls.per_item(
                targets, one, "error", on_done=lambda t, update: apply_model_update(t, update))

        outcome, _, error = calls.call(backend, GroupOp.CREATE_FROM_SRC, native, fallback,
                                       [v.id for v in targets])
        calls.finish(targets, outcome)
        group.status = outcome.status
        group.save()
        if outcome.failed:
            calls.raise_failure(backend, GroupOp.CREATE_FROM_SRC, outcome, error)
        return group

    # -- update ---------------------------------------------------------------------

    def update(self, add_volumes: Any = (), remove_volumes: Any = ()) -> None:
        """Add and remove volumes (objects or ids). A volume is in one group at most.

        Raises:
            ResourceBusy: the group or one of the volumes is busy; nothing changed.
            InvalidState, InvalidArgument: nothing changed.
        """
        backend = self.backend
        self._require(Status.AVAILABLE, "update")
        adds = _resolve_volumes(backend, add_volumes)
        removes = _resolve_volumes(backend, remove_volumes)
        with leased("update_group", self, *adds, *removes):
            self._reload()
            self._require(Status.AVAILABLE, "update")
            for vol in adds + removes:
                vol._reload()
            self._update_locked(backend, adds, removes)

    def _update_locked(self, backend: BackendLike, adds: list[Volume],
                       removes: list[Volume]) -> None:
        _check_addable(self, adds)
        both = {v.id for v in adds} & {v.id for v in removes}
        if both:
            raise exc.InvalidArgument(reason=f"volume(s) {', '.join(sorted(both))} both "
                                             f"added and removed")
        for vol in removes:
            if vol.group_id != self.id:
                raise exc.InvalidArgument(reason=f"volume {vol.id} is not in group "
                                                 f"{self.id}")
        if not adds and not removes:
            return
        self.status = "updating"
        self.save()
        checkpoints.checkpoint("group.update.intent_stored")
        driver = backend.driver
        add_infos = [v.info() for v in adds]
        remove_infos = [v.info() for v in removes]
        outcome, _, error = calls.call(
            backend, GroupOp.UPDATE,
            lambda: driver.update_consistencygroup(calls.request_context(), self.info(),
                                                   add_infos, remove_infos),
            lambda: (None, None, None), [v.id for v in adds + removes])
        for vol in adds + removes:
            status = outcome.items.get(vol.id)
            if not outcome.failed:
                vol.group_id = self.id if vol in adds else None
            if status is not None:
                vol.status = status
            vol._save_own(*calls.own_fields(vol))
        self.status = outcome.status
        self.save()
        if outcome.failed:
            calls.raise_failure(backend, GroupOp.UPDATE, outcome, error)

    # -- group snapshots ------------------------------------------------------------

    def create_snapshot(self, name: str | None = None, description: str | None = None,
                        id: str | None = None) -> GroupSnapshot:
        """Snapshot every volume of the group; atomically when the driver can
        (``GroupSnapshot.consistent`` tells)."""
        return GroupSnapshot._create(self, name=name, description=description, id=id)

    # -- delete ---------------------------------------------------------------------

    def delete(self, delete_volumes: bool = False) -> None:
        """Delete the group (and its volumes with ``delete_volumes=True``). A repeated
        delete (this object's, or of a group another process deleted meanwhile) is a
        no-op.

        Raises:
            ResourceBusy: the group or one of its volumes is busy; nothing changed.
            InvalidState: it has group snapshots, or volumes and not ``delete_volumes``.
            VolumeInUse, HasSnapshots: a volume is connected or has snapshots.
            BackendError: the driver failed; it is stored ``error_deleting``.
        """
        self._delete_under_lease(delete_volumes=delete_volumes)

    def _delete(self, steps: OperationSteps, delete_volumes: bool = False) -> None:
        volumes = calls.ordered(self.volumes)
        with leased("delete", *(volumes if delete_volumes else ())):
            for vol in volumes:
                vol._reload()
            self._delete_locked(volumes, delete_volumes)

    def _delete_locked(self, volumes: list[Volume], delete_volumes: bool) -> None:
        backend = self.backend
        if self.status not in (Status.AVAILABLE, Status.ERROR, Status.ERROR_DELETING):
            raise exc.InvalidState(resource=f"Group {self.id}", status=self.status,
                                   reason="delete needs available, error or error_deleting")
        snapshots = backend.persistence.get_group_snapshots(group_id=self.id)
        if snapshots:
            raise exc.InvalidState(resource=f"Group {self.id}", status=self.status,
                                   reason=f"it has {len(snapshots)} group snapshot(s); "
                                          f"delete them first")
        if volumes and not delete_volumes:
            raise exc.InvalidState(resource=f"Group {self.id}", status=self.status,
                                   reason=f"it has {len(volumes)} volume(s); pass "
                                          f"delete_volumes=True or remove them first")
        for vol in volumes:
            if vol.connections:
                raise exc.VolumeInUse(volume_id=vol.id, reason="it is connected; a group "
                                      "with attached volumes is not deleted")
            if vol.snapshots:
                raise exc.HasSnapshots(volume_id=vol.id, count=len(vol.snapshots))
        infos = [v.info() for v in volumes]
        self.status = Status.DELETING
        self.save()
        for vol in volumes:
            vol.status = Status.DELETING
            vol._save_own("status")
        checkpoints.checkpoint("group.delete.intent_stored")
        driver = backend.driver

        def fallback() -> Any:
            entries = calls.per_item(volumes, lambda v: driver.delete_volume(v.info()),
                                     "error_deleting")
            try:
                driver.delete_consistencygroup(calls.request_context(), self.info(), [])
            except NotImplementedError:
                pass
            return None, entries

        outcome, _, error = calls.call(
            backend, GroupOp.DELETE,
            lambda: driver.delete_consistencygroup(calls.request_context(), self.info(),
                                                   infos),
            fallback, [v.id for v in volumes])
        calls.finish(volumes, outcome, deleted_ok=True)
        calls.give_back(backend.persistence,
                        calls.by_project([v for v in volumes if v.status == Status.DELETED],
                                         lambda v: {"volumes": 1, "gigabytes": v.size}))
        if outcome.failed:
            self.status = outcome.status
            self.save()
            calls.raise_failure(backend, GroupOp.DELETE, outcome, error)
        self._record_deleted()


def _resolve_volumes(backend: BackendLike, volumes: Iterable[Any]) -> list[Volume]:
    result: list[Volume] = []
    seen: set[str] = set()
    for v in volumes or ():
        if isinstance(v, Volume):
            # The caller's own object is refreshed and used, so it sees the changes.
            if v.status == Status.DELETED:
                raise exc.VolumeNotFound(volume_id=v.id)
            v.refresh()
            vol, vol_id = v, v.id
        else:
            vol_id = v
            validation.check_id(vol_id, what="volume id")
            found = backend.persistence.get_volumes(volume_id=vol_id)
            if not found:
                raise exc.VolumeNotFound(volume_id=vol_id)
            vol = found[0]
        if vol.backend_name != backend.id:
            raise exc.InvalidArgument(reason=f"volume {vol_id} is on backend "
                                             f"{vol.backend_name}, not {backend.id}")
        if vol.id in seen:
            raise exc.InvalidArgument(reason=f"volume {vol_id} is listed twice")
        seen.add(vol.id)
        vol._bind(backend)
        result.append(vol)
    return result


def _check_addable(group: Group | None, volumes: Sequence[Volume]) -> None:
    for vol in volumes:
        if vol.group_id is not None:
            where = "this group" if group is not None and vol.group_id == group.id \
                else f"group {vol.group_id}"
            raise exc.InvalidState(resource=f"Volume {vol.id}", status=vol.status,
                                   reason=f"it is already in {where}; a volume belongs "
                                          f"to one group only")
        if vol.status not in calls.LIVE:
            raise exc.InvalidState(resource=f"Volume {vol.id}", status=vol.status,
                                   reason="only available or in-use volumes join a group")


def _find(backend: BackendLike, cls: type[Resource], ref: Any, what: str) -> Any:
    obj_id = ref.id if isinstance(ref, cls) else ref
    validation.check_id(obj_id, what=f"{what} id")
    found = backend.persistence.get_record(cls._kind(), obj_id)
    if found is None or found.backend_name != backend.id:
        kind = cls._kind_info()
        raise kind.not_found(**{kind.not_found_arg: obj_id})
    found._bind(backend)
    return found


def find_group(backend: BackendLike, ref: Any) -> Group:
    """The group ``ref`` (a Group or its id) of ``backend``. Raises: GroupNotFound."""
    return _find(backend, Group, ref, "group")


def find_group_snapshot(backend: BackendLike, ref: Any) -> GroupSnapshot:
    """The group snapshot ``ref`` (object or id) of ``backend``.
    Raises: GroupSnapshotNotFound."""
    return _find(backend, GroupSnapshot, ref, "group_snapshot")
