"""Declared driver options: typed, documented, validated, secrets marked.

A driver lists its :class:`Option` objects in ``VolumeDriver.options``. The library
checks what a user passes against them (an unknown key is an error naming the known
ones), coerces strings from ini/YAML files to the declared type, and uses the
declarations to generate documentation and to redact secrets.
"""

from __future__ import annotations

import dataclasses
import math
import types
from collections.abc import Iterable, Mapping
from typing import Any, Callable

from volumelib import exceptions as exc

__all__ = ["Option", "resolve_options"]

_TRUE = {"1", "true", "yes", "on", "y", "t"}
_FALSE = {"0", "false", "no", "off", "n", "f"}


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError("expected a boolean")


def _to_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    raise ValueError("expected a list or a comma separated string")


def _to_int(value: Any) -> int:
    """An ``int``, a string of one (ini/YAML files) or a float with no fraction."""
    if isinstance(value, bool):
        return _raise_type("an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            return _raise_type("an integer")
        return int(value)
    if isinstance(value, str):
        return int(value.strip())
    return _raise_type("an integer")


def _to_float(value: Any) -> float:
    """A finite number, or a string of one."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return _raise_type("a number")
    result = float(value)
    if not math.isfinite(result):
        return _raise_type("a finite number")
    return result


_COERCE: dict[str, Callable[[Any], Any]] = {
    "str": lambda v: v if isinstance(v, str) else _raise_type("a string"),
    "int": _to_int,
    "float": _to_float,
    "bool": _to_bool,
    "list": _to_list,
}


def _raise_type(what: str) -> Any:
    raise ValueError(f"expected {what}")


@dataclasses.dataclass(frozen=True)
class Option:
    """One driver option.

    Attributes:
        name: the keyword users pass to ``Backend(...)``.
        type: one of ``str``, ``int``, ``float``, ``bool``, ``list``.
        default: the value when not given (``None`` with ``required`` means it must be given).
        help: one line for the docs and ``list_supported_drivers``.
        secret: never logged, dumped or shown.
        required: must be given.
        choices: allowed values, if limited.
        min: smallest allowed value for numbers.
    """

    name: str
    type: str = "str"
    default: Any = None
    help: str = ""
    secret: bool = False
    required: bool = False
    choices: tuple[Any, ...] | None = None
    min: float | None = None

    def coerce(self, value: Any, driver: str) -> Any:
        if value is None:
            return None
        shown = "***" if self.secret else repr(value)
        try:
            result = _COERCE[self.type](value)
        except (ValueError, TypeError) as e:
            # The coercion's own message may quote the value: not for a secret.
            why = "expected " + self.type if self.secret else str(e)
            raise exc.InvalidConfig(
                reason=f"option {self.name}={shown} of driver {driver}: {why}") from None
        if self.choices is not None and result not in self.choices:
            raise exc.InvalidConfig(
                reason=f"option {self.name}={shown} of driver {driver}: "
                       f"must be one of {', '.join(map(repr, self.choices))}")
        if self.min is not None and result < self.min:
            raise exc.InvalidConfig(
                reason=f"option {self.name}={shown} of driver {driver}: "
                       f"must be at least {self.min}")
        return result

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type,
                "default": None if self.secret else self.default,
                "help": self.help, "secret": self.secret, "required": self.required,
                "choices": list(self.choices) if self.choices else None}


def resolve_options(declared: Iterable[Option], given: Mapping[str, Any],
                    driver: str) -> types.SimpleNamespace:
    """Check ``given`` against ``declared`` and return the full, typed configuration.

    Raises:
        UnknownOption: a key that no option declares.
        InvalidConfig: a value of the wrong type, out of range, or a missing required one.
    """
    decl = {o.name: o for o in declared}
    unknown = sorted((k for k in given if k not in decl), key=repr)
    if unknown:
        raise exc.UnknownOption(option=unknown[0], driver=driver,
                                known=", ".join(sorted(decl)) or "none")
    values: dict[str, Any] = {}
    for name, opt in decl.items():
        if name in given and given[name] is not None:
            values[name] = opt.coerce(given[name], driver)
        elif opt.required:
            raise exc.InvalidConfig(reason=f"driver {driver} needs option {name}")
        else:
            values[name] = opt.default
    return types.SimpleNamespace(**values)
