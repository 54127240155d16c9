"""volumelib's field types coerce exactly as oslo.versionedobjects' fields do.

Each value of a table goes through our field and OVO's field of the same kind: both
give the same value of the same type, or both refuse it. (Ours exist so that
``import volumelib`` does not import oslo.utils, oslo.config and oslo.i18n.)
"""

from __future__ import annotations

import datetime

import pytest
from oslo_versionedobjects import fields as ovo

from volumelib import fields as ours

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 12, 5, 10, 11, 12, 345678, tzinfo=UTC)
NAIVE = datetime.datetime(2026, 12, 5, 10, 11, 12, 345678)

PAIRS = [
    (ours.String(), ovo.StringField(), ["x", "", 5, 1.5, True, NOW, None, [], {}, b"x"]),
    (ours.String(nullable=True), ovo.StringField(nullable=True), ["x", None]),
    (ours.String(default="d"), ovo.StringField(default="d"), [None, "x"]),
    (ours.SensitiveString(nullable=True), ovo.SensitiveStringField(nullable=True),
     ["secret", None, 3]),
    (ours.Integer(), ovo.IntegerField(), [5, "5", 5.9, True, "x", None, [], "1.5"]),
    (ours.Integer(default=0), ovo.IntegerField(default=0), [None, 3]),
    (ours.Float(), ovo.FloatField(), [1.5, "2.5", 3, "x", None]),
    (ours.Boolean(), ovo.BooleanField(), [True, False, 0, 1, "", "no", None, []]),
    (ours.Boolean(default=False), ovo.BooleanField(default=False), [None]),
    (ours.UUID(), ovo.UUIDField(), ["0b7ad4c1-0f25-4b3c-9a2c-1c5e6d7f8a9b", None]),
    (ours.DictOfStrings(), ovo.DictOfStringsField(),
     [{"a": "b"}, {"a": 1}, {"a": None}, {}, [], "x", None]),
    (ours.DictOfNullableStrings(), ovo.DictOfNullableStringsField(),
     [{"a": "b"}, {"a": None}, {"a": 2.5}, "x"]),
    (ours.ListOfStrings(), ovo.ListOfStringsField(), [["a", 1], [], ["a", None], "x", {}]),
]


def _outcome(field, value):
    try:
        got = field.coerce(None, "f", value)
    except (ValueError, TypeError):
        return "refused"
    if isinstance(got, dict):
        return ("dict", dict(got))
    if isinstance(got, list):
        return ("list", list(got))
    return (type(got), got)


@pytest.mark.parametrize("mine, theirs, values", PAIRS,
                         ids=[type(p[0]).__name__ for p in PAIRS])
def test_coercion_matches_oslo_versionedobjects(mine, theirs, values):
    import warnings
    for value in values:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # OVO warns on odd UUIDs; ours does not
            assert _outcome(mine, value) == _outcome(theirs, value), value


def test_datetimes_are_aware_and_primitives_keep_microseconds():
    field = ours.DateTime(nullable=True)
    assert field.coerce(None, "t", NAIVE) == NOW
    assert field.coerce(None, "t", NOW.isoformat()) == NOW
    assert field.coerce(None, "t", "2026-12-05T10:11:12.345678Z") == NOW
    assert field.to_primitive(None, "t", NOW) == "2026-12-05T10:11:12.345678+00:00"
    assert field.from_primitive(None, "t", "2026-12-05T10:11:12.345678+00:00") == NOW
    assert field.coerce(None, "t", None) is None
    with pytest.raises(ValueError, match="yesterday"):
        field.coerce(None, "t", "yesterday")
    with pytest.raises(ValueError):
        field.coerce(None, "t", 5)
    # OVO's own: the same instant from an aware datetime.
    assert ovo.DateTimeField().coerce(None, "t", NOW) == field.coerce(None, "t", NOW)


def test_containers_keep_coercing_what_is_put_in_them():
    meta = ours.DictOfStrings().coerce(None, "metadata", {"a": "b"})
    meta["n"] = 5
    meta.update(m=1.5)
    meta.setdefault("o", 7)
    assert meta == {"a": "b", "n": "5", "m": "1.5", "o": "7"}
    with pytest.raises(ValueError, match="metadata"):
        meta["bad"] = None
    caps = ours.ListOfStrings().coerce(None, "caps", ["a"])
    caps.append(3)
    caps.extend([4])
    caps.insert(0, 5)
    caps[1] = 6
    assert caps == ["5", "6", "3", "4"]
    with pytest.raises(ValueError):
        caps.append([])


def test_json_dicts_take_any_json_value():
    field = ours.JsonDict(nullable=True)
    value = {"a": [1, {"b": None}], "c": True}
    assert field.coerce(None, "connector", value) == value
    with pytest.raises(ValueError):
        field.coerce(None, "connector", [1])


def test_import_volumelib_does_not_import_oslo_versionedobjects():
    import subprocess
    import sys
    code = ("import sys, volumelib; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('oslo_versionedobjects', 'oslo_utils', 'oslo_i18n')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"
