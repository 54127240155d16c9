"""Fixtures for functional tests on real filesystems and loop devices.

* ``xfs_root`` (session): an XFS filesystem made with ``reflink=1`` on a loop device
  (:func:`volumelib.testing.loopfs.loop_filesystem`); needs root.
* ``xfs_dir`` / ``ext4_dir``: a fresh directory per test on that XFS, or on the root
  filesystem (ext4, no reflink). Both detach, at teardown, every loop device backed by
  a file under them (by exact device path), also when the test failed.
* ``make_driver``: builds set-up ``FileDriver`` objects and cleans up after them.
* ``root_only``: skips (fails under ``CI=true``) without root, ``losetup``, ``blockdev``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.helpers import requires_root, requires_tool
from volumelib.drivers.file import FileDriver, loop
from volumelib.testing.loopfs import LoopFilesystem, detach_loop_devices_under, loop_filesystem

#: ``make_driver(directory, setup=True, **options)``; ``file_root`` defaults to
#: ``<directory>/root``.
MakeDriver = Callable[..., FileDriver]

#: Where ext4 test directories go: the root filesystem (``/tmp`` may be a tmpfs).
EXT4_PARENT = "/var/tmp"


def fstype_of(path: str) -> str:
    """The type of the filesystem holding ``path`` (``findmnt -T``)."""
    result = subprocess.run(["findmnt", "-n", "-o", "FSTYPE", "-T", path], check=True,
                            capture_output=True, text=True, timeout=30)
    return result.stdout.strip()


def _fresh_dir(parent: str, prefix: str) -> Iterator[str]:
    directory = tempfile.mkdtemp(prefix=prefix, dir=parent)
    try:
        yield directory
    finally:
        if os.geteuid() == 0 and shutil.which("losetup"):
            detach_loop_devices_under(directory)
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def xfs_root() -> Iterator[LoopFilesystem]:
    """A session-wide XFS (``reflink=1``) on a loop device, torn down at the end."""
    requires_root()
    requires_tool("losetup", "mkfs.xfs", "mount", "umount")
    with loop_filesystem("xfs", size_bytes=6 * 1024 ** 3) as fs:
        yield fs


@pytest.fixture
def xfs_dir(xfs_root: LoopFilesystem) -> Iterator[str]:
    """A fresh directory on the reflink XFS."""
    yield from _fresh_dir(xfs_root.mountpoint, "test-")


@pytest.fixture
def ext4_dir() -> Iterator[str]:
    """A fresh directory on the root filesystem, which is ext4 (no reflink)."""
    fstype = fstype_of(EXT4_PARENT)
    if fstype != "ext4":
        pytest.skip(f"{EXT4_PARENT} is on {fstype}, not ext4")
    yield from _fresh_dir(EXT4_PARENT, "volumelib-ext4-test-")


@pytest.fixture(params=["xfs", "ext4"])
def fs_dir(request: pytest.FixtureRequest) -> str:
    """Each test runs once on the reflink XFS and once on ext4."""
    return request.getfixturevalue(f"{request.param}_dir")


@pytest.fixture
def make_driver() -> Iterator[MakeDriver]:
    """Build set-up FileDrivers; at teardown detach loop devices under their roots."""
    drivers: list[FileDriver] = []

    def make(directory: str, setup: bool = True, **options: Any) -> FileDriver:
        options.setdefault("file_root", os.path.join(directory, "root"))
        driver = FileDriver(volume_backend_name="t", **options)
        drivers.append(driver)
        if setup:
            driver.do_setup()
            driver.check_for_setup_error()
        return driver

    yield make
    for driver in drivers:
        if os.geteuid() == 0 and loop.available() and os.path.isdir(driver.root):
            detach_loop_devices_under(driver.root)
        driver.close()


@pytest.fixture
def root_only() -> None:
    """Loop device tests need root, ``losetup`` and ``blockdev``."""
    requires_root()
    requires_tool("losetup", "blockdev")
