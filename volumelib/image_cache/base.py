"""The image cache driver contract, after Glance's image cache driver.

:class:`ImageCacheDriver` has every method of Glance's driver (``configure``,
``set_paths``, ``get_cache_size``, ``get_cached_images``, ``is_cached``,
``is_cacheable``, ``is_queued``, ``delete_all_cached_images``, ``delete_cached_image``,
``delete_all_queued_images``, ``delete_queued_image``, ``queue_image``,
``clean(stall_time)``, ``get_least_recently_accessed``, ``open_for_write``,
``open_for_read``, ``get_image_filepath``, ``get_image_size``, ``get_queued_images``)
plus ``prune()``. They are written once here over one file layout; a driver only
keeps the *index* (hits, times, checksum) through the ``_index_*`` hooks: in SQLite
(:mod:`.sqlite`) or in extended attributes (:mod:`.xattr`).

Layout under ``base_dir`` (directories 0o700, files 0o600)::

    <base_dir>/<image_id>              active: complete, checksummed, served
    <base_dir>/incomplete/<image_id>   being written; its writer holds an flock on it
    <base_dir>/invalid/<image_id>      a failed write: never served, clean() removes it
    <base_dir>/queue/<image_id>        queued for the prefetcher (JSON: source, checksum)
    <base_dir>/.lock                   serializes changes (room making, commit, delete)

Rules:

* A write goes to ``incomplete/`` and becomes active by an atomic ``rename`` once its
  bytes are fsynced and its checksum verified; any failure moves it to ``invalid/``
  (or removes it when the disk is full). Nothing half-written is ever served.
* Limits (``max_size`` bytes, ``max_count`` entries) are enforced *at insert time*:
  a writer reserves room as its file grows, evicting ``invalid/`` files, then the
  least recently accessed active entries. Files in every state count.
* An entry being read (``open_for_read``) holds a shared flock: eviction and
  ``delete_cached_image`` never remove it under the reader (across processes too).
* Time (``last_accessed``, ``clean``'s staleness) comes from ``clock``, which tests
  replace; timestamps are seconds since the epoch (floats, as Glance's drivers return).
"""

from __future__ import annotations

import abc
import contextlib
import errno
import fcntl
import logging
import os
import secrets
import stat
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, BinaryIO, ClassVar

from volumelib import exceptions as exc
from volumelib.image_cache import _files, queue
from volumelib.image_cache import exceptions as ic_exc
from volumelib.image_cache._files import GONE
from volumelib.image_cache.records import STATES, CachedImage, check_image_id
from volumelib.image_cache.writer import RESERVE_STEP, ImageWriter, parse_checksum

__all__ = ["GONE", "STATES", "CachedImage", "ImageCacheDriver", "check_image_id"]

LOG = logging.getLogger(__name__)

_DIR_MODE = 0o700


