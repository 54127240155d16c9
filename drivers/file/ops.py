"""The file driver's operation decorator: DEBUG lines with ids around every driver
call, and OS or subprocess failures turned into ``BackendError`` with their stderr."""

from __future__ import annotations

import functools
import logging
import subprocess
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from volumelib import exceptions as exc
from volumelib.drivers.types import SnapshotInfo, VolumeInfo

__all__ = ["_operation"]

LOG = logging.getLogger("volumelib.drivers.file.driver")

_F = TypeVar("_F", bound=Callable[..., Any])


def _failure(e: Exception) -> str:
    """A one-line reason for an OS or subprocess failure, with the command's stderr."""
    if isinstance(e, (subprocess.CalledProcessError, subprocess.TimeoutExpired)):
        cmd = " ".join(map(str, e.cmd)) if isinstance(e.cmd, (list, tuple)) else str(e.cmd)
        if isinstance(e, subprocess.TimeoutExpired):
            return f"{cmd} did not finish within {e.timeout} s"
        stderr = e.stderr if isinstance(e.stderr, str) else ""
        return f"{cmd} exited with {e.returncode}: {stderr.strip() or 'no error output'}"
    return str(e)


def _describe(arg: object) -> str:
    if isinstance(arg, VolumeInfo):
        return f"volume {arg.id} ({arg.size} GiB)"
    if isinstance(arg, SnapshotInfo):
        return f"snapshot {arg.id} of volume {arg.volume.id}"
    if isinstance(arg, Mapping):  # a group or a group snapshot (which has a group_id)
        return f"group{' snapshot' if 'group_id' in arg else ''} {arg.get('id')}"
    return repr(arg)


def _operation(name: str) -> Callable[[_F], _F]:
    """Log a driver method at DEBUG with the ids it works on, and turn OS and
    subprocess failures into ``BackendError`` (``raise ... from``); volumelib's own
    exceptions pass through unchanged."""

    def decorate(fn: _F) -> _F:
        @functools.wraps(fn)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            ids = ", ".join(_describe(a) for a in (*args, *kwargs.values())
                            if isinstance(a, (VolumeInfo, SnapshotInfo, int, Mapping)))
            LOG.debug("%s: %s(%s)", self.backend_name, name, ids)
            started = time.monotonic()
            try:
                result = fn(self, *args, **kwargs)
            except exc.VolumelibError:
                raise
            except (OSError, ValueError, subprocess.SubprocessError) as e:
                raise exc.BackendError(backend_name=self.backend_name, operation=name,
                                       reason=_failure(e)) from e
            LOG.debug("%s: %s(%s) done in %.3f s", self.backend_name, name, ids,
                      time.monotonic() - started)
            return result

        return wrapper  # type: ignore[return-value]

    return decorate
