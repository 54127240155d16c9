"""The ``file`` driver: each volume is a sparse file, attached locally as a loop device.

Layout under ``file_root`` (directories 0o700, volume files 0o600, snapshots 0o400)::

    <file_root>/volumes/volume-<id>
    <file_root>/snapshots/snapshot-<id>
    <dir>/.tmp-<id>-<random>        a copy in progress, renamed into place when complete;
                                    its process holds an flock on it meanwhile

On btrfs, consistency groups add ``groups/group-<gid>/volume-<id>`` (a subvolume per
group holding its volumes) and ``group-snapshots/gsnap-<id>/volume-<id>`` (a read-only
snapshot of a group's subvolume); see :mod:`volumelib.drivers.file.groups`. Every
per-volume method finds a volume and a snapshot wherever they live.

Snapshots and clones are reflinks (``FICLONE``) where the filesystem shares extents
(XFS with ``reflink=1``, btrfs) and sparse copies elsewhere (ext4, tmpfs).

Exports (``target_helper``):

* ``none`` (default): local loop devices, ``local`` connection info; needs root and
  ``losetup``. Every ``rw`` connection of a volume shares one writable loop device;
  every ``ro`` connection (``connector.attach_mode == "ro"``) shares one read-only
  device (``losetup --read-only``). The devices are found again by backing file and
  read-only flag, so the driver remembers nothing; ``terminate_connection`` leaves
  them (it cannot know whether another connection of the same mode still uses one)
  and ``remove_export``, which the library calls with the volume's last connection,
  detaches them all.
* ``tgtadm``: an iSCSI target per volume in ``tgtd`` with LUN 1 on the volume file and
  per-volume CHAP credentials kept in ``provider_auth``; ``iscsi`` connection info.
  See :mod:`volumelib.drivers.file.iscsi`. ``ro`` connections get ``access_mode: ro``,
  which the initiator's host enforces (as in Cinder): the target is shared.

Exports of one volume are serialised across processes by a ``flock`` on its file.

Ids must be canonical lowercase UUIDs, files are opened with ``O_NOFOLLOW`` and the
``volumes``/``snapshots`` directories must be real directories, so no id or symlink
can make the driver touch anything outside ``file_root``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import secrets
import stat
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from volumelib import checkpoints
from volumelib import exceptions as exc
from volumelib.drivers.base import ModelUpdate, VolumeDriver
from volumelib.drivers.boundary import check_id, is_canonical_uuid
from volumelib.drivers.file import btrfs, copy, exports, groups, iscsi, loop, manage
from volumelib.drivers.file.ops import _operation
from volumelib.drivers.options import Option
from volumelib.drivers.types import (
    BackendStats,
    Capability,
    PoolStats,
    SnapshotInfo,
    VolumeInfo,
)

__all__ = ["FileDriver", "TMP_MAX_AGE"]

LOG = logging.getLogger(__name__)

GiB = 1024 ** 3
#: Temporary entries that cannot be locked (btrfs subvolumes, symlinks...) older than
#: this (seconds) are leftovers of a crash; ``gc`` removes them. A temporary *file* is
#: judged by its lock instead, whatever its age (:func:`copy.temp_state`).
TMP_MAX_AGE = 3600.0

_VOLUMES = "volumes"
_SNAPSHOTS = "snapshots"
_TMP_PREFIX = copy.TMP_PREFIX
_FILE_MODE = 0o600
_SNAPSHOT_MODE = 0o400
_DIR_MODE = 0o700

def _makedirs(path: str, mode: int) -> None:
    """``os.makedirs`` that gives ``mode`` to the missing parents as well."""
    missing = []
    while not os.path.lexists(path) and path != os.path.dirname(path):
        missing.append(path)
        path = os.path.dirname(path)
    for directory in reversed(missing):
        try:
            os.mkdir(directory, mode)
        except FileExistsError:
            pass


def _unlink(path: str) -> bool:
    """Remove ``path``; ``False`` if it was already gone."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True


