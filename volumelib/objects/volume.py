"""``Volume``: a block volume on a backend, its life cycle, and the one create flow.

Every operation follows the same order: validate the request (nothing touched yet),
store the intent (a transitional status such as ``creating``), call the driver, store
the outcome. A crash between the second and the third step leaves a record that
``backend.gc()`` reconciles.

Every new volume, empty, cloned, from a snapshot or from an image, is made by one
flow: :meth:`Volume._prepare` checks the request once (sizes, names, the type,
capabilities, capacity) and :meth:`Volume._create` reserves quota, stores the intent,
calls the driver and stores the outcome.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
from collections.abc import Callable
from typing import Any

from volumelib import brick, checkpoints, runtime, validation
from volumelib import exceptions as exc
from volumelib import specs as spec_syntax
from volumelib.control import quotas
from volumelib.control.leases import LeaseManager, OperationSteps
from volumelib.drivers.base import VolumeDriver
from volumelib.drivers.types import Capability, VolumeInfo
from volumelib.objects import volume_moves
from volumelib.objects.connection import Connection
from volumelib.objects.driver_calls import apply_model_update, call_driver
from volumelib.objects.resource import Resource
from volumelib.objects.snapshot import Snapshot
from volumelib.protocols import BackendLike
from volumelib.records.stored import TIMESTAMP_FIELDS, Status
from volumelib.records.volume_type import resolve_volume_type
from volumelib.versioned import fields

__all__ = ["Volume", "VolumeRequest", "DELETABLE", "GiB"]

LOG = logging.getLogger(__name__)

GiB = 1024 ** 3

#: Statuses from which a volume may be deleted.
DELETABLE = frozenset({Status.AVAILABLE, Status.ERROR, Status.ERROR_DELETING,
                       Status.ERROR_EXTENDING, Status.ERROR_MANAGING})

#: ``call(driver, volume_info)``: the driver call that makes a new volume's storage.
DriverCall = Callable[[VolumeDriver, VolumeInfo], Any]


@dataclasses.dataclass(frozen=True)
class VolumeRequest:
    """A request for a new volume, checked once by :meth:`Volume._prepare`."""

    size: int
    name: str | None
    description: str | None
    metadata: dict[str, str]
    id: str
    volume_type_id: str | None
    volume_type: dict[str, str]
    multiattach: bool
    snapshot_id: str | None = None
    source_volid: str | None = None
    #: The backend's capacity was checked for ``size`` (else :meth:`Volume._create`
    #: checks it).
    capacity_checked: bool = False

    def differences(self, vol: Volume, backend_name: str) -> dict[str, Any]:
        """What an existing volume of the same name has otherwise (idempotent create)."""
        wanted = {"size": self.size, "description": self.description,
                  "metadata": self.metadata, "volume_type_id": self.volume_type_id,
                  "volume_type": self.volume_type, "multiattach": self.multiattach,
                  "backend_name": backend_name}
        return {f: {"existing": getattr(vol, f), "requested": value}
                for f, value in wanted.items() if getattr(vol, f) != value}


class Volume(Resource):
    """A volume. Create one with ``backend.create_volume(...)``."""

    VERSION = "1.0"
    SECRET_FIELDS = frozenset({"provider_auth"})
    fields = {
        "id": fields.UUID(),
        "name": fields.String(nullable=True),
        "description": fields.String(nullable=True),
        "size": fields.Integer(),
        "status": fields.String(default=Status.CREATING),
        "previous_status": fields.String(nullable=True),
        "project_id": fields.String(nullable=True),
        "user_id": fields.String(nullable=True),
        "backend_name": fields.String(),
        "volume_type_id": fields.String(nullable=True),
        "volume_type": fields.DictOfNullableStrings(default={}),
        "metadata": fields.DictOfStrings(default={}),
        "snapshot_id": fields.String(nullable=True),
        "source_volid": fields.String(nullable=True),
        "group_id": fields.String(nullable=True),
        "multiattach": fields.Boolean(default=False),
        "provider_location": fields.String(nullable=True),
        "provider_id": fields.String(nullable=True),
        "provider_auth": fields.SensitiveString(nullable=True),
        **TIMESTAMP_FIELDS,
    }

    def _backend_name(self) -> str | None:
        return self.backend_name

    # -- relations -----------------------------------------------------------------

    @property
    def snapshots(self) -> list[Snapshot]:
        """This volume's snapshots, read from the store."""
        snaps = self._bound(self.persistence.get_snapshots(volume_id=self.id))
        for snap in snaps:  # what their info() needs, while this volume is current
            snap._carry_volume(self)
        return snaps

    @property
    def connections(self) -> list[Connection]:
        """This volume's connections, read from the store."""
        return self._bound(self.persistence.get_connections(volume_id=self.id))

    @property
    def dump(self) -> dict[str, Any]:
        data = self.json
        data["snapshots"] = [s.to_json(with_volume=False) for s in self.snapshots]
        data["connections"] = [c.json for c in self.connections]
        return data

    def info(self) -> VolumeInfo:
        """The driver's view of this volume."""
        return VolumeInfo(id=self.id, size=self.size, name=self.name,
                          provider_location=self.provider_location,
                          provider_id=self.provider_id, metadata=dict(self.metadata),
                          volume_type=dict(self.volume_type), multiattach=self.multiattach,
                          group_id=self.group_id, provider_auth=self.provider_auth)

    def _require_live(self) -> None:
        if self.status == Status.DELETED or self.deleted:
            raise exc.VolumeNotFound(volume_id=self.id)

    def _require_status(self, allowed: frozenset[str] | set[str], action: str) -> None:
        self._require_live()
        if self.status not in allowed:
            raise exc.InvalidState(resource=f"Volume {self.id}", status=self.status,
                                   reason=f"{action} needs status "
                                          f"{' or '.join(sorted(allowed))}")

    def _type_ref(self) -> dict[str, Any] | str:
        """What a copy of this volume gets as its type: the same stored type, or the
        same specs."""
        if self.volume_type_id:
            return self.volume_type_id
        return dict(self.volume_type)

    # -- the create flow -------------------------------------------------------------

    @classmethod
    def _prepare(cls, backend: BackendLike, *, size: Any, name: Any = None,
                 description: Any = None, metadata: Any = None, volume_type: Any = None,
                 id: Any = None, multiattach: bool | None = None,
                 snapshot_id: str | None = None, source_volid: str | None = None,
                 minimum: int = 1, check_capacity: bool = True,
                 id_must_be_free: bool = True) -> VolumeRequest:
        """Check a request for a new volume on ``backend``; nothing is stored.

        Args:
            minimum: the smallest size allowed (a copy's source size).
            check_capacity: ask the driver whether it has room now (else
                :meth:`_create` does, right before storing the intent).
            id_must_be_free: refuse an ``id`` a stored volume has.

        Raises:
            InvalidSize, InvalidName, InvalidId, InvalidArgument: bad input.
            AlreadyExists: ``id`` is taken.
            NotFound: no such volume type.
            NotSupported: multiattach on a driver without ``MULTIATTACH``.
            InsufficientCapacity: the backend has no room.
        """
        size = validation.check_size(size)
        if size < minimum:
            raise exc.InvalidSize(size=size, reason=f"a copy cannot be smaller than its "
                                                    f"source ({minimum} GiB)")
        name = validation.check_name(name)
        description = validation.check_description(description)
        metadata = validation.check_metadata(metadata)
        store = backend.persistence
        if id is not None:
            vol_id = validation.check_id(id)
            if id_must_be_free and store.get_volumes(volume_id=vol_id):
                raise exc.AlreadyExists(resource="Volume", id=vol_id)
        else:
            vol_id = validation.new_id()
        vtype, specs = resolve_volume_type(store, volume_type)
        if multiattach is None:
            multiattach = spec_syntax.spec_is_true(specs, "multiattach")
        if multiattach and Capability.MULTIATTACH not in backend.capabilities:
            raise exc.NotSupported(operation="multiattach volumes", driver=backend.driver_name)
        if check_capacity:
            backend.driver.check_capacity(size)
        return VolumeRequest(size=size, name=name, description=description,
                             metadata=metadata, id=vol_id,
                             volume_type_id=vtype.id if vtype is not None else None,
                             volume_type=specs, multiattach=bool(multiattach),
                             snapshot_id=snapshot_id, source_volid=source_volid,
                             capacity_checked=check_capacity)

    @classmethod
    def _create(cls, backend: BackendLike, request: VolumeRequest, *, driver_method: str,
                call: DriverCall) -> Volume:
        """Create ``request`` on ``backend``: reserve quota, store the intent
        (``creating``), call ``call(driver, info)`` (the driver's ``driver_method``),
        store the outcome (``available``, or ``error`` when the driver failed).

        Raises:
            InsufficientCapacity, QuotaExceeded: nothing stored.
            AlreadyExists: the id was taken meanwhile; nothing stored.
            BackendError: the driver failed; the volume is stored ``error``.
        """
        if not request.capacity_checked:
            backend.driver.check_capacity(request.size)
        settings = runtime.settings()
        vol = cls(id=request.id, name=request.name, description=request.description,
                  size=request.size, status=Status.CREATING,
                  project_id=settings.project_id, user_id=settings.user_id,
                  backend_name=backend.id, volume_type_id=request.volume_type_id,
                  volume_type=request.volume_type, metadata=request.metadata,
                  multiattach=request.multiattach, snapshot_id=request.snapshot_id,
                  source_volid=request.source_volid)
        store = backend.persistence
        vol._bind(backend, store)
        with store.transaction():  # quota and intent: one commit
            reservation = quotas.reserve(store, settings.project_id, volumes=1,
                                         gigabytes=request.size)
            try:
                store.set_volume(vol)
            except Exception:
                reservation.cancel()
                raise
        checkpoints.checkpoint("volume.create.intent_stored")
        try:
            update = call_driver(backend, driver_method, call, backend.driver, vol.info(),
                                 resource_id=vol.id)
        except Exception:
            vol._settle(Status.ERROR)
            raise
        checkpoints.checkpoint("volume.create.driver_done")
        apply_model_update(vol, update)
        vol.status = Status.AVAILABLE
        # Keep what another writer saved meanwhile (metadata...): set only our fields.
        vol._save_own("status", "provider_location", "provider_id", "provider_auth")
        return vol

    @classmethod
    def _create_by_name(cls, backend: BackendLike, request: VolumeRequest, *,
                        id_given: bool) -> Volume:
        """``create_volume(..., idempotent=True)``: the project's live volume called
        ``request.name`` when it matches the request, else a new one (see
        :meth:`volumelib.Backend.create_volume`)."""
        name = request.name
        if not name:
            raise exc.InvalidName(name=name, reason="an idempotent create needs a name")
        project_id = runtime.settings().project_id
        key = f"name:{project_id or ''}:{name}"
        if len(key) > 255:
            key = "name:" + hashlib.sha256(key.encode()).hexdigest()
        store = backend.persistence
        manager = LeaseManager(store)
        deadline = time.monotonic() + 2 * runtime.settings().operation_lease_ttl
        delay = 0.02
        while True:
            try:
                with manager.operation(key, "create_volume"):
                    found = [v for v in store.get_volumes(volume_name=name)
                             if v.project_id == project_id and v.status not in
                             (Status.DELETING, Status.ERROR_DELETING, Status.DELETED)]
                    if not found:
                        return cls._create(backend, request, driver_method="create_volume",
                                           call=lambda drv, info: drv.create_volume(info))
                    vol = sorted(found, key=lambda v: (v.created_at is None,
                                                       v.created_at, v.id))[0]
                    differences = request.differences(vol, backend.id)
                    if id_given and vol.id != request.id:
                        differences["id"] = {"existing": vol.id, "requested": request.id}
                    if differences:
                        raise exc.NameConflict(resource="Volume", name=name,
                                               project_id=project_id,
                                               differences=differences, volume_id=vol.id)
                    live = runtime.get_backend(vol.backend_name, required=False)
                    vol._bind(live if live is not None else backend)
                    LOG.debug("idempotent create of %r: volume %s exists", name, vol.id)
                    return vol
            except exc.ResourceBusy:
                if time.monotonic() + delay > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.5)

    # -- operations ------------------------------------------------------------------

    def create_snapshot(self, name: str | None = None, description: str | None = None,
                        metadata: dict[str, str] | None = None,
                        id: str | None = None) -> Snapshot:
        """Take a snapshot. The volume must be ``available`` or ``in-use``.

        Raises:
            ResourceBusy: another caller is operating on this volume; nothing changed.
            QuotaExceeded: the project's ``snapshots`` limit; nothing stored.
        """
        return Snapshot._create(self, name=name, description=description,
                                metadata=metadata, id=id)

    def clone(self, name: str | None = None, size: int | None = None,
              description: str | None = None, metadata: dict[str, str] | None = None,
              id: str | None = None, volume_type: Any = None) -> Volume:
        """A new volume with this one's data; ``size`` (GiB) >= this size.

        Raises:
            ResourceBusy: another caller is operating on this volume; nothing changed.
        """
        if size is not None:
            size = validation.check_size(size)
        with self._exclusive("clone"):
            self._reload()
            self._require_status({Status.AVAILABLE, Status.IN_USE}, "clone")
            backend = self.backend
            request = Volume._prepare(
                backend, size=self.size if size is None else size, name=name,
                description=description, metadata=metadata, id=id,
                volume_type=self._type_ref() if volume_type is None else volume_type,
                source_volid=self.id, minimum=self.size)
            if Capability.CLONE not in backend.capabilities:
                raise exc.NotSupported(operation="clone", driver=backend.driver_name)
            src = self.info()
            return Volume._create(backend, request, driver_method="create_cloned_volume",
                                  call=lambda drv, info: drv.create_cloned_volume(info, src))

    def _create_from_snapshot(self, snapshot: Snapshot, *, size: int | None,
                              **args: Any) -> Volume:
        """A new volume holding ``snapshot`` (one of this volume's) on this volume's
        backend; :meth:`Snapshot.create_volume` checks the snapshot first."""
        volume_type = args.pop("volume_type", None)
        request = Volume._prepare(
            snapshot.backend, size=snapshot.volume_size if size is None else size,
            volume_type=self._type_ref() if volume_type is None else volume_type,
            snapshot_id=snapshot.id, minimum=snapshot.volume_size, **args)
        info = snapshot.info(self)
        return Volume._create(snapshot.backend, request,
                              driver_method="create_volume_from_snapshot",
                              call=lambda drv, vinfo: drv.create_volume_from_snapshot(vinfo,
                                                                                       info))

    def extend(self, new_size: int) -> int:
        """Grow to ``new_size`` GiB. Returns the new size in bytes.

        An ``in-use`` volume needs a driver declaring ``ONLINE_EXTEND``.

        Raises:
            ResourceBusy: another caller is operating on this volume; nothing changed.
            QuotaExceeded: the project's ``gigabytes`` limit; nothing changed.
        """
        new_size = validation.check_size(new_size, what="new size")
        with self._exclusive("extend"):
            self._reload()
            return self._extend(new_size)

    def _extend(self, new_size: int) -> int:
        self._require_status({Status.AVAILABLE, Status.IN_USE}, "extend")
        if new_size <= self.size:
            raise exc.InvalidSize(size=new_size,
                                  reason=f"must be larger than the current {self.size} GiB")
        backend = self.backend
        if self.status == Status.IN_USE and Capability.ONLINE_EXTEND not in backend.capabilities:
            raise exc.NotSupported(operation="extending an in-use volume",
                                   driver=backend.driver_name)
        backend.driver.check_capacity(new_size - self.size)
        reservation = quotas.reserve(self.persistence, self.project_id,
                                     gigabytes=new_size - self.size)
        checked = {"status": self.status, "size": self.size}
        try:
            self.previous_status = self.status
            self.status = Status.EXTENDING
            self._save_own("status", "previous_status", expect=checked)
        except Exception:
            reservation.cancel()
            raise
        checkpoints.checkpoint("volume.extend.intent_stored")
        try:
            call_driver(backend, "extend_volume", backend.driver.extend_volume,
                        self.info(), new_size, resource_id=self.id)
        except Exception:
            reservation.cancel()
            self._settle(Status.ERROR_EXTENDING)
            raise
        checkpoints.checkpoint("volume.extend.driver_done")
        self.size = new_size
        self.status = self.previous_status or Status.AVAILABLE
        self.previous_status = None
        self._save_own("size", "status", "previous_status")
        return new_size * GiB

    def revert_to_snapshot(self, snapshot: Snapshot | str) -> None:
        """Make this volume's data the snapshot's again (size is kept).

        Raises:
            ResourceBusy: another caller is operating on this volume; nothing changed.
        """
        if isinstance(snapshot, str):
            found = self.persistence.get_snapshots(snapshot_id=snapshot)
            if not found:
                raise exc.SnapshotNotFound(snapshot_id=snapshot)
            snapshot = found[0]
        if not isinstance(snapshot, Snapshot):
            raise exc.InvalidArgument(reason=f"not a snapshot: {snapshot!r:.60}")
        with self._exclusive("revert"):
            self._reload()
            snapshot._reload()
            self._revert(snapshot)

    def _revert(self, snapshot: Snapshot) -> None:
        if snapshot.volume_id != self.id:
            raise exc.InvalidArgument(
                reason=f"snapshot {snapshot.id} is of volume {snapshot.volume_id}, "
                       f"not {self.id}")
        self._require_status({Status.AVAILABLE}, "revert")
        if snapshot.status != Status.AVAILABLE:
            raise exc.InvalidState(resource=f"Snapshot {snapshot.id}",
                                   status=snapshot.status, reason="revert needs available")
        backend = self.backend
        if Capability.REVERT_TO_SNAPSHOT not in backend.capabilities:
            raise exc.NotSupported(operation="revert_to_snapshot", driver=backend.driver_name)
        checked = {"status": self.status}
        self.previous_status = self.status
        self.status = Status.REVERTING
        self._save_own("status", "previous_status", expect=checked)
        checkpoints.checkpoint("volume.revert.intent_stored")
        try:
            call_driver(backend, "revert_to_snapshot", backend.driver.revert_to_snapshot,
                        self.info(), snapshot.info(self), resource_id=self.id)
        except Exception:
            self._settle(Status.ERROR)
            raise
        checkpoints.checkpoint("volume.revert.driver_done")
        self.status = Status.AVAILABLE
        self.previous_status = None
        self._save_own("status", "previous_status")

    def delete(self) -> None:
        """Delete the volume. Refused while it has connections or snapshots, or is in
        a group. A repeated delete (this object's, or of a volume another process
        deleted meanwhile) is a no-op.

        Raises:
            ResourceBusy: another caller is operating on this volume; nothing changed.
            VolumeInUse, HasSnapshots, InvalidState: nothing changed.
            BackendError: the driver failed; the volume is stored ``error_deleting``.
        """
        self._delete_under_lease()

    _STEPPED_DELETE = True

    def _delete(self, steps: OperationSteps) -> None:
        if self.status == Status.DELETED:
            return
        conns = self.connections
        if conns:
            raise exc.VolumeInUse(volume_id=self.id,
                                  reason=f"{len(conns)} connection(s); disconnect first")
        snaps = self.snapshots
        if snaps:
            raise exc.HasSnapshots(volume_id=self.id, count=len(snaps))
        if self.group_id is not None:
            raise exc.InvalidState(resource=f"Volume {self.id}", status=self.status,
                                   reason=f"it is in group {self.group_id}; remove it from "
                                          f"the group or delete the group with its volumes")
        self._require_status(DELETABLE, "delete")
        backend = self.backend
        checked = {"status": self.status}
        self.status = Status.DELETING
        self._save_own("status", expect=checked)
        steps.intent_stored("volume.delete.intent_stored")
        try:
            call_driver(backend, "delete_volume", backend.driver.delete_volume, self.info(),
                        resource_id=self.id)
        except Exception:
            self._settle(Status.ERROR_DELETING)
            raise
        checkpoints.checkpoint("volume.delete.driver_done")
        steps.finishing()
        self._record_deleted()
        quotas.give_back(self.persistence, self.project_id, volumes=1, gigabytes=self.size)

    # -- connections -----------------------------------------------------------------

    def connect(self, connector_properties: Any, attach_mode: str = "rw") -> Connection:
        """Controller side: export the volume to the host described by
        ``connector_properties`` and return the persisted ``Connection``."""
        return Connection._connect(self, connector_properties, attach_mode=attach_mode)

    def disconnect(self, connection: Connection | None = None, force: bool = False) -> None:
        """Remove one connection (or all of them when ``connection`` is ``None``)."""
        conns = [connection] if connection is not None else self.connections
        for conn in conns:
            conn.disconnect(force=force)

    def attach(self, attach_mode: str = "rw") -> Connection:
        """Attach on this host: connect, then os-brick ``connect_volume``.

        Returns the ``Connection``; ``conn.path`` is the local device.

        Raises:
            NotSupported: the driver cannot attach locally (e.g. not running as root).
        """
        with self._exclusive("attach"):
            return self._attach(attach_mode)

    def _attach(self, attach_mode: str) -> Connection:
        backend = self.backend
        self._reload()
        self._require_live()
        if Capability.LOCAL_ATTACH not in backend.capabilities:
            raise exc.NotSupported(
                f"backend {backend.id} cannot attach volumes on this host "
                f"(driver {backend.driver_name} does not declare local_attach; "
                f"the file driver needs root and losetup)",
                operation="attach", driver=backend.driver_name)
        props = brick.get_connector_properties()
        props["host"] = runtime.settings().host
        conn = self.connect(props, attach_mode=attach_mode)
        try:
            conn.attach()
        except Exception:
            try:
                conn.disconnect(force=True)
            except Exception:  # noqa: BLE001
                LOG.exception("could not undo connection %s", conn.id)
            raise
        return conn

    def detach(self, force: bool = False) -> None:
        """Undo :meth:`attach` on this host: os-brick detach, then disconnect."""
        with self._exclusive("detach"):
            self._detach(force)

    def _detach(self, force: bool) -> None:
        host = runtime.settings().host
        mine = [c for c in self.connections
                if (c.connector or {}).get("host") == host and c.attached]
        if not mine:
            raise exc.InvalidState(resource=f"Volume {self.id}", status=self.status,
                                   reason=f"it is not attached on host {host}")
        for conn in mine:
            conn.detach(force=force)
            conn.disconnect(force=force)
        self.refresh()

    # -- moving and forgetting (the flows are in volume_moves.py) ----------------------

    def _bind_pools(self, directory: Any) -> None:
        """Resolve pool names (``migrate("bulk")``, a retype that migrates) through
        ``directory``, the control plane this volume came from."""
        object.__setattr__(self, "_directory", directory)

    def migrate(self, target: Any, progress: Callable[[str, float, float | None], None]
                | None = None, *, force_host_copy: bool = False,
                verify: bool = True) -> volume_moves.MigrationResult:
        """Move this volume to another backend; it keeps its id (and its record).

        Args:
            target: a ``Backend``, or a pool (backend) name: resolved by the control
                plane this volume came from, else among this process's backends.
            progress: ``progress(phase, done_bytes, total_bytes)`` while copying
                (``copy``) and verifying (``verify``).
            force_host_copy: copy through this host even where the source driver
                could move the volume itself.
            verify: read the copy back and compare (host-assisted copies).

        Returns:
            What was done (method, bytes read and written, seconds); this object is
            on the target afterwards.

        Raises:
            InvalidArgument, BackendNotFound, PoolNotFound: a bad target.
            ResourceBusy: another caller is operating on the volume.
            VolumeInUse: attached. HasSnapshots: snapshots do not migrate.
            NoValidBackend: the target does not satisfy the volume's type.
            InsufficientCapacity: the target cannot hold it.
            NotSupported: neither driver-assisted nor host-assisted copy is possible.
            BackendError: the copy failed; the volume stays on its backend and the
                target keeps nothing.
            Nothing changes on either backend on any refusal. See
            :mod:`volumelib.objects.volume_moves` and ``docs/manage-migrate.md``.
        """
        return volume_moves.migrate(self, target, progress, force_host_copy=force_host_copy,
                                    verify=verify)

    def retype(self, new_type: Any, migration_policy: str = "never",
               progress: Callable[[str, float, float | None], None] | None = None
               ) -> volume_moves.MigrationResult | None:
        """Change this volume's type: in place when its backend satisfies the new
        type (the driver adjusts QoS if it declares ``RETYPE``), else, with
        ``migration_policy="on-demand"``, by migrating to a backend that does.

        Args:
            new_type: a stored type's name or id, a ``VolumeType``, or a dict of specs.
            migration_policy: ``never`` (default) or ``on-demand``.

        Returns:
            The migration's result when it migrated, else ``None``.

        Raises:
            VolumeTypeNotFound: no such type. InvalidArgument: a bad policy or specs.
            MigrationRequired: a migration is needed and the policy is ``never``.
            NoValidBackend: no backend satisfies the type (``on-demand``).
            And what :meth:`migrate` raises. Nothing changes on any refusal.
        """
        return volume_moves.retype(self, new_type, migration_policy, progress)

    def unmanage(self) -> dict[str, Any] | None:
        """Forget this volume's record and keep its data (Cinder's unmanage).

        The driver moves the storage object out of its own naming (where ``gc`` would
        take it for an orphan); ``backend.manage(reference)`` adopts it again.

        Returns:
            The reference of the storage object now (``{"source-name": ...}``).

        Raises:
            NotSupported: the driver does not declare ``MANAGE_EXISTING``.
            VolumeInUse, HasSnapshots, InvalidState: refused; nothing changed.
        """
        return volume_moves.unmanage_volume(self)
