"""``Backend.persistence``: cinderlib's persistence plugin interface over volumelib's store.

The getters return live compat objects (see :mod:`.identity`); the setters and
deleters accept compat or volumelib objects. Key-values are volumelib's ``KeyValue``
(``KeyValue(key, value)``, as cinderlib's). The store itself is volumelib's: ``memory``,
``db`` (``dbms``) or ``memory_db`` (``memory_dbms``), chosen by ``setup``.
"""

from __future__ import annotations

import logging
from typing import Any

from volumelib import runtime
from volumelib.compat.cinderlib.extras import key_for
from volumelib.compat.cinderlib.identity import unwrap, wrap_all
from volumelib.compat.cinderlib.lenient import drop_falsy

__all__ = ["CompatPersistence", "current", "CurrentPersistence"]

LOG = logging.getLogger(__name__)


class CompatPersistence:
    """cinderlib's ``PersistenceDriverBase`` methods over one volumelib store."""

    def __init__(self, store: Any) -> None:
        #: The volumelib store (``volumelib.persistence.base.PersistenceDriverBase``).
        self.store = store

    def __repr__(self) -> str:
        return f"<cinderlib persistence over {self.store!r}>"

    @property
    def db(self) -> Any:
        return self.store.db

    # -- getters: live compat objects ------------------------------------------------------

    # Falsy filters are ignored, as cinderlib's stores did (compatibility shim:
    # Ember-CSI passes ``snapshot_id=''`` meaning "any").

    def get_volumes(self, volume_id: str | None = None, volume_name: str | None = None,
                    backend_name: str | None = None) -> list[Any]:
        return wrap_all(self.store.get_volumes(**drop_falsy(
            volume_id=volume_id, volume_name=volume_name, backend_name=backend_name)))

    def get_snapshots(self, snapshot_id: str | None = None,
                      snapshot_name: str | None = None,
                      volume_id: str | None = None) -> list[Any]:
        return wrap_all(self.store.get_snapshots(**drop_falsy(
            snapshot_id=snapshot_id, snapshot_name=snapshot_name, volume_id=volume_id)))

    def get_connections(self, connection_id: str | None = None,
                        volume_id: str | None = None) -> list[Any]:
        return wrap_all(self.store.get_connections(**drop_falsy(
            connection_id=connection_id, volume_id=volume_id)))

    def get_key_values(self, key: str | None = None) -> list[Any]:
        return self.store.get_key_values(key)

    # -- setters and deleters ------------------------------------------------------------

    def set_volume(self, volume: Any) -> None:
        self.store.set_volume(unwrap(volume))

    def set_snapshot(self, snapshot: Any) -> None:
        self.store.set_snapshot(unwrap(snapshot))

    def set_connection(self, connection: Any) -> None:
        self.store.set_connection(unwrap(connection))

    def set_key_value(self, key_value: Any) -> None:
        self.store.set_key_value(key_value)

    def delete_volume(self, volume: Any) -> None:
        vl = unwrap(volume)
        self.store.delete_volume(vl)
        self.store.delete_key_value(key_for("Volume", vl.id))

    def delete_snapshot(self, snapshot: Any) -> None:
        self.store.delete_snapshot(unwrap(snapshot))

    def delete_connection(self, connection: Any) -> None:
        """Forget a connection record (no driver call; as cinderlib's stores)."""
        vl = unwrap(connection)
        self.store.delete_connection(vl)
        self.store.delete_key_value(key_for("Connection", vl.id))

    def delete_key_value(self, key_value: Any) -> None:
        self.store.delete_key_value(key_value)

    # -- change tracking ----------------------------------------------------------------

    def get_changed_fields(self, resource: Any) -> dict[str, Any]:
        return self.store.get_changed_fields(unwrap(resource))

    def get_fields(self, resource: Any) -> dict[str, Any]:
        return self.store.get_fields(unwrap(resource))

    def reset_change_tracker(self, resource: Any, fields: Any = None) -> None:
        self.store.reset_change_tracker(unwrap(resource), fields)


_cache: dict[int, CompatPersistence] = {}


def current() -> CompatPersistence:
    """The compat view of the store ``setup()`` chose."""
    store = runtime.persistence()
    view = _cache.get(id(store))
    if view is None or view.store is not store:
        _cache.clear()
        view = _cache[id(store)] = CompatPersistence(store)
    return view


class CurrentPersistence:
    """``Backend.persistence`` and ``obj.persistence`` (on the class and on instances):
    :func:`current`, the compat view of the store ``setup()`` chose."""

    def __get__(self, obj: Any, owner: type) -> CompatPersistence:
        return current()
