"""cinderlib's ``load``, ``json``, ``jsons``, ``dump`` and ``dumps`` over volumelib's.

An object's JSON is volumelib's (``{"class", "ovo", "backend"}``, the same keys as
cinderlib's) with ``backend`` holding the compat ``Backend.config``; a backend's is
``{"class": "Backend", "backend": config, "volumes": [...]}``. The library functions
cover every ``Backend`` of the process.
"""

from __future__ import annotations

import json as json_lib
import logging
from collections.abc import Mapping
from typing import Any

import volumelib
from volumelib import exceptions as exc
from volumelib.compat.cinderlib.backend import Backend
from volumelib.compat.cinderlib.identity import wrap
from volumelib.drivers.types import redact

__all__ = ["load", "json", "jsons", "dump", "dumps", "load_backend_data"]

LOG = logging.getLogger(__name__)


def _parse(json_src: Any) -> Any:
    if isinstance(json_src, (bytes, bytearray)):
        json_src = bytes(json_src).decode("utf-8", errors="strict")
    if isinstance(json_src, str):
        try:
            return json_lib.loads(json_src)
        except ValueError as e:
            raise exc.InvalidPayload(reason=f"not JSON: {e}") from None
    return json_src


def load(json_src: Any, save: bool = False) -> Any:
    """Objects (or backends with their volumes) from what ``json``/``dump`` made.

    Args:
        json_src: a dict, a JSON string, or a list of either.
        save: also write them to the current store (cinderlib's ``save=True``).

    Raises:
        InvalidPayload: not something this layer serialized.
        BackendNotFound: its backend is not set up here, the data does not carry its
            configuration, and ``fail_on_missing_backend`` is on.
    """
    data = _parse(json_src)
    if isinstance(data, list):
        return [load(item, save=save) for item in data]
    if not isinstance(data, Mapping):
        raise exc.InvalidPayload(reason=f"expected an object, got {type(data).__name__}")
    if data.get("class") == "Backend":
        return load_backend_data(data, save=save)
    return _load_object(data, save)


def _load_object(data: Mapping[str, Any], save: bool) -> Any:
    backend_data = data.get("backend")
    if isinstance(backend_data, Mapping):
        Backend.load_backend(backend_data)
    obj = volumelib.load(dict(data), save=save)
    if not save:
        _adopt_stored_version(obj)
    return wrap(obj)


def _adopt_stored_version(obj: Any) -> None:
    """Let an object loaded from JSON be saved over its row in the current store.

    A connection handed to a node as JSON is usually also in the shared store: the
    node's ``attach()`` must update that row, not try to insert a second one.
    """
    store = obj.persistence
    getter = {"Volume": store.get_volumes, "Snapshot": store.get_snapshots,
              "Connection": store.get_connections}.get(obj.OBJ_NAME)
    if getter is None:
        return
    found = getter(obj.id)
    if found:
        # volumelib.serialization does the same for load(save=True).
        object.__setattr__(obj, "_db_version", found[0]._db_version)
        obj._changed.update(obj.fields)
        if obj.OBJ_NAME == "Connection":
            _fill_secrets(obj, found[0])


def _fill_secrets(conn: Any, stored: Any) -> None:
    """JSON never carries secrets (an RBD keyring, CHAP passwords): when the JSON is
    the redacted form of the stored connection, use the stored values, which a
    process with access to the shared store may read anyway."""
    for field in ("connection_info", "connector"):
        mine, theirs = getattr(conn, field), getattr(stored, field)
        if theirs and mine != theirs and mine == redact(theirs):
            setattr(conn, field, theirs)


def load_backend_data(json_src: Any, save: bool = False) -> Backend | str:
    """``Backend.load``: the backend of ``Backend.json``/``dump`` data and its volumes.

    Raises:
        InvalidPayload: the data has no ``backend`` mapping.
    """
    data = _parse(json_src)
    if not isinstance(data, Mapping) or not isinstance(data.get("backend"), Mapping):
        given = data.get("backend") if isinstance(data, Mapping) else data
        raise exc.InvalidPayload(reason=f"backend data needs a 'backend' mapping, not "
                                        f"{type(given).__name__} {given!r:.60}")
    backend = Backend.load_backend(data["backend"])
    volumes = data.get("volumes") or []
    if not isinstance(volumes, list):
        raise exc.InvalidPayload(reason=f"backend 'volumes' must be a list, not "
                                        f"{type(volumes).__name__} {volumes!r:.60}")
    for item in volumes:
        load(item, save=save)
    return backend


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
