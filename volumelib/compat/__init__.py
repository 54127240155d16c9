"""Compatibility layers for code written against other libraries.

* :mod:`volumelib.compat.cinderlib`: cinderlib 5.x's public surface
  (``import volumelib.compat.cinderlib as cinderlib``).
* :func:`install_cinderlib_alias`: optionally make ``import cinderlib`` resolve to it
  when the real cinderlib is not installed. Off unless called; nothing here runs at
  import.
* :mod:`volumelib.compat.cinderlib_dist`: placeholder ``cinderlib`` and ``cinder``
  distributions that turn the alias on in a whole environment, for programs built on
  cinderlib (Ember-CSI): ``python -m volumelib.compat.cinderlib_dist install``.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import logging
import sys
import threading
import types
from collections.abc import Sequence
from typing import Any

__all__ = ["install_cinderlib_alias", "uninstall_cinderlib_alias"]

LOG = logging.getLogger(__name__)

ALIAS = "cinderlib"
TARGET = "volumelib.compat.cinderlib"

_lock = threading.Lock()


class _AliasLoader(importlib.abc.Loader):
    """Loads ``cinderlib[.x]`` by importing ``volumelib.compat.cinderlib[.x]`` and putting
    that very module in ``sys.modules`` under the alias (one module, two names)."""

    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return None  # a placeholder; exec_module swaps in the real module

    def exec_module(self, module: types.ModuleType) -> None:
        real = importlib.import_module(self.target)
        sys.modules[module.__name__] = real


class _CinderlibAliasFinder(importlib.abc.MetaPathFinder):
    """Resolves ``cinderlib`` and its submodules to the compat layer."""

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: types.ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname != ALIAS and not fullname.startswith(ALIAS + "."):
            return None
        real = TARGET + fullname[len(ALIAS):]
        try:
            if importlib.util.find_spec(real) is None:
                return None
        except ImportError:
            # No such package in the compat layer: let the other finders look (a
            # package mounted under ``cinderlib.``, such as cinderlib's own tests).
            return None
        return importlib.util.spec_from_loader(fullname, _AliasLoader(real))


def _installed() -> _CinderlibAliasFinder | None:
    return next((f for f in sys.meta_path if isinstance(f, _CinderlibAliasFinder)), None)


def _real_cinderlib_importable() -> bool:
    if _installed() is not None:
        return False
    try:
        return importlib.util.find_spec(ALIAS) is not None
    except (ImportError, ValueError):
        return False


def install_cinderlib_alias() -> bool:
    """Make ``import cinderlib`` (and ``cinderlib.cmd.cinder_to_yaml``...) give
    :mod:`volumelib.compat.cinderlib`, unless the real cinderlib is importable.

    Puts a meta-path finder first on ``sys.meta_path`` (it only answers for
    ``cinderlib`` names): submodules must come from the aliased package, not be
    loaded a second time under the alias from its ``__path__``.

    Returns:
        ``True`` if the alias is in place (now or already), ``False`` when the real
        cinderlib is installed (it is left alone).
    """
    with _lock:
        if _installed() is not None:
            return True
        if _real_cinderlib_importable():
            LOG.debug("cinderlib is installed; not aliasing it to %s", TARGET)
            return False
        sys.meta_path.insert(0, _CinderlibAliasFinder())
        LOG.debug("import cinderlib now resolves to %s", TARGET)
        return True


def uninstall_cinderlib_alias() -> None:
    """Remove the alias and forget the aliased modules (``import cinderlib`` fails
    again if there is no real cinderlib). Idempotent."""
    with _lock:
        sys.meta_path[:] = [f for f in sys.meta_path
                            if not isinstance(f, _CinderlibAliasFinder)]
        for name in [n for n in sys.modules if n == ALIAS or n.startswith(ALIAS + ".")]:
            module: Any = sys.modules.get(name)
            if getattr(module, "__name__", "").startswith(TARGET):
                del sys.modules[name]
