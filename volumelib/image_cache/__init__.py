"""The image cache: create volumes from images fast.

* :mod:`.base`: the cache driver contract (Glance's image cache driver) and the file
  layout both drivers share; :mod:`.sqlite` and :mod:`.xattr` keep its index.
* :mod:`.fetch`: images from local paths and ``http(s)://`` URLs; the prefetcher.
* :mod:`.convert`: ``qemu-img`` info/check/convert.
* :mod:`.provision`: ``backend.create_volume(size, image=...)`` with tier 1 (this
  cache) and tier 2 (a cached image-volume per image and backend, cloned).

Drivers load by name with :func:`load_driver` (entry points
``volumelib.image_cache.drivers``: ``sqlite``, ``xattr``) or by class.
"""

from __future__ import annotations

from typing import Any

from volumelib import exceptions as exc
from volumelib import plugins
from volumelib.image_cache.base import CachedImage, ImageCacheDriver
from volumelib.image_cache.exceptions import (
    ChecksumMismatch,
    CorruptImage,
    ImageCacheFull,
    ImageError,
    ImageFetchError,
    ImageInUse,
    ImageNotCached,
    ImageNotFound,
    ImageTooLarge,
)
from volumelib.image_cache.fetch import Image

__all__ = [
    "NAMESPACE",
    "CachedImage",
    "ChecksumMismatch",
    "CorruptImage",
    "Image",
    "ImageCacheDriver",
    "ImageCacheFull",
    "ImageError",
    "ImageFetchError",
    "ImageInUse",
    "ImageNotCached",
    "ImageNotFound",
    "ImageTooLarge",
    "load_driver",
]

#: Entry-point namespace of image cache drivers.
NAMESPACE = "volumelib.image_cache.drivers"


def _not_found(reason: str | None, name: object, available: str) -> exc.DriverNotFound:
    return exc.DriverNotFound(reason, driver=name, available=available)


def load_driver(driver: str | type[ImageCacheDriver], base_dir: str,
                configure: bool = True, **options: Any) -> ImageCacheDriver:
    """Build (and configure) an image cache driver.

    Args:
        driver: ``sqlite``, ``xattr``, a dotted class path or an ``ImageCacheDriver``
            subclass.
        base_dir: the cache directory.
        **options: ``max_size``, ``max_count``, ``stall_time``, ``clock``...

    Raises:
        DriverNotFound: unknown name (the message lists the available ones).
        InvalidConfig: bad options, or the directory cannot be used.
    """
    if isinstance(driver, type) and not issubclass(driver, ImageCacheDriver):
        raise exc.DriverNotFound(driver=driver, available=", ".join(
            plugins.available(NAMESPACE)))
    cls = driver if isinstance(driver, type) else plugins.load_class(
        NAMESPACE, driver, base=ImageCacheDriver, error=_not_found)
    try:
        cache = cls(base_dir, **options)
    except TypeError as e:
        raise exc.InvalidConfig(reason=f"image cache driver {cls.name}: {e}") from e
    if configure:
        cache.configure()
    return cache
