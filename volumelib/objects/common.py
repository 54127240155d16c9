"""What every stored user object shares: its store, its backend, saving and JSON."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from volumelib import core
from volumelib import exceptions as exc
from volumelib.objects.base import VersionedObject, fields, plain, to_json_text, utcnow

if TYPE_CHECKING:
    from volumelib.backend import Backend
    from volumelib.persistence.base import PersistenceDriverBase

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
        """Store a failure status as this operation's own transition
        (:meth:`_save_own`); never hide the original error if that fails too."""
        self.status = status
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
            self._values.update(current._values)
            object.__setattr__(self, "_db_version", current._db_version)
            self.obj_reset_changes()
            for name, value in own.items():
                setattr(self, name, plain(value))

    def _stored(self) -> Any:
        """This object's row as stored now (``None`` when it is gone)."""
        from volumelib.persistence.base import KINDS
        kind = KINDS[self._kind()]
        found = self.persistence._get(kind, **{kind.key: getattr(self, kind.key)})
        return found[0] if found else None

    def _operation(self, operation: str) -> Any:
        """A context manager: ``operation`` runs on this object with nobody else
        operating on it (an operation lease; ``ResourceBusy`` otherwise). See
        :meth:`volumelib.control.leases.LeaseManager.operation`."""
        from volumelib.control.leases import LeaseManager
        return LeaseManager(self.persistence).operation(self, operation)

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
                self._values.update(current._values)
                object.__setattr__(self, "_db_version", current._db_version)
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
    """Call a driver method; turn a non-volumelib failure into ``BackendError``.

    The driver's error text is scrubbed first (:func:`scrub_secrets`): values of the
    driver's options marked ``secret`` and the ``provider_auth`` of the volumes in
    ``args`` become ``***``. When something was scrubbed the original exception is
    not chained (its text has the secret); otherwise it is the ``__cause__``.
    """
    LOG.debug("%s: %s %s", backend.id, operation, resource_id or "")
    try:
        result = func(*args)
    except exc.VolumelibError:
        raise
    except NotImplementedError:
        raise
    except Exception as e:  # noqa: BLE001 - translated at the boundary, cause kept
        text = f"{type(e).__name__}: {e}"
        clean = scrub_secrets(text, _secrets_of(backend, args))
        LOG.debug("%s: %s %s failed: %s", backend.id, operation, resource_id or "", clean)
        error = exc.BackendError(backend_name=backend.id, operation=operation, reason=clean)
        if clean != text:
            raise error from None
        raise error from e
    LOG.debug("%s: %s %s done", backend.id, operation, resource_id or "")
    return result


#: Shorter secret values are not scrubbed from error text (replacing every ``a`` of a
#: message would make it unreadable and hide nothing worth hiding).
MIN_SCRUBBED = 4


def scrub_secrets(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of each secret (of at least
    :data:`MIN_SCRUBBED` characters) replaced by ``***``, longest first."""
    for secret in sorted({s for s in secrets if len(s) >= MIN_SCRUBBED}, key=len,
                         reverse=True):
        text = text.replace(secret, "***")
    return text


def _secrets_of(backend: Backend, args: Iterable[Any]) -> list[str]:
    """The values a driver error must not show: the driver's secret options (those
    :meth:`VolumeDriver.redacted_config` hides) and ``provider_auth`` of the volumes
    in ``args`` (whole, and its parts after the method: ``CHAP user password``)."""
    found: list[str] = []
    try:
        driver = backend.driver
        for key, shown in driver.redacted_config().items():
            value = getattr(driver.config, key, None)
            if shown == "***" and value is not None:
                values = value if isinstance(value, (list, tuple, set)) else [value]
                found.extend(str(v) for v in values)
    except Exception:  # noqa: BLE001 - never hide the driver's error behind this
        LOG.debug("could not read the secret options of %s", backend.id, exc_info=True)
    for arg in args:
        for holder in (arg, getattr(arg, "volume", None)):
            auth = getattr(holder, "provider_auth", None)
            if isinstance(auth, str) and auth:
                found.append(auth)
                found.extend(auth.split()[1:])
    return found


def apply_model_update(obj: StoredObject, update: Any) -> None:
    """Copy a driver's model update (provider_* fields) onto ``obj``."""
    if not update:
        return
    for key in ("provider_location", "provider_id", "provider_auth"):
        if key in update and key in obj.fields:
            setattr(obj, key, update[key])
