"""Adopting storage objects made outside volumelib: ``backend.manage()``,
``backend.manage_snapshot()`` and the listings of what could be adopted.

The driver SPI is Cinder's (``get_manageable_volumes``, ``manage_existing_get_size``,
``manage_existing``, and the same for snapshots). The flow is the create flow's:

1. validate: the request (name, type, id) and the reference, by the driver's
   ``manage_existing_get_size``, which refuses a reference that does not exist
   (``ReferenceNotFound``), is malformed (``InvalidReference``), is already a volume
   (``AlreadyManaged``) or is unsafe (``NotManageable``); nothing is stored;
2. reserve quota for the rounded-up size; store the reference
   (:mod:`.intents`), then the record in ``managing``;
3. ``manage_existing`` (the driver renames the object into its naming);
4. store ``available`` and forget the reference.

A driver failure in step 3 leaves nothing (the record goes, the quota is given back).
A crash after step 2 is finished by ``gc()`` (:func:`recover`): it calls
``manage_existing`` again (drivers make a repeated call a no-op), and drops the
record if the object is nowhere, never deleting data.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from volumelib import checkpoints, runtime, validation
from volumelib import exceptions as exc
from volumelib.control import quotas
from volumelib.drivers.manageable import reference_value
from volumelib.drivers.types import Capability, SnapshotInfo, VolumeInfo
from volumelib.objects import intents
from volumelib.objects.driver_calls import apply_model_update, call_driver
from volumelib.objects.snapshot import Snapshot
from volumelib.objects.volume import Volume
from volumelib.protocols import BackendLike
from volumelib.records.stored import Status

__all__ = ["manageable_volumes", "manageable_snapshots", "manage_volume", "manage_snapshot",
           "recover"]

LOG = logging.getLogger(__name__)


def _require(backend: BackendLike, capability: Capability, operation: str) -> None:
    if capability not in backend.capabilities:
        raise exc.NotSupported(operation=operation, driver=backend.driver_name)


def _check_page(marker: Any, limit: Any, offset: Any) -> None:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)
                              or limit < 1):
        raise exc.InvalidArgument(reason=f"limit must be an integer >= 1, not {limit!r}")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise exc.InvalidArgument(reason=f"offset must be an integer >= 0, not {offset!r}")
    if marker is not None and not isinstance(marker, (str, Mapping)):
        raise exc.InvalidArgument(reason=f"marker must be a reference (dict) or its name, "
                                         f"not {marker!r:.60}")


def _reference(reference: Any) -> dict[str, Any]:
    """The reference as a plain dict, its shape checked (the driver checks the rest)."""
    reference_value(reference)
    return dict(reference)


def manageable_volumes(backend: BackendLike, marker: Any = None, limit: int | None = None,
                       offset: int = 0, sort_keys: Sequence[str] | None = None,
                       sort_dirs: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """``backend.manageable_volumes()``: the driver's ``get_manageable_volumes`` told
    which objects are this backend's volumes already.

    Raises:
        NotSupported: no ``MANAGE_EXISTING``. InvalidArgument: bad paging.
    """
    _require(backend, Capability.MANAGE_EXISTING, "manageable_volumes")
    _check_page(marker, limit, offset)
    known = [v.info() for v in backend.persistence.get_volumes(backend_name=backend.id)]
    return call_driver(backend, "get_manageable_volumes",
                       backend.driver.get_manageable_volumes, known, marker, limit, offset,
                       list(sort_keys or ["reference"]), list(sort_dirs or ["asc"]))


def manageable_snapshots(backend: BackendLike, marker: Any = None, limit: int | None = None,
                         offset: int = 0, sort_keys: Sequence[str] | None = None,
                         sort_dirs: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """``backend.manageable_snapshots()``: as :func:`manageable_volumes`, for snapshots.

    Raises:
        NotSupported: no ``MANAGE_EXISTING_SNAPSHOT``. InvalidArgument: bad paging.
    """
    _require(backend, Capability.MANAGE_EXISTING_SNAPSHOT, "manageable_snapshots")
    _check_page(marker, limit, offset)
    store = backend.persistence
    volumes = {v.id: v for v in store.get_volumes(backend_name=backend.id)}
    known = [s.info(volumes[s.volume_id]) for s in store.get_snapshots()
             if s.volume_id in volumes]
    return call_driver(backend, "get_manageable_snapshots",
                       backend.driver.get_manageable_snapshots, known, marker, limit, offset,
                       list(sort_keys or ["reference"]), list(sort_dirs or ["asc"]))


def _size_from(backend: BackendLike, operation: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise exc.BackendError(backend_name=backend.id, operation=operation,
                               reason=f"the driver gave the size {value!r}, not a "
                                      f"positive number of GiB")
    return value


def manage_volume(backend: BackendLike, reference: Any, *, name: Any = None,
                  volume_type: Any = None, description: Any = None, metadata: Any = None,
                  id: Any = None) -> Volume:
    """``backend.manage(reference, name=None, volume_type=None)``: see the module
    docstring.

    Raises:
        NotSupported: no ``MANAGE_EXISTING`` (or multiattach without it).
        InvalidReference, ReferenceNotFound, AlreadyManaged, NotManageable: the
            reference; InvalidName, InvalidId, VolumeTypeNotFound...: the request;
            AlreadyExists: the id; QuotaExceeded. Nothing changes on any of them.
        BackendError: the driver failed to adopt it; nothing stored.
    """
    _require(backend, Capability.MANAGE_EXISTING, "manage")
    reference = _reference(reference)
    request = Volume._prepare(backend, size=1, name=name, description=description,
                              metadata=metadata, volume_type=volume_type, id=id,
                              check_capacity=False)
    probe = VolumeInfo(id=request.id, size=1, name=request.name,
                       metadata=dict(request.metadata), volume_type=dict(request.volume_type),
                       multiattach=request.multiattach)
    size = _size_from(backend, "manage_existing_get_size",
                      call_driver(backend, "manage_existing_get_size",
                                  backend.driver.manage_existing_get_size, probe, reference,
                                  resource_id=request.id))
    settings = runtime.settings()
    vol = Volume(id=request.id, name=request.name, description=request.description,
                 size=size, status=Status.MANAGING, project_id=settings.project_id,
                 user_id=settings.user_id, backend_name=backend.id,
                 volume_type_id=request.volume_type_id, volume_type=request.volume_type,
                 metadata=request.metadata, multiattach=request.multiattach)
    store = backend.persistence
    vol._bind(backend, store)
    key = intents.manage_key("volume", vol.id)
    reservation = quotas.reserve(store, settings.project_id, volumes=1, gigabytes=size)
    try:
        intents.save(store, key, {"reference": reference, "backend": backend.id,
                                  "started_at": intents.now()})
        store.set_volume(vol)
    except Exception:
        reservation.cancel()
        intents.drop(store, key)
        raise
    checkpoints.checkpoint("volume.manage.intent_stored")
    try:
        update = call_driver(backend, "manage_existing", backend.driver.manage_existing,
                             vol.info(), reference, resource_id=vol.id)
    except Exception:
        _drop_record(vol, key)
        raise
    checkpoints.checkpoint("volume.manage.driver_done")
    apply_model_update(vol, update)
    vol.status = Status.AVAILABLE
    vol._save_own("status", "provider_location", "provider_id", "provider_auth")
    intents.drop(store, key)
    LOG.info("backend %s: %s managed as volume %s (%d GiB)", backend.id, reference, vol.id,
             size)
    return vol


def manage_snapshot(backend: BackendLike, reference: Any, volume: Any, *, name: Any = None,
                    description: Any = None, metadata: Any = None,
                    id: Any = None) -> Snapshot:
    """``backend.manage_snapshot(reference, volume, name=None)``: adopt a snapshot of
    ``volume``'s storage object (a volume of this backend, by object or id).

    Raises:
        NotSupported: no ``MANAGE_EXISTING_SNAPSHOT``.
        VolumeNotFound: no such volume on this backend.
        InvalidState: the volume is not available or in-use.
        InvalidReference, ReferenceNotFound, AlreadyManaged, NotManageable: the
            reference. Nothing changes on any of them.
    """
    _require(backend, Capability.MANAGE_EXISTING_SNAPSHOT, "manage_snapshot")
    reference = _reference(reference)
    vol_id = volume.id if isinstance(volume, Volume) else volume
    validation.check_id(vol_id, what="volume id")
    found = backend.persistence.get_volumes(volume_id=vol_id, backend_name=backend.id)
    if not found:
        raise exc.VolumeNotFound(volume_id=vol_id)
    vol = found[0]
    vol._bind(backend)
    name = validation.check_name(name)
    description = validation.check_description(description)
    metadata = validation.check_metadata(metadata)
    snap_id = validation.new_id(id)
    store = backend.persistence
    if store.get_snapshots(snapshot_id=snap_id):
        raise exc.AlreadyExists(resource="Snapshot", id=snap_id)
    with vol._exclusive("manage_snapshot"):
        vol._reload()
        vol._require_status({Status.AVAILABLE, Status.IN_USE}, "manage a snapshot of")
        settings = runtime.settings()
        snap = Snapshot(id=snap_id, name=name, description=description, volume_id=vol.id,
                        volume_size=vol.size, status=Status.MANAGING,
                        project_id=vol.project_id or settings.project_id,
                        user_id=settings.user_id, backend_name=backend.id,
                        metadata=metadata)
        snap._bind(backend, store)
        info = snap.info(vol)
        call_driver(backend, "manage_existing_snapshot_get_size",
                    backend.driver.manage_existing_snapshot_get_size, info, reference,
                    resource_id=snap_id)
        key = intents.manage_key("snapshot", snap_id)
        reservation = quotas.reserve(store, snap.project_id, snapshots=1)
        try:
            intents.save(store, key, {"reference": reference, "backend": backend.id,
                                      "started_at": intents.now()})
            store.set_snapshot(snap)
        except Exception:
            reservation.cancel()
            intents.drop(store, key)
            raise
        checkpoints.checkpoint("snapshot.manage.intent_stored")
        try:
            update = call_driver(backend, "manage_existing_snapshot",
                                 backend.driver.manage_existing_snapshot, info, reference,
                                 resource_id=snap_id)
        except Exception:
            _drop_record(snap, key)
            raise
        checkpoints.checkpoint("snapshot.manage.driver_done")
        apply_model_update(snap, update)
        snap.status = Status.AVAILABLE
        snap._save_own("status", "provider_location", "provider_id")
        intents.drop(store, key)
        return snap


def _drop_record(obj: Any, key: str) -> None:
    """Forget a record whose object was not adopted (and the quota it reserved)."""
    try:
        obj._record_deleted()
        if isinstance(obj, Volume):
            quotas.give_back(obj.persistence, obj.project_id, volumes=1, gigabytes=obj.size)
        else:
            quotas.give_back(obj.persistence, obj.project_id, snapshots=1)
        intents.drop(obj.persistence, key)
    except Exception:  # noqa: BLE001 - never hide the driver's error; gc settles it
        LOG.exception("could not forget the %s %s that was not managed", obj.OBJ_NAME,
                      obj.id)


def recover(obj: Any) -> str:
    """Finish a manage interrupted by a crash (``gc()``; the caller holds the lease):
    ``manage_existing`` again, else forget the record when the object is nowhere,
    else ``error_managing``. Never deletes data. Returns what was done.
    """
    is_volume = isinstance(obj, Volume)
    key = intents.manage_key("volume" if is_volume else "snapshot", obj.id)
    record = intents.load(obj.persistence, key)
    backend = obj.backend
    if record is None:
        obj._settle(Status.ERROR_MANAGING)
        return "mark error_managing (the reference was not recorded)"
    reference = record["reference"]
    info: VolumeInfo | SnapshotInfo = obj.info()
    method = "manage_existing" if is_volume else "manage_existing_snapshot"
    try:
        update = call_driver(backend, method, getattr(backend.driver, method), info,
                             reference, resource_id=obj.id)
    except exc.ReferenceNotFound:
        _drop_record(obj, key)
        return "forget: the object was not adopted and is gone"
    except exc.VolumelibError as e:
        obj._settle(Status.ERROR_MANAGING)
        intents.drop(obj.persistence, key)
        return f"mark error_managing ({e})"
    apply_model_update(obj, update)
    obj.status = Status.AVAILABLE
    obj._save_own("status", "provider_location", "provider_id")
    intents.drop(obj.persistence, key)
    return "finish manage"
