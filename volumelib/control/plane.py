"""``ControlPlane``: pools, volume types, placement and the catalogue, in the store.

A control plane without a control plane service: everything it knows is a row in the
same store as the volumes, so every process (and host) sharing the store sees the
same pools and types, and any of them can find any volume::

    cp = volumelib.ControlPlane()            # the store volumelib.setup() chose
    cp.add_pool("fast", "file", file_root="/mnt/xfs/volumes", weight=2)
    cp.add_pool("bulk", "file", file_root="/srv/volumes")
    cp.create_volume_type("cow", extra_specs={"reflink": "<is> True"})
    vol = cp.create_volume(10, name="db", volume_type="cow")     # lands on "fast"
    ...
    vol = volumelib.ControlPlane().get_volume(vol_id)             # any process

* A **pool** is a :class:`volumelib.Backend` registered by name with its driver
  configuration (``Pool`` rows: name, driver, options, weight, capabilities). The
  pool's name is the backend's ``volume_backend_name``.
* The **catalogue** is the volume record itself: ``Volume.backend_name`` names the
  pool, and is stored (``creating``) before the driver is called. ``get_volume(id)``
  finds the pool through it.
* **Volume types** are stored ``VolumeType`` rows with Cinder-syntax extra specs;
  placement (:mod:`volumelib.control.placement`) matches them against each pool.

The driver options of a pool are stored in clear in the store (they are what it
takes to rebuild the backend in another process): protect the store like a
configuration file.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from volumelib import exceptions as exc
from volumelib import runtime, validation
from volumelib import specs as spec_syntax
from volumelib.backend import Backend
from volumelib.control import health as health_checks
from volumelib.control import placement
from volumelib.control.leases import LeaseManager
from volumelib.control.placement import PlacementRequest, PoolState
from volumelib.objects.volume import Volume
from volumelib.persistence import setup as persistence_setup
from volumelib.persistence.base import PersistenceDriverBase
from volumelib.records.control import Pool
from volumelib.records.volume_type import (
    VolumeType,
    get_volume_type,
    resolve_volume_type,
)

__all__ = ["ControlPlane"]

LOG = logging.getLogger(__name__)

_CAS_RETRIES = 5


def _check_weight(weight: Any) -> float:
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) \
            or not math.isfinite(weight) or weight < 0:
        raise exc.InvalidArgument(reason=f"weight must be a finite number >= 0, "
                                         f"not {weight!r}")
    return float(weight)


def _check_pool_name(name: Any) -> str:
    validation.check_name(name, what="pool name")
    if not name or name != name.strip():
        raise exc.InvalidName(name=name, reason="a pool name must be non-empty, without "
                                                "leading or trailing blanks")
    return name


def _driver_ref(volume_driver: Any) -> str:
    """What the ``Pool`` row records as its driver: an entry-point name or a class path."""
    if isinstance(volume_driver, str):
        return volume_driver
    if isinstance(volume_driver, type):
        return f"{volume_driver.__module__}.{volume_driver.__qualname__}"
    raise exc.DriverNotFound(driver=volume_driver, available="(a name or a class)")


def _check_qos(qos_specs: Any) -> dict[str, str]:
    """QoS specs: a ``str -> str`` mapping handed to drivers unchanged."""
    if qos_specs is None:
        return {}
    if not isinstance(qos_specs, Mapping) or not all(
            isinstance(k, str) and k and isinstance(v, str) for k, v in qos_specs.items()):
        raise exc.InvalidArgument(reason=f"qos_specs must map non-empty strings to "
                                         f"strings: {qos_specs!r:.80}")
    return dict(qos_specs)


def _fingerprint(pool: Pool) -> str:
    return json.dumps([pool.volume_driver, pool.driver_config], sort_keys=True,
                      default=str)


class ControlPlane:
    """Pools, volume types, placement and the catalogue, kept in a store.

    Args:
        persistence: the store (anything ``volumelib.persistence.setup`` takes);
            default: the one ``volumelib.setup()`` chose, looked up at each call. A
            store built here from a config is closed by :meth:`close`; a store
            instance handed over is not.

    Backends are built from the stored pool configuration on first use and kept for
    the life of this object (rebuilt when another process changes a pool's driver
    configuration); :meth:`close` releases them.
    """

    def __init__(self, persistence: Any = None) -> None:
        self._persistence: PersistenceDriverBase | None = None
        self._owns_store = False
        if persistence is not None:
            self._persistence = persistence_setup(persistence)
            # Built here from a config (not handed over as a store): closed by close().
            self._owns_store = self._persistence is not persistence
        self._lock = threading.RLock()
        self._backends: dict[str, tuple[str, Backend]] = {}
        self._leases: Any = None

    @property
    def persistence(self) -> PersistenceDriverBase:
        return runtime.persistence(self._persistence)

    def __enter__(self) -> ControlPlane:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<ControlPlane on {self.persistence!r}>"

    # -- pools -------------------------------------------------------------------------

    def _get_pool(self, name: str) -> Pool:
        found = self.persistence.get_pools(pool_name=name)
        if not found:
            raise exc.PoolNotFound(pool_name=name)
        return found[0]

    def pools(self) -> list[Pool]:
        """Every registered pool, by name."""
        return sorted(self.persistence.get_pools(), key=lambda p: p.name)

    def get_pool(self, name: str) -> Pool:
        """Raises: PoolNotFound."""
        return self._get_pool(name)

    def add_pool(self, name: str, volume_driver: Any, *, weight: float = 1.0,
                 description: str | None = None, enabled: bool = True,
                 **driver_options: Any) -> Pool:
        """Register a backend as a pool.

        The backend is built (its driver set up) to read its capabilities; a driver
        that cannot be set up refuses the pool with the driver's error and nothing is
        stored.

        Args:
            name: the pool's name (the backend's ``volume_backend_name``).
            volume_driver: an entry-point name (``file``, ``rbd``...) or a class path.
            weight: placement weight; 0 drains the pool (only types naming it reach it).
            description: free text.
            enabled: a disabled pool is never chosen by placement.
            **driver_options: the driver's options, stored with the pool (JSON values).

        Raises:
            InvalidName, InvalidArgument: bad name, weight, description or options.
            AlreadyExists: a pool of that name exists.
            DriverNotFound, UnknownOption, InvalidConfig, BackendError: the driver's.
        """
        name = _check_pool_name(name)
        weight = _check_weight(weight)
        if not isinstance(enabled, bool):
            raise exc.InvalidArgument(reason=f"enabled must be True or False: {enabled!r}")
        description = validation.check_description(description)
        if "volume_backend_name" in driver_options or "persistence" in driver_options:
            raise exc.InvalidArgument(reason="volume_backend_name and persistence are set "
                                             "by the pool, not by its driver options")
        try:
            config = json.loads(json.dumps(driver_options))
        except (TypeError, ValueError) as e:
            raise exc.InvalidArgument(reason=f"driver options of pool {name!r} must be "
                                             f"JSON values: {e}") from None
        driver = _driver_ref(volume_driver)
        store = self.persistence
        if store.get_pools(pool_name=name):
            raise exc.AlreadyExists(resource="Pool", id=name)
        backend = Backend(name, volume_driver, persistence=store, **driver_options)
        try:
            pool = Pool(name=name, volume_driver=driver, driver_config=config,
                        weight=weight, capabilities=sorted(str(c) for c in
                                                           backend.capabilities),
                        description=description, enabled=bool(enabled))
            store.set_pool(pool)
        except BaseException:
            backend.close()
            raise
        with self._lock:
            old = self._backends.pop(name, None)
            self._backends[name] = (_fingerprint(pool), backend)
        if old is not None and old[1] is not backend:
            old[1].close()
        LOG.info("pool %s registered (driver %s, weight %g, capabilities %s)", name,
                 driver, weight, ", ".join(pool.capabilities))
        return pool

    def remove_pool(self, name: str, force: bool = False) -> None:
        """Unregister a pool. Its storage and volumes are not touched.

        Args:
            force: remove it even though volumes live on it; their records stay and
                :meth:`gc` reports them as records of an unknown pool until the pool
                is registered again.

        Raises:
            PoolNotFound: no such pool.
            InvalidState: volumes live on it (and not ``force``); nothing changed.
        """
        pool = self._get_pool(name)
        count = self.persistence.count_volumes(backend_name=name)
        if count and not force:
            raise exc.InvalidState(
                resource=f"Pool {name}", status=f"holding {count} volume(s)",
                reason="delete them first or remove_pool(..., force=True)")
        self.persistence.delete_pool(pool)
        with self._lock:
            entry = self._backends.pop(name, None)
        if entry is not None:
            entry[1].close()
        LOG.info("pool %s removed (%d volume record(s) left on it)", name, count)

    def _update_pool(self, name: str, **changes: Any) -> Pool:
        for attempt in range(_CAS_RETRIES):
            pool = self._get_pool(name)
            for key, value in changes.items():
                setattr(pool, key, value)
            try:
                self.persistence.set_pool(pool)
                return pool
            except exc.ConcurrentModification:
                if attempt == _CAS_RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    def set_pool_weight(self, name: str, weight: float) -> Pool:
        """Change a pool's weight (0 drains it). Raises: PoolNotFound, InvalidArgument."""
        return self._update_pool(name, weight=_check_weight(weight))

    def set_pool_enabled(self, name: str, enabled: bool) -> Pool:
        """Enable or disable a pool for placement. Raises: PoolNotFound."""
        if not isinstance(enabled, bool):
            raise exc.InvalidArgument(reason=f"enabled must be True or False: {enabled!r}")
        return self._update_pool(name, enabled=enabled)

    def backend(self, pool_name: str) -> Backend:
        """The backend of a pool, built from its stored configuration once.

        Raises:
            PoolNotFound: no such pool.
            DriverNotFound, InvalidConfig, BackendError: the stored configuration does
                not work in this process (driver missing, storage unreachable).
        """
        return self._backend_for(self._get_pool(pool_name))

    def _backend_for(self, pool: Pool) -> Backend:
        """The backend of a pool record already read (no store round trip)."""
        pool_name = pool.name
        mark = _fingerprint(pool)
        store = self.persistence
        with self._lock:
            entry = self._backends.get(pool_name)
            # Reused while the stored config is the same and the store has not been
            # switched (volumelib.setup() again) under a control plane that follows it.
            if entry is not None and entry[0] == mark and entry[1].persistence is store:
                return entry[1]
            backend = Backend(pool.name, pool.volume_driver, persistence=store,
                              **pool.driver_config)
            self._backends[pool_name] = (mark, backend)
        if entry is not None:
            entry[1].close()
        return backend

    # -- volume types --------------------------------------------------------------------

    def create_volume_type(self, name: str, extra_specs: Mapping[str, Any] | None = None,
                           qos_specs: Mapping[str, Any] | None = None,
                           pools: Sequence[str] | None = None,
                           description: str | None = None) -> VolumeType:
        """Store a volume type (a flavor).

        Args:
            name: unique type name.
            extra_specs: Cinder-syntax specs matched against pool capabilities
                (``{"reflink": "<is> True"}``, ``{"pool_name_pattern": "ssd-*"}``).
            qos_specs: handed to drivers as is (``{"total_iops_sec": "500"}``).
            pools: pin the type to these pools; each must exist and match the specs.
                Stored as Cinder's ``volume_backend_name`` spec (``"<or> a <or> b"``
                for several), so a pinned pool is reached even at weight 0.
            description: free text.

        Raises:
            InvalidName, InvalidArgument: bad name or malformed specs; a pool that
                does not match the specs (the message says which spec).
            PoolNotFound: a pool in ``pools`` is not registered.
            AlreadyExists: a type of that name exists.
        """
        validation.check_name(name, what="volume type name")
        if not name:
            raise exc.InvalidName(name=name, reason="a volume type needs a name")
        description = validation.check_description(description)
        specs = spec_syntax.validate_specs(extra_specs)
        qos = _check_qos(qos_specs)
        store = self.persistence
        if pools is not None:
            if isinstance(pools, str) or not all(isinstance(p, str) for p in pools) \
                    or not pools:
                raise exc.InvalidArgument(reason=f"pools must be a non-empty list of pool "
                                                 f"names, not {pools!r:.80}")
            names = list(dict.fromkeys(pools))
            existing = placement.pinned_pools(specs)
            if existing is not None and existing != frozenset(names):
                raise exc.InvalidArgument(
                    reason=f"volume_backend_name {specs['volume_backend_name']!r} "
                           f"contradicts pools={names!r}")
            for pool_name in names:
                pool = self._get_pool(pool_name)
                why = placement.type_mismatch(self._state_for_type(pool), specs)
                if why is not None:
                    raise exc.InvalidArgument(
                        reason=f"pool {pool_name!r} does not match volume type "
                               f"{name!r}: {why}")
            specs["volume_backend_name"] = (names[0] if len(names) == 1 else
                                            " ".join(f"<or> {n}" for n in names))
        if store.get_volume_types(name=name):
            raise exc.AlreadyExists(resource="VolumeType", id=name)
        vtype = VolumeType(id=str(uuid.uuid4()), name=name, description=description,
                           extra_specs=specs, qos_specs=qos, is_public=True)
        store.set_volume_type(vtype)
        return vtype

    def _state_for_type(self, pool: Pool) -> PoolState:
        """Enough of a pool for matching a type: stored capabilities and, when the
        backend answers, its stats (a type may test ``storage_protocol``...)."""
        stats = None
        try:
            stats = self._backend_for(pool).stats()
        except exc.VolumelibError as e:
            LOG.debug("no stats for pool %s: %s", pool.name, e)
        return PoolState(pool.name, pool.weight, pool.enabled,
                         frozenset(pool.capabilities), stats)

    def volume_types(self) -> list[VolumeType]:
        """Every stored volume type, by name."""
        return sorted(self.persistence.get_volume_types(), key=lambda t: t.name or "")

    def get_volume_type(self, name_or_id: str) -> VolumeType:
        """A stored type by name (or id). Raises: NotFound."""
        return get_volume_type(self.persistence, name_or_id)

    def delete_volume_type(self, name_or_id: str) -> None:
        """Raises: NotFound."""
        self.persistence.delete_volume_type(self.get_volume_type(name_or_id))

    # -- placement and volumes -------------------------------------------------------------

    def _resolve_type(self, volume_type: Any) -> tuple[Any, dict[str, str], str | None]:
        """``(what Backend.create_volume gets, extra specs, type name)``."""
        vtype, specs = resolve_volume_type(self.persistence, volume_type)
        if vtype is not None:
            return vtype, specs, vtype.name
        return (specs or None), specs, None

    def pool_states(self, pools: Sequence[Pool] | None = None) -> list[PoolState]:
        """What placement sees of each pool: stored settings and fresh backend stats.

        Disabled pools are not contacted. A pool whose backend cannot be built or
        does not answer gets ``stats=None`` and the error (placement's ``alive``
        filter reports it).
        """
        states = []
        for pool in (self.pools() if pools is None else pools):
            stats = None
            error = None
            if pool.enabled:
                try:
                    stats = self._backend_for(pool).stats(refresh=True)
                except exc.VolumelibError as e:
                    error = f"{type(e).__name__}: {e}"
            states.append(PoolState(pool.name, pool.weight, pool.enabled,
                                    frozenset(pool.capabilities), stats, error))
        return states

    def place(self, size: int, volume_type: Any = None) -> list[placement.Candidate]:
        """The pools that could take a ``size`` GiB volume of ``volume_type``, best
        first (what :meth:`create_volume` would try, in order).

        Raises:
            NoValidBackend: none; ``reasons`` says why for each pool.
            NotFound: no such volume type.
        """
        _, specs, type_name = self._resolve_type(volume_type)
        request = PlacementRequest(size=validation.check_size(size), extra_specs=specs,
                                   volume_type=type_name)
        return placement.place(request, self.pool_states())

    def create_volume(self, size: int, name: str | None = None, volume_type: Any = None,
                      **kwargs: Any) -> Volume:
        """Place a volume on the best pool and create it there.

        Args:
            size: GiB.
            name: display name.
            volume_type: a stored type's name or id, a ``VolumeType``, or a plain dict
                of extra specs.
            **kwargs: the rest of :meth:`volumelib.Backend.create_volume`'s arguments
                (``description``, ``metadata``, ``id``, ``image``...).

        If the chosen pool turns out to be full when the driver checks (another
        process filled it since the stats were read), the next candidate is tried.

        Raises:
            NoValidBackend: no pool can take it (reasons per pool); nothing stored.
            NotFound: no such volume type.
            InvalidSize, InvalidName, InvalidArgument: bad input; nothing stored.
            BackendError: the driver failed (the volume is stored in ``error``).
        """
        size = validation.check_size(size)
        validation.check_name(name)
        type_arg, specs, type_name = self._resolve_type(volume_type)
        request = PlacementRequest(size=size, extra_specs=specs, volume_type=type_name)
        candidates, rejected = placement.evaluate(request, self.pool_states())
        if not candidates:
            raise placement.no_valid_backend(request, rejected)
        late: dict[str, str] = {}
        for candidate in candidates:
            backend = self.backend(candidate.name)
            try:
                vol = backend.create_volume(size=size, name=name, volume_type=type_arg,
                                            **kwargs)
            except exc.InsufficientCapacity as e:
                LOG.info("pool %s filled up since its stats were read: %s",
                         candidate.name, e)
                late[candidate.name] = f"capacity: {e}"
                continue
            LOG.debug("volume %s placed on pool %s", vol.id, candidate.name)
            vol._bind_pools(self)
            return vol
        raise placement.no_valid_backend(request, {**rejected, **late})

    def get_volume(self, volume_id: str) -> Volume:
        """Any volume by id, bound to its pool's backend (found through the catalogue).

        Raises:
            InvalidId: not a UUID.
            VolumeNotFound: no such volume.
            PoolNotFound: the volume lives on a pool that is not registered (named).
        """
        validation.check_id(volume_id, what="volume id")
        found = self.persistence.get_volumes(volume_id=volume_id)
        if not found:
            raise exc.VolumeNotFound(volume_id=volume_id)
        vol = found[0]
        vol._bind(self.backend(vol.backend_name))
        vol._bind_pools(self)
        return vol

    def _bind_all(self, items: list[Any]) -> list[Any]:
        known = {p.name: p for p in self.persistence.get_pools()}
        for item in items:
            name = item.backend_name
            if hasattr(item, "_bind_pools"):
                item._bind_pools(self)
            if name in known:
                try:
                    item._bind(self._backend_for(known[name]))
                except exc.VolumelibError as e:
                    LOG.debug("volume %s: pool %s unusable here: %s", item.id, name, e)
        return items

    @property
    def volumes(self) -> list[Volume]:
        """Every volume of every pool (and of unregistered pools, unbound)."""
        return self._bind_all(self.persistence.get_volumes())

    def list_volumes(self, marker: str | None = None, limit: int | None = None,
                     filters: Mapping[str, Any] | None = None,
                     project_id: str | None = None, pool: str | None = None
                     ) -> tuple[list[Volume], str | None]:
        """A page of volumes across pools, oldest first: ``(items, next_marker)``.

        ``filters`` as for the store's ``list_volumes`` (equality, ``metadata``,
        ``"name~"`` contains, ``"name^"`` starts with); ``pool`` restricts to one pool.
        """
        items, nxt = self.persistence.list_volumes(marker=marker, limit=limit,
                                                   filters=filters, project_id=project_id,
                                                   backend_name=pool)
        return self._bind_all(items), nxt

    def count_volumes(self, filters: Mapping[str, Any] | None = None,
                      project_id: str | None = None, pool: str | None = None) -> int:
        """How many volumes :meth:`list_volumes` would return in all."""
        return self.persistence.count_volumes(filters=filters, project_id=project_id,
                                              backend_name=pool)

    def usage(self, filters: Mapping[str, Any] | None = None,
              project_id: str | None = None) -> dict[str | None, dict[str, int]]:
        """Per project: ``volumes``, ``gigabytes``, ``snapshots``, ``snapshot_gigabytes``
        (volumes matching ``filters``; see the store's ``usage_by_project``)."""
        return self.persistence.usage_by_project(filters=filters, project_id=project_id)

    def drain(self, pool: str,
              progress: Callable[[str, str, float, float | None], None] | None = None
              ) -> dict[str, Any]:
        """Move every volume off ``pool``, each to the best other pool for its type
        (placement), one by one with :meth:`volumelib.Volume.migrate`.

        The pool's weight is set to 0 first, so placement sends no new volume there
        (a type that names the pool still reaches it); it stays 0 afterwards
        (:meth:`set_pool_weight` to take the pool back). A volume that cannot move
        (attached, with snapshots, in a group, no other pool for its type...) stays
        and is reported; the others still move.

        Args:
            progress: ``progress(volume_id, phase, done_bytes, total_bytes)``.

        Returns:
            ``{"pool", "moved": [migration results], "failed": {volume id: reason},
            "remaining": volumes left on the pool}``.

        Raises:
            PoolNotFound: no such pool; nothing changed.
        """
        self._get_pool(pool)
        source = self.backend(pool)
        self.set_pool_weight(pool, 0)
        report: dict[str, Any] = {"pool": pool, "moved": [], "failed": {}, "remaining": 0}
        store = self.persistence
        volumes = sorted(store.get_volumes(backend_name=pool),
                         key=lambda v: (v.created_at is None, v.created_at, v.id))
        LOG.info("draining pool %s: %d volume(s)", pool, len(volumes))
        for vol in volumes:
            vol._bind(source)
            vol._bind_pools(self)
            each = None if progress is None else (
                lambda phase, done, total, vid=vol.id: progress(vid, phase, done, total))
            try:
                candidates = [c for c in self.place(vol.size, dict(vol.volume_type))
                              if c.name != pool]
                if not candidates:
                    raise exc.NoValidBackend(
                        request=f"volume {vol.id} ({vol.size} GiB)",
                        reasons={pool: "the pool being drained"})
                result = vol.migrate(self.backend(candidates[0].name), progress=each)
                report["moved"].append(result.to_dict())
            except exc.VolumelibError as e:
                LOG.warning("drain of %s: volume %s stays: %s", pool, vol.id, e)
                report["failed"][vol.id] = f"{type(e).__name__}: {e}"
        report["remaining"] = store.count_volumes(backend_name=pool)
        return report

    # -- stats, health, gc ---------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Per pool: its settings, capacity summed over its backend's Cinder pools and
        volumes from the store; per backend: its Cinder stats as reported.

        Returns:
            ``{"pools": {name: {...}}, "backends": {name: stats | {"error": ...}},
            "total": {capacity sums over the pools that answered}}``.
        """
        pools: dict[str, Any] = {}
        backends: dict[str, Any] = {}
        keys = ("total_capacity_gb", "free_capacity_gb", "provisioned_capacity_gb",
                "allocated_capacity_gb")
        total = dict.fromkeys(keys, 0.0)
        store = self.persistence
        for pool in self.pools():
            entry: dict[str, Any] = {
                "weight": pool.weight, "enabled": pool.enabled,
                "capabilities": list(pool.capabilities),
                "volumes": store.count_volumes(backend_name=pool.name)}
            try:
                stats = self._backend_for(pool).stats(refresh=True)
            except exc.VolumelibError as e:
                backends[pool.name] = {"error": f"{type(e).__name__}: {e}"}
                entry["error"] = backends[pool.name]["error"]
            else:
                backends[pool.name] = stats
                for key in keys:
                    value = sum(p.get(key) or 0 for p in stats.get("pools", [])
                                if isinstance(p.get(key) or 0, (int, float)))
                    entry[key] = value
                    total[key] += value
            pools[pool.name] = entry
        return {"pools": pools, "backends": backends, "total": total}

    def health(self, probe: bool = False, probe_size: int = 1) -> dict[str, Any]:
        """Per pool: reachable, capacity, volumes by status; with ``probe`` also a
        synthetic create/snapshot/clone/delete on every enabled, reachable pool
        (:func:`volumelib.control.health.probe`).

        Returns:
            ``{"ok": every enabled pool alive (and probed fine), "pools": {name: ...}}``.
        """
        report: dict[str, Any] = {}
        ok = True
        for pool in self.pools():
            backend = None
            error = None
            try:
                backend = self._backend_for(pool)
            except exc.VolumelibError as e:
                error = f"{type(e).__name__}: {e}"
            entry = health_checks.pool_health(backend, error=error)
            entry.update(enabled=pool.enabled, weight=pool.weight)
            if probe and pool.enabled and backend is not None and entry["alive"]:
                entry["probe"] = health_checks.probe(backend, size=probe_size)
            if pool.enabled and (not entry["alive"]
                                 or not entry.get("probe", {"ok": True})["ok"]):
                ok = False
            report[pool.name] = entry
        return {"ok": ok, "pools": report}

    def gc(self, older_than: float | None = 600, dry_run: bool = False) -> dict[str, Any]:
        """Every pool's ``backend.gc()``, then the orphans on either side.

        * ``pools``: each pool's gc report (reconciled records, and in its
          ``orphans`` the storage objects no record knows of, removed unless
          ``dry_run``);
        * ``unknown_pool_records``: volume and snapshot records whose pool is not
          registered (left alone: without the pool nothing can be done with them);
        * ``errors``: pools whose backend could not be built or whose gc failed.
        """
        if older_than is not None and (isinstance(older_than, bool)
                                       or not isinstance(older_than, (int, float))
                                       or older_than < 0):
            raise exc.InvalidArgument(reason=f"older_than must be seconds >= 0: "
                                             f"{older_than!r}")
        report: dict[str, Any] = {"dry_run": dry_run, "pools": {},
                                  "unknown_pool_records": [], "errors": {}}
        store = self.persistence
        pools = self.pools()
        known = {p.name for p in pools}
        for pool in pools:
            try:
                report["pools"][pool.name] = self._backend_for(pool).gc(
                    older_than=older_than, dry_run=dry_run)
            except exc.VolumelibError as e:
                report["errors"][pool.name] = f"{type(e).__name__}: {e}"
        for vol in store.get_volumes():
            if vol.backend_name not in known:
                report["unknown_pool_records"].append(
                    {"kind": "volume", "id": vol.id, "pool": vol.backend_name,
                     "status": vol.status})
        for snap in store.get_snapshots():
            if snap.backend_name not in known:
                report["unknown_pool_records"].append(
                    {"kind": "snapshot", "id": snap.id, "pool": snap.backend_name,
                     "status": snap.status})
        report["storage_orphans"] = {name: r.get("orphans", [])
                                     for name, r in report["pools"].items()
                                     if r.get("orphans")}
        return report

    # -- leases ----------------------------------------------------------------------------

    @property
    def leases(self) -> LeaseManager:
        """The lease manager on this control plane's store
        (:mod:`volumelib.control.leases`)."""
        with self._lock:
            if self._leases is None:
                self._leases = LeaseManager(lambda: self.persistence)
            return self._leases

    def close(self) -> None:
        """Release every backend this control plane built (and the store, if it built
        it from a config). Idempotent."""
        with self._lock:
            entries = list(self._backends.values())
            self._backends.clear()
        for _, backend in entries:
            try:
                backend.close()
            except Exception:  # noqa: BLE001 - close the others too
                LOG.warning("closing backend %s failed", backend.id, exc_info=True)
        if self._owns_store and self._persistence is not None:
            self._persistence.close()
