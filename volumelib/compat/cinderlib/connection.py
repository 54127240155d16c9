"""cinderlib's ``Connection`` over ``volumelib.Connection``.

Besides cinderlib's documented surface (``conn_info``, ``connector_info``,
``connection_info``, ``attach``/``detach``/``disconnect``/``extend``), programs built on
cinderlib use parts of its attachment OVO; the compat layer keeps those that Ember-CSI
needs, as compatibility shims (not native API):

* ``Connection(backend, volume=vol, connector=..., connection_info=..., ...)`` builds a
  second record of an existing export, saved by ``save()`` (ember's node side records
  each publish of a staged volume that way, and deletes it with
  ``persistence.delete_connection``);
* ``mountpoint``, ``instance_uuid`` and cinderlib's free-form ``attached_host``
  (stored with the connection, see :mod:`.extras`), ``use_multipath``;
* ``connector_info`` is the stored dict itself: changes made in place are saved.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from volumelib import exceptions as exc
from volumelib import runtime, validation
from volumelib.compat.cinderlib import lenient
from volumelib.compat.cinderlib.backend import Backend
from volumelib.compat.cinderlib.extras import Extras
from volumelib.compat.cinderlib.identity import adopt, live, wrap
from volumelib.compat.cinderlib.resource import CompatObject, field
from volumelib.drivers.types import ConnectionInfo
from volumelib.objects import Connection as VlConnection
from volumelib.objects import ConnectionStatus

__all__ = ["Connection", "ATTACHMENT_STATUSES"]

LOG = logging.getLogger(__name__)

#: Cinder's attachment statuses, which ``Connection(..., status=)`` accepts.
ATTACHMENT_STATUSES = frozenset({"attaching", "attached", "detaching", "detached",
                                 "reserved", "error_attaching", "error_detaching"})

_CONSTRUCTOR_KWARGS = {"volume", "connector", "connection_info", "status", "attach_mode",
                       "attached_host", "mountpoint", "instance_uuid"}


def _mapping(what: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise exc.InvalidArgument(reason=f"Connection(): {what} must be a dict, "
                                         f"not {value!r:.80}")
    return dict(value)


class Connection(CompatObject):
    """A cinderlib connection; ``vl_object`` is the ``volumelib.Connection``."""

    _KIND = "connection"
    volume_id = field("volume_id", writable=False)
    attach_mode = field("attach_mode", writable=False)
    device = field("device", "os-brick's attach result (``path``...) once attached.")

    def __init__(self, backend: Backend | str | None, **kwargs: Any) -> None:
        """A record of an existing export of ``volume`` (compatibility shim for
        cinderlib's constructor, as ember uses it to record a second use of a staged
        volume); nothing is exported and nothing is stored until :meth:`save`.

        Args:
            backend: the volume's backend (a ``Backend`` or its name).
            volume: the cinderlib ``Volume`` (required).
            connection_info: cinderlib's ``{"conn": {...}, "connector": {...},
                "device": {...}}`` (``conn.connection_info`` of the first record).
            connector: the host's connector properties (default: the one in
                ``connection_info``).
            status: a Cinder attachment status; the record is ``attached`` when
                ``connection_info`` has a device, ``connected`` otherwise.
            attach_mode: ``rw`` (default) or ``ro``.
            attached_host, mountpoint, instance_uuid: cinderlib's attachment fields.

        Raises:
            InvalidArgument: a missing volume, another backend, an unknown keyword or
                a value of the wrong type, naming it.
        """
        lenient.check_kwargs("Connection()", kwargs, _CONSTRUCTOR_KWARGS)
        volume = kwargs.get("volume")
        # A cinderlib Volume: told by its kind, as this module is below objects.py.
        if not (isinstance(volume, CompatObject) and volume._KIND == "volume"):
            raise exc.InvalidArgument(reason=f"Connection() needs volume=<a cinderlib "
                                             f"Volume>, not {volume!r:.80}")
        name = backend.id if isinstance(backend, Backend) else backend
        if name is not None and name != volume.backend_name:
            raise exc.InvalidArgument(reason=f"Connection(): backend {name!r} is not the "
                                             f"volume's ({volume.backend_name!r})")
        info = _mapping("connection_info", kwargs.get("connection_info") or {})
        if not isinstance(info.get("conn"), Mapping):
            raise exc.InvalidArgument(reason=f"Connection(): connection_info needs cinderlib's "
                                             f"'conn' mapping: {info!r:.80}")
        conn_info = ConnectionInfo.from_dict(info["conn"]).to_dict()
        connector = _mapping("connector", kwargs.get("connector") or info.get("connector")
                             or {})
        device = info.get("device") or None
        if device is not None:
            device = _mapping("device", device)
        status = kwargs.get("status", "attached" if device else "reserved")
        if status not in ATTACHMENT_STATUSES:
            raise exc.InvalidArgument(reason=f"Connection(): status must be one of "
                                             f"{', '.join(sorted(ATTACHMENT_STATUSES))}, "
                                             f"not {status!r:.40}")
        mode = kwargs.get("attach_mode", "rw")
        if mode not in ("rw", "ro"):
            raise exc.InvalidArgument(reason=f"Connection(): attach_mode must be rw or ro, "
                                             f"not {mode!r:.40}")
        settings = runtime.settings()
        vl = VlConnection(
            id=validation.new_id(), volume_id=volume.id, backend_name=volume.backend_name,
            status=ConnectionStatus.ATTACHED if device else ConnectionStatus.CONNECTED,
            connector=connector, connection_info=conn_info, attach_mode=mode, device=device,
            attached_host=settings.host if device else None, project_id=volume.project_id,
            user_id=settings.user_id)
        extras = Extras("Connection", vl)
        extras.preset({k: kwargs.get(k) for k in ("attached_host", "mountpoint",
                                                  "instance_uuid")})
        self._vl = vl
        self._extras_cache = extras
        adopt(self)
        LOG.debug("cinderlib Connection() record %s of volume %s built", vl.id, volume.id)

    # -- cinderlib's attachment fields (compatibility shims) ---------------------------

    @property
    def attached_host(self) -> str | None:
        """cinderlib's ``attached_host``: the label given to ``vol.connect(...,
        attached_host=)`` or set here (attach and detach leave it alone); without one,
        the host the volume is attached on (volumelib's field)."""
        recorded = self._extras().get("attached_host")
        return recorded if recorded is not None else self._vl.attached_host

    @attached_host.setter
    def attached_host(self, value: str | None) -> None:
        self._extras().set("attached_host", value)

    @property
    def mountpoint(self) -> str | None:
        """cinderlib's ``mountpoint`` (stored by ``save()``)."""
        return self._extras().get("mountpoint")

    @mountpoint.setter
    def mountpoint(self, value: str | None) -> None:
        self._extras().set("mountpoint", value)

    @property
    def instance_uuid(self) -> str | None:
        """cinderlib's ``instance_uuid`` (stored by ``save()``)."""
        return self._extras().get("instance_uuid")

    @instance_uuid.setter
    def instance_uuid(self, value: str | None) -> None:
        self._extras().set("instance_uuid", value)

    @property
    def use_multipath(self) -> bool:
        """Whether the attach is multipathed, as cinderlib decided it: the connector's
        ``multipath``, else what the connection info offers (several iSCSI portals, a
        list of FC WWNs)."""
        connector = self._vl.connector or {}
        if "multipath" in connector:
            return bool(connector["multipath"])
        data = (self._vl.connection_info or {}).get("data") or {}
        iscsi = "target_iqns" in data and "target_portals" in data
        return iscsi or not isinstance(data.get("target_wwn", ""), str)

    # -- cinderlib's documented surface -------------------------------------------------

    @property
    def conn_info(self) -> dict[str, Any]:
        """What os-brick needs: ``{"driver_volume_type": ..., "data": {...}}``."""
        return dict(self._vl.connection_info or {})

    @property
    def connector_info(self) -> dict[str, Any]:
        """The connector properties of the host it was connected to: the stored dict
        itself, so a change made in place is saved by ``save()`` (as in cinderlib)."""
        if self._vl.connector is None:
            self._vl.connector = {}
        return self._vl.connector

    @property
    def connection_info(self) -> dict[str, Any]:
        """cinderlib's shape: ``{"conn": conn_info, "connector": ..., "device": ...}``."""
        return {"conn": self.conn_info, "connector": dict(self.connector_info),
                "device": self._vl.device}

    @property
    def protocol(self) -> str | None:
        return self.conn_info.get("driver_volume_type")

    @property
    def path(self) -> str | None:
        return self._vl.path

    @property
    def attached(self) -> bool:
        return self._vl.attached

    @property
    def connected(self) -> bool:
        return self._vl.connected

    @property
    def volume(self) -> CompatObject:
        """The cinderlib ``Volume`` of this connection."""
        return wrap(self._vl.volume)

    def attach(self) -> None:
        """Node side: attach with os-brick from the connection info alone."""
        self._vl.attach()

    def detach(self, force: bool = False, ignore_errors: bool = False) -> None:
        """Node side: detach from this host; the connection stays (``disconnect``
        removes it)."""
        try:
            self._vl.detach(force=force)
        except exc.InvalidState:
            raise
        except Exception:
            if not ignore_errors:
                raise
            LOG.debug("detach of connection %s failed, ignored", self.id, exc_info=True)
        self._refresh_volume()

    def disconnect(self, force: bool = False) -> None:
        """Controller side: unexport and forget the connection."""
        self._vl.disconnect(force=force)
        self._forget_extras()
        volume = live("Volume", self.volume_id)
        if volume is not None:
            volume._vl_refresh_quietly()
            volume._connection_removed(self)

    def _refresh_volume(self) -> None:
        volume = live("Volume", self.volume_id)
        if volume is not None:
            volume._vl_refresh_quietly()

    def extend(self) -> int:
        """Node side: see the new size after the controller's ``vol.extend()``."""
        return self._vl.extend()
