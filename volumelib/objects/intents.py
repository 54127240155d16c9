"""Intent records of the operations that span two places: a migration (two backends)
and a manage (a storage object and a new record).

A volume's own row says *that* it is migrating (``status == "migrating"``); what
``gc()`` needs to finish or undo it (the other backend, the source's provider fields,
the reference being adopted) is written first, as a JSON key-value:

* ``volumelib.migration:<volume id>``: ``source``, ``target`` (backend names),
  ``source_provider`` (the source's ``provider_*`` fields), ``target_preexisted``,
  ``retype`` (the type the volume gets with the move, or ``None``), ``host``, ``started_at``;
* ``volumelib.manage:volume:<id>`` / ``volumelib.manage:snapshot:<id>``: ``reference``
  and ``backend``.

Key-values live in every store without a schema change, and are read by key.
"""

from __future__ import annotations

import datetime
import json
import logging
from typing import Any

from volumelib import exceptions as exc
from volumelib.persistence.base import PersistenceDriverBase
from volumelib.records.key_value import KeyValue

__all__ = ["MIGRATION_PREFIX", "MANAGE_PREFIX", "migration_key", "manage_key", "load",
           "save", "drop", "find", "now"]

LOG = logging.getLogger(__name__)

MIGRATION_PREFIX = "volumelib.migration:"
MANAGE_PREFIX = "volumelib.manage:"


def migration_key(volume_id: str) -> str:
    return f"{MIGRATION_PREFIX}{volume_id}"


def manage_key(kind: str, object_id: str) -> str:
    return f"{MANAGE_PREFIX}{kind}:{object_id}"


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat()


def load(store: PersistenceDriverBase, key: str) -> dict[str, Any] | None:
    """The record stored under ``key`` (``None`` when there is none)."""
    found = store.get_key_values(key=key)
    if not found or not found[0].value:
        return None
    try:
        data = json.loads(found[0].value)
    except ValueError as e:
        raise exc.PersistenceError(reason=f"key-value {key} is not JSON: {e}") from e
    return data if isinstance(data, dict) else None


def save(store: PersistenceDriverBase, key: str, record: dict[str, Any]) -> None:
    """Write (or overwrite) the record under ``key``."""
    store.set_key_value(KeyValue(key=key, value=json.dumps(record, sort_keys=True)))


def drop(store: PersistenceDriverBase, key: str) -> None:
    """Delete the record under ``key`` (missing: no-op)."""
    store.delete_key_value(key)


def find(store: PersistenceDriverBase, prefix: str) -> dict[str, dict[str, Any]]:
    """Every record whose key starts with ``prefix``, by key (unreadable ones are
    logged and left out)."""
    out: dict[str, dict[str, Any]] = {}
    for kv in store.get_key_values():
        if not kv.key.startswith(prefix):
            continue
        try:
            data = json.loads(kv.value or "null")
        except ValueError:
            LOG.warning("ignoring key-value %s: not JSON", kv.key)
            continue
        if isinstance(data, dict):
            out[kv.key] = data
    return out
