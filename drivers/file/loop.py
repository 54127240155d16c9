"""Thin wrappers around ``losetup``: attach, detach, resize and find loop devices.

Every function names devices exactly (``/dev/loopN``); nothing here matches devices
by a pattern or kills processes. Failures of the ``losetup`` program surface as
:class:`subprocess.CalledProcessError` (with ``stderr``) or
:class:`subprocess.TimeoutExpired`; callers translate them into their own errors
(the file driver into :class:`~volumelib.exceptions.BackendError`).

A device is attached read-write or read-only (``losetup --read-only``); the listing
reports which (``RO``), so a caller can keep one device of each kind per file
without remembering anything.

Which devices back a file is decided the way ``losetup -j`` decides it: by the
backing file's device and inode number, with the backing file's path as a fallback
(for an old ``losetup`` without those columns, or a backing file that was deleted).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import shutil
import subprocess
import time
from collections.abc import Sequence
from typing import Any

__all__ = [
    "LoopDevice",
    "available",
    "run",
    "list_devices",
    "devices_for_file",
    "devices_under",
    "attach",
    "detach",
    "refresh_size",
    "device_size",
    "flush",
]

LOG = logging.getLogger(__name__)

#: Seconds a ``losetup`` call may take before it is considered hung.
DEFAULT_TIMEOUT = 60.0
#: Seconds :func:`detach` waits for the kernel to really release a device.
DETACH_WAIT = 10.0

_DEVICE_RE = re.compile(r"^/dev/loop[0-9]+$")
_DELETED = " (deleted)"
_COLUMNS = "NAME,BACK-FILE,BACK-INO,BACK-MAJ:MIN,DIO,RO"


@dataclasses.dataclass(frozen=True)
class LoopDevice:
    """One attached loop device, as ``losetup --list`` reports it.

    Attributes:
        name: the device path, ``/dev/loopN``.
        back_file: the backing file's path, without the kernel's `` (deleted)`` suffix.
        deleted: the backing file was unlinked (the device keeps the old inode).
        back_ino: the backing file's inode number, if known.
        back_dev: the backing file's ``st_dev``, if known.
        direct_io: whether the device opened its backing file with ``O_DIRECT``.
        read_only: whether the device refuses writes (``losetup --read-only``).
    """

    name: str
    back_file: str | None
    deleted: bool = False
    back_ino: int | None = None
    back_dev: int | None = None
    direct_io: bool | None = None
    read_only: bool | None = None


def available() -> bool:
    """Whether a ``losetup`` program is on ``PATH``."""
    return shutil.which("losetup") is not None


def run(cmd: Sequence[str], *, timeout: float = DEFAULT_TIMEOUT,
        check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` without a shell, capturing text output.

    Raises:
        subprocess.CalledProcessError: non-zero exit with ``check`` (``stderr`` set).
        subprocess.TimeoutExpired: the command did not finish within ``timeout``.
        FileNotFoundError: the program does not exist.
    """
    LOG.debug("running %s", " ".join(cmd))
    return subprocess.run(list(cmd), check=check, capture_output=True, text=True,
                          timeout=timeout)


def _check_device(device: str) -> str:
    if not isinstance(device, str) or not _DEVICE_RE.match(device):
        raise ValueError(f"not a loop device path: {device!r}")
    return device


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def _majmin(value: Any) -> int | None:
    """``"  7:0 "`` (losetup pads it) -> ``os.makedev(7, 0)``."""
    if not isinstance(value, str):
        return None
    major, sep, minor = value.strip().partition(":")
    if not sep:
        return None
    try:
        return os.makedev(int(major), int(minor))
    except ValueError:
        return None


def _bool_or_none(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, str)):
        text = str(value).strip().lower()
        if text in ("1", "true", "yes"):
            return True
        if text in ("0", "false", "no"):
            return False
    return None


def _split_back_file(value: Any) -> tuple[str | None, bool]:
    if not isinstance(value, str) or not value:
        return None, False
    if value.endswith(_DELETED):
        return value[:-len(_DELETED)], True
    return value, False


