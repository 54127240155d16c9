"""Throw-away filesystems on loop devices, for tests and benchmarks (needs root).

:func:`loop_filesystem` makes a sparse image file in a temporary directory, attaches
it with ``losetup --find --show``, formats it (XFS with ``reflink=1`` or btrfs, both
of which share extents) and mounts it. Teardown always runs, also when the body
raises: it detaches the loop devices whose backing files lie on the filesystem (a
test that crashed may leave some), unmounts it, detaches exactly the device it
created and removes the image and directories. Devices are always named exactly;
nothing is matched by name patterns and no process is killed.

:func:`detach_loop_devices_under` is that first cleanup step on its own, for tests
that attach volume files in a directory of theirs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator

from volumelib.drivers.file import loop

__all__ = ["LoopFilesystem", "loop_filesystem", "detach_loop_devices_under", "MKFS"]

LOG = logging.getLogger(__name__)

#: How each supported filesystem type is made (the device path is appended).
MKFS: dict[str, list[str]] = {
    "xfs": ["mkfs.xfs", "-q", "-m", "reflink=1"],
    "btrfs": ["mkfs.btrfs", "-q"],
}

#: XFS refuses filesystems under 300 MiB; 2 GiB of sparse image costs nothing.
DEFAULT_SIZE = 2 * 1024 ** 3
_TIMEOUT = 120.0


@dataclasses.dataclass(frozen=True)
class LoopFilesystem:
    """A mounted loop filesystem.

    Attributes:
        mountpoint: where it is mounted.
        device: the loop device it lives on (``/dev/loopN``).
        fstype: ``xfs`` or ``btrfs``.
        image: the sparse image file behind ``device``.
    """

    mountpoint: str
    device: str
    fstype: str
    image: str


def _run(cmd: list[str]) -> None:
    try:
        subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=_TIMEOUT)
    except subprocess.CalledProcessError as e:
        raise RuntimeError(f"{' '.join(cmd)} failed ({e.returncode}): "
                           f"{(e.stderr or e.stdout or '').strip()}") from e


def detach_loop_devices_under(directory: str) -> list[str]:
    """Detach every loop device whose backing file lies under ``directory``.

    Each device is detached by its exact path. Safe to call when there are none.

    Returns:
        The devices detached.
    """
    if not loop.available():
        return []
    devices = loop.devices_under(directory)
    for device in devices:
        LOG.warning("detaching leftover %s (backed by a file under %s)", device, directory)
        loop.detach(device)
    return devices


def _umount(mountpoint: str) -> None:
    if not os.path.ismount(mountpoint):
        return
    try:
        _run(["umount", mountpoint])
    except RuntimeError as e:
        # Something still holds it: detach lazily so the loop device can still go.
        LOG.warning("%s; unmounting lazily", e)
        _run(["umount", "--lazy", mountpoint])


@contextlib.contextmanager
def loop_filesystem(fstype: str = "xfs", size_bytes: int = DEFAULT_SIZE,
                    workdir: str | None = None, *,
                    direct_io: bool = True) -> Iterator[LoopFilesystem]:
    """Make, mount and yield a filesystem on a loop device; always tear it down.

    Args:
        fstype: ``xfs`` (made with ``-m reflink=1``) or ``btrfs``.
        size_bytes: size of the (sparse) image.
        workdir: where to make the temporary directory (default: ``$TMPDIR``).
        direct_io: attach the image with direct I/O, so the filesystem's reads and
            writes reach the disk instead of a second page cache (falls back to
            buffered I/O where the host filesystem cannot).

    Raises:
        ValueError: an unknown ``fstype``.
        PermissionError: not root.
        RuntimeError: a command failed (its stderr is in the message).
    """
    if fstype not in MKFS:
        raise ValueError(f"fstype must be one of {', '.join(sorted(MKFS))}, not {fstype!r}")
    if os.geteuid() != 0:
        raise PermissionError("loop_filesystem needs root (losetup, mkfs, mount)")
    with contextlib.ExitStack() as stack:
        tmpdir = tempfile.mkdtemp(prefix=f"volumelib-{fstype}-", dir=workdir)
        stack.callback(shutil.rmtree, tmpdir, ignore_errors=True)
        image = os.path.join(tmpdir, f"{fstype}.img")
        mountpoint = os.path.join(tmpdir, "mnt")
        os.mkdir(mountpoint, 0o700)
        with open(image, "wb") as f:
            f.truncate(size_bytes)
        device = loop.attach(image, direct_io=direct_io)
        stack.callback(loop.detach, device)
        _run([*MKFS[fstype], device])
        _run(["mount", "-t", fstype, device, mountpoint])
        stack.callback(_umount, mountpoint)
        # Runs first at teardown: devices left on volume files would keep it busy.
        stack.callback(detach_loop_devices_under, mountpoint)
        LOG.debug("mounted %s %s (%s) on %s", fstype, device, image, mountpoint)
        yield LoopFilesystem(mountpoint=mountpoint, device=device, fstype=fstype,
                             image=image)
