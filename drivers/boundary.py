"""The driver boundary the bundled drivers share: id checks, argument checks of the
group interface, and the operation decorator (logging and error translation).

* :func:`is_canonical_uuid` / :func:`check_id`: volumelib ids are canonical lowercase
  UUIDs; a driver that builds file or image names from ids checks them first, so an
  id can never name something outside the driver's own namespace.
* :func:`check_group_sources`: the argument checks of
  ``create_consistencygroup_from_src``, done before anything is created.
* :func:`driver_operation`: logs a driver method at DEBUG with the ids it works on
  (entry and duration) and turns a backend's own failures into volumelib exceptions
  at the boundary (``raise ... from``); volumelib's exceptions pass through unchanged.
  Each driver gives the exception types it translates and how.

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
           "check_group_sources"]

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
