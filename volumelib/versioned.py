"""The versioned-object base of Volume, Snapshot, Connection and friends.

Fields coerce and make primitives with oslo.versionedobjects' semantics
(:mod:`volumelib.fields`, held to OVO's own field classes by a test). The object base
is ours, for one measured reason: ``oslo_versionedobjects.base`` imports
oslo.messaging (and eventlet) at import time, which costs ~0.25 s of a ~0.35 s import
budget on this machine kind and drags an RPC stack into a storage library. This base
keeps OVO's contract where users see it:

* ``VERSION`` per class and the OVO primitive envelope (``versioned_object.name``,
  ``.namespace``, ``.version``, ``.data``, ``.changes``), so primitives look like
  every other OVO's and carry their version;
* change tracking (``obj_what_changed``, ``obj_get_changes``, ``obj_reset_changes``),
  which also sees in-place changes to dict and list fields;
* ``obj_to_primitive`` / ``obj_from_primitive`` with a version check.
"""

from __future__ import annotations

import copy
import datetime
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

from volumelib import exceptions as exc
from volumelib import fields as field_types

__all__ = [
    "VersionedObject",
    "fields",
    "NAMESPACE",
    "registry",
    "utcnow",
]

LOG = logging.getLogger(__name__)

NAMESPACE = "volumelib"
_ENVELOPE = "versioned_object."


def plain(value: Any) -> Any:
    """A deep copy made of plain dicts and lists.

    OVO coerces dict and list fields into ``CoercedDict``/``CoercedList`` that keep a
    reference to their object; stores and change tracking want plain values.
    """
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, set):
        return {plain(v) for v in value}
    return value


def utcnow() -> datetime.datetime:
    """Timezone-aware now in UTC (what every timestamp field holds)."""
    return datetime.datetime.now(datetime.timezone.utc)


class fields:  # noqa: N801 - a namespace of field factories, named like OVO's module
    """The field types volumelib objects use (:mod:`volumelib.fields`)."""

    UUID = field_types.UUID
    String = field_types.String
    SensitiveString = field_types.SensitiveString
    Integer = field_types.Integer
    Float = field_types.Float
    Boolean = field_types.Boolean
    DictOfStrings = field_types.DictOfStrings
    DictOfNullableStrings = field_types.DictOfNullableStrings
    ListOfStrings = field_types.ListOfStrings
    DateTime = field_types.DateTime
    JsonDict = field_types.JsonDict


#: class name -> class, for loading primitives.
registry: dict[str, type[VersionedObject]] = {}



