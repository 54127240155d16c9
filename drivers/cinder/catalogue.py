"""What Cinder's driver classes are: one described, and every one Cinder ships listed.

:func:`describe_class` gives a Cinder driver class as ``VolumeDriver.describe`` gives
a volumelib driver (its adapter's ``describe()``); :func:`cinder_drivers` lists every
volume driver in Cinder's package with its options, for cinderlib's
``list_supported_drivers``. Below the adapter module, which describes itself with it.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import pkgutil
from typing import Any

from volumelib.drivers.cinder import config, extra, quirks

__all__ = ["describe_class", "cinder_drivers"]

LOG = logging.getLogger(__name__)


def describe_class(cls: type | None, path: str) -> dict[str, Any]:
    """``name``, ``class``, ``vendor_name``, ``version``, ``storage_protocol`` and the
    ``options`` of a Cinder driver class, as ``VolumeDriver.describe`` gives them.

    Each option has ``Option.describe``'s keys (``name``, ``type`` as a short name
    from :func:`~volumelib.drivers.cinder.config.option_type`, ``default``, ``help``,
    ``secret``, ``required``, ``choices``) and what oslo.config says beyond them:
    ``type_name`` (oslo.config's wording, ``"integer value"``), ``min`` and ``max``
    (a number's bounds, else ``None``), ``deprecated_for_removal``,
    ``deprecated_reason`` and ``deprecated_since``.
    """
    options = []
    opts = []
    if cls is not None:
        try:
            opts = list(cls.get_driver_options())
        except Exception as e:  # noqa: BLE001 - a driver's own listing
            LOG.debug("%s.get_driver_options() failed: %s", path, e)
    for opt in opts:
        secret = bool(getattr(opt, "secret", False))
        kind = getattr(opt, "type", None)
        options.append({"name": opt.dest, "type": config.option_type(opt),
                        "default": None if secret else opt.default,
                        "help": " ".join(str(opt.help or "").split()), "secret": secret,
                        "required": bool(getattr(opt, "required", False)),
                        "choices": list(kind.choices) if getattr(kind, "choices", None)
                        else None,
                        "type_name": getattr(kind, "type_name", None),
                        "min": getattr(kind, "min", None), "max": getattr(kind, "max", None),
                        "deprecated_for_removal": bool(getattr(
                            opt, "deprecated_for_removal", False)),
                        "deprecated_reason": getattr(opt, "deprecated_reason", None),
                        "deprecated_since": getattr(opt, "deprecated_since", None)})
    if cls is not None:
        for name, text in quirks.attribute_options(cls).items():
            options.append({"name": name, "type": "str", "default": None, "help": text,
                            "secret": False, "required": False, "choices": None,
                            "type_name": "string value", "min": None, "max": None,
                            "deprecated_for_removal": False, "deprecated_reason": None,
                            "deprecated_since": None})
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
    extra.import_cinder("cinder.interface")
    # Cinder's driver registry and its package of drivers (Cinder stays lazy).
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
