"""cinderlib's ``Volume``, ``Snapshot`` and ``Connection`` over volumelib's objects.

Each compat object holds the volumelib object as ``_ovo`` (the versioned object
cinderlib scripts reach for) and delegates every operation to it with explicit
methods and properties. Compat objects are *live*: within a process there is one
compat object per resource id while it is referenced (an identity map), and reading
a resource again (``backend.volumes``, ``persistence.get_volumes(id)``,
``vol.snapshots``...) hands back that same object with its fields fresh from the
store. So ``vol is snap.volume``, ``attach is vol.local_attach`` and "extend the copy
read from the store, see the new size on the original" hold, as in cinderlib.
"""

from __future__ import annotations

import json as json_lib
import logging
import threading
import weakref
from typing import Any, ClassVar

from volumelib import exceptions as exc
from volumelib import runtime
from volumelib.compat.cinderlib.backend import Backend, _PersistenceAttr
from volumelib.compat.cinderlib.exception import NotLocal

__all__ = ["Volume", "Snapshot", "Connection", "wrap", "wrap_all", "unwrap"]

LOG = logging.getLogger(__name__)

_identity: weakref.WeakValueDictionary[tuple[str, str], _Object] = \
    weakref.WeakValueDictionary()
_identity_lock = threading.RLock()


def _field(name: str, doc: str = "", writable: bool = True) -> property:
    def get(self: _Object) -> Any:
        return getattr(self._ovo, name)

    def put(self: _Object, value: Any) -> None:
        setattr(self._ovo, name, value)

    return property(get, put if writable else None, doc=doc or f"The ``{name}`` field.")


def wrap(ovo: Any) -> Any:
    """The live compat object for a volumelib object (``None`` stays ``None``).

    An object already live in this process is returned with ``ovo`` (fresher, just
    read) as its ``_ovo``.
    """
    if ovo is None:
        return None
    cls = _CLASSES.get(ovo.OBJ_NAME)
    if cls is None:
        raise exc.InvalidArgument(reason=f"no cinderlib class for {ovo.OBJ_NAME}")
    key = (cls.__name__, ovo.id)
    with _identity_lock:
        obj = _identity.get(key)
        if obj is None:
            obj = cls.__new__(cls)
            obj._ovo = ovo
            _identity[key] = obj
        elif obj._ovo is not ovo:
            obj._ovo = ovo
    return obj


def wrap_all(ovos: list[Any]) -> list[Any]:
    """:func:`wrap` of each volumelib object."""
    return [wrap(o) for o in ovos]


def unwrap(obj: Any) -> Any:
    """The volumelib object behind a compat object (volumelib objects pass through)."""
    return obj._ovo if isinstance(obj, _Object) else obj


def _refresh_live(cls_name: str, obj_id: str | None) -> None:
    """Re-read a live compat object after another object changed it in the store."""
    if obj_id is None:
        return
    live = _identity.get((cls_name, obj_id))
    if live is not None:
        try:
            live._ovo.refresh()
        except exc.NotFound:
            pass


