"""``volumelib.load`` / ``dump`` / ``dumps``: objects to JSON and back.

An object's JSON is ``{"class": NAME, "ovo": <OVO primitive>, "backend": {...}}``;
a dumped volume adds ``"snapshots"`` and ``"connections"`` lists of the same shape,
and a snapshot carries its ``"volume"``. Secrets are left out unless
``include_secrets=True``.

**What ``load()`` gives** (``save=False``), for each object, against the current store:

* the store has no row with the object's key: a new, unsaved object. A snapshot
  whose volume the store does not know keeps the volume its JSON carried, so
  ``snapshot.create_volume()`` works in a process that never saw the volume (as
  with cinderlib).
* the store has the row, as the JSON shows it: the object is **bound** to the row and
  its version, exactly as if it had been read from the store (secret fields the JSON
  left out, such as ``provider_auth`` or a connection's CHAP password, come from the
  row). It can be used and saved: a node process that loads a connection from the
  controller's JSON can ``attach()`` it.
* the store has the row, changed since the JSON was made: the object is a **stale
  copy**. It keeps the JSON's values; saving it raises ``ConcurrentModification``
  (retryable: ``refresh()`` it and try again), and operations re-read the row first.

``load(save=True)`` writes every object instead, inserting new ones and overwriting
existing rows with the JSON's values.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from volumelib import exceptions as exc
from volumelib import fields as field_types
from volumelib import runtime, validation
from volumelib.objects.snapshot import Snapshot
from volumelib.records.stored import StoredObject
from volumelib.versioned import VersionedObject, registry, to_json_text

__all__ = ["load", "dump", "dumps"]

LOG = logging.getLogger(__name__)

_MAX_DEPTH = 4


def load(data: Any, save: bool = False) -> Any:
    """Objects from JSON: a dict, a JSON string, or a list of either.

    Args:
        data: what ``obj.json``/``jsons``/``dump``/``dumps`` or ``volumelib.dump()`` made.
        save: also write the objects (and nested snapshots and connections) to the
            current store, inserting new ones and overwriting existing ones.

    Returns:
        One object for one object, a list for a list.

    Raises:
        InvalidPayload: not JSON, not an object of ours, a newer version, a bad field.
        BackendNotFound: the object's backend is not set up in this process and
            ``fail_on_missing_backend`` is on.
    """
    if isinstance(data, (bytes, bytearray)):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise exc.InvalidPayload(reason=f"not UTF-8: {e}") from None
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError as e:
            raise exc.InvalidPayload(reason=f"not JSON: {e}") from None
        except RecursionError:
            raise exc.InvalidPayload(reason="not JSON we accept: nested too deeply") from None
    if isinstance(data, list):
        objs = [_load_one(item, 0) for item in data]
    else:
        objs = [_load_one(data, 0)]
    for obj, nested in objs:
        for item in (obj, *nested):
            if save:
                _save(item)
            else:
                _bind_to_store(item)
    result = [obj for obj, _ in objs]
    return result if isinstance(data, list) else result[0]


def _load_one(data: Any, depth: int) -> tuple[StoredObject, list[StoredObject]]:
    if depth > _MAX_DEPTH:
        raise exc.InvalidPayload(reason="nested too deeply")
    if not isinstance(data, Mapping):
        raise exc.InvalidPayload(reason=f"expected an object, got {type(data).__name__}")
    name = data.get("class")
    if not isinstance(name, str) or name not in registry \
            or not issubclass(registry[name], StoredObject):
        raise exc.InvalidPayload(reason=f"unknown class {name!r}")
    primitive = data.get("ovo")
    if isinstance(primitive, Mapping):
        _check_raw_types(registry[name], primitive)
    obj = VersionedObject.obj_from_primitive(primitive) if isinstance(primitive, Mapping) \
        else None
    if obj is None:
        raise exc.InvalidPayload(reason=f"{name} has no 'ovo' primitive")
    if obj.OBJ_NAME != name:
        raise exc.InvalidPayload(reason=f"class {name} holds a {obj.OBJ_NAME} primitive")
    assert isinstance(obj, StoredObject)
    _check_identity(obj)
    backend_name = obj._backend_name()
    if backend_name:
        backend = runtime.get_backend(backend_name)  # raises if required and missing
        obj._bind(backend)
    nested: list[StoredObject] = []
    for key in ("snapshots", "connections"):
        items = data.get(key)
        if items is None:
            continue
        if not isinstance(items, list):
            raise exc.InvalidPayload(reason=f"{name}.{key} must be a list")
        for item in items:
            child, grandchildren = _load_one(item, depth + 1)
            if getattr(child, "volume_id", None) != getattr(obj, "id", None):
                raise exc.InvalidPayload(
                    reason=f"{child.OBJ_NAME} {getattr(child, 'id', '?')} in {key} of "
                           f"{name} {getattr(obj, 'id', '?')} belongs to another volume")
            nested.append(child)
            nested.extend(grandchildren)
    carried = data.get("volume")
    if carried is not None:
        if not isinstance(obj, Snapshot):
            raise exc.InvalidPayload(reason=f"{name} does not carry a volume")
        volume, _ = _load_one(carried, depth + 1)
        if getattr(volume, "id", None) != obj.volume_id or volume.OBJ_NAME != "Volume":
            raise exc.InvalidPayload(reason=f"snapshot {obj.id} of volume {obj.volume_id} "
                                            f"carries another volume: {volume.OBJ_NAME} "
                                            f"{getattr(volume, 'id', '?')}")
        obj._carry_volume(volume)
        object.__setattr__(volume, "_carried", True)
        nested.append(volume)
    object.__setattr__(obj, "_loaded_nested", nested)
    return obj, nested


def _check_raw_types(cls: type[VersionedObject], primitive: Mapping[str, Any]) -> None:
    """Refuse what OVO would silently coerce: ``size: true`` or ``"1"``, ``1.5`` (to
    ``1``), ``multiattach: "x"`` (to ``True``), ``status: 5`` (to ``"5"``), metadata
    values that are not strings. A JSON payload must carry each field in its own type."""
    values = primitive.get("versioned_object.data")
    if not isinstance(values, Mapping):
        return  # obj_from_primitive says what is wrong
    for name, raw in values.items():
        field = cls.fields.get(name)
        if field is None or raw is None:
            continue
        wrong = None
        if isinstance(field, field_types.Integer):
            if isinstance(raw, bool) or not isinstance(raw, int):
                wrong = "an integer"
        elif isinstance(field, field_types.Boolean):
            if not isinstance(raw, bool):
                wrong = "true or false"
        elif isinstance(field, field_types.UUID):
            # Checked here: coercion only makes it a string.
            if not isinstance(raw, str) or not _is_uuid(raw):
                wrong = "a canonical UUID"
        elif isinstance(field, field_types.String):
            if not isinstance(raw, str):
                wrong = "a string"
        elif isinstance(field, field_types.DictOfStrings):
            if not isinstance(raw, Mapping) or not all(
                    isinstance(k, str) and (isinstance(v, str) or v is None)
                    for k, v in raw.items()):
                wrong = "a mapping of strings to strings"
        if wrong:
            raise exc.InvalidPayload(reason=f"{cls.OBJ_NAME}.{name} must be {wrong}, "
                                            f"not {_short(raw)}")


def _is_uuid(value: str) -> bool:
    try:
        validation.check_id(value)
    except exc.InvalidId:
        return False
    return True


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _check_identity(obj: StoredObject) -> None:
    for field_name, check in (("name", validation.check_name),
                              ("description", validation.check_description),
                              ("metadata", validation.check_metadata)):
        if field_name in obj.fields and obj.obj_attr_is_set(field_name):
            try:
                check(getattr(obj, field_name))
            except exc.InvalidArgument as e:
                raise exc.InvalidPayload(reason=f"{obj.OBJ_NAME}.{field_name}: {e}") from None
    if "id" in obj.fields:
        try:
            validation.check_id(obj.id)
        except exc.InvalidId as e:
            raise exc.InvalidPayload(reason=str(e)) from None
    if "size" in obj.fields and obj.size is not None:
        try:
            validation.check_size(obj.size)
        except exc.InvalidSize as e:
            raise exc.InvalidPayload(reason=str(e)) from None


def _bind_to_store(obj: StoredObject) -> None:
    """Bind a loaded object to its stored row, or mark it a stale copy (see the module
    docstring). An object the store does not have is left new."""
    store = runtime.persistence()
    kind = obj._kind_info()
    stored = store.get_record(kind.name, getattr(obj, kind.key))
    if stored is None:
        return
    if obj.json_fields() == stored.json_fields():
        # Fresh: become the row (secret fields the JSON left out come with it).
        obj._values.update(stored._values)
        object.__setattr__(obj, "_db_version", stored._db_version)
        obj.obj_reset_changes()
    else:
        # Stale: no store version matches, so saving it is refused.
        object.__setattr__(obj, "_db_version", STALE_VERSION)
    obj._bind(store=store)


#: The row version a stale loaded copy is bound to: no stored row ever has it, so
#: saving the copy raises ``ConcurrentModification``.
STALE_VERSION = 0


def _save(obj: StoredObject) -> None:
    """Insert ``obj``, or overwrite the stored object with its id (every kind alike:
    a group or group snapshot loaded twice is overwritten too, not refused half-way
    through a list). A volume a snapshot's JSON carried is only inserted, never
    written over a stored one."""
    store = runtime.persistence()
    kind = obj._kind_info()
    object.__setattr__(obj, "_db_version", None)
    existing = store.get_record(kind.name, getattr(obj, kind.key))
    if existing is not None:
        if getattr(obj, "_carried", False):
            obj._bind(store=store)
            return
        object.__setattr__(obj, "_db_version", existing._db_version)
        obj._changed.update(obj.fields)
    obj._bind(store=store)
    getattr(store, f"set_{kind.name}")(obj)


def dump(include_secrets: bool = False) -> list[dict[str, Any]]:
    """Every volume in the current store, with its snapshots and connections."""
    result = []
    for vol in runtime.persistence().get_volumes():
        backend = runtime.get_backend(vol.backend_name, required=False)
        if backend is not None:
            vol._bind(backend)
        data = vol.to_json(include_secrets=include_secrets)
        data["snapshots"] = [s.to_json(include_secrets=include_secrets, with_volume=False)
                             for s in vol.snapshots]
        data["connections"] = [c.to_json(include_secrets=include_secrets)
                               for c in vol.connections]
        result.append(data)
    return result


def dumps(include_secrets: bool = False) -> str:
    return to_json_text(dump(include_secrets=include_secrets))
