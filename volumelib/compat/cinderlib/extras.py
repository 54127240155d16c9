"""The OVO fields cinderlib had and volumelib has not, kept for cinderlib's clients.

Compatibility shims, not native API. cinderlib's objects wrapped Cinder OVOs, and
programs built on cinderlib read and write fields of those OVOs that volumelib's
objects do not have. Ember-CSI (0.9.1) is the program that needs them:

* ``Volume``: ``admin_metadata`` (a dict of strings; ember records the filesystem
  it made on a volume there, ``{"fs_type": "ext4"}``, and reads it back to decide
  whether an expand needs the node).
* ``Connection``: ``mountpoint`` and ``instance_uuid`` (ember finds its staging and
  publish connections by mountpoint), and cinderlib's ``attached_host``: a free-form
  label given to ``vol.connect(..., attached_host=...)`` that attach and detach leave
  alone (ember stores its node id there). volumelib's own ``Connection.attached_host``
  means "the host it is attached on" and is set by ``attach`` and cleared by
  ``detach``, so the two cannot share a field.

They are stored in the key-value store of the same persistence, one JSON value per
resource under ``cinderlib:<kind>:<id>`` (see :func:`key_for`), written by the compat
object's ``save()`` and removed when the compat layer deletes or disconnects the
resource. Rows volumelib stores are not changed. Nothing is read until a field is
used.

``obj._ovo`` of a compat object is an :class:`OvoView`: the volumelib object's
fields and methods, plus these fields, plus ``Volume._ovo.volume_attachment.objects``
(cinderlib's in-memory list of the volume's connection OVOs, which ember edits).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from volumelib import exceptions as exc
from volumelib.objects import KeyValue

__all__ = ["EXTRA_FIELDS", "key_for", "Extras", "OvoView", "check_extra"]

LOG = logging.getLogger(__name__)

#: Compat kind -> the cinderlib fields kept in the key-value store, and their default.
EXTRA_FIELDS: dict[str, dict[str, Any]] = {
    "Volume": {"admin_metadata": {}},
    "Connection": {"mountpoint": None, "instance_uuid": None, "attached_host": None},
    "Snapshot": {},
}

KEY_PREFIX = "cinderlib:"


def key_for(kind: str, obj_id: str) -> str:
    """The key-value key holding the cinderlib-only fields of one resource."""
    return f"{KEY_PREFIX}{kind.lower()}:{obj_id}"


def check_extra(kind: str, name: str, value: Any) -> Any:
    """``value`` checked for cinderlib field ``name`` of ``kind`` (as Cinder's OVO
    field types did: a dict of strings, or a nullable string).

    Raises:
        InvalidArgument: naming the field and the value.
    """
    if name == "admin_metadata":
        if value is None:
            return {}
        if not isinstance(value, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            raise exc.InvalidArgument(
                reason=f"{kind}.admin_metadata must be a dict of strings, "
                       f"not {value!r:.80}")
        return dict(value)
    if value is not None and not isinstance(value, str):
        raise exc.InvalidArgument(reason=f"{kind}.{name} must be a string or None, "
                                         f"not {value!r:.80}")
    return value


class Extras:
    """The cinderlib-only fields of one compat object, loaded on first use.

    Tied to one volumelib object: when the compat object is handed a fresher one
    (read again from the store), the fields are read again too, and unsaved changes
    are dropped, as they are for the volumelib fields.
    """

    def __init__(self, kind: str, vl_object: Any) -> None:
        self.kind = kind
        self.vl_object = vl_object
        self._values: dict[str, Any] | None = None
        self._stored: dict[str, Any] = {}

    @property
    def key(self) -> str:
        return key_for(self.kind, self.vl_object.id)

    def _load(self) -> dict[str, Any]:
        if self._values is None:
            found = self.vl_object.persistence.get_key_values(self.key)
            stored: dict[str, Any] = {}
            if found:
                try:
                    stored = json.loads(found[0].value or "{}")
                except ValueError:
                    LOG.warning("ignoring unreadable cinderlib fields under %s", self.key)
                if not isinstance(stored, dict):
                    stored = {}
            defaults = EXTRA_FIELDS[self.kind]
            self._stored = {k: stored.get(k, v) for k, v in defaults.items()}
            self._values = json.loads(json.dumps(self._stored))  # a deep copy
        return self._values

    def get(self, name: str) -> Any:
        return self._load()[name]

    def set(self, name: str, value: Any) -> None:
        self._load()[name] = check_extra(self.kind, name, value)

    def preset(self, values: Mapping[str, Any]) -> None:
        """Values for an object that is not stored yet (nothing to read)."""
        self._stored = dict(EXTRA_FIELDS[self.kind])
        self._values = dict(self._stored)
        for name, value in values.items():
            self.set(name, value)

    def save(self) -> None:
        """Store the fields if they changed since read (checking them first)."""
        if self._values is None:
            return
        values = {n: check_extra(self.kind, n, v) for n, v in self._values.items()}
        if values == self._stored:
            return
        store = self.vl_object.persistence
        defaults = EXTRA_FIELDS[self.kind]
        if all(values[n] == d for n, d in defaults.items()):
            store.delete_key_value(self.key)
        else:
            store.set_key_value(KeyValue(self.key, json.dumps(values, sort_keys=True)))
        LOG.debug("cinderlib fields of %s %s saved", self.kind, self.vl_object.id)
        self._stored = json.loads(json.dumps(values))
        self._values = values

    def delete(self) -> None:
        """Forget the stored fields (the resource is gone). Idempotent."""
        self.vl_object.persistence.delete_key_value(self.key)
        self._stored = dict(EXTRA_FIELDS[self.kind])
        self._values = None


class _Attachments:
    """``vol._ovo.volume_attachment``: ``objects`` is the list of the connection
    OVOs of the volume's connections as last read (``vol._connections``)."""

    __slots__ = ("objects",)

    def __init__(self, objects: list[Any]) -> None:
        self.objects = objects

    def __iter__(self) -> Any:
        return iter(self.objects)

    def __len__(self) -> int:
        return len(self.objects)