class VersionedObject:
    """A typed record with a version, change tracking and OVO-shaped primitives.

    Subclasses define ``fields`` (name -> OVO field) and ``VERSION``. Every field has
    a value at all times (its default, or ``None``); setting one coerces it through
    the OVO field and marks it changed.
    """

    VERSION: ClassVar[str] = "1.0"
    OBJ_NAME: ClassVar[str] = ""
    fields: ClassVar[dict[str, field_types.Field]] = {}
    #: Fields never written to json/logs unless asked (secrets).
    SECRET_FIELDS: ClassVar[frozenset[str]] = frozenset()

    #: Per class, computed from ``fields``: the fields whose values are containers,
    #: with how to copy one (flat dicts and lists shallowly, JSON deeply).
    _COPIERS: ClassVar[dict[str, Callable[[Any], Any]]] = {}
    #: Per class: fields whose value of this exact Python type needs no coercion
    #: (OVO's own coercion would return it unchanged).
    _EXACT: ClassVar[dict[str, type]] = {}
    #: Per class: each field's default, ready to use (``None`` when there is none).
    _DEFAULTS: ClassVar[dict[str, Any]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.OBJ_NAME = cls.OBJ_NAME if cls.__dict__.get("OBJ_NAME") else cls.__name__
        copiers: dict[str, Callable[[Any], Any]] = {}
        exact: dict[str, type] = {}
        defaults: dict[str, Any] = {}
        for name, field in cls.fields.items():
            if not isinstance(getattr(cls, name, None), _FieldProperty):
                setattr(cls, name, _FieldProperty(name))
            if field.container == "dict":
                copiers[name] = dict
            elif field.container == "list":
                copiers[name] = list
            elif field.container == "json":
                copiers[name] = plain
            if field.python_type is not None:
                exact[name] = field.python_type
            default = field.default
            defaults[name] = (None if default is field_types.UNSPECIFIED
                              or default is None else default)
        cls._COPIERS, cls._EXACT, cls._DEFAULTS = copiers, exact, defaults
        registry[cls.OBJ_NAME] = cls

    def _init_state(self) -> None:
        object.__setattr__(self, "_values", {})
        object.__setattr__(self, "_changed", set())
        object.__setattr__(self, "_pristine", {})
        object.__setattr__(self, "_db_version", None)

    def __init__(self, **values: Any) -> None:
        self._init_state()
        unknown = set(values) - self.fields.keys()
        if unknown:
            raise exc.InvalidArgument(
                reason=f"{self.OBJ_NAME} has no field(s) {', '.join(sorted(unknown))}")
        own = self._values
        for name, default in self._DEFAULTS.items():
            if name in values:
                setattr(self, name, values[name])
            elif default is None:
                own[name] = None
            elif name in self._COPIERS:
                own[name] = self.fields[name].coerce(self, name, copy.deepcopy(default))
            else:
                own[name] = default
        self._changed.update(self.fields)

    # -- OVO-compatible introspection ----------------------------------------------

    @classmethod
    def obj_name(cls) -> str:
        return cls.OBJ_NAME

    def obj_attr_is_set(self, name: str) -> bool:
        return name in self._values

    def obj_what_changed(self) -> set[str]:
        changed = set(self._changed)
        for name, before in self._pristine.items():
            if name not in changed and self._values.get(name) != before:
                changed.add(name)
        return changed

    def obj_get_changes(self) -> dict[str, Any]:
        return {name: self._values[name] for name in self.obj_what_changed()}

    def obj_reset_changes(self, fields: Iterable[str] | None = None) -> None:
        pristine, values = self._pristine, self._values
        if fields is None:
            self._changed.clear()
            names: Iterable[str] = self._COPIERS
        else:
            names = set(fields)
            self._changed.difference_update(names)
        for name in names:
            copier = self._COPIERS.get(name)
            value = values.get(name)
            if copier is not None and value is not None:
                pristine[name] = copier(value)
            else:
                pristine.pop(name, None)

    # -- primitives ----------------------------------------------------------------

    def obj_to_primitive(self, *, include_secrets: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for name, field in self.fields.items():
            value = self._values.get(name)
            if name in self.SECRET_FIELDS and not include_secrets:
                continue
            data[name] = None if value is None else field.to_primitive(self, name, value)
        return {
            _ENVELOPE + "name": self.OBJ_NAME,
            _ENVELOPE + "namespace": NAMESPACE,
            _ENVELOPE + "version": self.VERSION,
            _ENVELOPE + "data": data,
            _ENVELOPE + "changes": sorted(self.obj_what_changed()),
        }

    @classmethod
    def obj_from_primitive(cls, primitive: Mapping[str, Any]) -> VersionedObject:
        """Build an object from an OVO primitive; the class comes from the envelope.

        Raises:
            InvalidPayload: not an envelope, another namespace, an unknown class, a
                newer major version than this code knows, or a field that does not coerce.
        """
        if not isinstance(primitive, Mapping) or _ENVELOPE + "name" not in primitive:
            raise exc.InvalidPayload(reason="not a versioned object primitive")
        name = primitive[_ENVELOPE + "name"]
        if primitive.get(_ENVELOPE + "namespace") != NAMESPACE:
            raise exc.InvalidPayload(
                reason=f"namespace {primitive.get(_ENVELOPE + 'namespace')!r} "
                       f"is not {NAMESPACE!r}")
        target = registry.get(name) if isinstance(name, str) else None
        if target is None or (cls is not VersionedObject and not issubclass(target, cls)):
            raise exc.InvalidPayload(reason=f"unknown object class {name!r}")
        target._check_version(primitive.get(_ENVELOPE + "version"))
        data = primitive.get(_ENVELOPE + "data")
        if not isinstance(data, Mapping):
            raise exc.InvalidPayload(reason=f"{name} primitive has no data mapping")
        obj = target.__new__(target)
        obj._init_state()
        obj._values.update(dict.fromkeys(target.fields))
        obj._set_from_primitive_data(data)
        changes = primitive.get(_ENVELOPE + "changes") or []
        if not isinstance(changes, list) or not all(isinstance(c, str) for c in changes):
            raise exc.InvalidPayload(reason=f"{name} changes must be a list of field "
                                            f"names, not {_short(changes)}")
        obj.obj_reset_changes()
        obj._changed.update(c for c in changes if c in target.fields)
        return obj

    @classmethod
    def _check_version(cls, version: Any) -> None:
        try:
            major, minor = (int(p) for p in str(version).split("."))
            my_major, my_minor = (int(p) for p in cls.VERSION.split("."))
        except ValueError:
            raise exc.InvalidPayload(
                reason=f"{cls.OBJ_NAME} version {version!r} is not MAJOR.MINOR") from None
        if major != my_major or minor > my_minor:
            raise exc.InvalidPayload(
                reason=f"{cls.OBJ_NAME} version {version} is newer than or incompatible "
                       f"with this code's {cls.VERSION}")

    def _set_from_primitive_data(self, data: Mapping[str, Any]) -> None:
        unknown = set(data) - set(self.fields)
        if unknown:
            raise exc.InvalidPayload(
                reason=f"{self.OBJ_NAME} has no field(s) {', '.join(sorted(unknown))}")
        for name, field in self.fields.items():
            if name not in data:
                continue
            raw = data[name]
            try:
                value = None if raw is None else field.from_primitive(self, name, raw)
                value = field.coerce(self, name, value)
            except (ValueError, TypeError, AttributeError) as e:
                raise exc.InvalidPayload(
                    reason=f"{self.OBJ_NAME}.{name}={_short(raw)}: {e}") from None
            self._values[name] = value

    # -- plain values (persistence rows) -------------------------------------------

    def obj_values(self, names: Iterable[str] | None = None) -> dict[str, Any]:
        """Field values as Python objects (datetimes stay datetimes), for stores: a
        fresh dict whose containers are copies (the store may keep it)."""
        values, copiers = self._values, self._COPIERS
        out = dict(values) if names is None else {n: values.get(n) for n in names}
        for name, copier in copiers.items():
            value = out.get(name)
            if value is not None:
                out[name] = copier(value)
        return out

    @classmethod
    def _from_values(cls, values: Mapping[str, Any], db_version: int | None = None,
                     exact: bool = False) -> VersionedObject:
        """Rebuild from a store's row without coercion (the row was coerced on write).

        The row's containers are copied into the object and the row itself is kept
        as the reference for in-place change tracking, so it must not change
        afterwards: stores hand out rows they never modify (an update makes a new
        row). ``exact``: ``values`` has every field and nothing else (a store's row).
        """
        obj = cls.__new__(cls)
        own = dict(values) if exact else {name: values.get(name) for name in cls.fields}
        pristine = {}
        for name, copier in cls._COPIERS.items():
            value = own[name]
            if value is not None:
                pristine[name] = value
                own[name] = copier(value)
        state = obj.__dict__
        state["_values"] = own
        state["_changed"] = set()
        state["_pristine"] = pristine
        state["_db_version"] = db_version
        return obj

    # -- misc ----------------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(self._values.get(n) == other._values.get(n)  # type: ignore[attr-defined]
                   for n in self.fields)

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        shown = ", ".join(f"{n}={self._values.get(n)!r}" for n in self._repr_fields())
        return f"<{self.OBJ_NAME} {shown}>"

    def _repr_fields(self) -> Iterable[str]:
        return [n for n in ("id", "name", "status", "size") if n in self.fields]


class _FieldProperty:
    """Descriptor for one field: read the value, coerce and track on write."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, obj: VersionedObject | None, owner: type) -> Any:
        if obj is None:
            return self
        return obj._values.get(self.name)

    def __set__(self, obj: VersionedObject, value: Any) -> None:
        name = self.name
        wanted = obj._EXACT.get(name)
        if wanted is None or type(value) is not wanted or (
                wanted is datetime.datetime and value.tzinfo is None):
            field = obj.fields[name]
            try:
                value = field.coerce(obj, name, value)
            except (ValueError, TypeError) as e:
                raise exc.InvalidArgument(
                    reason=f"{obj.OBJ_NAME}.{name}={_short(value)}: {e}") from None
        obj._values[name] = value
        obj._changed.add(name)


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "...'"


def to_json_text(data: Any) -> str:
    """``json.dumps`` with a stable key order (what ``jsons``/``dumps`` return)."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"))
