"""Which volumelib driver serves a cinderlib ``volume_driver``, and with which options.

Policy (documented in ``docs/cinderlib.md``):

* A Cinder driver path with a native volumelib equivalent (:data:`CINDER_DRIVERS`) is
  served by that driver with the same option names; a few Cinder spellings are
  renamed (:data:`OPTION_ALIASES`, e.g. ``rbd_keyring_conf`` -> ``rbd_keyring`` when
  the driver does not declare the Cinder name itself). The switch
  ``use_cinder_driver=True`` (a ``Backend`` keyword, also in YAML) or the environment
  variable ``VOLUMELIB_USE_CINDER_DRIVERS=1`` runs Cinder's own driver instead.
* Any other ``cinder.*`` path runs that unmodified Cinder driver through
  :mod:`volumelib.drivers.cinder` (extra ``volumelib[cinder]``), which checks its
  options itself (Cinder's names, Cinder's types).
* volumelib driver names (``file``, ``fake``, ``rbd``) and dotted class paths are
  accepted as they are.
* Options given to ``Backend(...)``: those the driver declares pass through (typed and
  validated by the driver); those in :data:`IGNORED_CINDER_OPTIONS` (Cinder options
  that make no difference outside Cinder) are dropped with a DEBUG log; anything else
  raises ``UnknownOption`` naming it.
* Defaults given to ``setup(**kwargs)`` (cinderlib's ``[DEFAULT]`` options) reach a
  backend only when its driver declares them; the others are dropped with a DEBUG log.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from volumelib import exceptions as exc
from volumelib.drivers import available_drivers, load_driver_class
from volumelib.drivers.base import COMMON_OPTIONS
from volumelib.drivers.cinder import loading as cinder_loading

__all__ = ["CINDER_DRIVERS", "IGNORED_CINDER_OPTIONS", "OPTION_ALIASES", "resolve",
           "list_supported_drivers", "USE_CINDER_ENV", "prefers_cinder"]

LOG = logging.getLogger(__name__)

#: Cinder driver class paths served by a native volumelib driver (entry-point name).
CINDER_DRIVERS: dict[str, str] = {
    "cinder.volume.drivers.rbd.RBDDriver": "rbd",
}

#: Cinder option name -> volumelib option name, per volumelib driver; applied only
#: when the driver does not declare the Cinder name itself.
OPTION_ALIASES: dict[str, dict[str, str]] = {
    "rbd": {"rbd_keyring_conf": "rbd_keyring"},
}

#: Cinder options accepted and dropped (when the driver does not declare them),
#: because outside a Cinder service they change nothing volumelib does.
IGNORED_CINDER_OPTIONS: frozenset[str] = frozenset({
    # How Cinder exports a volume; volumelib drivers choose their own export.
    "target_helper", "target_protocol",
    # cinderlib read these for local attach; volumelib attaches with os-brick defaults.
    "use_multipath_for_image_xfer", "enforce_multipath_for_image_xfer",
    # Cinder's service placement and image cache; volumelib has neither in a Backend.
    "backend_availability_zone", "backend_host", "image_volume_cache_enabled",
    "image_volume_cache_max_size_gb", "image_volume_cache_max_count",
    # Reported to Nova / the scheduler only.
    "report_discard_supported", "rbd_secret_uuid", "rbd_exclusive_cinder_pool",
})


def _volumelib_drivers() -> list[str]:
    return available_drivers()


#: Environment variable: ``1`` (or ``true``) runs Cinder's own driver for every Cinder
#: path, also those with a native equivalent; ``0`` or unset: native where there is one.
USE_CINDER_ENV = "VOLUMELIB_USE_CINDER_DRIVERS"


def prefers_cinder(use_cinder_driver: Any = None) -> bool:
    """Whether a Cinder path with a native equivalent runs Cinder's driver instead:
    the backend's ``use_cinder_driver`` if given, else :data:`USE_CINDER_ENV`.

    Raises:
        InvalidConfig: ``use_cinder_driver`` is not a boolean.
    """
    if use_cinder_driver is None:
        return os.environ.get(USE_CINDER_ENV, "").strip().lower() in ("1", "true", "yes")
    if isinstance(use_cinder_driver, str) and \
            use_cinder_driver.strip().lower() in ("true", "false", "1", "0"):
        return use_cinder_driver.strip().lower() in ("true", "1")
    if not isinstance(use_cinder_driver, bool):
        raise exc.InvalidConfig(reason=f"use_cinder_driver must be true or false, "
                                       f"not {use_cinder_driver!r}")
    return use_cinder_driver


def _is_cinder_adapter(cls: Any) -> bool:
    return bool(getattr(cls, "cinder_path", ""))


def resolve(volume_driver: Any, use_cinder_driver: Any = None) -> tuple[str | type, str]:
    """``(what to give volumelib.Backend, the volumelib driver name for aliases)``.

    Raises:
        DriverNotFound: no driver given; Cinder is not installed for a Cinder path
            that needs it (naming ``volumelib[cinder]``).
    """
    if isinstance(volume_driver, type):
        return volume_driver, getattr(volume_driver, "name", "")
    if not isinstance(volume_driver, str) or not volume_driver:
        raise exc.DriverNotFound(
            f"cinderlib Backend needs volume_driver (a Cinder driver path such as "
            f"cinder.volume.drivers.rbd.RBDDriver, or a volumelib driver name), "
            f"got {volume_driver!r}",
            driver=volume_driver, available=", ".join(_volumelib_drivers()))
    if volume_driver in CINDER_DRIVERS and not prefers_cinder(use_cinder_driver):
        name = CINDER_DRIVERS[volume_driver]
        LOG.debug("Cinder driver %s is served by volumelib's %s driver", volume_driver, name)
        return name, name
    if volume_driver.startswith("cinder."):
        LOG.debug("Cinder driver %s runs through volumelib.drivers.cinder", volume_driver)
        return volume_driver, ""
    short = volume_driver if "." not in volume_driver and ":" not in volume_driver else ""
    return volume_driver, short


def declared_options(cls: type) -> set[str]:
    """The option names driver class ``cls`` accepts (its own and the common ones)."""
    return {o.name for o in COMMON_OPTIONS + tuple(getattr(cls, "options", ()))}


def driver_options(cls: type, alias_key: str, explicit: Mapping[str, Any],
                   defaults: Mapping[str, Any]) -> dict[str, Any]:
    """The keyword arguments for ``volumelib.Backend`` from a cinderlib config.

    Raises:
        UnknownOption: an explicit option the driver does not declare and that is not
            a known-irrelevant Cinder option (naming it and the known ones).
    """
    if _is_cinder_adapter(cls):
        return _cinder_driver_options(cls, explicit, defaults)
    known = declared_options(cls)
    aliases = {k: v for k, v in OPTION_ALIASES.get(getattr(cls, "name", alias_key) or
                                                   alias_key, {}).items() if k not in known}
    result: dict[str, Any] = {}
    for key, value in defaults.items():
        key = aliases.get(key, key)
        if key in known:
            result[key] = value
        else:
            LOG.debug("setup() default %s does not apply to driver %s; dropped",
                      key, getattr(cls, "name", cls))
    for key, value in explicit.items():
        target = aliases.get(key, key)
        if target in known:
            if target != key and key in explicit and target in explicit:
                raise exc.InvalidConfig(reason=f"both {key} and {target} given; "
                                               f"{key} is the Cinder name of {target}")
            result[target] = value
        elif key in IGNORED_CINDER_OPTIONS:
            # The value is not logged: a Cinder option may hold a secret.
            LOG.debug("Cinder option %s means nothing to volumelib's %s driver; dropped",
                      key, getattr(cls, "name", cls))
        else:
            raise exc.UnknownOption(option=key, driver=getattr(cls, "name", cls),
                                    known=", ".join(sorted(known)))
    return result


#: Option type (volumelib's, or the adapter's short name of a Cinder option's) ->
#: (the Python type of its values, oslo.config's type_name).
_OPTION_TYPES: dict[str, tuple[type, str]] = {
    "str": (str, "string value"),
    "int": (int, "integer value"),
    "float": (float, "floating point value"),
    "bool": (bool, "boolean value"),
    "list": (list, "list value"),
    "dict": (dict, "dict value"),
    "port": (int, "port value"),
    "multistr": (list, "multi valued"),
    "multi": (list, "multi valued"),
}

#: The keys of every option in ``list_supported_drivers``, volumelib's and Cinder's.
_OPTION_KEYS = ("name", "dest", "type", "default", "help", "secret", "required",
                "choices", "deprecated_for_removal", "deprecated_reason",
                "deprecated_since")


def _type_v2(option: Mapping[str, Any]) -> dict[str, Any]:
    """An option's ``type`` in cinderlib's version 2 format: ``type_class`` (the Python
    type of its values), ``type_name`` (oslo.config's wording: a Cinder option's own),
    ``choices``, and a number's ``min`` and ``max``."""
    type_class, type_name = _OPTION_TYPES.get(option["type"], (object, option["type"]))
    described: dict[str, Any] = {"type_class": type_class,
                                 "type_name": option.get("type_name") or type_name,
                                 "choices": option.get("choices")}
    if type_class in (int, float):
        described["min"] = option.get("min")
        described["max"] = option.get("max")
    return described