class FileDriver(groups.GroupsMixin, exports.ExportsMixin, manage.ManageMixin,
                 VolumeDriver):
    """Volumes as sparse files in a directory; snapshots and clones by reflink or copy.

    Options:
        file_root: the directory holding everything, an absolute path (created 0o700
            if missing; a symlink is resolved once, at set-up).
        max_over_subscription_ratio: how many times the free space may be provisioned.
        reflink: ``auto`` (use it where the filesystem has it), ``always`` (refuse to
            start without it) or ``never`` (always copy the data blocks).
        loop_direct_io: attach loop devices with direct I/O (``O_DIRECT``).
        target_helper: ``none`` (local loop devices) or ``tgtadm`` (iSCSI via tgtd).
        target_ip_address, target_port: the portal put in iSCSI connection info
            (where the tgtd serving the targets listens).
        target_prefix: the IQN prefix of the targets (``<prefix>volume-<id>``).
        iscsi_chap: protect each target with its own CHAP account.
        tgtadm_control_port: the tgtd to manage (``tgtadm -C``); 0 is the system's.
        file_import_dir: the folder whose files ``backend.manage`` adopts (default
            ``<file_root>/import``; on ``file_root``'s filesystem). See
            :mod:`volumelib.drivers.file.manage`.

    On btrfs (unless ``reflink=never``) it implements Cinder's consistency-group
    methods natively and declares ``CONSISTENT_GROUP_SNAPSHOT``; elsewhere they raise
    ``NotImplementedError`` and the library's per-volume fallback is used.
    """

    name = "file"
    vendor_name = "volumelib"
    version = "1.0.0"
    storage_protocol = "local"
    options = (
        Option("file_root", "str", "/var/lib/volumelib/file",
               "Directory holding the volume and snapshot files (created 0o700)."),
        Option("max_over_subscription_ratio", "float", 1.0,
               "Ratio of provisioned to free space allowed (thin provisioning).", min=0.1),
        Option("reflink", "str", "auto",
               "Share extents for snapshots and clones: auto, always (fail without "
               "reflink support) or never (copy the data blocks).",
               choices=("auto", "always", "never")),
        Option("loop_direct_io", "bool", True,
               "Attach loop devices with direct I/O on their backing file."),
        Option("target_helper", "str", "none",
               "How volumes are exported: none (local loop devices) or tgtadm (an "
               "iSCSI target per volume in tgtd).", choices=("none", "tgtadm")),
        Option("target_ip_address", "str", "127.0.0.1",
               "IP address of the iSCSI portal given to initiators (target_helper=tgtadm)."),
        Option("target_port", "int", 3260,
               "TCP port of the iSCSI portal given to initiators.", min=1),
        Option("target_prefix", "str", "iqn.2010-10.org.volumelib:",
               "Prefix of the target IQNs; a volume's is <prefix>volume-<id>."),
        Option("iscsi_chap", "bool", True,
               "Protect each iSCSI target with its own CHAP account (kept in the "
               "volume's provider_auth); without it any initiator reaching the portal "
               "may log in."),
        Option("tgtadm_control_port", "int", 0,
               "Management port of the tgtd to use (tgtadm -C); 0: the system tgtd.",
               min=0),
        Option("file_import_dir", "str", "",
               "Folder of files backend.manage() may adopt (renamed into the volumes; "
               "must be on file_root's filesystem); empty: <file_root>/import."),
    )

    def __init__(self, *, db: Any = None, **options: Any) -> None:
        super().__init__(db=db, **options)
        root = self.config.file_root
        if not root or "\0" in root:
            raise exc.InvalidConfig(reason=f"option file_root={root!r} of driver file: "
                                           "must be a non-empty path")
        if not os.path.isabs(root):
            # Relative to whose working directory? Another process (gc, a CLI run
            # elsewhere) would look for the same volumes in another place.
            raise exc.InvalidConfig(reason=f"option file_root={root!r} of driver file: "
                                           "must be an absolute path")
        #: ``file_root`` made absolute; its real path once ``do_setup`` ran.
        self.root: str = os.path.abspath(root)
        if self.config.target_port > 65535:
            raise exc.InvalidConfig(reason=f"option target_port={self.config.target_port} "
                                           f"of driver file: must be at most 65535")
        try:
            iscsi.check_prefix(self.config.target_prefix)
        except ValueError as e:
            raise exc.InvalidConfig(reason=f"option target_prefix of driver file: {e}") from e
        #: The iSCSI exports (``target_helper=tgtadm``), else ``None``.
        self._targets: iscsi.TgtExporter | None = None
        if self.config.target_helper == "tgtadm":
            self._targets = iscsi.TgtExporter(
                iscsi.TgtAdm(self.config.tgtadm_control_port), self.config.target_prefix,
                chap=self.config.iscsi_chap)
            self.storage_protocol = "iSCSI"  # type: ignore[misc]  # per instance here
        self._tgtadm = False
        self._setup_done = False
        self._reflink_supported = False
        self._is_root = False
        self._losetup = False
        self._stats: BackendStats | None = None
        self._export_lock = threading.RLock()
        #: Seconds since the epoch; replaceable to drive ``gc``'s age test.
        self.clock: Callable[[], float] = time.time

    # -- life cycle ----------------------------------------------------------------

    def do_setup(self) -> None:
        """Create the directories, probe reflink support, btrfs subvolumes (for
        consistency groups), ``losetup`` and root.

        Raises:
            InvalidConfig: ``file_root`` cannot be created or is not a directory,
                ``volumes``/``snapshots`` are symlinks or not directories, or
                ``reflink=always`` on a filesystem without reflink.
        """
        LOG.debug("file backend %s: setting up in %s", self.backend_name, self.root)
        try:
            _makedirs(self.root, _DIR_MODE)
        except OSError as e:
            raise exc.InvalidConfig(
                reason=f"cannot create file_root {self.root}: {e.strerror}") from e
        if not os.path.isdir(self.root):
            raise exc.InvalidConfig(reason=f"file_root {self.root} is not a directory")
        self.root = os.path.realpath(self.root)
        for sub in (_VOLUMES, _SNAPSHOTS):
            self._make_subdir(sub)
        self._check_import_dir()
        try:
            self._reflink_supported = copy.probe_reflink(self.root)
        except OSError as e:
            LOG.warning("file backend %s: cannot probe reflink in %s: %s",
                        self.backend_name, self.root, e)
            self._reflink_supported = False
        if self.config.reflink == "always" and not self._reflink_supported:
            raise exc.InvalidConfig(
                reason=f"reflink=always but the filesystem of {self.root} cannot reflink "
                       f"(use XFS with reflink=1 or btrfs, or reflink=auto)")
        self._setup_groups()
        self._losetup = loop.available()
        self._tgtadm = iscsi.available()
        self._is_root = os.geteuid() == 0
        self._setup_done = True
        LOG.debug("file backend %s: reflink=%s (option %s), groups=%s, losetup=%s, "
                  "root=%s", self.backend_name, self._reflink_supported,
                  self.config.reflink, self._groups_supported, self._losetup, self._is_root)

    def _make_subdir(self, sub: str) -> None:
        """Create ``<root>/<sub>`` (0o700) unless it exists; refuse a symlink."""
        path = os.path.join(self.root, sub)
        try:
            os.mkdir(path, _DIR_MODE)
        except FileExistsError:
            pass
        except OSError as e:
            raise exc.InvalidConfig(reason=f"cannot create {path}: {e.strerror}") from e
        mode = os.lstat(path).st_mode
        if stat.S_ISLNK(mode):
            raise exc.InvalidConfig(
                reason=f"{path} is a symlink (to {os.readlink(path)!r}); the directories "
                       f"of the layout must be real directories inside file_root")
        if not stat.S_ISDIR(mode):
            raise exc.InvalidConfig(reason=f"{path} is not a directory")

    def check_for_setup_error(self) -> None:
        """Raise ``InvalidConfig`` if ``file_root`` or its directories are not writable,
        or, with ``target_helper=tgtadm``, if ``tgtadm`` is missing or ``tgtd`` does not
        answer on ``tgtadm_control_port``."""
        if self._targets is not None:
            if not self._tgtadm:
                raise exc.InvalidConfig(reason="target_helper=tgtadm needs the tgtadm "
                                               "program (Debian package tgt)")
            why = self._targets.tgtadm.ping()
            if why is not None:
                raise exc.InvalidConfig(
                    reason=f"target_helper=tgtadm: tgtd does not answer on control port "
                           f"{self.config.tgtadm_control_port}: {why}")
        group_dirs = (groups.GROUPS, groups.GROUP_SNAPSHOTS) if self._groups_supported else ()
        for sub in ("", _VOLUMES, _SNAPSHOTS, *group_dirs):
            path = os.path.join(self.root, sub) if sub else self.root
            if not os.path.isdir(path) or not os.access(path, os.W_OK | os.X_OK):
                raise exc.InvalidConfig(reason=f"{path} is not a writable directory for "
                                               f"the file backend {self.backend_name}")

    def is_alive(self) -> bool:
        """``file_root`` is a writable directory (and, with ``target_helper=tgtadm``,
        ``tgtd`` answers). Never raises."""
        try:
            alive = os.path.isdir(self.root) and os.access(self.root, os.W_OK | os.X_OK)
            if alive and self._targets is not None:
                alive = self._targets.tgtadm.ping() is None
            return alive
        except Exception:  # noqa: BLE001 - is_alive must never raise
            return False

    def health(self) -> dict[str, Any]:
        """``alive``, ``reflink`` (in use), ``file_root``, ``free_bytes``, ``local_attach``;
        with ``target_helper=tgtadm`` also ``tgtd`` (``None`` if it answers, else why not)."""
        try:
            free: int | None = self._free_bytes()
        except OSError:
            free = None
        report = {"alive": self.is_alive(), "reflink": self._use_reflink,
                  "file_root": self.root, "free_bytes": free,
                  "local_attach": self._local_attach}
        if self._targets is not None:
            report["tgtd"] = self._targets.tgtadm.ping()
        return report

    def close(self) -> None:
        """Nothing to release (no connections, no open files). Idempotent."""
        self._stats = None

    # -- capabilities --------------------------------------------------------------

    @property
    def _use_reflink(self) -> bool:
        return self._reflink_supported and self.config.reflink != "never"

    @property
    def _local_attach(self) -> bool:
        return self._targets is None and self._is_root and self._losetup

    @property
    def capabilities(self) -> frozenset[Capability]:
        """THIN, CLONE, REVERT_TO_SNAPSHOT, ONLINE_EXTEND, MULTIATTACH, MANAGE_EXISTING,
        ALLOCATION_MAP; REFLINK, COW_SNAPSHOT and MIGRATE (by reflink) where the
        filesystem reflinks (and ``reflink`` is not ``never``);
        CONSISTENT_GROUP_SNAPSHOT on btrfs; LOCAL_ATTACH as root with ``losetup`` when
        exports are local loop devices (``target_helper=none``)."""
        caps = {Capability.THIN, Capability.CLONE, Capability.REVERT_TO_SNAPSHOT,
                Capability.ONLINE_EXTEND, Capability.MULTIATTACH,
                Capability.MANAGE_EXISTING, Capability.ALLOCATION_MAP}
        if self._use_reflink:
            caps |= {Capability.REFLINK, Capability.COW_SNAPSHOT, Capability.MIGRATE}
        if self._local_attach:
            caps.add(Capability.LOCAL_ATTACH)
        if self._groups_supported:
            caps.add(Capability.CONSISTENT_GROUP_SNAPSHOT)
        return frozenset(caps)

    # -- paths ---------------------------------------------------------------------

    def _error(self, operation: str, reason: str) -> exc.BackendError:
        return exc.BackendError(backend_name=self.backend_name, operation=operation,
                                reason=reason)

    def _dir(self, sub: str) -> str:
        """``<root>/<sub>``, checked to be a real directory inside the root."""
        if not self._setup_done:
            raise self._error("access files", "do_setup() has not been called")
        path = os.path.join(self.root, sub)
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            raise self._error("access files", f"{path} is missing") from None
        if not stat.S_ISDIR(mode) or os.path.realpath(path) != path:
            raise self._error("access files", f"{path} is not a real directory inside "
                                              f"{self.root} (a symlink?); refusing to use it")
        return path

    _check_id = staticmethod(check_id)

    def volume_path(self, volume_id: str, group_id: str | None = None) -> str:
        """The file holding a volume's bytes (for tools that read them without an attach),
        in its group's subvolume or in ``volumes``.

        Raises:
            InvalidId: ``volume_id`` or ``group_id`` is not a canonical UUID.
        """
        return self._locate_volume(volume_id, group_id)

    def _snapshot_path(self, snapshot_id: object) -> str:
        self._check_id(snapshot_id)
        return os.path.join(self._dir(_SNAPSHOTS), f"snapshot-{snapshot_id}")

    def _open(self, path: str, flags: int) -> int:
        """Open a regular file inside the root, never through a symlink."""
        if not os.path.realpath(os.path.dirname(path)).startswith(self.root + os.sep):
            raise self._error("open", f"{path} is outside {self.root}")
        try:
            fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, _FILE_MODE)
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise self._error("open", f"{path} is a symlink; refusing to follow it") from e
            raise
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise self._error("open", f"{path} is not a regular file")
        return fd

    @staticmethod
    def _size_bytes(size: object) -> int:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise exc.InvalidSize(size=size, reason="must be a positive number of GiB")
        return size * GiB

    def _loop_devices(self, path: str, read_only: bool | None = None) -> list[str]:
        """Loop devices backed by ``path`` (none where ``losetup`` is missing); only the
        read-only (``True``) or writable (``False``) ones if asked."""
        return loop.devices_for_file(path, read_only=read_only) if self._losetup else []

    def _exports(self, path: str) -> list[str]:
        """What exports ``path``: its loop devices and (with tgtadm) iSCSI targets."""
        found = [f"loop device {d}" for d in self._loop_devices(path)]
        if self._targets is not None and self._tgtadm:
            target = self._targets.backing_files().get(path)
            if target is not None:
                found.append(f"iSCSI target {target}")
        return found

    def _refuse_in_use(self, volume_id: str, path: str) -> None:
        exports = self._exports(path)
        if exports:
            raise exc.VolumeInUse(volume_id=volume_id,
                                  reason=f"exported as {', '.join(exports)}")

    @contextlib.contextmanager
    def _export_guard(self, path: str, *, exporting: bool = False) -> Iterator[bool]:
        """Serialise the exports of one volume: in this process (a lock) and across
        processes (``flock`` on the volume file, which nothing else takes). Yields
        whether the file exists; a missing one is not locked, nor (unless
        ``exporting``, which raises then) a symlink or other non-regular file, which
        deleting may still remove. Never nest it."""
        with self._export_lock:
            fd: int | None = None
            try:
                fd = self._open(path, os.O_RDONLY)
            except FileNotFoundError:
                pass
            except exc.BackendError:
                if exporting:
                    raise
            try:
                if fd is not None:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                yield fd is not None or os.path.lexists(path)
            finally:
                if fd is not None:
                    os.close(fd)

    def _copy_to(self, src: str, dst: str, *, size_bytes: int | None, mode: int,
                 replace: bool, missing: exc.NotFound) -> None:
        """Copy ``src`` to ``dst`` through a temp file renamed into place.

        Args:
            size_bytes: the new file's size (``None``: the source's); smaller than
                the source is refused with ``InvalidSize``.
            replace: overwrite ``dst`` (revert) instead of raising ``AlreadyExists``.
            missing: raised when ``src`` does not exist.
        """
        kind, _, object_id = os.path.basename(dst).partition("-")
        exists = exc.AlreadyExists(resource=f"{kind.capitalize()} file", id=object_id)
        if not replace and os.path.lexists(dst):
            raise exists
        try:
            src_fd = self._open(src, os.O_RDONLY)
        except FileNotFoundError:
            raise missing from None
        try:
            src_size = os.fstat(src_fd).st_size
            if size_bytes is not None and size_bytes < src_size:
                raise exc.InvalidSize(size=size_bytes // GiB,
                                      reason=f"smaller than its source ({src_size} bytes)")
            if self._local_attach:  # push writes made through a loop device to the file
                for device in self._loop_devices(src):
                    loop.flush(device)
            started = time.monotonic()
            data = copy.copy_into_place(
                src_fd, dst, f"{_TMP_PREFIX}{object_id}-{secrets.token_hex(8)}",
                reflink=self._use_reflink, reflink_fallback=self.config.reflink == "auto",
                # With reflink=never, copy_file_range must not share extents either.
                use_copy_file_range=self.config.reflink != "never",
                size=size_bytes, mode=mode, replace=replace)
        except FileExistsError:
            raise exists from None
        finally:
            os.close(src_fd)
        LOG.debug("copied %s to %s (%d data bytes, reflink=%s) in %.3f s", src, dst, data,
                  self._use_reflink, time.monotonic() - started)

    # -- volumes -------------------------------------------------------------------

    @_operation("create_volume")
    def create_volume(self, volume: VolumeInfo) -> ModelUpdate:
        """Create an empty sparse file of ``volume.size`` GiB.

        Raises:
            InvalidId, InvalidSize: bad id or size (nothing is created).
            AlreadyExists: the volume's file exists already.
        """
        path = self._new_volume_file(volume)
        size = self._size_bytes(volume.size)
        try:
            fd = self._open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        except FileExistsError:
            raise exc.AlreadyExists(resource="Volume file", id=volume.id) from None
        try:
            os.fchmod(fd, _FILE_MODE)
            os.ftruncate(fd, size)
            os.fsync(fd)
        except BaseException:
            _unlink(path)
            raise
        finally:
            os.close(fd)
        copy.fsync_dir(os.path.dirname(path))
        return None

    @_operation("delete_volume")
    def delete_volume(self, volume: VolumeInfo) -> None:
        """Remove the volume's file. Missing: no-op.

        Raises:
            VolumeInUse: a loop device or an iSCSI target uses the file
                (``remove_export`` first).
        """
        path = self._volume_file(volume)
        with self._export_guard(path):
            if not os.path.lexists(path):
                LOG.debug("volume %s has no file; nothing to delete", volume.id)
                return
            self._refuse_in_use(volume.id, path)
            _unlink(path)
        copy.fsync_dir(os.path.dirname(path))

    @_operation("extend_volume")
    def extend_volume(self, volume: VolumeInfo, new_size: int) -> None:
        """Grow the file to ``new_size`` GiB and resize the loop devices backed by it
        (and the LUN of its iSCSI target, re-created at the new size).

        Raises:
            VolumeNotFound: no file. InvalidSize: ``new_size`` would shrink the file.
        """
        path = self._volume_file(volume)
        size = self._size_bytes(new_size)
        try:
            fd = self._open(path, os.O_WRONLY)
        except FileNotFoundError:
            raise exc.VolumeNotFound(volume_id=volume.id) from None
        try:
            current = os.fstat(fd).st_size
            if size < current:
                raise exc.InvalidSize(size=new_size,
                                      reason=f"volume {volume.id} is already {current} bytes")
            if size > current:
                os.ftruncate(fd, size)
                os.fsync(fd)
        finally:
            os.close(fd)
        checkpoints.checkpoint("file.extend.grown")  # crash tests: file grown, record not yet
        with self._export_guard(path):
            for device in self._loop_devices(path):
                loop.refresh_size(device)
                LOG.debug("resized %s of volume %s", device, volume.id)
            if self._targets is not None and self._tgtadm:
                self._targets.refresh(volume.id, path)

    @_operation("create_cloned_volume")
    def create_cloned_volume(self, volume: VolumeInfo, src_vref: VolumeInfo) -> ModelUpdate:
        """Create ``volume`` (``volume.size`` GiB) as a copy of ``src_vref``.

        Raises:
            VolumeNotFound: no source file. InvalidSize: smaller than the source.
            AlreadyExists: ``volume``'s file exists.
        """
        dst = self._new_volume_file(volume)
        src = self._volume_file(src_vref)
        size = self._size_bytes(volume.size)
        self._copy_to(src, dst, size_bytes=size, mode=_FILE_MODE, replace=False,
                      missing=exc.VolumeNotFound(volume_id=src_vref.id))
        return None

    def check_capacity(self, size: int) -> None:
        """Raise ``InsufficientCapacity`` if ``size`` GiB exceed the free space times
        ``max_over_subscription_ratio``."""
        free = self._free_bytes() * self.config.max_over_subscription_ratio
        if size * GiB > free:
            raise exc.InsufficientCapacity(backend_name=self.backend_name,
                                           requested_gb=size,
                                           available_gb=round(free / GiB, 2))

    # -- snapshots -----------------------------------------------------------------

    @_operation("create_snapshot")
    def create_snapshot(self, snapshot: SnapshotInfo) -> ModelUpdate:
        """Copy the volume's file into a read-only (0o400) snapshot file.

        Raises:
            VolumeNotFound: no volume file. AlreadyExists: the snapshot file exists.
        """
        dst = self._snapshot_path(snapshot.id)
        src = self._volume_file(snapshot.volume)
        self._copy_to(src, dst, size_bytes=None, mode=_SNAPSHOT_MODE, replace=False,
                      missing=exc.VolumeNotFound(volume_id=snapshot.volume.id))
        return None

    @_operation("delete_snapshot")
    def delete_snapshot(self, snapshot: SnapshotInfo) -> None:
        """Remove the snapshot's file. Missing: no-op.

        A member of a group snapshot has its data in the group snapshot's read-only
        subvolume, which ``delete_cgsnapshot`` removes as a whole; it is kept here."""
        path = self._snapshot_path(snapshot.id)
        if not _unlink(path):
            LOG.debug("snapshot %s has no file of its own; nothing to delete", snapshot.id)
            return
        copy.fsync_dir(os.path.dirname(path))

    @_operation("create_volume_from_snapshot")
    def create_volume_from_snapshot(self, volume: VolumeInfo,
                                    snapshot: SnapshotInfo) -> ModelUpdate:
        """Create ``volume`` (``volume.size`` GiB) with the snapshot's data.

        Raises:
            SnapshotNotFound: no snapshot file. InvalidSize: smaller than the snapshot.
            AlreadyExists: ``volume``'s file exists.
        """
        dst = self._new_volume_file(volume)
        src = self._snapshot_file(snapshot)
        size = self._size_bytes(volume.size)
        self._copy_to(src, dst, size_bytes=size, mode=_FILE_MODE, replace=False,
                      missing=exc.SnapshotNotFound(snapshot_id=snapshot.id))
        return None

    @_operation("revert_to_snapshot")
    def revert_to_snapshot(self, volume: VolumeInfo, snapshot: SnapshotInfo) -> None:
        """Replace the volume's file by a copy of the snapshot, keeping ``volume.size``.

        Raises:
            VolumeInUse: a loop device or an iSCSI target uses the volume.
            VolumeNotFound, SnapshotNotFound: a file is missing.
        """
        dst = self._volume_file(volume)
        src = self._snapshot_file(snapshot)
        size = self._size_bytes(volume.size)
        with self._export_guard(dst):
            if not os.path.lexists(dst):
                raise exc.VolumeNotFound(volume_id=volume.id)
            self._refuse_in_use(volume.id, dst)
            self._copy_to(src, dst, size_bytes=size, mode=_FILE_MODE, replace=True,
                          missing=exc.SnapshotNotFound(snapshot_id=snapshot.id))

    # -- consistency groups (btrfs only; the code is in groups.py) -----------------

    create_consistencygroup = _operation("create_consistencygroup")(
        groups.GroupsMixin.create_consistencygroup)
    create_consistencygroup_from_src = _operation("create_consistencygroup_from_src")(
        groups.GroupsMixin.create_consistencygroup_from_src)
    delete_consistencygroup = _operation("delete_consistencygroup")(
        groups.GroupsMixin.delete_consistencygroup)
    update_consistencygroup = _operation("update_consistencygroup")(
        groups.GroupsMixin.update_consistencygroup)
    create_cgsnapshot = _operation("create_cgsnapshot")(groups.GroupsMixin.create_cgsnapshot)
    delete_cgsnapshot = _operation("delete_cgsnapshot")(groups.GroupsMixin.delete_cgsnapshot)

    # -- stats and maintenance -----------------------------------------------------

    def _free_bytes(self) -> int:
        st = os.statvfs(self.root)
        return st.f_bavail * st.f_frsize

    def _scan(self, sub: str) -> list[tuple[str, str]]:
        """``(name, path)`` of the entries of ``<root>/<sub>`` (or the root), sorted."""
        directory = self._dir(sub) if sub else self.root
        with os.scandir(directory) as entries:
            return sorted((e.name, e.path) for e in entries)

    @_operation("get_volume_stats")
    def get_volume_stats(self, refresh: bool = False) -> BackendStats:
        """One pool named after the backend: capacity from ``statvfs``, provisioned
        (apparent sizes) and allocated (blocks) from the volume files."""
        if self._stats is not None and not refresh:
            return self._stats
        files = []
        for _, path in self._volume_entries():  # in volumes/ and in groups
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                continue
            if stat.S_ISREG(st.st_mode):
                files.append(st)
        vfs = os.statvfs(self.root)
        pool = PoolStats(
            pool_name=self.backend_name,
            total_capacity_gb=round(vfs.f_blocks * vfs.f_frsize / GiB, 2),
            free_capacity_gb=round(vfs.f_bavail * vfs.f_frsize / GiB, 2),
            provisioned_capacity_gb=round(sum(st.st_size for st in files) / GiB, 2),
            allocated_capacity_gb=round(sum(st.st_blocks * 512 for st in files) / GiB, 2),
            total_volumes=len(files),
            thin_provisioning_support=True,
            thick_provisioning_support=False,
            max_over_subscription_ratio=self.config.max_over_subscription_ratio,
            multiattach=True,
            extra={"reflink": self._use_reflink, "file_root": self.root,
                   "consistent_group_snapshot_enabled": self._groups_supported,
                   # Cinder's key: equal on two backends means the same storage.
                   "location_info": f"file:{os.stat(self.root).st_dev}:{self.root}"},
        )
        self._stats = BackendStats(volume_backend_name=self.backend_name,
                                   vendor_name=self.vendor_name,
                                   driver_version=self.version,
                                   storage_protocol=self.storage_protocol, pools=[pool])
        return self._stats

    @_operation("gc")
    def gc(self, is_known: Callable[[str, str], bool], *,
           dry_run: bool = False) -> list[str]:
        """Remove volume and snapshot files no record knows of, and stale temp files.

        Files backed by a loop device or served by an iSCSI target (``tgtadm``) are
        kept (and logged). Temp files (``.tmp-*``, in the root and its directories)
        are removed when no process holds their ``flock`` (their copy died: see
        :mod:`volumelib.drivers.file.copy`), at any age, and kept while one does,
        at any age; other temporary entries (btrfs subvolumes, symlinks) are stale
        after :data:`TMP_MAX_AGE` seconds by :attr:`clock`. On btrfs, group and group
        snapshot subvolumes whose records are
        unknown (``is_known("group"|"group_snapshot", id)``) go too, unless they hold a
        known volume or a loop-device-backed file, and so do unknown volume files in
        known groups.

        Returns:
            One line per object removed (or that would be, with ``dry_run``).
        """
        found: list[tuple[str, str]] = []
        now = self.clock()
        devices = loop.list_devices() if self._losetup else []
        served = (self._targets.backing_files()
                  if self._targets is not None and self._tgtadm else {})
        for kind, sub in (("volume", _VOLUMES), ("snapshot", _SNAPSHOTS), ("", "")):
            for name, path in self._scan(sub):
                object_id = name[len(kind) + 1:]
                if name.startswith(_TMP_PREFIX):
                    desc = self._stale_temp(path, now)
                elif (kind and name.startswith(f"{kind}-") and is_canonical_uuid(object_id)
                        and not is_known(kind, object_id)):
                    in_use = loop.devices_for_file(path, devices) if devices else []
                    if path in served:
                        in_use.append(f"iSCSI target {served[path]}")
                    if in_use:
                        LOG.warning("gc: keeping unknown %s %s: %s uses it",
                                    kind, object_id, ", ".join(in_use))
                        continue
                    desc = f"orphan {kind} {object_id}: {path}"
                else:
                    continue
                if desc is not None:
                    found.append((desc, path))
        found += self._gc_groups(is_known, now, devices)
        for _, path in found:
            if not dry_run and self._remove(path):
                LOG.debug("gc removed %s", path)
        report = [desc for desc, _ in found]
        LOG.debug("gc of %s (dry_run=%s): %s", self.backend_name, dry_run, report or "clean")
        return report

    @staticmethod
    def _stale_temp(path: str, now: float) -> str | None:
        """A description if ``path`` is a temp file no process holds (a dead copy's),
        or another temporary entry (btrfs subvolume, symlink) older than
        :data:`TMP_MAX_AGE`; else ``None``."""
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return None
        what = "file"
        age = now - st.st_mtime
        if stat.S_ISREG(st.st_mode):
            state = copy.temp_state(path)
            if state == copy.TEMP_HELD:
                LOG.debug("gc: keeping %s: a copy in progress holds it", path)
                return None
            if state == copy.TEMP_ABANDONED:
                return (f"stale temporary file (abandoned: no process holds it; "
                        f"{max(age, 0.0) / 3600:.1f} h old): {path}")
            if state == copy.TEMP_GONE:
                return None
            # TEMP_OTHER: replaced meanwhile by something that is not a file: by age.
        elif stat.S_ISDIR(st.st_mode):
            if not btrfs.is_subvolume(path):
                return None
            # A snapshot keeps its source's mtime; its ctime is its creation.
            what, age = "subvolume", now - max(st.st_mtime, st.st_ctime)
        if age < TMP_MAX_AGE:
            return None
        return f"stale temporary {what} ({age / 3600:.1f} h old): {path}"