class _Object:
    """What every compat resource shares: backend, equality, JSON, save/refresh."""

    _ovo: Any
    persistence = _PersistenceAttr()
    _KIND: ClassVar[str] = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise exc.NotSupported(
            f"creating a cinderlib {type(self).__name__} directly is not supported by "
            f"volumelib's compat layer; use backend.create_volume(), "
            f"vol.create_snapshot(), vol.connect() or cinderlib.load()",
            operation=f"{type(self).__name__}()", driver="volumelib.compat.cinderlib")

    id = _field("id", writable=False)
    status = _field("status")
    deleted = _field("deleted")
    deleted_at = _field("deleted_at")
    created_at = _field("created_at")
    updated_at = _field("updated_at")
    project_id = _field("project_id")
    user_id = _field("user_id")

    @property
    def backend(self) -> Backend | str:
        """The live cinderlib ``Backend``, or its name when it is not set up here and
        ``fail_on_missing_backend`` is off.

        Raises:
            BackendNotFound: not set up here and ``fail_on_missing_backend`` is on.
        """
        name = self._ovo.backend_name
        live = Backend.backends.get(name)
        if live is not None:
            return live
        if Backend.fail_on_missing_backend:
            raise exc.BackendNotFound(backend_name=name)
        return name

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.id == other.id  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.id))

    def __repr__(self) -> str:
        return (f"<cinderlib.{type(self).__name__} object {self.id} on backend "
                f"{self._ovo.backend_name}>")

    # -- store -------------------------------------------------------------------------

    def save(self) -> None:
        self._ovo.save()

    def refresh(self) -> None:
        """Reload the fields from the store (unsaved changes are dropped)."""
        self._ovo.refresh()

    @classmethod
    def get_by_id(cls, obj_id: str) -> Any:
        """Raises: VolumeNotFound / SnapshotNotFound / ConnectionNotFound."""
        store = runtime.persistence()
        getter = {"Volume": (store.get_volumes, exc.VolumeNotFound, "volume_id"),
                  "Snapshot": (store.get_snapshots, exc.SnapshotNotFound, "snapshot_id"),
                  "Connection": (store.get_connections, exc.ConnectionNotFound,
                                 "connection_id")}[cls.__name__]
        found = getter[0](obj_id)
        if not found:
            raise getter[1](**{getter[2]: obj_id})
        return wrap(found[0])

    # -- JSON ---------------------------------------------------------------------------

    def _backend_config(self) -> dict[str, Any]:
        live = Backend.backends.get(self._ovo.backend_name)
        if live is not None:
            return live.config
        return {"volume_backend_name": self._ovo.backend_name}

    def to_json(self, simplified: bool = True) -> dict[str, Any]:
        data = self._ovo.json
        data["backend"] = self._backend_config()
        return data

    @property
    def json(self) -> dict[str, Any]:
        return self.to_json(simplified=False)

    def to_jsons(self, simplified: bool = True) -> str:
        return json_lib.dumps(self.to_json(simplified), separators=(",", ":"))

    @property
    def jsons(self) -> str:
        return self.to_jsons(simplified=False)

    @property
    def dump(self) -> dict[str, Any]:
        return self.json

    @property
    def dumps(self) -> str:
        return json_lib.dumps(self.dump, separators=(",", ":"))

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (no envelope), secrets left out."""
        return dict(self._ovo.json["ovo"]["versioned_object.data"])

    @classmethod
    def load(cls, json_src: Any, save: bool = False) -> Any:
        from volumelib.compat.cinderlib import serialization
        obj = serialization.load(json_src, save=save)
        if not isinstance(obj, cls):
            raise exc.InvalidPayload(reason=f"expected a {cls.__name__}, got "
                                            f"{type(obj).__name__}")
        return obj

    def _delete_gone(self, call_driver: Any) -> bool:
        """Deleting what the store no longer holds: ask the driver again (its deletes
        are idempotent) and mark the object deleted. True when that was the case."""
        store = self._ovo.persistence
        getter = store.get_volumes if self._KIND == "volume" else store.get_snapshots
        if getter(self.id):
            return False
        backend = self.backend
        if isinstance(backend, Backend):
            try:
                call_driver(backend)
            except exc.NotFound:
                pass
            except exc.VolumelibError:
                raise
            except Exception as e:  # noqa: BLE001 - translated at the boundary
                raise exc.BackendError(backend_name=backend.id, operation=f"delete {self.id}",
                                       reason=f"{type(e).__name__}: {e}") from e
        from volumelib.versioned import utcnow
        self._ovo.status = "deleted"
        self._ovo.deleted = True
        self._ovo.deleted_at = self._ovo.deleted_at or utcnow()
        self._ovo.obj_reset_changes()
        return True


class _Named(_Object):
    name = _field("name")
    display_name = _field("name", "cinderlib's name for ``name``.")
    description = _field("description")
    display_description = _field("description", "cinderlib's name for ``description``.")
    metadata = _field("metadata")


def _check_kwargs(what: str, kwargs: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(kwargs) - allowed)
    if unknown:
        raise exc.InvalidArgument(
            reason=f"{what}: volumelib has no equivalent for {', '.join(unknown)} "
                   f"(accepted: {', '.join(sorted(allowed))})")


def _type_kwargs(backend: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    pool = kwargs.pop("pool_name", None)
    if pool is not None and isinstance(backend, Backend) and pool not in backend.pool_names:
        raise exc.PoolNotFound(f"Pool {pool!r} is not a pool of backend {backend.id} "
                               f"(pools: {', '.join(backend.pool_names)})", pool_name=pool)
    specs = kwargs.pop("extra_specs", None)
    if specs is not None:
        if kwargs.get("volume_type") is not None:
            raise exc.InvalidArgument(reason="give extra_specs or volume_type, not both")
        kwargs["volume_type"] = dict(specs)
    return kwargs


class Volume(_Named):
    """A cinderlib volume; ``_ovo`` is the ``volumelib.Volume``."""

    _KIND = "volume"
    size = _field("size")
    previous_status = _field("previous_status")
    volume_type_id = _field("volume_type_id")
    snapshot_id = _field("snapshot_id", writable=False)
    source_volid = _field("source_volid", writable=False)
    group_id = _field("group_id", writable=False)
    multiattach = _field("multiattach", writable=False)
    provider_location = _field("provider_location")
    provider_id = _field("provider_id")
    backend_name = _field("backend_name", writable=False)

    @property
    def extra_specs(self) -> dict[str, Any]:
        """The volume type's extra specs (Cinder syntax)."""
        return dict(self._ovo.volume_type or {})

    @property
    def host(self) -> str:
        """Cinder's ``host@backend#pool``."""
        backend = Backend.backends.get(self._ovo.backend_name)
        pool = backend.pool_names[0] if backend is not None else self._ovo.backend_name
        return f"{runtime.settings().host}@{self._ovo.backend_name}#{pool}"

    @property
    def snapshots(self) -> list[Snapshot]:
        return wrap_all(self._ovo.snapshots)

    @property
    def connections(self) -> list[Connection]:
        return wrap_all(self._ovo.connections)

    @property
    def local_attach(self) -> Connection | None:
        """The connection attached on this host, if any (read from the store)."""
        host = runtime.settings().host
        for conn in self._ovo.connections:
            if conn.attached and conn.attached_host == host:
                return wrap(conn)
        return None

    @property
    def attach_status(self) -> str:
        return "attached" if any(c.attached for c in self._ovo.connections) else "detached"

    @property
    def dump(self) -> dict[str, Any]:
        data = self._ovo.dump
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
        _check_kwargs("create_snapshot", kwargs, {"metadata", "id"})
        return wrap(self._ovo.create_snapshot(name=name, description=description, **kwargs))

    def clone(self, **new_vol_attrs: Any) -> Volume:
        """A new volume with this one's data: ``name``, ``description``, ``size``
        (>= this size), ``metadata``, ``id``, ``extra_specs``/``volume_type``,
        ``pool_name``."""
        kwargs = _type_kwargs(self.backend, dict(new_vol_attrs))
        _check_kwargs("clone", kwargs,
                      {"name", "description", "size", "metadata", "id", "volume_type"})
        return wrap(self._ovo.clone(**kwargs))

    def extend(self, size: int) -> int:
        """Grow to ``size`` GiB; returns the new size in bytes. When attached on this
        host, the host's view of the device is refreshed too (os-brick)."""
        result = self._ovo.extend(size)
        local = self.local_attach
        if local is not None:
            local._ovo.extend()
        return result

    def delete(self) -> None:
        """Delete the volume; deleting it again is a no-op.

        Raises:
            HasSnapshots, VolumeInUse: it still has snapshots or connections.
        """
        if self._ovo.status == "deleted" and self._ovo.deleted:
            return
        if self._delete_gone(lambda b: b.driver.delete_volume(self._ovo.info())):
            return
        self._ovo.delete()

    def attach(self) -> Connection:
        """Connect and attach on this host; ``conn.path`` is the device."""
        return wrap(self._ovo.attach())

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
        """Controller side: export to the host of ``connector_dict``; ``attach_mode``
        (``rw``/``ro``) and ``attached_host`` (recorded) are accepted."""
        _check_kwargs("connect", ovo_fields, {"attach_mode", "attached_host"})
        conn = self._ovo.connect(connector_dict,
                                 attach_mode=ovo_fields.get("attach_mode", "rw"))
        if ovo_fields.get("attached_host") is not None:
            conn.attached_host = ovo_fields["attached_host"]
            conn.save()
        return wrap(conn)

    def disconnect(self, connection: Connection, force: bool = False) -> None:
        connection.disconnect(force=force)

    def cleanup(self) -> None:
        """Detach and disconnect every connection of this volume on this host."""
        for conn in self.connections:
            if conn.attached:
                conn.detach()
            conn.disconnect()


