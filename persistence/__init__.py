"""Persistence: where volumelib keeps the metadata of its objects.

Stores are plugins in the ``volumelib.persistence.storage`` entry-point namespace:
``memory``, ``dbms`` (alias ``db``) and ``memory_dbms`` (alias ``memory_db``) ship
with volumelib. :func:`setup` turns a configuration into a store.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from volumelib import exceptions as exc
from volumelib import plugins
from volumelib.persistence.base import PersistenceDriverBase

__all__ = ["setup", "available_stores", "NAMESPACE", "PersistenceDriverBase"]

LOG = logging.getLogger(__name__)

NAMESPACE = "volumelib.persistence.storage"


def available_stores() -> list[str]:
    """Names registered in the ``volumelib.persistence.storage`` namespace."""
    return plugins.available(NAMESPACE)


def setup(config: Any = None) -> Any:
    """Build a store from a configuration.

    Args:
        config: ``None`` (a new memory store); a store instance; or a mapping whose
            ``"storage"`` is a plugin name, a ``PersistenceDriverBase`` subclass
            (built with the mapping's other keys) or an instance.

    Raises:
        InvalidPersistence: anything else, naming the available plugins.
    """
    if config is None:
        config = {"storage": "memory"}
    if isinstance(config, PersistenceDriverBase):
        return config
    if not isinstance(config, Mapping):
        raise exc.InvalidPersistence(storage=config, available=", ".join(available_stores()))
    kwargs = dict(config)
    storage = kwargs.pop("storage", "memory")
    if isinstance(storage, PersistenceDriverBase):
        if kwargs:
            raise exc.InvalidPersistence(
                f"a store instance takes no further options: {', '.join(sorted(kwargs))}",
                storage=storage, available=", ".join(available_stores()))
        return storage
    if isinstance(storage, type) and issubclass(storage, PersistenceDriverBase):
        cls = storage
    elif isinstance(storage, str) and storage:
        cls = _load_plugin(storage)
    else:
        raise exc.InvalidPersistence(storage=storage, available=", ".join(available_stores()))
    try:
        return cls(**kwargs)
    except TypeError as e:
        raise exc.InvalidPersistence(f"store {storage!r} rejected its options: {e}",
                                     storage=storage,
                                     available=", ".join(available_stores())) from e


def _not_found(reason: str | None, name: object, available: str) -> exc.InvalidPersistence:
    return exc.InvalidPersistence(reason, storage=name, available=available)


def _load_plugin(name: str) -> type[PersistenceDriverBase]:
    return plugins.load_class(NAMESPACE, name, base=PersistenceDriverBase,
                              error=_not_found)
