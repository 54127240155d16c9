"""Small stored objects: key-values and volume types."""

from __future__ import annotations

from typing import Any

from volumelib.objects.base import fields
from volumelib.objects.common import TIMESTAMP_FIELDS, StoredObject

__all__ = ["KeyValue", "VolumeType"]


class KeyValue(StoredObject):
    """A free-form string value stored under a key (drivers and tools keep state here)."""

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


class VolumeType(StoredObject):
    """A volume type (a flavor): a name and Cinder-syntax extra specs and QoS specs."""

    VERSION = "1.0"
    fields = {
        "id": fields.UUID(),
        "name": fields.String(),
        "description": fields.String(nullable=True),
        "extra_specs": fields.DictOfNullableStrings(default={}),
        "qos_specs": fields.DictOfNullableStrings(default={}),
        "is_public": fields.Boolean(default=True),
        **TIMESTAMP_FIELDS,
    }