class Snapshot(_Named):
    """A cinderlib snapshot; ``_ovo`` is the ``volumelib.Snapshot``."""

    _KIND = "snapshot"
    volume_id = _field("volume_id", writable=False)
    volume_size = _field("volume_size", writable=False)
    group_snapshot_id = _field("group_snapshot_id", writable=False)
    provider_location = _field("provider_location")
    provider_id = _field("provider_id")

    @property
    def volume(self) -> Volume:
        return wrap(self._ovo.volume)

    @classmethod
    def get_by_name(cls, snapshot_name: str) -> list[Snapshot]:
        return wrap_all(runtime.persistence().get_snapshots(snapshot_name=snapshot_name))

    def create_volume(self, **new_vol_params: Any) -> Volume:
        """A new volume with the snapshot's data (``name``, ``description``, ``size``,
        ``metadata``, ``id``, ``extra_specs``/``volume_type``, ``pool_name``)."""
        kwargs = _type_kwargs(self.backend, dict(new_vol_params))
        _check_kwargs("create_volume", kwargs,
                      {"name", "description", "size", "metadata", "id", "volume_type"})
        return wrap(self._ovo.create_volume(**kwargs))

    def delete(self) -> None:
        """Delete the snapshot; deleting it again is a no-op."""
        if self._ovo.status == "deleted" and self._ovo.deleted:
            return

        def _driver_delete(backend: Backend) -> None:
            try:
                info = self._ovo.info()
            except exc.VolumeNotFound:
                return  # the volume went, and its snapshots with it
            backend.driver.delete_snapshot(info)

        if self._delete_gone(_driver_delete):
            return
        self._ovo.delete()


