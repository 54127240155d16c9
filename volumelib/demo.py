"""``volumelib demo``: one real volume through its whole life, step by step.

File driver, SQLite persistence, in a work directory (a temp dir by default, removed
at the end unless ``--keep``). As root the data is written and verified through a
real loop device; otherwise through the volume files, and the attach step says why
it was skipped.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any, TextIO

import volumelib
from volumelib.drivers.types import Capability

__all__ = ["run"]

MiB = 1024 ** 2
PATTERN_A = hashlib.sha256(b"volumelib demo A").digest() * (MiB // 32)
PATTERN_B = hashlib.sha256(b"volumelib demo B").digest() * (MiB // 32)
OFFSET = 64 * MiB


class _Steps:
    def __init__(self, out: TextIO, fmt: str) -> None:
        self.out = out
        self.fmt = fmt
        self.n = 0
        self.results: list[dict[str, Any]] = []

    def __call__(self, title: str, func: Callable[[], Any]) -> Any:
        self.n += 1
        start = time.perf_counter()
        result = func()
        elapsed = time.perf_counter() - start
        detail = result if isinstance(result, str) else ""
        self.results.append({"step": self.n, "title": title, "seconds": round(elapsed, 4),
                             "detail": detail})
        if self.fmt == "text":
            line = f"[{self.n:2}] {title:<52} {elapsed * 1000:8.1f} ms"
            self.out.write(line + (f"  {detail}" if detail else "") + "\n")
            self.out.flush()
        return result


def _device_io(vol: Any, write: bytes | None, offset: int, length: int) -> bytes:
    """Write and/or read through a real attach (loop device) of ``vol``."""
    conn = vol.attach()
    try:
        fd = os.open(conn.path, os.O_RDWR)
        try:
            if write is not None:
                os.pwrite(fd, write, offset)
                os.fsync(fd)
            return os.pread(fd, length, offset)
        finally:
            os.close(fd)
    finally:
        vol.detach()


def _file_io(backend: Any, vol: Any, write: bytes | None, offset: int, length: int) -> bytes:
    path = backend.driver.volume_path(vol.id)
    fd = os.open(path, os.O_RDWR)
    try:
        if write is not None:
            os.pwrite(fd, write, offset)
            os.fsync(fd)
        return os.pread(fd, length, offset)
    finally:
        os.close(fd)


def run(workdir: str | None = None, keep: bool = False, size_gb: int = 1,
        fmt: str = "text", out: TextIO | None = None) -> int:
    """Run the demo. Returns a process exit code (0: every check passed)."""
    out = out or sys.stdout
    own_dir = workdir is None
    workdir = workdir or tempfile.mkdtemp(prefix="volumelib-demo-")
    os.makedirs(workdir, exist_ok=True)
    db_path = os.path.join(workdir, "volumelib.sqlite")
    step = _Steps(out, fmt)
    backend = None
    try:
        step("set up SQLite persistence", lambda: volumelib.setup(
            persistence_config={"storage": "dbms", "connection": f"sqlite:///{db_path}"})
            and db_path)
        backend = step("set up the file backend", lambda: volumelib.Backend(
            volume_backend_name="demo", volume_driver="file",
            file_root=os.path.join(workdir, "volumes")))
        caps = sorted(str(c) for c in backend.capabilities)
        if fmt == "text":
            out.write(f"     capabilities: {', '.join(caps)}\n")
        vol = step(f"create a {size_gb} GiB volume", lambda: backend.create_volume(
            size_gb, name="demo-data", metadata={"purpose": "demo"}))
        attach = Capability.LOCAL_ATTACH in backend.capabilities

        def io(v: Any, data: bytes | None, length: int = len(PATTERN_A)) -> bytes:
            if attach:
                return _device_io(v, data, OFFSET, length)
            return _file_io(backend, v, data, OFFSET, length)

        how = "through a loop device" if attach else \
            "into the volume file (attach needs root: skipped)"

        def write_a() -> str:
            io(vol, PATTERN_A)
            return how
        step("write 1 MiB pattern A " + ("(attach)" if attach else "(file)"), write_a)
        snap = step("snapshot the volume", lambda: vol.create_snapshot(name="demo-snap"))
        step("overwrite the volume with pattern B", lambda: io(vol, PATTERN_B) and how)
        clone = step("clone the snapshot into a 2 GiB volume",
                     lambda: snap.create_volume(name="demo-clone", size=size_gb + 1))

        def verify() -> str:
            got_clone = io(clone, None)
            got_vol = io(vol, None)
            if got_clone != PATTERN_A or got_vol != PATTERN_B:
                raise AssertionError("data mismatch: the clone must hold pattern A and the "
                                     "volume pattern B")
            return "clone holds A, volume holds B: byte for byte"
        step("verify the clone's bytes", verify)
        step(f"extend the volume to {size_gb + 2} GiB",
             lambda: f"{vol.extend(size_gb + 2)} bytes")
        if attach:
            def attached_size() -> str:
                conn = vol.attach()
                try:
                    fd = os.open(conn.path, os.O_RDONLY)
                    try:
                        size = os.lseek(fd, 0, os.SEEK_END)
                    finally:
                        os.close(fd)
                finally:
                    vol.detach()
                return f"{conn.path} is {size} bytes"
            step("attach again and read the device size", attached_size)
        step("show backend stats", lambda: json.dumps(
            {k: backend.stats(refresh=True)["pools"][0][k]
             for k in ("total_volumes", "provisioned_capacity_gb", "free_capacity_gb")}))
        step("delete the clone, the snapshot and the volume",
             lambda: (clone.delete(), snap.delete(), vol.delete()) and "")

        def check_empty() -> str:
            left = backend.volumes
            files = [f for d in ("volumes", "snapshots")
                     for f in os.listdir(os.path.join(workdir, "volumes", d))]
            if left or files:
                raise AssertionError(f"left behind: records {left}, files {files}")
            return "no records, no files"
        step("check nothing is left", check_empty)
    except Exception as e:  # noqa: BLE001 - the demo reports and fails
        if fmt == "text":
            out.write(f"FAILED: {type(e).__name__}: {e}\n")
        else:
            out.write(json.dumps({"ok": False, "error": f"{type(e).__name__}: {e}",
                                  "steps": step.results}) + "\n")
        return 1
    finally:
        if backend is not None:
            backend.close()
        volumelib.get_persistence().close()
        volumelib.setup()
        if own_dir and not keep:
            shutil.rmtree(workdir, ignore_errors=True)
    if fmt == "json":
        out.write(json.dumps({"ok": True, "steps": step.results}) + "\n")
    else:
        out.write("demo finished: every check passed\n")
    return 0
