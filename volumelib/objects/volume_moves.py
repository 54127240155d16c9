"""Moving volumes: ``vol.migrate()``, ``vol.retype()``, and forgetting them:
``vol.unmanage()``, ``snap.unmanage()``; and how ``gc()`` finishes or undoes each.

**Migration** keeps the volume's id and record; only the record's ``backend_name``
(and ``provider_*`` fields) change, in one compare-and-set, once the data is on the
target. Drivers name their storage objects after the id, so the target's copy is
made under the same id on the other backend, and the record's switch *is* the
identity swap. In order:

==============================  ==================================================
step (checkpoint after it)      what a crash there leaves, and what ``gc()`` does
==============================  ==================================================
intent (``intent_stored``)      the record ``migrating`` on the source and the
                                migration record (``intents``): roll back
target made, copied, verified   a partial or complete copy on the target, exports:
(``target_created``,            roll back (remove both exports, delete the target's
``attached``, ``copied``,       object, status back)
``verified``, ``detached``)
switch (``swapped``)            the record on the target, still ``migrating``: roll
                                forward (delete the source's object, status back)
source deleted                  the same, nothing left to delete
(``source_deleted``)
status back (``settled``)       the migration record only: delete the source's object
                                (no-op), forget the record
==============================  ==================================================

The copy is the source driver's own (``migrate_volume``: a reflink within one
filesystem, a deep copy within one Ceph cluster) when it declares ``MIGRATE`` and
reaches the target, else the host-assisted copy of :mod:`.host_copy`. Snapshots do
not migrate: a volume with snapshots is refused (``HasSnapshots``), as Cinder does; so
is an attached one (``VolumeInUse``: no driver here can move a volume under a running
attachment), a group member, and a move to a backend that does not satisfy the
volume's type (``NoValidBackend``), that cannot hold it (``InsufficientCapacity``), or
that shares its storage (``InvalidArgument``, same ``location_info``).

**Retype** changes the type in place when the volume's backend satisfies the new
type (the driver's ``retype`` adjusts QoS and the like when it declares ``RETYPE``),
else, with ``migration_policy="on-demand"``, migrates to a backend that does, the new
type being stored in the same compare-and-set as the move.

**Unmanage** asks the driver to move the object out of its naming (``unmanage``,
returning where it is now), then forgets the record.

A pool name as a migration target is resolved by the control plane the volume came
from (``cp.get_volume``, ``cp.volumes``...), else by the live backends of this process.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any, Protocol

from volumelib import checkpoints, runtime
from volumelib import exceptions as exc
from volumelib import specs as spec_syntax
from volumelib.control import placement, quotas
from volumelib.drivers.types import Capability, SnapshotInfo, VolumeInfo
from volumelib.objects import host_copy, intents
from volumelib.objects.driver_calls import apply_model_update, call_driver
from volumelib.protocols import BackendLike, PoolDirectory
from volumelib.records.stored import Status
from volumelib.records.volume_type import resolve_volume_type

__all__ = ["MigrationResult", "migrate", "retype", "unmanage_volume", "unmanage_snapshot",
           "recover_migration", "recover_volume", "recover_snapshot", "resolve_target",
           "MIGRATION_POLICIES", "PROVIDER_FIELDS"]

LOG = logging.getLogger(__name__)

MIGRATION_POLICIES = ("never", "on-demand")
PROVIDER_FIELDS = ("provider_location", "provider_id", "provider_auth")


class _Volume(Protocol):
    """What these flows use of :class:`volumelib.objects.volume.Volume` (which imports
    this module, so it is not imported here)."""

    id: str
    size: int
    status: str
    previous_status: str | None
    backend_name: str
    volume_type_id: str | None
    volume_type: dict[str, str]
    multiattach: bool
    group_id: str | None
    project_id: str | None

    @property
    def backend(self) -> BackendLike: ...

    @property
    def persistence(self) -> Any: ...

    @property
    def snapshots(self) -> list[Any]: ...

    @property
    def connections(self) -> list[Any]: ...

    def info(self) -> VolumeInfo: ...


@dataclasses.dataclass
class MigrationResult:
    """What ``vol.migrate()`` did.

    Attributes:
        volume_id: the volume (it keeps its id).
        source, target: backend names.
        method: ``driver`` (the source driver's own copy) or ``host`` (through this host).
        data_bytes, bytes_read, bytes_written: of the host copy (0 for ``driver``).
        verified: the host copy was read back and compared.
        seconds: the whole migration.
        source_left: the source's object could not be deleted (``gc()`` retries); why.
    """

    volume_id: str
    source: str
    target: str
    method: str
    data_bytes: int = 0
    bytes_read: int = 0
    bytes_written: int = 0
    verified: bool = False
    seconds: float = 0.0
    source_left: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# -- helpers ------------------------------------------------------------------------------

def _stats(backend: BackendLike) -> dict[str, Any]:
    stats = call_driver(backend, "get_volume_stats", backend.driver.get_volume_stats, False)
    return stats.to_dict() if hasattr(stats, "to_dict") else dict(stats)


def _state(backend: BackendLike) -> placement.PoolState:
    return placement.PoolState(backend.id, capabilities=frozenset(backend.capabilities),
                               stats=_stats(backend))


def _location(stats: dict[str, Any]) -> str | None:
    value = stats.get("location_info")
    if value is None:
        pools = stats.get("pools") or [{}]
        value = pools[0].get("location_info") if isinstance(pools[0], dict) else None
    return str(value) if value else None


def _mismatch(state: placement.PoolState, specs: dict[str, str]) -> str | None:
    """Why the backend of ``state`` cannot serve a type with ``specs`` (``None``: it can)."""
    pinned = placement.pinned_pools(specs)
    if pinned is not None and state.name not in pinned:
        return (f"the type's volume_backend_name {specs.get('volume_backend_name')!r} "
                f"does not name {state.name}")
    return placement.type_mismatch(state, specs)


def resolve_target(vol: Any, target: Any) -> BackendLike:
    """The backend ``target`` names: a backend object, or a pool (backend) name.

    Raises:
        PoolNotFound, BackendNotFound: no such pool or live backend.
        InvalidArgument: neither a backend nor a name.
    """
    if isinstance(target, str):
        directory = vol.__dict__.get("_directory")
        if isinstance(directory, PoolDirectory):
            return directory.backend(target)
        found = runtime.get_backend(target, required=False)
        if found is None:
            raise exc.BackendNotFound(
                f"Backend {target!r} is not set up in this process: build it "
                f"(volumelib.Backend(...), or ControlPlane().backend({target!r}) for a "
                f"pool) or pass the Backend object", backend_name=target)
        return found
    if isinstance(target, BackendLike):
        return target
    raise exc.InvalidArgument(reason=f"a migration target is a Backend or a pool name, not "
                                     f"{target!r:.60}")


def _volume_info(vol: _Volume, provider: dict[str, Any]) -> VolumeInfo:
    return dataclasses.replace(vol.info(), **{k: provider.get(k) for k in PROVIDER_FIELDS})


def _check_movable(vol: _Volume, action: str) -> None:
    """The volume may leave its backend (no attachments, snapshots or group)."""
    vol._require_status({Status.AVAILABLE, Status.IN_USE}, action)  # type: ignore[attr-defined]
    conns = vol.connections
    if vol.status == Status.IN_USE or conns:
        raise exc.VolumeInUse(volume_id=vol.id,
                              reason=f"it has {len(conns)} connection(s); {action} of an "
                                     f"attached volume needs a driver that moves it under "
                                     f"the attachment, which {vol.backend.driver_name} is "
                                     f"not: detach it first")
    snaps = vol.snapshots
    if snaps:
        raise exc.HasSnapshots(f"Volume {vol.id} has {len(snaps)} snapshot(s): snapshots "
                               f"do not migrate; delete them first", volume_id=vol.id,
                               count=len(snaps))
    if vol.group_id is not None:
        raise exc.InvalidState(resource=f"Volume {vol.id}", status=vol.status,
                               reason=f"it is in group {vol.group_id}; remove it from the "
                                      f"group to {action} it")


# -- migration ------------------------------------------------------------------------------

def migrate(vol: _Volume, target: Any, progress: host_copy.ProgressFn | None = None, *,
            force_host_copy: bool = False, verify: bool = True) -> MigrationResult:
    """``vol.migrate(target, progress=None)``: see the module docstring.

    Raises:
        InvalidArgument, BackendNotFound, PoolNotFound: a bad target; nothing changed.
        ResourceBusy: another caller is operating on the volume; nothing changed.
        VolumeInUse, HasSnapshots, InvalidState, NotSupported, NoValidBackend,
            InsufficientCapacity: refused; nothing changed on either backend.
        BackendError: a driver, os-brick or the verification failed; what the
            migration made on the target is removed and the volume stays where it was.
    """
    backend = resolve_target(vol, target)
    with vol._exclusive("migrate"):  # type: ignore[attr-defined]
        vol._reload()  # type: ignore[attr-defined]
        return _migrate(vol, backend, progress, force_host_copy=force_host_copy,
                        verify=verify, specs=dict(vol.volume_type), retype_to=None)


def _migrate(vol: _Volume, target: BackendLike, progress: host_copy.ProgressFn | None, *,
             force_host_copy: bool, verify: bool, specs: dict[str, str],
             retype_to: dict[str, Any] | None) -> MigrationResult:
    """Migrate under the volume's lease (``migrate``, a retype that migrates)."""
    source = vol.backend
    if target.id == vol.backend_name:
        raise exc.InvalidArgument(reason=f"volume {vol.id} is on backend {target.id} already")
    if target.persistence is not vol.persistence:
        raise exc.InvalidArgument(reason=f"backend {target.id} keeps its records in another "
                                         f"store than volume {vol.id}'s")
    _check_movable(vol, "migration")
    if vol.multiattach and Capability.MULTIATTACH not in target.capabilities:
        raise exc.NotSupported(operation="multiattach volumes", driver=target.driver_name)
    target_state = _state(target)
    why = _mismatch(target_state, specs)
    if why is not None:
        raise exc.NoValidBackend(request=f"volume {vol.id} ({vol.size} GiB)",
                                 reasons={target.id: why})
    here, there = _location(_stats(source)), _location(target_state.stats or {})
    if here is not None and here == there:
        raise exc.InvalidArgument(reason=f"backends {source.id} and {target.id} share their "
                                         f"storage ({here}); nothing to migrate")
    native = Capability.MIGRATE in source.capabilities and not force_host_copy
    local = all(Capability.LOCAL_ATTACH in b.capabilities for b in (source, target))
    if not native and not local:
        missing = [b.id for b in (source, target) if Capability.LOCAL_ATTACH
                   not in b.capabilities]
        raise exc.NotSupported(f"migrating from {source.id} to {target.id} needs the source "
                               f"driver's own migration (migrate) or both attached here, "
                               f"which {', '.join(missing)} cannot (local_attach)",
                               operation="migrate", driver=source.driver_name)
    target.driver.check_capacity(vol.size)
    _finish_previous(vol)

    store = vol.persistence
    started = time.monotonic()
    source_info = vol.info()
    record = {"volume_id": vol.id, "source": source.id, "target": target.id,
              "source_provider": {k: getattr(source_info, k) for k in PROVIDER_FIELDS},
              "target_preexisted": False, "retype": retype_to,
              "host": runtime.settings().host, "started_at": intents.now()}
    key = intents.migration_key(vol.id)
    intents.save(store, key, record)
    checked = {"status": vol.status, "backend_name": vol.backend_name}
    try:
        vol.previous_status = vol.status
        vol.status = Status.MIGRATING
        vol._save_own("status", "previous_status", expect=checked)  # type: ignore[attr-defined]
    except Exception:
        intents.drop(store, key)
        raise
    checkpoints.checkpoint("volume.migrate.intent_stored")
    LOG.info("migrating volume %s from %s to %s (%s)", vol.id, source.id, target.id,
             "driver first" if native else "host-assisted")
    result = MigrationResult(volume_id=vol.id, source=source.id, target=target.id,
                             method="host")
    target_info = dataclasses.replace(source_info, provider_location=None,
                                      provider_id=None, provider_auth=None)
    try:
        update = None
        moved = False
        if native:
            def driver_progress(done: int, total: int) -> None:
                if progress is not None:
                    progress("copy", done, total)

            moved, update = call_driver(source, "migrate_volume", source.driver.migrate_volume,
                                        source_info, target.driver, driver_progress,
                                        resource_id=vol.id)
            if moved:
                result.method = "driver"
                checkpoints.checkpoint("volume.migrate.copied")
        if not moved:
            if not local:
                raise exc.NotSupported(
                    f"driver {source.driver_name} cannot move volume {vol.id} to "
                    f"{target.id} itself, and a copy through this host needs local_attach "
                    f"on both", operation="migrate", driver=source.driver_name)
            update, stats = host_copy.copy_volume(source, source_info, target, target_info,
                                                  progress=progress, verify=verify)
            result.data_bytes, result.bytes_read = stats.data_bytes, stats.bytes_read
            result.bytes_written, result.verified = stats.bytes_written, stats.verified
    except BaseException as e:
        if isinstance(e, exc.AlreadyExists):
            record["target_preexisted"] = True  # not ours: never delete it
            intents.save(store, key, record)
        _roll_back(vol, source, target, record, key)
        raise
    # The identity swap: one compare-and-set moves the record to the target.
    for name in PROVIDER_FIELDS:
        setattr(vol, name, None)
    apply_model_update(vol, update)
    vol.backend_name = target.id
    own = ["backend_name", *PROVIDER_FIELDS]
    if retype_to is not None:
        vol.volume_type_id = retype_to["volume_type_id"]
        vol.volume_type = dict(retype_to["volume_type"])
        vol.multiattach = bool(retype_to["multiattach"])
        own += ["volume_type_id", "volume_type", "multiattach"]
    vol._save_own(*own)  # type: ignore[attr-defined]
    vol._bind(target)  # type: ignore[attr-defined]
    checkpoints.checkpoint("volume.migrate.swapped")
    try:
        _delete_source(source, vol, record)
    except Exception as e:  # noqa: BLE001 - the volume is fine on the target; gc retries
        result.source_left = f"{type(e).__name__}: {e}"
        LOG.warning("volume %s migrated to %s, but its old object on %s was not deleted "
                    "(gc() retries): %s", vol.id, target.id, source.id, e)
    checkpoints.checkpoint("volume.migrate.source_deleted")
    vol.status = vol.previous_status or Status.AVAILABLE
    vol.previous_status = None
    vol._save_own("status", "previous_status")  # type: ignore[attr-defined]
    checkpoints.checkpoint("volume.migrate.settled")
    if result.source_left is None:
        intents.drop(store, key)
    result.seconds = time.monotonic() - started
    LOG.info("volume %s migrated from %s to %s (%s) in %.2f s", vol.id, source.id,
             target.id, result.method, result.seconds)
    return result


def _export_cleanup(backend: BackendLike, info: VolumeInfo) -> None:
    """Remove the exports a host copy made (loop devices...); no-op when none."""
    call_driver(backend, "remove_export", backend.driver.remove_export, info,
                resource_id=info.id)


def _delete_source(source: BackendLike, vol: _Volume, record: dict[str, Any]) -> None:
    info = _volume_info(vol, record.get("source_provider") or {})
    _export_cleanup(source, info)
    call_driver(source, "delete_volume", source.driver.delete_volume, info,
                resource_id=vol.id)


def _delete_target(target: BackendLike, vol: _Volume, record: dict[str, Any]) -> None:
    if record.get("target_preexisted"):
        LOG.warning("not deleting volume %s's object on %s: it was there before the "
                    "migration", vol.id, target.id)
        return
    info = _volume_info(vol, {})
    _export_cleanup(target, info)
    call_driver(target, "delete_volume", target.driver.delete_volume, info,
                resource_id=vol.id)


def _roll_back(vol: _Volume, source: BackendLike, target: BackendLike,
               record: dict[str, Any], key: str) -> None:
    """Undo a migration that failed in this process (before the switch). Failures are
    logged: the record stays ``migrating`` for ``gc()`` then."""
    try:
        _export_cleanup(source, _volume_info(vol, record.get("source_provider") or {}))
        _delete_target(target, vol, record)
    except Exception:  # noqa: BLE001 - never hide the migration's own error
        LOG.exception("could not undo the failed migration of volume %s to %s; gc() will",
                      vol.id, target.id)
        return
    vol.status = vol.previous_status or Status.AVAILABLE
    vol.previous_status = None
    try:
        vol._save_own("status", "previous_status")  # type: ignore[attr-defined]
        intents.drop(vol.persistence, key)
    except Exception:  # noqa: BLE001
        LOG.exception("could not record the undone migration of volume %s", vol.id)


def _finish_previous(vol: _Volume) -> None:
    """A migration record left by an earlier migration of this volume (its source was
    not deleted): finish it now (we hold the volume's lease), or refuse.

    Raises:
        InvalidState: its other backend is not set up in this process.
    """
    store = vol.persistence
    record = intents.load(store, intents.migration_key(vol.id))
    if record is None:
        return
    action = recover_migration(vol, record)
    if action is None:
        other = record["source"] if vol.backend_name == record["target"] else record["target"]
        raise exc.InvalidState(resource=f"Volume {vol.id}", status=vol.status,
                               reason=f"an earlier migration left an object on backend "
                                      f"{other} to delete, and that backend is not set up "
                                      f"in this process: run gc() where it is")
    LOG.info("volume %s: earlier migration record settled first (%s)", vol.id, action)


def recover_migration(vol: _Volume | None, record: dict[str, Any]) -> str | None:
    """Finish or undo the migration ``record`` describes (``gc()``; the caller holds
    the volume's lease). Returns what was done, or ``None`` when a backend it needs is
    not set up in this process (nothing done).

    Raises:
        VolumelibError: a driver failed (the record is kept: a later gc retries).
    """
    store = runtime.persistence() if vol is None else vol.persistence
    key = intents.migration_key(record["volume_id"])
    if vol is None:
        intents.drop(store, key)
        return "forget the record of a volume that no longer exists"
    source = runtime.get_backend(record["source"], required=False)
    target = runtime.get_backend(record["target"], required=False)
    if source is None or target is None:
        return None
    on_target = vol.backend_name == record["target"]
    if on_target:
        _delete_source(source, vol, record)
        action = "finish: delete the source's object"
    else:
        _export_cleanup(source, _volume_info(vol, record.get("source_provider") or {}))
        _delete_target(target, vol, record)
        action = "roll back: delete the target's object"
    if vol.status == Status.MIGRATING:
        vol.status = vol.previous_status or Status.AVAILABLE
        vol.previous_status = None
        vol._save_own("status", "previous_status")  # type: ignore[attr-defined]
    intents.drop(store, key)
    return action


# -- retype -----------------------------------------------------------------------------------

def retype(vol: _Volume, new_type: Any, migration_policy: str = "never",
           progress: host_copy.ProgressFn | None = None) -> MigrationResult | None:
    """``vol.retype(new_type, migration_policy="never")``: see the module docstring.

    Returns:
        The migration's result when it migrated, else ``None``.

    Raises:
        InvalidArgument: a bad policy or type; VolumeTypeNotFound: no such type.
        MigrationRequired: the backend cannot serve the type and the policy is never.
        NoValidBackend: no other backend can (``on-demand``).
        And what :func:`migrate` raises. Nothing changes on any refusal.
    """
    if migration_policy not in MIGRATION_POLICIES:
        raise exc.InvalidArgument(reason=f"migration_policy must be one of "
                                         f"{', '.join(MIGRATION_POLICIES)}, not "
                                         f"{migration_policy!r}")
    store = vol.persistence
    vtype, specs = resolve_volume_type(store, new_type)
    type_id = vtype.id if vtype is not None else None
    type_name = repr(vtype.name) if vtype is not None else f"specs {specs!r}"
    with vol._exclusive("retype"):  # type: ignore[attr-defined]
        vol._reload()  # type: ignore[attr-defined]
        vol._require_status(  # type: ignore[attr-defined]
            {Status.AVAILABLE, Status.IN_USE}, "retype")
        if type_id == vol.volume_type_id and specs == dict(vol.volume_type):
            return None
        multiattach = spec_syntax.spec_is_true(specs, "multiattach")
        if not multiattach and len(vol.connections) > 1:
            raise exc.InvalidState(resource=f"Volume {vol.id}", status=vol.status,
                                   reason="it has several connections; the new type is not "
                                          "multiattach")
        source = vol.backend
        why = _mismatch(_state(source), specs)
        new = {"volume_type_id": type_id, "volume_type": specs, "multiattach": multiattach}
        if why is None:
            why = _retype_in_place(vol, source, vtype, specs, new)
            if why is None:
                return None
        if migration_policy == "never":
            raise exc.MigrationRequired(volume_id=vol.id, volume_type=type_name, reason=why,
                                        policy=migration_policy)
        target = _choose_target(vol, source, vtype if vtype is not None else specs, specs)
        return _migrate(vol, target, progress, force_host_copy=False, verify=True,
                        specs=specs, retype_to=new)


def _qos(store: Any, type_id: str | None) -> dict[str, str]:
    if type_id is None:
        return {}
    found = store.get_volume_types(volume_type_id=type_id)
    return dict(found[0].qos_specs) if found else {}


def _retype_in_place(vol: _Volume, backend: BackendLike, vtype: Any, specs: dict[str, str],
                     new: dict[str, Any]) -> str | None:
    """Retype on the volume's own backend. Returns ``None`` when done, else why the
    driver needs a migration (nothing changed)."""
    checked = {"status": vol.status, "backend_name": vol.backend_name}
    if Capability.RETYPE in backend.capabilities:
        old_specs, old_qos = dict(vol.volume_type), _qos(vol.persistence, vol.volume_type_id)
        new_qos = dict(vtype.qos_specs) if vtype is not None else {}
        diff = {"extra_specs": {k: (old_specs.get(k), specs.get(k))
                                for k in set(old_specs) | set(specs)
                                if old_specs.get(k) != specs.get(k)},
                "qos_specs": {k: (old_qos.get(k), new_qos.get(k))
                              for k in set(old_qos) | set(new_qos)
                              if old_qos.get(k) != new_qos.get(k)}}
        vol.previous_status = vol.status
        vol.status = Status.RETYPING
        vol._save_own("status", "previous_status", expect=checked)  # type: ignore[attr-defined]
        checkpoints.checkpoint("volume.retype.intent_stored")
        try:
            done, update = call_driver(backend, "retype", backend.driver.retype, vol.info(),
                                       {"extra_specs": specs, "qos_specs": new_qos}, diff,
                                       resource_id=vol.id)
        except Exception:
            _back(vol)
            raise
        if not done:
            _back(vol)
            return f"driver {backend.driver_name} cannot adjust it in place"
        checkpoints.checkpoint("volume.retype.driver_done")
        apply_model_update(vol, update)
    for name, value in new.items():
        setattr(vol, name, value)
    vol.status = vol.previous_status if vol.status == Status.RETYPING else vol.status
    vol.previous_status = None
    vol._save_own("status", "previous_status", *new, *PROVIDER_FIELDS)  # type: ignore[attr-defined]
    LOG.info("volume %s retyped in place on %s", vol.id, backend.id)
    return None


def _back(vol: _Volume) -> None:
    vol.status = vol.previous_status or Status.AVAILABLE
    vol.previous_status = None
    vol._save_own("status", "previous_status")  # type: ignore[attr-defined]


def _choose_target(vol: _Volume, source: BackendLike, type_arg: Any,
                   specs: dict[str, str]) -> BackendLike:
    """The best other backend for ``vol`` with the new type: placement over the pools of
    the volume's control plane, else over the live backends of this process.

    Raises:
        NoValidBackend: none passes (reasons per pool).
    """
    directory = vol.__dict__.get("_directory")
    request = placement.PlacementRequest(size=vol.size, extra_specs=specs)
    if isinstance(directory, PoolDirectory):
        try:
            candidates = [c for c in directory.place(vol.size, type_arg)
                          if c.name != source.id]
        except exc.NoValidBackend as e:
            raise exc.NoValidBackend(request=request.describe(),
                                     reasons=getattr(e, "reasons", {})) from None
        if not candidates:
            raise exc.NoValidBackend(request=request.describe(),
                                     reasons={source.id: "it is the volume's own backend"})
        return directory.backend(candidates[0].name)
    others = {b.id: b for b in runtime.live_backends()
              if b.id != source.id and b.persistence is vol.persistence}
    states = []
    for backend in others.values():
        try:
            states.append(_state(backend))
        except exc.VolumelibError as e:
            states.append(placement.PoolState(backend.id, error=str(e)))
    candidates, reasons = placement.evaluate(request, states)
    if not candidates:
        raise placement.no_valid_backend(request, reasons)
    return others[candidates[0].name]


# -- unmanage -----------------------------------------------------------------------------------

def unmanage_volume(vol: _Volume) -> dict[str, Any] | None:
    """``vol.unmanage()``: forget the record, keep the data (see the module docstring).

    Returns:
        The reference of the storage object now (for ``backend.manage`` again), or
        ``None`` when the driver kept none.

    Raises:
        NotSupported: no ``MANAGE_EXISTING``. VolumeInUse, HasSnapshots, InvalidState:
        refused, nothing changed. BackendError: the driver failed; the volume is back
        in its status.
    """
    with vol._exclusive("unmanage"):  # type: ignore[attr-defined]
        vol._reload()  # type: ignore[attr-defined]
        vol._require_live()  # type: ignore[attr-defined]
        backend = vol.backend
        if Capability.MANAGE_EXISTING not in backend.capabilities:
            raise exc.NotSupported(operation="unmanage", driver=backend.driver_name)
        conns = vol.connections
        if conns:
            raise exc.VolumeInUse(volume_id=vol.id,
                                  reason=f"{len(conns)} connection(s); disconnect first")
        vol._require_status({Status.AVAILABLE, Status.ERROR,  # type: ignore[attr-defined]
                             Status.ERROR_MANAGING}, "unmanage")
        snaps = vol.snapshots
        if snaps:
            raise exc.HasSnapshots(volume_id=vol.id, count=len(snaps))
        if vol.group_id is not None:
            raise exc.InvalidState(resource=f"Volume {vol.id}", status=vol.status,
                                   reason=f"it is in group {vol.group_id}")
        checked = {"status": vol.status}
        vol.previous_status = vol.status
        vol.status = Status.UNMANAGING
        vol._save_own("status", "previous_status", expect=checked)  # type: ignore[attr-defined]
        checkpoints.checkpoint("volume.unmanage.intent_stored")
        try:
            ref = call_driver(backend, "unmanage", backend.driver.unmanage, vol.info(),
                              resource_id=vol.id)
        except Exception:
            _back(vol)
            raise
        checkpoints.checkpoint("volume.unmanage.driver_done")
        _forget_volume(vol)
        LOG.info("volume %s unmanaged; its data is at %s on %s", vol.id, ref, backend.id)
        return dict(ref) if ref else None


def _forget_volume(vol: _Volume) -> None:
    vol._record_deleted()  # type: ignore[attr-defined]
    quotas.give_back(vol.persistence, vol.project_id, volumes=1, gigabytes=vol.size)


def unmanage_snapshot(snap: Any) -> dict[str, Any] | None:
    """``snap.unmanage()``: forget the snapshot's record, keep its data.

    Raises:
        NotSupported: no ``MANAGE_EXISTING_SNAPSHOT``. InvalidState: a member of a
        group snapshot, or not ``available``/``error``.
    """
    with snap._exclusive("unmanage"):
        snap._reload()
        if snap.status not in (Status.AVAILABLE, Status.ERROR, Status.ERROR_MANAGING):
            raise exc.InvalidState(resource=f"Snapshot {snap.id}", status=snap.status,
                                   reason="unmanage needs available or error")
        if snap.group_snapshot_id is not None:
            raise exc.InvalidState(resource=f"Snapshot {snap.id}", status=snap.status,
                                   reason=f"it belongs to group snapshot "
                                          f"{snap.group_snapshot_id}")
        backend = snap.backend
        if Capability.MANAGE_EXISTING_SNAPSHOT not in backend.capabilities:
            raise exc.NotSupported(operation="unmanage_snapshot", driver=backend.driver_name)
        info: SnapshotInfo = snap.info()
        checked = {"status": snap.status}
        previous = snap.status
        snap.status = Status.UNMANAGING
        snap._save_own("status", expect=checked)
        checkpoints.checkpoint("snapshot.unmanage.intent_stored")
        try:
            ref = call_driver(backend, "unmanage_snapshot", backend.driver.unmanage_snapshot,
                              info, resource_id=snap.id)
        except Exception:
            snap._settle(previous)
            raise
        checkpoints.checkpoint("snapshot.unmanage.driver_done")
        snap._record_deleted()
        quotas.give_back(snap.persistence, snap.project_id, snapshots=1)
        return dict(ref) if ref else None


# -- gc -------------------------------------------------------------------------------------------

def recover_volume(vol: _Volume) -> str:
    """Settle a volume left ``unmanaging`` or ``retyping`` by a crash (``gc()``; the
    caller holds its lease). Returns what was done.

    Raises:
        VolumelibError: the driver failed (the record is kept for a later gc).
    """
    backend = vol.backend
    if vol.status == Status.UNMANAGING:
        call_driver(backend, "unmanage", backend.driver.unmanage, vol.info(),
                    resource_id=vol.id)
        _forget_volume(vol)
        return "finish unmanage"
    _back(vol)  # retyping: the type is the old one; the user retries
    return "back to previous status"


def recover_snapshot(snap: Any) -> str:
    """Finish a snapshot unmanage interrupted by a crash (``gc()``)."""
    backend = snap.backend
    call_driver(backend, "unmanage_snapshot", backend.driver.unmanage_snapshot, snap.info(),
                resource_id=snap.id)
    snap._record_deleted()
    quotas.give_back(snap.persistence, snap.project_id, snapshots=1)
    return "finish unmanage"
