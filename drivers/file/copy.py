"""Copy volume files: a reflink (``FICLONE``) or a sparse-aware data copy.

The sparse copy walks the source's data extents with ``lseek(SEEK_DATA/SEEK_HOLE)``
and copies only those, so holes are never read and stay holes in the destination
(its size is set to the source's at the end, which keeps trailing holes too).

Note that on a filesystem that can share extents (XFS with ``reflink=1``, btrfs)
the kernel implements ``copy_file_range`` by sharing extents as well. Pass
``use_copy_file_range=False`` to really duplicate the data blocks there.

Temporary files (``.tmp-*``) tell whether their writer is still alive: the process
that creates one holds an exclusive ``flock`` on it until it is renamed into place or
removed, and the kernel drops that lock when the process dies, however it dies. So a
temp file nobody holds a lock on is a dead copy's leftover (:func:`temp_state`,
:func:`remove_abandoned_temp`), whatever its age, and one that is locked belongs to a
copy still running, however long it takes. Creating and locking are one step for
anyone looking: the creator holds a shared ``flock`` on the directory while it
creates and locks the file, and whoever checks a temp file holds an exclusive one
while it opens and tries the file's lock (:func:`create_temp`).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import secrets
import stat
from collections.abc import Iterator
from typing import Callable

from volumelib import checkpoints

__all__ = [
    "FICLONE",
    "ProgressFn",
    "probe_reflink",
    "reflink_fd",
    "data_extents",
    "copy_fd",
    "copy_file",
    "copy_into_place",
    "fsync_dir",
    "create_temp",
    "temp_state",
    "remove_abandoned_temp",
    "TEMP_HELD",
    "TEMP_ABANDONED",
    "TEMP_GONE",
    "TEMP_OTHER",
    "NO_REFLINK",
    "TMP_PREFIX",
]

LOG = logging.getLogger(__name__)

#: ``_IOW(0x94, 9, int)``: make the destination share the source's extents.
FICLONE = 0x40049409

#: Names of temporary files and directories (copies in progress, probes) start with it.
TMP_PREFIX = ".tmp-"

#: ``progress(copied_bytes, total_data_bytes)``.
ProgressFn = Callable[[int, int], None]

#: Bytes moved per ``copy_file_range``/``pread`` call.
CHUNK = 16 * 1024 * 1024

#: errnos of a ``FICLONE`` that the filesystem cannot do (rather than failed doing).
NO_REFLINK = frozenset({errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EINVAL,
                        errno.ENOTTY, errno.ENOSYS})

#: errnos meaning "this filesystem or kernel cannot do that", not "it went wrong".
_UNSUPPORTED = frozenset({errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EINVAL,
                          errno.ENOTTY, errno.ENOSYS, errno.EPERM})


def reflink_fd(src_fd: int, dst_fd: int) -> None:
    """Make ``dst_fd``'s file share all of ``src_fd``'s extents (``ioctl FICLONE``).

    Raises:
        OSError: the filesystem cannot (``EOPNOTSUPP``, ``EXDEV``, ``EINVAL``) or failed.
    """
    fcntl.ioctl(dst_fd, FICLONE, src_fd)


def probe_reflink(directory: str) -> bool:
    """Whether files in ``directory`` can be reflinked.

    Creates two hidden temporary files there (``.tmp-probe-*``), tries ``FICLONE``
    between them and removes them.

    Raises:
        OSError: the files cannot be created (the directory is not writable...).
    """
    token = secrets.token_hex(8)
    src_name, dst_name = f"{TMP_PREFIX}probe-{token}-src", f"{TMP_PREFIX}probe-{token}-dst"
    src, dst = os.path.join(directory, src_name), os.path.join(directory, dst_name)
    src_fd = dst_fd = -1
    try:
        src_fd = create_temp(directory, src_name, os.O_RDWR)
        os.pwrite(src_fd, b"\xa5" * 4096, 0)
        dst_fd = create_temp(directory, dst_name, os.O_RDWR)
        try:
            reflink_fd(src_fd, dst_fd)
        except OSError as e:
            LOG.debug("no reflink in %s: %s", directory, e)
            return False
        return os.pread(dst_fd, 4096, 0) == b"\xa5" * 4096
    finally:
        for path in (src, dst):  # while still locked: nobody sees them abandoned
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        for fd in (src_fd, dst_fd):
            if fd >= 0:
                os.close(fd)


def data_extents(fd: int, size: int | None = None) -> list[tuple[int, int]]:
    """The ``(offset, length)`` data extents of ``fd``'s file, up to ``size``.

    A filesystem without ``SEEK_DATA`` gets one extent covering the whole file.
    """
    if size is None:
        size = os.fstat(fd).st_size
    extents: list[tuple[int, int]] = []
    pos = 0
    while pos < size:
        try:
            start = os.lseek(fd, pos, os.SEEK_DATA)
        except OSError as e:
            if e.errno == errno.ENXIO:  # no data after pos
                break
            if e.errno in (errno.EINVAL, errno.EOPNOTSUPP) and not extents and pos == 0:
                return [(0, size)] if size else []
            raise
        if start >= size:
            break
        end = min(os.lseek(fd, start, os.SEEK_HOLE), size)
        if end <= start:  # cannot happen on a sane filesystem; do not loop forever
            end = size
        extents.append((start, end - start))
        pos = end
    return extents


def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view = view[written:]
        offset += written


class _Copier:
    """Copies ranges, with ``copy_file_range`` until the kernel refuses it."""

    def __init__(self, src_fd: int, dst_fd: int, total: int,
                 progress: ProgressFn | None, use_copy_file_range: bool) -> None:
        self.src_fd = src_fd
        self.dst_fd = dst_fd
        self.total = total
        self.progress = progress
        self.use_cfr = use_copy_file_range and hasattr(os, "copy_file_range")
        self.copied = 0

    def copy_range(self, offset: int, length: int) -> None:
        end = offset + length
        while offset < end:
            count = min(CHUNK, end - offset)
            done = self._copy_file_range(offset, count) if self.use_cfr else None
            if done is None:
                data = os.pread(self.src_fd, count, offset)
                if data:
                    _pwrite_all(self.dst_fd, data, offset)
                done = len(data)
            if done == 0:  # the source shrank while we copied it
                return
            offset += done
            self.copied += done
            checkpoints.checkpoint("file.copy.partial")  # crash tests: some data copied, not all
            if self.progress is not None:
                self.progress(self.copied, self.total)

    def _copy_file_range(self, offset: int, count: int) -> int | None:
        try:
            return os.copy_file_range(self.src_fd, self.dst_fd, count, offset, offset)
        except OSError as e:
            if e.errno not in _UNSUPPORTED:
                raise
            LOG.debug("copy_file_range failed (%s); copying with pread/pwrite", e)
            self.use_cfr = False
            return None


def copy_fd(src_fd: int, dst_fd: int, *, reflink: bool,
            progress: ProgressFn | None = None, use_copy_file_range: bool = True) -> int:
    """Copy ``src_fd``'s file into ``dst_fd``'s (opened for writing), then ``fsync`` it.

    Args:
        src_fd: the source, opened for reading.
        dst_fd: the destination, opened for writing; its old content is replaced.
        reflink: share extents with ``FICLONE`` instead of copying data.
        progress: called as ``progress(copied_bytes, total_data_bytes)``.
        use_copy_file_range: copy extents with ``copy_file_range`` (else
            ``pread``/``pwrite``, which never shares extents).

    Returns:
        The number of data bytes in the source (what was copied or shared).

    Raises:
        OSError: the reflink or the copy failed.
    """
    size = os.fstat(src_fd).st_size
    extents = data_extents(src_fd, size)
    total = sum(length for _, length in extents)
    if reflink:
        reflink_fd(src_fd, dst_fd)
        if progress is not None:
            progress(total, total)
    else:
        os.ftruncate(dst_fd, 0)
        copier = _Copier(src_fd, dst_fd, total, progress, use_copy_file_range)
        for offset, length in extents:
            copier.copy_range(offset, length)
        os.ftruncate(dst_fd, size)
    os.fsync(dst_fd)
    return total


def fsync_dir(path: str) -> None:
    """``fsync`` a directory, so that a rename or unlink in it is durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def copy_file(src_path: str, dst_path: str, *, reflink: bool,
              progress: ProgressFn | None = None, use_copy_file_range: bool = True) -> int:
    """Copy ``src_path`` to ``dst_path`` (created with mode 0o600 if missing).

    Neither path may be a symlink (``O_NOFOLLOW``). See :func:`copy_fd` for the rest.

    Returns:
        The number of data bytes in the source.

    Raises:
        OSError: a path is a symlink (``ELOOP``), missing, or the copy failed.
    """
    src_fd = os.open(src_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        dst_fd = os.open(dst_path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
                         0o600)
        try:
            return copy_fd(src_fd, dst_fd, reflink=reflink, progress=progress,
                           use_copy_file_range=use_copy_file_range)
        finally:
            os.close(dst_fd)
    finally:
        os.close(src_fd)


def copy_into_place(src_fd: int, dst_path: str, tmp_name: str, *, reflink: bool,
                    reflink_fallback: bool = False, use_copy_file_range: bool = True,
                    size: int | None = None, mode: int = 0o600, replace: bool = False,
                    progress: ProgressFn | None = None) -> int:
    """Copy ``src_fd``'s file to ``dst_path`` through a temp file renamed into place.

    The temp file ``<directory of dst_path>/<tmp_name>`` is created exclusively (so
    never through a symlink) and locked (:func:`create_temp`: ``gc`` in any process
    leaves it alone while this copy runs, and removes it if this process dies), filled,
    sized, chmodded and fsynced, then renamed over ``dst_path`` with ``os.replace``:
    the destination appears complete or not at all. It is removed on any failure.

    Args:
        reflink, use_copy_file_range, progress: as for :func:`copy_fd`.
        reflink_fallback: when the filesystem refuses the reflink (:data:`NO_REFLINK`),
            make a sparse copy instead (logged as a warning) rather than raising.
        size: the destination's size in bytes (``None``: the source's).
        mode: the destination's permission bits.
        replace: overwrite an existing ``dst_path``; else raise ``FileExistsError``.

    Returns:
        The number of data bytes in the source.

    Raises:
        FileExistsError: ``dst_path`` (or the temp file) exists and ``replace`` is false.
        OSError: the copy failed.
    """
    directory = os.path.dirname(dst_path)
    tmp = os.path.join(directory, tmp_name)
    fd = create_temp(directory, tmp_name, os.O_WRONLY)  # locked until closed
    try:
        os.fchmod(fd, 0o600)
        checkpoints.checkpoint("file.copy.tmp_created")  # crash tests: an empty temp file
        try:
            data = copy_fd(src_fd, fd, reflink=reflink, progress=progress,
                           use_copy_file_range=use_copy_file_range)
        except OSError as e:
            if not (reflink and reflink_fallback and e.errno in NO_REFLINK):
                raise
            LOG.warning("reflink to %s refused (%s); copying the data instead", dst_path, e)
            data = copy_fd(src_fd, fd, reflink=False, progress=progress,
                           use_copy_file_range=use_copy_file_range)
        if size is not None:
            os.ftruncate(fd, size)
        os.fchmod(fd, mode)
        os.fsync(fd)
        checkpoints.checkpoint("file.copy.tmp_written")  # crash tests: complete, not in place
        if not replace and os.path.lexists(dst_path):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), dst_path)
        os.replace(tmp, dst_path)
    except BaseException:
        try:
            os.unlink(tmp)  # while still locked: nobody sees it abandoned
        except FileNotFoundError:
            pass
        finally:
            os.close(fd)
        raise
    os.close(fd)
    fsync_dir(directory)
    return data


