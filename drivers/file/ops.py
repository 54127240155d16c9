"""The file driver's operation decorator: DEBUG lines with ids around every driver
call, and OS or subprocess failures turned into ``BackendError`` with their stderr
(the shared mechanics are :func:`volumelib.drivers.boundary.driver_operation`)."""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Callable
from typing import Any, TypeVar

from volumelib import exceptions as exc
from volumelib.drivers.boundary import driver_operation

__all__ = ["_operation"]

LOG = logging.getLogger("volumelib.drivers.file.driver")

_F = TypeVar("_F", bound=Callable[..., Any])


def _failure(e: BaseException) -> str:
    """A one-line reason for an OS or subprocess failure, with the command's stderr."""
    if isinstance(e, (subprocess.CalledProcessError, subprocess.TimeoutExpired)):
        cmd = " ".join(map(str, e.cmd)) if isinstance(e.cmd, (list, tuple)) else str(e.cmd)
        if isinstance(e, subprocess.TimeoutExpired):
            return f"{cmd} did not finish within {e.timeout} s"
        stderr = e.stderr if isinstance(e.stderr, str) else ""
        return f"{cmd} exited with {e.returncode}: {stderr.strip() or 'no error output'}"
    return str(e)


def _translate(driver: Any, name: str, e: BaseException) -> exc.VolumelibError:
    return exc.BackendError(backend_name=driver.backend_name, operation=name,
                            reason=_failure(e))


def _operation(name: str) -> Callable[[_F], _F]:
    """Log a driver method at DEBUG with the ids it works on, and turn OS and
    subprocess failures into ``BackendError`` (``raise ... from``); volumelib's own
    exceptions pass through unchanged."""
    return driver_operation(name, errors=(OSError, ValueError, subprocess.SubprocessError),
                            translate=_translate, logger=LOG)