class ImageCacheDriver(abc.ABC):
    """An image cache in a directory. See the module docstring for the rules.

    Args:
        base_dir: the cache directory (created 0o700 by :meth:`configure`).
        max_size: most bytes the cache holds, all states counted (``None``: no limit).
        max_count: most files it holds, all states counted (``None``: no limit).
        stall_time: seconds after which :meth:`clean` treats a write that has not
            progressed as stalled (default one day, as Glance).
        clock: seconds since the epoch (``time.time``); tests pass a fake one.

    Call :meth:`configure` before anything else.
    """

    #: Entry-point name in ``volumelib.image_cache.drivers``.
    name: ClassVar[str] = "abstract"

    def __init__(self, base_dir: str, *, max_size: int | None = None,
                 max_count: int | None = None, stall_time: float = 86400.0,
                 clock: Callable[[], float] = time.time) -> None:
        if not isinstance(base_dir, str) or not base_dir or "\0" in base_dir:
            raise exc.InvalidConfig(reason=f"image cache base_dir must be a path: "
                                           f"{base_dir!r:.80}")
        for label, value in (("max_size", max_size), ("max_count", max_count)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < 1):
                raise exc.InvalidConfig(reason=f"image cache {label} must be a positive "
                                               f"integer or None, not {value!r:.40}")
        if isinstance(stall_time, bool) or not isinstance(stall_time, (int, float)) \
                or stall_time < 0:
            raise exc.InvalidConfig(reason=f"stall_time must be seconds >= 0: {stall_time!r}")
        self.base_dir = os.path.abspath(base_dir)
        self.max_size = max_size
        self.max_count = max_count
        self.stall_time = float(stall_time)
        self.clock = clock
        self.incomplete_dir = os.path.join(self.base_dir, "incomplete")
        self.invalid_dir = os.path.join(self.base_dir, "invalid")
        self.queue_dir = os.path.join(self.base_dir, "queue")

    @property
    def options(self) -> dict[str, Any]:
        """The keyword arguments this driver was built with (but ``base_dir``)."""
        return {"max_size": self.max_size, "max_count": self.max_count,
                "stall_time": self.stall_time, "clock": self.clock}

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} {self.base_dir} max_size={self.max_size} "
                f"max_count={self.max_count}>")

    # -- the index: what a driver implements -------------------------------------

    @abc.abstractmethod
    def _index_setup(self) -> None:
        """Prepare the index (create tables, probe xattrs). Raise ``InvalidConfig``."""

    @abc.abstractmethod
    def _index_commit(self, fd: int, incomplete: str, active: str,
                      record: CachedImage) -> None:
        """Make ``incomplete`` (open as ``fd``) the active entry ``active`` with its
        record, atomically for readers: after this, ``is_cached`` is true."""

    @abc.abstractmethod
    def _index_get(self, image_id: str) -> CachedImage | None:
        """The record of an active entry, ``None`` if there is none."""

    @abc.abstractmethod
    def _index_all(self) -> list[CachedImage]:
        """Every record (the files may be gone: callers check)."""

    @abc.abstractmethod
    def _index_hit(self, image_id: str, fd: int, now: float) -> None:
        """Count one more read and set ``last_accessed``; ``fd`` is the open entry."""

    @abc.abstractmethod
    def _index_forget(self, image_id: str) -> None:
        """Drop the record of an entry whose file was just removed. Missing: no-op."""

    def _index_clean(self) -> int:
        """Remove index records without files and files without records; how many."""
        return 0

    # -- configuration ---------------------------------------------------------------

    def configure(self) -> None:
        """Create the directories and set up the index.

        Raises:
            InvalidConfig: the directory cannot be used (not writable, a symlink, no
                extended attributes for the xattr driver...).
        """
        self.set_paths()
        self._index_setup()
        LOG.debug("image cache %r configured", self)

    def set_paths(self) -> None:
        """Create ``base_dir`` and its ``incomplete``, ``invalid`` and ``queue``
        directories (0o700). Raises ``InvalidConfig``."""
        for path in (self.base_dir, self.incomplete_dir, self.invalid_dir, self.queue_dir):
            try:
                os.makedirs(path, _DIR_MODE, exist_ok=True)
                mode = os.lstat(path).st_mode
            except OSError as e:
                raise exc.InvalidConfig(
                    reason=f"image cache directory {path}: {e.strerror}") from e
            if not stat.S_ISDIR(mode) or stat.S_ISLNK(mode):
                raise exc.InvalidConfig(reason=f"image cache path {path} is not a directory")
            if not os.access(path, os.W_OK | os.X_OK):
                raise exc.InvalidConfig(reason=f"image cache directory {path} is not writable")

    # -- paths and sizes ------------------------------------------------------------

    def get_image_filepath(self, image_id: str, cache_status: str = "active") -> str:
        """The path of ``image_id`` in state ``cache_status`` (see :data:`STATES`)."""
        check_image_id(image_id)
        if cache_status == "active":
            return os.path.join(self.base_dir, image_id)
        if cache_status not in STATES:
            raise exc.InvalidArgument(reason=f"cache_status must be one of {STATES}: "
                                             f"{cache_status!r}")
        return os.path.join(self.base_dir, cache_status, image_id)

    def get_image_size(self, image_id: str) -> int:
        """Size in bytes of the cached file. Raises ``ImageNotCached``."""
        try:
            return os.path.getsize(self.get_image_filepath(image_id))
        except FileNotFoundError:
            raise ic_exc.ImageNotCached(image=image_id) from None

    def _state_files(self, state: str) -> list[tuple[str, os.stat_result]]:
        """``(name, lstat)`` of the regular files in one state (dot files, the index
        and transient temp files, excluded)."""
        if state == "active":
            return _files.regular_files(self.base_dir, skip=frozenset(STATES),
                                        skip_dot=True)
        return _files.regular_files(os.path.join(self.base_dir, state), skip_dot=True)

    def _usage(self) -> tuple[int, int]:
        """``(bytes, files)`` in the active, incomplete and invalid states."""
        files = [st for state in ("active", "incomplete", "invalid")
                 for _, st in self._state_files(state)]
        return sum(st.st_size for st in files), len(files)

    def get_cache_size(self) -> int:
        """Bytes held: active entries, writes in progress (their reservations) and
        failed writes not yet cleaned. This is what ``max_size`` limits."""
        return self._usage()[0]

    # -- entries -------------------------------------------------------------------

    def _live_records(self) -> list[CachedImage]:
        return [r for r in self._index_all()
                if os.path.isfile(self.get_image_filepath(r.image_id))]

    def get_cached_images(self) -> list[dict[str, Any]]:
        """Records of the active entries, ordered by image id (see
        :meth:`CachedImage.to_dict`)."""
        return [r.to_dict() for r in sorted(self._live_records(), key=lambda r: r.image_id)]

    def get_cached_image(self, image_id: str) -> CachedImage | None:
        """The record of one active entry, or ``None``."""
        check_image_id(image_id)
        record = self._index_get(image_id)
        if record is None or not os.path.isfile(self.get_image_filepath(image_id)):
            return None
        return record

    def is_cached(self, image_id: str) -> bool:
        """Whether ``image_id`` has a complete, indexed file."""
        return self.get_cached_image(image_id) is not None

    def is_cacheable(self, image_id: str) -> bool:
        """Not cached and not being written."""
        return (not self.is_cached(image_id)
                and not os.path.exists(self.get_image_filepath(image_id, "incomplete")))

    def get_least_recently_accessed(self) -> tuple[str, int] | None:
        """``(image_id, size)`` of the least recently accessed entry, or ``None``."""
        records = self._live_records()
        if not records:
            return None
        lru = min(records, key=lambda r: (r.last_accessed, r.image_id))
        return lru.image_id, lru.size

    # -- locks ----------------------------------------------------------------------

    def _cache_lock(self) -> contextlib.AbstractContextManager[None]:
        """The cache-wide lock (an flock on ``.lock``, so across processes too)."""
        return _files.cache_lock(self.base_dir)

    # Drivers use these two too.
    _same_file = staticmethod(_files.same_file)
    _remove_unlocked = staticmethod(_files.remove_unlocked)

    def _evict(self, image_id: str) -> int | None:
        """Remove an active entry unless pinned (see :meth:`_remove_unlocked`)."""
        freed = self._remove_unlocked(self.get_image_filepath(image_id))
        if freed is not None:
            self._index_forget(image_id)
            LOG.debug("image cache %s: removed %s (%s bytes)", self.base_dir, image_id, freed)
        return freed

    # -- limits ---------------------------------------------------------------------

    def _over(self, size: int, count: int) -> bool:
        """Whether ``size`` bytes in ``count`` files exceed this cache's limits."""
        return ((self.max_size is not None and size > self.max_size)
                or (self.max_count is not None and count > self.max_count))

    def _make_room(self, image_id: str, reserved: int) -> None:
        """Bring the cache within its limits after the writer of ``image_id`` grew its
        file to ``reserved`` bytes (with the cache lock held). Evicts failed writes
        first, then the least recently accessed entries, never one being read nor a
        write in progress, and nothing if even that would not be enough.

        Raises:
            ImageCacheFull: (``no_space=False``) the image alone exceeds ``max_size``,
                or what is in use leaves no room.
        """
        size, count = self._usage()
        if not self._over(size, count):
            return
        if self.max_size is not None and reserved > self.max_size:
            raise ic_exc.ImageCacheFull(
                image=image_id, no_space=False,
                reason=f"it needs {reserved} bytes and max_size is {self.max_size}")
        invalid = self._state_files("invalid")
        lru = sorted(self._live_records(), key=lambda r: (r.last_accessed, r.image_id))
        lru = [r for r in lru if r.image_id != image_id and not self._pinned(r.image_id)]
        best_size = size - sum(st.st_size for _, st in invalid) - sum(r.size for r in lru)
        if self._over(best_size, count - len(invalid) - len(lru)):
            raise ic_exc.ImageCacheFull(
                image=image_id, no_space=False,
                reason=f"the cache holds {size} bytes in {count} files (limits: "
                       f"max_size={self.max_size}, max_count={self.max_count}) and the "
                       f"entries in use or being written leave no room")
        for name, st in invalid:
            if self._remove_unlocked(os.path.join(self.invalid_dir, name)) is not None:
                size, count = size - st.st_size, count - 1
        for record in lru:
            if not self._over(size, count):
                break
            if self._evict(record.image_id) is not None:
                size, count = size - record.size, count - 1
        if self._over(size, count):
            raise ic_exc.ImageCacheFull(image=image_id, no_space=False,
                                        reason="entries became in use while making room")

    def _pinned(self, image_id: str) -> bool:
        return _files.is_locked(self.get_image_filepath(image_id))

    def prune(self) -> tuple[int, int]:
        """Evict least recently accessed entries (never one being read) until the
        cache is within its limits: the second line behind insert-time enforcement,
        for limits lowered since. Returns ``(files removed, bytes freed)``."""
        with self._cache_lock():
            files = freed_total = 0
            size, count = self._usage()
            for record in sorted(self._live_records(),
                                 key=lambda r: (r.last_accessed, r.image_id)):
                if not self._over(size, count):
                    break
                freed = self._evict(record.image_id)
                if freed is not None and freed != GONE:
                    files, freed_total = files + 1, freed_total + freed
                    size, count = size - freed, count - 1
            LOG.debug("image cache %s: pruned %d files, %d bytes", self.base_dir, files,
                      freed_total)
            return files, freed_total

    # -- writing ------------------------------------------------------------------------

    @contextlib.contextmanager
    def open_for_write(self, image_id: str, *, size: int | None = None,
                       checksum: str | None = None,
                       meta: Mapping[str, str] | None = None) -> Iterator[ImageWriter]:
        """Write an image into ``incomplete/``; make it active when the block ends.

        Args:
            size: the expected size, reserved at once (limits are enforced before a
                byte is written); without it room is reserved as the file grows.
            checksum: ``"sha256:<hex>"`` (or ``md5:``, ``sha512:``..., or bare hex)
                the bytes must have; a mismatch raises ``ChecksumMismatch``.
            meta: strings kept in the record (the source and its version...).

        Yields:
            An :class:`ImageWriter` (``write(bytes)``); zero blocks become holes.

        Raises:
            AlreadyExists: the image is cached (checked again at the end: a writer
                that started after another finished loses). ImageInUse: another
                writer has it.
            ImageCacheFull: the limits or the disk cannot hold it (``no_space``).
            ChecksumMismatch: the bytes do not match ``checksum``.
            Whatever the block raises: the write lands in ``invalid/``.
        """
        check_image_id(image_id)
        expected = parse_checksum(checksum) if checksum is not None else None
        if self.is_cached(image_id):
            raise exc.AlreadyExists(resource="Cached image", id=image_id)
        path = self.get_image_filepath(image_id, "incomplete")
        fd = self._create_incomplete(image_id, path)
        step = RESERVE_STEP if self.max_size is None else max(
            1, min(RESERVE_STEP, self.max_size // 16))
        writer = ImageWriter(fd, expected, reserve=lambda n: self._reserve(image_id, fd, n),
                             step=step)
        try:
            writer.reserve_now(size or 0)
            yield writer
            writer.finish(image_id)
            now = self.clock()
            record = CachedImage(image_id=image_id, size=writer.written,
                                 checksum=writer.checksum, hits=0, last_modified=now,
                                 last_accessed=now, meta=dict(meta or {}))
            with self._cache_lock():
                if not self._same_file(fd, path):
                    raise ic_exc.ImageError(image=image_id,
                                            reason="its write was removed by clean() as "
                                                   "stalled before it completed")
                if self.is_cached(image_id):  # another writer finished first
                    raise exc.AlreadyExists(resource="Cached image", id=image_id)
                self._index_commit(fd, path, self.get_image_filepath(image_id), record)
            _files.fsync_dir(self.base_dir)
            LOG.debug("image cache %s: cached %s (%d bytes, %s)", self.base_dir, image_id,
                      writer.written, writer.checksum)
        except BaseException as e:
            no_space = isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT)
            self._fail_write(image_id, fd, path, remove=no_space or isinstance(
                e, (ic_exc.ImageCacheFull, exc.AlreadyExists)))
            if no_space:
                raise ic_exc.ImageCacheFull(
                    image=image_id, no_space=True,
                    reason=f"no space left on the device of {self.base_dir} after "
                           f"{writer.written} bytes") from e
            raise
        finally:
            os.close(fd)

    def _create_incomplete(self, image_id: str, path: str) -> int:
        """Create ``incomplete/<image_id>`` already locked: made as a dot file, locked,
        then hard-linked into place, so no other process ever sees it unlocked (an
        unlocked one is a dead writer's leftover, which is replaced)."""
        tmp = os.path.join(self.incomplete_dir, f".{image_id}.{secrets.token_hex(6)}")
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     _files.FILE_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            for attempt in (1, 2):
                try:
                    os.link(tmp, path)
                    return fd
                except FileExistsError:
                    if attempt == 2 or self._remove_unlocked(path) is None:
                        raise ic_exc.ImageInUse(
                            image=image_id, reason="another writer is caching it") from None
            raise AssertionError("unreachable")
        except BaseException:
            os.close(fd)
            raise
        finally:
            os.unlink(tmp)

    def _reserve(self, image_id: str, fd: int, nbytes: int) -> None:
        """Grow the incomplete file to ``nbytes`` (a hole: it counts, costs nothing)
        and make room for it."""
        with self._cache_lock():
            os.ftruncate(fd, nbytes)
            self._make_room(image_id, nbytes)

    def _fail_write(self, image_id: str, fd: int, path: str, remove: bool) -> None:
        """Move a failed write to ``invalid/`` (or remove it: disk or cache full)."""
        try:
            with self._cache_lock():
                if not self._same_file(fd, path):
                    return
                if remove:
                    os.unlink(path)
                else:
                    os.replace(path, self.get_image_filepath(image_id, "invalid"))
            LOG.debug("image cache %s: write of %s failed; %s", self.base_dir, image_id,
                      "removed" if remove else "moved to invalid/")
        except OSError:
            LOG.exception("could not move the failed write of %s out of incomplete/",
                          image_id)

    # -- reading --------------------------------------------------------------------

    @contextlib.contextmanager
    def open_for_read(self, image_id: str, *, verify: bool = False) -> Iterator[BinaryIO]:
        """Yield the cached file, open for reading and pinned (never evicted or
        deleted while the block runs; its path, ``f.name``, stays valid). Hits and
        ``last_accessed`` are updated when the block ends without error.

        Args:
            verify: re-hash the file and compare with the recorded checksum first.

        Raises:
            ImageNotCached: no such entry.
            ChecksumMismatch: the file no longer has its recorded size or checksum;
                it is moved to ``invalid/`` and will not be served again.
        """
        check_image_id(image_id)
        path = self.get_image_filepath(image_id)
        try:
            f = open(path, "rb", opener=_files.open_nofollow)  # noqa: SIM115 - closed below
        except FileNotFoundError:
            raise ic_exc.ImageNotCached(image=image_id) from None
        fd = f.fileno()
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)  # the pin; an evictor holds EX only briefly
            if not self._same_file(fd, path):  # evicted or replaced meanwhile
                raise ic_exc.ImageNotCached(image=image_id)
            record = self._index_get(image_id)  # read once pinned: it is this file's
            if record is None:
                raise ic_exc.ImageNotCached(image=image_id)
            actual_size = os.fstat(fd).st_size
            if actual_size != record.size:
                self._quarantine(image_id, fd, path)
                raise ic_exc.ChecksumMismatch(image=image_id, expected=record.checksum,
                                              actual=f"(a size of {actual_size} bytes, "
                                                     f"recorded {record.size})")
            if verify:
                actual = _files.hash_fd(fd, parse_checksum(record.checksum)[0])
                if actual != record.checksum:
                    self._quarantine(image_id, fd, path)
                    raise ic_exc.ChecksumMismatch(image=image_id, expected=record.checksum,
                                                  actual=actual)
            yield f  # type: ignore[misc]
            with self._cache_lock():
                self._index_hit(image_id, fd, self.clock())
        finally:
            f.close()

    def verify(self, image_id: str) -> CachedImage:
        """Re-hash an entry; raise ``ChecksumMismatch`` (and quarantine it) if its bytes
        changed. Returns its record."""
        with self.open_for_read(image_id, verify=True):
            pass
        record = self.get_cached_image(image_id)
        if record is None:
            raise ic_exc.ImageNotCached(image=image_id)
        return record

    def _quarantine(self, image_id: str, fd: int, path: str) -> None:
        with self._cache_lock():
            if self._same_file(fd, path):
                os.replace(path, self.get_image_filepath(image_id, "invalid"))
                self._index_forget(image_id)
        LOG.warning("image cache %s: %s does not match its record; moved to invalid/",
                    self.base_dir, image_id)

    # -- deleting and cleaning ------------------------------------------------------------

    def delete_cached_image(self, image_id: str) -> None:
        """Remove an entry. Not cached: no-op. Raises ``ImageInUse`` while it is read."""
        check_image_id(image_id)
        with self._cache_lock():
            if self._evict(image_id) is None:
                raise ic_exc.ImageInUse(image=image_id, reason="it is being read")

    def delete_all_cached_images(self) -> int:
        """Remove every entry not being read; returns how many were removed."""
        removed = 0
        with self._cache_lock():
            for name, _ in self._state_files("active"):
                freed = self._evict(name)
                if freed is not None and freed != GONE:
                    removed += 1
                else:
                    LOG.info("image cache %s: %s is being read; kept", self.base_dir, name)
            for record in self._index_all():  # records whose files were already gone
                if not os.path.exists(self.get_image_filepath(record.image_id)):
                    self._index_forget(record.image_id)
        return removed

    def clean(self, stall_time: float | None = None) -> int:
        """Remove failed writes (``invalid/``), writes whose writer is gone (no lock
        on the file), writes that have not progressed for ``stall_time`` seconds
        (default: the driver's), and index records out of step with the files.

        Returns:
            How many files and records were removed.
        """
        stall = self.stall_time if stall_time is None else stall_time
        now = self.clock()
        removed = 0
        with self._cache_lock():
            for name, _ in self._state_files("invalid"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(self.invalid_dir, name))
                    removed += 1
            for name, st in self._state_files("incomplete"):
                path = os.path.join(self.incomplete_dir, name)
                freed = self._remove_unlocked(path)
                if freed is None and now - st.st_mtime > stall:
                    LOG.warning("image cache %s: write of %s stalled for %.0f s; removing",
                                self.base_dir, name, now - st.st_mtime)
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(path)
                        freed = st.st_size
                removed += freed is not None and freed != GONE
            for directory in (self.queue_dir, self.incomplete_dir):  # interrupted creates
                removed += queue.clean_temp(directory, now, stall)
            removed += self._index_clean()
        return removed

    # -- the queue --------------------------------------------------------------------

    def queue_image(self, image_id: str, source: str | None = None,
                    checksum: str | None = None) -> bool:
        """Queue an image for the prefetcher (:func:`volumelib.image_cache.fetch.prefetch`)
        with where to get it and the checksum it must have. Returns ``False`` (and
        changes nothing) if it is cached, being written or queued already."""
        check_image_id(image_id)
        if checksum is not None:
            parse_checksum(checksum)
        if self.is_queued(image_id) or not self.is_cacheable(image_id):
            return False
        return queue.add(self.queue_dir, image_id, source=source, checksum=checksum,
                         now=self.clock())

    def is_queued(self, image_id: str) -> bool:
        return os.path.exists(self.get_image_filepath(image_id, "queue"))

    def get_queued_image(self, image_id: str) -> dict[str, Any]:
        """What :meth:`queue_image` recorded (``source``, ``checksum``, ``queued_at``).
        Raises ``NotFound`` if it is not queued."""
        check_image_id(image_id)
        return queue.read(self.queue_dir, image_id)

    def get_queued_images(self) -> list[str]:
        """Queued image ids, oldest first."""
        return queue.ordered(self.queue_dir)

    def delete_queued_image(self, image_id: str) -> None:
        """Unqueue an image. Not queued: no-op."""
        check_image_id(image_id)
        queue.remove(self.queue_dir, image_id)

    def delete_all_queued_images(self) -> int:
        """Unqueue everything; returns how many were queued."""
        return queue.remove_all(self.queue_dir)
