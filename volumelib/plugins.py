"""The one plugin loader: volume drivers, stores and image-cache drivers alike.

A plugin is named by an entry point in its namespace (``file``, ``dbms``,
``sqlite``...) or by a dotted class path (``mypkg.drivers.MyDriver`` or
``mypkg.drivers:MyDriver``). Loading follows stevedore's ``DriverManager`` with a
failure callback that raises, so a plugin never fails quietly:

* an unknown name raises the caller's error listing the names that are available;
* a plugin that cannot be imported raises it with the import error as its cause
  (and, for a known optional plugin, what to install);
* something that is not a subclass of the expected base raises it too.

Nothing is imported until a plugin is asked for.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Mapping
from typing import TypeVar

from volumelib import exceptions as exc

__all__ = ["available", "load_class", "ErrorFactory"]

LOG = logging.getLogger(__name__)

T = TypeVar("T")

#: ``error(reason_or_None, name, available)`` -> the exception to raise.
ErrorFactory = Callable[[str | None, object, str], exc.VolumelibError]


def available(namespace: str) -> list[str]:
    """Names registered in the entry-point ``namespace``, sorted."""
    # importlib.metadata (zipfile, email, csv...) loads with the first plugin, not
    # with the library: it is a tenth of `import volumelib`.
    from importlib import metadata
    return sorted({ep.name for ep in metadata.entry_points(group=namespace)})


def load_class(namespace: str, name: object, *, base: type[T], error: ErrorFactory,
               hints: Mapping[str, str] | None = None,
               adapt: Callable[[str, object], object] | None = None) -> type[T]:
    """The class ``name`` stands for: an entry point of ``namespace`` or a dotted path.

    Args:
        namespace: the entry-point group (``volumelib.drivers``...).
        name: an entry-point name or a dotted class path.
        base: the class the plugin must derive from.
        error: builds the exception to raise (see :data:`ErrorFactory`).
        hints: for known optional plugins, what they need installed.
        adapt: ``adapt(name, found)`` may replace what a dotted path names before it
            is checked (the drivers' way to run a Cinder driver class).

    Raises:
        whatever ``error`` builds: unknown name, import failure (chained), not a
        ``base`` subclass.
    """
    names = ", ".join(available(namespace)) or "none"
    if not isinstance(name, str) or not name:
        raise error(None, name, names)
    if "." in name or ":" in name:
        cls = _load_dotted(name, error, names)
        if adapt is not None:
            cls = adapt(name, cls)
    else:
        cls = _load_entry_point(namespace, name, error, names, hints or {})
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise error(f"{name!r} is not a {base.__module__}.{base.__qualname__} subclass",
                    name, names)
    return cls


def _load_entry_point(namespace: str, name: str, error: ErrorFactory, names: str,
                      hints: Mapping[str, str]) -> object:
    # stevedore is imported on first use: plugins load lazily, not with the library.
    from stevedore import driver as sd_driver
    from stevedore.exception import NoMatches

    def _raise(manager: object, entrypoint: object, failure: Exception) -> None:
        raise failure

    try:
        return sd_driver.DriverManager(namespace=namespace, name=name,
                                       invoke_on_load=False,
                                       on_load_failure_callback=_raise).driver
    except NoMatches:
        raise error(None, name, names) from None
    except Exception as e:  # noqa: BLE001 - any failure to load is the plugin's, loudly
        reason = f"{name!r} could not be loaded: {type(e).__name__}: {e}"
        if name in hints:
            reason += f"; it needs {hints[name]}"
        raise error(reason, name, names) from e


def _load_dotted(path: str, error: ErrorFactory, names: str) -> object:
    module_name, _, attr = path.replace(":", ".").rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as e:
        raise error(f"{path!r} could not be loaded: {type(e).__name__}: {e}; entry points "
                    f"available: {names}", path, names) from e
