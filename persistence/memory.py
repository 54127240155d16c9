"""``memory``: a store that lives and dies with its instance.

Each instance has its own tables (no class-level dicts shared between instances),
guarded by a lock, with the same versioned compare-and-set rules as the SQL stores.
Rows are kept as copies, so objects handed out are independent of the table.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from volumelib import exceptions as exc
from volumelib.persistence.base import Kind, PersistenceDriverBase, name_matches
from volumelib.versioned import plain

__all__ = ["MemoryPersistence"]


class MemoryPersistence(PersistenceDriverBase):
    """In-process store. Fast, not durable, not shared between processes."""

    name = "memory"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._lock = threading.RLock()
        self._tables: dict[str, dict[str, tuple[int, dict[str, Any]]]] = {}

    def _table(self, kind: Kind) -> dict[str, tuple[int, dict[str, Any]]]:
        return self._tables.setdefault(kind.name, {})

    @staticmethod
    def _matches(values: Mapping[str, Any], filters: Mapping[str, Any]) -> bool:
        return all(values.get(k) == v for k, v in filters.items())

    def _fetch(self, kind: Kind, filters: Mapping[str, Any]
               ) -> list[tuple[int, dict[str, Any]]]:
        with self._lock:
            table = self._table(kind)
            key = filters.get(kind.key)
            rows = ([table[key]] if key in table else []) if key is not None \
                else list(table.values())
            return [(v, plain(vals)) for v, vals in rows
                    if not vals.get("deleted") and self._matches(vals, filters)]

    def _insert(self, kind: Kind, values: Mapping[str, Any]) -> int:
        key = values[kind.key]
        with self._lock:
            table = self._table(kind)
            if key in table:
                raise exc.AlreadyExists(resource=kind.class_name, id=key)
            table[key] = (1, plain(dict(values)))
        return 1

    def _update(self, kind: Kind, key: str, expected_version: int,
                changes: Mapping[str, Any]) -> int:
        with self._lock:
            table = self._table(kind)
            current = table.get(key)
            if current is None or current[0] != expected_version:
                raise exc.ConcurrentModification(resource=kind.class_name, id=key,
                                                 expected=expected_version)
            values = dict(current[1])
            values.update(plain(dict(changes)))
            table[key] = (expected_version + 1, values)
        return expected_version + 1

    def _remove(self, kind: Kind, key: str) -> None:
        with self._lock:
            self._table(kind).pop(key, None)

    def _remove_if(self, kind: Kind, key: str, expected_version: int) -> bool:
        with self._lock:
            table = self._table(kind)
            current = table.get(key)
            if current is None:
                return False
            if current[0] != expected_version:
                raise exc.ConcurrentModification(resource=kind.class_name, id=key,
                                                 expected=expected_version)
            del table[key]
            return True

    def _page(self, kind: Kind, *, marker: str | None, limit: int | None,
              filters: Mapping[str, Any], metadata: Mapping[str, str],
              name_match: tuple[tuple[str, str], ...] = ()
              ) -> list[tuple[int, dict[str, Any]]]:
        with self._lock:
            table = self._table(kind)
            rows = sorted((r for r in table.values()
                           if not r[1].get("deleted") and self._matches(r[1], filters)
                           and all((r[1].get("metadata") or {}).get(k) == v
                                   for k, v in metadata.items())
                           and name_matches(r[1].get("name"), name_match)),
                          key=lambda r: (r[1]["created_at"], r[1]["id"]))
            if marker is not None and marker in table:
                mark = table[marker][1]
                pos = (mark["created_at"], mark["id"])
                rows = [r for r in rows if (r[1]["created_at"], r[1]["id"]) > pos]
            rows = rows if limit is None else rows[:limit]
            return [(v, plain(vals)) for v, vals in rows]

    def __repr__(self) -> str:
        return f"<MemoryPersistence {id(self):#x}>"
