"""The prefetch queue: one small JSON file per image in ``<base_dir>/queue/``.

Each file records where to fetch the image (``source``), the ``checksum`` it must
have, and when it was queued (the cache's clock, then a system-wide monotonic
counter to order images queued at the same clock time).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from typing import Any

from volumelib import exceptions as exc
from volumelib.image_cache._files import regular_files

__all__ = ["add", "clean_temp", "ordered", "read", "remove", "remove_all"]


def add(queue_dir: str, image_id: str, *, source: str | None, checksum: str | None,
        now: float) -> bool:
    """Queue ``image_id``; ``False`` if it was queued already. Atomic: the file
    appears complete (written aside, then hard-linked into place)."""
    data = json.dumps({"image_id": image_id, "source": source, "checksum": checksum,
                       "queued_at": now, "seq": time.monotonic_ns()})
    tmp = os.path.join(queue_dir, f".{image_id}.{os.getpid()}.{time.monotonic_ns()}")
    with open(tmp, "x", encoding="utf-8") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    try:
        os.link(tmp, os.path.join(queue_dir, image_id))
    except FileExistsError:
        return False
    finally:
        os.unlink(tmp)
    return True


def read(queue_dir: str, image_id: str) -> dict[str, Any]:
    """What :func:`add` recorded. Raises ``NotFound`` if not queued."""
    try:
        with open(os.path.join(queue_dir, image_id), encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise exc.NotFound(resource=f"queued image {image_id}") from None
    try:
        data = json.loads(text) if text.strip() else {}
    except ValueError:
        data = {}  # queued by another tool (Glance writes empty files): no source
    data.setdefault("image_id", image_id)
    return data


def ordered(queue_dir: str) -> list[str]:
    """Queued ids, oldest first."""
    keyed = []
    for name, st in regular_files(queue_dir, skip_dot=True):
        try:
            data = read(queue_dir, name)
        except exc.NotFound:
            continue
        keyed.append((data.get("queued_at", st.st_mtime), data.get("seq", 0), name))
    return [name for *_, name in sorted(keyed)]


def remove(queue_dir: str, image_id: str) -> bool:
    try:
        os.unlink(os.path.join(queue_dir, image_id))
    except FileNotFoundError:
        return False
    return True


def remove_all(queue_dir: str) -> int:
    return sum(remove(queue_dir, name) for name, _ in regular_files(queue_dir,
                                                                    skip_dot=True))


def clean_temp(directory: str, now: float, stall_time: float) -> int:
    """Remove dot files (temp files of interrupted :func:`add` calls, or of entries
    being created) older than ``stall_time`` from ``directory``."""
    removed = 0
    for name, st in regular_files(directory):
        if name.startswith(".") and now - st.st_mtime > stall_time:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(directory, name))
                removed += 1
    return removed
