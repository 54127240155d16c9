"""Finding the Cinder driver class behind a ``volume_driver``, and its adapter class.

``volume_driver`` may be a Cinder class path (``cinder.volume.drivers.rbd.RBDDriver``),
one of Cinder's deprecated paths that its volume manager still maps to the new one
(``cinder.volume.manager.MAPPING``; cinderlib went through the same manager code),
or the path of a Cinder driver class outside Cinder's package (a vendor's
out-of-tree driver). Nothing here runs at ``import volumelib``; Cinder is imported on first use.

The top of :mod:`volumelib.drivers.cinder`, and its light side: ``volumelib.drivers``
imports this module with ``import volumelib``. The adapter module
(:mod:`~volumelib.drivers.cinder.driver`) and everything below it (oslo.config,
SQLAlchemy, Cinder's objects) load through one lazy import, :func:`_adapter`, after
Cinder itself was imported.
"""

from __future__ import annotations

import importlib
import logging
import threading
from types import ModuleType
from typing import Any

from volumelib import exceptions as exc
from volumelib.drivers.cinder import extra

__all__ = ["is_cinder_path", "is_cinder_class", "driver_class", "cinder_drivers"]

LOG = logging.getLogger(__name__)

_classes: dict[str, type] = {}
_lock = threading.Lock()


def is_cinder_path(name: Any) -> bool:
    """Whether ``name`` names a class in Cinder's package."""
    return isinstance(name, str) and name.startswith("cinder.") and name.count(".") >= 2


def is_cinder_class(cls: Any) -> bool:
    """Whether ``cls`` is a Cinder volume driver class (without importing Cinder: a
    class that is one was imported with it)."""
    return isinstance(cls, type) and any(
        c.__module__ == "cinder.volume.driver" and c.__name__ == "BaseVD"
        for c in cls.__mro__)


def _import_class(path: str) -> type | None:
    module_name, _, attr = path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        if e.name and (module_name == e.name or module_name.startswith(e.name + ".")):
            return None  # the module itself is missing, not one of its imports
        raise
    return getattr(module, attr, None)


def driver_class(path: str) -> type:
    """The :class:`CinderDriver` subclass running the Cinder class at ``path``.

    Raises:
        DriverNotFound: Cinder is not installed (names the extra ``volumelib[cinder]``),
            no such class, or it is not a Cinder volume driver.
    """
    with _lock:
        if path in _classes:
            return _classes[path]
        extra.import_cinder(path)
        # Cinder's driver base: imported just above by extra.import_cinder.
        from cinder.volume import driver as cinder_driver
        try:
            cls = _import_class(path)
            real = path
            if cls is None:
                # Cinder's manager holds its map of deprecated driver paths.
                from cinder.volume import manager
                real = manager.MAPPING.get(path, path)
                cls = _import_class(real) if real != path else None
                if cls is not None:
                    LOG.warning("Cinder driver path %s is deprecated; use %s", path, real)
        except Exception as e:  # noqa: BLE001 - a driver module failing to import
            raise exc.DriverNotFound(
                f"Cinder driver {path!r} could not be imported: {type(e).__name__}: {e}",
                driver=path, available="Cinder's drivers (see "
                                       "volumelib.compat.cinderlib.list_supported_drivers)"
            ) from e
        if not (isinstance(cls, type) and issubclass(cls, cinder_driver.BaseVD)):
            raise exc.DriverNotFound(
                f"{path!r} is not a Cinder volume driver class (a subclass of "
                f"cinder.volume.driver.BaseVD)", driver=path,
                available="Cinder's drivers (see "
                          "volumelib.compat.cinderlib.list_supported_drivers)")
        base = _adapter().CinderDriver
        adapter = type(f"Cinder{cls.__name__}", (base,), {
            "__module__": base.__module__,
            "__doc__": f"volumelib's adapter over Cinder's {real}.",
            "name": path, "cinder_path": real, "cinder_class": cls,
            "vendor_name": "OpenStack Cinder",
            "version": str(getattr(cls, "VERSION", "unknown")),
            "storage_protocol": str(getattr(cls, "STORAGE_PROTOCOL", "unknown")),
        })
        _classes[path] = adapter
        return adapter


def cinder_drivers() -> list[dict[str, Any]]:
    """Every volume driver Cinder ships, with its options
    (:func:`volumelib.drivers.cinder.catalogue.cinder_drivers`; imports every driver
    module, several seconds).

    Raises:
        DriverNotFound: Cinder is not installed (names the extra ``volumelib[cinder]``).
    """
    extra.import_cinder("cinder.interface")
    return _adapter().CinderDriver.cinder_drivers()


def _adapter() -> ModuleType:
    """The adapter module, once Cinder imported (:func:`extra.import_cinder`)."""
    # The Cinder adapter (with oslo.config, SQLAlchemy and Cinder's objects) loads
    # with the first Cinder driver, never at import volumelib.
    from volumelib.drivers.cinder import driver
    return driver
