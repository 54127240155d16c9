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
    #: Cinder's ``supported`` flag (False marked an unsupported, CI-less driver); what
    #: cinderlib's ``list_supported_drivers`` and its clients report.
    supported: ClassVar[bool] = True

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

    def get_version(self) -> str:
        """The driver's :attr:`version`, as Cinder drivers' ``get_version()`` gives it
        (cinderlib's clients call it through the compat ``Backend``)."""
        return self.version

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
