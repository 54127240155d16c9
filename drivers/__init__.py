"""Volume drivers, one module (or sub-package) per backend, and how they are found.

Drivers are looked up by stevedore entry point in the ``volumelib.drivers`` namespace
(``file``, ``fake``, ``rbd``...) or by a dotted class path
(``mypkg.drivers.MyDriver``). A path in Cinder's package
(``cinder.volume.drivers.rbd.RBDDriver``), or to any other Cinder driver class (a
vendor's out-of-tree one), runs that unmodified Cinder driver through the adapter
:mod:`volumelib.drivers.cinder` (extra ``volumelib[cinder]``). Nothing is
imported until a driver is asked for.
"""

from __future__ import annotations

import importlib
import logging
from importlib import metadata
from typing import TYPE_CHECKING

from volumelib import exceptions as exc

if TYPE_CHECKING:
    from volumelib.drivers.base import VolumeDriver

__all__ = ["NAMESPACE", "available_drivers", "load_driver_class"]

LOG = logging.getLogger(__name__)

NAMESPACE = "volumelib.drivers"

#: Drivers we know of that need something extra to load, and what.
KNOWN_OPTIONAL = {
    "rbd": "the Ceph bindings python3-rados and python3-rbd (Debian) linked into the venv",
    "cinder.*": "OpenStack Cinder: pip install 'volumelib[cinder]'",
}


def available_drivers() -> list[str]:
    """Names registered in the ``volumelib.drivers`` entry-point namespace."""
    return sorted({ep.name for ep in metadata.entry_points(group=NAMESPACE)})


def load_driver_class(name: str) -> type[VolumeDriver]:
    """Return the driver class for an entry-point name or a dotted class path.

    Raises:
        DriverNotFound: no such entry point or class, listing the available names;
            the import error of a known optional driver says what to install.
    """
    from volumelib.drivers.base import VolumeDriver

    if not isinstance(name, str) or not name:
        raise exc.DriverNotFound(driver=name, available=", ".join(available_drivers()))
    from volumelib.drivers.cinder import loading as cinder_loading
    if cinder_loading.is_cinder_path(name):
        cls = cinder_loading.driver_class(name)
    elif "." in name or ":" in name:
        cls = _load_dotted(name)
        if cinder_loading.is_cinder_class(cls):  # an out-of-tree Cinder driver
            cls = cinder_loading.driver_class(name.replace(":", "."))
    else:
        cls = _load_entry_point(name)
    if not (isinstance(cls, type) and issubclass(cls, VolumeDriver)):
        raise exc.DriverNotFound(
            f"{name!r} is not a volumelib.drivers.base.VolumeDriver subclass",
            driver=name, available=", ".join(available_drivers()))
    return cls


def _load_entry_point(name: str) -> type:
    from stevedore import driver as sd_driver
    from stevedore.exception import NoMatches

    def _fail(manager: object, entrypoint: object, error: Exception) -> None:
        raise error

    try:
        mgr = sd_driver.DriverManager(namespace=NAMESPACE, name=name, invoke_on_load=False,
                                      on_load_failure_callback=_fail)
    except NoMatches:
        raise exc.DriverNotFound(driver=name,
                                 available=", ".join(available_drivers()) or "none") from None
    except ImportError as e:
        hint = KNOWN_OPTIONAL.get(name)
        reason = f"driver {name!r} could not be imported: {e}"
        if hint:
            reason += f"; it needs {hint}"
        raise exc.DriverNotFound(reason, driver=name,
                                 available=", ".join(available_drivers())) from e
    return mgr.driver


def _load_dotted(path: str) -> type:
    module_name, sep, attr = path.replace(":", ".").rpartition(".")
    try:
        module = importlib.import_module(module_name)
        return getattr(module, attr)
    except (ImportError, AttributeError, ValueError) as e:
        raise exc.DriverNotFound(f"driver class {path!r} could not be loaded: {e}; "
                                 f"entry points available: {', '.join(available_drivers())}",
                                 driver=path, available=", ".join(available_drivers())) from e
