"""The process's runtime state: settings made by :func:`volumelib.setup`, the default
store, and the live backends.

Nothing here happens at import: the default store (memory) is built on first use.
``setup()`` may be called again to switch store or project. Backends register
themselves so that objects loaded from a store or from JSON find their driver by
``backend_name``; a second ``Backend`` with the same name is a new object (no
singleton), and the most recent live one serves loads.
"""

from __future__ import annotations

import dataclasses
import logging
import socket
import threading
import weakref
from typing import Any

from volumelib import exceptions as exc
from volumelib.persistence import setup as persistence_setup
from volumelib.persistence.base import PersistenceDriverBase
from volumelib.persistence.memory import MemoryPersistence
from volumelib.protocols import BackendLike

__all__ = ["Settings", "setup", "settings", "persistence", "register_backend",
           "unregister_backend", "get_backend", "live_backends"]

LOG = logging.getLogger(__name__)


@dataclasses.dataclass
class Settings:
    persistence: PersistenceDriverBase | None = None
    project_id: str | None = None
    user_id: str | None = None
    file_locks_path: str | None = None
    fail_on_missing_backend: bool = True
    host: str = dataclasses.field(default_factory=socket.gethostname)
    #: Seconds of a library operation's lease between heartbeats (``control.leases``).
    operation_lease_ttl: float = 30.0
    #: Leases on a resource that may expire without release before it goes to ``error``.
    lease_retry_budget: int = 3
    #: Seconds events are kept in the event log before ``gc()`` trims them.
    event_ttl: float = 7 * 24 * 3600.0


_lock = threading.RLock()
_settings = Settings()
_backends: weakref.WeakValueDictionary[str, BackendLike] = weakref.WeakValueDictionary()


def setup(persistence_config: Any = None, project_id: str | None = None,
          user_id: str | None = None, file_locks_path: str | None = None,
          fail_on_missing_backend: bool = True, host: str | None = None,
          operation_lease_ttl: float = 30.0, lease_retry_budget: int = 3,
          event_ttl: float = 7 * 24 * 3600.0) -> Settings:
    """Choose the store and the identity used by objects created from now on.

    Args:
        persistence_config: ``None`` (memory), a dict ``{"storage": NAME | class |
            instance, **kwargs}``, or a store instance.
        project_id, user_id: recorded on new resources.
        file_locks_path: directory for inter-process lock files.
        fail_on_missing_backend: loading an object whose backend is not set up in this
            process raises ``BackendNotFound`` (``False``: the object loads without a
            driver, enough to attach from connection info).
        host: this host's name in connection records (default: the hostname).
        operation_lease_ttl: seconds of the lease a library operation (delete,
            extend, clone, snapshot, attach...) holds on its volume, renewed every third
            of it while the driver works; after a crash the volume is busy that long.
        lease_retry_budget: leases on one resource that may run out without release
            (crashed holders) before the resource is moved to ``error``; 0: never.
            See :mod:`volumelib.control.leases`.
        event_ttl: seconds the event log keeps an event; ``gc()`` trims older ones
            (default a week). See :mod:`volumelib.control.events`.

    Raises:
        InvalidPersistence: the config names no store.
        InvalidConfig: a bad ``file_locks_path``, ``operation_lease_ttl``,
            ``lease_retry_budget`` or ``event_ttl``; nothing changed.
    """
    if file_locks_path is not None and not isinstance(file_locks_path, str):
        raise exc.InvalidConfig(reason=f"file_locks_path must be a path, not {file_locks_path!r}")
    if isinstance(operation_lease_ttl, bool) or not isinstance(operation_lease_ttl, (int, float)) \
            or not 0 < operation_lease_ttl < float("inf"):
        raise exc.InvalidConfig(reason=f"operation_lease_ttl must be seconds > 0, not "
                                       f"{operation_lease_ttl!r}")
    if isinstance(lease_retry_budget, bool) or not isinstance(lease_retry_budget, int) \
            or lease_retry_budget < 0:
        raise exc.InvalidConfig(reason=f"lease_retry_budget must be an integer >= 0, not "
                                       f"{lease_retry_budget!r}")
    if isinstance(event_ttl, bool) or not isinstance(event_ttl, (int, float)) \
            or not 0 < event_ttl < float("inf"):
        raise exc.InvalidConfig(reason=f"event_ttl must be seconds > 0, not {event_ttl!r}")
    store = persistence_setup(persistence_config)
    with _lock:
        _settings.persistence = store
        _settings.project_id = project_id
        _settings.user_id = user_id
        _settings.file_locks_path = file_locks_path
        _settings.fail_on_missing_backend = bool(fail_on_missing_backend)
        _settings.operation_lease_ttl = float(operation_lease_ttl)
        _settings.lease_retry_budget = lease_retry_budget
        _settings.event_ttl = float(event_ttl)
        if host:
            _settings.host = host
    LOG.debug("volumelib set up with %r", store)
    return _settings


def settings() -> Settings:
    return _settings


def persistence(store: Any = None) -> PersistenceDriverBase:
    """Which store to use: ``store`` itself; for a callable that is not a store, what
    it returns (``backend.leases`` follows its backend's store that way); for
    ``None``, the process's current store (memory until ``setup()`` says otherwise).

    Every object, manager and backend without a store of its own asks here, at each
    call, so ``setup()`` switches them all.
    """
    if store is not None:
        if callable(store) and not isinstance(store, PersistenceDriverBase):
            return store()
        return store
    current = _settings.persistence
    if current is None:
        with _lock:
            if _settings.persistence is None:
                _settings.persistence = MemoryPersistence()
            current = _settings.persistence
    return current


def register_backend(backend: BackendLike) -> None:
    with _lock:
        _backends[backend.id] = backend


def unregister_backend(backend: BackendLike) -> None:
    with _lock:
        if _backends.get(backend.id) is backend:
            del _backends[backend.id]


def get_backend(name: str, *, required: bool | None = None) -> BackendLike | None:
    """The live backend called ``name``; raise or return ``None`` when there is none.

    ``required`` defaults to the ``fail_on_missing_backend`` setting.
    """
    backend = _backends.get(name)
    if backend is None and (_settings.fail_on_missing_backend if required is None
                            else required):
        raise exc.BackendNotFound(backend_name=name)
    return backend


def live_backends() -> list[BackendLike]:
    return list(_backends.values())