# -- temp files whose writer holds a lock ----------------------------------------------

#: :func:`temp_state`: a live process holds the temp file (a copy in progress).
TEMP_HELD = "held"
#: :func:`temp_state`: a regular file nobody holds: its writer died (or gave up).
TEMP_ABANDONED = "abandoned"
#: :func:`temp_state`: nothing there (any more).
TEMP_GONE = "gone"
#: :func:`temp_state`: not a regular file (a symlink, a directory...), or a filesystem
#: without ``flock``: no lock to ask.
TEMP_OTHER = "other"


#: errnos of an ``flock`` the filesystem cannot do (some network filesystems): temp
#: files there are neither locked nor judged by their lock, but by their age.
_NO_FLOCK = frozenset({errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL,
                       errno.EBADF})


def _flock(fd: int, operation: int) -> bool:
    """``flock(fd, operation)``; ``False`` where the filesystem has no ``flock``.

    Raises:
        BlockingIOError: ``LOCK_NB`` and someone holds a conflicting lock.
    """
    try:
        fcntl.flock(fd, operation)
    except OSError as e:
        if isinstance(e, BlockingIOError) or e.errno not in _NO_FLOCK:
            raise
        LOG.debug("no flock here (%s): temp files are judged by age", e)
        return False
    return True


@contextlib.contextmanager
def _directory_lock(directory: str, operation: int) -> Iterator[None]:
    """Hold ``flock(operation)`` on ``directory`` for the block (where there is one)."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        _flock(fd, operation)
        yield
    finally:
        os.close(fd)  # releases the lock


def create_temp(directory: str, name: str, flags: int = os.O_WRONLY,
                mode: int = 0o600) -> int:
    """Create ``<directory>/<name>`` exclusively, already locked for this process.

    The returned descriptor holds an exclusive ``flock`` on the file until it is
    closed (or the process dies): while it is open, :func:`temp_state` says
    :data:`TEMP_HELD` in every process. The file is created and locked under a shared
    ``flock`` on ``directory``, which checkers take exclusively, so nobody ever sees
    it unlocked while its creator lives.

    Args:
        flags: the access mode (``os.O_WRONLY``, ``os.O_RDWR``).
        mode: the new file's permission bits.

    Returns:
        The open, locked descriptor; the caller closes it.

    Raises:
        FileExistsError: ``<directory>/<name>`` exists (never through a symlink).
        OSError: the file cannot be created.
    """
    path = os.path.join(directory, name)
    with _directory_lock(directory, fcntl.LOCK_SH):
        fd = os.open(path, flags | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     mode)
        try:
            # A new inode: only a checker could hold it, and checkers wait for the
            # directory lock we hold. Not waiting makes a broken rule fail, not hang.
            _flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            raise
    return fd


def _claim(path: str) -> tuple[str, int | None]:
    """``(state, fd)``: with :data:`TEMP_ABANDONED`, ``fd`` holds the file's exclusive
    ``flock`` (the caller closes it); otherwise ``fd`` is ``None``."""
    directory = os.path.dirname(path)
    try:
        with _directory_lock(directory, fcntl.LOCK_EX):
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                return TEMP_GONE, None
            if not stat.S_ISREG(st.st_mode):  # never open a device or a FIFO
                return TEMP_OTHER, None
            try:
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
            except FileNotFoundError:
                return TEMP_GONE, None
            except OSError as e:
                if e.errno == errno.ELOOP:  # replaced by a symlink meanwhile
                    return TEMP_OTHER, None
                raise
            try:
                now = os.fstat(fd)
                if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino) \
                        or not stat.S_ISREG(now.st_mode):
                    os.close(fd)
                    return TEMP_OTHER, None
                if not _flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB):
                    os.close(fd)  # no lock to ask here: the caller goes by age
                    return TEMP_OTHER, None
                again = os.lstat(path)  # a copy that finished renamed it away?
                if (again.st_dev, again.st_ino) != (st.st_dev, st.st_ino):
                    os.close(fd)
                    return TEMP_GONE, None
            except BlockingIOError:
                os.close(fd)
                return TEMP_HELD, None
            except FileNotFoundError:
                os.close(fd)
                return TEMP_GONE, None
            except BaseException:
                os.close(fd)
                raise
            return TEMP_ABANDONED, fd
    except FileNotFoundError:  # the directory itself is gone
        return TEMP_GONE, None


def temp_state(path: str) -> str:
    """Whether the temp file at ``path`` is a running copy's or a dead one's.

    Returns:
        :data:`TEMP_HELD` (a live process holds its lock: leave it),
        :data:`TEMP_ABANDONED` (a regular file nobody holds: its writer is gone),
        :data:`TEMP_GONE` (nothing there) or :data:`TEMP_OTHER` (not a regular file,
        or no ``flock`` on this filesystem: judge it otherwise).
    """
    state, fd = _claim(path)
    if fd is not None:
        os.close(fd)
    return state


def remove_abandoned_temp(path: str) -> bool:
    """Remove the temp file at ``path`` unless a live process holds it
    (:func:`temp_state`).

    The file is unlinked while this process holds its lock, and only if ``path`` still
    names the file that was checked (a copy that finished meanwhile renamed it away).
    An entry with no lock to ask (:data:`TEMP_OTHER`: no ``flock`` on this filesystem,
    or not a regular file any more) is unlinked as it is: the caller judged it by age.

    Returns:
        Whether it was removed.
    """
    state, fd = _claim(path)
    if state == TEMP_OTHER:
        try:
            os.unlink(path)  # a symlink goes, never what it points to
        except FileNotFoundError:
            return False
        return True
    if fd is None:
        return False
    try:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return False
        now = os.fstat(fd)
        if (st.st_dev, st.st_ino) != (now.st_dev, now.st_ino):
            return False
        os.unlink(path)
    finally:
        os.close(fd)
    with contextlib.suppress(FileNotFoundError):
        fsync_dir(os.path.dirname(path))
    return True
