"""What the CLI commands share: the run context (config, store, backends), lookups of
volumes and snapshots by name or id, and how objects become output columns.

Heavy imports (the library, drivers, SQLAlchemy) happen in the functions, on first
use, so that ``volumelib --help`` and ``image-cache`` stay quick.
"""

from __future__ import annotations

import argparse
import logging
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from cliff import columns
from cliff.command import Command

from volumelib import exceptions as exc

if TYPE_CHECKING:
    from volumelib.backend import Backend
    from volumelib.cli.config import CliConfig

__all__ = ["Context", "DictColumn", "show", "rows", "VOLUME_COLUMNS", "SNAPSHOT_COLUMNS",
           "GROUP_COLUMNS", "GROUP_SNAPSHOT_COLUMNS", "parse_key_value", "positive_int",
           "add_ref", "add_backend_arg", "oldest_first", "DeleteMany", "ExitStatus"]

LOG = logging.getLogger(__name__)

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

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
    import datetime
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


def parse_key_value(items: Sequence[str] | None, what: str = "--property") -> dict[str, str]:
    """``["k=v", ...]`` -> ``{"k": "v"}``. Raises InvalidArgument on an item without ``=``."""
    out: dict[str, str] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise exc.InvalidArgument(reason=f"{what} needs KEY=VALUE, not {item!r}")
        out[key] = value
    return out


def positive_int(text: str) -> int:
    """argparse type: a whole number >= 1 (a malformed size is a usage error)."""
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def add_ref(parser: argparse.ArgumentParser, dest: str, metavar: str, *,
            many: bool = False, help: str | None = None) -> None:
    """A positional reference by id or name (``many``: one or more of them)."""
    parser.add_argument(dest, metavar=metavar, nargs="+" if many else None,
                        help=help or ("ids or names" if many else "id or name"))


def add_backend_arg(parser: argparse.ArgumentParser) -> None:
    """The optional positional ``BACKEND`` of the ``backend`` commands (dest ``name``)."""
    parser.add_argument("name", nargs="?", metavar="BACKEND",
                        help="backend name (default: --backend or the only one)")


def oldest_first(objs: Iterable[Any]) -> list[Any]:
    """``objs`` by creation time (undated last), then id: a stable listing order."""
    return sorted(objs, key=lambda o: (o.created_at is None, o.created_at, o.id))


class DeleteMany(Command):
    """Base of the ``... delete REF...`` commands: every reference is resolved before
    the first object is deleted, so one bad reference changes nothing.

    Subclasses set ``metavar`` and ``dest`` and implement :meth:`find` and
    :meth:`delete`.
    """

    metavar = "REF"
    dest = "refs"

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        add_ref(parser, self.dest, self.metavar, many=True)
        return parser

    def find(self, ref: str) -> Any:
        """The object ``ref`` names. Raises the matching NotFound."""
        raise NotImplementedError

    def delete(self, obj: Any) -> None:
        """Delete one object found by :meth:`find`."""
        raise NotImplementedError

    def take_action(self, parsed_args: argparse.Namespace) -> int:
        found = [self.find(ref) for ref in getattr(parsed_args, self.dest)]
        for obj in found:
            self.delete(obj)
        return 0


class ExitStatus:
    """Mixin for a command whose exit code reports what it found (health, prefetch):
    ``take_action`` sets ``self.exit_code``; the output is printed either way."""

    exit_code = 0

    def run(self, parsed_args: argparse.Namespace) -> int:
        """Run the command (output printed), then return :attr:`exit_code`."""
        super().run(parsed_args)  # type: ignore[misc]
        return self.exit_code


def _quietly(func: Any) -> None:
    try:
        func()
    except Exception:  # noqa: BLE001 - closing must not hide the command's result
        LOG.debug("cleanup failed", exc_info=True)


