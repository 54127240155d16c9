"""Volumes from images: ``backend.create_volume(size, image=...)`` and its two tiers.

* Tier 1 is a local :class:`~volumelib.image_cache.base.ImageCacheDriver` (the
  ``image_cache=`` argument): images downloaded once per host.
* Tier 2 is an *image-volume* per (image, backend), kept in the backend: the first
  volume from an image is converted into it, later ones are clones of it (reflink on
  the file driver: constant time whatever the image size). It is recorded in the
  backend's store as key-values, so ``db.image_volume_cache_get_by_volume_id``
  answers for it, and replaced when the image changes (its version or checksum).

Order of a create, so that a failure leaves nothing half-done:

1. Validate, probe the source (``stat``/HTTP ``HEAD``): a missing image, an HTTP
   error, a driver that cannot receive image data fail here. Nothing is stored.
2. Tier 2 hit: the size is checked against the recorded virtual size, then the clone
   (intent stored first, as every create).
3. Otherwise a local copy: the tier 1 entry (downloaded into it if missing or stale;
   its own ``incomplete/`` -> active protocol), or a temporary download. ``qemu-img``
   inspects it: a corrupt, truncated or too large image fails here. Nothing stored.
4. The volume record is stored ``creating``, the driver creates the volume and
   ``qemu-img convert`` writes the image into it: straight into the file for the file
   driver (``volume_path``), else through a local attach (root). Any failure removes
   the storage object and leaves the record ``error``; ``available`` is only stored
   once every byte is written. With tier 2, step 4 builds the image-volume (its own
   record), records the cache entry, then clones the user's volume from it.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import hashlib
import json
import logging
import math
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

from volumelib import brick, checkpoints, runtime
from volumelib import exceptions as exc
from volumelib.drivers.types import (
    Capability,
    ConnectionInfo,
    ConnectorProperties,
    VolumeInfo,
)
from volumelib.image_cache import convert, fetch
from volumelib.image_cache import exceptions as ic_exc
from volumelib.image_cache.base import ImageCacheDriver
from volumelib.image_cache.fetch import Image, ProgressFn, SourceInfo
from volumelib.image_cache.volume_cache import (
    ENTRY_PREFIX,
    IMAGE_VOLUME_MARK,
    VOLUME_PREFIX,
    entry_key,
    load_entry,
)
from volumelib.image_cache.writer import parse_checksum
from volumelib.objects.volume import GiB, Volume, VolumeRequest
from volumelib.protocols import BackendLike
from volumelib.records.key_value import KeyValue

__all__ = [
    "create_volume_from_image",
    "delete_image_volume_cache",
    "list_image_volume_cache",
]

LOG = logging.getLogger(__name__)


def _noop(phase: str, done: float, total: float | None) -> None:
    pass


def create_volume_from_image(backend: BackendLike, image: Any, *, size: Any,
                             image_cache: ImageCacheDriver | None = None,
                             image_volume_cache: bool | None = None,
                             progress: ProgressFn | None = None, timeout: float = 60.0,
                             **volume: Any) -> Volume:
    """Create a volume of ``size`` GiB holding ``image`` (see the module docstring).

    Args:
        image: a path, a URL, an :class:`~volumelib.image_cache.fetch.Image` or a dict.
        image_cache: tier 1 (``None``: download to a temporary file each time).
        image_volume_cache: tier 2: ``True``, ``False`` or ``None`` (on when the
            backend declares cheap clones: ``CLONE`` and ``REFLINK``/``COW_SNAPSHOT``).
        progress: ``progress(phase, done, total)``, see :data:`fetch.ProgressFn`.
        **volume: ``name``, ``description``, ``metadata``, ``volume_type``, ``id``,
            ``multiattach`` as for ``create_volume``.

    Raises:
        ImageNotFound, ImageFetchError, CorruptImage, ChecksumMismatch, ImageTooLarge,
        ImageCacheFull: nothing stored. NotSupported: the backend cannot receive image
        data here (no ``volume_path`` and no local attach as root); nothing stored.
        BackendError: the driver failed; the volume is stored ``error`` and its storage
        object removed.
    """
    request = Volume._prepare(backend, size=size, **_volume_args(volume))
    size = request.size
    image = Image.of(image)
    if image_cache is not None and not isinstance(image_cache, ImageCacheDriver):
        raise exc.InvalidArgument(reason=f"image_cache must be an ImageCacheDriver, not "
                                         f"{type(image_cache).__name__}")
    progress = progress or _noop
    tier2 = _tier2_enabled(backend, image_volume_cache)
    _check_writable(backend)
    info = fetch.probe(image, timeout=timeout)
    LOG.debug("%s: volume of %s GiB from image %s (%s), tier2=%s", backend.id, size,
              image.id, image.source, tier2)
    if tier2:
        with _tier2_lock(backend, image, image_cache, exclusive=False):
            found = _valid_entry(backend, image, info)
            if found is not None:
                _check_fits(image, found[0]["virtual_size"], size)
                return _clone(backend, found, request, progress)
    with _local_image(image, info, image_cache, progress, timeout) as (path, img, checksum):
        _check_fits(image, img.virtual_size, size)
        if not tier2:
            return _create_and_write(backend, path, img, image, request, progress)
        with _tier2_lock(backend, image, image_cache, exclusive=True):
            found = _valid_entry(backend, image, info)
            if found is None:
                _drop_entry(backend, image.id)
                found = _build_image_volume(backend, image, info, path, img, checksum,
                                            progress)
            return _clone(backend, found, request, progress)


# -- checks ------------------------------------------------------------------------

def _check_fits(image: Image, virtual_size: int, size: int) -> None:
    if virtual_size > size * GiB:
        raise ic_exc.ImageTooLarge(image=image.source, virtual_size=virtual_size, size=size,
                                   volume_bytes=size * GiB,
                                   min_size=math.ceil(virtual_size / GiB))


def _check_writable(backend: BackendLike) -> None:
    """Raise ``NotSupported`` unless image data can be written into this backend's
    volumes from here: a driver with ``volume_path``, or a local attach as root."""
    if callable(getattr(backend.driver, "volume_path", None)):
        return
    if Capability.LOCAL_ATTACH in backend.capabilities and os.geteuid() == 0:
        return
    raise exc.NotSupported(
        f"creating a volume from an image on backend {backend.id} needs a driver that "
        f"exposes volume files (volume_path) or a local attach as root; driver "
        f"{backend.driver_name} has neither here",
        operation="create_volume from an image", driver=backend.driver_name)


def _tier2_enabled(backend: BackendLike, flag: bool | None) -> bool:
    caps = backend.capabilities
    if flag is None:
        return Capability.CLONE in caps and bool(
            {Capability.REFLINK, Capability.COW_SNAPSHOT} & caps)
    if flag and Capability.CLONE not in caps:
        raise exc.NotSupported(operation="image_volume_cache (clones)",
                               driver=backend.driver_name)
    return bool(flag)


def _checksum_ok(declared: str | None, recorded: str | None, recorded_declared: str | None
                 ) -> bool:
    """Whether an entry (recording sha256 ``recorded`` and maybe the checksum it was
    verified against) has the bytes ``declared`` asks for."""
    if declared is None:
        return True
    want = parse_checksum(declared)
    for have in (recorded, recorded_declared):
        if have and parse_checksum(have) == want:
            return True
    return False


# -- tier 1 -----------------------------------------------------------------------------

@contextlib.contextmanager
def _local_image(image: Image, info: SourceInfo, cache: ImageCacheDriver | None,
                 progress: ProgressFn, timeout: float
                 ) -> Iterator[tuple[str, convert.ImageInfo, str | None]]:
    """Yield ``(path, qemu-img info, sha256 checksum or None)`` of a local, complete,
    inspected copy of the image, kept stable (pinned) until the block ends."""
    if cache is not None:
        with _from_cache(image, info, cache, progress, timeout) as found:
            if found is not None:
                f, checksum = found
                yield f.name, convert.inspect(f.name, name=image.source), checksum
                return
    path = image.local_path
    if path is not None:
        if image.checksum:
            _verify_file(image, path)
        yield path, convert.inspect(path, name=image.source), None
        return
    tmpdir = tempfile.mkdtemp(prefix="volumelib-image-")
    try:
        target = os.path.join(tmpdir, "image")
        fetch.download_to(image, target, progress=progress, timeout=timeout)
        yield target, convert.inspect(target, name=image.source), None
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


@contextlib.contextmanager
def _from_cache(image: Image, info: SourceInfo, cache: ImageCacheDriver,
                progress: ProgressFn, timeout: float) -> Iterator[Any]:
    """Yield ``(open file, checksum)`` of a fresh tier 1 entry, downloading it if
    needed, or ``None`` when the cache cannot serve (in use, or too small)."""
    version = info.version or ""
    record = cache.get_cached_image(image.id)
    if record is not None and (record.meta.get("version", "") != version or not _checksum_ok(
            image.checksum, record.checksum, record.meta.get("declared_checksum"))):
        LOG.info("image cache: %s changed at its source; replacing the cached copy",
                 image.id)
        try:
            cache.delete_cached_image(image.id)
        except ic_exc.ImageInUse:
            yield None  # a reader still uses the old bytes: download aside this time
            return
        record = None
    if record is None:
        try:
            fetch.fetch_into_cache(cache, image, info=info, progress=progress,
                                   timeout=timeout)
        except exc.AlreadyExists:
            pass  # another process cached it meanwhile: use theirs
        except ic_exc.ImageInUse:
            LOG.info("image cache: %s is being cached by another writer; downloading "
                     "aside", image.id)
            yield None
            return
        except ic_exc.ImageCacheFull as e:
            if e.no_space:
                raise
            LOG.info("image cache: %s; downloading aside", e)
            yield None
            return
    with contextlib.ExitStack() as stack:
        try:
            f = stack.enter_context(cache.open_for_read(image.id))
        except ic_exc.ImageNotCached:  # evicted before we could pin it
            f = None
        if f is None:
            yield None
            return
        record = cache.get_cached_image(image.id)
        yield f, record.checksum if record else None


def _verify_file(image: Image, path: str) -> None:
    algorithm, digest = parse_checksum(image.checksum or "")
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(8 * 1024 * 1024), b""):
            h.update(chunk)
    if h.hexdigest() != digest:
        raise ic_exc.ChecksumMismatch(image=image.source, expected=f"{algorithm}:{digest}",
                                      actual=f"{algorithm}:{h.hexdigest()}")


# -- writing a volume ---------------------------------------------------------------------

def _create_and_write(backend: BackendLike, src: str, img: convert.ImageInfo, image: Image,
                      request: VolumeRequest, progress: ProgressFn) -> Volume:
    """Store the intent, create the volume, write the image into it."""

    def call(driver: Any, info: VolumeInfo) -> Any:
        update = driver.create_volume(info)
        try:
            checkpoints.checkpoint("image.create.volume_created")  # empty, not yet written
            if update:
                info = VolumeInfo.from_dict({**info.to_dict(), **{
                    k: v for k, v in dict(update).items()
                    if k in ("provider_location", "provider_id")}})
            _write_image(backend, driver, info, src, img, image, progress)
            checkpoints.checkpoint("image.create.written")
        except BaseException:
            _remove_storage(backend, driver, info)
            raise
        return update

    return Volume._create(backend, request, driver_method="create_volume_from_image",
                          call=call)


def _volume_args(volume: Mapping[str, Any]) -> dict[str, Any]:
    known = ("name", "description", "metadata", "volume_type", "id", "multiattach")
    unknown = set(volume) - set(known)
    if unknown:
        raise exc.InvalidArgument(reason=f"unknown argument(s) {', '.join(sorted(unknown))}")
    return {k: volume.get(k) for k in known}


def _write_image(backend: BackendLike, driver: Any, info: VolumeInfo, src: str,
                 img: convert.ImageInfo, image: Image, progress: ProgressFn) -> None:
    def pct(value: float) -> None:
        progress("convert", value, 100)

    volume_path = getattr(driver, "volume_path", None)
    if callable(volume_path):
        convert.convert(src, img.format, volume_path(info.id), target_is_zero=True,
                        progress=pct, name=image.source)
        return
    props = ConnectorProperties.from_dict({**brick.get_connector_properties(),
                                           "host": runtime.settings().host})
    driver.create_export(info, props)
    try:
        ci = driver.initialize_connection(info, props)
        connection = ci.to_dict() if isinstance(ci, ConnectionInfo) else dict(ci)
        device = brick.connect_volume(connection)
        try:
            convert.convert(src, img.format, device["path"], target_is_zero=False,
                            progress=pct, name=image.source)
        finally:
            brick.disconnect_volume(connection, device)
    finally:
        driver.terminate_connection(info, props)
        driver.remove_export(info)


def _remove_storage(backend: BackendLike, driver: Any, info: VolumeInfo) -> None:
    try:
        driver.delete_volume(info)
    except Exception:
        LOG.exception("%s: could not remove the storage of failed volume %s", backend.id,
                      info.id)


# -- tier 2 -------------------------------------------------------------------------------

@contextlib.contextmanager
def _tier2_lock(backend: BackendLike, image: Image, cache: ImageCacheDriver | None, *,
                exclusive: bool) -> Iterator[None]:
    """Shared while cloning from an image-volume, exclusive while replacing it; an
    flock, so other processes on this host take turns too."""
    directory = (os.path.join(cache.base_dir, ".locks") if cache is not None else
                 runtime.settings().file_locks_path
                 or os.path.join(tempfile.gettempdir(), "volumelib-locks"))
    os.makedirs(directory, 0o700, exist_ok=True)
    path = os.path.join(directory, entry_key(backend.id, image.id) + ".lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


def _valid_entry(backend: BackendLike, image: Image, info: SourceInfo
                 ) -> tuple[dict[str, Any], Volume] | None:
    """The entry and its available image-volume, if they are for this version."""
    entry = load_entry(backend.persistence, entry_key(backend.id, image.id))
    if entry is None:
        return None
    if entry.get("image_updated_at", "") != (info.version or "") or not _checksum_ok(
            image.checksum, entry.get("image_checksum"), entry.get("declared_checksum")):
        LOG.info("%s: image %s changed; its image-volume is stale", backend.id, image.id)
        return None
    vols = backend.persistence.get_volumes(volume_id=entry["volume_id"],
                                           backend_name=backend.id)
    if not vols or vols[0].status != "available":
        return None
    vols[0]._bind(backend)
    return entry, vols[0]


def _now() -> str:
    utc = datetime.timezone.utc  # noqa: UP017 - datetime.UTC is 3.11+
    return datetime.datetime.now(utc).isoformat()


def _build_image_volume(backend: BackendLike, image: Image, info: SourceInfo, src: str,
                        img: convert.ImageInfo, checksum: str | None,
                        progress: ProgressFn) -> tuple[dict[str, Any], Volume]:
    vol_id = str(uuid.uuid4())
    request = Volume._prepare(
        backend, size=max(1, math.ceil(img.virtual_size / GiB)), id=vol_id,
        name=f"image-{image.id}",
        description=f"image-volume cache of {image.source}"[:1024],
        metadata={IMAGE_VOLUME_MARK: "true", "image_id": image.id,
                  "image_source": image.source[:1024]})
    try:
        vol = _create_and_write(backend, src, img, image, request, progress)
    except BaseException:
        # Its storage is gone already; an error record of an internal cache object
        # would only be clutter the user never asked for.
        for failed in backend.persistence.get_volumes(volume_id=vol_id):
            failed._bind(backend)
            with contextlib.suppress(exc.VolumelibError):
                failed.delete()
        raise
    key = entry_key(backend.id, image.id)
    entry = {"id": key, "host": backend.id, "backend_name": backend.id,
             "image_id": image.id, "image_source": image.source,
             "image_updated_at": info.version or "", "image_checksum": checksum,
             "declared_checksum": image.checksum, "volume_id": vol.id, "size": vol.size,
             "virtual_size": img.virtual_size, "format": img.format,
             "created_at": _now(), "last_used": _now()}
    store = backend.persistence
    store.set_key_value(KeyValue(key, json.dumps(entry, sort_keys=True)))
    store.set_key_value(KeyValue(VOLUME_PREFIX + vol.id, key))
    LOG.debug("%s: image-volume %s caches image %s", backend.id, vol.id, image.id)
    return entry, vol


def _clone(backend: BackendLike, found: tuple[dict[str, Any], Volume],
           request: VolumeRequest, progress: ProgressFn) -> Volume:
    entry, image_vol = found
    src = image_vol.info()
    progress("clone", 0, 1)

    def call(driver: Any, info: VolumeInfo) -> Any:
        try:
            return driver.create_cloned_volume(info, src)
        except exc.AlreadyExists:
            raise
        except BaseException:
            _remove_storage(backend, driver, info)
            raise

    vol = Volume._create(backend, request, driver_method="create_cloned_volume", call=call)
    entry["last_used"] = _now()
    backend.persistence.set_key_value(KeyValue(entry["id"], json.dumps(entry, sort_keys=True)))
    progress("clone", 1, 1)
    return vol


def _drop_entry(backend: BackendLike, image_id: str) -> bool:
    """Forget the entry of ``image_id`` and delete its image-volume (kept, unmarked, if
    it cannot be deleted: attached, with snapshots...). Whether there was one."""
    store = backend.persistence
    key = entry_key(backend.id, image_id)
    entry = load_entry(store, key)
    if entry is None:
        store.delete_key_value(key)
        return False
    for vol in store.get_volumes(volume_id=entry["volume_id"], backend_name=backend.id):
        vol._bind(backend)
        try:
            vol.delete()
        except exc.VolumelibError as e:
            LOG.warning("%s: keeping stale image-volume %s: %s", backend.id, vol.id, e)
    store.delete_key_value(VOLUME_PREFIX + entry["volume_id"])
    store.delete_key_value(key)
    return True


def list_image_volume_cache(backend: BackendLike) -> list[dict[str, Any]]:
    """The tier 2 entries of ``backend``, by image id."""
    entries = [load_entry(backend.persistence, kv.key)
               for kv in backend.persistence.get_key_values()
               if kv.key.startswith(ENTRY_PREFIX)]
    return sorted((e for e in entries if e and e.get("backend_name") == backend.id),
                  key=lambda e: e["image_id"])


def delete_image_volume_cache(backend: BackendLike, image_id: str | None = None) -> int:
    """Delete the image-volume of ``image_id`` (``None``: all) of ``backend``, and any
    marked image-volume no entry refers to (left by a crash between building one and
    recording it). Returns how many image-volumes went."""
    ids = [image_id] if image_id is not None else [
        e["image_id"] for e in list_image_volume_cache(backend)]
    removed = sum(_drop_entry(backend, i) for i in ids)
    referenced = {e["volume_id"] for e in list_image_volume_cache(backend)}
    for vol in backend.volumes:
        if (vol.metadata.get(IMAGE_VOLUME_MARK) == "true" and vol.id not in referenced
                and vol.status in ("available", "error")
                and image_id in (None, vol.metadata.get("image_id"))):
            try:
                vol.delete()
                removed += 1
            except exc.VolumelibError as e:
                LOG.warning("%s: cannot delete unrecorded image-volume %s: %s",
                            backend.id, vol.id, e)
    return removed
