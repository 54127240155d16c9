"""The file driver's manage, unmanage, allocation map and reflink migration.

A mixin of :class:`~volumelib.drivers.file.driver.FileDriver`, kept apart so each
module stays small; it uses the driver's path helpers and state.

**Manage.** Any regular file under the *import folder* (option ``file_import_dir``,
default ``<file_root>/import``; it must be on ``file_root``'s filesystem) can be
adopted: its reference is ``{"source-name": <path relative to the import folder>}``.
Adopting renames it to ``volumes/volume-<id>`` (a hard link, then the old name
removed, so nothing is ever overwritten), makes it 0o600 and grows it (sparsely) to
the whole GiB the volume has. Files that are not safe to adopt are listed with the
reason: symbolic links, other file types, empty files, files a loop device uses,
files with other hard links (someone else could write into the volume), images in a
format other than raw (qcow2, vmdk, vhdx, vdi, qed: ``qemu-img convert`` them first),
files on another filesystem. Snapshots are not managed: there is no chain of files,
an outside file becomes a volume.

**Unmanage** moves ``volume-<id>`` back into the import folder under the same name
(``volume-<id>.1``... if taken), where ``gc`` does not look and
``get_manageable_volumes`` lists it again.

**Migration** to another file backend on the same filesystem, when both reflink: the
target's file is a reflink of the source's (constant time, no data read), made under
a temporary name and renamed into place. Anything else is left to the library's
host-assisted copy (``(False, None)``).

**Allocation map**: the file's data extents (``SEEK_DATA``/``SEEK_HOLE``).
"""

from __future__ import annotations

import errno
import logging
import os
import secrets
import stat
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from volumelib import exceptions as exc
from volumelib.drivers.base import ModelUpdate, VolumeDriver
from volumelib.drivers.boundary import is_canonical_uuid
from volumelib.drivers.file import copy, loop
from volumelib.drivers.file.ops import _operation
from volumelib.drivers.manageable import (gib_rounded_up, manageable_entry,
                                          paginate_manageable, reference_value)
from volumelib.drivers.types import VolumeInfo

__all__ = ["ManageMixin", "IMPORT_DIR", "IMAGE_MAGIC"]

LOG = logging.getLogger("volumelib.drivers.file.driver")

GiB = 1024 ** 3
#: ``(offset, magic, format)`` of disk image formats other than raw.
IMAGE_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (0, b"QFI\xfb", "qcow2"),
    (0, b"KDMV", "vmdk"),
    (0, b"vhdxfile", "vhdx"),
    (0, b"QED\x00", "qed"),
    (64, b"\x7f\x10\xda\xbe", "vdi"),
)
#: The import folder under ``file_root`` when ``file_import_dir`` is empty.
IMPORT_DIR = "import"
_FILE_MODE = 0o600
_DIR_MODE = 0o700


def _image_format(fd: int) -> str | None:
    """The format of a disk image file other than raw, from its magic bytes."""
    head = os.pread(fd, 72, 0)
    for offset, magic, name in IMAGE_MAGIC:
        if head[offset:offset + len(magic)] == magic:
            return name
    return None


