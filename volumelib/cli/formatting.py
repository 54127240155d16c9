"""How the CLI shows things: objects and mappings as output columns (tables, JSON,
YAML through cliff's formatters), listing order, and progress bars."""

from __future__ import annotations

import datetime
import sys
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

from cliff import columns

__all__ = ["DictColumn", "ListColumn", "show", "show_dict", "rows", "oldest_first",
           "ProgressBar", "VOLUME_COLUMNS", "VOLUME_LIST_COLUMNS", "SNAPSHOT_COLUMNS",
           "SNAPSHOT_LIST_COLUMNS", "GROUP_COLUMNS", "GROUP_LIST_COLUMNS",
           "GROUP_SNAPSHOT_COLUMNS", "CONNECTION_COLUMNS"]

VOLUME_COLUMNS = ("id", "name", "size", "status", "backend_name", "description",
                  "volume_type", "metadata", "multiattach", "snapshot_id", "source_volid",
                  "group_id", "project_id", "user_id", "created_at", "updated_at")
VOLUME_LIST_COLUMNS = ("id", "name", "size", "status", "backend_name")
SNAPSHOT_COLUMNS = ("id", "name", "volume_id", "volume_size", "status", "description",
                    "metadata", "group_snapshot_id", "backend_name", "created_at")
SNAPSHOT_LIST_COLUMNS = ("id", "name", "volume_id", "volume_size", "status")
GROUP_COLUMNS = ("id", "name", "status", "backend_name", "group_type", "volumes",
                 "source_group_id", "group_snapshot_id", "description", "created_at")
GROUP_LIST_COLUMNS = ("id", "name", "status", "backend_name", "volumes")
GROUP_SNAPSHOT_COLUMNS = ("id", "name", "status", "group_id", "consistent", "snapshots",
                          "created_at")
CONNECTION_COLUMNS = ("id", "volume_id", "status", "path", "attach_mode", "attached_host",
                      "driver_volume_type")


class DictColumn(columns.FormattableColumn):  # type: ignore[type-arg]
    """A mapping: ``k='v', k2='v2'`` in a table, the mapping itself in JSON/YAML."""

    def human_readable(self) -> str:
        value = self._value or {}
        return ", ".join(f"{k}='{v}'" for k, v in sorted(value.items()))

    def machine_readable(self) -> Any:
        return dict(self._value or {})


class ListColumn(columns.FormattableColumn):  # type: ignore[type-arg]
    """A list: one item per line in a table, the list itself in JSON/YAML."""

    def human_readable(self) -> str:
        return "\n".join(str(v) for v in self._value or [])

    def machine_readable(self) -> Any:
        return list(self._value or [])


def _cell(value: Any) -> Any:
    if isinstance(value, dict):
        return DictColumn(value)
    if isinstance(value, (list, tuple)):
        return ListColumn(list(value))
    if isinstance(value, datetime.datetime):
        return value.isoformat(timespec="seconds")
    return value


def _value(obj: Any, name: str) -> Any:
    if name == "volumes":
        return sorted(v.id for v in obj.volumes)
    if name == "snapshots":
        return sorted(s.id for s in obj.snapshots)
    if name == "connections":
        return [c.id for c in obj.connections]
    if name == "driver_volume_type":
        return (obj.connection_info or {}).get("driver_volume_type")
    return getattr(obj, name, None)


def show(obj: Any, names: Sequence[str]) -> tuple[tuple[str, ...], tuple[Any, ...]]:
    """``(columns, values)`` of one object, for a ``ShowOne``."""
    return tuple(names), tuple(_cell(_value(obj, n)) for n in names)


def show_dict(data: dict[str, Any]) -> tuple[tuple[str, ...], tuple[Any, ...]]:
    """``(columns, values)`` of a plain mapping, keys in order."""
    return tuple(data), tuple(_cell(v) for v in data.values())


def rows(objs: Iterable[Any], names: Sequence[str]) -> tuple[tuple[str, ...], list[tuple]]:
    """``(columns, rows)`` of objects, for a ``Lister``."""
    return tuple(names), [tuple(_cell(_value(o, n)) for n in names) for o in objs]


def oldest_first(objs: Iterable[Any]) -> list[Any]:
    """``objs`` by creation time (undated last), then id: a stable listing order."""
    return sorted(objs, key=lambda o: (o.created_at is None, o.created_at, o.id))


def _human(n: float | None) -> str:
    if n is None:
        return "?"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


class ProgressBar:
    """A ``progress(phase, done, total)`` callback drawing a bar on ``stream``: redrawn
    in place on a terminal, one line per 10 % otherwise (logs, pipes)."""

    def __init__(self, stream: TextIO | None = None, width: int = 30) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self.tty = self.stream.isatty()
        self._last: tuple[str, int] | None = None

    def __call__(self, phase: str, done: float, total: float | None) -> None:
        if phase == "download":
            fraction = done / total if total else None
            detail = f"{_human(done)} / {_human(total)}"
        else:
            fraction = done / total if total else 0.0
            detail = f"{fraction * 100:.0f}%"
        step = int((fraction or 0) * 10)
        if not self.tty and self._last == (phase, step) and fraction is not None:
            return
        if not self.tty and fraction is None and self._last and self._last[0] == phase \
                and done % (64 * 1024 ** 2) >= 1024 ** 2:
            return  # unknown size: a line every 64 MiB
        self._last = (phase, step)
        filled = int((fraction or 0) * self.width)
        bar = "#" * filled + "." * (self.width - filled) if fraction is not None \
            else "?" * self.width
        line = f"{phase:<9} [{bar}] {detail}"
        if self.tty:
            self.stream.write("\r" + line + ("\n" if fraction == 1 else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self._last is not None:
            self.stream.write("\n")
            self.stream.flush()
