"""The field types of volumelib's objects, with oslo.versionedobjects' semantics.

Each type coerces a value the way the oslo.versionedobjects field of the same name
does (``tests/unit/test_fields.py`` holds them to it, value by value, against OVO's
own classes) and turns it into the same primitive. They are written here rather than
imported because ``oslo_versionedobjects.fields`` pulls in oslo.utils, oslo.config and
oslo.i18n: more than half of the instructions of ``import volumelib`` for ten small
classes.

A field is ``nullable`` or not; ``None`` for a non-nullable field gives its
``default`` when it has one, else ``ValueError``. Container fields coerce into
:class:`CoercedDict`/:class:`CoercedList`, which keep coercing what is put in them
later (``vol.metadata["k"] = 5`` stores ``"5"``), as OVO's do.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

__all__ = ["Field", "String", "SensitiveString", "Integer", "Float", "Boolean", "UUID",
           "DateTime", "DictOfStrings", "DictOfNullableStrings", "ListOfStrings",
           "JsonDict", "CoercedDict", "CoercedList", "UNSPECIFIED"]


class _Unspecified:
    def __repr__(self) -> str:
        return "UNSPECIFIED"


#: The default of a field without one.
UNSPECIFIED: Any = _Unspecified()

_STRINGABLE = (int, float, str, datetime.datetime)


def _coerce_string(attr: str, value: Any) -> str:
    if isinstance(value, _STRINGABLE):
        return str(value)
    raise ValueError(f"A string is required in field {attr}, not a {type(value).__name__}")


def _coerce_datetime(attr: str, value: Any) -> datetime.datetime:
    if isinstance(value, str):
        try:
            value = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as e:
            raise ValueError(f"{attr}: not an ISO 8601 timestamp: {value!r}") from e
    elif not isinstance(value, datetime.datetime):
        raise ValueError(f"A datetime.datetime is required in field {attr}, not a "
                         f"{type(value).__name__}")
    if value.utcoffset() is None:
        value = value.replace(tzinfo=datetime.timezone.utc)
    return value


class Field:
    """One field of an object: how a value is checked, and its primitive form.

    Attributes:
        nullable: ``None`` is a value.
        default: what a missing value (or ``None``, when not nullable) becomes.
        python_type: the type a coerced value has exactly (setting one of this type
            skips coercion), or ``None`` where coercion must always run.
        container: ``"dict"``, ``"list"``, ``"json"`` or ``None``.
    """

    python_type: ClassVar[type | None] = None
    container: ClassVar[str | None] = None

    def __init__(self, nullable: bool = False, default: Any = UNSPECIFIED) -> None:
        self.nullable = nullable
        self.default = default

    def coerce(self, obj: Any, attr: str, value: Any) -> Any:
        """``value`` checked and converted for ``attr``.

        Raises:
            ValueError / TypeError: it cannot be (the message names ``attr``).
        """
        if value is None:
            if self.nullable:
                return None
            if self.default is not UNSPECIFIED:
                return self.coerce(obj, attr, _fresh(self.default))
            raise ValueError(f"Field `{attr}' cannot be None")
        return self._coerce(attr, value)

    def _coerce(self, attr: str, value: Any) -> Any:
        return value

    def to_primitive(self, obj: Any, attr: str, value: Any) -> Any:
        return value

    def from_primitive(self, obj: Any, attr: str, value: Any) -> Any:
        return value

    def __repr__(self) -> str:
        return f"{type(self).__name__}(nullable={self.nullable}, default={self.default!r})"


def _fresh(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _fresh(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_fresh(v) for v in value]
    return value


class String(Field):
    python_type = str

    def _coerce(self, attr: str, value: Any) -> str:
        return _coerce_string(attr, value)


class SensitiveString(String):
    """A string that is never shown (``SECRET_FIELDS`` of its object say so)."""


class UUID(Field):
    """A UUID as a string (checked by :mod:`volumelib.validation` where it matters;
    like OVO's, coercion itself only makes it a string)."""

    def _coerce(self, attr: str, value: Any) -> str:
        return f"{value}"


class Integer(Field):
    python_type = int

    def _coerce(self, attr: str, value: Any) -> int:
        return int(value)


class Float(Field):
    python_type = float

    def _coerce(self, attr: str, value: Any) -> float:
        return float(value)


class Boolean(Field):
    python_type = bool

    def _coerce(self, attr: str, value: Any) -> bool:
        return bool(value)


class DateTime(Field):
    """A timezone-aware datetime (a naive one is taken as UTC); its primitive is ISO
    8601 with microseconds and the offset."""

    python_type = datetime.datetime

    def _coerce(self, attr: str, value: Any) -> datetime.datetime:
        return _coerce_datetime(attr, value)

    def to_primitive(self, obj: Any, attr: str, value: Any) -> str:
        return value.isoformat()

    def from_primitive(self, obj: Any, attr: str, value: Any) -> datetime.datetime:
        return _coerce_datetime(attr, value)


class CoercedDict(dict):  # type: ignore[type-arg]
    """A dict that coerces every value put in it (``item(key, value)``)."""

    def __init__(self, item: Callable[[str, Any], Any], attr: str,
                 data: Mapping[Any, Any] = ()) -> None:  # type: ignore[assignment]
        super().__init__()
        self._item, self._attr = item, attr
        self.update(data)

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, self._item(f"{self._attr}[{key!r}]", value))

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def setdefault(self, key: Any, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def __reduce__(self) -> Any:  # copies and pickles are plain dicts
        return dict, (dict(self),)


class CoercedList(list):  # type: ignore[type-arg]
    """A list that coerces every item put in it (``item(value)``)."""

    def __init__(self, item: Callable[[str, Any], Any], attr: str,
                 data: Iterable[Any] = ()) -> None:
        self._item, self._attr = item, attr
        super().__init__(self._item(f"{attr}[{i}]", v) for i, v in enumerate(data))

    def append(self, value: Any) -> None:
        super().append(self._item(f"{self._attr}[{len(self)}]", value))

    def extend(self, values: Iterable[Any]) -> None:
        for value in values:
            self.append(value)

    def insert(self, index: Any, value: Any) -> None:
        super().insert(index, self._item(f"{self._attr}[{index}]", value))

    def __setitem__(self, index: Any, value: Any) -> None:
        if isinstance(index, slice):
            value = [self._item(f"{self._attr}[{index}]", v) for v in value]
        else:
            value = self._item(f"{self._attr}[{index}]", value)
        super().__setitem__(index, value)

    def __reduce__(self) -> Any:
        return list, (list(self),)


def _string_item(nullable: bool) -> Callable[[str, Any], Any]:
    def item(attr: str, value: Any) -> Any:
        if value is None:
            if nullable:
                return None
            raise ValueError(f"Field `{attr}' cannot be None")
        return _coerce_string(attr, value)
    return item


class DictOfStrings(Field):
    """A dict of strings to strings."""

    container = "dict"
    _nullable_values = False

    def _coerce(self, attr: str, value: Any) -> CoercedDict:
        if not isinstance(value, dict):
            raise ValueError(f"A dict is required in field {attr}, not a "
                             f"{type(value).__name__}")
        return CoercedDict(_string_item(self._nullable_values), attr, value)

    def to_primitive(self, obj: Any, attr: str, value: Any) -> dict[str, Any]:
        return dict(value)

    def from_primitive(self, obj: Any, attr: str, value: Any) -> dict[str, Any]:
        return dict(value)


class DictOfNullableStrings(DictOfStrings):
    """A dict of strings to strings or ``None``."""

    _nullable_values = True


class ListOfStrings(Field):
    """A list of strings."""

    container = "list"

    def _coerce(self, attr: str, value: Any) -> CoercedList:
        if not isinstance(value, list):
            raise ValueError(f"A list is required in field {attr}, not a "
                             f"{type(value).__name__}")
        return CoercedList(_string_item(False), attr, value)

    def to_primitive(self, obj: Any, attr: str, value: Any) -> list[Any]:
        return list(value)

    def from_primitive(self, obj: Any, attr: str, value: Any) -> list[Any]:
        return list(value)


class JsonDict(Field):
    """A dict with string keys and any JSON value (connector, connection info)."""

    container = "json"

    def _coerce(self, attr: str, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise ValueError(f"A dict is required in field {attr}, not a "
                             f"{type(value).__name__}")
        return dict(value)
