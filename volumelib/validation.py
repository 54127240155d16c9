"""Checks on user input, done before anything is stored or any driver is called.

Each check raises a specific :class:`~volumelib.exceptions.InvalidArgument` subclass
with the offending value in the message, and returns the normalised value.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Any

from volumelib import exceptions as exc

__all__ = ["check_size", "check_name", "check_id", "check_description",
           "check_metadata", "new_id", "MAX_SIZE_GB"]

#: 1 PiB. Larger requests are certainly a mistake (and overflow some backends).
MAX_SIZE_GB = 1024 * 1024
MAX_NAME = 255
MAX_DESCRIPTION = 1024
MAX_METADATA_ITEMS = 256
MAX_METADATA_KEY = 255
MAX_METADATA_VALUE = 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_size(size: Any, *, minimum: int = 1, what: str = "size") -> int:
    """A size in GiB: an ``int`` (not bool, not float, not str) in [minimum, 1 PiB]."""
    if isinstance(size, bool) or not isinstance(size, int):
        raise exc.InvalidSize(size=size, reason=f"{what} must be an integer number of GiB")
    if size < minimum:
        raise exc.InvalidSize(size=size, reason=f"{what} must be at least {minimum} GiB")
    if size > MAX_SIZE_GB:
        raise exc.InvalidSize(size=size, reason=f"{what} must be at most {MAX_SIZE_GB} GiB")
    return size


def check_name(name: Any, *, what: str = "name") -> str | None:
    """A display name: ``None`` or a printable string of at most 255 characters
    without ``/``, ``\\``, ``..`` or control characters."""
    if name is None:
        return None
    if not isinstance(name, str):
        raise exc.InvalidName(name=name, reason=f"{what} must be a string")
    if len(name) > MAX_NAME:
        raise exc.InvalidName(name=name[:40] + "...",
                              reason=f"{what} is longer than {MAX_NAME} characters")
    if "/" in name or "\\" in name:
        raise exc.InvalidName(name=name, reason=f"{what} must not contain a slash")
    if ".." in name:
        raise exc.InvalidName(name=name, reason=f"{what} must not contain '..'")
    if _CONTROL.search(name):
        raise exc.InvalidName(name=name, reason=f"{what} must not contain control characters")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise exc.InvalidName(name=name, reason=f"{what} is not valid Unicode") from None
    return name


def check_id(value: Any, *, what: str = "id") -> str:
    """A canonical lowercase UUID string (UUID objects are accepted and converted)."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if not isinstance(value, str):
        raise exc.InvalidId(id=value, reason=f"{what} must be a UUID string")
    try:
        canonical = str(uuid.UUID(value))
    except ValueError:
        raise exc.InvalidId(id=value, reason=f"{what} is not a UUID") from None
    if canonical != value:
        raise exc.InvalidId(id=value, reason=f"{what} must be in canonical form {canonical}")
    return canonical


def new_id(value: Any = None) -> str:
    """``value`` checked as an id, or a fresh random UUID when ``None``."""
    return str(uuid.uuid4()) if value is None else check_id(value)


def check_description(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise exc.InvalidArgument(reason=f"description must be a string, not {value!r:.60}")
    if len(value) > MAX_DESCRIPTION:
        raise exc.InvalidArgument(
            reason=f"description is longer than {MAX_DESCRIPTION} characters")
    return value


def check_metadata(value: Any) -> dict[str, str]:
    """A flat mapping of string keys to string values, bounded in size."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise exc.InvalidArgument(reason=f"metadata must be a mapping, not {value!r:.60}")
    if len(value) > MAX_METADATA_ITEMS:
        raise exc.InvalidArgument(
            reason=f"metadata has {len(value)} items; at most {MAX_METADATA_ITEMS}")
    result: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not key or len(key) > MAX_METADATA_KEY:
            raise exc.InvalidArgument(
                reason=f"metadata key {key!r:.60} must be a non-empty string of at most "
                       f"{MAX_METADATA_KEY} characters")
        if not isinstance(item, str) or len(item) > MAX_METADATA_VALUE:
            raise exc.InvalidArgument(
                reason=f"metadata value of {key!r:.60} must be a string of at most "
                       f"{MAX_METADATA_VALUE} characters, not {item!r:.60}")
        for text in (key, item):
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                raise exc.InvalidArgument(
                    reason=f"metadata {key!r:.60} is not valid Unicode") from None
        result[key] = item
    return result
