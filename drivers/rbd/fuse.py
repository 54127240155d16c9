"""A real block device for an RBD volume without krbd: ``rbd-fuse`` plus a loop device.

``rbd-fuse`` (Debian package ``rbd-fuse``) mounts a pool's images as files through
librbd; ``losetup`` then gives one of them a ``/dev/loopN``. Where the kernel has no
``rbd`` module (containers, this project's CI) this is the way to put a filesystem on
an RBD volume::

    from volumelib.drivers.rbd.fuse import rbd_block_device

    with rbd_block_device(conf_path, "volumelib", keyring, "volumelib",
                          backend.driver.image_name(vol.id)) as device:
        subprocess.run(["mkfs.xfs", device], check=True)

Everything is undone on exit, also after an error: the loop device is detached (by
its path), the FUSE mount unmounted and ``rbd-fuse`` (started in the foreground as a
child) stopped by its PID (SIGTERM, then SIGKILL). Needs root and ``/dev/fuse``.
Loop devices on FUSE files cannot use direct I/O; writes reach the image when the
device is flushed (``fsync``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator

from volumelib import exceptions as exc

__all__ = ["rbd_block_device", "available"]

LOG = logging.getLogger(__name__)

TIMEOUT = 30.0


def available() -> list[str]:
    """What is missing for :func:`rbd_block_device` (empty: nothing)."""
    missing = [p for p in ("rbd-fuse", "losetup", "umount") if shutil.which(p) is None]
    if not os.path.exists("/dev/fuse"):
        missing.append("/dev/fuse")
    return missing


def _run(*cmd: str) -> str:
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT,
                            check=False)
    if result.returncode != 0:
        raise exc.BackendError(backend_name="rbd-fuse", operation=cmd[0],
                               reason=f"{' '.join(cmd)} exited with {result.returncode}: "
                                      f"{result.stderr.strip()}")
    return result.stdout.strip()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 10.0)):
        if proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(wait)


@contextlib.contextmanager
def rbd_block_device(conf_path: str, user: str, keyring: str | None, pool: str,
                     image: str) -> Iterator[str]:
    """Yield a loop device (``/dev/loopN``) on ``pool/image`` through ``rbd-fuse``.

    Raises:
        NotSupported: ``rbd-fuse``, ``losetup`` or ``/dev/fuse`` is missing.
        BackendError: the mount or the loop device could not be set up.
    """
    missing = available()
    if missing:
        raise exc.NotSupported(f"an rbd-fuse block device needs {', '.join(missing)}",
                               operation="rbd-fuse block device", driver="rbd")
    mountpoint = tempfile.mkdtemp(prefix="volumelib-rbd-fuse-")
    cmd = ["rbd-fuse", "-f", "-c", conf_path, "--id", user, "-p", pool, "-r", image]
    if keyring:
        cmd += ["--keyring", keyring]
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen([*cmd, mountpoint], stdin=subprocess.DEVNULL, stdout=log,
                            stderr=log, start_new_session=True)
    device: str | None = None
    mounted = False
    try:
        path = os.path.join(mountpoint, image)
        deadline = time.monotonic() + TIMEOUT
        while not os.path.exists(path):
            if proc.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                raise exc.BackendError(backend_name="rbd-fuse", operation="mount",
                                       reason=f"{image} did not appear in {mountpoint}: "
                                              f"{log.read().decode(errors='replace')[-500:]}")
            time.sleep(0.05)
        mounted = True
        device = _run("losetup", "--find", "--show", path)
        LOG.debug("rbd-fuse (pid %d) serves %s/%s as %s", proc.pid, pool, image, device)
        yield device
    finally:
        try:
            if device is not None:
                with open(device, "rb+") as f:  # push cached writes to the image
                    os.fsync(f.fileno())
                _run("losetup", "-d", device)
        finally:
            if mounted or os.path.ismount(mountpoint):
                subprocess.run(["umount", mountpoint], capture_output=True, timeout=TIMEOUT,
                               check=False)
                # Unmounted, rbd-fuse closes the image (its watch) and exits by itself.
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(TIMEOUT)
            _stop(proc)
            log.close()
            with contextlib.suppress(OSError):
                os.rmdir(mountpoint)
