"""Consistency groups of the file driver: native and truly consistent on btrfs.

On btrfs a group is a subvolume holding its members' volume files, and a group
snapshot is one read-only snapshot of that subvolume, taken by the filesystem in a
single transaction: every member is captured at the same instant. Layout (the two
directories exist only where groups are supported)::

    <file_root>/groups/group-<gid>/                   subvolume of group <gid>
    <file_root>/groups/group-<gid>/volume-<vid>       a member's data
    <file_root>/group-snapshots/gsnap-<csid>/         read-only snapshot of a group
    <file_root>/group-snapshots/gsnap-<csid>/volume-<vid>
                                                      member <vid>'s data in it
    <file_root>/group-snapshots/.tmp-<gid>-<random>/  a source group frozen while a
                                                      group is created from it

On other filesystems (XFS, ext4) every consistency-group method raises
``NotImplementedError``, so the library falls back to per-volume operations; the
per-volume methods find a volume wherever it lives (:meth:`GroupsMixin._volume_file`),
so they work for group members and for members of a group snapshot everywhere.

:class:`GroupsMixin` is a base class of :class:`~volumelib.drivers.file.FileDriver`;
the driver wraps its Cinder methods with its own logging and error translation.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import logging
import os
import secrets
import stat
import subprocess
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from volumelib import exceptions as exc
from volumelib.drivers.boundary import check_group_sources
from volumelib.drivers.file import btrfs, copy, loop
from volumelib.drivers.types import SnapshotInfo, VolumeInfo

__all__ = ["GroupsMixin", "GROUPS", "GROUP_SNAPSHOTS"]

LOG = logging.getLogger(__name__)

#: The directory of the groups' subvolumes, under ``file_root``.
GROUPS = "groups"
#: The directory of the group snapshots' subvolumes, under ``file_root``.
GROUP_SNAPSHOTS = "group-snapshots"

#: Model updates of the Cinder interface.
Update = dict[str, Any]

_ERRORS = (exc.VolumelibError, OSError, ValueError, subprocess.SubprocessError)


def _id_in(name: str, prefix: str) -> str | None:
    """The canonical UUID after ``prefix`` in ``name``, or ``None``."""
    if not name.startswith(prefix):
        return None
    value = name[len(prefix):]
    try:
        return value if str(uuid.UUID(value)) == value else None
    except ValueError:
        return None


def _reason(e: BaseException) -> str:
    stderr = getattr(e, "stderr", None)
    return f"{e}: {stderr.strip()}" if isinstance(stderr, str) and stderr.strip() else str(e)


class GroupsMixin:
    """Group storage, path resolution and Cinder's consistency-group methods."""

    if TYPE_CHECKING:  # provided by FileDriver
        root: str
        config: Any
        backend_name: str
        _export_lock: threading.RLock
        _local_attach: bool
        _losetup: bool

        def _dir(self, sub: str) -> str: ...
        def _check_id(self, value: object) -> str: ...
        def _open(self, path: str, flags: int) -> int: ...
        def _size_bytes(self, size: object) -> int: ...
        def _make_subdir(self, sub: str) -> None: ...
        def _loop_devices(self, path: str) -> list[str]: ...
        def _refuse_in_use(self, volume_id: str, path: str) -> None: ...
        def _scan(self, sub: str) -> list[tuple[str, str]]: ...
        @staticmethod
        def _stale_temp(path: str, now: float) -> str | None: ...
        def _copy_to(self, src: str, dst: str, *, size_bytes: int | None, mode: int,
                     replace: bool, missing: exc.NotFound) -> None: ...

    #: Whether ``do_setup`` found btrfs subvolumes usable under ``file_root``.
    _groups_supported: bool = False

    # -- setup ---------------------------------------------------------------------

    def _setup_groups(self) -> None:
        """On btrfs, create ``groups`` and ``group-snapshots`` and check that
        subvolumes can be created, snapshotted and deleted there."""
        self._groups_supported = False
        if not btrfs.available() or not btrfs.is_btrfs(self.root):
            return
        if self.config.reflink == "never":
            # A subvolume snapshot shares extents, which reflink=never rules out.
            LOG.info("file backend %s: btrfs, but reflink=never: no consistent group "
                     "snapshots", self.backend_name)
            return
        for sub in (GROUPS, GROUP_SNAPSHOTS):
            self._make_subdir(sub)
        self._groups_supported = btrfs.probe(os.path.join(self.root, GROUP_SNAPSHOTS),
                                             prefix=f"{copy.TMP_PREFIX}probe-")
        if not self._groups_supported:
            LOG.warning("file backend %s: %s is on btrfs but subvolumes cannot be "
                        "created, snapshotted and deleted there: no consistent group "
                        "snapshots", self.backend_name, self.root)

    def _require_groups(self) -> None:
        if not self._groups_supported:
            raise NotImplementedError(
                f"file backend {self.backend_name}: consistency groups need btrfs")

    # -- paths ---------------------------------------------------------------------

    def _existing_dir(self, sub: str) -> str | None:
        """``<root>/<sub>`` checked to be a real directory, or ``None`` if missing."""
        if not os.path.lexists(os.path.join(self.root, sub)):
            return None
        return self._dir(sub)

    def _group_dir(self, group_id: object) -> str | None:
        """The subvolume of group ``group_id``, or ``None``."""
        return self._existing_dir(f"{GROUPS}/group-{self._check_id(group_id)}")

    def _gsnap_dir(self, group_snapshot_id: object) -> str | None:
        """The snapshot subvolume of group snapshot ``group_snapshot_id``, or ``None``."""
        return self._existing_dir(
            f"{GROUP_SNAPSHOTS}/gsnap-{self._check_id(group_snapshot_id)}")

    def _group_dirs(self) -> list[tuple[str, str]]:
        """``(group id, directory)`` of every group subvolume, sorted."""
        if self._existing_dir(GROUPS) is None:
            return []
        found = []
        for name, path in self._scan(GROUPS):
            gid = _id_in(name, "group-")
            try:
                if gid is not None and stat.S_ISDIR(os.lstat(path).st_mode):
                    found.append((gid, path))
            except FileNotFoundError:  # deleted meanwhile
                continue
        return found

    @staticmethod
    def _listdir(directory: str) -> list[str]:
        """The sorted names in ``directory``; none if it was deleted meanwhile."""
        try:
            return sorted(os.listdir(directory))
        except FileNotFoundError:
            return []

    def _locate_volume(self, volume_id: object, group_id: object = None) -> str:
        """Where volume ``volume_id``'s file is: in its group's subvolume, else in
        ``volumes``, else in any group holding it (a record out of step with the
        files after a crash); the ``volumes`` path when it is nowhere."""
        vid = self._check_id(volume_id)
        name = f"volume-{vid}"
        flat = os.path.join(self._dir("volumes"), name)
        if group_id is not None:
            group_dir = self._group_dir(group_id)
            if group_dir is not None and os.path.lexists(os.path.join(group_dir, name)):
                return os.path.join(group_dir, name)
        if os.path.lexists(flat):
            return flat
        for gid, _ in self._group_dirs():
            path = os.path.join(self._dir(f"{GROUPS}/group-{gid}"), name)
            if os.path.lexists(path):
                return path
        return flat

    def _volume_file(self, volume: VolumeInfo) -> str:
        return self._locate_volume(volume.id, volume.group_id)

    def _new_volume_file(self, volume: VolumeInfo) -> str:
        """Where to create ``volume``: in its group's subvolume if there is one.

        Raises:
            AlreadyExists: the volume has a file somewhere already.
        """
        path = self._volume_file(volume)
        if os.path.lexists(path):
            raise exc.AlreadyExists(resource="Volume file", id=volume.id)
        group_dir = self._group_dir(volume.group_id) if volume.group_id else None
        return os.path.join(group_dir, f"volume-{volume.id}") if group_dir else path

    def _snapshot_file(self, snapshot: SnapshotInfo) -> str:
        """A snapshot's data: its volume's file in its group snapshot, else its own
        file in ``snapshots``."""
        flat = os.path.join(self._dir("snapshots"),
                            f"snapshot-{self._check_id(snapshot.id)}")
        if snapshot.group_snapshot_id is not None:
            gsnap = self._gsnap_dir(snapshot.group_snapshot_id)
            if gsnap is not None:
                path = os.path.join(gsnap, f"volume-{self._check_id(snapshot.volume_id)}")
                if os.path.lexists(path):
                    return path
        return flat

    def _volume_entries(self) -> list[tuple[str, str]]:
        """``(name, path)`` of every volume file, in ``volumes`` and in groups (one
        per volume id, the group's copy first)."""
        entries: dict[str, str] = {}
        for _, group_dir in self._group_dirs():
            for name in self._listdir(group_dir):
                if _id_in(name, "volume-") is not None:
                    entries.setdefault(name, os.path.join(group_dir, name))
        for name, path in self._scan("volumes"):
            if _id_in(name, "volume-") is not None:
                entries.setdefault(name, path)
        return sorted(entries.items())

    # -- moving volumes in and out of groups ---------------------------------------

    def _move_file(self, src: str, dst: str, volume_id: str) -> None:
        """Move a volume file to another directory of the layout, keeping its holes.

        A rename where it can; across subvolumes (``EXDEV``) a reflink copy renamed
        into place, then the source is removed. The caller holds the export lock and
        checked that no loop device uses the file.
        """
        if os.path.lexists(dst):
            raise exc.AlreadyExists(resource="Volume file", id=volume_id)
        try:
            os.rename(src, dst)
        except OSError as e:
            if e.errno != errno.EXDEV:
                raise
        else:
            for directory in {os.path.dirname(src), os.path.dirname(dst)}:
                copy.fsync_dir(directory)
            return
        fd = self._open(src, os.O_RDONLY)
        try:
            tmp = f"{copy.TMP_PREFIX}{volume_id}-{secrets.token_hex(8)}"
            copy.copy_into_place(fd, dst, tmp, reflink=True, reflink_fallback=True,
                                 mode=stat.S_IMODE(os.fstat(fd).st_mode), replace=False)
        finally:
            os.close(fd)
        os.unlink(src)
        copy.fsync_dir(os.path.dirname(src))

    def _flush_loop_devices(self, directory: str) -> None:
        """Push writes made through loop devices backed by files under ``directory``."""
        if self._local_attach:
            for device in loop.devices_under(directory):
                loop.flush(device)

    # -- Cinder's VolumeConsistencyGroupDriver -------------------------------------

    def create_consistencygroup(self, context: Any, group: Mapping[str, Any]
                                ) -> Update | None:
        """Create the group's subvolume (an existing one is kept). Returns ``None``.

        Raises:
            NotImplementedError: not on btrfs (the library's fallback takes over).
        """
        self._require_groups()
        gid = self._check_id(group["id"])
        parent = self._dir(GROUPS)
        path = os.path.join(parent, f"group-{gid}")
        if not os.path.lexists(path):
            try:
                btrfs.create_subvolume(path)
            except subprocess.CalledProcessError:
                if not os.path.lexists(path):  # else created concurrently: fine
                    raise
            else:
                os.chmod(path, stat.S_IMODE(os.lstat(parent).st_mode))
                copy.fsync_dir(parent)
        self._dir(f"{GROUPS}/group-{gid}")  # a real directory...
        if not btrfs.is_subvolume(path):  # ...and a subvolume
            raise exc.BackendError(backend_name=self.backend_name,
                                   operation="create_consistencygroup",
                                   reason=f"{path} exists and is not a btrfs subvolume")
        return None

    def delete_consistencygroup(self, context: Any, group: Mapping[str, Any],
                                volumes: Sequence[VolumeInfo]
                                ) -> tuple[Update | None, list[Update] | None]:
        """Delete ``volumes`` and the group's subvolume (missing: no-op).

        A volume backed by a loop device is refused (``error_deleting``), and the
        subvolume is then kept. Volume files in the subvolume that ``volumes`` does
        not name are moved to ``volumes/`` rather than destroyed.
        """
        self._require_groups()
        gid = self._check_id(group["id"])
        updates: list[Update] = []
        with self._export_lock:
            for volume in volumes:
                try:
                    path = self._volume_file(volume)
                    if os.path.lexists(path):
                        self._refuse_in_use(volume.id, path)
                        os.unlink(path)
                        copy.fsync_dir(os.path.dirname(path))
                    updates.append({"id": volume.id, "status": "deleted"})
                except _ERRORS as e:
                    LOG.warning("delete of group %s: cannot delete volume %s: %s", gid,
                                volume.id, _reason(e))
                    updates.append({"id": volume.id, "status": "error_deleting"})
            failed = any(u["status"] != "deleted" for u in updates)
            group_dir = self._group_dir(gid)
            if not failed and group_dir is not None:
                failed = not self._evacuate(group_dir)
                if not failed:
                    btrfs.delete_subvolume(group_dir)
                    copy.fsync_dir(self._dir(GROUPS))
        if failed:
            return {"status": "error_deleting"}, updates
        return None, None

    def _evacuate(self, group_dir: str) -> bool:
        """Move the volume files left in ``group_dir`` to ``volumes/``; ``False`` if a
        loop device uses one (nothing more is moved then)."""
        flat = self._dir("volumes")
        for name in sorted(os.listdir(group_dir)):
            vid = _id_in(name, "volume-")
            if vid is None:
                continue
            path = os.path.join(group_dir, name)
            devices = self._loop_devices(path)
            if devices:
                LOG.warning("cannot delete %s: volume %s (not named in the delete) is "
                            "attached as %s", group_dir, vid, ", ".join(devices))
                return False
            if os.path.lexists(os.path.join(flat, name)):
                # A move interrupted by a crash left two copies; the volume is not
                # in this group by its record (it would be named), so volumes/ is it.
                LOG.warning("removing %s: a copy of volume %s not named in the delete of "
                            "its group, which has its file in %s", path, vid, flat)
                os.unlink(path)
                continue
            LOG.warning("volume %s is in %s but was not named in its delete; moving it "
                        "to %s", vid, group_dir, flat)
            self._move_file(path, os.path.join(flat, name), vid)
        return True

    def update_consistencygroup(self, context: Any, group: Mapping[str, Any],
                                add_volumes: Sequence[VolumeInfo] | None = None,
                                remove_volumes: Sequence[VolumeInfo] | None = None
                                ) -> tuple[Update | None, list[Update] | None,
                                           list[Update] | None]:
        """Move ``add_volumes`` into the group's subvolume and ``remove_volumes`` out
        to ``volumes/``, all or none.

        A missing volume, or one backed by a loop device (its device would keep the
        old file), gets an ``error`` entry and then nothing is moved.

        Raises:
            GroupNotFound: the group has no subvolume.
        """
        self._require_groups()
        gid = self._check_id(group["id"])
        group_dir = self._group_dir(gid)
        if group_dir is None:
            raise exc.GroupNotFound(group_id=gid)
        flat = self._dir("volumes")
        moves: list[tuple[str, str, str]] = []
        errors: dict[str, str] = {}
        with self._export_lock:
            for volumes, target in ((add_volumes, group_dir), (remove_volumes, flat)):
                for volume in volumes or ():
                    src = self._volume_file(volume)
                    dst = os.path.join(target, f"volume-{volume.id}")
                    devices = self._loop_devices(src)
                    if not os.path.lexists(src):
                        errors[volume.id] = "no volume file"
                    elif devices:
                        errors[volume.id] = f"attached as loop device {', '.join(devices)}"
                    elif src != dst:
                        moves.append((volume.id, src, dst))
            if errors:
                for vid, why in errors.items():
                    LOG.warning("update of group %s: volume %s refused: %s", gid, vid, why)

                def entries(volumes: Sequence[VolumeInfo] | None) -> list[Update] | None:
                    found = [{"id": v.id, "status": "error"}
                             for v in volumes or () if v.id in errors]
                    return found or None

                return {"status": "error"}, entries(add_volumes), entries(remove_volumes)
            done: list[tuple[str, str, str]] = []
            try:
                for vid, src, dst in moves:
                    self._move_file(src, dst, vid)
                    done.append((vid, src, dst))
            except BaseException:
                for vid, src, dst in reversed(done):  # all or none
                    try:
                        self._move_file(dst, src, vid)
                    except _ERRORS as e:
                        LOG.error("update of group %s: cannot move volume %s back to %s: "
                                  "%s", gid, vid, src, _reason(e))
                raise
        return None, None, None

    def create_cgsnapshot(self, context: Any, cgsnapshot: Mapping[str, Any],
                          snapshots: Sequence[SnapshotInfo]
                          ) -> tuple[Update | None, list[Update] | None]:
        """One read-only snapshot of the group's subvolume, atomic across members.

        Writes made through loop devices backed by members are flushed first. Every
        snapshot's volume must be in the group's subvolume; if one is not, nothing is
        created and every snapshot is reported ``error``.

        Raises:
            GroupNotFound: the group has no subvolume.
            AlreadyExists: the group snapshot exists.
        """
        self._require_groups()
        csid = self._check_id(cgsnapshot["id"])
        gid = self._check_id(cgsnapshot["group_id"])
        group_dir = self._group_dir(gid)
        if group_dir is None:
            raise exc.GroupNotFound(group_id=gid)
        dst = os.path.join(self._dir(GROUP_SNAPSHOTS), f"gsnap-{csid}")
        if os.path.lexists(dst):
            raise exc.AlreadyExists(resource="Group snapshot", id=csid)
        outside = [s for s in snapshots if not os.path.lexists(
            os.path.join(group_dir, f"volume-{self._check_id(s.volume_id)}"))]
        if outside:
            LOG.warning("group snapshot %s: volume(s) %s are not in group %s's "
                        "subvolume; no consistent snapshot is possible", csid,
                        ", ".join(s.volume_id for s in outside), gid)
            return {"status": "error"}, [{"id": s.id, "status": "error"} for s in snapshots]
        self._flush_loop_devices(group_dir)
        btrfs.snapshot(group_dir, dst, readonly=True)
        copy.fsync_dir(os.path.dirname(dst))
        return None, None

    def delete_cgsnapshot(self, context: Any, cgsnapshot: Mapping[str, Any],
                          snapshots: Sequence[SnapshotInfo]
                          ) -> tuple[Update | None, list[Update] | None]:
        """Delete the group snapshot's subvolume (missing: no-op), and any per-volume
        snapshot file of ``snapshots``."""
        self._require_groups()
        csid = self._check_id(cgsnapshot["id"])
        for snapshot in snapshots:
            path = os.path.join(self._dir("snapshots"),
                                f"snapshot-{self._check_id(snapshot.id)}")
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        gsnap = self._gsnap_dir(csid)
        if gsnap is not None:
            btrfs.delete_subvolume(gsnap)
            copy.fsync_dir(self._dir(GROUP_SNAPSHOTS))
        return None, None

    def create_consistencygroup_from_src(
            self, context: Any, group: Mapping[str, Any], volumes: Sequence[VolumeInfo],
            cgsnapshot: Mapping[str, Any] | None = None,
            snapshots: Sequence[SnapshotInfo] | None = None,
            source_cg: Mapping[str, Any] | None = None,
            source_vols: Sequence[VolumeInfo] | None = None,
    ) -> tuple[Update | None, list[Update] | None]:
        """Create the group's subvolume and ``volumes[i]`` in it as a copy (reflink)
        of ``snapshots[i]`` or ``source_vols[i]``, grown to its size.

        A source group is first frozen by a read-only snapshot of its subvolume, so
        the copies are consistent too. A snapshot's data is its volume's file in the
        group snapshot's subvolume, else its own snapshot file (a group snapshot taken
        volume by volume). Each volume gets its status in the list; a failed one
        (missing source, smaller than it...) is ``error``.

        Raises:
            InvalidArgument: no source, or sources and volumes do not line up.
            GroupSnapshotNotFound: no data at all for the group snapshot.
            GroupNotFound: the source group has no subvolume.
        """
        self._require_groups()
        gid = self._check_id(group["id"])
        targets = list(volumes)
        for volume in targets:
            self._check_id(volume.id)
        # (source file, error if it is missing), in the targets' order
        sources: list[tuple[str, exc.NotFound]]
        frozen = source_dir = None
        check_group_sources(targets, cgsnapshot, snapshots, source_cg, source_vols)
        if cgsnapshot is not None:
            csid = self._check_id(cgsnapshot["id"])
            snaps = [s if s.group_snapshot_id
                     else dataclasses.replace(s, group_snapshot_id=csid)
                     for s in snapshots or ()]
            # In the group snapshot's subvolume, else a snapshot file of its own.
            sources = [(self._snapshot_file(s), exc.SnapshotNotFound(snapshot_id=s.id))
                       for s in snaps]
            if self._gsnap_dir(csid) is None and not any(
                    os.path.lexists(path) for path, _ in sources):
                raise exc.GroupSnapshotNotFound(group_snapshot_id=csid)
        else:
            assert source_cg is not None  # check_group_sources: one of the two is given
            source_dir = self._group_dir(source_cg["id"])
            if source_dir is None:
                raise exc.GroupNotFound(group_id=source_cg["id"])
            frozen = os.path.join(self._dir(GROUP_SNAPSHOTS),
                                  f"{copy.TMP_PREFIX}{gid}-{secrets.token_hex(8)}")
            sources = [(os.path.join(frozen, f"volume-{self._check_id(v.id)}"),
                        exc.VolumeNotFound(volume_id=v.id)) for v in source_vols or ()]
        if frozen is not None and source_dir is not None:
            # One snapshot freezes the source group: the copies are consistent too.
            self._flush_loop_devices(source_dir)
            btrfs.snapshot(source_dir, frozen, readonly=True)
        try:
            self.create_consistencygroup(context, group)
            group_dir = self._dir(f"{GROUPS}/group-{gid}")
            updates = [self._fill(target, path, group_dir, missing)
                       for target, (path, missing) in zip(targets, sources)]
        finally:
            if frozen is not None:
                try:
                    btrfs.delete_subvolume(frozen)
                except _ERRORS as e:  # gc removes it later
                    LOG.warning("cannot delete the temporary snapshot %s: %s", frozen,
                                _reason(e))
        failed = any(u["status"] == "error" for u in updates)
        return {"status": "error" if failed else "available"}, updates

    def _fill(self, target: VolumeInfo, src: str, group_dir: str,
              missing: exc.NotFound) -> Update:
        """Copy ``src`` to ``target``'s new file in ``group_dir``; its status entry."""
        try:
            if os.path.lexists(self._volume_file(target)):
                raise exc.AlreadyExists(resource="Volume file", id=target.id)
            self._copy_to(src, os.path.join(group_dir, f"volume-{target.id}"),
                          size_bytes=self._size_bytes(target.size), mode=0o600,
                          replace=False, missing=missing)
        except _ERRORS as e:
            LOG.warning("cannot create volume %s in %s from %s: %s", target.id,
                        group_dir, src, _reason(e))
            return {"id": target.id, "status": "error"}
        return {"id": target.id, "status": "available"}

    # -- gc ------------------------------------------------------------------------

    def _gc_groups(self, is_known: Callable[[str, str], bool], now: float,
                   devices: Sequence[loop.LoopDevice]) -> list[tuple[str, str]]:
        """Orphans in the group directories: ``(description, path)`` of group and group
        snapshot subvolumes no record knows of (kept while they hold a known volume
        or a file backed by a loop device), unknown member files of known groups and
        stale temporary files and subvolumes. The caller removes them."""
        found: list[tuple[str, str]] = []
        for gid, path in self._group_dirs():
            members = [(vid, os.path.join(path, name)) for name in self._listdir(path)
                       if (vid := _id_in(name, "volume-")) is not None]
            in_use = loop.devices_under(path, devices) if devices else []
            if not is_known("group", gid):
                known = [vid for vid, _ in members if is_known("volume", vid)]
                if known or in_use:
                    LOG.warning("gc: keeping unknown group %s: it holds known volume(s) "
                                "%s, loop device(s) %s", gid, ", ".join(known) or "none",
                                ", ".join(in_use) or "none")
                    continue
                found.append((f"orphan group {gid}: {path}", path))
                continue
            for vid, member in members:
                if not is_known("volume", vid):
                    if devices and loop.devices_for_file(member, devices):
                        LOG.warning("gc: keeping unknown volume %s: a loop device uses it",
                                    vid)
                        continue
                    found.append((f"orphan volume {vid}: {member}", member))
            found += self._stale_in(path, now)
        if self._existing_dir(GROUP_SNAPSHOTS) is not None:
            for name, path in self._scan(GROUP_SNAPSHOTS):
                csid = _id_in(name, "gsnap-")
                if csid is not None and not is_known("group_snapshot", csid):
                    found.append((f"orphan group snapshot {csid}: {path}", path))
            found += self._stale_in(self._dir(GROUP_SNAPSHOTS), now)
        return found

    def _stale_in(self, directory: str, now: float) -> list[tuple[str, str]]:
        found = []
        for name in self._listdir(directory):
            path = os.path.join(directory, name)
            desc = self._stale_temp(path, now) if name.startswith(copy.TMP_PREFIX) else None
            if desc is not None:
                found.append((desc, path))
        return found

    def _remove(self, path: str) -> bool:
        """Remove a file, or a subvolume with its content; ``False`` if already gone
        or a plain directory (kept, logged). A temporary file (``.tmp-*``) goes only
        if no process holds it still (:func:`copy.remove_abandoned_temp`)."""
        if os.path.basename(path).startswith(copy.TMP_PREFIX):
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                return False
            if stat.S_ISREG(st.st_mode):
                return copy.remove_abandoned_temp(path)
        if btrfs.is_subvolume(path):
            return btrfs.delete_subvolume(path)
        if os.path.isdir(path) and not os.path.islink(path):
            LOG.warning("not removing %s: a directory that is not a btrfs subvolume", path)
            return False
        try:
            os.unlink(path)
        except FileNotFoundError:
            return False
        return True
