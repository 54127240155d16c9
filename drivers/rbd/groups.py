"""Consistency groups of the RBD driver: native RBD groups and group snapshots.

* A volumelib group is an RBD group ``group-<gid>`` in the pool; its members' images
  are added to it (``rbd group image add``).
* A group snapshot is one RBD group snapshot ``gsnap-<gsid>`` (``rbd group snap
  create``): librbd quiesces and snapshots every member image together, so the copy is
  crash-consistent across the group. The member snapshots live in the images' *group*
  snapshot namespace, where librbd (Pacific) cannot clone from them; a volume made
  from one (a group from a group snapshot, or ``snap.create_volume()`` of a member) is
  therefore a sparse copy of the member's data at that snapshot, read through
  ``set_snap_by_id`` and ``diff_iterate`` (only allocated extents are copied).
* A group from a source group first takes a temporary group snapshot of the source
  (``.tmp-<gid>``), copies from it, and removes it.

:class:`GroupsMixin` is a base class of :class:`~volumelib.drivers.rbd.driver.RBDDriver`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from volumelib import exceptions as exc
from volumelib.drivers.boundary import check_group_sources
from volumelib.drivers.rbd.client import RadosClient, rados, rbd
from volumelib.drivers.types import SnapshotInfo, VolumeInfo

__all__ = ["GroupsMixin", "group_name", "gsnap_name", "find_group_snap_id", "sparse_copy",
           "sparse_revert"]

LOG = logging.getLogger(__name__)

Update = dict[str, Any]

#: Prefix of the temporary group snapshot freezing a source group.
TMP_GSNAP_PREFIX = ".tmp-"
#: What librbd raises for EEXIST (images and groups).
_EXISTS = (rbd.ImageExists, rbd.ObjectExists)
#: Copy in pieces of this size.
COPY_CHUNK = 4 * 1024 * 1024


def group_name(group_id: str) -> str:
    """The RBD group of volumelib group ``group_id``."""
    return f"group-{group_id}"


def gsnap_name(group_snapshot_id: str) -> str:
    """The RBD group snapshot of volumelib group snapshot ``group_snapshot_id``."""
    return f"gsnap-{group_snapshot_id}"


def find_group_snap_id(image: rbd.Image, gsnap: str) -> int | None:
    """The id of ``image``'s snapshot taken by group snapshot ``gsnap``, or ``None``."""
    for snap in image.list_snaps():
        if snap.get("namespace") != rbd.RBD_SNAP_NAMESPACE_TYPE_GROUP:
            continue
        info = snap.get("group") or image.snap_get_group_namespace(snap["id"])
        if info.get("snap_name") == gsnap:
            return int(snap["id"])
    return None


def _allocated(image: rbd.Image) -> list[tuple[int, int]]:
    """``(offset, length)`` of the allocated objects of ``image`` as opened (head or a
    snapshot), parents included."""
    extents: list[tuple[int, int]] = []

    def collect(offset: int, length: int, exists: bool) -> int:
        if exists:
            extents.append((offset, length))
        return 0

    image.diff_iterate(0, image.size(), None, collect, include_parent=True,
                       whole_object=True)
    return extents


