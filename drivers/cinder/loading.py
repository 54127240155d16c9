"""Finding the Cinder driver class behind a ``volume_driver`` and describing it.

``volume_driver`` may be a Cinder class path (``cinder.volume.drivers.rbd.RBDDriver``),
one of Cinder's deprecated paths that its volume manager still maps to the new one
(``cinder.volume.manager.MAPPING``; cinderlib went through the same manager code),
or the path of a Cinder driver class outside Cinder's package (a vendor's
out-of-tree driver). Nothing here runs at ``import volumelib``; Cinder is imported on first use.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import threading
from typing import Any

from volumelib import exceptions as exc
from volumelib.drivers.cinder import runtime

__all__ = ["is_cinder_path", "is_cinder_class", "driver_class", "describe_class",
           "cinder_drivers"]

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
        runtime.import_cinder(path)
        from cinder.volume import driver as cinder_driver
        try:
            cls = _import_class(path)
            real = path
            if cls is None:
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
        from volumelib.drivers.cinder.driver import CinderDriver
        adapter = type(f"Cinder{cls.__name__}", (CinderDriver,), {
            "__module__": CinderDriver.__module__,
            "__doc__": f"volumelib's adapter over Cinder's {real}.",
            "name": path, "cinder_path": real, "cinder_class": cls,
            "vendor_name": "OpenStack Cinder",
            "version": str(getattr(cls, "VERSION", "unknown")),
            "storage_protocol": str(getattr(cls, "STORAGE_PROTOCOL", "unknown")),
        })
        _classes[path] = adapter
        return adapter


def describe_class(cls: type | None, path: str) -> dict[str, Any]:
    """``name``, ``class``, ``vendor_name``, ``version``, ``storage_protocol`` and the
    ``options`` (``name``, ``type``, ``default``, ``help``, ``secret``...) of a Cinder
    driver class, as ``VolumeDriver.describe`` gives them."""
    from volumelib.drivers.cinder import config, quirks
    options = []
    opts = []
    if cls is not None:
        try:
            opts = list(cls.get_driver_options())
        except Exception as e:  # noqa: BLE001 - a driver's own listing
            LOG.debug("%s.get_driver_options() failed: %s", path, e)
    for opt in opts:
        secret = bool(getattr(opt, "secret", False))
        options.append({"name": opt.dest, "type": config.option_type(opt),
                        "default": None if secret else opt.default,
                        "help": " ".join(str(opt.help or "").split()), "secret": secret,
                        "required": bool(getattr(opt, "required", False)),
                        "choices": list(opt.type.choices) if getattr(
                            getattr(opt, "type", None), "choices", None) else None})
    if cls is not None:
        for name, text in quirks.attribute_options(cls).items():
            options.append({"name": name, "type": "str", "default": None, "help": text,
                            "secret": False, "required": False, "choices": None})
    return {"name": path, "class": path,
            "vendor_name": getattr(cls, "VENDOR_NAME", None) or "OpenStack Cinder",
            "version": str(getattr(cls, "VERSION", "unknown")),
            "storage_protocol": str(getattr(cls, "STORAGE_PROTOCOL", "unknown")),
            "options": options}


def cinder_drivers() -> list[dict[str, Any]]:
    """Every volume driver Cinder ships (``cinder.interface.util.get_volume_drivers``):
    ``class_name``, ``class_fqn``, ``desc``, ``version``, ``supported``,
    ``ci_wiki_name`` and ``describe_class``'s ``options``. Imports every driver module
    (several seconds)."""
    runtime.import_cinder("cinder.interface")
    import pkgutil

    import cinder.volume.drivers
    from cinder import interface
    from cinder.interface import util
    # Cinder's own util.get_volume_drivers() walks a path relative to the current
    # directory; import every driver module by name instead (some need packages of
    # their vendor and fail: they are left out, as Cinder leaves them out).
    for mod in pkgutil.walk_packages(cinder.volume.drivers.__path__,
                                     "cinder.volume.drivers."):
        try:
            importlib.import_module(mod.name)
        except Exception as e:  # noqa: BLE001 - a vendor module that cannot load here
            LOG.debug("Cinder driver module %s does not import: %s", mod.name, e)
    out = []
    for info in (util.DriverInfo(cls) for cls in interface._volume_register):
        doc = inspect.cleandoc(info.desc or "").splitlines()
        out.append({"class_name": info.class_name, "class_fqn": info.class_fqn,
                    "desc": doc[0] if doc else info.class_name,
                    "version": info.version, "supported": info.supported,
                    "ci_wiki_name": info.ci_wiki_name,
                    "options": describe_class(info.cls, info.class_fqn)["options"]})
    return out
