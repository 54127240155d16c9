"""``Connection``: a volume exported to one host, and its attachment there.

The controller side (``vol.connect(props)``, ``conn.disconnect()``) needs the backend's
driver; the node side (``conn.attach()``, ``conn.detach()``) needs only the
connection info and os-brick, so a node process can load a connection from the store
or from JSON without the backend's credentials. Attach state (``device``,
``attached_host``) is stored, so a restarted node process can still detach.
"""

from __future__ import annotations

import logging
from typing import Any

from volumelib import brick, checkpoints, runtime, validation
from volumelib import exceptions as exc
from volumelib.drivers.types import (
    Capability,
    ConnectionInfo,
    ConnectorProperties,
    redact,
)
from volumelib.control.leases import OperationSteps
from volumelib.objects.driver_calls import apply_model_update, call_driver
from volumelib.objects.resource import Resource
from volumelib.records.stored import TIMESTAMP_FIELDS, Status
from volumelib.versioned import fields

#: The connected volume (:class:`volumelib.objects.volume.Volume`, which depends on
#: connections, not the other way round).
Volume = Any

__all__ = ["Connection", "ConnectionStatus"]

LOG = logging.getLogger(__name__)


class ConnectionStatus:
    CONNECTING = "connecting"
    CONNECTED = "connected"
    ATTACHING = "attaching"
    ATTACHED = "attached"
    DETACHING = "detaching"
    DISCONNECTING = "disconnecting"
    DISCONNECTED = "disconnected"
    ERROR = "error"

    TRANSITIONAL = frozenset({CONNECTING, ATTACHING, DETACHING, DISCONNECTING})


ATTACH_MODES = ("rw", "ro")

#: Volume fields a driver's ``create_export`` model update may set.
_PROVIDER_FIELDS = ("provider_location", "provider_id", "provider_auth")

#: File-like handles of attaches made in this process (os-brick's userspace RBD
#: attach returns an open image, not a device path), by connection id. They cannot
#: be stored: ``device`` keeps ``{"type": "handle", ...}`` and the handle stays here
#: until ``detach`` closes it (or the process ends, which closes it too).
_HANDLES: dict[str, Any] = {}


