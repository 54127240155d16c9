"""Helpers the bundled drivers share: id checks and the operation decorator.

* :func:`is_canonical_uuid` / :func:`check_id`: volumelib ids are canonical lowercase
  UUIDs; a driver that builds file or image names from ids checks them first, so an
  id can never name something outside the driver's own namespace.
* :func:`check_group_sources`: the argument checks of
  ``create_consistencygroup_from_src``, done before anything is created.
* :func:`driver_operation`: logs a driver method at DEBUG with the ids it works on
  (entry and duration) and turns a backend's own failures into volumelib exceptions
  at the boundary (``raise ... from``); volumelib's exceptions pass through unchanged.
  Each driver gives the exception types it translates and how.
* :func:`reference_value`, :func:`gib_rounded_up`, :func:`manageable_entry` and
  :func:`paginate_manageable`: what ``get_manageable_volumes`` and
  ``manage_existing`` of every driver need (Cinder's reference and listing shapes).

Nothing here imports a storage library; a driver module does that itself.
"""

from __future__ import annotations

import functools
import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from volumelib import exceptions as exc
from volumelib.drivers.types import SnapshotInfo, VolumeInfo

__all__ = ["is_canonical_uuid", "check_id", "describe_arg", "driver_operation",
           "check_group_sources", "REFERENCE_KEYS", "reference_value", "gib_rounded_up",
           "manageable_entry", "paginate_manageable", "GiB"]

GiB = 1024 ** 3

#: The keys a manage reference may have (Cinder's).
REFERENCE_KEYS = ("source-name", "source-id")

_F = TypeVar("_F", bound=Callable[..., Any])

#: ``translate(driver, operation_name, error)`` -> the volumelib exception to raise.
Translator = Callable[[Any, str, BaseException], exc.VolumelibError]


def is_canonical_uuid(value: object) -> bool:
    """Whether ``value`` is a UUID string in canonical form (lowercase, hyphenated)."""
    if not isinstance(value, str):
        return False
    try:
        return str(uuid.UUID(value)) == value
    except (ValueError, TypeError, AttributeError):
        return False


def check_id(value: object) -> str:
    """``value`` itself when it is a canonical UUID.

    Raises:
        InvalidId: anything else (the message names the value).
    """
    if not is_canonical_uuid(value):
        raise exc.InvalidId(id=value, reason="must be a canonical lowercase UUID")
    return value  # type: ignore[return-value]


def check_group_sources(volumes: Sequence[VolumeInfo],
                        cgsnapshot: Mapping[str, Any] | None,
                        snapshots: Sequence[SnapshotInfo] | None,
                        source_cg: Mapping[str, Any] | None,
                        source_vols: Sequence[VolumeInfo] | None
                        ) -> list[SnapshotInfo] | list[VolumeInfo]:
    """The sources of ``create_consistencygroup_from_src``, one per volume: the
    ``snapshots`` of ``cgsnapshot`` if given, else the ``source_vols`` of ``source_cg``.

    Raises:
        InvalidArgument: neither ``cgsnapshot`` nor ``source_cg``, or not as many
            sources as ``volumes``.
    """
    sources: list[SnapshotInfo] | list[VolumeInfo]
    if cgsnapshot is not None:
        sources = list(snapshots or ())
    elif source_cg is not None:
        sources = list(source_vols or ())
    else:
        raise exc.InvalidArgument(reason="create_consistencygroup_from_src needs a "
                                         "cgsnapshot or a source_cg")
    if len(sources) != len(volumes):
        raise exc.InvalidArgument(reason=f"{len(volumes)} volumes for {len(sources)} "
                                         f"sources; they must line up")
    return sources


def describe_arg(arg: object) -> str:
    """A short description of a driver-call argument for DEBUG lines (ids, no data)."""
    if isinstance(arg, VolumeInfo):
        return f"volume {arg.id} ({arg.size} GiB)"
    if isinstance(arg, SnapshotInfo):
        return f"snapshot {arg.id} of volume {arg.volume.id}"
    if isinstance(arg, Mapping):  # a group or a group snapshot (which has a group_id)
        return f"group{' snapshot' if 'group_id' in arg else ''} {arg.get('id')}"
    return repr(arg)


def driver_operation(name: str, *, errors: tuple[type[BaseException], ...],
                     translate: Translator, logger: logging.Logger,
                     passthrough: tuple[type[BaseException], ...] = ()
                     ) -> Callable[[_F], _F]:
    """Decorate driver method ``name``: DEBUG lines with its ids, ``errors`` translated.

    Args:
        name: the operation's name in log lines and in the translated exception.
        errors: the exception types ``translate`` turns into volumelib exceptions;
            others propagate unchanged.
        translate: ``translate(driver, name, error)`` -> the exception to raise.
        logger: the driver's logger (the DEBUG lines are its own).
        passthrough: types re-raised as they are even if they are in ``errors``
            (``NotImplementedError`` for the library's group fallback, for example).
    """
    keep = (exc.VolumelibError, *passthrough)

    def decorate(fn: _F) -> _F:
        @functools.wraps(fn)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            ids = ", ".join(describe_arg(a) for a in (*args, *kwargs.values())
                            if isinstance(a, (VolumeInfo, SnapshotInfo, int, Mapping)))
            logger.debug("%s: %s(%s)", self.backend_name, name, ids)
            started = time.monotonic()
            try:
                result = fn(self, *args, **kwargs)
            except keep:
                raise
            except errors as e:
                raise translate(self, name, e) from e
            logger.debug("%s: %s(%s) done in %.3f s", self.backend_name, name, ids,
                         time.monotonic() - started)
            return result

        return wrapper  # type: ignore[return-value]

    return decorate


# -- manage: references and listings (Cinder's shapes) --------------------------------

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
