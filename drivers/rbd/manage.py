"""The RBD driver's manage, unmanage, allocation map and migration within one cluster.

A mixin of :class:`~volumelib.drivers.rbd.driver.RBDDriver`, kept apart so each
module stays small.

**Manage.** Any image of the pool can be adopted: ``{"source-name": <image>}`` or
``{"source-id": <image id>}`` (``rbd info``'s ``id``). Adopting renames it to
``volume-<id>`` (as Cinder's RBD driver does) and grows it to the whole GiB the
volume has; its snapshots and clone relations are kept (RBD links them by image id).
Not safe to adopt: an image some client has open (watchers), one that is a volume
already. Snapshots of a managed volume's image can be adopted too:
``{"source-name": <snapshot name>}``, renamed to ``snapshot-<id>``.

**Unmanage** renames ``volume-<id>`` to ``unmanaged-volume-<id>`` (a snapshot to
``unmanaged-snapshot-<id>``), out of the names ``gc`` looks at.

**Migration** to another rbd backend of the same cluster (same fsid): a deep copy
(``rbd deep cp``: sparse, server objects copied by librbd) into the target's pool
under the same name, flattened when its parent is in another pool (so the target
pool does not depend on the one being left), without the snapshots the deep copy
brings along (a migrating volume has none of its own). librbd's deep copy has no
progress callback in the Python bindings of Ceph Pacific: progress is reported at
the end.

**Allocation map**: ``rbd diff`` of the image (``diff_iterate`` from the start, the
parent's data included).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from volumelib import exceptions as exc
from volumelib.drivers.base import ModelUpdate, VolumeDriver
from volumelib.drivers.manageable import (gib_rounded_up,
                                          manageable_entry,
                                          paginate_manageable,
                                          reference_value)
from volumelib.drivers.rbd import names
from volumelib.drivers.rbd.client import RadosClient, operation, rbd
from volumelib.drivers.types import SnapshotInfo, VolumeInfo

__all__ = ["ManageMixin", "UNMANAGED"]

LOG = logging.getLogger(__name__)

GiB = 1024 ** 3
#: Prefix of what ``unmanage`` leaves: ``unmanaged-volume-<id>``, ``unmanaged-snapshot-<id>``.
UNMANAGED = "unmanaged-"


class ManageMixin:
    """get_manageable_volumes/_snapshots, manage_existing(_snapshot)(_get_size),
    unmanage(_snapshot), get_allocated_extents, migrate_volume."""

    if TYPE_CHECKING:  # provided by RBDDriver
        client: RadosClient
        backend_name: str
        config: Any
        db: Any
        _order: int

        def _image_name(self, volume_id: str) -> str: ...
        def _open_volume(self, volume: VolumeInfo, read_only: bool = False) -> Any: ...
        def _exists(self, name: str) -> bool: ...

    # -- helpers ---------------------------------------------------------------------------

    def _known_volume(self, image: str) -> str | None:
        """The id of the volume ``image`` is (``volume-<id>`` of a stored volume)."""
        vid = names.id_after(image, names.VOLUME)
        if vid is None or self.db is None:
            return None
        try:
            self.db.volume_get(None, vid)
        except exc.VolumeNotFound:
            return None
        return vid

    def _image_of(self, existing_ref: Mapping[str, Any]) -> str | None:
        """The name of the image a reference names (``None``: there is none)."""
        key, value = reference_value(existing_ref)
        if key == "source-name":
            return value if self._exists(value) else None
        try:
            image = rbd.Image(self.client.ioctx, image_id=value, read_only=True)
        except (rbd.ImageNotFound, rbd.InvalidArgument):
            return None
        try:
            return str(image.get_name())
        finally:
            image.close()

    def _watchers(self, image: Any) -> list[str]:
        me = self.client.cluster.get_instance_id()
        return [w.get("addr", "?") for w in image.watchers_list() if w.get("id") != me]

    def _adoptable(self, volume: VolumeInfo, existing_ref: Mapping[str, Any]
                   ) -> tuple[str, int]:
        """``(image name, size in bytes)`` of an image that may be adopted as ``volume``."""
        name = self._image_of(existing_ref)
        if name is None:
            raise exc.ReferenceNotFound(backend_name=self.backend_name,
                                        reference=dict(existing_ref))
        known = self._known_volume(name)
        if known is not None and known != volume.id:
            raise exc.AlreadyManaged(reference=dict(existing_ref), resource="volume",
                                     id=known)
        with self.client.image(name) as image:
            watchers = self._watchers(image)
            if watchers:
                raise exc.NotManageable(reference=dict(existing_ref),
                                        backend_name=self.backend_name,
                                        reason=f"in use: open by {', '.join(watchers)}")
            return name, image.size()

    # -- volumes ---------------------------------------------------------------------------

    @operation("get_manageable_volumes")
    def get_manageable_volumes(self, cinder_volumes: Sequence[VolumeInfo], marker: Any,
                               limit: int | None, offset: int, sort_keys: Sequence[str],
                               sort_dirs: Sequence[str]) -> list[dict[str, Any]]:
        """Every image of the pool; volumes already and images in use are not safe."""
        known = {v.id for v in cinder_volumes}
        entries = []
        for entry in rbd.RBD().list2(self.client.ioctx):
            name = entry["name"]
            try:
                with self.client.image(name, read_only=True) as image:
                    size = image.size()
                    watchers = self._watchers(image)
                    parent = None
                    try:
                        spec = image.get_parent_image_spec()
                        parent = f"{spec['pool_name']}/{spec['image_name']}" \
                                 f"@{spec['snap_name']}"
                    except rbd.ImageNotFound:
                        pass
            except rbd.ImageNotFound:
                continue
            vid = names.id_after(name, names.VOLUME)
            reason, cinder_id = None, None
            if vid is not None and vid in known:
                reason, cinder_id = "already managed", vid
            elif watchers:
                reason = f"in use: open by {', '.join(watchers)}"
            extra = f"image id {entry['id']}" + (f", clone of {parent}" if parent else "")
            entries.append(manageable_entry({"source-name": name}, size,
                                            reason_not_safe=reason, cinder_id=cinder_id,
                                            extra_info=extra))
        return paginate_manageable(entries, marker, limit, offset, sort_keys, sort_dirs)

    @operation("manage_existing_get_size")
    def manage_existing_get_size(self, volume: VolumeInfo,
                                 existing_ref: Mapping[str, Any]) -> int:
        """The image's size in GiB, rounded up; raises what ``manage_existing`` would."""
        return gib_rounded_up(self._adoptable(volume, existing_ref)[1])

    @operation("manage_existing")
    def manage_existing(self, volume: VolumeInfo,
                        existing_ref: Mapping[str, Any]) -> ModelUpdate:
        """Rename the image to ``volume-<id>`` and grow it to ``volume.size`` GiB. A
        repeated call after it was done is a no-op."""
        own = self._image_name(volume.id)
        found = self._image_of(existing_ref)
        if found is None and self._exists(own) or found == own:
            self._grow(own, volume.size)  # done before a crash; finish the growth
            return None
        name, _ = self._adoptable(volume, existing_ref)
        try:
            rbd.RBD().rename(self.client.ioctx, name, own)
        except rbd.ImageExists as e:
            raise exc.AlreadyExists(resource="Volume image", id=volume.id) from e
        self._grow(own, volume.size)
        LOG.debug("image %s adopted as volume %s", name, volume.id)
        return None

    def _grow(self, name: str, size_gib: int) -> None:
        with self.client.image(name) as image:
            if image.size() < size_gib * GiB:
                image.resize(size_gib * GiB)

    @operation("unmanage")
    def unmanage(self, volume: VolumeInfo) -> Mapping[str, Any] | None:
        """Rename ``volume-<id>`` to ``unmanaged-volume-<id>``; returns that reference."""
        own = self._image_name(volume.id)
        new = f"{UNMANAGED}{own}"
        if not self._exists(own):
            return {"source-name": new} if self._exists(new) else None
        with self.client.image(own) as image:
            watchers = self._watchers(image)
            if watchers:
                raise exc.VolumeInUse(volume_id=volume.id,
                                      reason=f"image {own} is open by {', '.join(watchers)}")
        try:
            rbd.RBD().rename(self.client.ioctx, own, new)
        except rbd.ImageExists as e:
            raise exc.AlreadyExists(resource="Image", id=new) from e
        return {"source-name": new}

    # -- snapshots -------------------------------------------------------------------------

    @operation("get_manageable_snapshots")
    def get_manageable_snapshots(self, cinder_snapshots: Sequence[SnapshotInfo],
                                 marker: Any, limit: int | None, offset: int,
                                 sort_keys: Sequence[str], sort_dirs: Sequence[str]
                                 ) -> list[dict[str, Any]]:
        """Every user snapshot of every image (volumelib's temporary ``clone-*`` ones
        left out); safe when its image is a managed volume and it is not a snapshot
        of one already."""
        known = {s.id for s in cinder_snapshots}
        entries = []
        for entry in rbd.RBD().list2(self.client.ioctx):
            name = entry["name"]
            managed = self._known_volume(name) is not None
            try:
                with self.client.image(name, read_only=True) as image:
                    snaps = [s for s in image.list_snaps()
                             if s.get("namespace", rbd.RBD_SNAP_NAMESPACE_TYPE_USER)
                             == rbd.RBD_SNAP_NAMESPACE_TYPE_USER]
            except rbd.ImageNotFound:
                continue
            for snap in snaps:
                if names.id_after(snap["name"], names.CLONE_SNAP) is not None:
                    continue
                sid = names.id_after(snap["name"], names.SNAPSHOT)
                reason, cinder_id = None, None
                if sid is not None and sid in known:
                    reason, cinder_id = "already managed", sid
                elif not managed:
                    reason = "its image is not a volume: manage the image first"
                entries.append(manageable_entry(
                    {"source-name": snap["name"]}, snap["size"], reason_not_safe=reason,
                    cinder_id=cinder_id, source_reference={"source-name": name}))
        return paginate_manageable(entries, marker, limit, offset, sort_keys, sort_dirs)

    def _snap_adoptable(self, snapshot: SnapshotInfo,
                        existing_ref: Mapping[str, Any]) -> tuple[str, int]:
        _, name = reference_value(existing_ref, accepted=("source-name",))
        image_name = self._image_name(snapshot.volume_id)
        try:
            with self.client.image(image_name, read_only=True) as image:
                for snap in image.list_snaps():
                    if snap["name"] == name:
                        break
                else:
                    raise exc.ReferenceNotFound(backend_name=self.backend_name,
                                                reference=dict(existing_ref))
        except rbd.ImageNotFound as e:
            raise exc.VolumeNotFound(volume_id=snapshot.volume_id) from e
        sid = names.id_after(name, names.SNAPSHOT)
        if sid is not None and sid != snapshot.id and self.db is not None:
            try:
                self.db.snapshot_get(None, sid)
            except exc.SnapshotNotFound:
                pass
            else:
                raise exc.AlreadyManaged(reference=dict(existing_ref), resource="snapshot",
                                         id=sid)
        return name, int(snap["size"])

    @operation("manage_existing_snapshot_get_size")
    def manage_existing_snapshot_get_size(self, snapshot: SnapshotInfo,
                                          existing_ref: Mapping[str, Any]) -> int:
        """The snapshot's size in GiB, rounded up."""
        return gib_rounded_up(self._snap_adoptable(snapshot, existing_ref)[1])

    @operation("manage_existing_snapshot")
    def manage_existing_snapshot(self, snapshot: SnapshotInfo,
                                 existing_ref: Mapping[str, Any]) -> ModelUpdate:
        """Rename the snapshot to ``snapshot-<id>``; a repeated call is a no-op."""
        own = f"{names.SNAPSHOT}{snapshot.id}"
        with self._open_volume(snapshot.volume) as image:
            if image.snap_exists(own):
                return None
        name, _ = self._snap_adoptable(snapshot, existing_ref)
        with self._open_volume(snapshot.volume) as image:
            image.rename_snap(name, own)
        return None

    @operation("unmanage_snapshot")
    def unmanage_snapshot(self, snapshot: SnapshotInfo) -> Mapping[str, Any] | None:
        """Rename ``snapshot-<id>`` to ``unmanaged-snapshot-<id>``."""
        own, new = f"{names.SNAPSHOT}{snapshot.id}", f"{UNMANAGED}{names.SNAPSHOT}{snapshot.id}"
        try:
            image = self._open_volume(snapshot.volume)
        except exc.VolumeNotFound:
            return None
        with image:
            if image.snap_exists(own):
                image.rename_snap(own, new)
            elif not image.snap_exists(new):
                return None
        return {"source-name": new}

    # -- allocation map and migration ---------------------------------------------------------

    @operation("get_allocated_extents")
    def get_allocated_extents(self, volume: VolumeInfo) -> list[tuple[int, int]]:
        """``rbd diff`` from the start of the image (its parent's data included)."""
        extents: list[tuple[int, int]] = []

        def found(offset: int, length: int, exists: bool) -> int:
            if exists:
                if extents and extents[-1][0] + extents[-1][1] == offset:
                    extents[-1] = (extents[-1][0], extents[-1][1] + length)
                else:
                    extents.append((offset, length))
            return 0

        with self._open_volume(volume, read_only=True) as image:
            image.diff_iterate(0, image.size(), None, found, include_parent=True)
        return extents

    @operation("migrate_volume")
    def migrate_volume(self, volume: VolumeInfo, target: VolumeDriver,
                       progress: Callable[[int, int], None] | None = None
                       ) -> tuple[bool, ModelUpdate]:
        """A deep copy into another rbd backend's pool of the same cluster;
        ``(False, None)`` for any other target (see the module docstring)."""
        if not isinstance(target, ManageMixin) or target is self \
                or self.client.cluster.get_fsid() != target.client.cluster.get_fsid():
            return False, None
        name = self._image_name(volume.id)
        if target._exists(name):
            raise exc.AlreadyExists(resource="Volume image", id=volume.id)
        with self._open_volume(volume, read_only=True) as image:
            size = image.size()
            try:
                image.deep_copy(target.client.ioctx, name, order=target._order)
            except rbd.ImageExists as e:
                raise exc.AlreadyExists(resource="Volume image", id=volume.id) from e
        try:
            target._after_deep_copy(name)
        except BaseException:
            LOG.warning("deep copy of %s into %s incomplete; the library removes it", name,
                        target.backend_name)
            raise
        if progress is not None:
            progress(size, size)
        LOG.debug("volume %s deep-copied from pool %s to pool %s", volume.id,
                  self.config.rbd_pool, target.config.rbd_pool)
        return True, None

    def _after_deep_copy(self, name: str) -> None:
        """Drop the snapshots a deep copy brought along, and flatten the copy when its
        parent lives in another pool."""
        with self.client.image(name) as image:
            for snap in list(image.list_snaps()):
                if snap.get("namespace", rbd.RBD_SNAP_NAMESPACE_TYPE_USER) != \
                        rbd.RBD_SNAP_NAMESPACE_TYPE_USER:
                    continue
                if image.is_protected_snap(snap["name"]):
                    image.unprotect_snap(snap["name"])
                image.remove_snap(snap["name"])
            try:
                parent_pool = image.get_parent_image_spec()["pool_name"]
            except rbd.ImageNotFound:
                return
            if parent_pool != self.config.rbd_pool:
                LOG.debug("flattening %s: its parent is in pool %s", name, parent_pool)
                image.flatten()

