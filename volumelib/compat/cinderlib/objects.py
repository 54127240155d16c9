"""cinderlib's ``Volume``, ``Snapshot``, ``Connection`` and ``KeyValue`` over volumelib's.

Each compat object holds the volumelib object (``obj.vl_object``) and delegates every
operation to it; ``obj._ovo`` is cinderlib's view of it. Objects are live (one per
resource id in a process): see :mod:`.resource`. ``Connection`` lives in
:mod:`.connection`; ``KeyValue`` is volumelib's (``KeyValue(key, value)``, as
cinderlib's), here because cinderlib's clients use ``cinderlib.objects.KeyValue``.
"""

from __future__ import annotations

import logging
from typing import Any

from volumelib import exceptions as exc
from volumelib import runtime
from volumelib.compat.cinderlib import lenient
from volumelib.compat.cinderlib.backend import Backend
from volumelib.compat.cinderlib.connection import Connection
from volumelib.compat.cinderlib.exception import NotLocal
from volumelib.compat.cinderlib.extras import check_extra
from volumelib.compat.cinderlib.identity import unwrap, wrap, wrap_all
from volumelib.compat.cinderlib.resource import NamedObject, field
from volumelib.objects import KeyValue

__all__ = ["Volume", "Snapshot", "Connection", "KeyValue", "wrap", "wrap_all", "unwrap"]

LOG = logging.getLogger(__name__)

#: What ``create_volume``/``clone`` take besides the volumelib names.
_NEW_VOLUME_KWARGS = {"name", "description", "size", "metadata", "id", "volume_type"}


def _type_kwargs(backend: Any, kwargs: dict[str, Any], what: str,
                 source_specs: dict[str, Any] | None) -> dict[str, Any]:
    pool = kwargs.pop("pool_name", None)
    if pool is not None and isinstance(backend, Backend) and pool not in backend.pool_names:
        raise exc.PoolNotFound(f"Pool {pool!r} is not a pool of backend {backend.id} "
                               f"(pools: {', '.join(backend.pool_names)})", pool_name=pool)
    driver = backend.vl_backend.driver_name if isinstance(backend, Backend) else str(backend)
    lenient.refuse_qos_specs(kwargs, what, driver)
    return lenient.volume_kwargs(what, kwargs, source_specs)


class _VolumeType:
    """``vol.volume_type``: cinderlib's volume type OVO, read-only (compat shim)."""

    __slots__ = ("id", "name", "extra_specs", "qos_specs")

    def __init__(self, type_id: str | None, specs: dict[str, Any]) -> None:
        self.id = type_id
        self.name = type_id
        self.extra_specs = specs
        self.qos_specs = None

    def __repr__(self) -> str:
        return f"<cinderlib volume type {self.id} {self.extra_specs!r}>"