class Connection(Resource):
    """A volume exported to a host. Make one with ``vol.connect(props)`` or ``vol.attach()``."""

    VERSION = "1.0"
    fields = {
        "id": fields.UUID(),
        "volume_id": fields.String(),
        "backend_name": fields.String(nullable=True),
        "status": fields.String(default=ConnectionStatus.CONNECTING),
        "connector": fields.JsonDict(default={}),
        "connection_info": fields.JsonDict(default={}),
        "attach_mode": fields.String(default="rw"),
        "device": fields.JsonDict(nullable=True),
        "attached_host": fields.String(nullable=True),
        "project_id": fields.String(nullable=True),
        "user_id": fields.String(nullable=True),
        **TIMESTAMP_FIELDS,
    }

    def _backend_name(self) -> str | None:
        return self.backend_name

    # -- redaction: connection info may carry CHAP passwords and keys ----------------

    def _redact(self, data: dict[str, Any]) -> None:
        for key in ("connection_info", "connector"):
            if data.get(key):
                data[key] = redact(data[key])

    def __repr__(self) -> str:
        return (f"<Connection id={self.id!r} volume_id={self.volume_id!r} "
                f"status={self.status!r} connection_info={redact(self.connection_info)!r}>")

    # -- properties ------------------------------------------------------------------

    @property
    def path(self) -> Any:
        """The local device (``/dev/loop3``...) once attached, or, for an attach that
        yields a file-like handle (``rbd`` in userspace), that handle in the process
        that attached."""
        handle = _HANDLES.get(self.id)
        if handle is not None:
            return handle
        device = self.device or {}
        return device.get("path")

    @property
    def attached(self) -> bool:
        return bool(self.device)

    @property
    def connected(self) -> bool:
        return self.status in (ConnectionStatus.CONNECTED, ConnectionStatus.ATTACHING,
                               ConnectionStatus.ATTACHED, ConnectionStatus.DETACHING)

    @property
    def volume(self) -> Volume:
        """The connected volume, current from the store. A connection made with
        ``vol.connect()`` hands back that same ``vol`` (refreshed), so the caller's
        object sees the status changes a disconnect makes."""
        mine = self.__dict__.get("_volume")
        if mine is not None:
            try:
                mine.refresh()
                return mine
            except exc.VolumeNotFound:
                pass
        found = self.persistence.get_volumes(volume_id=self.volume_id)
        if not found:
            raise exc.VolumeNotFound(volume_id=self.volume_id)
        vol = found[0]
        vol._bind(self.__dict__.get("_backend"))
        return vol


    # -- controller side ---------------------------------------------------------------

    @classmethod
    def _connect(cls, volume: Volume, connector_properties: Any,
                 attach_mode: str = "rw") -> Connection:
        props = ConnectorProperties.from_dict(connector_properties)
        if attach_mode not in ATTACH_MODES:
            raise exc.InvalidArgument(reason=f"attach_mode must be rw or ro: {attach_mode!r}")
        props.attach_mode = attach_mode
        with volume._exclusive("connect"):
            volume._reload()
            return cls._connect_locked(volume, props, attach_mode)

    @classmethod
    def _connect_locked(cls, volume: Volume, props: ConnectorProperties,
                        attach_mode: str) -> Connection:
        volume._require_live()
        backend = volume.backend
        backend.driver.validate_connector(props)
        existing = volume.connections
        if volume.status == Status.IN_USE or existing:
            if not volume.multiattach:
                raise exc.VolumeInUse(volume_id=volume.id,
                                      reason="it is already connected and not multiattach")
            if Capability.MULTIATTACH not in backend.capabilities:
                raise exc.NotSupported(operation="multiattach", driver=backend.driver_name)
        elif volume.status != Status.AVAILABLE:
            raise exc.InvalidState(resource=f"Volume {volume.id}", status=volume.status,
                                   reason="connect needs available (or in-use multiattach)")
        settings = runtime.settings()
        conn = cls(id=validation.new_id(), volume_id=volume.id,
                   backend_name=volume.backend_name, status=ConnectionStatus.CONNECTING,
                   connector=props.to_dict(), attach_mode=attach_mode,
                   project_id=volume.project_id, user_id=settings.user_id)
        conn._bind(backend, volume.persistence)
        object.__setattr__(conn, "_volume", volume)
        conn.persistence.set_connection(conn)
        if volume.status == Status.AVAILABLE:
            volume.previous_status = volume.status
            volume.status = Status.ATTACHING
            volume._save_own("status", "previous_status",
                             expect={"status": Status.AVAILABLE})
        checkpoints.checkpoint("connection.connect.intent_stored")
        info = volume.info()
        driver = backend.driver
        exported = False
        try:
            update = call_driver(backend, "create_export", driver.create_export, info, props,
                                 resource_id=volume.id)
            exported = True
            apply_model_update(volume, update)
            if update:
                info = volume.info()
            ci = call_driver(backend, "initialize_connection", driver.initialize_connection,
                             info, props, resource_id=volume.id)
        except Exception:
            conn._undo_connect(volume, exported, first=not existing)
            raise
        checkpoints.checkpoint("connection.connect.driver_done")
        conn.connection_info = ConnectionInfo.from_dict(
            ci.to_dict() if isinstance(ci, ConnectionInfo) else ci).to_dict()
        conn.status = ConnectionStatus.CONNECTED
        conn._save_own("status", "connection_info")
        volume.status = Status.IN_USE
        volume.previous_status = None
        volume._save_own("status", "previous_status", *_PROVIDER_FIELDS)
        return conn

    def _undo_connect(self, volume: Volume, exported: bool, first: bool) -> None:
        backend = volume.backend
        try:
            if exported and first:
                backend.driver.remove_export(volume.info())
            elif exported:
                props = ConnectorProperties.from_dict(self.connector or {},
                                                      require_host=False)
                backend.driver.terminate_connection(volume.info(), props)
            self.persistence.delete_connection(self)
            if first:
                volume.status = Status.AVAILABLE
                volume.previous_status = None
                volume._save_own("status", "previous_status", *_PROVIDER_FIELDS)
        except Exception:  # noqa: BLE001
            LOG.exception("could not undo the failed connection %s of volume %s",
                          self.id, volume.id)

    def disconnect(self, force: bool = False) -> None:
        """Controller side: revoke this host's access and forget the connection.

        The export is removed with the last connection of the volume. Disconnecting
        a connection another process removed meanwhile is a no-op.

        Raises:
            ResourceBusy: another caller is operating on the volume.
        """
        self._delete_under_lease("disconnect", force=force)

    def delete(self) -> None:
        """:meth:`disconnect` (the connection's record goes with it)."""
        self.disconnect()

    def _lease_target(self) -> tuple[str, str | None]:
        return self.volume_id, "volume"  # operations on a connection are the volume's

    def _deleted_status(self) -> str:
        return ConnectionStatus.DISCONNECTED

    def _delete(self, steps: OperationSteps, force: bool = False) -> None:
        if self.attached and not force:
            raise exc.VolumeInUse(volume_id=self.volume_id,
                                  reason=f"connection {self.id} is still attached on "
                                         f"{self.attached_host}; detach first or force")
        volume = self.volume
        backend = self.backend
        self.status = ConnectionStatus.DISCONNECTING
        self.save()
        checkpoints.checkpoint("connection.disconnect.intent_stored")
        # Stored by a library that allowed hostless connectors: still disconnectable.
        props = ConnectorProperties.from_dict(self.connector or {}, require_host=False)
        others = [c for c in volume.connections if c.id != self.id]
        try:
            call_driver(backend, "terminate_connection", backend.driver.terminate_connection,
                        volume.info(), props, resource_id=volume.id)
            if not others:
                call_driver(backend, "remove_export", backend.driver.remove_export,
                            volume.info(), resource_id=volume.id)
        except Exception:
            self._settle(ConnectionStatus.ERROR)
            raise
        self.persistence.delete_connection(self)
        self.status = ConnectionStatus.DISCONNECTED
        self.obj_reset_changes()
        if not others and volume.status == Status.IN_USE:
            volume.status = Status.AVAILABLE
            volume._save_own("status")

    # -- node side ---------------------------------------------------------------------

    def attach(self) -> None:
        """Node side: attach the connected volume on this host with os-brick.

        Needs only the connection info (no backend, no credentials but those in it).

        Raises:
            InvalidState: already attached (here or elsewhere), or not connected.
        """
        if self.attached:
            raise exc.InvalidState(resource=f"Connection {self.id}", status=self.status,
                                   reason=f"it is already attached at {self.path} on "
                                          f"{self.attached_host}")
        if not self.connected:
            raise exc.InvalidState(resource=f"Connection {self.id}", status=self.status,
                                   reason="attach needs a connected connection")
        self.status = ConnectionStatus.ATTACHING
        self.save()
        try:
            device = brick.connect_volume(self.connection_info)
        except Exception:
            self._settle(ConnectionStatus.CONNECTED)
            raise
        handle = device.get("path")
        if handle is not None and not isinstance(handle, str):
            _HANDLES[self.id] = handle
            device = {k: v for k, v in device.items() if k != "path"}
            device.update(type="handle", handle=type(handle).__name__)
        self.device = device
        self.attached_host = runtime.settings().host
        self.status = ConnectionStatus.ATTACHED
        self.save()

    def _require_attached_here(self, action: str) -> None:
        host = runtime.settings().host
        if not self.attached:
            raise exc.InvalidState(resource=f"Connection {self.id}", status=self.status,
                                   reason=f"{action} needs it attached; it is not")
        if self.attached_host != host:
            raise exc.InvalidState(resource=f"Connection {self.id}", status=self.status,
                                   reason=f"it is attached on {self.attached_host}, "
                                          f"not on this host {host}")

    def detach(self, force: bool = False) -> None:
        """Node side: detach from this host (the process that attached may be gone:
        the device is read from the store).

        Raises:
            InvalidState: not attached, or attached on another host.
        """
        self._require_attached_here("detach")
        self.status = ConnectionStatus.DETACHING
        self.save()
        device = dict(self.device or {})
        if device.get("type") == "handle":  # closed here, or gone with its process
            handle = _HANDLES.get(self.id)
            device = {"path": handle} if handle is not None else {}
        try:
            brick.disconnect_volume(self.connection_info, device, force=force)
        except Exception:
            self._settle(ConnectionStatus.ATTACHED)
            raise
        _HANDLES.pop(self.id, None)
        self.device = None
        self.attached_host = None
        self.status = ConnectionStatus.CONNECTED
        self.save()

    def extend(self) -> int:
        """Node side: see the new size after the controller's ``vol.extend()``.

        Returns the size of the attached device in bytes.
        """
        self._require_attached_here("extend")
        return brick.extend_volume(self.connection_info)