def _option_entry(option: Mapping[str, Any], output_version: int) -> dict[str, Any]:
    """One described option (``VolumeDriver.describe``'s, or the Cinder adapter's with
    its deprecation) in cinderlib's format: :data:`_OPTION_KEYS`; version 1 gives every
    value as a string, version 2 Python values and ``type`` as :func:`_type_v2`."""
    entry = {"name": option["name"], "dest": option["name"], "type": option["type"],
             "default": option.get("default"), "help": option.get("help", ""),
             "secret": bool(option.get("secret", False)),
             "required": bool(option.get("required", False)),
             "choices": option.get("choices"),
             "deprecated_for_removal": bool(option.get("deprecated_for_removal", False)),
             "deprecated_reason": option.get("deprecated_reason"),
             "deprecated_since": option.get("deprecated_since")}
    if output_version == 2:
        entry["type"] = _type_v2(option)
        return entry
    return {k: str(v) for k, v in entry.items()}


def _cinder_driver_options(cls: Any, explicit: Mapping[str, Any],
                           defaults: Mapping[str, Any]) -> dict[str, Any]:
    """For Cinder's own drivers: every explicit option goes to the adapter, which
    checks it against the driver's declarations (``UnknownOption`` listing them);
    ``setup()`` defaults only when the driver declares them."""
    known = cls.known_options()
    result = {k: v for k, v in defaults.items() if k in known}
    dropped = sorted(set(defaults) - known)
    if dropped:
        LOG.debug("setup() defaults %s do not apply to %s; dropped", dropped, cls.name)
    result.update(explicit)
    return result


