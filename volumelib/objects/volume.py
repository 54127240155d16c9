"""``Volume``: a block volume on a backend, and its life cycle.

Every operation follows the same order: validate the request (nothing touched yet),
store the intent (a transitional status such as ``creating``), call the driver, store
the outcome. A crash between the second and the third step leaves a record that
``backend.gc()`` reconciles.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from volumelib import core
from volumelib import exceptions as exc
from volumelib import validation
from volumelib.drivers.types import Capability, VolumeInfo
from volumelib.objects.base import fields
from volumelib.objects.common import TIMESTAMP_FIELDS, Status, StoredObject, call_driver

if TYPE_CHECKING:
    from volumelib.backend import Backend
    from volumelib.objects.connection import Connection
    from volumelib.objects.snapshot import Snapshot

__all__ = ["Volume"]

LOG = logging.getLogger(__name__)

GiB = 1024 ** 3

#: Statuses from which a volume may be deleted.
DELETABLE = frozenset({Status.AVAILABLE, Status.ERROR, Status.ERROR_DELETING,
                       Status.ERROR_EXTENDING})


class Volume(StoredObject):
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
        return self._bound(self.persistence.get_snapshots(volume_id=self.id))

    @property
    def connections(self) -> list[Connection]:
        """This volume's connections, read from the store."""
        return self._bound(self.persistence.get_connections(volume_id=self.id))

    @property
    def dump(self) -> dict[str, Any]:
        data = self.json
        data["snapshots"] = [s.json for s in self.snapshots]
        data["connections"] = [c.json for c in self.connections]
        return data

    def info(self) -> VolumeInfo:
        """The driver's view of this volume."""
        return VolumeInfo(id=self.id, size=self.size, name=self.name,
                          provider_location=self.provider_location,
                          provider_id=self.provider_id, metadata=dict(self.metadata),
                          volume_type=dict(self.volume_type), multiattach=self.multiattach,
                          group_id=self.group_id, provider_auth=self.provider_auth)

    # -- reading ---------------------------------------------------------------------


    def _require_live(self) -> None:
        if self.status == Status.DELETED or self.deleted:
            raise exc.VolumeNotFound(volume_id=self.id)

    def _require_status(self, allowed: frozenset[str] | set[str], action: str) -> None:
        self._require_live()
        if self.status not in allowed:
            raise exc.InvalidState(resource=f"Volume {self.id}", status=self.status,
                                   reason=f"{action} needs status "
                                          f"{' or '.join(sorted(allowed))}")

    # -- operations ------------------------------------------------------------------

    def create_snapshot(self, name: str | None = None, description: str | None = None,
                        metadata: dict[str, str] | None = None,
                        id: str | None = None) -> Snapshot:
        """Take a snapshot. The volume must be ``available`` or ``in-use``."""
        from volumelib.objects.snapshot import Snapshot
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
        with self._operation("clone"):
            self._reload()
            self._require_status({Status.AVAILABLE, Status.IN_USE}, "clone")
            size = self.size if size is None else size
            if size < self.size:
                raise exc.InvalidSize(size=size,
                                      reason=f"a clone cannot be smaller than its source "
                                             f"({self.size} GiB)")
            backend = self.backend
            if Capability.CLONE not in backend.capabilities:
                raise exc.NotSupported(operation="clone", driver=backend.driver_name)
            src = self.info()
            return backend._create_volume(
                size=size, name=name, description=description, metadata=metadata, id=id,
                volume_type=self._type_ref() if volume_type is None else volume_type,
                source_volid=self.id, operation="create_cloned_volume",
                call=lambda drv, info: drv.create_cloned_volume(info, src))

    def _type_ref(self) -> dict[str, Any] | str:
        if self.volume_type_id:
            return self.volume_type_id
        return dict(self.volume_type)

    def extend(self, new_size: int) -> int:
        """Grow to ``new_size`` GiB. Returns the new size in bytes.

        An ``in-use`` volume needs a driver declaring ``ONLINE_EXTEND``.

        Raises:
            ResourceBusy: another caller is operating on this volume; nothing changed.
            QuotaExceeded: the project's ``gigabytes`` limit; nothing changed.
        """
        new_size = validation.check_size(new_size, what="new size")
        with self._operation("extend"):
            self._reload()
            return self._extend(new_size)

    def _extend(self, new_size: int) -> int:
        from volumelib.control import quotas
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
        core.checkpoint("volume.extend.intent_stored")
        try:
            call_driver(backend, "extend_volume", backend.driver.extend_volume,
                        self.info(), new_size, resource_id=self.id)
        except Exception:
            reservation.cancel()
            self._settle(Status.ERROR_EXTENDING)
            raise
        core.checkpoint("volume.extend.driver_done")
        self.size = new_size
        self.status = self.previous_status or Status.AVAILABLE
        self.previous_status = None
        self._save_own("size", "status", "previous_status")
        return new_size * GiB

    def revert_to_snapshot(self, snapshot: Snapshot | str) -> None:
        """Make this volume's data the snapshot's again (size is kept)."""
        from volumelib.objects.snapshot import Snapshot
        if isinstance(snapshot, str):
            found = self.persistence.get_snapshots(snapshot_id=snapshot)
            if not found:
                raise exc.SnapshotNotFound(snapshot_id=snapshot)
            snapshot = found[0]
        if not isinstance(snapshot, Snapshot):
            raise exc.InvalidArgument(reason=f"not a snapshot: {snapshot!r:.60}")
        with self._operation("revert"):
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
        core.checkpoint("volume.revert.intent_stored")
        try:
            call_driver(backend, "revert_to_snapshot", backend.driver.revert_to_snapshot,
                        self.info(), snapshot.info(self), resource_id=self.id)
        except Exception:
            self._settle(Status.ERROR)
            raise
        core.checkpoint("volume.revert.driver_done")
        self.status = Status.AVAILABLE
        self.previous_status = None
        self._save_own("status", "previous_status")

    def delete(self) -> None:
        """Delete the volume. Refused while it has connections or snapshots.

        Deleting an already deleted volume object (or one another process deleted
        meanwhile) is a no-op.

        Raises:
            ResourceBusy: another caller is operating on this volume; nothing changed.
        """
        if self.status == Status.DELETED:
            return
        with self._operation("delete"):
            try:
                self._reload()
            except exc.VolumeNotFound:
                self._values["status"] = Status.DELETED
                self.obj_reset_changes()
                return
            self._delete()

    def _delete(self) -> None:
        from volumelib.control import quotas
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
        core.checkpoint("volume.delete.intent_stored")
        try:
            call_driver(backend, "delete_volume", backend.driver.delete_volume, self.info(),
                        resource_id=self.id)
        except Exception:
            self._settle(Status.ERROR_DELETING)
            raise
        core.checkpoint("volume.delete.driver_done")
        self._record_deleted()
        quotas.give_back(self.persistence, self.project_id, volumes=1, gigabytes=self.size)


    # -- connections -----------------------------------------------------------------

    def connect(self, connector_properties: Any, attach_mode: str = "rw") -> Connection:
        """Controller side: export the volume to the host described by
        ``connector_properties`` and return the persisted ``Connection``."""
        from volumelib.objects.connection import Connection
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
        with self._operation("attach"):
            return self._attach(attach_mode)

    def _attach(self, attach_mode: str) -> Connection:
        from volumelib import brick
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
        props["host"] = core.settings().host
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
        with self._operation("detach"):
            self._detach(force)

    def _detach(self, force: bool) -> None:
        host = core.settings().host
        mine = [c for c in self.connections
                if (c.connector or {}).get("host") == host and c.attached]
        if not mine:
            raise exc.InvalidState(resource=f"Volume {self.id}", status=self.status,
                                   reason=f"it is not attached on host {host}")
        for conn in mine:
            conn.detach(force=force)
            conn.disconnect(force=force)
        self.refresh()

    @classmethod
    def _new(cls, backend: Backend, **values: Any) -> Volume:
        vol = cls(**values)
        vol._bind(backend, backend.persistence)
        return vol
