"""``VolumeType``: a flavor (a name, Cinder-syntax extra specs and QoS specs), and the
one resolver of what a user passes as ``volume_type``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from volumelib import exceptions as exc
from volumelib import specs as spec_syntax
from volumelib import validation
from volumelib.persistence.base import PersistenceDriverBase
from volumelib.records.stored import TIMESTAMP_FIELDS, StoredObject
from volumelib.versioned import fields

__all__ = ["VolumeType", "get_volume_type", "resolve_volume_type"]


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


def get_volume_type(store: PersistenceDriverBase, name_or_id: str) -> VolumeType:
    """The stored type called ``name_or_id`` (or with that id).

    Raises:
        VolumeTypeNotFound: (a ``NotFound``) no such type.
    """
    found = store.get_volume_types(name=name_or_id)
    if not found:
        try:
            found = store.get_volume_types(volume_type_id=validation.check_id(name_or_id))
        except exc.InvalidId:
            found = []
    if not found:
        raise exc.VolumeTypeNotFound(volume_type=name_or_id)
    return found[0]


def resolve_volume_type(store: PersistenceDriverBase, volume_type: Any
                        ) -> tuple[VolumeType | None, dict[str, str]]:
    """``(stored type or None, extra specs)`` for what a user passed as
    ``volume_type``: ``None``, a stored type's name or id, a :class:`VolumeType`, or
    a plain mapping of Cinder-syntax specs (or a type's dict with ``extra_specs``).

    Raises:
        NotFound: a name or id no type has.
        InvalidArgument: malformed specs, or something else entirely.
    """
    if volume_type is None:
        return None, {}
    if isinstance(volume_type, VolumeType):
        return volume_type, dict(volume_type.extra_specs)
    if isinstance(volume_type, str):
        vtype = get_volume_type(store, volume_type)
        return vtype, dict(vtype.extra_specs)
    if isinstance(volume_type, Mapping):
        return None, spec_syntax.validate_specs(volume_type, what="volume type spec")
    raise exc.InvalidArgument(reason=f"volume_type must be a name, id, VolumeType or "
                                     f"dict of specs, not {volume_type!r:.60}")