def _parse_json(text: str) -> list[LoopDevice]:
    """Parse ``losetup --list --json`` output (empty text: no devices)."""
    if not text.strip():
        return []
    data = json.loads(text)
    rows = data.get("loopdevices", []) if isinstance(data, dict) else []
    devices = []
    for row in rows:
        if not isinstance(row, dict):
            continue
        name = row.get("name")
        if not isinstance(name, str) or not _DEVICE_RE.match(name):
            continue
        back_file, deleted = _split_back_file(row.get("back-file"))
        devices.append(LoopDevice(name=name, back_file=back_file, deleted=deleted,
                                  back_ino=_int_or_none(row.get("back-ino")),
                                  back_dev=_majmin(row.get("back-maj:min")),
                                  direct_io=_bool_or_none(row.get("dio")),
                                  read_only=_bool_or_none(row.get("ro"))))
    return devices


def _list_from_sysfs() -> list[LoopDevice]:
    """Fallback without ``losetup --json``: read ``/sys/block/loopN/loop/backing_file``."""
    devices = []
    try:
        names = os.listdir("/sys/block")
    except OSError:
        return []
    for name in sorted(names):
        if not re.fullmatch(r"loop[0-9]+", name):
            continue
        try:
            with open(f"/sys/block/{name}/loop/backing_file", encoding="utf-8",
                      errors="surrogateescape") as f:
                raw = f.read().rstrip("\n")
        except OSError:
            continue  # not bound
        back_file, deleted = _split_back_file(raw)
        devices.append(LoopDevice(name=f"/dev/{name}", back_file=back_file, deleted=deleted,
                                  read_only=_sysfs_flag(f"/sys/block/{name}/ro")))
    return devices


def _sysfs_flag(path: str) -> bool | None:
    try:
        with open(path, encoding="ascii") as f:
            return _bool_or_none(f.read().strip())
    except OSError:
        return None


def list_devices() -> list[LoopDevice]:
    """Every attached loop device (all users'), with its backing file.

    Uses ``losetup --list --json``; if this ``losetup`` cannot produce JSON, reads sysfs.
    """
    try:
        result = run(["losetup", "--list", "--json", "--output", _COLUMNS])
    except subprocess.CalledProcessError as e:
        LOG.debug("losetup --list --json failed (%s); reading sysfs", e.stderr.strip())
        return _list_from_sysfs()
    try:
        return _parse_json(result.stdout)
    except (ValueError, AttributeError) as e:
        LOG.debug("cannot parse losetup --json output (%s); reading sysfs", e)
        return _list_from_sysfs()


def _matches(device: LoopDevice, path: str, st: os.stat_result | None) -> bool:
    if (st is not None and device.back_ino is not None and device.back_dev is not None
            and device.back_ino == st.st_ino and device.back_dev == st.st_dev):
        return True
    return device.back_file is not None and device.back_file == path


def devices_for_file(path: str, devices: Sequence[LoopDevice] | None = None, *,
                     read_only: bool | None = None) -> list[str]:
    """The loop devices backed by ``path``, sorted.

    A device matches when its backing inode is ``path``'s current inode (symlinks are
    not followed), or when its backing file's name is ``path`` (also an older, deleted
    inode once at that name). ``path`` should be absolute and symlink free, since the
    kernel reports real paths.

    Args:
        read_only: ``True``: only read-only devices; ``False``: only writable ones;
            ``None``: all.
    """
    path = os.path.abspath(path)
    try:
        st: os.stat_result | None = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        st = None
    if devices is None:
        devices = list_devices()
    return sorted((d.name for d in devices if _matches(d, path, st)
                   and (read_only is None or bool(d.read_only) == read_only)),
                  key=_device_key)


def devices_under(directory: str, devices: Sequence[LoopDevice] | None = None) -> list[str]:
    """The loop devices whose backing file lies under ``directory`` (any depth), sorted."""
    root = os.path.realpath(directory).rstrip(os.sep) + os.sep
    if devices is None:
        devices = list_devices()
    return sorted((d.name for d in devices
                   if d.back_file is not None and d.back_file.startswith(root)),
                  key=_device_key)


def _device_key(name: str) -> tuple[int, str]:
    digits = name[len("/dev/loop"):]
    return (int(digits) if digits.isdigit() else -1, name)


