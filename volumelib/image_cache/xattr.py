"""``xattr``: the image cache with its index in extended attributes of the files.

Each active file carries ``user.volumelib.size``, ``.checksum``, ``.hits``,
``.last_modified``, ``.last_accessed`` and ``.meta`` (JSON). They are set on the
``incomplete/`` file before the rename that makes it active, so an entry and its
record appear together.
The filesystem must support ``user.*`` attributes (ext4, XFS, btrfs, tmpfs do; ramfs,
vfat and some network filesystems do not): :meth:`configure` probes and says so.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import secrets
import subprocess

from volumelib import exceptions as exc
from volumelib.image_cache.base import GONE, CachedImage, ImageCacheDriver

__all__ = ["PREFIX", "XattrImageCache"]

LOG = logging.getLogger(__name__)

PREFIX = "user.volumelib."
_FIELDS = ("size", "checksum", "hits", "last_modified", "last_accessed", "meta")
_UNSUPPORTED = (errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS)


def _fstype(path: str) -> str:
    try:
        out = subprocess.run(["findmnt", "-n", "-o", "FSTYPE", "-T", path], check=True,
                             capture_output=True, text=True, timeout=30).stdout.strip()
        return out or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


class XattrImageCache(ImageCacheDriver):
    """Image cache indexed in the files' extended attributes."""

    name = "xattr"

    def _index_setup(self) -> None:
        """Probe ``user.*`` extended attributes in ``base_dir``.

        Raises:
            InvalidConfig: the filesystem does not support them.
        """
        probe = os.path.join(self.base_dir, f".xattr-probe-{secrets.token_hex(6)}")
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            os.setxattr(fd, PREFIX + "probe", b"1")
            if os.getxattr(fd, PREFIX + "probe") != b"1":
                raise OSError(errno.EIO, "read back a different value")
        except OSError as e:
            reason = (f"the filesystem of {self.base_dir} ({_fstype(self.base_dir)}) does "
                      f"not support user extended attributes ({e.strerror}); use the "
                      f"sqlite image cache driver, or a filesystem with user xattrs "
                      f"(ext4, XFS, btrfs)")
            if e.errno not in _UNSUPPORTED:
                reason = f"cannot use extended attributes in {self.base_dir}: {e}"
            raise exc.InvalidConfig(reason=reason) from e
        finally:
            os.close(fd)
            os.unlink(probe)

    @staticmethod
    def _write(target: int | str, record: CachedImage) -> None:
        values = {"size": str(record.size), "checksum": record.checksum,
                  "hits": str(record.hits),
                  "last_modified": repr(record.last_modified),
                  "last_accessed": repr(record.last_accessed),
                  "meta": json.dumps(record.meta, sort_keys=True)}
        for key in _FIELDS:
            os.setxattr(target, PREFIX + key, values[key].encode())

    @staticmethod
    def _read(target: int | str, image_id: str) -> CachedImage | None:
        values = {}
        try:
            for key in _FIELDS:
                values[key] = os.getxattr(target, PREFIX + key).decode()
        except OSError as e:
            if e.errno in (errno.ENODATA, errno.ENOENT, *_UNSUPPORTED):
                return None
            raise
        try:
            return CachedImage(image_id=image_id, size=int(values["size"]),
                               checksum=values["checksum"],
                               hits=int(values["hits"]),
                               last_modified=float(values["last_modified"]),
                               last_accessed=float(values["last_accessed"]),
                               meta=json.loads(values["meta"]))
        except ValueError:
            LOG.warning("image cache entry %s has unreadable attributes", image_id)
            return None

    def _index_commit(self, fd: int, incomplete: str, active: str,
                      record: CachedImage) -> None:
        self._write(fd, record)
        os.fsync(fd)
        os.replace(incomplete, active)

    def _index_get(self, image_id: str) -> CachedImage | None:
        path = self.get_image_filepath(image_id)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        try:
            return self._read(fd, image_id)
        finally:
            os.close(fd)

    def _index_all(self) -> list[CachedImage]:
        found = []
        for name, _ in self._state_files("active"):
            record = self._index_get(name)
            if record is not None:
                found.append(record)
        return found

    def _index_hit(self, image_id: str, fd: int, now: float) -> None:
        record = self._read(fd, image_id)
        if record is None:
            return
        os.setxattr(fd, PREFIX + "hits", str(record.hits + 1).encode())
        os.setxattr(fd, PREFIX + "last_accessed", repr(now).encode())

    def _index_forget(self, image_id: str) -> None:
        """The attributes went with the file."""

    def _index_clean(self) -> int:
        """Remove active files without attributes (put there by hand, or copied by a
        tool that dropped them) unless someone reads them."""
        removed = 0
        for name, _ in self._state_files("active"):
            if self._index_get(name) is None:
                freed = self._remove_unlocked(self.get_image_filepath(name))
                if freed is not None and freed != GONE:
                    LOG.warning("image cache %s: removed %s, which had no index "
                                "attributes", self.base_dir, name)
                    removed += 1
        return removed
