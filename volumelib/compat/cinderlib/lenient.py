"""Where cinderlib accepted input volumelib's native API refuses, and the compat layer
must accept it too (compatibility shims; the native API stays strict).

Each rule is here because a real cinderlib client sends such input:

* :func:`integral_size`: Ember-CSI computes sizes from bytes (``size=1.0``); Cinder's
  integer OVO fields took ``1.0``. Only integral floats pass: ``1.5`` is still refused
  (Cinder truncated it to 1 GiB, a smaller volume than asked for).
* :func:`drop_falsy`: cinderlib's stores ignored falsy listing filters
  (``get_snapshots(snapshot_id='', volume_id=vid)``, as ember sends them).
* :func:`volume_kwargs`: ``clone`` and ``Snapshot.create_volume`` take what
  ``Backend.create_volume`` takes, ``multiattach`` and (empty) ``qos_specs`` included:
  ember passes the same parameters to all three.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from volumelib import exceptions as exc

__all__ = ["integral_size", "drop_falsy", "check_kwargs", "volume_kwargs",
           "refuse_qos_specs", "MULTIATTACH_SPEC"]

LOG = logging.getLogger(__name__)

MULTIATTACH_SPEC = "multiattach"


def integral_size(value: Any) -> Any:
    """``int(value)`` for a float with an integral value (``1.0``); anything else is
    returned unchanged, for volumelib's own check to accept or refuse (``1.5``,
    ``"1"``, ``True`` are refused there with the value in the message)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def drop_falsy(**filters: Any) -> dict[str, Any]:
    """The filters with a truthy value (cinderlib ignored ``''`` and ``None``)."""
    return {k: v for k, v in filters.items() if v}


def check_kwargs(what: str, kwargs: Mapping[str, Any], allowed: set[str]) -> None:
    """Raise ``InvalidArgument`` naming the keywords volumelib has no equivalent for."""
    unknown = sorted(set(kwargs) - allowed)
    if unknown:
        raise exc.InvalidArgument(
            reason=f"{what}: volumelib has no equivalent for {', '.join(unknown)} "
                   f"(accepted: {', '.join(sorted(allowed))})")


def refuse_qos_specs(kwargs: dict[str, Any], what: str, driver: str) -> None:
    """Drop an empty ``qos_specs``; refuse a non-empty one (volumelib types carry no
    QoS on create).

    Raises:
        NotSupported: ``qos_specs`` is not empty.
    """
    qos = kwargs.pop("qos_specs", None)
    if qos:
        raise exc.NotSupported(operation=f"qos_specs on {what} ({qos!r:.60})", driver=driver)


def _specs_of(source_specs: Mapping[str, Any] | None, volume_type: Any) -> dict[str, Any]:
    if volume_type is None:
        return dict(source_specs or {})
    return dict(volume_type)


def volume_kwargs(what: str, kwargs: dict[str, Any],
                  source_specs: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``clone``/``create_volume`` keywords in cinderlib's spelling -> volumelib's.

    ``size`` may be an integral float; ``extra_specs`` becomes a volume type of those
    specs; ``multiattach`` becomes the type's ``multiattach`` spec (the new volume's
    type is the source's when none is given, as in cinderlib, which copied it).

    Raises:
        InvalidArgument: ``extra_specs`` and ``volume_type`` both given; ``multiattach``
            not a bool, or given with a named volume type.
    """
    kwargs = dict(kwargs)
    if "size" in kwargs:
        kwargs["size"] = integral_size(kwargs["size"])
    specs = kwargs.pop("extra_specs", None)
    if specs is not None:
        if kwargs.get("volume_type") is not None:
            raise exc.InvalidArgument(reason="give extra_specs or volume_type, not both")
        if not isinstance(specs, Mapping):
            raise exc.InvalidArgument(reason=f"{what}: extra_specs must be a dict, "
                                             f"not {specs!r:.60}")
        kwargs["volume_type"] = dict(specs)
    if "multiattach" not in kwargs:
        return kwargs
    multiattach = kwargs.pop("multiattach")
    if multiattach is None:
        return kwargs
    if not isinstance(multiattach, bool):
        raise exc.InvalidArgument(reason=f"{what}: multiattach must be True or False, "
                                         f"not {multiattach!r:.60}")
    volume_type = kwargs.get("volume_type")
    if volume_type is not None and not isinstance(volume_type, Mapping):
        raise exc.InvalidArgument(
            reason=f"{what}: multiattach={multiattach} with the named volume type "
                   f"{volume_type!r:.60}; put the multiattach spec in the type, or give "
                   f"extra_specs")
    merged = _specs_of(source_specs, volume_type)
    if multiattach:
        merged[MULTIATTACH_SPEC] = "<is> True"
    elif MULTIATTACH_SPEC in merged:
        merged.pop(MULTIATTACH_SPEC)
    elif volume_type is None:
        return kwargs  # nothing asked beyond the source's own type
    kwargs["volume_type"] = merged
    return kwargs