def _objects(extents: list[tuple[int, int]], object_size: int) -> set[int]:
    found: set[int] = set()
    for offset, length in extents:
        found.update(range(offset // object_size, (offset + length - 1) // object_size + 1))
    return found


def sparse_revert(src: rbd.Image, dst: rbd.Image, size: int) -> int:
    """Make ``dst`` hold ``src``'s data (``src`` opened at a snapshot of the same
    image), then grow it to ``size`` bytes: objects only ``dst`` has are discarded,
    ``src``'s are copied back. Returns the bytes copied."""
    snap_size = src.size()
    dst.resize(snap_size)  # drops what lies beyond the snapshot's size
    object_size = int(dst.stat()["obj_size"])
    stale = _objects(_allocated(dst), object_size) - _objects(_allocated(src), object_size)
    for index in sorted(stale):
        offset = index * object_size
        dst.discard(offset, min(object_size, snap_size - offset))
    copied = sparse_copy(src, dst, write_zeros=True)
    if size != snap_size:
        dst.resize(size)
    return copied


def sparse_copy(src: rbd.Image, dst: rbd.Image, write_zeros: bool = False) -> int:
    """Copy the allocated extents of ``src`` (as opened: head or a snapshot, parents
    included) into ``dst``; returns the bytes copied. ``dst`` must be at least as big.
    All-zero pieces are skipped (``dst`` is new and reads zeros there) unless
    ``write_zeros``."""
    copied = 0
    for offset, length in _allocated(src):
        end = offset + length
        while offset < end:
            n = min(COPY_CHUNK, end - offset)
            data = src.read(offset, n, rados.LIBRADOS_OP_FLAG_FADVISE_SEQUENTIAL)
            if write_zeros or data.count(0) != len(data):
                dst.write(data, offset)
                copied += len(data)
            offset += n
    dst.flush()
    return copied


class GroupsMixin:
    """Cinder's consistency-group methods on RBD groups."""

    if TYPE_CHECKING:  # provided by RBDDriver
        client: RadosClient
        backend_name: str

        def _image_name(self, volume_id: str) -> str: ...
        def _check_id(self, value: object) -> str: ...
        def _create_image(self, volume: VolumeInfo) -> None: ...
        def _remove_image(self, name: str, volume_id: str) -> str: ...
        def _copy_from_snapshot_id(self, src_name: str, snap_id: int,
                                   volume: VolumeInfo) -> None: ...

    def _group(self, group_id: str) -> rbd.Group:
        """The RBD group of ``group_id``.

        Raises:
            GroupNotFound: no such RBD group.
        """
        name = group_name(self._check_id(group_id))
        if name not in rbd.RBD().group_list(self.client.ioctx):
            raise exc.GroupNotFound(group_id=group_id)
        return rbd.Group(self.client.ioctx, name)

    def create_consistencygroup(self, context: Any, group: Mapping[str, Any]
                                ) -> Update | None:
        """Create the RBD group (an existing one is kept). Returns ``None``."""
        name = group_name(self._check_id(group["id"]))
        try:
            rbd.RBD().group_create(self.client.ioctx, name)
        except _EXISTS:
            LOG.debug("rbd group %s exists already", name)
        return None

    def update_consistencygroup(self, context: Any, group: Mapping[str, Any],
                                add_volumes: Sequence[VolumeInfo] | None = None,
                                remove_volumes: Sequence[VolumeInfo] | None = None
                                ) -> tuple[Update | None, list[Update] | None,
                                           list[Update] | None]:
        """Add and remove member images, all or none.

        Raises:
            GroupNotFound: no RBD group.
        """
        grp = self._group(group["id"])
        ioctx = self.client.ioctx
        plan = [("add", v) for v in add_volumes or ()] + \
            [("remove", v) for v in remove_volumes or ()]
        done: list[tuple[str, str]] = []
        for action, volume in plan:
            name = self._image_name(volume.id)
            try:
                (grp.add_image if action == "add" else grp.remove_image)(ioctx, name)
            except (rbd.Error, rados.Error) as e:
                LOG.warning("update of group %s: %s volume %s failed: %s; undoing",
                            group["id"], action, volume.id, e)
                self._undo_update(grp, done, group["id"])
                if isinstance(e, rbd.ImageNotFound):
                    raise exc.VolumeNotFound(volume_id=volume.id) from e
                entry = [{"id": volume.id, "status": "error"}]
                return ({"status": "error"}, entry if action == "add" else None,
                        entry if action == "remove" else None)
            done.append((action, name))
        return None, None, None

    def _undo_update(self, grp: rbd.Group, done: list[tuple[str, str]],
                     group_id: str) -> None:
        for action, name in reversed(done):
            try:
                (grp.remove_image if action == "add" else grp.add_image)(
                    self.client.ioctx, name)
            except (rbd.Error, rados.Error) as e:
                LOG.error("update of group %s: cannot undo the %s of %s: %s", group_id,
                          action, name, e)

    def delete_consistencygroup(self, context: Any, group: Mapping[str, Any],
                                volumes: Sequence[VolumeInfo]
                                ) -> tuple[Update | None, list[Update] | None]:
        """Delete ``volumes`` and the RBD group (missing: no-op).

        Member images ``volumes`` does not name are taken out of the group first and
        kept. A volume whose image cannot be removed gets ``error_deleting`` and the
        group is kept.
        """
        gid = self._check_id(group["id"])
        ioctx = self.client.ioctx
        updates: list[Update] = []
        for volume in volumes:
            try:
                self._remove_image(self._image_name(volume.id), volume.id)
                updates.append({"id": volume.id, "status": "deleted"})
            except (exc.VolumelibError, rbd.Error, rados.Error) as e:
                LOG.warning("delete of group %s: cannot delete volume %s: %s", gid,
                            volume.id, e)
                updates.append({"id": volume.id, "status": "error_deleting"})
        if any(u["status"] != "deleted" for u in updates):
            return {"status": "error_deleting"}, updates
        try:
            grp = self._group(gid)
        except exc.GroupNotFound:
            return None, None
        for image in list(grp.list_images()):
            LOG.warning("group %s still holds image %s (not named in the delete); "
                        "keeping the image", gid, image["name"])
            grp.remove_image(ioctx, image["name"])
        for snap in list(grp.list_snaps()):
            grp.remove_snap(snap["name"])
        rbd.RBD().group_remove(ioctx, group_name(gid))
        return None, None

    def create_cgsnapshot(self, context: Any, cgsnapshot: Mapping[str, Any],
                          snapshots: Sequence[SnapshotInfo]
                          ) -> tuple[Update | None, list[Update] | None]:
        """One RBD group snapshot: every member at the same instant.

        If a snapshot's volume is not in the RBD group, nothing is created and every
        snapshot is reported ``error``.

        Raises:
            GroupNotFound: no RBD group. AlreadyExists: the group snapshot exists.
        """
        gsid = self._check_id(cgsnapshot["id"])
        grp = self._group(cgsnapshot["group_id"])
        members = {image["name"] for image in grp.list_images()}
        outside = [s for s in snapshots if self._image_name(s.volume_id) not in members]
        if outside:
            LOG.warning("group snapshot %s: volume(s) %s are not in RBD group %s", gsid,
                        ", ".join(s.volume_id for s in outside), cgsnapshot["group_id"])
            return {"status": "error"}, [{"id": s.id, "status": "error"} for s in snapshots]
        try:
            grp.create_snap(gsnap_name(gsid))
        except _EXISTS as e:
            raise exc.AlreadyExists(resource="Group snapshot", id=gsid) from e
        return None, None

    def delete_cgsnapshot(self, context: Any, cgsnapshot: Mapping[str, Any],
                          snapshots: Sequence[SnapshotInfo]
                          ) -> tuple[Update | None, list[Update] | None]:
        """Remove the RBD group snapshot (missing, or group gone: no-op)."""
        gsid = self._check_id(cgsnapshot["id"])
        try:
            grp = self._group(cgsnapshot["group_id"])
        except exc.GroupNotFound:
            return None, None
        try:
            grp.remove_snap(gsnap_name(gsid))
        except rbd.ImageNotFound:
            LOG.debug("group snapshot %s is already gone", gsid)
        return None, None

    def create_consistencygroup_from_src(
            self, context: Any, group: Mapping[str, Any], volumes: Sequence[VolumeInfo],
            cgsnapshot: Mapping[str, Any] | None = None,
            snapshots: Sequence[SnapshotInfo] | None = None,
            source_cg: Mapping[str, Any] | None = None,
            source_vols: Sequence[VolumeInfo] | None = None,
    ) -> tuple[Update | None, list[Update] | None]:
        """Create the RBD group and ``volumes[i]`` in it with the data of
        ``snapshots[i]`` (members of the group snapshot ``cgsnapshot``) or of
        ``source_vols[i]`` (frozen together by a temporary group snapshot).

        Raises:
            InvalidArgument: no source, or sources and volumes do not line up.
            GroupNotFound: the source group has no RBD group.
            GroupSnapshotNotFound: the group snapshot is not in the source group.
        """
        gid = self._check_id(group["id"])
        targets = list(volumes)
        temporary: tuple[rbd.Group, str] | None = None
        given = check_group_sources(targets, cgsnapshot, snapshots, source_cg, source_vols)
        if cgsnapshot is not None:
            gsnap = gsnap_name(self._check_id(cgsnapshot["id"]))
            source_grp = self._group(cgsnapshot["group_id"])
            if gsnap not in {s["name"] for s in source_grp.list_snaps()}:
                raise exc.GroupSnapshotNotFound(group_snapshot_id=cgsnapshot["id"])
            sources = [self._image_name(s.volume_id) for s in snapshots or ()]
        else:
            assert source_cg is not None  # check_group_sources: one of the two is given
            source_grp = self._group(source_cg["id"])
            gsnap = f"{TMP_GSNAP_PREFIX}{gid}"
            sources = [self._image_name(v.id) for v in given]
        if source_cg is not None:
            try:
                source_grp.create_snap(gsnap)
            except _EXISTS:  # left by an interrupted attempt: take a fresh one
                source_grp.remove_snap(gsnap)
                source_grp.create_snap(gsnap)
            temporary = (source_grp, gsnap)
        try:
            self.create_consistencygroup(context, group)
            grp = self._group(gid)
            updates = []
            for target, src in zip(targets, sources):
                updates.append(self._fill(grp, target, src, gsnap))
        finally:
            if temporary is not None:
                try:
                    temporary[0].remove_snap(temporary[1])
                except (rbd.Error, rados.Error) as e:  # gc removes it later
                    LOG.warning("cannot remove the temporary group snapshot %s: %s",
                                temporary[1], e)
        failed = any(u["status"] == "error" for u in updates)
        return {"status": "error" if failed else "available"}, updates

    def _fill(self, grp: rbd.Group, target: VolumeInfo, src: str, gsnap: str) -> Update:
        """Create ``target`` as a copy of ``src`` at group snapshot ``gsnap`` and add it
        to ``grp``; a failure is reported as an ``error`` entry."""
        try:
            with self.client.image(src, read_only=True) as image:
                snap_id = find_group_snap_id(image, gsnap)
            if snap_id is None:
                raise exc.SnapshotNotFound(snapshot_id=f"{src}@{gsnap}")
            self._copy_from_snapshot_id(src, snap_id, target)
            grp.add_image(self.client.ioctx, self._image_name(target.id))
        except (exc.VolumelibError, rbd.Error, rados.Error) as e:
            LOG.warning("cannot create volume %s from %s@%s: %s", target.id, src, gsnap, e)
            return {"id": target.id, "status": "error"}
        return {"id": target.id, "status": "available"}
