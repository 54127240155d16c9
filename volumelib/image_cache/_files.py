"""File primitives of the image cache: flocks as pins, removal that respects them.

A reader pins a file with a shared ``flock``; a writer holds an exclusive one on its
``incomplete/`` file. Removal tries an exclusive lock *without waiting*: a locked
file is in use and stays. ``flock`` locks belong to open file descriptions, so this
works between threads of one process as between processes.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import stat
from collections.abc import Iterator

__all__ = [
    "FILE_MODE",
    "GONE",
    "cache_lock",
    "fsync_dir",
    "hash_fd",
    "is_locked",
    "open_nofollow",
    "regular_files",
    "remove_unlocked",
    "same_file",
]

#: What :func:`remove_unlocked` returns when there was nothing to remove.
GONE = -1
FILE_MODE = 0o600
_RO = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC


@contextlib.contextmanager
def cache_lock(base_dir: str) -> Iterator[None]:
    """The cache-wide lock: an exclusive flock on ``<base_dir>/.lock``."""
    fd = os.open(os.path.join(base_dir, ".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC,
                 FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def same_file(fd: int, path: str) -> bool:
    """Whether ``path`` still names the file open as ``fd``."""
    try:
        a, b = os.fstat(fd), os.lstat(path)
    except FileNotFoundError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def remove_unlocked(path: str) -> int | None:
    """Remove ``path`` unless someone holds an flock on it.

    Returns:
        The bytes freed; ``None`` if it is locked (pinned by a reader, or a live
        writer's); :data:`GONE` if there was nothing to remove.
    """
    try:
        fd = os.open(path, _RO)
    except FileNotFoundError:
        return GONE
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None
        if not same_file(fd, path):
            return GONE
        size = os.fstat(fd).st_size
        os.unlink(path)
        return size
    finally:
        os.close(fd)


def is_locked(path: str) -> bool:
    """Whether someone holds an flock on ``path`` (a missing file is not locked)."""
    try:
        fd = os.open(path, _RO)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def open_nofollow(path: str, flags: int) -> int:
    """An ``opener`` for ``open()`` that never follows a symlink."""
    return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC)


def hash_fd(fd: int, algorithm: str) -> str:
    """``"<algorithm>:<hex>"`` of the whole file open as ``fd``."""
    h = hashlib.new(algorithm)
    offset = 0
    while True:
        chunk = os.pread(fd, 8 * 1024 * 1024, offset)
        if not chunk:
            return f"{algorithm}:{h.hexdigest()}"
        h.update(chunk)
        offset += len(chunk)


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def regular_files(directory: str, *, skip: frozenset[str] = frozenset(),
                  skip_dot: bool = False) -> list[tuple[str, os.stat_result]]:
    """``(name, lstat)`` of the regular files in ``directory`` (none if it is gone)."""
    found = []
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return []
    for entry in entries:
        if entry.name in skip or (skip_dot and entry.name.startswith(".")):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue
        if stat.S_ISREG(st.st_mode):
            found.append((entry.name, st))
    return found
