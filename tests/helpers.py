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


def pwrite(path: str, offset: int, data: bytes) -> None:
    """Write ``data`` at ``offset`` into a file or device and fsync it."""
    fd = os.open(path, os.O_WRONLY)
    try:
        assert os.pwrite(fd, data, offset) == len(data)
        os.fsync(fd)
    finally:
        os.close(fd)


def pread(path: str, offset: int, length: int) -> bytes:
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.pread(fd, length, offset)
    finally:
        os.close(fd)


def same_raw_data(reference: str, path: str, timeout: int = 300) -> None:
    """Assert two raw images (files or devices) hold the same bytes (``qemu-img compare``)."""
    import subprocess
    result = subprocess.run(["qemu-img", "compare", "-f", "raw", "-F", "raw", reference, path],
                            capture_output=True, text=True, timeout=timeout, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
