"""``Snapshot``: a point-in-time copy of a volume."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from volumelib import core
from volumelib import exceptions as exc
from volumelib import validation
from volumelib.drivers.types import SnapshotInfo
from volumelib.objects.base import fields
from volumelib.objects.common import (TIMESTAMP_FIELDS, Status, StoredObject,
                                      apply_model_update, call_driver)

if TYPE_CHECKING:
    from volumelib.objects.volume import Volume

__all__ = ["Snapshot"]

LOG = logging.getLogger(__name__)


class Snapshot(StoredObject):
    """A snapshot. Create one with ``volume.create_snapshot(...)``."""

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
    def volume(self) -> Volume:
        """The source volume, read from the store."""
        found = self.persistence.get_volumes(volume_id=self.volume_id)
        if not found:
            raise exc.VolumeNotFound(volume_id=self.volume_id)
        vol = found[0]
        vol._bind(self.__dict__.get("_backend"))
        return vol

    def info(self, volume: Volume | None = None) -> SnapshotInfo:
        """The driver's view of this snapshot (with its volume's)."""
        vol = volume if volume is not None else self.volume
        return SnapshotInfo(id=self.id, volume_id=self.volume_id,
                            volume_size=self.volume_size, volume=vol.info(), name=self.name,
                            provider_location=self.provider_location,
                            provider_id=self.provider_id,
                            group_snapshot_id=self.group_snapshot_id)


    @classmethod
    def _create(cls, volume: Volume, *, name: str | None, description: str | None,
                metadata: dict[str, str] | None, id: str | None) -> Snapshot:
        name = validation.check_name(name)
        description = validation.check_description(description)
        metadata = validation.check_metadata(metadata)
        snap_id = validation.new_id(id)
        with volume._operation("create_snapshot"):
            volume._reload()
            return cls._create_locked(volume, name=name, description=description,
                                      metadata=metadata, snap_id=snap_id)

    @classmethod
    def _create_locked(cls, volume: Volume, *, name: str | None, description: str | None,
                       metadata: dict[str, str], snap_id: str) -> Snapshot:
        from volumelib.control import quotas
        volume._require_status({Status.AVAILABLE, Status.IN_USE}, "snapshot")
        backend = volume.backend
        settings = core.settings()
        snap = cls(id=snap_id, name=name, description=description, volume_id=volume.id,
                   volume_size=volume.size, status=Status.CREATING,
                   project_id=volume.project_id or settings.project_id,
                   user_id=settings.user_id, backend_name=volume.backend_name,
                   metadata=metadata)
        snap._bind(backend, volume.persistence)
        store = snap.persistence
        reservation = quotas.reserve(store, snap.project_id, snapshots=1)
        try:
            store.set_snapshot(snap)
        except Exception:
            reservation.cancel()
            raise
        core.checkpoint("snapshot.create.intent_stored")
        try:
            update = call_driver(backend, "create_snapshot", backend.driver.create_snapshot,
                                 snap.info(volume), resource_id=snap.id)
        except Exception:
            snap._settle(Status.ERROR)
            raise
        core.checkpoint("snapshot.create.driver_done")
        apply_model_update(snap, update)
        snap.status = Status.AVAILABLE
        snap._save_own("status", "provider_location", "provider_id")
        return snap

    def create_volume(self, name: str | None = None, size: int | None = None,
                      description: str | None = None,
                      metadata: dict[str, str] | None = None, id: str | None = None,
                      volume_type: Any = None) -> Volume:
        """A new volume with this snapshot's data; ``size`` >= the snapshot's.

        Raises:
            ResourceBusy: another caller is operating on this snapshot.
        """
        if size is not None:
            size = validation.check_size(size)
        with self._operation("create_volume"):
            self._reload()
            return self._create_volume(name=name, size=size, description=description,
                                       metadata=metadata, id=id, volume_type=volume_type)

    def _create_volume(self, *, name: str | None, size: int | None,
                       description: str | None, metadata: dict[str, str] | None,
                       id: str | None, volume_type: Any) -> Volume:
        if self.status != Status.AVAILABLE:
            raise exc.InvalidState(resource=f"Snapshot {self.id}", status=self.status,
                                   reason="creating a volume from it needs available")
        size = self.volume_size if size is None else size
        if size < self.volume_size:
            raise exc.InvalidSize(size=size, reason=f"a volume from a snapshot cannot be "
                                                    f"smaller than it ({self.volume_size} GiB)")
        source = self.volume
        info = self.info(source)
        return self.backend._create_volume(
            size=size, name=name, description=description, metadata=metadata, id=id,
            volume_type=source._type_ref() if volume_type is None else volume_type,
            snapshot_id=self.id, operation="create_volume_from_snapshot",
            call=lambda drv, vinfo: drv.create_volume_from_snapshot(vinfo, info))

    def delete(self) -> None:
        """Delete the snapshot. Deleting an already deleted snapshot object (or one
        another process deleted meanwhile) is a no-op.

        Raises:
            ResourceBusy: another caller is operating on this snapshot.
        """
        if self.status == Status.DELETED:
            return
        with self._operation("delete"):
            try:
                self._reload()
            except exc.SnapshotNotFound:
                self._values["status"] = Status.DELETED
                self.obj_reset_changes()
                return
            self._delete()

    def _delete(self) -> None:
        from volumelib.control import quotas
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
        core.checkpoint("snapshot.delete.intent_stored")
        try:
            call_driver(backend, "delete_snapshot", backend.driver.delete_snapshot, info,
                        resource_id=self.id)
        except Exception:
            self._settle(Status.ERROR_DELETING)
            raise
        core.checkpoint("snapshot.delete.driver_done")
        self._record_deleted()
        quotas.give_back(self.persistence, self.project_id, snapshots=1)

