"""Thin wrappers around the ``btrfs`` program: subvolumes and their snapshots.

A btrfs *subvolume* is a directory with its own file tree; ``btrfs subvolume snapshot``
copies that tree in one transaction, so every file in it is captured at the same
instant (the files then share their extents copy-on-write). The file driver builds
consistency groups on that (:mod:`volumelib.drivers.file.groups`).

As in :mod:`~volumelib.drivers.file.loop`, failures of the programs surface as
:class:`subprocess.CalledProcessError` (with ``stderr``) or
:class:`subprocess.TimeoutExpired`; callers turn them into their own errors. Paths are
passed as single arguments, never through a shell.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import stat
import subprocess

from volumelib.drivers.file.loop import run

__all__ = [
    "SUPER_MAGIC",
    "SUBVOLUME_INO",
    "available",
    "fs_magic",
    "is_btrfs",
    "is_subvolume",
    "create_subvolume",
    "snapshot",
    "delete_subvolume",
    "show",
    "probe",
]

LOG = logging.getLogger(__name__)

#: ``statfs(2)``'s ``f_type`` of a btrfs filesystem (``BTRFS_SUPER_MAGIC``).
SUPER_MAGIC = 0x9123683E
#: The inode number of every subvolume's root directory (``BTRFS_FIRST_FREE_OBJECTID``).
SUBVOLUME_INO = 256
#: Seconds a ``btrfs`` call may take before it is considered hung.
DEFAULT_TIMEOUT = 120.0


def available() -> bool:
    """Whether the ``btrfs`` program (btrfs-progs) is on ``PATH``."""
    return shutil.which("btrfs") is not None


def fs_magic(path: str) -> int:
    """The ``statfs`` magic number of the filesystem holding ``path`` (``stat -f``).

    Raises:
        subprocess.CalledProcessError: ``stat`` failed (a missing path...).
    """
    out = run(["stat", "--file-system", "--format=%t", "--", path]).stdout.strip()
    return int(out, 16)


def is_btrfs(path: str) -> bool:
    """Whether ``path`` is on btrfs. Never raises (``False`` when it cannot tell)."""
    try:
        return fs_magic(path) == SUPER_MAGIC
    except (OSError, ValueError, subprocess.SubprocessError) as e:
        LOG.debug("cannot tell the filesystem type of %s: %s", path, e)
        return False


def is_subvolume(path: str) -> bool:
    """Whether ``path`` (not followed if a symlink) is the root of a btrfs subvolume."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_ino == SUBVOLUME_INO and is_btrfs(path)


def create_subvolume(path: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
    """Create an empty subvolume at ``path`` (its parent must exist; ``path`` must not).

    Raises:
        subprocess.CalledProcessError: ``path`` exists, or not on btrfs...
    """
    run(["btrfs", "subvolume", "create", path], timeout=timeout)
    LOG.debug("created subvolume %s", path)


def snapshot(source: str, dest: str, *, readonly: bool,
             timeout: float = DEFAULT_TIMEOUT) -> None:
    """Snapshot the subvolume ``source`` to the new subvolume ``dest``, atomically.

    Dirty pages of files in ``source`` are written out first by the kernel, so data
    written (even unsynced) before the call is in the snapshot.

    Raises:
        subprocess.CalledProcessError: ``source`` is not a subvolume, ``dest`` exists...
    """
    run(["btrfs", "subvolume", "snapshot", *(["-r"] if readonly else []), source, dest],
        timeout=timeout)
    LOG.debug("snapshotted subvolume %s to %s (readonly=%s)", source, dest, readonly)


def delete_subvolume(path: str, *, timeout: float = DEFAULT_TIMEOUT) -> bool:
    """Delete the subvolume (or snapshot, read-only too) at ``path`` with its content.

    The space is given back asynchronously by the filesystem's cleaner.

    Returns:
        ``False`` if ``path`` did not exist.

    Raises:
        ValueError: ``path`` exists but is not a subvolume (nothing is deleted).
        subprocess.CalledProcessError: ``btrfs subvolume delete`` failed.
    """
    if not os.path.lexists(path):
        return False
    if not is_subvolume(path):
        raise ValueError(f"{path} is not a btrfs subvolume; refusing to delete it")
    run(["btrfs", "subvolume", "delete", path], timeout=timeout)
    LOG.debug("deleted subvolume %s", path)
    return True


def show(path: str, *, timeout: float = DEFAULT_TIMEOUT) -> dict[str, str | list[str]]:
    """``btrfs subvolume show``, parsed: ``{"Name": ..., "UUID": ..., "Parent UUID": ...,
    "Flags": ..., "Snapshot(s)": [paths relative to the filesystem's top], ...}``."""
    out = run(["btrfs", "subvolume", "show", path], timeout=timeout).stdout
    info: dict[str, str | list[str]] = {}
    snapshots: list[str] = []
    in_snapshots = False
    for line in out.splitlines()[1:]:  # the first line is the path
        key, sep, value = line.strip().partition(":")
        if in_snapshots and (not sep or line.startswith("\t\t")):
            if line.strip():
                snapshots.append(line.strip())
            continue
        if sep:
            info[key.strip()] = value.strip()
            in_snapshots = key.strip() == "Snapshot(s)"
            if in_snapshots and value.strip():
                snapshots.append(value.strip())
    info["Snapshot(s)"] = snapshots
    return info


def probe(directory: str, prefix: str = ".tmp-probe-") -> bool:
    """Whether subvolumes can be created, snapshotted read-only and deleted in
    ``directory`` (on btrfs, with the permissions of this process).

    Leaves nothing behind when it can delete what it made; a failed delete is logged
    (the names start with ``prefix``, for a later cleanup).
    """
    if not available() or not is_btrfs(directory):
        return False
    token = secrets.token_hex(8)
    sub = os.path.join(directory, f"{prefix}{token}-sub")
    snap = os.path.join(directory, f"{prefix}{token}-snap")
    made: list[str] = []
    works = False
    try:
        create_subvolume(sub)
        made.append(sub)
        snapshot(sub, snap, readonly=True)
        made.append(snap)
        works = is_subvolume(snap)
    except (OSError, subprocess.SubprocessError) as e:
        LOG.debug("btrfs subvolumes do not work in %s: %s", directory,
                  getattr(e, "stderr", None) or e)
    for path in reversed(made):
        try:
            delete_subvolume(path)
        except (OSError, ValueError, subprocess.SubprocessError) as e:
            LOG.warning("cannot delete the probe subvolume %s: %s", path,
                        getattr(e, "stderr", None) or e)
            works = False  # groups could never be deleted either
    return works
