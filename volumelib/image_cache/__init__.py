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
    "DRIVERS",
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
#: The drivers volumelib ships (used when the entry points are not installed).
DRIVERS = {"sqlite": "volumelib.image_cache.sqlite:SQLiteImageCache",
           "xattr": "volumelib.image_cache.xattr:XattrImageCache"}


def _driver_class(name: str) -> type[ImageCacheDriver]:
    import importlib

    from stevedore import driver as stevedore_driver
    from stevedore.exception import NoMatches

    available = ", ".join(sorted(DRIVERS))
    cls: Any
    try:
        cls = stevedore_driver.DriverManager(NAMESPACE, name, invoke_on_load=False).driver
    except (NoMatches, RuntimeError):  # not installed as an entry point: ours, or a path
        target = DRIVERS.get(name)
        if target is None and "." in name:
            module, _, attr = name.replace(":", ".").rpartition(".")
            target = f"{module}:{attr}"
        if target is None:
            raise exc.DriverNotFound(driver=name, available=available) from None
        module, _, attr = target.partition(":")
        try:
            cls = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError):
            raise exc.DriverNotFound(driver=name, available=available) from None
    if not (isinstance(cls, type) and issubclass(cls, ImageCacheDriver)):
        raise exc.DriverNotFound(driver=name, available=", ".join(sorted(DRIVERS)))
    return cls


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
    cls = driver if isinstance(driver, type) else _driver_class(driver)
    if not issubclass(cls, ImageCacheDriver):
        raise exc.DriverNotFound(driver=driver, available=", ".join(sorted(DRIVERS)))
    try:
        cache = cls(base_dir, **options)
    except TypeError as e:
        raise exc.InvalidConfig(reason=f"image cache driver {cls.name}: {e}") from e
    if configure:
        cache.configure()
    return cache
