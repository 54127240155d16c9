"""``sqlite``: the image cache with its index in a SQLite database.

The database is ``<base_dir>/.cache.sqlite`` (or ``db_path``), in WAL mode, one
connection per operation (safe across threads and processes). An entry becomes
active by renaming its file into place *then* inserting its row, both under the
cache lock: a crash in between leaves a file without a row, which is not served
(``is_cached`` needs both) and which :meth:`clean` removes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
from collections.abc import Iterator
from typing import Any

from volumelib import exceptions as exc
from volumelib.image_cache.base import GONE, CachedImage, ImageCacheDriver

__all__ = ["SQLiteImageCache"]

LOG = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS cached_images (
    image_id TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    checksum TEXT NOT NULL,
    hits INTEGER NOT NULL DEFAULT 0,
    last_modified REAL NOT NULL,
    last_accessed REAL NOT NULL,
    meta TEXT NOT NULL DEFAULT '{}'
)
"""
_COLUMNS = "image_id, size, checksum, hits, last_modified, last_accessed, meta"


class SQLiteImageCache(ImageCacheDriver):
    """Image cache indexed in SQLite.

    Args:
        base_dir, max_size, max_count, stall_time, clock: see :class:`ImageCacheDriver`.
        db_path: the database file (default ``<base_dir>/.cache.sqlite``).
    """

    name = "sqlite"

    def __init__(self, base_dir: str, *, db_path: str | None = None, **kwargs: Any) -> None:
        super().__init__(base_dir, **kwargs)
        self.db_path = os.path.abspath(db_path) if db_path else os.path.join(
            self.base_dir, ".cache.sqlite")

    @property
    def options(self) -> dict[str, Any]:
        return {**super().options, "db_path": self.db_path}

    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        try:
            conn = sqlite3.connect(self.db_path, timeout=60, isolation_level=None)
        except sqlite3.Error as e:
            raise exc.InvalidConfig(reason=f"image cache database {self.db_path}: {e}") from e
        try:
            yield conn
        finally:
            conn.close()

    def _index_setup(self) -> None:
        try:
            with self._db() as db:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute(_SCHEMA)
        except sqlite3.Error as e:
            raise exc.InvalidConfig(
                reason=f"cannot set up the image cache database {self.db_path}: {e}") from e

    @staticmethod
    def _record(row: tuple[Any, ...]) -> CachedImage:
        image_id, size, checksum, hits, modified, accessed, meta = row
        return CachedImage(image_id=image_id, size=size, checksum=checksum, hits=hits,
                           last_modified=modified, last_accessed=accessed,
                           meta=json.loads(meta or "{}"))

    def _index_commit(self, fd: int, incomplete: str, active: str,
                      record: CachedImage) -> None:
        os.replace(incomplete, active)
        try:
            with self._db() as db:
                db.execute(f"INSERT OR REPLACE INTO cached_images ({_COLUMNS}) "
                           f"VALUES (?, ?, ?, ?, ?, ?, ?)",
                           (record.image_id, record.size, record.checksum, record.hits,
                            record.last_modified, record.last_accessed,
                            json.dumps(record.meta, sort_keys=True)))
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(active)
            raise

    def _index_get(self, image_id: str) -> CachedImage | None:
        with self._db() as db:
            row = db.execute(f"SELECT {_COLUMNS} FROM cached_images WHERE image_id = ?",
                             (image_id,)).fetchone()
        return self._record(row) if row else None

    def _index_all(self) -> list[CachedImage]:
        with self._db() as db:
            rows = db.execute(f"SELECT {_COLUMNS} FROM cached_images "
                              f"ORDER BY image_id").fetchall()
        return [self._record(r) for r in rows]

    def _index_hit(self, image_id: str, fd: int, now: float) -> None:
        with self._db() as db:
            db.execute("UPDATE cached_images SET hits = hits + 1, last_accessed = ? "
                       "WHERE image_id = ?", (now, image_id))

    def _index_forget(self, image_id: str) -> None:
        with self._db() as db:
            db.execute("DELETE FROM cached_images WHERE image_id = ?", (image_id,))

    def _index_clean(self) -> int:
        """Rows without files, and active files without rows (an interrupted commit,
        or a file put there by hand) unless someone reads them."""
        removed = 0
        rows = {r.image_id for r in self._index_all()}
        files = {name for name, _ in self._state_files("active")}
        for image_id in rows - files:
            self._index_forget(image_id)
            removed += 1
        for image_id in files - rows:
            freed = self._remove_unlocked(self.get_image_filepath(image_id))
            if freed is not None and freed != GONE:
                LOG.warning("image cache %s: removed %s, which had no index record",
                            self.base_dir, image_id)
                removed += 1
        return removed
