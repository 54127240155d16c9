"""The driver SPI's consistency-group interface: Cinder's
``VolumeConsistencyGroupDriver``, with its names, arguments and return shapes.

:class:`ConsistencyGroupInterface` is part of :class:`volumelib.drivers.base.VolumeDriver`
(which derives from it); a vendor implements these methods on its ``VolumeDriver``
subclass. Their default raises ``NotImplementedError``, which makes the library use
its generic, per-volume, non-consistent fallback.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from volumelib.drivers.types import SnapshotInfo, VolumeInfo

__all__ = ["ConsistencyGroupInterface"]


class ConsistencyGroupInterface:
    """The consistency-group methods of a volume driver (see the module docstring)."""

    name: str

    # -- consistency groups (Cinder's VolumeConsistencyGroupDriver) ----------------
    # Groups and group snapshots are passed as plain mappings; volumes and snapshots
    # as VolumeInfo/SnapshotInfo; ``context`` is a small frozen object with
    # ``project_id`` and ``user_id``. Raise NotImplementedError to get the library's
    # per-volume fallback. Any other exception, volumelib's included, fails the whole
    # operation (group and every item ``error``; the user gets BackendError): report
    # per-item failures in the lists instead. Of each list entry only ``id`` and
    # ``status`` are read.

    def create_consistencygroup(self, context: Any, group: Mapping[str, Any]
                                ) -> Mapping[str, Any] | None:
        """Create the storage side of a group (if the storage has one).

        Called by ``backend.create_group()`` with the group stored in ``creating``
        under its lease, before its initial volumes are added with
        :meth:`update_consistencygroup`; and by the fallback of
        :meth:`create_consistencygroup_from_src`. ``NotImplementedError`` (the
        default) means the group lives in the library's store only, which is fine.

        Args:
            context: who asks (``project_id``, ``user_id``).
            group: ``{"id", "name", "status", "group_type", "backend_name"}``;
                ``group_type`` holds the group specs in Cinder syntax.

        Returns:
            ``model_update`` (``{"status": "error"}`` fails the create) or ``None``
            (success: the group is stored ``available``).

        Raises:
            NotImplementedError: no storage-side groups (the default).
            Anything else: the group is stored in ``error``; the user gets
            ``BackendError``.

        Idempotency:
            Never repeated with the same id: after a crash ``gc()`` marks the group
            ``error`` and the user deletes it (:meth:`delete_consistencygroup`).
            Finding the group's storage already there may be taken as success, as the
            ``file`` driver does.
        """
        raise NotImplementedError

    def create_consistencygroup_from_src(
            self, context: Any, group: Mapping[str, Any], volumes: Sequence[VolumeInfo],
            cgsnapshot: Mapping[str, Any] | None = None,
            snapshots: Sequence[SnapshotInfo] | None = None,
            source_cg: Mapping[str, Any] | None = None,
            source_vols: Sequence[VolumeInfo] | None = None,
    ) -> tuple[Mapping[str, Any] | None, list[Mapping[str, Any]] | None]:
        """Create a group and its volumes as copies of a group snapshot's snapshots
        or of a group's volumes.

        Exactly one source is given: ``cgsnapshot`` with ``snapshots``, or
        ``source_cg`` with ``source_vols``; ``volumes[i]`` is the copy of
        ``snapshots[i]`` (or ``source_vols[i]``) and at least as large. The new group
        and volumes are stored in ``creating``; the leases of the new group, the
        source and its members are held; every source is ``available`` (source
        volumes may be ``in-use``: copy them consistently, as one point in time).
        ``NotImplementedError`` makes the library call :meth:`create_consistencygroup`
        (if implemented) and then :meth:`create_volume_from_snapshot` or
        :meth:`create_cloned_volume` for each volume.

        Args:
            context: who asks.
            group: the new group's mapping (as for :meth:`create_consistencygroup`).
            volumes: the new volumes, in the sources' order.
            cgsnapshot: ``{"id", "name", "status", "group_id", "backend_name"}`` of
                the source group snapshot, or ``None``.
            snapshots: its member snapshots, or ``None``.
            source_cg: the source group's mapping, or ``None``.
            source_vols: its volumes, or ``None``.

        Returns:
            ``(model_update, volumes_model_update)``: ``None`` each for success;
            ``{"status": "error"}`` and/or entries ``{"id": <volume id>, "status":
            "error"}`` for failures. On failure the group is ``error``, volumes with
            an entry keep its status, the others become ``error`` too, and the user
            gets ``BackendError``; the user deletes the group with its volumes.

        Raises:
            NotImplementedError: use the per-volume fallback (the default).
            Anything else fails the group and every volume (``error``).

        Idempotency:
            Never repeated with the same group id. After a crash ``gc()`` rolls back
            each new volume with :meth:`delete_volume` and marks the group
            ``error``; deleting it then calls :meth:`delete_consistencygroup`, which
            must remove whatever else the copy made.
        """
        raise NotImplementedError

    def delete_consistencygroup(self, context: Any, group: Mapping[str, Any],
                                volumes: Sequence[VolumeInfo]
                                ) -> tuple[Mapping[str, Any] | None,
                                           list[Mapping[str, Any]] | None]:
        """Delete a group's storage side and the given volumes.

        The library checked that the group is ``available``, ``error`` or
        ``error_deleting`` and has no group snapshots, and that none of ``volumes``
        has a connection or a snapshot; the group and ``volumes`` are stored in
        ``deleting`` under their leases. ``volumes`` is every member (the user asked
        to delete them with the group), or empty for a group without volumes. With
        ``NotImplementedError`` the library deletes each volume with
        :meth:`delete_volume` and calls this method again with no volumes
        (a ``NotImplementedError`` then is ignored).

        Args:
            context: who asks.
            group: the group's mapping.
            volumes: the volumes to delete with it (possibly none).

        Returns:
            ``(model_update, volumes_model_update)``: ``None``, ``None`` when all is
            deleted; else ``{"status": "error_deleting"}`` and an entry
            ``{"id", "status"}`` per volume, ``"deleted"`` for those removed and
            ``"error_deleting"`` for the others (a volume without an entry counts as
            failed, ``error``). Deleted volumes leave the store even then; the
            group is stored ``error``, the failed volumes keep their status, and the
            user may delete again.

        Raises:
            NotImplementedError: use the per-volume fallback (the default).
            Anything else: the group and every volume are stored in ``error``.

        Idempotency:
            A group or volume already gone counts as deleted: a delete is repeated
            after a failure, and after a crash (which ``gc()`` marks
            ``error_deleting``).
        """
        raise NotImplementedError

    def update_consistencygroup(self, context: Any, group: Mapping[str, Any],
                                add_volumes: Sequence[VolumeInfo] | None = None,
                                remove_volumes: Sequence[VolumeInfo] | None = None
                                ) -> tuple[Mapping[str, Any] | None,
                                           list[Mapping[str, Any]] | None,
                                           list[Mapping[str, Any]] | None]:
        """Add volumes to a group and remove others, on the storage side.

        The group is stored in ``updating`` under its lease and the volumes'; added
        volumes are ``available`` or ``in-use`` and in no other group, removed ones
        are members. Also called right after :meth:`create_consistencygroup` with a
        new group's initial volumes. ``NotImplementedError`` means membership lives in
        the store only.

        Args:
            context: who asks.
            group: the group's mapping.
            add_volumes: volumes joining it, or ``None``.
            remove_volumes: volumes leaving it, or ``None``.

        Returns:
            ``(model_update, add_volumes_update, remove_volumes_update)``: ``None``
            each for success (the library records the new membership). For a
            failure, ``{"status": "error"}`` and entries ``{"id", "status"}``; the
            membership is then left as it was, and every volume without an entry is
            stored ``error``, so report the volumes that are fine with their status
            (``"available"``/``"in-use"``) as well. Do it all or nothing.

        Raises:
            NotImplementedError: membership in the store only (the default).
            Anything else: the update fails, the group and every volume named are
            stored ``error``.

        Idempotency:
            Adding a volume that is already in the group's storage, or removing one
            that is not, succeeds without change (a repeat after a crash, which
            ``gc()`` settles by putting the group back to ``available``).
        """
        raise NotImplementedError

    def create_cgsnapshot(self, context: Any, cgsnapshot: Mapping[str, Any],
                          snapshots: Sequence[SnapshotInfo]
                          ) -> tuple[Mapping[str, Any] | None,
                                     list[Mapping[str, Any]] | None]:
        """Snapshot every volume of a group at one point in time.

        Only called when the driver declares ``CONSISTENT_GROUP_SNAPSHOT``: the group
        snapshot then records ``consistent=True``. The group has volumes, all
        ``available`` or ``in-use``; the group snapshot and one snapshot per member
        (``group_snapshot_id`` set) are stored in ``creating``; the leases of the
        group and its volumes are held. Later, each member snapshot may be used by
        :meth:`create_volume_from_snapshot` and :meth:`revert_to_snapshot`, and is
        deleted only with the group snapshot (:meth:`delete_cgsnapshot`).
        ``NotImplementedError`` makes the library take the snapshots one by one with
        :meth:`create_snapshot` (``consistent=False``).

        Args:
            context: who asks.
            cgsnapshot: ``{"id", "name", "status", "group_id", "backend_name"}``.
            snapshots: one per member volume, with the volume.

        Returns:
            ``(model_update, snapshots_model_update)``: ``None``, ``None`` for
            success; ``{"status": "error"}`` and/or ``{"id", "status": "error"}``
            entries for a failure (the group snapshot and the snapshots without an
            entry become ``error``; the user gets ``BackendError`` and deletes it).
            Make it all or nothing: a failed group snapshot is not recorded
            ``consistent``, so its delete goes member by member through
            :meth:`delete_snapshot`.

        Raises:
            NotImplementedError: use the per-volume fallback (the default).
            Anything else: the group snapshot and every snapshot are ``error``.

        Idempotency:
            Never repeated with the same id (a group snapshot that exists on the
            storage may be refused with ``AlreadyExists``). After a crash ``gc()``
            marks it and its snapshots ``error``; its delete then calls
            :meth:`delete_snapshot` per member (the record does not say the native
            call ran), and what is left of it is an orphan for :meth:`gc`.
        """
        raise NotImplementedError

    def delete_cgsnapshot(self, context: Any, cgsnapshot: Mapping[str, Any],
                          snapshots: Sequence[SnapshotInfo]
                          ) -> tuple[Mapping[str, Any] | None,
                                     list[Mapping[str, Any]] | None]:
        """Delete a group snapshot and its member snapshots.

        Called only for group snapshots :meth:`create_cgsnapshot` made (recorded
        ``consistent``) while the driver declares ``CONSISTENT_GROUP_SNAPSHOT``;
        others are deleted member by member with :meth:`delete_snapshot`. The group
        snapshot is ``available``, ``error`` or ``error_deleting``; it and its
        snapshots are stored in ``deleting`` under their leases. Volumes created from
        the member snapshots must keep working.

        Args:
            context: who asks.
            cgsnapshot: the group snapshot's mapping.
            snapshots: its member snapshots.

        Returns:
            ``(model_update, snapshots_model_update)``: ``None``, ``None`` when all
            is deleted; else ``{"status": "error_deleting"}`` and entries
            ``{"id", "status"}`` (``"deleted"`` or ``"error_deleting"``; a snapshot
            without an entry counts as failed, ``error``). Deleted snapshots leave
            the store even then; the group snapshot is stored ``error``, the rest
            keep their status, and the user may delete again.

        Raises:
            NotImplementedError: delete member by member instead.
            Anything else: the group snapshot and every snapshot are ``error``.

        Idempotency:
            A group snapshot or member already gone counts as deleted (a delete
            repeated after ``error_deleting`` or after a crash).
        """
        raise NotImplementedError
