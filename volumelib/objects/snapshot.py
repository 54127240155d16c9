"""``Snapshot``: a point-in-time copy of a volume."""

from __future__ import annotations

import logging
from typing import Any

from volumelib import checkpoints, runtime, validation
from volumelib import exceptions as exc
from volumelib.control import quotas
from volumelib.control.leases import OperationSteps
from volumelib.drivers.types import SnapshotInfo
from volumelib.objects import volume_moves
from volumelib.objects.driver_calls import apply_model_update, call_driver
from volumelib.objects.resource import Resource
from volumelib.records.stored import TIMESTAMP_FIELDS, Status, StoredObject
from volumelib.versioned import fields

__all__ = ["Snapshot"]

LOG = logging.getLogger(__name__)


class Snapshot(Resource):
    """A snapshot. Create one with ``volume.create_snapshot(...)``.

    Its volume is a :class:`~volumelib.objects.volume.Volume` (which depends on
    snapshots, not the other way round: the volume is read from the store, or, for a
    snapshot loaded from JSON whose volume the store does not know, taken from the
    JSON, which carries it).
    """

    VERSION = "1.0"
    fields = {
        "id": fields.UUID(),
        "name": fields.String(nullable=True),
        "description": fields.String(nullable=True),
        "volume_id": fields.String(),
        "volume_size": fields.Integer(),
        "status": fields.String(default=Status.CREATING),
        "project_id": fields.String(nullable=True),
        "user_id": fields.String(nullable=True),
        "backend_name": fields.String(nullable=True),
        "group_snapshot_id": fields.String(nullable=True),
        "metadata": fields.DictOfStrings(default={}),
        "provider_location": fields.String(nullable=True),
        "provider_id": fields.String(nullable=True),
        **TIMESTAMP_FIELDS,
    }

    def _backend_name(self) -> str | None:
        return self.backend_name

    @property
    def volume(self) -> Any:
        """The source volume, read from the store (or, when the store does not know
        it, the one this snapshot's JSON carried).

        Raises:
            VolumeNotFound: neither has it.
        """
        found = self.persistence.get_volumes(volume_id=self.volume_id)
        if found:
            vol = found[0]
            vol._bind(self.__dict__.get("_backend"))
            return vol
        carried = self.__dict__.get("_volume")
        if carried is not None and carried.id == self.volume_id:
            return carried
        raise exc.VolumeNotFound(volume_id=self.volume_id)

    def _carry_volume(self, volume: StoredObject) -> None:
        """Keep ``volume`` (this snapshot's, from JSON) for when the store lacks it."""
        object.__setattr__(self, "_volume", volume)

    def to_json(self, *, include_secrets: bool = False,
                with_volume: bool = True) -> dict[str, Any]:
        """Like every object's JSON, plus (``with_volume``) ``"volume"``: its volume's
        JSON, so another process can create a volume from it without a shared store
        (as cinderlib's snapshot JSON does). A volume's dump lists its snapshots
        without it."""
        data = super().to_json(include_secrets=include_secrets)
        if not with_volume:
            return data
        try:
            data["volume"] = self.volume.to_json(include_secrets=include_secrets)
        except exc.VolumeNotFound:
            pass
        return data

    def info(self, volume: Any = None) -> SnapshotInfo:
        """The driver's view of this snapshot (with its volume's: ``volume``, else
        the volume this object carries when the store's row is still that one, else
        the store's)."""
        vol = volume
        if vol is None:
            carried = self.__dict__.get("_volume")
            version = None if carried is None else carried.__dict__.get("_db_version")
            if version is not None and version == self.persistence.row_version(
                    "volume", self.volume_id):
                vol = carried
            else:
                vol = self.volume
        return SnapshotInfo(id=self.id, volume_id=self.volume_id,
                            volume_size=self.volume_size, volume=vol.info(), name=self.name,
                            provider_location=self.provider_location,
                            provider_id=self.provider_id,
                            group_snapshot_id=self.group_snapshot_id)

    @classmethod
    def _create(cls, volume: Any, *, name: str | None, description: str | None,
                metadata: dict[str, str] | None, id: str | None) -> Snapshot:
        """Snapshot ``volume`` under its operation lease (``volume.create_snapshot``)."""
        name = validation.check_name(name)
        description = validation.check_description(description)
        metadata = validation.check_metadata(metadata)
        snap_id = validation.new_id(id)
        with volume._exclusive_steps("create_snapshot") as steps:
            volume._reload()
            return cls._create_locked(volume, steps, name=name, description=description,
                                      metadata=metadata, snap_id=snap_id)

    @classmethod
    def _create_locked(cls, volume: Any, steps: OperationSteps, *, name: str | None,
                       description: str | None, metadata: dict[str, str],
                       snap_id: str) -> Snapshot:
        volume._require_status({Status.AVAILABLE, Status.IN_USE}, "snapshot")
        backend = volume.backend
        settings = runtime.settings()
        snap = cls(id=snap_id, name=name, description=description, volume_id=volume.id,
                   volume_size=volume.size, status=Status.CREATING,
                   project_id=volume.project_id or settings.project_id,
                   user_id=settings.user_id, backend_name=volume.backend_name,
                   metadata=metadata)
        snap._bind(backend, volume.persistence)
        snap._carry_volume(volume)  # its info() needs the volume's, while it is current
        store = snap.persistence
        reservation = quotas.reserve(store, snap.project_id, snapshots=1)
        try:
            store.set_snapshot(snap)
        except Exception:
            reservation.cancel()
            raise
        steps.intent_stored("snapshot.create.intent_stored")
        try:
            update = call_driver(backend, "create_snapshot", backend.driver.create_snapshot,
                                 snap.info(volume), resource_id=snap.id)
        except Exception:
            snap._settle(Status.ERROR)
            raise
        checkpoints.checkpoint("snapshot.create.driver_done")
        steps.finishing()
        apply_model_update(snap, update)
        snap.status = Status.AVAILABLE
        snap._save_own("status", "provider_location", "provider_id")
        return snap

    def create_volume(self, name: str | None = None, size: int | None = None,
                      description: str | None = None,
                      metadata: dict[str, str] | None = None, id: str | None = None,
                      volume_type: Any = None) -> Any:
        """A new volume with this snapshot's data; ``size`` >= the snapshot's.

        Raises:
            ResourceBusy: another caller is operating on this snapshot.
            VolumeNotFound: its volume is neither stored nor carried by its JSON.
        """
        if size is not None:
            size = validation.check_size(size)
        with self._exclusive("create_volume"):
            self._reload()
            if self.status != Status.AVAILABLE:
                raise exc.InvalidState(resource=f"Snapshot {self.id}", status=self.status,
                                       reason="creating a volume from it needs available")
            return self.volume._create_from_snapshot(
                self, size=size, name=name, description=description, metadata=metadata,
                id=id, volume_type=volume_type)

    def delete(self) -> None:
        """Delete the snapshot. A repeated delete (this object's, or of a snapshot
        another process deleted meanwhile) is a no-op.

        Raises:
            ResourceBusy: another caller is operating on this snapshot.
            InvalidState: it belongs to a group snapshot, or its status forbids it.
            BackendError: the driver failed; it is stored ``error_deleting``.
        """
        self._delete_under_lease()

    _STEPPED_DELETE = True

    def _delete(self, steps: OperationSteps) -> None:
        if self.status == Status.DELETED:
            return
        if self.group_snapshot_id is not None:
            raise exc.InvalidState(resource=f"Snapshot {self.id}", status=self.status,
                                   reason=f"it belongs to group snapshot "
                                          f"{self.group_snapshot_id}; delete that instead")
        if self.status not in (Status.AVAILABLE, Status.ERROR, Status.ERROR_DELETING):
            raise exc.InvalidState(resource=f"Snapshot {self.id}", status=self.status,
                                   reason="delete needs available, error or error_deleting")
        backend = self.backend
        info = self.info()
        checked = {"status": self.status}
        self.status = Status.DELETING
        self._save_own("status", expect=checked)
        steps.intent_stored("snapshot.delete.intent_stored")
        try:
            call_driver(backend, "delete_snapshot", backend.driver.delete_snapshot, info,
                        resource_id=self.id)
        except Exception:
            self._settle(Status.ERROR_DELETING)
            raise
        checkpoints.checkpoint("snapshot.delete.driver_done")
        steps.finishing()
        self._record_deleted()
        quotas.give_back(self.persistence, self.project_id, snapshots=1)

    def unmanage(self) -> dict[str, Any] | None:
        """Forget this snapshot's record and keep its data (Cinder's
        unmanage_snapshot); ``backend.manage_snapshot(reference, volume)`` adopts it
        again.

        Returns:
            The reference of the storage object now, or ``None``.

        Raises:
            NotSupported: no ``MANAGE_EXISTING_SNAPSHOT``.
            InvalidState: a member of a group snapshot, or not available/error.
        """
        return volume_moves.unmanage_snapshot(self)