class Context:
    """One run's configuration, store and backends, made on first use.

    Backends are built only when a command needs them (building one may connect to a
    storage cluster), and closed by :meth:`close`.
    """

    def __init__(self, config_path: str | None, backend_name: str | None) -> None:
        self.config_path = config_path
        self.backend_name = backend_name
        self._config: CliConfig | None = None
        self._set_up = False
        self._backends: dict[str, Backend] = {}
        self._control: Any = None

    @property
    def config(self) -> CliConfig:
        if self._config is None:
            from volumelib.cli import config
            self._config = config.load(self.config_path)
        return self._config

    @property
    def control(self) -> Any:
        """A ``volumelib.ControlPlane`` on the configured store (pools, types)."""
        if self._control is None:
            from volumelib.control.plane import ControlPlane
            self._control = ControlPlane(persistence=self.persistence)
        return self._control

    def _is_pool(self, name: str) -> bool:
        return bool(self.persistence.get_pools(pool_name=name))

    def _check_backend_name(self, name: str) -> None:
        """Raise BackendNotFound unless ``name`` is configured or a registered pool."""
        if name in self.config.backend_names or self._is_pool(name):
            return
        raise exc.BackendNotFound(
            f"Backend {name!r} is neither in the configuration "
            f"({', '.join(self.config.backend_names) or 'none configured'}) nor a pool "
            f"registered in the store.", backend_name=name)

    def setup(self) -> None:
        """``volumelib.setup()`` with the configured store and identity (once)."""
        if self._set_up:
            return
        import volumelib
        cfg = self.config
        volumelib.setup(persistence_config=cfg.persistence_config,
                        project_id=cfg.project_id, user_id=cfg.user_id,
                        file_locks_path=cfg.file_locks_path)
        self._set_up = True

    @property
    def persistence(self) -> Any:
        import volumelib
        self.setup()
        return volumelib.get_persistence()

    def backend(self, name: str | None = None) -> Backend:
        """The backend ``name`` (default: ``--backend``, or the only one configured); a
        pool registered in the store when the configuration has no such backend."""
        import volumelib
        self.setup()
        name = name or self.backend_name
        if name is not None and name not in self.config.backend_names and self._is_pool(name):
            return self.control.backend(name)
        from volumelib.cli.config import backend_kwargs
        options = self.config.backend_config(name)
        key = options["volume_backend_name"]
        if key not in self._backends:
            LOG.debug("building backend %s", key)
            self._backends[key] = volumelib.Backend(**backend_kwargs(options))
        return self._backends[key]

    def backends(self) -> list[Backend]:
        """``--backend``'s backend, or every configured one."""
        if self.backend_name is not None:
            return [self.backend(self.backend_name)]
        return [self.backend(n) for n in self.config.backend_names]

    def close(self) -> None:
        """Close the control plane and every backend built (errors only logged)."""
        if self._control is not None:
            _quietly(self._control.close)
            self._control = None
        for backend in self._backends.values():
            try:
                backend.close()
            except Exception:  # noqa: BLE001 - closing must not hide the command's result
                LOG.debug("closing %s failed", backend.id, exc_info=True)
        self._backends.clear()

    # -- lookups by name or id ------------------------------------------------------------

    def _scope(self) -> str | None:
        """Restrict lookups to ``--backend`` when given."""
        if self.backend_name is not None:
            self._check_backend_name(self.backend_name)
        return self.backend_name

    def in_scope(self, objs: Iterable[Any]) -> list[Any]:
        """``objs`` on ``--backend``'s backend (all of them without ``--backend``)."""
        scope = self._scope()
        return [o for o in objs if scope is None or o.backend_name == scope]

    def _bind(self, obj: Any, what: str, ref: str) -> Any:
        name = obj.backend_name
        if name not in self.config.backend_names and self._is_pool(name):
            obj._bind(self.control.backend(name))
            return obj
        if name not in self.config.backend_names:
            raise exc.BackendNotFound(
                f"{what} {ref} is on backend {name!r}, which the configuration does not "
                f"define ({', '.join(self.config.backend_names) or 'none configured'}).",
                backend_name=name)
        obj._bind(self.backend(name))
        return obj

    def _one(self, found: list[Any], what: str, ref: str, not_found: Exception) -> Any:
        found = [o for o in found if o.status != "deleted" and not o.deleted]
        if not found:
            raise not_found
        if len(found) > 1:
            raise exc.InvalidArgument(reason=f"{len(found)} {what}s are named {ref!r}; "
                                             f"use the id ({', '.join(o.id for o in found)})")
        return self._bind(found[0], what, ref)

    def find_volume(self, ref: str) -> Any:
        """A volume by id or (unique) name. Raises VolumeNotFound."""
        store = self.persistence
        scope = self._scope()
        if _UUID.match(ref):
            found = store.get_volumes(volume_id=ref, backend_name=scope)
        else:
            found = store.get_volumes(volume_name=ref, backend_name=scope)
        return self._one(found, "volume", ref, exc.VolumeNotFound(volume_id=ref))

    def find_snapshot(self, ref: str) -> Any:
        """A snapshot by id or (unique) name. Raises SnapshotNotFound."""
        store = self.persistence
        if _UUID.match(ref):
            found = store.get_snapshots(snapshot_id=ref)
        else:
            found = store.get_snapshots(snapshot_name=ref)
        return self._one(self.in_scope(found), "snapshot", ref,
                         exc.SnapshotNotFound(snapshot_id=ref))

    def find_group(self, ref: str) -> Any:
        """A group by id or (unique) name. Raises GroupNotFound."""
        store = self.persistence
        found = store.get_groups(group_id=ref) if _UUID.match(ref) else \
            store.get_groups(group_name=ref)
        return self._one(self.in_scope(found), "group", ref, exc.GroupNotFound(group_id=ref))

    def find_group_snapshot(self, ref: str) -> Any:
        """A group snapshot by id or (unique) name. Raises GroupSnapshotNotFound."""
        store = self.persistence
        found = store.get_group_snapshots(group_snapshot_id=ref) if _UUID.match(ref) else \
            store.get_group_snapshots(group_snapshot_name=ref)
        return self._one(found, "group snapshot", ref,
                         exc.GroupSnapshotNotFound(group_snapshot_id=ref))
