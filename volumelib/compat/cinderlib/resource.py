"""What cinderlib's ``Volume``, ``Snapshot`` and ``Connection`` share.

Each compat object holds a volumelib object (``obj.vl_object``) and delegates every
operation to it with explicit methods and properties; ``obj._ovo`` is cinderlib's
view of it (:class:`~volumelib.compat.cinderlib.extras.OvoView`). Compat objects are
*live* (one per resource id in a process): the identity map and :func:`wrap` are in
:mod:`.identity`, re-exported here.
"""

from __future__ import annotations

import json as json_lib
import logging
from typing import Any

from volumelib import exceptions as exc
from volumelib import runtime
from volumelib.compat.cinderlib.backend import Backend, load
from volumelib.compat.cinderlib.extras import Extras, OvoView
from volumelib.compat.cinderlib.identity import Wrapper, refresh_live, unwrap, wrap, wrap_all
from volumelib.compat.cinderlib.persistence import CurrentPersistence
from volumelib.versioned import utcnow

__all__ = ["CompatObject", "NamedObject", "field", "wrap", "wrap_all", "unwrap",
           "refresh_live"]

LOG = logging.getLogger(__name__)


def field(name: str, doc: str = "", writable: bool = True) -> property:
    """A property reading (and writing) field ``name`` of the volumelib object."""
    def get(self: CompatObject) -> Any:
        return getattr(self._vl, name)

    def put(self: CompatObject, value: Any) -> None:
        setattr(self._vl, name, value)

    return property(get, put if writable else None, doc=doc or f"The ``{name}`` field.")


class CompatObject(Wrapper):
    """What every compat resource shares: backend, equality, JSON, save/refresh."""

    persistence = CurrentPersistence()
    _view: OvoView | None = None
    _extras_cache: Extras | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise exc.NotSupported(
            f"creating a cinderlib {type(self).__name__} directly is not supported by "
            f"volumelib's compat layer; use backend.create_volume(), "
            f"vol.create_snapshot(), vol.connect() or cinderlib.load()",
            operation=f"{type(self).__name__}()", driver="volumelib.compat.cinderlib")

    id = field("id", writable=False)
    status = field("status")
    deleted = field("deleted")
    deleted_at = field("deleted_at")
    created_at = field("created_at")
    updated_at = field("updated_at")
    project_id = field("project_id")
    user_id = field("user_id")

    @property
    def vl_object(self) -> Any:
        """(volumelib addition) The volumelib object behind this one."""
        return self._vl

    @property
    def _ovo(self) -> OvoView:
        """cinderlib's OVO: the volumelib object's fields and methods, plus the
        cinderlib-only fields (compatibility shim, see :mod:`.extras`)."""
        if self._view is None:
            self._view = OvoView(self)
        return self._view

    def _extras(self) -> Extras:
        cache = self._extras_cache
        if cache is None or cache.vl_object is not self._vl:
            cache = self._extras_cache = Extras(type(self).__name__, self._vl)
        return cache

    @property
    def backend(self) -> Backend | str:
        """The live cinderlib ``Backend``, or its name when it is not set up here and
        ``fail_on_missing_backend`` is off.

        Raises:
            BackendNotFound: not set up here and ``fail_on_missing_backend`` is on.
        """
        name = self._vl.backend_name
        found = Backend.backends.get(name)
        if found is not None:
            return found
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
                f"{self._vl.backend_name}>")

    # -- store -------------------------------------------------------------------------

    def save(self) -> None:
        """Store the changed fields, the cinderlib-only ones too."""
        self._vl.save()
        if self._extras_cache is not None and self._extras_cache.vl_object is self._vl:
            self._extras_cache.save()

    def refresh(self) -> None:
        """Reload the fields from the store (unsaved changes are dropped)."""
        self._vl.refresh()
        self._extras_cache = None

    def _forget_extras(self) -> None:
        """The resource is gone: remove its cinderlib-only fields from the store."""
        try:
            self._extras().delete()
        except exc.VolumelibError:
            LOG.debug("could not remove the cinderlib fields of %s %s", self._KIND,
                      self.id, exc_info=True)

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
        found = Backend.backends.get(self._vl.backend_name)
        if found is not None:
            return found.config
        return {"volume_backend_name": self._vl.backend_name}

    def to_json(self, simplified: bool = True) -> dict[str, Any]:
        data = self._vl.json
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
        return dict(self._vl.json["ovo"]["versioned_object.data"])

    @classmethod
    def load(cls, json_src: Any, save: bool = False) -> Any:
        obj = load(json_src, save=save)
        if not isinstance(obj, cls):
            raise exc.InvalidPayload(reason=f"expected a {cls.__name__}, got "
                                            f"{type(obj).__name__}")
        return obj

    def _delete_gone(self, call_driver: Any) -> bool:
        """Deleting what the store no longer holds: ask the driver again (its deletes
        are idempotent) and mark the object deleted. True when that was the case."""
        store = self._vl.persistence
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
        self._vl.status = "deleted"
        self._vl.deleted = True
        self._vl.deleted_at = self._vl.deleted_at or utcnow()
        self._vl.obj_reset_changes()
        self._forget_extras()
        return True


class NamedObject(CompatObject):
    name = field("name")
    display_name = field("name", "cinderlib's name for ``name``.")
    description = field("description")
    display_description = field("description", "cinderlib's name for ``description``.")
    metadata = field("metadata")
