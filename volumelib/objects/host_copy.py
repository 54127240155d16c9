"""The host-assisted copy of a migration: both volumes attached on this host, only the
allocated extents of the source copied, the copy verified.

:func:`copy_volume` is the generic path of :func:`volumelib.objects.volume_moves.migrate`
(Cinder's ``_migrate_volume_generic``): used when the source driver cannot move the
volume itself. It

1. creates the target's storage object (the target driver's ``create_volume``, under
   the volume's own id);
2. exports and attaches both here: the source read-only, the target read-write
   (``create_export``, ``initialize_connection``, os-brick ``connect_volume``), without
   connection records: the migration's record says what to undo after a crash
   (``remove_export`` on both);
3. asks the source which ranges hold data (``get_allocated_extents`` when the driver
   declares ``ALLOCATION_MAP``: ``SEEK_DATA``/``SEEK_HOLE`` of a file, ``rbd diff`` of an
   image; else the whole volume), and copies only those, in chunks, skipping chunks of
   zeros (the new target reads zeros there already, and stays thin);
4. verifies: reads the same ranges back from the target and compares a SHA-256 of
   them with the one taken while reading the source;
5. detaches both.

Attaches give a block device path (a loop device, an iSCSI disk) or a file-like
handle (os-brick's userspace RBD connector); :class:`Device` reads and writes both.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

from volumelib import brick, checkpoints, runtime
from volumelib import exceptions as exc
from volumelib.drivers.types import Capability, ConnectorProperties, VolumeInfo
from volumelib.objects.driver_calls import call_driver
from volumelib.protocols import BackendLike

__all__ = ["CopyStats", "Device", "copy_volume", "attached", "CHUNK", "ProgressFn"]

LOG = logging.getLogger(__name__)

GiB = 1024 ** 3
#: Bytes read and written per call.
CHUNK = 4 * 1024 ** 2

#: ``progress(phase, done_bytes, total_bytes)``; phases ``copy`` and ``verify``.
ProgressFn = Callable[[str, float, float | None], None]

_ZEROS = bytes(CHUNK)


@dataclasses.dataclass
class CopyStats:
    """What a copy did (bytes of the volume, not of the storage's own traffic).

    Attributes:
        data_bytes: bytes in the source's allocated extents (what was read).
        bytes_read: read from the source plus, when verifying, from the target.
        bytes_written: written to the target (allocated extents minus zero chunks).
        extents: how many allocated extents the source reported.
        seconds: the copy and verification, attaches included.
    """

    data_bytes: int = 0
    bytes_read: int = 0
    bytes_written: int = 0
    extents: int = 0
    seconds: float = 0.0
    verified: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class Device:
    """Positional reads and writes on what an attach gives: a device path (opened
    here, closed by :meth:`close`) or a file-like handle (left open: the connection
    owns it)."""

    def __init__(self, path: Any, writable: bool) -> None:
        self.handle: Any = None
        self.fd: int | None = None
        if isinstance(path, (str, bytes, os.PathLike)):
            self.fd = os.open(path, (os.O_RDWR if writable else os.O_RDONLY) | os.O_CLOEXEC)
        else:
            self.handle = path

    def read(self, offset: int, length: int) -> bytes:
        if self.fd is not None:
            out = bytearray()
            while len(out) < length:
                data = os.pread(self.fd, length - len(out), offset + len(out))
                if not data:
                    break
                out += data
            return bytes(out)
        self.handle.seek(offset)
        return bytes(self.handle.read(length))

    def write(self, offset: int, data: bytes) -> None:
        if self.fd is not None:
            view = memoryview(data)
            while view:
                written = os.pwrite(self.fd, view, offset)
                view, offset = view[written:], offset + written
            return
        self.handle.seek(offset)
        self.handle.write(data)

    def flush(self) -> None:
        if self.fd is not None:
            os.fsync(self.fd)
        else:
            self.handle.flush()

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _connector(mode: str) -> ConnectorProperties:
    props = ConnectorProperties.from_dict(brick.get_connector_properties())
    props.host = runtime.settings().host
    props.attach_mode = mode
    return props


def _undo_export(backend: BackendLike, info: VolumeInfo, props: ConnectorProperties) -> None:
    """Best effort: revoke and remove an export this copy made (logged on failure; a
    crash leaves the same to ``gc``, which calls ``remove_export`` too)."""
    for operation, call in (("terminate_connection",
                             lambda: backend.driver.terminate_connection(info, props)),
                            ("remove_export", lambda: backend.driver.remove_export(info))):
        try:
            call_driver(backend, operation, call, resource_id=info.id)
        except Exception:  # noqa: BLE001 - the copy's own outcome matters more
            LOG.warning("%s of volume %s on %s failed after a migration copy", operation,
                        info.id, backend.id, exc_info=True)


@contextlib.contextmanager
def attached(backend: BackendLike, info: VolumeInfo, mode: str) -> Iterator[Device]:
    """Export ``info`` on ``backend`` to this host and attach it (``mode`` ``ro`` or
    ``rw``); yield a :class:`Device`; detach and remove the export afterwards.

    Raises:
        NotSupported: the backend cannot attach locally.
        BackendError: the driver or os-brick failed (what was made is undone).
    """
    if Capability.LOCAL_ATTACH not in backend.capabilities:
        raise exc.NotSupported(f"backend {backend.id} cannot attach volumes on this host "
                               f"(driver {backend.driver_name} does not declare "
                               f"local_attach)", operation="attach for a migration copy",
                               driver=backend.driver_name)
    props = _connector(mode)
    driver = backend.driver
    try:
        update = call_driver(backend, "create_export", driver.create_export, info, props,
                             resource_id=info.id)
        if update:
            info = dataclasses.replace(info, **{k: v for k, v in update.items()
                                                if k in ("provider_location", "provider_id",
                                                         "provider_auth")})
        ci = call_driver(backend, "initialize_connection", driver.initialize_connection,
                         info, props, resource_id=info.id)
    except BaseException:
        _undo_export(backend, info, props)
        raise
    ci_dict = ci.to_dict() if hasattr(ci, "to_dict") else dict(ci)
    try:
        device_info = brick.connect_volume(ci_dict)
    except BaseException:
        _undo_export(backend, info, props)
        raise
    device = None
    try:
        device = Device(device_info.get("path"), writable=mode == "rw")
        LOG.debug("migration copy: volume %s of %s attached %s at %s", info.id, backend.id,
                  mode, device_info.get("path"))
        yield device
    finally:
        try:
            if device is not None:
                device.close()
            brick.disconnect_volume(ci_dict, device_info, force=True)
        finally:
            _undo_export(backend, info, props)


def _extents(backend: BackendLike, info: VolumeInfo) -> list[tuple[int, int]]:
    """The source's allocated extents, clipped to its size (the whole volume when the
    driver has no allocation map)."""
    size = info.size * GiB
    if Capability.ALLOCATION_MAP not in backend.capabilities:
        return [(0, size)]
    found = call_driver(backend, "get_allocated_extents",
                        backend.driver.get_allocated_extents, info, resource_id=info.id)
    extents = []
    for offset, length in sorted(found):
        end = min(offset + length, size)
        if end > offset >= 0:
            extents.append((offset, end - offset))
    return extents


def _chunks(extents: list[tuple[int, int]]) -> Iterator[tuple[int, int]]:
    for offset, length in extents:
        end = offset + length
        while offset < end:
            count = min(CHUNK, end - offset)
            yield offset, count
            offset += count


def copy_volume(source: BackendLike, source_info: VolumeInfo, target: BackendLike,
                target_info: VolumeInfo, *, progress: ProgressFn | None = None,
                verify: bool = True, created: Callable[[Any], None] | None = None
                ) -> tuple[Any, CopyStats]:
    """Create ``target_info`` on ``target`` and copy ``source_info``'s data into it
    through this host (see the module docstring).

    Args:
        created: called with the target's model update right after its storage object
            was created (the caller records it).

    Returns:
        ``(the target's model update, statistics)``.

    Raises:
        AlreadyExists: the target has an object for this id (nothing created).
        NotSupported: a backend cannot attach locally (nothing created).
        BackendError: a driver, os-brick or the verification failed; the target object
            is left for the caller to delete.
    """
    for backend in (source, target):
        if Capability.LOCAL_ATTACH not in backend.capabilities:
            raise exc.NotSupported(
                f"a host-assisted migration attaches both volumes here, and backend "
                f"{backend.id} (driver {backend.driver_name}) cannot attach locally",
                operation="host-assisted migration", driver=backend.driver_name)
    started = time.monotonic()
    update = call_driver(target, "create_volume", target.driver.create_volume, target_info,
                         resource_id=target_info.id)
    if created is not None:
        created(update)
    if update:
        target_info = dataclasses.replace(
            target_info, **{k: v for k, v in update.items()
                            if k in ("provider_location", "provider_id", "provider_auth")})
    checkpoints.checkpoint("volume.migrate.target_created")
    stats = CopyStats()
    extents = _extents(source, source_info)
    stats.extents = len(extents)
    stats.data_bytes = total = sum(length for _, length in extents)
    with attached(source, source_info, "ro") as src, \
            attached(target, target_info, "rw") as dst:
        checkpoints.checkpoint("volume.migrate.attached")
        digest = hashlib.sha256()
        done = 0
        for offset, count in _chunks(extents):
            data = src.read(offset, count)
            if len(data) != count:
                raise exc.BackendError(backend_name=source.id, operation="migrate",
                                       reason=f"short read of volume {source_info.id} at "
                                              f"{offset}: {len(data)} of {count} bytes")
            stats.bytes_read += count
            digest.update(data)
            if data != _ZEROS[:count]:
                dst.write(offset, data)
                stats.bytes_written += count
            done += count
            if progress is not None:
                progress("copy", done, total)
        dst.flush()
        checkpoints.checkpoint("volume.migrate.copied")
        if verify:
            check = hashlib.sha256()
            done = 0
            for offset, count in _chunks(extents):
                check.update(dst.read(offset, count))
                stats.bytes_read += count
                done += count
                if progress is not None:
                    progress("verify", done, total)
            if check.digest() != digest.digest():
                raise exc.BackendError(
                    backend_name=target.id, operation="migrate",
                    reason=f"verification failed: the copy of volume {source_info.id} on "
                           f"{target.id} differs from the source on {source.id}")
            stats.verified = True
            checkpoints.checkpoint("volume.migrate.verified")
    checkpoints.checkpoint("volume.migrate.detached")
    stats.seconds = time.monotonic() - started
    LOG.info("migration copy of volume %s from %s to %s: %d extents, %d bytes read, %d "
             "written in %.2f s", source_info.id, source.id, target.id, stats.extents,
             stats.bytes_read, stats.bytes_written, stats.seconds)
    return update, stats
