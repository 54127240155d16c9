"""Image ids and index records of the image cache."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from volumelib import exceptions as exc

__all__ = ["STATES", "CachedImage", "check_image_id"]

#: The ``cache_status`` values of ``ImageCacheDriver.get_image_filepath``.
STATES = ("active", "incomplete", "invalid", "queue")
_IMAGE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def check_image_id(image_id: Any) -> str:
    """An image id usable as a file name: ``[A-Za-z0-9][A-Za-z0-9._-]{0,127}``,
    not one of the state directories. Raises ``InvalidArgument``."""
    if not isinstance(image_id, str) or not _IMAGE_ID.match(image_id) \
            or image_id in STATES:
        raise exc.InvalidArgument(
            reason=f"image id {image_id!r:.80} must be 1-128 letters, digits, '.', '_' "
                   f"or '-', start with a letter or digit, and not be one of {STATES}")
    return image_id


@dataclasses.dataclass
class CachedImage:
    """One active entry of the index. Times are seconds since the epoch, from the
    cache's clock."""

    image_id: str
    size: int
    checksum: str  # "sha256:<hex>"
    hits: int
    last_modified: float
    last_accessed: float
    meta: dict[str, str] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Glance's record (``image_id, hits, last_modified, last_accessed, size``)
        plus ``checksum`` and ``meta``."""
        return dataclasses.asdict(self)
