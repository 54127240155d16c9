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

import logging

from volumelib import exceptions as exc
from volumelib import plugins
from volumelib.drivers.base import VolumeDriver
from volumelib.drivers.cinder import loading as cinder_loading

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
    return plugins.available(NAMESPACE)


def _not_found(reason: str | None, name: object, available: str) -> exc.DriverNotFound:
    return exc.DriverNotFound(reason, driver=name, available=available)


def load_driver_class(name: str) -> type[VolumeDriver]:
    """Return the driver class for an entry-point name or a dotted class path.

    Raises:
        DriverNotFound: no such entry point or class, listing the available names;
            the import error of a known optional driver says what to install.
    """
    if cinder_loading.is_cinder_path(name):
        return cinder_loading.driver_class(name)
    return plugins.load_class(NAMESPACE, name, base=VolumeDriver, error=_not_found,
                              hints=KNOWN_OPTIONAL, adapt=_cinder_adapter)


def _cinder_adapter(name: str, cls: object) -> object:
    """An out-of-tree Cinder driver class found by its path runs through the adapter."""
    if cinder_loading.is_cinder_class(cls):
        return cinder_loading.driver_class(name.replace(":", "."))
    return cls