class Volume(NamedObject):
    """A cinderlib volume; ``vl_object`` is the ``volumelib.Volume``."""

    _KIND = "volume"
    _conn_cache: list[Connection] | None = None
    _ovo_cache: list[Any] | None = None
    size = field("size")
    previous_status = field("previous_status")
    volume_type_id = field("volume_type_id")
    snapshot_id = field("snapshot_id", writable=False)
    source_volid = field("source_volid", writable=False)
    group_id = field("group_id", writable=False)
    multiattach = field("multiattach", writable=False)
    provider_location = field("provider_location")
    provider_id = field("provider_id")
    backend_name = field("backend_name", writable=False)

    @property
    def extra_specs(self) -> dict[str, Any]:
        """The volume type's extra specs (Cinder syntax)."""
        return dict(self._vl.volume_type or {})

    @property
    def volume_type(self) -> _VolumeType | None:
        """cinderlib's ``vol.volume_type`` (``.extra_specs``...), or ``None`` without a
        type (compatibility shim: ember reads ``vol.volume_type.extra_specs``)."""
        specs = dict(self._vl.volume_type or {})
        if self._vl.volume_type_id is None and not specs:
            return None
        return _VolumeType(self._vl.volume_type_id, specs)

    @property
    def admin_metadata(self) -> dict[str, str]:
        """Cinder's admin metadata (compatibility shim, see :mod:`.extras`): a dict of
        strings, changed in place or assigned, stored by ``save()``."""
        return self._extras().get("admin_metadata")

    @admin_metadata.setter
    def admin_metadata(self, value: dict[str, str]) -> None:
        self._extras().set("admin_metadata", value)

    @property
    def host(self) -> str:
        """Cinder's ``host@backend#pool``."""
        backend = Backend.backends.get(self._vl.backend_name)
        pool = backend.pool_names[0] if backend is not None else self._vl.backend_name
        return f"{runtime.settings().host}@{self._vl.backend_name}#{pool}"

    @property
    def snapshots(self) -> list[Snapshot]:
        return wrap_all(self._vl.snapshots)

    @property
    def connections(self) -> list[Connection]:
        """The volume's connections, read from the store (a new list; each read also
        updates cinderlib's in-memory lists, :attr:`_connections`)."""
        conns = wrap_all(self._vl.connections)
        self._cache_connections(conns)
        return list(conns)

    def _cache_connections(self, conns: list[Connection]) -> None:
        if self._conn_cache is None:
            self._conn_cache, self._ovo_cache = [], []
        assert self._ovo_cache is not None
        self._conn_cache[:] = conns
        self._ovo_cache[:] = [c._ovo for c in conns]

    @property
    def _connections(self) -> list[Connection]:
        """cinderlib's cache of the connections as last read (compatibility shim):
        ember appends the connections it creates and removes those it deletes."""
        if self._conn_cache is None:
            self.connections
        assert self._conn_cache is not None
        return self._conn_cache

    def _connection_removed(self, conn: Connection) -> None:
        """Drop a disconnected connection from :attr:`_connections` (as cinderlib)."""
        if self._conn_cache is not None and self._ovo_cache is not None:
            if conn in self._conn_cache:
                self._conn_cache.remove(conn)
            if conn._ovo in self._ovo_cache:
                self._ovo_cache.remove(conn._ovo)

    def _vl_refresh_quietly(self) -> None:
        """Re-read after another object changed this volume (gone: left as it is)."""
        try:
            self._vl.refresh()
        except exc.NotFound:
            pass

    def _attachment_ovos(self) -> list[Any]:
        """``vol._ovo.volume_attachment.objects``: the ``_ovo`` of each connection of
        :attr:`_connections` (a list ember edits alongside it)."""
        if self._ovo_cache is None:
            self.connections
        assert self._ovo_cache is not None
        return self._ovo_cache

    @property
    def local_attach(self) -> Connection | None:
        """The connection attached on this host, if any (read from the store)."""
        host = runtime.settings().host
        for conn in self._vl.connections:
            if conn.attached and conn.attached_host == host:
                return wrap(conn)
        return None

    @property
    def attach_status(self) -> str:
        return "attached" if any(c.attached for c in self._vl.connections) else "detached"

    @property
    def dump(self) -> dict[str, Any]:
        data = self._vl.dump
        data["backend"] = self._backend_config()
        for key in ("snapshots", "connections"):
            for item in data.get(key, []):
                item["backend"] = self._backend_config()
        return data

    @classmethod
    def get_by_name(cls, volume_name: str) -> list[Volume]:
        return wrap_all(runtime.persistence().get_volumes(volume_name=volume_name))

    # -- operations ----------------------------------------------------------------------

    def create_snapshot(self, name: str | None = "", description: str | None = "",
                        **kwargs: Any) -> Snapshot:
        """Take a snapshot (``metadata=``, ``id=`` accepted too)."""
        lenient.check_kwargs("create_snapshot", kwargs, {"metadata", "id"})
        return wrap(self._vl.create_snapshot(name=name, description=description, **kwargs))

    def clone(self, **new_vol_attrs: Any) -> Volume:
        """A new volume with this one's data: ``name``, ``description``, ``size``
        (>= this size; an integral float such as ``2.0`` too), ``metadata``, ``id``,
        ``extra_specs``/``volume_type``, ``pool_name``, ``multiattach`` and an empty
        ``qos_specs`` (what ``Backend.create_volume`` takes, as in cinderlib)."""
        kwargs = _type_kwargs(self.backend, dict(new_vol_attrs), "clone",
                              dict(self._vl.volume_type or {}))
        lenient.check_kwargs("clone", kwargs, _NEW_VOLUME_KWARGS)
        return wrap(self._vl.clone(**kwargs))

    def extend(self, size: int) -> int:
        """Grow to ``size`` GiB (an integral float such as ``2.0`` too); returns the
        new size in bytes. When attached on this host, the host's view of the device
        is refreshed too (os-brick)."""
        result = self._vl.extend(lenient.integral_size(size))
        local = self.local_attach
        if local is not None:
            local._vl.extend()
        return result

    def delete(self) -> None:
        """Delete the volume; deleting it again is a no-op.

        A volume whose status a client set to ``deleted`` itself (ember "soft-deletes"
        a volume that still has snapshots that way, and deletes it with its last
        snapshot) is deleted as cinderlib did: whatever its status.

        Raises:
            HasSnapshots, VolumeInUse: it still has snapshots or connections.
        """
        vl = self._vl
        if vl.status == "deleted" and vl.deleted:
            return
        if self._delete_gone(lambda b: b.driver.delete_volume(self._vl.info())):
            return
        stored = vl.persistence.get_volumes(volume_id=vl.id) if vl.status == "deleted" \
            else []
        if stored and stored[0].status == "deleted":
            LOG.debug("volume %s was marked deleted by its client; deleting it", vl.id)
            vl.refresh()
            vl.status = "available"
            vl.save()
            try:
                vl.delete()
            except Exception:
                vl.refresh()
                vl.status = "deleted"
                vl.save()
                raise
        else:
            vl.delete()
        self._forget_extras()

    def attach(self) -> Connection:
        """Connect and attach on this host; ``conn.path`` is the device."""
        return wrap(self._vl.attach())

    def detach(self, force: bool = False, ignore_errors: bool = False) -> None:
        """Detach from this host *and* disconnect (cinderlib's volume-level detach).

        Raises:
            NotLocal: the volume is not attached on this host.
        """
        local = self.local_attach
        if local is None:
            raise NotLocal(volume_id=self.id)
        local.detach(force=force, ignore_errors=ignore_errors)
        local.disconnect(force=force)

    def connect(self, connector_dict: dict[str, Any], **ovo_fields: Any) -> Connection:
        """Controller side: export to the host of ``connector_dict``.

        ``attach_mode`` (``rw``/``ro``) is volumelib's; ``attached_host``,
        ``mountpoint`` and ``instance_uuid`` are cinderlib's attachment fields
        (compatibility shim: stored with the connection, see :mod:`.extras`).

        Raises:
            InvalidArgument: another keyword, or a field of the wrong type (before
                anything is exported).
        """
        cinderlib_fields = {"attached_host", "mountpoint", "instance_uuid"}
        lenient.check_kwargs("connect", ovo_fields, {"attach_mode"} | cinderlib_fields)
        extra = {k: check_extra("Connection", k, v) for k, v in ovo_fields.items()
                 if k in cinderlib_fields}
        conn = wrap(self._vl.connect(connector_dict,
                                     attach_mode=ovo_fields.get("attach_mode", "rw")))
        if any(v is not None for v in extra.values()):
            for key, value in extra.items():
                conn._extras().set(key, value)
            conn._extras().save()
        if self._conn_cache is not None:
            self.connections
        return conn

    def disconnect(self, connection: Connection, force: bool = False) -> None:
        connection.disconnect(force=force)

    def cleanup(self) -> None:
        """Detach and disconnect every connection of this volume on this host."""
        for conn in list(self.connections):
            if conn.attached:
                conn.detach()
            conn.disconnect()