class OvoView:
    """cinderlib's ``obj._ovo``: the volumelib object behind a compat object, plus
    the cinderlib-only fields of :data:`EXTRA_FIELDS` (compatibility shim).

    Reading any other attribute reads it from the volumelib object (``vol._ovo.size``,
    its methods too); setting one sets a field of the volumelib object
    (``vol._ovo.status = "error"``), and a name that is not a field raises
    ``AttributeError`` (nothing would store it). The volumelib object itself is
    ``view.vl_object``. Two views are equal when they show the same compat object.
    """

    __slots__ = ("_owner",)

    def __init__(self, owner: Any) -> None:
        object.__setattr__(self, "_owner", owner)

    @property
    def vl_object(self) -> Any:
        return object.__getattribute__(self, "_owner")._vl

    def __getattr__(self, name: str) -> Any:
        owner = object.__getattribute__(self, "_owner")
        if name == "volume_attachment" and owner._KIND == "volume":
            return _Attachments(owner._attachment_ovos())
        if name in EXTRA_FIELDS[type(owner).__name__]:
            return owner._extras().get(name)
        return getattr(owner._vl, name)

    def __setattr__(self, name: str, value: Any) -> None:
        owner = object.__getattribute__(self, "_owner")
        vl = owner._vl
        if name in EXTRA_FIELDS[type(owner).__name__]:
            owner._extras().set(name, value)
        elif name in getattr(vl, "fields", {}):
            setattr(vl, name, value)
        else:
            raise AttributeError(f"cinderlib's {type(owner).__name__} has no field {name!r} "
                                 f"on volumelib (fields: {', '.join(sorted(vl.fields))})")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, OvoView):
            return NotImplemented
        return object.__getattribute__(self, "_owner") is \
            object.__getattribute__(other, "_owner")

    def __hash__(self) -> int:
        return id(object.__getattribute__(self, "_owner"))

    def __repr__(self) -> str:
        return f"<cinderlib OVO view of {self.vl_object!r}>"
