"""Group operations: preconditions, intent, the driver's CG interface or the fallback,
then :func:`volumelib.groups.status.resolve` decides what is stored.

Each operation runs under the operation lease of its group (or group snapshot) and,
as the single-volume operations do, of the member volumes and snapshots it works on
(:func:`_leased`): a concurrent operation on any of them gets ``ResourceBusy`` and
nothing is changed. Group snapshots reserve the project's ``snapshots`` quota and
groups made from a source its ``volumes`` and ``gigabytes``, as
:mod:`volumelib.control.quotas` does for single volumes; deletions give them back.

The driver is called through Cinder's consistency-group interface. When it raises
``NotImplementedError`` (or, for group snapshots, does not declare
``CONSISTENT_GROUP_SNAPSHOT``), the library does the work volume by volume with the
driver's ordinary methods and answers in the interface's own shapes, so one set of
rules applies either way. Group snapshots record which path was taken in
``consistent``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from volumelib import core
from volumelib import exceptions as exc
from volumelib import validation
from volumelib.drivers.types import Capability
from volumelib.groups.status import GroupOp, Outcome, resolve
from volumelib.objects.common import Status, apply_model_update

if TYPE_CHECKING:
    from volumelib.backend import Backend
    from volumelib.objects import Group, GroupSnapshot, Snapshot, Volume

__all__ = ["Context", "create_group", "update_group", "create_group_snapshot",
           "create_group_from_src", "delete_group", "delete_group_snapshot",
           "check_group_type"]

LOG = logging.getLogger(__name__)

LIVE = frozenset({Status.AVAILABLE, Status.IN_USE})


@dataclasses.dataclass(frozen=True)
class Context:
    """The ``context`` argument of the CG interface: who is asking."""

    project_id: str | None = None
    user_id: str | None = None


@contextlib.contextmanager
def _leased(operation: str, *objs: Any) -> Iterator[None]:
    """Hold the operation lease of every object in ``objs`` (in id order; re-entered
    when this call stack already holds one) for the block.

    Raises:
        ResourceBusy: one of them is busy; the leases taken so far are released and
            the block does not run.
    """
    with contextlib.ExitStack() as stack:
        for obj in sorted({o.id: o for o in objs}.values(), key=lambda o: o.id):
            stack.enter_context(obj._operation(operation))
        yield


def _own_fields(item: Any) -> tuple[str, ...]:
    """The fields a group operation sets on a member (status and the driver's)."""
    return tuple(n for n in ("status", "group_id", "provider_location", "provider_id",
                             "provider_auth") if n in item.fields)


def _by_project(items: Iterable[Any], count: Callable[[Any], dict[str, int]]
                ) -> dict[str | None, dict[str, int]]:
    """Quota deltas per project: ``count(item)`` summed by ``item.project_id``."""
    out: dict[str | None, dict[str, int]] = {}
    for item in items:
        deltas = out.setdefault(item.project_id, {})
        for resource, n in count(item).items():
            deltas[resource] = deltas.get(resource, 0) + n
    return out


def _reserve(store: Any, per_project: Mapping[str | None, Mapping[str, int]]) -> list[Any]:
    """Reserve quota for every project, all or nothing (``QuotaExceeded``)."""
    from volumelib.control import quotas
    taken: list[Any] = []
    try:
        for project, deltas in per_project.items():
            taken.append(quotas.reserve(store, project, **deltas))
    except Exception:
        _cancel(taken)
        raise
    return taken


def _cancel(reservations: Iterable[Any]) -> None:
    for reservation in reservations:
        reservation.cancel()


def _give_back(store: Any, per_project: Mapping[str | None, Mapping[str, int]]) -> None:
    from volumelib.control import quotas
    for project, deltas in per_project.items():
        quotas.give_back(store, project, **deltas)


def _context() -> Context:
    s = core.settings()
    return Context(project_id=s.project_id, user_id=s.user_id)


def check_group_type(group_type: Any) -> dict[str, str]:
    """A plain dict of Cinder-syntax specs (``{"group_specs": {...}}`` accepted)."""
    if group_type is None:
        return {}
    if not isinstance(group_type, Mapping):
        raise exc.InvalidArgument(reason=f"group_type must be a mapping of specs, "
                                         f"not {group_type!r:.60}")
    specs = group_type.get("group_specs", group_type) \
        if isinstance(group_type.get("group_specs"), Mapping) else group_type
    bad = {k: v for k, v in specs.items() if not isinstance(k, str) or not isinstance(v, str)}
    if bad:
        raise exc.InvalidArgument(reason=f"group type specs must map strings to strings: "
                                         f"{bad!r:.80}")
    return dict(specs)


def _call(backend: Backend, op: GroupOp, native: Callable[[], Any] | None,
          fallback: Callable[[], Any], items: Sequence[str]) -> tuple[Outcome, bool,
                                                                      BaseException | None]:
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


def _raise(backend: Backend, op: GroupOp, outcome: Outcome,
           error: BaseException | None) -> None:
    raised = exc.BackendError(backend_name=backend.id, operation=op.value,
                              reason=outcome.reason)
    if error is not None:
        raise raised from error
    raise raised


def _per_item(items: Iterable[Any], action: Callable[[Any], Any], failed_status: str,
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


# -- create / update -------------------------------------------------------------------

def create_group(backend: Backend, name: Any = None, volumes: Iterable[Any] = (),
                 group_type: Any = None, description: Any = None,
                 id: Any = None) -> Group:
    from volumelib.objects import Group
    name = validation.check_name(name)
    description = validation.check_description(description)
    specs = check_group_type(group_type)
    group_id = validation.new_id(id)
    members = _resolve_volumes(backend, volumes)
    _check_addable(None, members)
    settings = core.settings()
    group = Group(id=group_id, name=name, description=description, status=Status.CREATING,
                  group_type=specs, project_id=settings.project_id,
                  user_id=settings.user_id, backend_name=backend.id)
    group._bind(backend, backend.persistence)
    with _leased("create_group", group, *members):
        for vol in members:
            vol._reload()
        _check_addable(None, members)
        return _create_group(backend, group, members)


def _create_group(backend: Backend, group: Group, members: list[Volume]) -> Group:
    backend.persistence.set_group(group)
    core.checkpoint("group.create.intent_stored")
    driver = backend.driver
    outcome, _, error = _call(backend, GroupOp.CREATE,
                              lambda: driver.create_consistencygroup(_context(), group.info()),
                              lambda: None, [])
    group.status = outcome.status
    group.save()
    if outcome.failed:
        _raise(backend, GroupOp.CREATE, outcome, error)
    if members:
        update_group(group, add_volumes=members)
    return group


def _resolve_volumes(backend: Backend, volumes: Iterable[Any]) -> list[Volume]:
    from volumelib.objects import Volume
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
        if vol.status not in LIVE:
            raise exc.InvalidState(resource=f"Volume {vol.id}", status=vol.status,
                                   reason="only available or in-use volumes join a group")


def update_group(group: Group, add_volumes: Iterable[Any] = (),
                 remove_volumes: Iterable[Any] = ()) -> None:
    backend = group.backend
    group._require(Status.AVAILABLE, "update")
    adds = _resolve_volumes(backend, add_volumes)
    removes = _resolve_volumes(backend, remove_volumes)
    with _leased("update_group", group, *adds, *removes):
        group._reload()
        group._require(Status.AVAILABLE, "update")
        for vol in adds + removes:
            vol._reload()
        _update_group(backend, group, adds, removes)


def _update_group(backend: Backend, group: Group, adds: list[Volume],
                  removes: list[Volume]) -> None:
    _check_addable(group, adds)
    both = {v.id for v in adds} & {v.id for v in removes}
    if both:
        raise exc.InvalidArgument(reason=f"volume(s) {', '.join(sorted(both))} both added "
                                         f"and removed")
    for vol in removes:
        if vol.group_id != group.id:
            raise exc.InvalidArgument(reason=f"volume {vol.id} is not in group {group.id}")
    if not adds and not removes:
        return
    group.status = "updating"
    group.save()
    core.checkpoint("group.update.intent_stored")
    driver = backend.driver
    add_infos = [v.info() for v in adds]
    remove_infos = [v.info() for v in removes]
    outcome, _, error = _call(
        backend, GroupOp.UPDATE,
        lambda: driver.update_consistencygroup(_context(), group.info(), add_infos,
                                               remove_infos),
        lambda: (None, None, None), [v.id for v in adds + removes])
    for vol in adds + removes:
        status = outcome.items.get(vol.id)
        if not outcome.failed:
            vol.group_id = group.id if vol in adds else None
        if status is not None:
            vol.status = status
        vol._save_own(*_own_fields(vol))
    group.status = outcome.status
    group.save()
    if outcome.failed:
        _raise(backend, GroupOp.UPDATE, outcome, error)


# -- group snapshots -----------------------------------------------------------------------

def create_group_snapshot(group: Group, name: Any = None, description: Any = None,
                          id: Any = None) -> GroupSnapshot:
    backend = group.backend
    name = validation.check_name(name)
    description = validation.check_description(description)
    gs_id = validation.new_id(id)
    group._require(Status.AVAILABLE, "snapshot")
    with group._operation("create_group_snapshot"):
        group._reload()
        group._require(Status.AVAILABLE, "snapshot")
        volumes = _ordered(group.volumes)
        with _leased("create_snapshot", *volumes):
            for vol in volumes:
                vol._reload()
            return _create_group_snapshot(backend, group, volumes, name=name,
                                          description=description, gs_id=gs_id)


def _create_group_snapshot(backend: Backend, group: Group, volumes: list[Volume], *,
                           name: str | None, description: str | None,
                           gs_id: str) -> GroupSnapshot:
    from volumelib.objects import GroupSnapshot, Snapshot
    if not volumes:
        raise exc.InvalidState(resource=f"Group {group.id}", status=group.status,
                               reason="it has no volumes to snapshot")
    for vol in volumes:
        if vol.status not in LIVE:
            raise exc.InvalidState(resource=f"Volume {vol.id}", status=vol.status,
                                   reason="every volume of a group snapshot must be "
                                          "available or in-use")
    settings = core.settings()
    store = backend.persistence
    gs = GroupSnapshot(id=gs_id, name=name, description=description,
                       status=Status.CREATING, group_id=group.id,
                       group_type=dict(group.group_type), project_id=settings.project_id,
                       user_id=settings.user_id, backend_name=backend.id)
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
    reservations = _reserve(store, _by_project(snaps, lambda s: {"snapshots": 1}))
    try:
        store.set_group_snapshot(gs)
        for snap in snaps:
            store.set_snapshot(snap)
    except Exception:
        _cancel(reservations)
        _forget([*snaps, gs])
        raise
    core.checkpoint("group_snapshot.create.intent_stored")
    by_vol = {v.id: v for v in volumes}
    infos = {s.id: s.info(by_vol[s.volume_id]) for s in snaps}
    driver = backend.driver
    native = None
    if Capability.CONSISTENT_GROUP_SNAPSHOT in backend.capabilities:
        def native() -> Any:
            return driver.create_cgsnapshot(_context(), gs.info(), list(infos.values()))

    def fallback() -> Any:
        def done(snap: Any, update: Any) -> None:
            apply_model_update(snap, update)
            core.checkpoint("group_snapshot.create.member_done")  # crash tests

        return None, _per_item(
            snaps, lambda s: driver.create_snapshot(infos[s.id]), "error", on_done=done)

    outcome, used_native, error = _call(backend, GroupOp.CREATE_SNAPSHOT, native, fallback,
                                        [s.id for s in snaps])
    core.checkpoint("group_snapshot.create.driver_done")
    if not used_native:
        LOG.warning("group snapshot %s of group %s was taken volume by volume: it is not "
                    "crash-consistent across the group", gs.id, group.id)
    _finish(snaps, outcome)
    gs.consistent = used_native and not outcome.failed
    gs.status = outcome.status
    gs.save()
    if outcome.failed:
        _raise(backend, GroupOp.CREATE_SNAPSHOT, outcome, error)
    return gs


def _forget(records: Iterable[Any]) -> None:
    """Remove the records of an intent that could not be stored whole (best effort)."""
    for record in records:
        if record.__dict__.get("_db_version") is None:
            continue
        try:
            getattr(record.persistence, f"delete_{record._kind()}")(record)
        except Exception:  # noqa: BLE001 - never hide the store's own error
            LOG.exception("could not remove %s %s", record.OBJ_NAME, record.id)


def _ordered(items: Iterable[Any]) -> list[Any]:
    """Sources in a stable order (oldest first): targets line up with it."""
    return sorted(items, key=lambda o: (o.created_at is None, o.created_at, o.id))


def _finish(items: Sequence[Any], outcome: Outcome, *, deleted_ok: bool = False) -> None:
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
        item._save_own(*_own_fields(item))


def delete_group_snapshot(gs: GroupSnapshot) -> None:
    if gs.status == Status.DELETED:
        raise exc.GroupSnapshotNotFound(group_snapshot_id=gs.id)
    with gs._operation("delete_group_snapshot"):
        try:
            gs._reload()
        except exc.GroupSnapshotNotFound:
            gs._values["status"] = Status.DELETED
            gs.obj_reset_changes()
            raise
        snaps = _ordered(gs.snapshots)
        with _leased("delete", *snaps):
            for snap in snaps:
                snap._reload()
            _delete_group_snapshot(gs, snaps)


def _delete_group_snapshot(gs: GroupSnapshot, snaps: list[Snapshot]) -> None:
    backend = gs.backend
    if gs.status == Status.DELETED:
        raise exc.GroupSnapshotNotFound(group_snapshot_id=gs.id)
    if gs.status not in (Status.AVAILABLE, Status.ERROR, Status.ERROR_DELETING):
        raise exc.InvalidState(resource=f"Group snapshot {gs.id}", status=gs.status,
                               reason="delete needs available, error or error_deleting")
    infos = {s.id: s.info() for s in snaps}
    gs.status = Status.DELETING
    gs.save()
    for s in snaps:
        s.status = Status.DELETING
        s._save_own("status")
    core.checkpoint("group_snapshot.delete.intent_stored")
    driver = backend.driver
    native = None
    if gs.consistent and Capability.CONSISTENT_GROUP_SNAPSHOT in backend.capabilities:
        def native() -> Any:
            return driver.delete_cgsnapshot(_context(), gs.info(), list(infos.values()))

    def fallback() -> Any:
        return None, _per_item(snaps, lambda s: driver.delete_snapshot(infos[s.id]),
                               "error_deleting")

    outcome, _, error = _call(backend, GroupOp.DELETE_SNAPSHOT, native, fallback,
                              [s.id for s in snaps])
    core.checkpoint("group_snapshot.delete.driver_done")
    _finish(snaps, outcome, deleted_ok=True)
    _give_back(backend.persistence,
               _by_project([s for s in snaps if s.status == Status.DELETED],
                           lambda s: {"snapshots": 1}))
    if outcome.failed:
        gs.status = outcome.status
        gs.save()
        _raise(backend, GroupOp.DELETE_SNAPSHOT, outcome, error)
    gs._record_deleted()


# -- from a source -------------------------------------------------------------------------

def create_group_from_src(backend: Backend, name: Any = None, group_snapshot: Any = None,
                          source_group: Any = None, description: Any = None,
                          id: Any = None) -> Group:
    """A new group with copies of a group snapshot's or a group's volumes, under the
    leases of the new group, the source and its members."""
    from volumelib.control.leases import LeaseManager
    if (group_snapshot is None) == (source_group is None):
        raise exc.InvalidArgument(reason="give exactly one of group_snapshot and "
                                         "source_group")
    name = validation.check_name(name)
    description = validation.check_description(description)
    group_id = validation.new_id(id)
    source = _load(backend, "group_snapshot", group_snapshot) if group_snapshot is not None \
        else _load(backend, "group", source_group)
    with LeaseManager(backend.persistence).operation(group_id, "create_group_from_src",
                                                     kind="group"), \
            source._operation("create_group_from_src"):
        source._reload()
        members = _ordered(source.snapshots if group_snapshot is not None
                           else source.volumes)
        with _leased("create_volume" if group_snapshot is not None else "clone", *members):
            for member in members:
                member._reload()
            return _create_group_from_src(
                backend, name, description, group_id, members,
                gs=source if group_snapshot is not None else None,
                src=None if group_snapshot is not None else source)


def _create_group_from_src(backend: Backend, name: str | None, description: str | None,
                           group_id: str, sources: list[Any], *, gs: GroupSnapshot | None,
                           src: Group | None) -> Group:
    from volumelib.objects import Group, Volume
    store = backend.persistence
    group_snapshot, source_group = gs, src
    if gs is not None:
        if gs.status != Status.AVAILABLE:
            raise exc.InvalidState(resource=f"Group snapshot {gs.id}", status=gs.status,
                                   reason="a source must be available")
        for s in sources:
            if s.status != Status.AVAILABLE:
                raise exc.InvalidState(resource=f"Snapshot {s.id}", status=s.status,
                                       reason="every source snapshot must be available")
        specs = dict(gs.group_type)
    elif src is not None:
        if src.status != Status.AVAILABLE:
            raise exc.InvalidState(resource=f"Group {src.id}", status=src.status,
                                   reason="a source must be available")
        for v in sources:
            if v.status not in LIVE:
                raise exc.InvalidState(resource=f"Volume {v.id}", status=v.status,
                                       reason="every source volume must be available")
        specs = dict(src.group_type)
    if not sources:
        raise exc.InvalidState(resource="source", status="empty",
                               reason="a group is created from a non-empty source")
    settings = core.settings()
    group = Group(id=group_id, name=name, description=description, status=Status.CREATING,
                  group_type=specs, project_id=settings.project_id,
                  user_id=settings.user_id, backend_name=backend.id,
                  source_group_id=None if source_group is None else sources[0].group_id,
                  group_snapshot_id=None if group_snapshot is None else gs.id)
    group._bind(backend, store)
    source_vols = [s.volume if group_snapshot is not None else s for s in sources]
    targets: list[Volume] = []
    for i, (source, svol) in enumerate(zip(sources, source_vols)):
        size = source.volume_size if group_snapshot is not None else source.size
        vol = Volume._new(backend, id=validation.new_id(), name=svol.name,
                          size=size, status=Status.CREATING,
                          project_id=settings.project_id, user_id=settings.user_id,
                          backend_name=backend.id, volume_type_id=svol.volume_type_id,
                          volume_type=dict(svol.volume_type), metadata=dict(svol.metadata),
                          multiattach=svol.multiattach, group_id=group.id,
                          snapshot_id=source.id if group_snapshot is not None else None,
                          source_volid=None if group_snapshot is not None else source.id)
        targets.append(vol)
    reservations = _reserve(store, _by_project(
        targets, lambda v: {"volumes": 1, "gigabytes": v.size}))
    try:
        store.set_group(group)
        for vol in targets:
            store.set_volume(vol)
    except Exception:
        _cancel(reservations)
        _forget([*targets, group])
        raise
    core.checkpoint("group.create_from_src.intent_stored")
    driver = backend.driver
    target_infos = [v.info() for v in targets]
    if group_snapshot is not None:
        snap_infos = [s.info(v) for s, v in zip(sources, source_vols)]

        def native() -> Any:
            return driver.create_consistencygroup_from_src(
                _context(), group.info(), target_infos, cgsnapshot=gs.info(),
                snapshots=snap_infos)

        def one(t: Any) -> Any:
            return driver.create_volume_from_snapshot(t.info(),
                                                      snap_infos[targets.index(t)])
    else:
        src_infos = [v.info() for v in sources]

        def native() -> Any:
            return driver.create_consistencygroup_from_src(
                _context(), group.info(), target_infos, source_cg=src.info(),
                source_vols=src_infos)

        def one(t: Any) -> Any:
            return driver.create_cloned_volume(t.info(), src_infos[targets.index(t)])

    def fallback() -> Any:
        driver_group: Any = None
        try:
            driver_group = driver.create_consistencygroup(_context(), group.info())
        except NotImplementedError:
            pass
        return driver_group, _per_item(targets, one, "error",
                                       on_done=lambda t, update: apply_model_update(t, update))

    outcome, _, error = _call(backend, GroupOp.CREATE_FROM_SRC, native, fallback,
                              [v.id for v in targets])
    _finish(targets, outcome)
    group.status = outcome.status
    group.save()
    if outcome.failed:
        _raise(backend, GroupOp.CREATE_FROM_SRC, outcome, error)
    return group


def _load(backend: Backend, kind: str, ref: Any) -> Any:
    from volumelib.objects import Group, GroupSnapshot
    cls = Group if kind == "group" else GroupSnapshot
    obj_id = ref.id if isinstance(ref, cls) else ref
    validation.check_id(obj_id, what=f"{kind} id")
    getter = backend.persistence.get_groups if kind == "group" \
        else backend.persistence.get_group_snapshots
    found = getter(obj_id)
    if not found or found[0].backend_name != backend.id:
        if kind == "group":
            raise exc.GroupNotFound(group_id=obj_id)
        raise exc.GroupSnapshotNotFound(group_snapshot_id=obj_id)
    found[0]._bind(backend)
    return found[0]


# -- delete ----------------------------------------------------------------------------------

def delete_group(group: Group, delete_volumes: bool = False) -> None:
    if group.status == Status.DELETED:
        raise exc.GroupNotFound(group_id=group.id)
    with group._operation("delete_group"):
        try:
            group._reload()
        except exc.GroupNotFound:
            group._values["status"] = Status.DELETED
            group.obj_reset_changes()
            raise
        volumes = _ordered(group.volumes)
        with _leased("delete", *(volumes if delete_volumes else ())):
            for vol in volumes:
                vol._reload()
            _delete_group(group, volumes, delete_volumes)


def _delete_group(group: Group, volumes: list[Volume], delete_volumes: bool) -> None:
    backend = group.backend
    if group.status == Status.DELETED:
        raise exc.GroupNotFound(group_id=group.id)
    if group.status not in (Status.AVAILABLE, Status.ERROR, Status.ERROR_DELETING):
        raise exc.InvalidState(resource=f"Group {group.id}", status=group.status,
                               reason="delete needs available, error or error_deleting")
    snapshots = backend.persistence.get_group_snapshots(group_id=group.id)
    if snapshots:
        raise exc.InvalidState(resource=f"Group {group.id}", status=group.status,
                               reason=f"it has {len(snapshots)} group snapshot(s); "
                                      f"delete them first")
    if volumes and not delete_volumes:
        raise exc.InvalidState(resource=f"Group {group.id}", status=group.status,
                               reason=f"it has {len(volumes)} volume(s); pass "
                                      f"delete_volumes=True or remove them first")
    for vol in volumes:
        if vol.connections:
            raise exc.VolumeInUse(volume_id=vol.id, reason="it is connected; a group "
                                                           "with attached volumes is not deleted")
        if vol.snapshots:
            raise exc.HasSnapshots(volume_id=vol.id, count=len(vol.snapshots))
    infos = [v.info() for v in volumes]
    group.status = Status.DELETING
    group.save()
    for vol in volumes:
        vol.status = Status.DELETING
        vol._save_own("status")
    core.checkpoint("group.delete.intent_stored")
    driver = backend.driver

    def fallback() -> Any:
        entries = _per_item(volumes, lambda v: driver.delete_volume(v.info()),
                            "error_deleting")
        try:
            driver.delete_consistencygroup(_context(), group.info(), [])
        except NotImplementedError:
            pass
        return None, entries

    outcome, _, error = _call(
        backend, GroupOp.DELETE,
        lambda: driver.delete_consistencygroup(_context(), group.info(), infos),
        fallback, [v.id for v in volumes])
    _finish(volumes, outcome, deleted_ok=True)
    _give_back(backend.persistence,
               _by_project([v for v in volumes if v.status == Status.DELETED],
                           lambda v: {"volumes": 1, "gigabytes": v.size}))
    if outcome.failed:
        group.status = outcome.status
        group.save()
        _raise(backend, GroupOp.DELETE, outcome, error)
    group._record_deleted()
