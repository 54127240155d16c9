"""``KeyValue``: a free-form string stored under a key (drivers and tools keep state
here; tier 2 of the image cache keeps its entries here)."""

from __future__ import annotations

from typing import Any

from volumelib.records.stored import StoredObject
from volumelib.versioned import fields

__all__ = ["KeyValue"]


class KeyValue(StoredObject):
    """A free-form string value stored under a key (last writer wins)."""

    VERSION = "1.0"
    fields = {
        "key": fields.String(),
        "value": fields.String(nullable=True),
    }

    def __init__(self, key: str | None = None, value: str | None = None,
                 **kwargs: Any) -> None:
        if key is not None:
            kwargs["key"] = key
        if value is not None:
            kwargs["value"] = value
        super().__init__(**kwargs)

    def _repr_fields(self) -> list[str]:
        return ["key", "value"]
