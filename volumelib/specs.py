"""Cinder's extra-spec syntax, parsed in one place.

Volume types, group types and pool capabilities speak Cinder's spec language: keys
map to strings such as ``"<is> True"``, ``"<or> a <or> b"``, ``">= 10"`` or plain text.
Everything in volumelib that reads a spec goes through this module, so a spec means
the same thing to ``create_volume`` (``multiattach``), to groups
(``consistent_group_snapshot_enabled``) and to placement:

* ``"<is> True"`` / ``"<is> False"`` (also ``true``/``false``, ``1``/``0``,
  ``yes``/``no``, ``on``/``off``, any case, with or without ``<is>``): a boolean. A
  boolean spec that says anything else is refused (``InvalidArgument``), never read
  as false;
* ``"<in> text"``: the capability (a string) contains ``text``;
* ``"<or> a <or> b"``: equal to one of them;
* ``"== 10"``, ``"!= 10"``, ``">= 10"``, ``"<= 10"``, ``"> 10"``, ``"< 10"``: numbers;
* ``"s== x"``, ``"s!= x"``: strings;
* anything else: equal as text (``"True"`` equals a true capability).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from volumelib import exceptions as exc

__all__ = ["POOL_NAME_PATTERN", "as_bool", "as_number", "as_text", "parse_bool",
           "spec_is_true", "match_spec", "validate_specs", "check_group_specs"]

#: The extra spec holding a glob that pool names must match (see placement).
POOL_NAME_PATTERN = "pool_name_pattern"

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})

NUMERIC_OPS: dict[str, Callable[[float, float], bool]] = {
    "==": lambda a, b: a == b, "!=": lambda a, b: a != b,
    ">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b, "<": lambda a, b: a < b,
}


def as_bool(value: Any) -> bool | None:
    """A capability's value as a boolean (``None`` when it is not one)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE or text == "":
            return False
    return None


def as_number(value: Any) -> float | None:
    """A capability's value as a number (``None`` when it is not one)."""
    if isinstance(value, bool):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def as_text(value: Any) -> str:
    """A capability's value as Cinder compares it as text (``True``, not ``true``)."""
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)


def parse_bool(spec: Any, *, key: str = "spec") -> bool:
    """A boolean spec (``"<is> True"``, ``"False"``, ``True``...) as a ``bool``.

    Raises:
        InvalidArgument: anything that is not a boolean spec (``"<is> maybe"``, ``5``),
            naming ``key`` and the value.
    """
    if isinstance(spec, bool):
        return spec
    if isinstance(spec, str):
        text = spec.strip()
        if text[:4].lower() == "<is>":
            text = text[4:].strip()
        text = text.lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise exc.InvalidArgument(reason=f"{key} needs a boolean spec ('<is> True' or "
                                     f"'<is> False'), not {spec!r:.60}")


def spec_is_true(specs: Mapping[str, Any], key: str) -> bool:
    """Whether boolean spec ``key`` of ``specs`` is true (absent or ``None``: false).

    Raises:
        InvalidArgument: the spec is present and not a boolean spec.
    """
    value = specs.get(key)
    if value is None:
        return False
    return parse_bool(value, key=key)


def match_spec(capability: Any, spec: Any) -> bool:
    """Whether ``capability`` (what a pool reports) satisfies ``spec`` (Cinder syntax).

    Raises:
        InvalidArgument: a malformed spec (``"<is> maybe"``, ``">= lots"``).
    """
    if isinstance(spec, bool):
        spec = as_text(spec)
    if not isinstance(spec, str):
        spec = str(spec)
    words = spec.split()
    if not words:
        return as_text(capability) == spec
    op = words[0]
    rest = spec.strip()[len(op):].strip()
    if op.lower() == "<is>":
        return as_bool(capability) is parse_bool(spec, key=f"'<is>' spec {spec!r}")
    if op == "<in>":
        return rest in as_text(capability)
    if op == "<or>":
        choices = [c.strip() for c in spec.split("<or>") if c.strip()]
        return as_text(capability) in choices
    if op in ("s==", "s!="):
        return (as_text(capability) == rest) == (op == "s==")
    if op in NUMERIC_OPS:
        want = as_number(rest)
        if want is None:
            raise exc.InvalidArgument(reason=f"{op!r} needs a number: {spec!r}")
        have = as_number(capability)
        return have is not None and NUMERIC_OPS[op](have, want)
    wanted = as_bool(spec) if isinstance(capability, bool) else None
    if wanted is not None:
        return capability is wanted
    return as_text(capability) == spec


def validate_specs(extra_specs: Any, *, what: str = "extra spec") -> dict[str, str]:
    """A volume type's extra specs as a ``str -> str`` dict, every operator well
    formed. A mapping holding an ``extra_specs`` mapping (a type's dict) gives those.
    Booleans become ``"True"``/``"False"``.

    Raises:
        InvalidArgument: not a mapping of strings, or a malformed value
            (``"<is> maybe"``, ``">= lots"``, an empty ``pool_name_pattern``).
    """
    if extra_specs is None:
        return {}
    if not isinstance(extra_specs, Mapping):
        raise exc.InvalidArgument(reason=f"{what}s must be a mapping, not "
                                         f"{extra_specs!r:.60}")
    inner = extra_specs.get("extra_specs")
    if isinstance(inner, Mapping):
        extra_specs = inner
    out: dict[str, str] = {}
    for key, value in extra_specs.items():
        if not isinstance(key, str) or not key:
            raise exc.InvalidArgument(reason=f"{what} key {key!r:.60} must be a "
                                             f"non-empty string")
        if isinstance(value, bool):
            value = as_text(value)
        if not isinstance(value, str):
            raise exc.InvalidArgument(reason=f"{what} {key!r} must be a string, "
                                             f"not {value!r:.60} (in {extra_specs!r:.80})")
        try:
            match_spec("", value)  # raises for a malformed operator
        except exc.InvalidArgument as e:
            raise exc.InvalidArgument(reason=f"{what} {key!r}: {e.reason}") from None
        if key == POOL_NAME_PATTERN and not value.strip():
            raise exc.InvalidArgument(reason=f"{POOL_NAME_PATTERN} must not be empty")
        out[key] = value
    return out


def check_group_specs(group_type: Any) -> dict[str, str]:
    """A group type's specs as a plain ``str -> str`` dict (a mapping holding a
    ``group_specs`` mapping gives those).

    Raises:
        InvalidArgument: not a mapping of strings, or a malformed boolean spec
            (``consistent_group_snapshot_enabled``).
    """
    if group_type is None:
        return {}
    if not isinstance(group_type, Mapping):
        raise exc.InvalidArgument(reason=f"group_type must be a mapping of specs, "
                                         f"not {group_type!r:.60}")
    inner = group_type.get("group_specs")
    specs = inner if isinstance(inner, Mapping) else group_type
    bad = {k: v for k, v in specs.items() if not isinstance(k, str) or not isinstance(v, str)}
    if bad:
        raise exc.InvalidArgument(reason=f"group type specs must map strings to strings: "
                                         f"{bad!r:.80}")
    out = dict(specs)
    spec_is_true(out, "consistent_group_snapshot_enabled")  # refuse "<is> maybe" now
    return out
