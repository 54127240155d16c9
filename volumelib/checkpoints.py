"""Named points in operations where fault tests can pause or crash a process.

Every operation marks its steps (``"volume.create.intent_stored"``,
``"volume.create.driver_done"``...) with :func:`checkpoint`, which costs nothing unless
a hook is set. The crash-consistency tests run real operations in a child process
that SIGKILLs itself at one named checkpoint (:func:`crash_at_from_env`), then check
that ``backend.gc()`` in a fresh process reconciles what was left.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

__all__ = ["checkpoint", "set_checkpoint_hook", "crash_at_from_env"]

_hook: Callable[[str], None] | None = None


def set_checkpoint_hook(hook: Callable[[str], None] | None) -> None:
    """Call ``hook(name)`` at every checkpoint (``None`` removes it). For fault tests."""
    global _hook
    _hook = hook


def checkpoint(name: str) -> None:
    """Mark a step of an operation. Free when no hook is set."""
    if _hook is not None:
        _hook(name)


def crash_at_from_env() -> None:
    """Install a hook that SIGKILLs this process at ``$VOLUMELIB_CRASH_AT``.

    Used by crash-consistency tests that run real operations in a child process.
    """
    target = os.environ.get("VOLUMELIB_CRASH_AT")
    if not target:
        return

    def _kill_at(name: str) -> None:
        if name == target:
            os.kill(os.getpid(), signal.SIGKILL)

    set_checkpoint_hook(_kill_at)
