"""cinderlib's ``load``, ``json``, ``jsons``, ``dump`` and ``dumps`` over volumelib's.

An object's JSON is volumelib's (``{"class", "ovo", "backend"}``, the same keys as
cinderlib's) with ``backend`` holding the compat ``Backend.config``; a backend's is
``{"class": "Backend", "backend": config, "volumes": [...]}``. The library functions
cover every ``Backend`` of the process.

:func:`load` and :func:`load_backend_data` are written in :mod:`.backend`, beside
``Backend``, and re-exported here: loading an object brings up its backend from the
configuration its JSON carries, and ``Backend.load`` loads a backend's volumes, so
the two need each other. That puts them below the compat objects, whose ``load``
class methods use them too.
"""

from __future__ import annotations

import json as json_lib
import logging
from typing import Any

from volumelib.compat.cinderlib.backend import Backend, load, load_backend_data

__all__ = ["load", "json", "jsons", "dump", "dumps", "load_backend_data"]

LOG = logging.getLogger(__name__)


def json() -> list[dict[str, Any]]:
    """Every backend of the process with its volumes (``Backend.json`` each)."""
    return [b.json for b in list(Backend.backends.values())]


def jsons() -> str:
    """``cinderlib.jsons()``: :func:`json` as a compact string."""
    return json_lib.dumps(json(), separators=(",", ":"))


def dump() -> list[dict[str, Any]]:
    """Like :func:`json`, with every volume's snapshots and connections."""
    return [b.dump for b in list(Backend.backends.values())]


def dumps() -> str:
    """``cinderlib.dumps()``: :func:`dump` as a compact string."""
    return json_lib.dumps(dump(), separators=(",", ":"))
