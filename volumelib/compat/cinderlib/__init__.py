"""cinderlib 5.x public surface over volumelib (``import volumelib.compat.cinderlib as cinderlib``).

A thin adapter: every call is served by volumelib's own objects, drivers and stores.
cinderlib scripts run unmodified when they use drivers volumelib has natively
(``cinder.volume.drivers.rbd.RBDDriver`` -> ``rbd``) or volumelib driver names
(``file``, ``fake``). See ``docs/cinderlib.md`` for the mapping and what differs.

::

    import volumelib.compat.cinderlib as cinderlib

    cinderlib.setup(persistence_config={"storage": "db",
                                        "connection": "sqlite:///cl.sqlite"})
    lvm = cinderlib.Backend(volume_backend_name="local", volume_driver="file",
                            file_root="/var/lib/volumelib/local")
    vol = lvm.create_volume(1, name="data")
    attach = vol.attach()
    vol.detach()

``volumelib.compat.install_cinderlib_alias()`` makes ``import cinderlib`` resolve to
this module when the real cinderlib is not installed (off by default);
``python -m volumelib.compat.cinderlib_dist install`` does it for a whole virtualenv,
as programs built on cinderlib (Ember-CSI) need. Where those programs reach past
cinderlib's documented surface, the layer keeps cinderlib's behaviour as
compatibility shims: see :mod:`.lenient` (input cinderlib accepted), :mod:`.extras`
(OVO fields volumelib has not) and :mod:`.connection`.

Importing this module has no side effects; ``setup()`` (or the first ``Backend``)
does the set-up.
"""

from __future__ import annotations

from typing import Any

import volumelib as _volumelib
from volumelib import runtime as _runtime
from volumelib._version import __version__
from volumelib.compat.cinderlib import exception
from volumelib.compat.cinderlib.backend import (
    DEFAULT_PROJECT_ID,
    DEFAULT_USER_ID,
    Backend,
    setup,
)
from volumelib.compat.cinderlib.objects import Connection, Snapshot, Volume
from volumelib.compat.cinderlib.serialization import dump, dumps, json, jsons, load
from volumelib.objects import KeyValue

__all__ = [
    "__version__",
    "setup",
    "Backend",
    "Volume",
    "Snapshot",
    "Connection",
    "KeyValue",
    "load",
    "json",
    "jsons",
    "dump",
    "dumps",
    "get_connector_properties",
    "list_supported_drivers",
    "exception",
    "DEFAULT_PROJECT_ID",
    "DEFAULT_USER_ID",
]


def get_connector_properties(root_helper: str | None = None, my_ip: str | None = None,
                             multipath: bool = False, enforce_multipath: bool = False,
                             host: str | None = None, execute: Any = None
                             ) -> dict[str, Any]:
    """This host's os-brick connector properties, with os-brick's signature.

    ``root_helper`` and ``execute`` are accepted and unused (volumelib runs os-brick
    in-process); ``host`` defaults to the ``host`` given to ``setup``.
    """
    props = _volumelib.get_connector_properties(multipath, enforce_multipath, my_ip)
    props["host"] = host or _runtime.settings().host
    return props


list_supported_drivers = Backend.list_supported_drivers
