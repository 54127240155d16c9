"""Tier 2 records: the image-volume cache entries, kept as key-values in the store.

Tier 2 keeps, per backend and image, one volume holding the image (an
*image-volume*) that new volumes are cloned from (see
:mod:`volumelib.operations.from_image`). Its entries live in the store's key-value
table so every process sharing the store sees them:

* ``ENTRY_PREFIX + uuid5(backend, image)`` -> the entry, a JSON object (``id, host,
  backend_name, image_id, image_source, image_updated_at, image_checksum,
  declared_checksum, volume_id, size, virtual_size, format, created_at, last_used``:
  Cinder's image-volume cache fields plus ours);
* ``VOLUME_PREFIX + volume id`` -> the entry's key, so a driver can ask "is this
  volume a cached image-volume?" (``db.image_volume_cache_get_by_volume_id``).

This module reads them from any store (anything with ``get_key_values``).
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

__all__ = ["ENTRY_PREFIX", "VOLUME_PREFIX", "IMAGE_VOLUME_MARK", "entry_key",
           "load_entry", "entry_for_volume"]

LOG = logging.getLogger(__name__)

#: Key-value keys of tier 2: an entry per (backend, image), and volume id -> entry key.
ENTRY_PREFIX = "volumelib.image-volume-cache.entry."
VOLUME_PREFIX = "volumelib.image-volume-cache.volume."
#: Metadata key marking a volume as a tier 2 image-volume.
IMAGE_VOLUME_MARK = "volumelib_image_volume_cache"


def entry_key(backend_name: str, image_id: str) -> str:
    """The key of the entry of ``image_id`` on backend ``backend_name``."""
    return ENTRY_PREFIX + str(uuid.uuid5(uuid.NAMESPACE_URL,
                                         f"volumelib:{backend_name}:{image_id}"))


def load_entry(store: Any, key: str) -> dict[str, Any] | None:
    """The entry stored under ``key``, or ``None`` (missing or unreadable)."""
    found = store.get_key_values(key)
    if not found or not found[0].value:
        return None
    try:
        return json.loads(found[0].value)
    except ValueError:
        LOG.warning("unreadable image-volume cache entry %s", key)
        return None


def entry_for_volume(store: Any, volume_id: str) -> dict[str, Any] | None:
    """The entry whose image-volume is ``volume_id``, or ``None`` (what
    ``db.image_volume_cache_get_by_volume_id`` returns)."""
    found = store.get_key_values(VOLUME_PREFIX + str(volume_id))
    if not found or not found[0].value:
        return None
    entry = load_entry(store, found[0].value)
    if entry is None or entry.get("volume_id") != volume_id:
        return None
    return entry
