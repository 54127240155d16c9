"""The driver SPI: what a storage vendor implements, and nothing else.

Users never call a driver directly; :class:`volumelib.Backend` does, after it has
validated the request, checked the declared :attr:`VolumeDriver.capabilities` and
stored the intent (a row in ``creating``/``deleting``) in the persistence. A driver
therefore only moves bytes and returns what happened.

Conventions for every method:

* Sizes are GiB integers; ids are UUID strings; name storage objects after ids.
* A method that creates something may return a *model update*: a dict with any of
  ``provider_location``, ``provider_id``, ``provider_auth``, saved on the object and
  handed back on later calls. ``None`` means nothing to save.
* Deleting something that does not exist is a no-op (idempotent), so ``gc()`` and
  retries after a crash can call it blindly.
* Raise anything on failure; the library wraps it in :class:`~volumelib.exceptions.BackendError`
  carrying the backend name, and marks the resource ``error``/``error_deleting``.

The consistency-group methods follow Cinder's ``VolumeConsistencyGroupDriver``
interface (same names, arguments and return shapes). Their default raises
``NotImplementedError``, which makes the library use its generic, per-volume,
non-consistent fallback.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Mapping, Sequence
from typing import Any, Callable, ClassVar

from volumelib import exceptions as exc
from volumelib.drivers.options import Option, resolve_options
from volumelib.drivers.types import (BackendStats, Capability, ConnectionInfo,
                                     ConnectorProperties, SnapshotInfo, VolumeInfo)

__all__ = [
    "VolumeDriver",
    "Option",
    "Capability",
    "VolumeInfo",
    "SnapshotInfo",
    "ConnectorProperties",
    "ConnectionInfo",
    "BackendStats",
    "ModelUpdate",
]

LOG = logging.getLogger(__name__)

#: A driver's answer to a create: fields to save on the resource, or ``None``.
ModelUpdate = Mapping[str, Any] | None

#: Options every driver accepts, whatever its own.
COMMON_OPTIONS: tuple[Option, ...] = (
    Option("volume_backend_name", "str", None, "Name of the backend (set by Backend)."),
)


class VolumeDriver(abc.ABC):
    """Base class of every volume driver.

    Subclasses set ``name``, ``vendor_name``, ``version``, ``storage_protocol`` and
    ``options``, implement the abstract methods, and declare :attr:`capabilities`.

    Args:
        db: read-only persistence facade (``volume_get``, ``snapshot_get``,
            ``get_volume_type``...), set by the library; may be ``None`` in tests.
        **options: the driver's declared options; unknown keys raise ``UnknownOption``.
    """

    #: Entry-point name (``file``, ``fake``, ``rbd``).
    name: ClassVar[str] = "abstract"
    vendor_name: ClassVar[str] = "volumelib"
    version: ClassVar[str] = "1.0.0"
    storage_protocol: ClassVar[str] = "unknown"
    #: The options this driver accepts, beyond ``COMMON_OPTIONS``.
    options: ClassVar[tuple[Option, ...]] = ()

    def __init__(self, *, db: Any = None, **options: Any) -> None:
        self.db = db
        self.config = resolve_options(COMMON_OPTIONS + tuple(self.options), options,
                                      driver=self.name)
        self.backend_name: str = self.config.volume_backend_name or self.name

    # -- declared capabilities -----------------------------------------------------

    @property
    def capabilities(self) -> frozenset[Capability]:
        """What this driver can do; may depend on what ``do_setup`` probed."""
        return frozenset()

    def supports(self, capability: Capability) -> bool:
        return capability in self.capabilities

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """The driver's name, class and declared options, for docs and listings."""
        return {"name": cls.name, "class": f"{cls.__module__}.{cls.__qualname__}",
                "vendor_name": cls.vendor_name, "version": cls.version,
                "storage_protocol": cls.storage_protocol,
                "options": [o.describe() for o in cls.options]}

    def redacted_config(self) -> dict[str, Any]:
        secret = {o.name for o in self.options if o.secret}
        return {k: ("***" if k in secret and v is not None else v)
                for k, v in vars(self.config).items()}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.backend_name} {self.redacted_config()}>"

    # -- life cycle ----------------------------------------------------------------

    @abc.abstractmethod
    def do_setup(self) -> None:
        """Connect to the storage and probe what it supports. Called once by Backend."""

    @abc.abstractmethod
    def check_for_setup_error(self) -> None:
        """Raise if the backend cannot be used (after ``do_setup``)."""

    @abc.abstractmethod
    def is_alive(self) -> bool:
        """Cheap check that the storage answers. Never raises."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections and handles. Idempotent."""

    def health(self) -> dict[str, Any]:
        """A health report: ``{"alive": bool, ...}``; drivers add their own keys."""
        return {"alive": self.is_alive()}

    def gc(self, is_known: Callable[[str, str], bool], *,
           dry_run: bool = False) -> list[str]:
        """Remove storage objects no record knows of.

        Args:
            is_known: ``is_known(kind, id)`` with kind ``"volume"`` or ``"snapshot"``
                asks the persistence *now*; records are written before storage objects,
                so an object created after this gc started is always known.
            dry_run: report only.

        Returns:
            A description of each orphan found (and removed unless ``dry_run``).
        """
        return []

    # -- volumes -------------------------------------------------------------------

    @abc.abstractmethod
    def create_volume(self, volume: VolumeInfo) -> ModelUpdate:
        """Create an empty volume of ``volume.size`` GiB."""

    @abc.abstractmethod
    def delete_volume(self, volume: VolumeInfo) -> None:
        """Delete a volume. Missing volume: no-op."""

    @abc.abstractmethod
    def extend_volume(self, volume: VolumeInfo, new_size: int) -> None:
        """Grow ``volume`` to ``new_size`` GiB (> ``volume.size``), also while exported
        when the driver declares ``ONLINE_EXTEND``."""

    @abc.abstractmethod
    def create_cloned_volume(self, volume: VolumeInfo, src_vref: VolumeInfo) -> ModelUpdate:
        """Create ``volume`` (``volume.size`` >= ``src_vref.size``) with ``src_vref``'s data."""

    def check_capacity(self, size: int) -> None:
        """Raise ``InsufficientCapacity`` if ``size`` more GiB cannot fit.

        Called before the intent is stored, so a refusal changes nothing. The default
        accepts everything.
        """

    # -- snapshots -----------------------------------------------------------------

    @abc.abstractmethod
    def create_snapshot(self, snapshot: SnapshotInfo) -> ModelUpdate:
        """Create a point-in-time copy of ``snapshot.volume``."""

    @abc.abstractmethod
    def delete_snapshot(self, snapshot: SnapshotInfo) -> None:
        """Delete a snapshot. Missing snapshot: no-op."""

    @abc.abstractmethod
    def create_volume_from_snapshot(self, volume: VolumeInfo,
                                    snapshot: SnapshotInfo) -> ModelUpdate:
        """Create ``volume`` (``volume.size`` >= ``snapshot.volume_size``) with the
        snapshot's data."""

    def revert_to_snapshot(self, volume: VolumeInfo, snapshot: SnapshotInfo) -> None:
        """Make ``volume``'s data the snapshot's again (keeping ``volume.size``).

        Drivers that implement it declare ``REVERT_TO_SNAPSHOT``.
        """
        raise exc.NotSupported(operation="revert_to_snapshot", driver=self.name)

    # -- connections ---------------------------------------------------------------

    def validate_connector(self, connector: ConnectorProperties) -> None:
        """Raise ``InvalidArgument`` if ``connector`` lacks what this driver needs to
        connect (an ``initiator`` for iSCSI...). Called before anything is stored.
        The default accepts every connector."""

    @abc.abstractmethod
    def create_export(self, volume: VolumeInfo,
                      connector: ConnectorProperties) -> ModelUpdate:
        """Make the volume reachable for ``connector`` (a loop device, a target...)."""

    @abc.abstractmethod
    def remove_export(self, volume: VolumeInfo) -> None:
        """Undo ``create_export``. Not exported: no-op."""

    @abc.abstractmethod
    def initialize_connection(self, volume: VolumeInfo,
                              connector: ConnectorProperties) -> ConnectionInfo:
        """Return what os-brick needs on ``connector``'s host to attach."""

    @abc.abstractmethod
    def terminate_connection(self, volume: VolumeInfo,
                             connector: ConnectorProperties | None) -> None:
        """Revoke ``connector``'s access (``None``: everybody's). Not connected: no-op."""

    # -- stats ---------------------------------------------------------------------

    @abc.abstractmethod
    def get_volume_stats(self, refresh: bool = False) -> BackendStats:
        """Capacity and capabilities in Cinder's stats format."""

    # -- consistency groups (Cinder's VolumeConsistencyGroupDriver) ----------------
    # Groups and snapshots are passed as mappings with at least ``id`` and ``status``.
    # Raise NotImplementedError to get the library's per-volume fallback.

    def create_consistencygroup(self, context: Any, group: Mapping[str, Any]
                                ) -> Mapping[str, Any] | None:
        """Create a group. Returns ``model_update`` (``{"status": ...}``) or ``None``."""
        raise NotImplementedError

    def create_consistencygroup_from_src(
            self, context: Any, group: Mapping[str, Any], volumes: Sequence[VolumeInfo],
            cgsnapshot: Mapping[str, Any] | None = None,
            snapshots: Sequence[SnapshotInfo] | None = None,
            source_cg: Mapping[str, Any] | None = None,
            source_vols: Sequence[VolumeInfo] | None = None,
    ) -> tuple[Mapping[str, Any] | None, list[Mapping[str, Any]] | None]:
        """Create a group from a group snapshot or a group.

        Returns ``(model_update, volumes_model_update)``.
        """
        raise NotImplementedError

    def delete_consistencygroup(self, context: Any, group: Mapping[str, Any],
                                volumes: Sequence[VolumeInfo]
                                ) -> tuple[Mapping[str, Any] | None,
                                           list[Mapping[str, Any]] | None]:
        """Delete a group and its volumes. Returns ``(model_update, volumes_model_update)``."""
        raise NotImplementedError

    def update_consistencygroup(self, context: Any, group: Mapping[str, Any],
                                add_volumes: Sequence[VolumeInfo] | None = None,
                                remove_volumes: Sequence[VolumeInfo] | None = None
                                ) -> tuple[Mapping[str, Any] | None,
                                           list[Mapping[str, Any]] | None,
                                           list[Mapping[str, Any]] | None]:
        """Returns ``(model_update, add_volumes_update, remove_volumes_update)``."""
        raise NotImplementedError

    def create_cgsnapshot(self, context: Any, cgsnapshot: Mapping[str, Any],
                          snapshots: Sequence[SnapshotInfo]
                          ) -> tuple[Mapping[str, Any] | None,
                                     list[Mapping[str, Any]] | None]:
        """Returns ``(model_update, snapshots_model_update)``."""
        raise NotImplementedError

    def delete_cgsnapshot(self, context: Any, cgsnapshot: Mapping[str, Any],
                          snapshots: Sequence[SnapshotInfo]
                          ) -> tuple[Mapping[str, Any] | None,
                                     list[Mapping[str, Any]] | None]:
        """Returns ``(model_update, snapshots_model_update)``."""
        raise NotImplementedError

    # -- manage, migrate, retype ---------------------------------------------------
    # Optional, each behind a declared capability (MANAGE_EXISTING,
    # MANAGE_EXISTING_SNAPSHOT, MIGRATE, RETYPE, ALLOCATION_MAP): the library checks it
    # before calling. Names, arguments and return shapes are Cinder's (its
    # ManageableVD, ManageableSnapshotsVD, migrate_volume and retype), so a Cinder
    # driver maps onto them one to one. A *reference* names a storage object the way
    # Cinder's do: ``{"source-name": ...}`` or ``{"source-id": ...}``.

    def get_manageable_volumes(self, cinder_volumes: Sequence[VolumeInfo],
                               marker: Any, limit: int | None, offset: int,
                               sort_keys: Sequence[str], sort_dirs: Sequence[str]
                               ) -> list[dict[str, Any]]:
        """List the storage objects that could be adopted as volumes.

        Args:
            cinder_volumes: the volumes the library already has on this backend; an
                object that is one of them is listed as not safe (``cinder_id`` set).
            marker: the ``reference`` of the last entry of the previous page (or
                ``None``); entries sorted after it are returned.
            limit: at most this many entries (``None``: all).
            offset: entries to skip after the marker.
            sort_keys, sort_dirs: Cinder's sort (``["reference"]``/``["asc"]``;
                ``size`` also). :func:`volumelib.drivers.common.paginate_manageable`
                does all four.

        Returns:
            One dict per object with Cinder's keys: ``reference`` (a reference dict),
            ``size`` (GiB, rounded up), ``safe_to_manage`` (bool), ``reason_not_safe``
            (str or ``None``: in use, already managed, wrong format...), ``cinder_id``
            (the volume's id when already managed, else ``None``), ``extra_info``
            (str or ``None``).

        Raises:
            NotSupported: the driver does not declare ``MANAGE_EXISTING``.

        Idempotency: a read; changes nothing.
        """
        raise exc.NotSupported(operation="get_manageable_volumes", driver=self.name)

    def manage_existing_get_size(self, volume: VolumeInfo,
                                 existing_ref: Mapping[str, Any]) -> int:
        """The size in GiB (rounded up) ``existing_ref`` would have as ``volume``.

        The library calls it before storing anything, so it must also refuse
        everything :meth:`manage_existing` would refuse.

        Args:
            volume: the volume to be (its id, name and type; ``size`` is 0).
            existing_ref: ``{"source-name": ...}`` or ``{"source-id": ...}``.

        Returns:
            GiB, at least 1.

        Raises:
            InvalidReference: not a reference this driver takes.
            ReferenceNotFound: nothing answers it.
            AlreadyManaged: it is a volume of this backend already.
            NotManageable: it is unsafe to adopt (in use, wrong format...).
            NotSupported: no ``MANAGE_EXISTING``.

        Idempotency: a read; changes nothing.
        """
        raise exc.NotSupported(operation="manage_existing_get_size", driver=self.name)

    def manage_existing(self, volume: VolumeInfo,
                        existing_ref: Mapping[str, Any]) -> ModelUpdate:
        """Adopt ``existing_ref`` as ``volume``: from now on the driver finds its data
        by ``volume.id`` (rename it into the driver's naming, as Cinder's drivers do)
        and it has ``volume.size`` GiB (grown, never shrunk, to the rounded-up size).
        The data is left as it is.

        Args:
            volume: the new volume's record (stored ``managing`` already).
            existing_ref: as for :meth:`manage_existing_get_size`.

        Returns:
            A model update (``provider_location``...) or ``None``.

        Raises:
            Everything :meth:`manage_existing_get_size` raises.

        Idempotency: a repeated call (after a crash) whose reference is gone but whose
        object is already ``volume``'s returns as the first one did; ``gc()`` relies
        on it to finish an interrupted manage.
        """
        raise exc.NotSupported(operation="manage_existing", driver=self.name)

    def unmanage(self, volume: VolumeInfo) -> Mapping[str, Any] | None:
        """Let go of ``volume``'s storage object, keeping its data: move it out of the
        driver's naming (where ``gc`` would take it for an orphan) to a name
        :meth:`get_manageable_volumes` lists again.

        Args:
            volume: the volume (``unmanaging``, no exports, no snapshots).

        Returns:
            The reference of the object now (for ``manage`` again), or ``None`` when
            the driver keeps no object (the library then reports none).

        Raises:
            VolumeInUse: the object is exported or open.
            NotSupported: no ``MANAGE_EXISTING``.

        Idempotency: a repeated call after the object was moved returns the same
        reference; a missing object: ``None``.
        """
        raise exc.NotSupported(operation="unmanage", driver=self.name)

    def get_manageable_snapshots(self, cinder_snapshots: Sequence[SnapshotInfo],
                                 marker: Any, limit: int | None, offset: int,
                                 sort_keys: Sequence[str], sort_dirs: Sequence[str]
                                 ) -> list[dict[str, Any]]:
        """Like :meth:`get_manageable_volumes`, for snapshots. Each entry also has
        ``source_reference``: the reference of the volume's storage object it is a
        snapshot of (safe only when that object is a managed volume).

        Raises:
            NotSupported: no ``MANAGE_EXISTING_SNAPSHOT``.

        Idempotency: a read; changes nothing.
        """
        raise exc.NotSupported(operation="get_manageable_snapshots", driver=self.name)

    def manage_existing_snapshot_get_size(self, snapshot: SnapshotInfo,
                                          existing_ref: Mapping[str, Any]) -> int:
        """The size in GiB of ``existing_ref``, a snapshot of ``snapshot.volume``'s
        storage object. Raises as :meth:`manage_existing_get_size` does (plus
        ``NotManageable`` when it is not a snapshot of that volume).

        Idempotency: a read; changes nothing.
        """
        raise exc.NotSupported(operation="manage_existing_snapshot_get_size",
                               driver=self.name)

    def manage_existing_snapshot(self, snapshot: SnapshotInfo,
                                 existing_ref: Mapping[str, Any]) -> ModelUpdate:
        """Adopt ``existing_ref`` as ``snapshot`` (rename it into the driver's naming).

        Returns:
            A model update or ``None``.

        Raises:
            As :meth:`manage_existing_snapshot_get_size`.

        Idempotency: as :meth:`manage_existing`.
        """
        raise exc.NotSupported(operation="manage_existing_snapshot", driver=self.name)

    def unmanage_snapshot(self, snapshot: SnapshotInfo) -> Mapping[str, Any] | None:
        """Let go of ``snapshot``'s storage object, keeping it (see :meth:`unmanage`).

        Returns:
            Its reference now, or ``None``.

        Idempotency: as :meth:`unmanage`.
        """
        raise exc.NotSupported(operation="unmanage_snapshot", driver=self.name)

    def migrate_volume(self, volume: VolumeInfo, target: VolumeDriver,
                       progress: Callable[[int, int], None] | None = None
                       ) -> tuple[bool, ModelUpdate]:
        """Copy ``volume`` to the backend of driver ``target`` by the storage's own
        means (a reflink within one filesystem, a deep copy within one cluster),
        where that is possible.

        The copy is made under the same id on the target (``target`` then finds it by
        ``volume.id``), complete before this returns; the source is left intact: the
        library switches the record to the target and then deletes the source, so an
        interrupted migration can always be rolled back or finished. No export of
        either is needed.

        Args:
            volume: the volume (``migrating``, not attached, no snapshots).
            target: the set-up driver of the target backend (any class).
            progress: ``progress(copied_bytes, total_bytes)``, when the storage says.

        Returns:
            ``(False, None)`` with nothing changed when this driver cannot reach
            ``target`` (another class, cluster, filesystem...): the library copies
            through this host. ``(True, model_update)`` when the copy exists: the
            update is the target's (``provider_location``...) or ``None``.

        Raises:
            AlreadyExists: the target has an object for ``volume.id`` already.
            NotSupported: no ``MIGRATE``.

        Idempotency: not idempotent; the library deletes a partial copy with
        ``target.delete_volume`` before any retry.
        """
        raise exc.NotSupported(operation="migrate_volume", driver=self.name)

    def retype(self, volume: VolumeInfo, new_type: Mapping[str, Any],
               diff: Mapping[str, Any]) -> tuple[bool, ModelUpdate]:
        """Adjust ``volume`` in place to its new type (QoS, tiering...).

        Called only when this backend satisfies the new type's extra specs. A driver
        without ``RETYPE`` has nothing per volume to adjust: the library changes only
        the record.

        Args:
            volume: the volume, with its old ``volume_type`` specs.
            new_type: ``{"extra_specs": {...}, "qos_specs": {...}}`` of the new type.
            diff: Cinder's diff, ``{"extra_specs": {key: (old, new)}, "qos_specs":
                {key: (old, new)}}``, only the keys that change.

        Returns:
            ``(True, model_update)`` when done; ``(False, None)`` with nothing changed
            when this volume cannot be adjusted in place (the library then migrates,
            if the caller allows it).

        Raises:
            NotSupported: no ``RETYPE``.

        Idempotency: a repeated call with the same type is a no-op.
        """
        raise exc.NotSupported(operation="retype", driver=self.name)

    def get_allocated_extents(self, volume: VolumeInfo) -> list[tuple[int, int]]:
        """The ``(offset, length)`` byte ranges of ``volume`` that may hold data, in
        order and not overlapping; everything else reads as zeros. A host-assisted
        copy reads only these (a file's ``SEEK_DATA``/``SEEK_HOLE``, ``rbd diff``).

        Raises:
            VolumeNotFound: no storage object.
            NotSupported: no ``ALLOCATION_MAP``.

        Idempotency: a read; changes nothing.
        """
        raise exc.NotSupported(operation="get_allocated_extents", driver=self.name)
