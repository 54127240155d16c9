"""What the image cache and image provisioning raise.

Every class derives from :class:`ImageError` (catch that for "anything went wrong
with this image") *and* from the family of :mod:`volumelib.exceptions` that says
what kind of failure it is, so existing handlers keep working::

    VolumelibError
     ├── ImageError                    anything about an image (new family root)
     │    ├── ImageNotFound            + NotFound: no such file, HTTP 404/410
     │    ├── ImageFetchError          download failed: HTTP error, connection,
     │    │                            truncated body (transient: retry may work)
     │    ├── CorruptImage             + InvalidArgument: qemu-img cannot read it,
     │    │                            it is truncated, or its format is refused
     │    ├── ChecksumMismatch         + InvalidArgument: bytes differ from the
     │    │                            expected or recorded checksum
     │    ├── ImageTooLarge            + InvalidSize: virtual size > the volume
     │    ├── ImageCacheFull           the cache's limits or its disk cannot hold it
     │    ├── ImageInUse               + InvalidState: being read or written
     │    └── ImageNotCached           + NotFound: no such cache entry
     └── ...

They carry their keyword arguments as attributes (``exc.image_id``,
``exc.virtual_size``...), like every volumelib exception.
"""

from __future__ import annotations

from volumelib import exceptions as exc

__all__ = [
    "ChecksumMismatch",
    "CorruptImage",
    "ImageCacheFull",
    "ImageError",
    "ImageFetchError",
    "ImageInUse",
    "ImageNotCached",
    "ImageNotFound",
    "ImageTooLarge",
]


class ImageError(exc.VolumelibError):
    msg_fmt = "Image %(image)s: %(reason)s"
    image: str
    reason: str


class ImageNotFound(ImageError, exc.NotFound):
    msg_fmt = "Image %(image)s not found: %(reason)s"


class ImageFetchError(ImageError):
    msg_fmt = "Could not download image %(image)s: %(reason)s"


class CorruptImage(ImageError, exc.InvalidArgument):
    msg_fmt = "Image %(image)s is unusable: %(reason)s"


class ChecksumMismatch(ImageError, exc.InvalidArgument):
    msg_fmt = "Image %(image)s has checksum %(actual)s, expected %(expected)s"
    expected: str
    actual: str


class ImageTooLarge(ImageError, exc.InvalidSize):
    msg_fmt = ("Image %(image)s needs %(virtual_size)s bytes but the volume has "
               "%(size)s GiB (%(volume_bytes)s bytes); ask for a volume of at least "
               "%(min_size)s GiB")
    virtual_size: int
    size: int
    min_size: int


class ImageCacheFull(ImageError):
    """``no_space`` is true when the disk itself is full (``ENOSPC``), false when the
    cache's ``max_size``/``max_count`` cannot make room (every entry is in use)."""

    msg_fmt = "The image cache cannot hold image %(image)s: %(reason)s"
    no_space: bool


class ImageInUse(ImageError, exc.InvalidState):
    msg_fmt = "Image %(image)s is in use in the cache: %(reason)s"


class ImageNotCached(ImageError, exc.NotFound):
    msg_fmt = "Image %(image)s is not in the cache"
