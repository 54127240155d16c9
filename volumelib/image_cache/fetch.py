"""Where images come from: a local file or an ``http(s)://`` URL (urllib).

* :class:`Image` names an image: its ``source``, an ``id`` (default: a UUID derived
  from the source, so the same URL or path is the same cache entry) and optionally
  the ``checksum`` its bytes must have.
* :func:`probe` asks the source, without downloading, for its size and a *version*
  (``ETag``, else ``Last-Modified`` plus length; for a file its size, mtime and inode)
  which tells when a cached copy is stale.
* :func:`fetch_into_cache` downloads into an image cache (``open_for_write``: nothing
  half-written is ever served); :func:`download_to` into a plain file;
  :func:`prefetch` caches everything queued.

Failures become :mod:`volumelib.image_cache.exceptions`: ``ImageNotFound`` (no file,
HTTP 404/410), ``ImageFetchError`` (other HTTP errors, connection failures, a body
shorter than its ``Content-Length``), ``ImageCacheFull`` (disk or limits).
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import os
import stat
import urllib.parse
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from volumelib import exceptions as exc
from volumelib.image_cache import exceptions as ic_exc
from volumelib.image_cache.base import CachedImage, ImageCacheDriver, check_image_id
from volumelib.image_cache.writer import ImageWriter, parse_checksum

__all__ = [
    "CHUNK",
    "Image",
    "ProgressFn",
    "SourceInfo",
    "download_to",
    "fetch_into_cache",
    "prefetch",
    "probe",
    "stream",
]

LOG = logging.getLogger(__name__)

#: ``progress(phase, done, total)``: phase ``download`` (bytes; total ``None`` when
#: unknown), ``convert`` (percent, total 100) or ``clone`` (0 or 1 of 1).
ProgressFn = Callable[[str, float, "float | None"], None]
#: Bytes read per call.
CHUNK = 1024 * 1024
_HTTP = ("http", "https")


@dataclasses.dataclass(frozen=True)
class Image:
    """An image to provision from.

    Args:
        source: a local path, a ``file://`` URL or an ``http(s)://`` URL.
        id: the cache key (default: ``uuid5(NAMESPACE_URL, <canonical source>)``).
        checksum: ``"sha256:<hex>"`` (or ``md5:``... or a bare hex digest) the bytes
            must have; checked when downloading, and a cached copy with other bytes
            is not used.
    """

    source: str
    id: str = ""
    checksum: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.source, str) or not self.source or "\0" in self.source:
            raise exc.InvalidArgument(reason=f"image source must be a path or URL: "
                                             f"{self.source!r:.80}")
        scheme = urllib.parse.urlsplit(self.source).scheme.lower()
        if scheme and scheme not in (*_HTTP, "file") and len(scheme) > 1:
            raise exc.InvalidArgument(reason=f"image source {self.source!r:.80}: only "
                                             f"local paths, file:// and http(s):// URLs")
        if self.checksum is not None:
            parse_checksum(self.checksum)
        if not self.id:
            object.__setattr__(self, "id", str(uuid.uuid5(uuid.NAMESPACE_URL,
                                                          self.canonical)))
        check_image_id(self.id)

    @classmethod
    def of(cls, value: Image | str | Mapping[str, Any]) -> Image:
        """An ``Image`` from an ``Image``, a source string or a dict of its fields."""
        if isinstance(value, Image):
            return value
        if isinstance(value, str):
            return cls(value)
        if isinstance(value, Mapping):
            return cls(**value)
        raise exc.InvalidArgument(reason=f"image must be a path, a URL, an Image or a "
                                         f"dict, not {type(value).__name__}")

    @property
    def is_http(self) -> bool:
        return urllib.parse.urlsplit(self.source).scheme.lower() in _HTTP

    @property
    def local_path(self) -> str | None:
        """The absolute path of a local source, ``None`` for a URL."""
        if self.is_http:
            return None
        if self.source.lower().startswith("file://"):
            return os.path.abspath(urllib.parse.unquote(urllib.parse.urlsplit(
                self.source).path))
        return os.path.abspath(self.source)

    @property
    def canonical(self) -> str:
        path = self.local_path
        return self.source if path is None else "file://" + urllib.parse.quote(path)


@dataclasses.dataclass(frozen=True)
class SourceInfo:
    """What a source says about an image without sending it."""

    size: int | None
    version: str | None


def _http_error(image: Image, e: Exception) -> ic_exc.ImageError:
    # urllib.error is in sys.modules already: only an HTTP call raises what it checks.
    import urllib.error
    if isinstance(e, urllib.error.HTTPError):
        reason = f"HTTP {e.code} {e.reason}"
        if e.code in (404, 410):
            return ic_exc.ImageNotFound(image=image.source, reason=reason)
        return ic_exc.ImageFetchError(image=image.source, reason=reason)
    if isinstance(e, urllib.error.URLError):
        return ic_exc.ImageFetchError(image=image.source, reason=str(e.reason))
    if isinstance(e, TimeoutError):  # socket.timeout is TimeoutError
        return ic_exc.ImageFetchError(image=image.source, reason="timed out")
    return ic_exc.ImageFetchError(image=image.source, reason=f"{type(e).__name__}: {e}")


def _version(headers: Any) -> str | None:
    etag = headers.get("ETag")
    if etag:
        return f"etag={etag}"
    modified = headers.get("Last-Modified")
    if modified:
        return f"last-modified={modified};length={headers.get('Content-Length')}"
    return None


def _length(headers: Any) -> int | None:
    value = headers.get("Content-Length")
    try:
        return int(value) if value is not None and int(value) >= 0 else None
    except ValueError:
        return None


def probe(image: Image, *, timeout: float = 30.0) -> SourceInfo:
    """Size and version of ``image``'s source (``stat``, or an HTTP ``HEAD``).

    Raises:
        ImageNotFound: no such file, HTTP 404/410.
        ImageFetchError: another HTTP error, or the server cannot be reached.
        CorruptImage: the path is not a regular file.
    """
    path = image.local_path
    if path is not None:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise ic_exc.ImageNotFound(image=image.source, reason="no such file") from None
        except OSError as e:
            raise ic_exc.ImageFetchError(image=image.source, reason=e.strerror) from e
        if not stat.S_ISREG(st.st_mode):
            raise ic_exc.CorruptImage(image=image.source, reason="not a regular file")
        return SourceInfo(size=st.st_size,
                          version=f"file:{st.st_dev}:{st.st_ino}:{st.st_size}:"
                                  f"{st.st_mtime_ns}")
    # The HTTP stack (http.client, ssl, email) loads with the first URL image, not with
    # the library.
    import http.client
    import urllib.request
    request = urllib.request.Request(image.source, method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return SourceInfo(size=_length(response.headers),
                              version=_version(response.headers))
    except urllib.error.HTTPError as e:
        if e.code in (405, 501):  # HEAD not allowed: nothing known upfront
            return SourceInfo(size=None, version=None)
        raise _http_error(image, e) from e
    except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
        raise _http_error(image, e) from e


def stream(image: Image, sink: Callable[[bytes], Any], *,
           progress: ProgressFn | None = None, timeout: float = 60.0) -> SourceInfo:
    """Send the image's bytes to ``sink``, chunk by chunk.

    Returns:
        The size received and the version of what was received (from the ``GET``).

    Raises:
        ImageNotFound, ImageFetchError: as :func:`probe`; also a body shorter than its
            ``Content-Length`` or a broken chunked encoding (truncation).
        Whatever ``sink`` raises (``OSError`` ENOSPC, ``ImageCacheFull``...).
    """
    path = image.local_path
    if path is not None:
        info = probe(image)
        with open(path, "rb") as f:
            return SourceInfo(size=_pump(f.read, sink, info.size, progress),
                              version=info.version)
    # The HTTP stack loads with the first URL image (see probe).
    import http.client
    import urllib.request
    try:
        response = urllib.request.urlopen(image.source, timeout=timeout)
    except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
        raise _http_error(image, e) from e
    with response:
        total = _length(response.headers)
        try:
            received = _pump(response.read, sink, total, progress)
        except (TimeoutError, http.client.HTTPException, ConnectionError) as e:
            raise ic_exc.ImageFetchError(
                image=image.source,
                reason=f"the download broke off: {type(e).__name__}: {e}") from e
        if total is not None and received != total:
            raise ic_exc.ImageFetchError(
                image=image.source, reason=f"truncated: received {received} of {total} "
                                           f"bytes")
        return SourceInfo(size=received, version=_version(response.headers))


def _pump(read: Callable[[int], bytes], sink: Callable[[bytes], Any], total: int | None,
          progress: ProgressFn | None) -> int:
    done = 0
    if progress:
        progress("download", 0, total)
    while True:
        chunk = read(CHUNK)
        if not chunk:
            return done
        sink(chunk)
        done += len(chunk)
        if progress:
            progress("download", done, total)


def fetch_into_cache(cache: ImageCacheDriver, image: Image, *,
                     info: SourceInfo | None = None, progress: ProgressFn | None = None,
                     timeout: float = 60.0) -> CachedImage:
    """Download ``image`` into ``cache`` and return its record.

    The entry records ``source`` and ``version`` in its meta; the expected size (from
    ``info`` or a probe) is reserved before the first byte, so the cache's limits
    apply at once.

    Raises:
        ImageNotFound, ImageFetchError: see :func:`stream`. ChecksumMismatch: the
        bytes differ from ``image.checksum``. ImageCacheFull: no room (limits or
        disk). AlreadyExists / ImageInUse: cached already, or another writer has it.
    """
    info = info or probe(image, timeout=timeout)
    meta = {"source": image.source, "version": info.version or ""}
    if image.checksum:
        meta["declared_checksum"] = image.checksum
    with cache.open_for_write(image.id, size=info.size, checksum=image.checksum,
                              meta=meta) as writer:
        got = stream(image, writer.write, progress=progress, timeout=timeout)
        meta["version"] = got.version or info.version or ""
    record = cache.get_cached_image(image.id)
    if record is None:  # removed between commit and now: a concurrent delete
        raise ic_exc.ImageNotCached(image=image.id)
    return record


def download_to(image: Image, path: str, *, progress: ProgressFn | None = None,
                timeout: float = 60.0) -> SourceInfo:
    """Download ``image`` into a new file ``path`` (zero blocks left as holes),
    checking ``image.checksum``. The file is removed on failure.

    Raises:
        as :func:`stream`; ImageFetchError when the disk is full.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        expected = parse_checksum(image.checksum) if image.checksum else None
        writer = ImageWriter(fd, expected, reserve=lambda n: None)
        got = stream(image, writer.write, progress=progress, timeout=timeout)
        writer.finish(image.id)
        return got
    except BaseException as e:
        os.unlink(path)
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise ic_exc.ImageFetchError(
                image=image.source,
                reason=f"no space left on the device of {os.path.dirname(path)}") from e
        raise
    finally:
        os.close(fd)


def prefetch(cache: ImageCacheDriver, *, progress: ProgressFn | None = None,
             timeout: float = 60.0) -> dict[str, Any]:
    """Cache every queued image, oldest first; a cached one leaves the queue, a
    failed one stays queued. Returns ``{"cached": [ids], "failed": {id: reason}}``."""
    cached: list[str] = []
    failed: dict[str, str] = {}
    for image_id in cache.get_queued_images():
        try:
            data = cache.get_queued_image(image_id)
        except exc.NotFound:
            continue  # unqueued meanwhile
        if cache.is_cached(image_id):
            cache.delete_queued_image(image_id)
            cached.append(image_id)
            continue
        if not data.get("source"):
            failed[image_id] = "queued without a source to fetch it from"
            continue
        try:
            image = Image(data["source"], id=image_id, checksum=data.get("checksum"))
            fetch_into_cache(cache, image, progress=progress, timeout=timeout)
        except exc.VolumelibError as e:
            LOG.warning("prefetch of %s failed: %s", image_id, e)
            failed[image_id] = str(e)
            continue
        cache.delete_queued_image(image_id)
        cached.append(image_id)
    return {"cached": cached, "failed": failed}
