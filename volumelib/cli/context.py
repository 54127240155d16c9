"""One CLI run's context: its configuration, store, backends and control plane, made on
first use, and lookups of volumes, snapshots and groups by name or id."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

import volumelib
from volumelib import exceptions as exc
from volumelib.backend import Backend
from volumelib.cli import config
from volumelib.cli.config import CliConfig, backend_kwargs
from volumelib.control.plane import ControlPlane

__all__ = ["CliContext"]

LOG = logging.getLogger(__name__)

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _quietly(func: Any) -> None:
    try:
        func()
    except Exception:  # noqa: BLE001 - closing must not hide the command's result
        LOG.debug("cleanup failed", exc_info=True)


class CliContext:
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
            self._config = config.load(self.config_path)
        return self._config

    @property
    def control(self) -> Any:
        """A ``volumelib.ControlPlane`` on the configured store (pools, types)."""
        if self._control is None:
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
        cfg = self.config
        volumelib.setup(persistence_config=cfg.persistence_config,
                        project_id=cfg.project_id, user_id=cfg.user_id,
                        file_locks_path=cfg.file_locks_path)
        self._set_up = True

    @property
    def persistence(self) -> Any:
        self.setup()
        return volumelib.get_persistence()

    def backend(self, name: str | None = None) -> Backend:
        """The backend ``name`` (default: ``--backend``, or the only one configured); a
        pool registered in the store when the configuration has no such backend."""
        self.setup()
        name = name or self.backend_name
        if name is not None and name not in self.config.backend_names and self._is_pool(name):
            return self.control.backend(name)
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
