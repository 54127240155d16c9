"""Small helpers shared by the tests (not fixtures: plain functions)."""

from __future__ import annotations

import os
import shutil

import pytest


def requires_root() -> None:
    """Skip (fail under CI=true) unless running as root."""
    if os.geteuid() != 0:
        pytest.skip("needs root")


def requires_tool(*names: str) -> None:
    """Skip (fail under CI=true) unless every named program is on PATH."""
    missing = [n for n in names if shutil.which(n) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} on PATH")
