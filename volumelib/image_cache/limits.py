"""The cache's limits: ``max_size`` bytes and ``max_count`` files, all states counted.

:func:`make_room` runs at insert time, each time a writer grows its reservation;
:func:`prune` is the second line, for limits lowered since entries were written.
Both evict failed writes (``invalid/``) first, then the least recently accessed
active entries, and never an entry someone reads (it holds a shared flock) nor a
write in progress. Call both with the cache lock held.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

from volumelib.image_cache import exceptions as ic_exc
from volumelib.image_cache._files import GONE

if TYPE_CHECKING:
    from volumelib.image_cache.base import ImageCacheDriver

__all__ = ["make_room", "over", "prune"]

LOG = logging.getLogger(__name__)


def over(cache: ImageCacheDriver, size: int, count: int) -> bool:
    """Whether ``size`` bytes in ``count`` files exceed ``cache``'s limits."""
    return ((cache.max_size is not None and size > cache.max_size)
            or (cache.max_count is not None and count > cache.max_count))


def make_room(cache: ImageCacheDriver, image_id: str, reserved: int) -> None:
    """Bring ``cache`` within its limits after the writer of ``image_id`` grew its
    file to ``reserved`` bytes. Evicts nothing if even evicting everything it may
    would not be enough.

    Raises:
        ImageCacheFull: (``no_space=False``) the image alone exceeds ``max_size``, or
            what is in use leaves no room.
    """
    size, count = cache._usage()
    if not over(cache, size, count):
        return
    if cache.max_size is not None and reserved > cache.max_size:
        raise ic_exc.ImageCacheFull(
            image=image_id, no_space=False,
            reason=f"it needs {reserved} bytes and max_size is {cache.max_size}")
    invalid = cache._state_files("invalid")
    lru = sorted(cache._live_records(), key=lambda r: (r.last_accessed, r.image_id))
    lru = [r for r in lru if r.image_id != image_id and not cache._pinned(r.image_id)]
    best_size = size - sum(st.st_size for _, st in invalid) - sum(r.size for r in lru)
    if over(cache, best_size, count - len(invalid) - len(lru)):
        raise ic_exc.ImageCacheFull(
            image=image_id, no_space=False,
            reason=f"the cache holds {size} bytes in {count} files (limits: "
                   f"max_size={cache.max_size}, max_count={cache.max_count}) and the "
                   f"entries in use or being written leave no room")
    for name, st in invalid:
        if cache._remove_unlocked(os.path.join(cache.invalid_dir, name)) is not None:
            size, count = size - st.st_size, count - 1
    for record in lru:
        if not over(cache, size, count):
            break
        if cache._evict(record.image_id) is not None:
            size, count = size - record.size, count - 1
    if over(cache, size, count):
        raise ic_exc.ImageCacheFull(image=image_id, no_space=False,
                                    reason="entries became in use while making room")


def prune(cache: ImageCacheDriver) -> tuple[int, int]:
    """Evict least recently accessed entries until within limits:
    ``(files removed, bytes freed)``."""
    files = freed_total = 0
    size, count = cache._usage()
    for record in sorted(cache._live_records(), key=lambda r: (r.last_accessed, r.image_id)):
        if not over(cache, size, count):
            break
        freed = cache._evict(record.image_id)
        if freed is not None and freed != GONE:
            files, freed_total = files + 1, freed_total + freed
            size, count = size - freed, count - 1
    LOG.debug("image cache %s: pruned %d files, %d bytes", cache.base_dir, files, freed_total)
    return files, freed_total