def attach(path: str, *, direct_io: bool = True, read_only: bool = False,
           timeout: float = DEFAULT_TIMEOUT) -> str:
    """Attach ``path`` to the first free loop device and return its path.

    With ``direct_io`` the device opens the file with ``O_DIRECT``; where that fails
    (a filesystem without ``O_DIRECT``), it is retried without, logged at debug level.
    With ``read_only`` the device refuses writes (``losetup --read-only``).

    Raises:
        subprocess.CalledProcessError: ``losetup`` failed (``stderr`` says why).
    """
    mode = ["--read-only"] if read_only else []
    if direct_io:
        before = set(devices_for_file(path))
        try:
            return _attach(path, [*mode, "--direct-io=on"], timeout)
        except subprocess.CalledProcessError as e:
            LOG.debug("losetup --direct-io=on %s failed (%s); retrying without direct I/O",
                      path, (e.stderr or "").strip())
            # A losetup that attached the device and then failed to switch direct
            # I/O on leaves it attached: detach exactly those new devices.
            for leftover in sorted(set(devices_for_file(path)) - before):
                detach(leftover, timeout=timeout)
    return _attach(path, mode, timeout)


def _attach(path: str, extra: list[str], timeout: float) -> str:
    result = run(["losetup", "--find", "--show", *extra, path], timeout=timeout)
    device = result.stdout.strip().splitlines()[-1].strip() if result.stdout.strip() else ""
    if not _DEVICE_RE.match(device):
        raise subprocess.CalledProcessError(
            0, result.args, result.stdout,
            f"unexpected output of losetup --find --show: {result.stdout!r} {result.stderr!r}")
    LOG.debug("attached %s to %s", path, device)
    return device


def _sysfs_backing_file(device: str) -> str | None:
    name = os.path.basename(device)
    try:
        with open(f"/sys/block/{name}/loop/backing_file", encoding="utf-8",
                  errors="surrogateescape") as f:
            return f.read().rstrip("\n")
    except OSError:
        return None


def detach(device: str, *, timeout: float = DEFAULT_TIMEOUT,
           wait: float = DETACH_WAIT) -> None:
    """Detach exactly ``device`` (``losetup -d``); already detached is a no-op.

    The kernel defers the release while someone holds the device open; this waits up
    to ``wait`` seconds for the device to stop backing the same file, then logs a
    warning (the device auto-clears when its last user closes it).

    Raises:
        ValueError: ``device`` is not a ``/dev/loopN`` path.
        subprocess.CalledProcessError: ``losetup -d`` failed for another reason.
    """
    _check_device(device)
    backing = _sysfs_backing_file(device)
    if backing is None and os.path.exists(f"/sys/block/{os.path.basename(device)}"):
        LOG.debug("%s is not attached; nothing to detach", device)
        return
    result = run(["losetup", "-d", device], timeout=timeout, check=False)
    if result.returncode != 0:
        if _sysfs_backing_file(device) is None:
            LOG.debug("%s was already detached: %s", device, result.stderr.strip())
            return
        raise subprocess.CalledProcessError(result.returncode, result.args,
                                            result.stdout, result.stderr)
    deadline = time.monotonic() + wait
    while True:
        now = _sysfs_backing_file(device)
        if now is None or now != backing:
            LOG.debug("detached %s (was %s)", device, backing)
            return
        if time.monotonic() >= deadline:
            LOG.warning("%s is still attached to %s %.0f s after losetup -d; it is "
                        "open somewhere and will clear when closed", device, backing, wait)
            return
        time.sleep(0.05)


def refresh_size(device: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
    """Make ``device`` pick up its backing file's new size (``losetup -c``)."""
    run(["losetup", "-c", _check_device(device)], timeout=timeout)


def device_size(device: str) -> int:
    """The size of ``device`` in bytes, from ``/sys/block/loopN/size``."""
    name = os.path.basename(_check_device(device))
    with open(f"/sys/block/{name}/size", encoding="ascii") as f:
        return int(f.read().strip()) * 512


def flush(device: str) -> None:
    """Write ``device``'s dirty page-cache pages to its backing file (``fsync``)."""
    fd = os.open(_check_device(device), os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
