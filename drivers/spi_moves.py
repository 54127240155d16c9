"""The driver SPI's manage, migrate and retype methods: optional, each behind a
declared capability, with the names and shapes of Cinder's ``ManageableVD``,
``ManageableSnapshotsVD``, ``migrate_volume`` and ``retype``.

:class:`ManageMigrateInterface` is part of :class:`volumelib.drivers.base.VolumeDriver`
(which derives from it); a vendor implements these methods on its ``VolumeDriver``
subclass.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from volumelib import exceptions as exc
from volumelib.drivers.types import ModelUpdate, SnapshotInfo, VolumeInfo

__all__ = ["ManageMigrateInterface"]


class ManageMigrateInterface:
    """The manage, migrate and retype methods of a volume driver (see the module
    docstring)."""

    name: str

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
            sort_keys: Cinder's sort keys (``["reference"]``; ``size`` also).
            sort_dirs: one direction per key (``"asc"`` or ``"desc"``).
                :func:`volumelib.drivers.manageable.paginate_manageable` does the
                marker, limit, offset and sort.

        Returns:
            One dict per object with Cinder's keys: ``reference`` (a reference dict),
            ``size`` (GiB, rounded up), ``safe_to_manage`` (bool), ``reason_not_safe``
            (str or ``None``: in use, already managed, wrong format...), ``cinder_id``
            (the volume's id when already managed, else ``None``), ``extra_info``
            (str or ``None``).

        Raises:
            NotSupported: the driver does not declare ``MANAGE_EXISTING``.

        Idempotency:
            a read; changes nothing.
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

        Idempotency:
            a read; changes nothing.
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

        Idempotency:
            a repeated call (after a crash) whose reference is gone but whose object is
            already ``volume``'s returns as the first one did; ``gc()`` relies on it to
            finish an interrupted manage.
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

        Idempotency:
            a repeated call after the object was moved returns the same reference; a missing
            object: ``None``.
        """
        raise exc.NotSupported(operation="unmanage", driver=self.name)

    def get_manageable_snapshots(self, cinder_snapshots: Sequence[SnapshotInfo],
                                 marker: Any, limit: int | None, offset: int,
                                 sort_keys: Sequence[str], sort_dirs: Sequence[str]
                                 ) -> list[dict[str, Any]]:
        """Like :meth:`get_manageable_volumes`, for snapshots.

        Args:
            cinder_snapshots: the snapshots the library already has on this backend.
            marker: as :meth:`get_manageable_volumes`.
            limit: as :meth:`get_manageable_volumes`.
            offset: as :meth:`get_manageable_volumes`.
            sort_keys: as :meth:`get_manageable_volumes`.
            sort_dirs: as :meth:`get_manageable_volumes`.

        Returns:
            The entries of :meth:`get_manageable_volumes`, each also with
            ``source_reference``: the reference of the volume's storage object it is a
            snapshot of (safe only when that object is a managed volume).

        Raises:
            NotSupported: no ``MANAGE_EXISTING_SNAPSHOT``.

        Idempotency:
            a read; changes nothing.
        """
        raise exc.NotSupported(operation="get_manageable_snapshots", driver=self.name)

    def manage_existing_snapshot_get_size(self, snapshot: SnapshotInfo,
                                          existing_ref: Mapping[str, Any]) -> int:
        """The size in GiB of ``existing_ref``, a snapshot of ``snapshot.volume``'s
        storage object.

        Args:
            snapshot: the snapshot it would become (with its volume's info).
            existing_ref: ``{"source-name": ...}`` or ``{"source-id": ...}``.

        Returns:
            Its size in GiB, rounded up.

        Raises:
            As :meth:`manage_existing_get_size`, plus ``NotManageable`` when it is not
            a snapshot of that volume's storage object.

        Idempotency:
            a read; changes nothing.
        """
        raise exc.NotSupported(operation="manage_existing_snapshot_get_size",
                               driver=self.name)

    def manage_existing_snapshot(self, snapshot: SnapshotInfo,
                                 existing_ref: Mapping[str, Any]) -> ModelUpdate:
        """Adopt ``existing_ref`` as ``snapshot`` (rename it into the driver's naming).

        Args:
            snapshot: the snapshot it becomes.
            existing_ref: ``{"source-name": ...}`` or ``{"source-id": ...}``.

        Returns:
            A model update or ``None``.

        Raises:
            As :meth:`manage_existing_snapshot_get_size`.

        Idempotency:
            as :meth:`manage_existing`.
        """
        raise exc.NotSupported(operation="manage_existing_snapshot", driver=self.name)

    def unmanage_snapshot(self, snapshot: SnapshotInfo) -> Mapping[str, Any] | None:
        """Let go of ``snapshot``'s storage object, keeping it (see :meth:`unmanage`).

        Args:
            snapshot: the managed snapshot.

        Returns:
            Its reference now, or ``None``.

        Raises:
            NotSupported: no ``MANAGE_EXISTING_SNAPSHOT``.

        Idempotency:
            as :meth:`unmanage`: a second call finds the object already let go of
            and returns its reference again.
        """
        raise exc.NotSupported(operation="unmanage_snapshot", driver=self.name)

    def migrate_volume(self, volume: VolumeInfo, target: ManageMigrateInterface,
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

        Idempotency:
            not idempotent; the library deletes a partial copy with ``target.delete_volume``
            before any retry.
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

        Idempotency:
            a repeated call with the same type is a no-op.
        """
        raise exc.NotSupported(operation="retype", driver=self.name)

    def get_allocated_extents(self, volume: VolumeInfo) -> list[tuple[int, int]]:
        """The ``(offset, length)`` byte ranges of ``volume`` that may hold data, in
        order and not overlapping; everything else reads as zeros. A host-assisted
        copy reads only these (a file's ``SEEK_DATA``/``SEEK_HOLE``, ``rbd diff``).

        Args:
            volume: the volume.

        Returns:
            The ranges, ``[(offset, length), ...]``.

        Raises:
            VolumeNotFound: no storage object.
            NotSupported: no ``ALLOCATION_MAP``.

        Idempotency:
            a read; changes nothing.
        """
        raise exc.NotSupported(operation="get_allocated_extents", driver=self.name)
