"""What every driver's manage-existing methods need: Cinder's reference and listing
shapes.

:func:`reference_value` reads a reference (``{"source-name": ...}`` or
``{"source-id": ...}``); :func:`gib_rounded_up` sizes an adopted object as Cinder
does; :func:`manageable_entry` and :func:`paginate_manageable` build and page the
entries of ``get_manageable_volumes``/``get_manageable_snapshots``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from volumelib import exceptions as exc

__all__ = ["REFERENCE_KEYS", "reference_value", "gib_rounded_up", "manageable_entry",
           "paginate_manageable", "GiB"]

GiB = 1024 ** 3

#: The keys a manage reference may have (Cinder's).
REFERENCE_KEYS = ("source-name", "source-id")


def reference_value(existing_ref: object, accepted: Sequence[str] = REFERENCE_KEYS
                    ) -> tuple[str, str]:
    """``(key, value)`` of a manage reference: a mapping with exactly one of
    ``accepted`` keys, whose value is a non-empty string without NUL.

    Raises:
        InvalidReference: anything else (the message names the reference and the
            keys this driver takes).
    """
    if not isinstance(existing_ref, Mapping):
        raise exc.InvalidReference(reference=existing_ref,
                                   reason='must be a mapping such as {"source-name": ...}')
    keys = [k for k in existing_ref if k in REFERENCE_KEYS]
    unknown = sorted(str(k) for k in existing_ref if k not in REFERENCE_KEYS)
    if unknown or len(keys) != 1:
        raise exc.InvalidReference(
            reference=dict(existing_ref),
            reason=f"needs exactly one of {', '.join(REFERENCE_KEYS)}"
                   + (f"; unknown key(s) {', '.join(unknown)}" if unknown else ""))
    key = keys[0]
    if key not in accepted:
        raise exc.InvalidReference(reference=dict(existing_ref),
                                   reason=f"this driver takes {', '.join(accepted)}, "
                                          f"not {key}")
    value = existing_ref[key]
    if not isinstance(value, str) or not value or "\0" in value:
        raise exc.InvalidReference(reference=dict(existing_ref),
                                   reason=f"{key} must be a non-empty string")
    return key, value


def gib_rounded_up(size_bytes: int) -> int:
    """``size_bytes`` in whole GiB, rounded up (as Cinder sizes managed volumes); an
    empty object counts as 1 GiB."""
    return max(1, -(-size_bytes // GiB))


def manageable_entry(reference: Mapping[str, str], size_bytes: int, *,
                     reason_not_safe: str | None = None, cinder_id: str | None = None,
                     extra_info: str | None = None,
                     source_reference: Mapping[str, str] | None = None
                     ) -> dict[str, Any]:
    """One entry of ``get_manageable_volumes``/``_snapshots`` in Cinder's shape
    (``source_reference`` only when given: snapshots)."""
    entry: dict[str, Any] = {
        "reference": dict(reference),
        "size": gib_rounded_up(size_bytes),
        "safe_to_manage": reason_not_safe is None,
        "reason_not_safe": reason_not_safe,
        "cinder_id": cinder_id,
        "extra_info": extra_info,
    }
    if source_reference is not None:
        entry["source_reference"] = dict(source_reference)
    return entry


def _ref_key(entry: Mapping[str, Any]) -> tuple[str, str]:
    ref = entry.get("reference") or {}
    return tuple(sorted((str(k), str(v)) for k, v in ref.items()))  # type: ignore[return-value]


def paginate_manageable(entries: Sequence[Mapping[str, Any]], marker: Any,
                        limit: int | None, offset: int = 0,
                        sort_keys: Sequence[str] | None = None,
                        sort_dirs: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Sort, then page, manageable entries as Cinder's API does.

    Args:
        marker: the ``reference`` (dict) of the entry the previous page ended with;
            the page starts after it. An unknown marker gives an empty page.
        limit: page size (``None``: everything).
        offset: entries skipped after the marker.
        sort_keys, sort_dirs: ``reference`` and/or ``size``, each ``asc``/``desc``
            (default: by reference, ascending). Ties are broken by reference.

    Raises:
        InvalidArgument: another sort key or direction, or a negative limit/offset.
    """
    keys = list(sort_keys or ["reference"])
    dirs = list(sort_dirs or ["asc"] * len(keys))
    if len(dirs) < len(keys):
        dirs += [dirs[-1] if dirs else "asc"] * (len(keys) - len(dirs))
    for key, direction in zip(keys, dirs):
        if key not in ("reference", "size") or direction not in ("asc", "desc"):
            raise exc.InvalidArgument(reason=f"manageable listings sort by reference or "
                                             f"size, asc or desc; not {key} {direction}")
    for name, value in (("limit", limit), ("offset", offset)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < 0):
            raise exc.InvalidArgument(reason=f"{name} must be an integer >= 0, "
                                             f"not {value!r}")
    ordered = sorted(entries, key=_ref_key)
    for key, direction in reversed(list(zip(keys, dirs))):  # stable: last key first
        ordered.sort(key=(_ref_key if key == "reference"
                          else lambda e: e.get("size") or 0),
                     reverse=direction == "desc")
    start = 0
    if marker is not None:
        wanted = _ref_key({"reference": marker if isinstance(marker, Mapping)
                           else {"source-name": marker}})
        index = next((i for i, e in enumerate(ordered) if _ref_key(e) == wanted), None)
        if index is None:
            return []
        start = index + 1
    page = ordered[start + (offset or 0):]
    if limit is not None:
        page = page[:limit]
    return [dict(e) for e in page]
