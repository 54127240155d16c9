"""``CinderDriver``: volumelib's driver SPI over an unmodified Cinder volume driver.

One class per Cinder driver class is made on demand (:func:`~volumelib.drivers.cinder.
loading.driver_class`), so ``Backend(volume_driver="cinder.volume.drivers.rbd.RBDDriver",
**cinder_options)`` builds a :class:`CinderDriver` bound to Cinder's ``RBDDriver``.

Each SPI method builds the Cinder objects of the call (:mod:`.records`), calls the
Cinder method with Cinder's semantics, and turns the answer into volumelib's:

=============================  ==============================================================
volumelib SPI                  Cinder driver
=============================  ==============================================================
``do_setup``                   ``do_setup(context)``, ``check_for_setup_error()``, stats
``create_volume``              ``create_volume(volume)`` -> model update (provider_* kept)
``delete_volume``              ``delete_volume(volume)``
``extend_volume``              ``extend_volume(volume, new_size)``
``create_cloned_volume``       ``create_cloned_volume(volume, src_vref)``
``create_snapshot``            ``create_snapshot(snapshot)``
``delete_snapshot``            ``delete_snapshot(snapshot)``
``create_volume_from_snapshot````create_volume_from_snapshot(volume, snapshot)``
``revert_to_snapshot``         ``revert_to_snapshot(context, volume, snapshot)``
``validate_connector``         ``validate_connector(connector)``
``create_export``              ``create_export(context, volume, connector)``
``remove_export``              ``remove_export(context, volume)``
``initialize_connection``      ``initialize_connection(volume, connector)``
``terminate_connection``       ``terminate_connection(volume, connector, force=...)``
``get_volume_stats``           ``get_volume_stats(refresh)`` (:mod:`.stats`)
CG interface                   the generic group interface: ``create_group``,
                               ``delete_group``, ``update_group``, ``create_group_snapshot``,
                               ``delete_group_snapshot``, ``create_group_from_src``;
                               Cinder's ``NotImplementedError`` gives volumelib's fallback
``gc``                         the driver's listing (:mod:`.quirks`) and its deletes
``manage_existing`` ...        passed through when the driver has them
=============================  ==============================================================

Failures: a Cinder exception becomes ``BackendError`` naming the Cinder driver and the
cause (``VolumeIsBusy`` becomes ``VolumeInUse``; a bad connector ``InvalidArgument``).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from volumelib import exceptions as exc
from volumelib.drivers.base import ModelUpdate, VolumeDriver
from volumelib.drivers.boundary import check_id, driver_operation
from volumelib.drivers.cinder import catalogue, runtime, stats
from volumelib.drivers.cinder import config as cinder_config
from volumelib.drivers.cinder import quirks as cinder_quirks
from volumelib.drivers.cinder.dbfacade import CinderDB
from volumelib.drivers.cinder.records import Records
from volumelib.drivers.types import (BackendStats, Capability, ConnectionInfo,
                                     ConnectorProperties, SnapshotInfo, VolumeInfo)

__all__ = ["CinderDriver"]

LOG = logging.getLogger(__name__)


def _translate(driver: CinderDriver, operation: str, error: BaseException
               ) -> exc.VolumelibError:
    # Cinder's exceptions (Cinder stays lazy).
    from cinder import exception as cinder_exc
    cause = f"{type(error).__name__}: {' '.join(str(error).split())}"
    if isinstance(error, cinder_exc.VolumeIsBusy):
        return exc.VolumeInUse(volume_id=getattr(error, "kwargs", {}).get(
            "volume_name", "?"), reason=cause)
    return exc.BackendError(backend_name=driver.backend_name, operation=operation,
                            reason=f"Cinder driver {driver.cinder_path}: {cause}")


def _operation(name: str) -> Callable[[Any], Any]:
    return driver_operation(name, errors=(Exception,), translate=_translate, logger=LOG,
                            passthrough=(NotImplementedError,))


class CinderDriver(VolumeDriver):
    """A Cinder volume driver behind volumelib's SPI (one subclass per Cinder class).

    Args:
        db: volumelib's read-only facade (answers what the driver reads through
            ``self.db`` that the call's own objects do not hold).
        **options: the Cinder driver's options (``rbd_pool=...``), checked against
            the options it declares, plus the adapter's own (``cinder_reuse_rados``).

    Raises:
        UnknownOption: an option the Cinder driver does not declare (listing them).
        InvalidConfig: a value of the wrong type.
        BackendError: the Cinder driver's constructor failed.
    """

    name = "cinder"
    vendor_name = "OpenStack Cinder"
    version = "1.0.0"
    storage_protocol = "unknown"
    #: The Cinder class path this subclass runs (set by ``loading.driver_class``).
    cinder_path: ClassVar[str] = ""
    cinder_class: ClassVar[type | None] = None

    def __init__(self, *, db: Any = None, **options: Any) -> None:
        if self.cinder_class is None:
            raise exc.DriverNotFound(
                "CinderDriver is used through a Cinder class path, e.g. "
                "volume_driver='cinder.volume.drivers.rbd.RBDDriver'",
                driver="cinder", available="cinder.volume.drivers.<module>.<Class>")
        backend_name = options.pop("volume_backend_name", None) or \
            self.cinder_class.__name__
        self.adapter_options = {
            k: options.pop(k, default)
            for k, (default, _help) in cinder_quirks.ADAPTER_OPTIONS.items()}
        super().__init__(db=db, volume_backend_name=backend_name)
        runtime.ensure()
        self._given = dict(options)
        self.configuration = cinder_config.build(
            self.cinder_class, backend_name, options, driver=self.cinder_path,
            attribute_options=cinder_quirks.attribute_options(self.cinder_class))
        self.quirks = cinder_quirks.for_class(self.cinder_class)
        try:
            self.cinder_driver: Any = self.cinder_class(
                configuration=self.configuration, host=f"volumelib@{backend_name}",
                cluster_name=None)
        except Exception as e:  # noqa: BLE001 - any failure of foreign code
            raise exc.BackendError(
                backend_name=backend_name, operation="set up",
                reason=f"Cinder driver {self.cinder_path} could not be built: "
                       f"{type(e).__name__}: {e}") from e
        self.cinder_driver.db = CinderDB(self)
        self.records = Records(backend_name)
        self._stats: dict[str, Any] | None = None
        self._caps: frozenset[Capability] | None = None
        self.quirks.prepare(self)

    # -- identity and configuration ----------------------------------------------------

    @property
    def protocol(self) -> str:
        proto = (self._stats or {}).get("storage_protocol") or \
            getattr(self.cinder_class, "STORAGE_PROTOCOL", None) or "unknown"
        return str(proto)

    def redacted_config(self) -> dict[str, Any]:
        cfg = {"volume_backend_name": self.backend_name}
        cfg.update(self.configuration.redacted(self._given))
        cfg.update(self.adapter_options)
        return cfg

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """The Cinder class and the options it declares (for docs and listings)."""
        return catalogue.describe_class(cls.cinder_class, cls.cinder_path) \
            if cls.cinder_class else super().describe()

    @classmethod
    def known_options(cls) -> set[str]:
        """The option names a backend of this class takes without probing the Cinder
        driver's constructor: the options it declares (and those it reads as
        attributes), those Cinder's driver base gives every driver, and the adapter's
        own (``cinder_reuse_rados``...)."""
        return ({o["name"] for o in cls.describe()["options"]} |
                {o.dest for o in cinder_config.base_options()} |
                set(cinder_quirks.ADAPTER_OPTIONS))

    @staticmethod
    def cinder_drivers() -> list[dict[str, Any]]:
        """Every volume driver Cinder ships, described as :meth:`describe` describes
        one (:func:`volumelib.drivers.cinder.catalogue.cinder_drivers`)."""
        return catalogue.cinder_drivers()

    # -- life cycle ----------------------------------------------------------------------

    def do_setup(self) -> None:
        """``do_setup`` and ``check_for_setup_error`` of the Cinder driver, then its stats
        (capabilities come from them).

        Raises:
            BackendError: the Cinder driver failed, naming it and the cause; whatever
                the adapter opened (RADOS connections) is closed again.
        """
        try:
            self.cinder_driver.do_setup(runtime.admin_context())
            self.cinder_driver.check_for_setup_error()
            self.cinder_driver.set_initialized()
            self._refresh_stats()
        except BaseException as e:
            self.quirks.close(self)
            if isinstance(e, exc.VolumelibError):
                raise
            if not isinstance(e, Exception):
                raise
            raise _translate(self, "set up", e) from e

    def check_for_setup_error(self) -> None:
        """Done with ``do_setup`` (Cinder calls both at start)."""

    def is_alive(self) -> bool:
        """The driver reports its stats (``backend_state`` not ``down``). Never raises."""
        try:
            return self._refresh_stats().get("backend_state", "up") != "down"
        except Exception:  # noqa: BLE001 - is_alive never raises
            LOG.debug("Cinder backend %s is not alive", self.backend_name, exc_info=True)
            return False

    def health(self) -> dict[str, Any]:
        report: dict[str, Any] = {"alive": self.is_alive(), "cinder_driver": self.cinder_path}
        if self._stats:
            report["backend_state"] = self._stats.get("backend_state")
        return report

    def close(self) -> None:
        """Close what the adapter opened for the driver. Idempotent."""
        self.quirks.close(self)

    @property
    def capabilities(self) -> frozenset[Capability]:
        if self._caps is None:
            caps = stats.capabilities(self.cinder_class, self._stats, self.protocol,
                                      os.geteuid() == 0)
            self._caps = frozenset(c for c in caps if c.value not in
                                   self.quirks.not_capable)
        return self._caps

    def _refresh_stats(self) -> dict[str, Any]:
        self._stats = dict(self.cinder_driver.get_volume_stats(refresh=True) or {})
        pools = stats.raw_pools(self._stats, self.backend_name)
        self.records.pool = str(pools[0].get("pool_name") or self.backend_name)
        self._caps = None
        return self._stats

    # -- volumes -------------------------------------------------------------------------

    def _ctx(self, context: Any = None) -> Any:
        """Cinder's context for a call, for the user and project of volumelib's
        ``context`` (the CG interface's) when given."""
        return runtime.admin_context(getattr(context, "user_id", None),
                                     getattr(context, "project_id", None))

    @_operation("create_volume")
    def create_volume(self, volume: VolumeInfo) -> ModelUpdate:
        vol = self.records.volume(check_info(volume), "creating")
        return self.records.changes(vol, self.cinder_driver.create_volume(vol))

    @_operation("delete_volume")
    def delete_volume(self, volume: VolumeInfo) -> None:
        """Deletes through the driver (a missing volume is a no-op for Cinder drivers)."""
        vol = self.records.volume(check_info(volume), "deleting")
        state = self.quirks.before_delete_volume(self, vol)
        self.cinder_driver.delete_volume(vol)
        self.quirks.after_delete_volume(self, vol, state)
        self.records.forget_volume(volume.id)

    @_operation("extend_volume")
    def extend_volume(self, volume: VolumeInfo, new_size: int) -> None:
        vol = self.records.volume(check_info(volume), "extending")
        self.cinder_driver.extend_volume(vol, new_size)

    @_operation("create_cloned_volume")
    def create_cloned_volume(self, volume: VolumeInfo, src_vref: VolumeInfo) -> ModelUpdate:
        if volume.size < src_vref.size:
            raise exc.InvalidSize(size=volume.size, reason=f"smaller than its source "
                                                           f"({src_vref.size} GiB)")
        src = self.records.volume(check_info(src_vref))
        vol = self.records.volume(check_info(volume), "creating", source_volid=src_vref.id)
        update = self.records.changes(vol, self.cinder_driver.create_cloned_volume(vol, src))
        self.quirks.after_create_cloned(self, vol, src)
        return update

    # -- snapshots -----------------------------------------------------------------------

    @_operation("create_snapshot")
    def create_snapshot(self, snapshot: SnapshotInfo) -> ModelUpdate:
        snap = self.records.snapshot(check_snapshot(snapshot), "creating")
        return self.records.changes(snap, self.cinder_driver.create_snapshot(snap))

    @_operation("delete_snapshot")
    def delete_snapshot(self, snapshot: SnapshotInfo) -> None:
        snap = self.records.snapshot(check_snapshot(snapshot), "deleting")
        self.cinder_driver.delete_snapshot(snap)
        self.records.forget_snapshot(snapshot.id)

    @_operation("create_volume_from_snapshot")
    def create_volume_from_snapshot(self, volume: VolumeInfo,
                                    snapshot: SnapshotInfo) -> ModelUpdate:
        if volume.size < snapshot.volume_size:
            raise exc.InvalidSize(size=volume.size, reason=f"smaller than its snapshot "
                                                           f"({snapshot.volume_size} GiB)")
        snap = self.records.snapshot(check_snapshot(snapshot))
        vol = self.records.volume(check_info(volume), "creating", snapshot_id=snapshot.id)
        update = self.records.changes(
            vol, self.cinder_driver.create_volume_from_snapshot(vol, snap))
        self.quirks.after_create_from_snapshot(self, vol, snap)
        return update

    @_operation("revert_to_snapshot")
    def revert_to_snapshot(self, volume: VolumeInfo, snapshot: SnapshotInfo) -> None:
        if snapshot.volume_id != volume.id:
            raise exc.InvalidArgument(reason=f"snapshot {snapshot.id} is not of volume "
                                             f"{volume.id}")
        if Capability.REVERT_TO_SNAPSHOT not in self.capabilities:
            raise exc.NotSupported(operation="revert_to_snapshot", driver=self.cinder_path)
        vol = self.records.volume(check_info(volume), "reverting")
        snap = self.records.snapshot(check_snapshot(snapshot), volume=vol)
        self.cinder_driver.revert_to_snapshot(self._ctx(), vol, snap)

    # -- connections ---------------------------------------------------------------------

    def validate_connector(self, connector: ConnectorProperties) -> None:
        try:
            self.cinder_driver.validate_connector(connector.to_dict())
        except Exception as e:  # noqa: BLE001 - the driver's own refusal
            raise exc.InvalidArgument(
                reason=f"Cinder driver {self.cinder_path} cannot connect to this host: "
                       f"{type(e).__name__}: {e}") from e

    @_operation("create_export")
    def create_export(self, volume: VolumeInfo,
                      connector: ConnectorProperties) -> ModelUpdate:
        vol = self.records.volume(check_info(volume))
        return self.records.changes(
            vol, self.cinder_driver.create_export(self._ctx(), vol, connector.to_dict()))

    @_operation("remove_export")
    def remove_export(self, volume: VolumeInfo) -> None:
        vol = self.records.volume(check_info(volume))
        self.cinder_driver.remove_export(self._ctx(), vol)

    @_operation("initialize_connection")
    def initialize_connection(self, volume: VolumeInfo,
                              connector: ConnectorProperties) -> ConnectionInfo:
        vol = self.records.volume(check_info(volume), "attaching")
        info = self.cinder_driver.initialize_connection(vol, connector.to_dict())
        result = ConnectionInfo.from_dict(info)
        if connector.attach_mode == "ro":
            result.data["access_mode"] = "ro"
        result.data.setdefault("access_mode", "rw")
        return result

    @_operation("terminate_connection")
    def terminate_connection(self, volume: VolumeInfo,
                             connector: ConnectorProperties | None) -> None:
        vol = self.records.volume(check_info(volume), "detaching")
        self.cinder_driver.terminate_connection(
            vol, connector.to_dict() if connector is not None else None,
            force=connector is None)

    # -- stats ---------------------------------------------------------------------------

    @_operation("get_volume_stats")
    def get_volume_stats(self, refresh: bool = False) -> BackendStats:
        raw = self._refresh_stats() if refresh or self._stats is None else self._stats
        count = provisioned = None
        inventory = self.quirks.inventory(self)
        if inventory is not None:
            vols = [o for o in inventory if o.kind == "volume" and not
                    o.name.endswith(".deleted")]
            count, provisioned = len(vols), round(sum(o.size_gb for o in vols), 2)
        return stats.to_backend_stats(
            raw, backend_name=self.backend_name, vendor=self.vendor_name,
            version=str(getattr(self.cinder_class, "VERSION", self.version)),
            protocol=self.protocol, volumes=count, provisioned_gb=provisioned)

    # -- gc ------------------------------------------------------------------------------

    @_operation("gc")
    def gc(self, is_known: Callable[[str, str], bool], *,
           dry_run: bool = False) -> list[str]:
        """Storage objects named after volumelib ids that no record knows of, found
        through the driver's listing (:mod:`.quirks`); removed with the driver's own
        deletes unless ``dry_run``. A driver that cannot list finds none."""
        inventory = self.quirks.inventory(self)
        if inventory is None:
            return []
        orphans = [o for o in inventory if not o.in_use and not is_known(o.kind, o.id)
                   and not (o.kind == "snapshot" and (o.parent or "").endswith(".deleted"))]
        report = []
        for obj in sorted(orphans, key=lambda o: o.kind != "snapshot"):
            report.append(f"{obj.kind} {obj.id} ({obj.name})")
            if not dry_run:
                self.quirks.remove(self, obj)
        return report

    def delete_orphan(self, obj: cinder_quirks.StorageObject) -> None:
        """Delete a storage object no record knows of, with the driver's delete."""
        size = max(1, math.ceil(obj.size_gb))
        if obj.kind == "volume":
            self.delete_volume(VolumeInfo(id=obj.id, size=size))
            return
        parent = (obj.parent or "").rsplit("/", 1)[-1]
        volume_id = parent[len("volume-"):] if parent.startswith("volume-") else None
        if volume_id is None:
            LOG.warning("orphan snapshot %s: no volume named for it; left", obj.name)
            return
        vol = VolumeInfo(id=volume_id, size=1)
        self.delete_snapshot(SnapshotInfo(id=obj.id, volume_id=volume_id, volume_size=1,
                                          volume=vol))

    # -- manage (passed through when the Cinder driver has it) ----------------------------

    @_operation("manage_existing")
    def manage_existing(self, volume: VolumeInfo, reference: Mapping[str, Any]) -> ModelUpdate:
        """Take over a storage object (``{"source-name": ...}``) as ``volume``."""
        if not stats.implements(self.cinder_class, "manage_existing"):
            raise exc.NotSupported(operation="manage_existing", driver=self.cinder_path)
        vol = self.records.volume(check_info(volume), "managing")
        return self.records.changes(vol, self.cinder_driver.manage_existing(vol,
                                                                            dict(reference)))

    @_operation("manage_existing_get_size")
    def manage_existing_get_size(self, volume: VolumeInfo,
                                 reference: Mapping[str, Any]) -> int:
        if not stats.implements(self.cinder_class, "manage_existing_get_size"):
            raise exc.NotSupported(operation="manage_existing", driver=self.cinder_path)
        vol = self.records.volume(check_info(volume), "managing")
        return int(self.cinder_driver.manage_existing_get_size(vol, dict(reference)))

    @_operation("get_manageable_volumes")
    def get_manageable_volumes(self, marker: Any = None, limit: int | None = None,
                               offset: int = 0) -> list[dict[str, Any]]:
        if not stats.implements(self.cinder_class, "get_manageable_volumes"):
            raise exc.NotSupported(operation="get_manageable_volumes",
                                   driver=self.cinder_path)
        return list(self.cinder_driver.get_manageable_volumes(
            [], marker, limit or 1000, offset, ["size"], ["asc"]))

    @_operation("unmanage")
    def unmanage(self, volume: VolumeInfo) -> None:
        vol = self.records.volume(check_info(volume))
        self.cinder_driver.unmanage(vol)
        self.records.forget_volume(volume.id)

    # -- consistency groups (Cinder's generic group interface) ----------------------------

    def _require_groups(self, method: str) -> None:
        if not stats.implements(self.cinder_class, method):
            raise NotImplementedError(method)

    def _group(self, group: Mapping[str, Any], volumes: Sequence[Any] = (),
               context: Any = None) -> Any:
        return self.records.group(group, volumes, context=context)

    @_operation("create_consistencygroup")
    def create_consistencygroup(self, context: Any, group: Mapping[str, Any]
                                ) -> Mapping[str, Any] | None:
        self._require_groups("create_group")
        ctx = self._ctx(context)
        return self.cinder_driver.create_group(ctx, self._group(group))

    @_operation("delete_consistencygroup")
    def delete_consistencygroup(self, context: Any, group: Mapping[str, Any],
                                volumes: Sequence[VolumeInfo]) -> tuple[Any, Any]:
        self._require_groups("delete_group")
        ctx = self._ctx(context)
        vols = [self.records.volume(v, "deleting", context=ctx) for v in volumes]
        model, vol_updates = self.cinder_driver.delete_group(
            ctx, self._group(group, vols), vols)
        for vol in volumes:
            self.records.forget_volume(vol.id)
        return model, vol_updates

    @_operation("update_consistencygroup")
    def update_consistencygroup(self, context: Any, group: Mapping[str, Any],
                                add_volumes: Sequence[VolumeInfo] | None = None,
                                remove_volumes: Sequence[VolumeInfo] | None = None
                                ) -> tuple[Any, Any, Any]:
        self._require_groups("update_group")
        ctx = self._ctx(context)
        adds = [self.records.volume(v, context=ctx) for v in add_volumes or ()]
        removes = [self.records.volume(v, context=ctx) for v in remove_volumes or ()]
        return self.cinder_driver.update_group(ctx, self._group(group), adds,
                                               removes)

    @_operation("create_cgsnapshot")
    def create_cgsnapshot(self, context: Any, cgsnapshot: Mapping[str, Any],
                          snapshots: Sequence[SnapshotInfo]) -> tuple[Any, Any]:
        self._require_groups("create_group_snapshot")
        ctx = self._ctx(context)
        snaps = [self.records.snapshot(s, "creating", context=ctx) for s in snapshots]
        group = self._group({"id": cgsnapshot["group_id"], "status": "available",
                             "group_type": cgsnapshot.get("group_type") or {}},
                            [s.volume for s in snaps])
        gs = self.records.group_snapshot(cgsnapshot, group, snaps, context=ctx)
        return self.cinder_driver.create_group_snapshot(ctx, gs, snaps)

    @_operation("delete_cgsnapshot")
    def delete_cgsnapshot(self, context: Any, cgsnapshot: Mapping[str, Any],
                          snapshots: Sequence[SnapshotInfo]) -> tuple[Any, Any]:
        self._require_groups("delete_group_snapshot")
        ctx = self._ctx(context)
        snaps = [self.records.snapshot(s, "deleting", context=ctx) for s in snapshots]
        group = self._group({"id": cgsnapshot["group_id"], "status": "available",
                             "group_type": cgsnapshot.get("group_type") or {}},
                            [s.volume for s in snaps])
        gs = self.records.group_snapshot(cgsnapshot, group, snaps, context=ctx)
        result = self.cinder_driver.delete_group_snapshot(ctx, gs, snaps)
        for snap in snapshots:
            self.records.forget_snapshot(snap.id)
        return result

    @_operation("create_consistencygroup_from_src")
    def create_consistencygroup_from_src(
            self, context: Any, group: Mapping[str, Any], volumes: Sequence[VolumeInfo],
            cgsnapshot: Mapping[str, Any] | None = None,
            snapshots: Sequence[SnapshotInfo] | None = None,
            source_cg: Mapping[str, Any] | None = None,
            source_vols: Sequence[VolumeInfo] | None = None) -> tuple[Any, Any]:
        self._require_groups("create_group_from_src")
        ctx = self._ctx(context)
        vols = [self.records.volume(v, "creating", context=ctx) for v in volumes]
        target = self._group(group, vols)
        gs = snaps = source = svols = None
        if cgsnapshot is not None:
            snaps = [self.records.snapshot(s, context=ctx) for s in snapshots or ()]
            gs = self.records.group_snapshot(cgsnapshot, self._group(
                {"id": cgsnapshot["group_id"], "status": "available",
                 "group_type": group.get("group_type") or {}},
                [s.volume for s in snaps]), snaps)
        if source_cg is not None:
            svols = [self.records.volume(v, context=ctx) for v in source_vols or ()]
            source = self._group(source_cg, svols)
        return self.cinder_driver.create_group_from_src(
            ctx, target, vols, group_snapshot=gs, snapshots=snaps,
            source_group=source, source_vols=svols)


def check_info(volume: VolumeInfo) -> VolumeInfo:
    """``volume`` when its id is a canonical UUID (Cinder names objects after ids)."""
    check_id(volume.id)
    return volume


def check_snapshot(snapshot: SnapshotInfo) -> SnapshotInfo:
    check_id(snapshot.id)
    check_id(snapshot.volume_id)
    return snapshot
