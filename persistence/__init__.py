"""Persistence: where volumelib keeps the metadata of its objects.

Stores are plugins in the ``volumelib.persistence.storage`` entry-point namespace:
``memory``, ``dbms`` (alias ``db``) and ``memory_dbms`` (alias ``memory_db``) ship
with volumelib. :func:`setup` turns a configuration into a store.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from importlib import metadata
from typing import Any

from volumelib import exceptions as exc

__all__ = ["setup", "available_stores", "NAMESPACE", "PersistenceDriverBase"]

LOG = logging.getLogger(__name__)

NAMESPACE = "volumelib.persistence.storage"


def available_stores() -> list[str]:
    """Names registered in the ``volumelib.persistence.storage`` namespace."""
    return sorted({ep.name for ep in metadata.entry_points(group=NAMESPACE)})


def __getattr__(name: str) -> Any:
    # The base class is re-exported lazily so that importing this package stays cheap.
    if name == "PersistenceDriverBase":
        from volumelib.persistence.base import PersistenceDriverBase
        return PersistenceDriverBase
    raise AttributeError(name)


def setup(config: Any = None) -> Any:
    """Build a store from a configuration.

    Args:
        config: ``None`` (a new memory store); a store instance; or a mapping whose
            ``"storage"`` is a plugin name, a ``PersistenceDriverBase`` subclass
            (built with the mapping's other keys) or an instance.

    Raises:
        InvalidPersistence: anything else, naming the available plugins.
    """
    from volumelib.persistence.base import PersistenceDriverBase

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


def _load_plugin(name: str) -> type:
    from stevedore import driver as sd_driver
    from stevedore.exception import NoMatches

    from volumelib.persistence.base import PersistenceDriverBase

    def _fail(manager: object, entrypoint: object, error: Exception) -> None:
        raise error

    try:
        cls = sd_driver.DriverManager(namespace=NAMESPACE, name=name, invoke_on_load=False,
                                      on_load_failure_callback=_fail).driver
    except NoMatches:
        raise exc.InvalidPersistence(storage=name,
                                     available=", ".join(available_stores())) from None
    except ImportError as e:
        raise exc.InvalidPersistence(f"store {name!r} could not be imported: {e}",
                                     storage=name,
                                     available=", ".join(available_stores())) from e
    if not (isinstance(cls, type) and issubclass(cls, PersistenceDriverBase)):
        raise exc.InvalidPersistence(f"plugin {name!r} is not a PersistenceDriverBase",
                                     storage=name, available=", ".join(available_stores()))
    return cls
