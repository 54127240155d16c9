"""What every stored object shares: its store, its backend, saving and JSON.

:class:`StoredObject` is the base of everything a store keeps (volumes, snapshots,
connections, groups, key-values, types, pools, leases, quotas). It knows its store
(its own, or the process's current one) and, for resources, the live backend that
serves it, found by name in :mod:`volumelib.runtime`. Saving is a compare-and-set on
the row's version (:mod:`volumelib.persistence.base`).
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TypeVar

from volumelib import exceptions as exc
from volumelib import runtime
from volumelib.persistence.base import Kind, PersistenceDriverBase, kind_of
from volumelib.protocols import BackendLike
from volumelib.versioned import VersionedObject, fields, plain, to_json_text, utcnow

LOG = logging.getLogger(__name__)

T = TypeVar("T")

#: Attempts of an operation's own save against writers that take no lease
#: (:meth:`StoredObject._save_own`).
OWN_SAVE_ATTEMPTS = 10


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
    #: Adopting a storage object made outside volumelib (``backend.manage``).
    MANAGING = "managing"
    ERROR_MANAGING = "error_managing"
    #: Forgetting the record, keeping the data (``vol.unmanage()``).
    UNMANAGING = "unmanaging"
    #: Moving to another backend (``vol.migrate()``, a retype that migrates).
    MIGRATING = "migrating"
    #: Changing type in place (``vol.retype()``).
    RETYPING = "retyping"

    #: States an interrupted operation leaves behind; ``gc()`` reconciles them.
    TRANSITIONAL = frozenset({CREATING, DELETING, EXTENDING, ATTACHING, DETACHING,
                              REVERTING, MANAGING, UNMANAGING, MIGRATING, RETYPING})


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
        return runtime.persistence(store)

    def _backend_name(self) -> str | None:
        return None

    @property
    def backend(self) -> BackendLike:
        """The live backend serving this object.

        Raises:
            BackendNotFound: no backend of that name is set up in this process.
        """
        backend = self.__dict__.get("_backend")
        if backend is None:
            name = self._backend_name()
            backend = runtime.get_backend(name, required=True) if name else None
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

    def _bind(self, backend: BackendLike | None = None,
              store: PersistenceDriverBase | None = None) -> None:
        if backend is not None:
            object.__setattr__(self, "_backend", backend)
        if store is not None:
            object.__setattr__(self, "_store", store)

    def _settle(self, status: str) -> None:
        """Store a failure status as this operation's own transition
        (:meth:`_save_own`); never hide the original error if that fails too. Called
        while handling the operation's error, whose message becomes the ``reason``
        in the payload of the status change's event."""
        self.status = status
        error = sys.exc_info()[1]
        if error is not None:
            self.__dict__["_event_reason"] = " ".join(str(error).split()) \
                or type(error).__name__
        try:
            self._save_own("status")
        except Exception:  # noqa: BLE001
            LOG.exception("could not record status %s of %s %s", status, self.OBJ_NAME,
                          getattr(self, "id", "?"))

    def refresh(self) -> None:
        """Reload every field from the store (unsaved changes are dropped).

        Raises:
            NotFound: (the kind's subclass) the object is no longer stored.
        """
        self._adopt(self._stored_or_raise())

    def _adopt(self, found: StoredObject) -> None:
        """Take every field of ``found`` (this object's row read again) and its
        version; unsaved changes are dropped."""
        self._values.update(found._values)
        state = self.__dict__
        state["_db_version"] = found.__dict__.get("_db_version")
        seen = found.__dict__.get("_seen")  # the status at that version (events)
        if seen is not None:
            state["_seen"] = seen
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
        kind = self._kind_info()
        key = getattr(self, kind.key)
        current = self.persistence.row_version(kind.name, key)
        if current is None:
            raise kind.not_found(**{kind.not_found_arg: key})
        if current != version:
            self._adopt(self._stored_or_raise())

    def _stored_or_raise(self) -> StoredObject:
        found = self._stored()
        if found is None:
            kind = self._kind_info()
            raise kind.not_found(**{kind.not_found_arg: getattr(self, kind.key)})
        return found

    def _save_own(self, *names: str, expect: dict[str, Any] | None = None) -> None:
        """Save the state transition of the operation running on this object.

        The operation holds the object's operation lease, but writers that take no
        lease (a metadata update: ``vol.metadata[k] = v; vol.save()``) may have saved
        the row since this object read it, which makes the compare-and-set fail.
        Then the row is re-read (keeping the other writer's fields), only ``names``
        (the fields the operation sets: ``status``, ``size``...) are set again to this
        object's values, and the save is retried, up to :data:`OWN_SAVE_ATTEMPTS`
        times.

        Args:
            expect: ``{field: value}`` the re-read row must still have (what the
                operation checked before storing its intent); otherwise the
                ``ConcurrentModification`` is raised and nothing is written.

        Raises:
            ConcurrentModification: (retryable) still losing after the attempts,
                ``expect`` no longer holds, or the row is gone.
        """
        own = {n: plain(self._values.get(n)) for n in names}
        for attempt in range(OWN_SAVE_ATTEMPTS):
            try:
                self.save()
                return
            except exc.ConcurrentModification:
                if attempt == OWN_SAVE_ATTEMPTS - 1:
                    raise
                current = self._stored()
                if current is None or any(current._values.get(k) != v
                                          for k, v in (expect or {}).items()):
                    raise
            LOG.debug("%s %s: saved by another writer meanwhile; re-applying %s",
                      self.OBJ_NAME, getattr(self, "id", "?"), ", ".join(own))
            self._adopt(current)
            for name, value in own.items():
                setattr(self, name, plain(value))

    def _stored(self) -> Any:
        """This object's row as stored now (``None`` when it is gone)."""
        kind = self._kind_info()
        return self.persistence.get_record(kind.name, getattr(self, kind.key))

    def _record_deleted(self) -> None:
        """The driver deleted it: mark it ``deleted`` and remove it from the store
        (a soft-deleting store keeps the row, hidden, with ``deleted_at``; if a writer
        that takes no lease saved the row meanwhile, the deletion is applied to the
        row as it is now, as :meth:`_save_own` does)."""
        delete = getattr(self.persistence, f"delete_{self._kind()}")
        for attempt in range(OWN_SAVE_ATTEMPTS):
            self.status = Status.DELETED
            if "deleted" in self.fields:
                self.deleted = True
                self.deleted_at = utcnow()
            try:
                delete(self)
                break
            except exc.ConcurrentModification:
                current = self._stored()
                if current is None:
                    break  # deleted by someone else meanwhile: nothing left to do
                if attempt == OWN_SAVE_ATTEMPTS - 1:
                    raise
                self._adopt(current)
        self.obj_reset_changes()

    def save(self) -> None:
        """Write the changed fields (compare-and-set against the stored version)."""
        getattr(self.persistence, f"set_{self._kind()}")(self)

    @classmethod
    def _kind_info(cls) -> Kind:
        return kind_of(cls)  # type: ignore[arg-type]

    @classmethod
    def _kind(cls) -> str:
        return cls._kind_info().name

    # -- serialization -------------------------------------------------------------

    def _backend_json(self) -> dict[str, Any] | None:
        backend = self.__dict__.get("_backend")
        if backend is None:
            name = self._backend_name()
            backend = runtime.get_backend(name, required=False) if name else None
        if backend is not None:
            return backend.config
        name = self._backend_name()
        return {"volume_backend_name": name} if name else None

    @property
    def json(self) -> dict[str, Any]:
        """A JSON-ready dict of this object (secrets left out)."""
        return self.to_json()

    def to_json(self, *, include_secrets: bool = False) -> dict[str, Any]:
        primitive = self.obj_to_primitive(include_secrets=include_secrets)
        if not include_secrets:
            self._redact(primitive["versioned_object.data"])
        data: dict[str, Any] = {"class": self.OBJ_NAME, "ovo": primitive}
        backend = self._backend_json()
        if backend is not None:
            data["backend"] = backend
        return data

    def _redact(self, data: dict[str, Any]) -> None:
        """Hide secrets inside field values of the JSON ``data`` (secret fields are
        left out already)."""

    def json_fields(self) -> dict[str, Any]:
        """The field values as this object's JSON shows them (secrets left out)."""
        data = self.obj_to_primitive()["versioned_object.data"]
        self._redact(data)
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
