"""What every stored user object shares: its store, its backend, saving and JSON."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from volumelib import core
from volumelib import exceptions as exc
from volumelib.objects.base import VersionedObject, fields, to_json_text, utcnow

if TYPE_CHECKING:
    from volumelib.backend import Backend
    from volumelib.persistence.base import PersistenceDriverBase

LOG = logging.getLogger(__name__)

T = TypeVar("T")


class Status:
    """Status values (Cinder's)."""

    CREATING = "creating"
    AVAILABLE = "available"
    ERROR = "error"
    DELETING = "deleting"
    DELETED = "deleted"
    ERROR_DELETING = "error_deleting"
    EXTENDING = "extending"
    ERROR_EXTENDING = "error_extending"
    ATTACHING = "attaching"
    IN_USE = "in-use"
    DETACHING = "detaching"
    REVERTING = "reverting"

    #: States an interrupted operation leaves behind; ``gc()`` reconciles them.
    TRANSITIONAL = frozenset({CREATING, DELETING, EXTENDING, ATTACHING, DETACHING,
                              REVERTING})


#: Fields every stored resource has: when it was made and changed, and soft deletion.
TIMESTAMP_FIELDS = {
    "created_at": fields.DateTime(nullable=True),
    "updated_at": fields.DateTime(nullable=True),
    "deleted": fields.Boolean(default=False),
    "deleted_at": fields.DateTime(nullable=True),
}


class StoredObject(VersionedObject):
    """A user-facing object kept in a store and served by a backend."""

    def __init__(self, **values: Any) -> None:
        super().__init__(**values)
        object.__setattr__(self, "_store", None)
        object.__setattr__(self, "_backend", None)

    # -- where it lives ------------------------------------------------------------

    @property
    def persistence(self) -> PersistenceDriverBase:
        store = self.__dict__.get("_store")
        return store if store is not None else core.persistence()

    def _backend_name(self) -> str | None:
        return None

    @property
    def backend(self) -> Backend:
        """The live backend serving this object.

        Raises:
            BackendNotFound: no backend of that name is set up in this process.
        """
        backend = self.__dict__.get("_backend")
        if backend is None:
            name = self._backend_name()
            backend = core.get_backend(name, required=True) if name else None
            if backend is None:
                raise exc.BackendNotFound(backend_name=name)
            object.__setattr__(self, "_backend", backend)
        return backend

    def _bound(self, items: list[T]) -> list[T]:
        """``items`` (related objects read from the store), served by this one's backend."""
        backend = self.__dict__.get("_backend")
        for item in items:
            item._bind(backend)  # type: ignore[attr-defined]
        return items

    def _bind(self, backend: Backend | None = None,
              store: PersistenceDriverBase | None = None) -> None:
        if backend is not None:
            object.__setattr__(self, "_backend", backend)
        if store is not None:
            object.__setattr__(self, "_store", store)

    def _settle(self, status: str) -> None:
        """Store a failure status; never hide the original error if that fails too."""
        self.status = status
        try:
            self.save()
        except Exception:  # noqa: BLE001
            LOG.exception("could not record status %s of %s %s", status, self.OBJ_NAME,
                          getattr(self, "id", "?"))

    def refresh(self) -> None:
        """Reload every field from the store (unsaved changes are dropped).

        Raises:
            NotFound: (the kind's subclass) the object is no longer stored.
        """
        from volumelib.persistence.base import KINDS
        kind = KINDS[self._kind()]
        key = getattr(self, kind.key)
        found = self.persistence._get(kind, **{kind.key: key})
        if not found:
            raise kind.not_found(**{kind.not_found_arg: key})
        self._values.update(found[0]._values)
        object.__setattr__(self, "_db_version", found[0]._db_version)
        self.obj_reset_changes()

    def _reload(self) -> None:
        """Catch up with the store before an operation: re-read the row when another
        writer changed it since this object was read (unsaved changes of this object
        are kept when nobody did). A never-saved object is left alone.

        Raises:
            NotFound: (the kind's subclass) the object is no longer stored.
        """
        version = self.__dict__.get("_db_version")
        if version is None:
            return
        from volumelib.persistence.base import KINDS
        kind = KINDS[self._kind()]
        key = getattr(self, kind.key)
        found = self.persistence._get(kind, **{kind.key: key})
        if not found:
            raise kind.not_found(**{kind.not_found_arg: key})
        if found[0]._db_version != version:
            self._values.update(found[0]._values)
            object.__setattr__(self, "_db_version", found[0]._db_version)
            self.obj_reset_changes()

    def _operation(self, operation: str) -> Any:
        """A context manager: ``operation`` runs on this object with nobody else
        operating on it (an operation lease; ``ResourceBusy`` otherwise). See
        :meth:`volumelib.control.leases.LeaseManager.operation`."""
        from volumelib.control.leases import LeaseManager
        return LeaseManager(self.persistence).operation(self, operation)

    def _record_deleted(self) -> None:
        """The driver deleted it: mark it ``deleted`` and remove it from the store
        (a soft-deleting store keeps the row, hidden, with ``deleted_at``)."""
        self.status = Status.DELETED
        if "deleted" in self.fields:
            self.deleted = True
            self.deleted_at = utcnow()
        getattr(self.persistence, f"delete_{self._kind()}")(self)
        self.obj_reset_changes()

    def save(self) -> None:
        """Write the changed fields (compare-and-set against the stored version)."""
        getattr(self.persistence, f"set_{self._kind()}")(self)

    @classmethod
    def _kind(cls) -> str:
        from volumelib.persistence.base import kind_of
        return kind_of(cls).name  # type: ignore[arg-type]

    # -- serialization -------------------------------------------------------------

    def _backend_json(self) -> dict[str, Any] | None:
        backend = self.__dict__.get("_backend")
        if backend is None:
            name = self._backend_name()
            backend = core.get_backend(name, required=False) if name else None
        if backend is not None:
            return backend.config
        name = self._backend_name()
        return {"volume_backend_name": name} if name else None

    @property
    def json(self) -> dict[str, Any]:
        """A JSON-ready dict of this object (secrets left out)."""
        return self.to_json()

    def to_json(self, *, include_secrets: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {"class": self.OBJ_NAME,
                                "ovo": self.obj_to_primitive(include_secrets=include_secrets)}
        backend = self._backend_json()
        if backend is not None:
            data["backend"] = backend
        return data

    @property
    def jsons(self) -> str:
        return to_json_text(self.json)

    @property
    def dump(self) -> dict[str, Any]:
        """Like :attr:`json`, with the lazy relations (snapshots, connections) loaded."""
        return self.json

    @property
    def dumps(self) -> str:
        return to_json_text(self.dump)


def call_driver(backend: Backend, operation: str, func: Callable[..., T], *args: Any,
                resource_id: str | None = None) -> T:
    """Call a driver method; turn a non-volumelib failure into ``BackendError``."""
    LOG.debug("%s: %s %s", backend.id, operation, resource_id or "")
    try:
        result = func(*args)
    except exc.VolumelibError:
        raise
    except NotImplementedError:
        raise
    except Exception as e:  # noqa: BLE001 - translated at the boundary, cause kept
        LOG.debug("%s: %s %s failed: %s", backend.id, operation, resource_id or "", e)
        raise exc.BackendError(backend_name=backend.id, operation=operation,
                               reason=f"{type(e).__name__}: {e}") from e
    LOG.debug("%s: %s %s done", backend.id, operation, resource_id or "")
    return result


def apply_model_update(obj: StoredObject, update: Any) -> None:
    """Copy a driver's model update (provider_* fields) onto ``obj``."""
    if not update:
        return
    for key in ("provider_location", "provider_id", "provider_auth"):
        if key in update and key in obj.fields:
            setattr(obj, key, update[key])
