"""Fixtures for functional tests on a real btrfs (import them with
``from tests.functional.btrfs_fixtures import btrfs_dir, btrfs_root``).

* ``btrfs_root`` (session): a btrfs filesystem on a loop device
  (:func:`volumelib.testing.loopfs.loop_filesystem`); needs root, ``mkfs.btrfs`` and
  ``btrfs``.
* ``btrfs_dir``: a fresh directory per test on it. At teardown, also when the test
  failed, it detaches every loop device backed by a file under it (by exact device
  path), deletes the subvolumes under it (read-only snapshots too, which ``rm -r``
  cannot empty) and removes it.

The session teardown deletes whatever subvolume is left, then ``loop_filesystem``
detaches leftover loop devices, unmounts and detaches its own device: no loop device
or mount survives the session.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator

import pytest

from tests.helpers import requires_root, requires_tool
from volumelib.drivers.file import btrfs
from volumelib.testing.loopfs import LoopFilesystem, detach_loop_devices_under, loop_filesystem

__all__ = ["btrfs_root", "btrfs_dir", "delete_subvolumes_under", "BTRFS_SIZE"]

LOG = logging.getLogger(__name__)

#: Size of the sparse image (btrfs needs ~110 MiB at least; this costs nothing).
BTRFS_SIZE = 12 * 1024 ** 3  # sparse: tests that check free space need headroom


def delete_subvolumes_under(directory: str) -> list[str]:
    """Delete every subvolume below ``directory`` (not ``directory`` itself), the
    deepest first. Failures are logged, never raised: this runs in teardowns."""
    found = []
    for top, dirs, _ in os.walk(directory):
        for name in dirs:
            path = os.path.join(top, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if st.st_ino == btrfs.SUBVOLUME_INO:
                found.append(path)
    deleted = []
    for path in sorted(found, key=lambda p: p.count(os.sep), reverse=True):
        try:
            subprocess.run(["btrfs", "subvolume", "delete", path], check=True,
                           capture_output=True, text=True, timeout=120)
            deleted.append(path)
        except (OSError, subprocess.SubprocessError) as e:
            LOG.warning("cannot delete subvolume %s: %s", path,
                        getattr(e, "stderr", None) or e)
    return deleted


@pytest.fixture(scope="session")
def btrfs_root() -> Iterator[LoopFilesystem]:
    """A session-wide btrfs on a loop device, torn down at the end."""
    requires_root()
    requires_tool("losetup", "mkfs.btrfs", "btrfs", "mount", "umount")
    with loop_filesystem("btrfs", size_bytes=BTRFS_SIZE) as fs:
        try:
            yield fs
        finally:
            detach_loop_devices_under(fs.mountpoint)
            delete_subvolumes_under(fs.mountpoint)


@pytest.fixture
def btrfs_dir(btrfs_root: LoopFilesystem) -> Iterator[str]:
    """A fresh directory on the btrfs."""
    directory = tempfile.mkdtemp(prefix="test-", dir=btrfs_root.mountpoint)
    try:
        yield directory
    finally:
        detach_loop_devices_under(directory)
        delete_subvolumes_under(directory)
        shutil.rmtree(directory, ignore_errors=True)