class Snapshot(NamedObject):
    """A cinderlib snapshot; ``vl_object`` is the ``volumelib.Snapshot``."""

    _KIND = "snapshot"
    volume_id = field("volume_id", writable=False)
    volume_size = field("volume_size", writable=False)
    group_snapshot_id = field("group_snapshot_id", writable=False)
    provider_location = field("provider_location")
    provider_id = field("provider_id")

    @property
    def volume(self) -> Volume:
        return wrap(self._vl.volume)

    @classmethod
    def get_by_name(cls, snapshot_name: str) -> list[Snapshot]:
        return wrap_all(runtime.persistence().get_snapshots(snapshot_name=snapshot_name))

    def create_volume(self, **new_vol_params: Any) -> Volume:
        """A new volume with the snapshot's data: ``name``, ``description``, ``size``
        (an integral float such as ``2.0`` too), ``metadata``, ``id``,
        ``extra_specs``/``volume_type``, ``pool_name``, ``multiattach`` and an empty
        ``qos_specs`` (what ``Backend.create_volume`` takes, as in cinderlib)."""
        source = self._vl.volume.volume_type if "multiattach" in new_vol_params else None
        kwargs = _type_kwargs(self.backend, dict(new_vol_params), "create_volume",
                              dict(source or {}))
        lenient.check_kwargs("create_volume", kwargs, _NEW_VOLUME_KWARGS)
        return wrap(self._vl.create_volume(**kwargs))

    def delete(self) -> None:
        """Delete the snapshot; deleting it again is a no-op."""
        if self._vl.status == "deleted" and self._vl.deleted:
            return

        def _driver_delete(backend: Backend) -> None:
            try:
                info = self._vl.info()
            except exc.VolumeNotFound:
                return  # the volume went, and its snapshots with it
            backend.driver.delete_snapshot(info)

        if self._delete_gone(_driver_delete):
            return
        self._vl.delete()