class ManageMixin:
    """get_manageable_volumes, manage_existing(_get_size), unmanage,
    get_allocated_extents, migrate_volume."""

    if TYPE_CHECKING:  # provided by FileDriver
        root: str
        backend_name: str
        config: Any
        _use_reflink: bool
        _losetup: bool

        def _volume_file(self, volume: VolumeInfo) -> str: ...
        def _new_volume_file(self, volume: VolumeInfo) -> str: ...
        def _open(self, path: str, flags: int) -> int: ...
        def _dir(self, sub: str) -> str: ...
        def _refuse_in_use(self, volume_id: str, path: str) -> None: ...
        def _export_guard(self, path: str, *, exporting: bool = False) -> Any: ...

    # -- the import folder -----------------------------------------------------------

    @property
    def import_dir(self) -> str:
        """The import folder: ``file_import_dir`` or ``<file_root>/import``."""
        return self.config.file_import_dir or os.path.join(self.root, IMPORT_DIR)

    def _check_import_dir(self) -> None:
        """At set-up: ``file_import_dir`` is absolute and, if it exists, a directory on
        ``file_root``'s filesystem (adopting renames files).

        Raises:
            InvalidConfig: otherwise.
        """
        configured = self.config.file_import_dir
        if configured and (not os.path.isabs(configured) or "\0" in configured):
            raise exc.InvalidConfig(reason=f"option file_import_dir={configured!r} of driver "
                                           f"file: must be an absolute path")
        path = self.import_dir
        if not os.path.lexists(path):
            return
        if not os.path.isdir(path):
            raise exc.InvalidConfig(reason=f"file_import_dir {path} is not a directory")
        if os.stat(path).st_dev != os.stat(self.root).st_dev:
            raise exc.InvalidConfig(reason=f"file_import_dir {path} is on another filesystem "
                                           f"than file_root {self.root}: adopting a file "
                                           f"renames it, which cannot cross filesystems")

    def _import_path(self, existing_ref: Mapping[str, Any]) -> str:
        """The file a reference names, checked to lie inside the import folder.

        Raises:
            InvalidReference: not ``source-name``, absolute, or leaving the folder.
        """
        _, name = reference_value(existing_ref, accepted=("source-name",))
        norm = os.path.normpath(name)
        if os.path.isabs(name) or norm == "." or norm.startswith(".."):
            raise exc.InvalidReference(reference=dict(existing_ref),
                                       reason=f"source-name is a path relative to the import "
                                              f"folder {self.import_dir}")
        base = os.path.realpath(self.import_dir)
        path = os.path.join(base, norm)
        if not os.path.realpath(os.path.dirname(path)).startswith(base):
            raise exc.InvalidReference(reference=dict(existing_ref),
                                       reason=f"it leaves the import folder {base} (through "
                                              f"a symbolic link?)")
        return path

    def _not_safe(self, path: str, st: os.stat_result) -> str | None:
        """Why the file at ``path`` must not be adopted (``None``: it may)."""
        if stat.S_ISLNK(st.st_mode):
            return "a symbolic link"
        if not stat.S_ISREG(st.st_mode):
            return "not a regular file"
        if st.st_size == 0:
            return "an empty file"
        if st.st_nlink > 1:
            return (f"it has {st.st_nlink} hard links: whoever holds another could write "
                    f"into the volume")
        if st.st_dev != os.stat(self.root).st_dev:
            return "on another filesystem than file_root"
        if self._losetup:
            devices = loop.devices_for_file(path)
            if devices:
                return f"in use by {', '.join(devices)}"
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as e:
            return f"cannot be read: {e.strerror}"
        try:
            fmt = _image_format(fd)
        finally:
            os.close(fd)
        if fmt is not None:
            return f"a {fmt} image, not raw: convert it first (qemu-img convert -O raw)"
        return None

    # -- manage ------------------------------------------------------------------------

    @_operation("get_manageable_volumes")
    def get_manageable_volumes(self, cinder_volumes: Sequence[VolumeInfo], marker: Any,
                               limit: int | None, offset: int, sort_keys: Sequence[str],
                               sort_dirs: Sequence[str]) -> list[dict[str, Any]]:
        """Every file under the import folder (temporary ``.tmp-*`` files left out),
        with why it is not safe to adopt when it is not (see the module docstring)."""
        entries = []
        base = self.import_dir
        if os.path.isdir(base):
            for directory, dirs, files in os.walk(base):
                dirs.sort()
                for name in sorted(files + [d for d in dirs
                                            if os.path.islink(os.path.join(directory, d))]):
                    if name.startswith(copy.TMP_PREFIX):
                        continue
                    path = os.path.join(directory, name)
                    try:
                        st = os.lstat(path)
                    except FileNotFoundError:
                        continue
                    entries.append(manageable_entry(
                        {"source-name": os.path.relpath(path, base)}, st.st_size,
                        reason_not_safe=self._not_safe(path, st),
                        extra_info=f"{st.st_size} bytes, {st.st_blocks * 512} allocated"))
        return paginate_manageable(entries, marker, limit, offset, sort_keys, sort_dirs)

    def _adoptable(self, volume: VolumeInfo, existing_ref: Mapping[str, Any]
                   ) -> tuple[str, os.stat_result]:
        path = self._import_path(existing_ref)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            name = os.path.basename(path)
            vid = name[len("volume-"):] if name.startswith("volume-") else ""
            if is_canonical_uuid(vid) and os.path.lexists(
                    os.path.join(self._dir("volumes"), name)):
                raise exc.AlreadyManaged(reference=dict(existing_ref), resource="volume",
                                         id=vid) from None
            raise exc.ReferenceNotFound(backend_name=self.backend_name,
                                        reference=dict(existing_ref)) from None
        reason = self._not_safe(path, st)
        if reason is not None:
            raise exc.NotManageable(reference=dict(existing_ref),
                                    backend_name=self.backend_name, reason=reason)
        return path, st

    @_operation("manage_existing_get_size")
    def manage_existing_get_size(self, volume: VolumeInfo,
                                 existing_ref: Mapping[str, Any]) -> int:
        """The file's size in GiB, rounded up; raises what ``manage_existing`` would."""
        return gib_rounded_up(self._adoptable(volume, existing_ref)[1].st_size)

    @_operation("manage_existing")
    def manage_existing(self, volume: VolumeInfo,
                        existing_ref: Mapping[str, Any]) -> ModelUpdate:
        """Rename the file to ``volumes/volume-<id>`` (never over another), 0o600, grown
        to ``volume.size`` GiB. A repeated call after it was done is a no-op."""
        dst = self._volume_file(volume)
        src = self._import_path(existing_ref)
        if os.path.lexists(dst) and not os.path.lexists(src):
            self._grow(dst, volume.size)  # done before a crash; finish the growth
            return None
        src, _ = self._adoptable(volume, existing_ref)
        dst = self._new_volume_file(volume)
        try:
            os.link(src, dst, follow_symlinks=False)
        except FileExistsError:
            raise exc.AlreadyExists(resource="Volume file", id=volume.id) from None
        except OSError as e:
            if e.errno == errno.EXDEV:
                raise exc.NotManageable(reference=dict(existing_ref),
                                        backend_name=self.backend_name,
                                        reason="on another filesystem than file_root") from e
            raise
        os.unlink(src)
        os.chmod(dst, _FILE_MODE, follow_symlinks=False)
        copy.fsync_dir(os.path.dirname(src))
        copy.fsync_dir(os.path.dirname(dst))
        self._grow(dst, volume.size)
        LOG.debug("file %s adopted as volume %s", src, volume.id)
        return None

    def _grow(self, path: str, size_gib: int) -> None:
        """Grow the file (sparsely) to ``size_gib`` GiB; never shrink it."""
        fd = self._open(path, os.O_WRONLY)
        try:
            if os.fstat(fd).st_size < size_gib * GiB:
                os.ftruncate(fd, size_gib * GiB)
                os.fsync(fd)
        finally:
            os.close(fd)

    @_operation("unmanage")
    def unmanage(self, volume: VolumeInfo) -> Mapping[str, Any] | None:
        """Move ``volume-<id>`` into the import folder (``volume-<id>.N`` if the name is
        taken). Returns its reference there; a repeated call returns the same one."""
        src = self._volume_file(volume)
        base = self.import_dir
        name = f"volume-{volume.id}"
        with self._export_guard(src) as exists:
            if not exists:
                done = os.path.join(base, name)
                return {"source-name": name} if os.path.lexists(done) else None
            self._refuse_in_use(volume.id, src)
            if not os.path.isdir(base):
                os.makedirs(base, _DIR_MODE, exist_ok=True)
            src_st = os.lstat(src)
            for n in range(1000):
                candidate = name if n == 0 else f"{name}.{n}"
                dst = os.path.join(base, candidate)
                try:
                    os.link(src, dst, follow_symlinks=False)
                except FileExistsError:
                    if os.lstat(dst).st_ino == src_st.st_ino:  # linked before a crash
                        break
                    continue
                break
            else:
                raise exc.BackendError(backend_name=self.backend_name, operation="unmanage",
                                       reason=f"no free name for {name} in {base}")
            os.unlink(src)
        copy.fsync_dir(base)
        copy.fsync_dir(os.path.dirname(src))
        LOG.debug("volume %s unmanaged: its file is %s", volume.id, dst)
        return {"source-name": os.path.relpath(dst, base)}

    # -- allocation map and migration ----------------------------------------------------

    @_operation("get_allocated_extents")
    def get_allocated_extents(self, volume: VolumeInfo) -> list[tuple[int, int]]:
        """The file's data extents (``SEEK_DATA``/``SEEK_HOLE``)."""
        try:
            fd = self._open(self._volume_file(volume), os.O_RDONLY)
        except FileNotFoundError:
            raise exc.VolumeNotFound(volume_id=volume.id) from None
        try:
            return copy.data_extents(fd)
        finally:
            os.close(fd)

    @_operation("migrate_volume")
    def migrate_volume(self, volume: VolumeInfo, target: VolumeDriver,
                       progress: Callable[[int, int], None] | None = None
                       ) -> tuple[bool, ModelUpdate]:
        """A reflink into another file backend on the same filesystem (both with
        reflink); ``(False, None)`` for any other target."""
        if not isinstance(target, ManageMixin) or target is self \
                or not (self._use_reflink and target._use_reflink) \
                or os.stat(self.root).st_dev != os.stat(target.root).st_dev:
            return False, None
        src = self._volume_file(volume)
        dst = target._new_volume_file(VolumeInfo(id=volume.id, size=volume.size))
        try:
            fd = self._open(src, os.O_RDONLY)
        except FileNotFoundError:
            raise exc.VolumeNotFound(volume_id=volume.id) from None
        try:
            data = copy.copy_into_place(
                fd, dst, f"{copy.TMP_PREFIX}{volume.id}-{secrets.token_hex(8)}",
                reflink=True, mode=_FILE_MODE, progress=progress)
        except FileExistsError:
            raise exc.AlreadyExists(resource="Volume file", id=volume.id) from None
        finally:
            os.close(fd)
        LOG.debug("volume %s reflinked from %s to %s (%d data bytes shared)", volume.id,
                  self.backend_name, target.backend_name, data)
        return True, None