def list_supported_drivers(output_version: int = 1) -> dict[str, dict[str, Any]]:
    """volumelib's drivers in cinderlib's format, keyed by class name, and Cinder's
    own when the extra ``volumelib[cinder]`` is installed.

    Each entry has ``class_name``, ``class_fqn`` (what to pass as ``volume_driver``),
    ``desc``, ``version``, ``supported`` (Cinder marks some of its drivers
    unsupported), ``ci_wiki_name`` and ``driver_options``; each option has the same
    keys, volumelib's and Cinder's alike: oslo.config's keys that mean something here
    (``name``, ``dest``, ``type``, ``default``, ``help``, ``secret``, ``required``,
    ``choices``, ``deprecated_for_removal``, ``deprecated_reason``,
    ``deprecated_since``). ``output_version=1`` gives every option attribute as a
    string (cinderlib's original format); ``2`` keeps Python values and gives ``type``
    as a dict, as cinderlib's version 2 did: ``type_class`` (the Python type of the
    values; cinderlib put oslo.config's type object there), ``type_name``
    (oslo.config's wording) and the type's limits.

    Raises:
        InvalidArgument: ``output_version`` is not 1 or 2.
    """
    if output_version not in (1, 2) or isinstance(output_version, bool):
        raise exc.InvalidArgument(reason=f"output_version must be 1 or 2, "
                                         f"not {output_version!r}")
    result: dict[str, dict[str, Any]] = {}
    for name in _volumelib_drivers():
        try:
            cls = load_driver_class(name)
        except exc.DriverNotFound as e:
            LOG.debug("driver %s is not loadable: %s", name, e)
            result[name] = {"class_name": name, "class_fqn": name, "desc": str(e),
                            "version": None if output_version == 2 else "None",
                            "supported": False, "ci_wiki_name": "volumelib",
                            "driver_options": []}
            continue
        described = cls.describe()
        options = [_option_entry(opt, output_version) for opt in described["options"]]
        doc = (cls.__doc__ or "").strip().splitlines()
        result[cls.__name__] = {
            "class_name": cls.__name__,
            "class_fqn": described["class"],
            "desc": doc[0] if doc else name,
            "version": described["version"],
            "supported": bool(getattr(cls, "supported", True)),
            "ci_wiki_name": "volumelib",
            "driver_options": options,
        }
    result.update(_cinder_supported_drivers(output_version, taken=set(result)))
    return result


def _cinder_supported_drivers(output_version: int, taken: set[str]
                              ) -> dict[str, dict[str, Any]]:
    """Cinder's own drivers (when the extra ``volumelib[cinder]`` is installed), in the
    same format: keyed by class name, or by the class path when volumelib's own driver
    has that name (``RBDDriver``); ``class_fqn`` is the Cinder path to pass as
    ``volume_driver``. Listing them imports every Cinder driver module (~2 s)."""
    try:
        drivers = cinder_loading.cinder_drivers()
    except exc.DriverNotFound as e:
        LOG.debug("Cinder's drivers are not listed: %s", e)
        return {}
    out: dict[str, dict[str, Any]] = {}
    for info in drivers:
        options = [_option_entry(opt, output_version) for opt in info["options"]]
        key = info["class_name"] if info["class_name"] not in taken else info["class_fqn"]
        out[key] = {"class_name": info["class_name"], "class_fqn": info["class_fqn"],
                    "desc": info["desc"],
                    "version": info["version"] if output_version == 2
                    else str(info["version"]),
                    "supported": bool(info["supported"]),
                    "ci_wiki_name": info["ci_wiki_name"], "driver_options": options}
    return out