class Connection(_Object):
    """A cinderlib connection; ``_ovo`` is the ``volumelib.Connection``."""

    _KIND = "connection"
    volume_id = _field("volume_id", writable=False)
    attach_mode = _field("attach_mode", writable=False)
    attached_host = _field("attached_host")
    device = _field("device", "os-brick's attach result (``path``...) once attached.")

    @property
    def conn_info(self) -> dict[str, Any]:
        """What os-brick needs: ``{"driver_volume_type": ..., "data": {...}}``."""
        return dict(self._ovo.connection_info or {})

    @property
    def connector_info(self) -> dict[str, Any]:
        """The connector properties of the host it was connected to."""
        return dict(self._ovo.connector or {})

    @property
    def connection_info(self) -> dict[str, Any]:
        """cinderlib's shape: ``{"conn": conn_info, "connector": ..., "device": ...}``."""
        return {"conn": self.conn_info, "connector": self.connector_info,
                "device": self._ovo.device}

    @property
    def protocol(self) -> str | None:
        return self.conn_info.get("driver_volume_type")

    @property
    def path(self) -> str | None:
        return self._ovo.path

    @property
    def attached(self) -> bool:
        return self._ovo.attached

    @property
    def connected(self) -> bool:
        return self._ovo.connected

    @property
    def volume(self) -> Volume:
        return wrap(self._ovo.volume)

    def attach(self) -> None:
        """Node side: attach with os-brick from the connection info alone."""
        self._ovo.attach()

    def detach(self, force: bool = False, ignore_errors: bool = False) -> None:
        """Node side: detach from this host; the connection stays (``disconnect``
        removes it)."""
        try:
            self._ovo.detach(force=force)
        except exc.InvalidState:
            raise
        except Exception:
            if not ignore_errors:
                raise
            LOG.debug("detach of connection %s failed, ignored", self.id, exc_info=True)
        _refresh_live("Volume", self.volume_id)

    def disconnect(self, force: bool = False) -> None:
        """Controller side: unexport and forget the connection."""
        self._ovo.disconnect(force=force)
        _refresh_live("Volume", self.volume_id)

    def extend(self) -> int:
        """Node side: see the new size after the controller's ``vol.extend()``."""
        return self._ovo.extend()


_CLASSES: dict[str, type[_Object]] = {"Volume": Volume, "Snapshot": Snapshot,
                                      "Connection": Connection}
