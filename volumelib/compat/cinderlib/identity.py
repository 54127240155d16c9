"""The live compat objects of this process: the wrapper classes and the identity map.

Each compat object (``Volume``, ``Snapshot``, ``Connection``) holds a volumelib object
(``obj._vl``). Compat objects are *live*: within a process there is one compat object
per resource id while it is referenced, and reading a resource again
(``backend.volumes``, ``persistence.get_volumes(id)``, ``vol.snapshots``...) hands back
that same object with its fields fresh from the store. So ``vol is snap.volume``,
``attach is vol.local_attach`` and "extend the copy read from the store, see the new
size on the original" hold, as in cinderlib.

This is the bottom of the compat object layer: every module that turns volumelib
objects into compat ones (persistence, backend, resource, connection, objects) imports
it. It knows the compat classes only as they register themselves here when they are
defined (:class:`Wrapper` subclasses with a ``_KIND``), so it imports none of them.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any, ClassVar

from volumelib import exceptions as exc
from volumelib.compat.cinderlib.extras import OvoView

__all__ = ["Wrapper", "wrap", "wrap_all", "unwrap", "adopt", "live", "refresh_live"]

_identity: weakref.WeakValueDictionary[tuple[str, str], Wrapper] = \
    weakref.WeakValueDictionary()
_identity_lock = threading.RLock()
#: volumelib object name -> compat class (filled by the subclasses of Wrapper).
_CLASSES: dict[str, type[Wrapper]] = {}


class Wrapper:
    """A compat object around one volumelib object, ``_vl``.

    A public subclass with a ``_KIND`` is the compat class of the volumelib objects
    of its own name (``Volume`` wraps ``volumelib.Volume``): :func:`wrap` makes it.
    """

    _vl: Any
    _KIND: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__name__.startswith("_") and cls._KIND:
            _CLASSES[cls.__name__] = cls


def wrap(ovo: Any) -> Any:
    """The live compat object for a volumelib object (``None`` stays ``None``).

    An object already live in this process is returned with ``ovo`` (fresher, just
    read) as its volumelib object.

    Raises:
        InvalidArgument: no compat class wraps that kind of object.
    """
    if ovo is None:
        return None
    cls = _CLASSES.get(ovo.OBJ_NAME)
    if cls is None:
        raise exc.InvalidArgument(reason=f"no cinderlib class for {ovo.OBJ_NAME}")
    key = (cls.__name__, ovo.id)
    with _identity_lock:
        obj = _identity.get(key)
        if obj is None:
            obj = cls.__new__(cls)
            obj._vl = ovo
            _identity[key] = obj
        elif obj._vl is not ovo:
            obj._vl = ovo
    return obj


def adopt(obj: Wrapper) -> None:
    """Make ``obj`` (built by a compat constructor) the live object of its id."""
    with _identity_lock:
        _identity[(type(obj).__name__, obj._vl.id)] = obj


def wrap_all(ovos: list[Any]) -> list[Any]:
    """:func:`wrap` of each volumelib object."""
    return [wrap(o) for o in ovos]


def unwrap(obj: Any) -> Any:
    """The volumelib object behind a compat object or an ``_ovo`` view (volumelib
    objects pass through)."""
    if isinstance(obj, Wrapper):
        return obj._vl
    if isinstance(obj, OvoView):
        return obj.vl_object
    return obj


def live(cls_name: str, obj_id: str | None) -> Any:
    """The live compat object of that class and id, if there is one."""
    return None if obj_id is None else _identity.get((cls_name, obj_id))


def refresh_live(cls_name: str, obj_id: str | None) -> None:
    """Re-read a live compat object after another object changed it in the store."""
    obj = live(cls_name, obj_id)
    if obj is not None:
        try:
            obj._vl.refresh()
        except exc.NotFound:
            pass
