#!/usr/bin/env python3
"""Time ``vol.migrate()`` of a 10 GiB volume holding 1 GiB of data: the reflink path
against the sparse host-assisted copy, and count the bytes read.

Makes the volume on an XFS (``reflink=1``) loop filesystem (needs root) with 1 GiB
written in 8 MiB chunks spread evenly over it, then, ``--runs`` times each (median):

* ``reflink``: to a file backend in another root of the same XFS: the file driver's
  own migration (``FICLONE``), no data read;
* ``sparse_host``: to a file backend on ext4 (a directory under ``--workdir``): the
  library's host-assisted copy through loop devices, reading only the allocated
  extents (``SEEK_DATA``/``SEEK_HOLE``), skipping zeros, then reading the copy back to
  verify it;
* ``sparse_host_no_verify``: the same without the verification.

The volume is moved back between runs (not timed) and the source's page cache dropped
(``posix_fadvise DONTNEED``) before each. Every run checks the data on the target
(a SHA-256 of the written chunks). Prints one JSON line per path::

    {"bench": "migrate_10g_1g", "path": "reflink", "seconds": 0.01, "bytes_read": 0,
     "storage_read_bytes": 0, ...}

``bytes_read`` is the library's count (source extents plus verification);
``storage_read_bytes`` is this process's ``read_bytes`` from ``/proc/self/io`` during
the run (what the block layer fetched for it; page-cache hits do not count).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import volumelib
from volumelib.drivers.file import loop
from volumelib.testing.loopfs import detach_loop_devices_under, loop_filesystem

MiB = 1024 ** 2
GiB = 1024 ** 3
CHUNK = 8 * MiB


def _fstype(path: str) -> str:
    return subprocess.run(["findmnt", "-n", "-o", "FSTYPE", "-T", path], check=True,
                          capture_output=True, text=True, timeout=30).stdout.strip()


def _chunks(size: int, data: int) -> list[int]:
    count = data // CHUNK
    stride = size // count
    return [i * stride for i in range(count)]


def _write_data(path: str, offsets: list[int]) -> str:
    """Write an 8 MiB chunk at each offset; returns their SHA-256."""
    blocks = [os.urandom(CHUNK) for _ in range(4)]
    digest = hashlib.sha256()
    fd = os.open(path, os.O_WRONLY)
    try:
        for i, offset in enumerate(offsets):
            os.pwrite(fd, blocks[i % len(blocks)], offset)
            digest.update(blocks[i % len(blocks)])
        os.fsync(fd)
    finally:
        os.close(fd)
    return digest.hexdigest()


def _digest(path: str, offsets: list[int]) -> str:
    digest = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY)
    try:
        for offset in offsets:
            digest.update(os.pread(fd, CHUNK, offset))
    finally:
        os.close(fd)
    return digest.hexdigest()


def _drop_cache(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _read_bytes() -> int:
    with open("/proc/self/io", encoding="ascii") as f:
        for line in f:
            if line.startswith("read_bytes:"):
                return int(line.split()[1])
    return 0


def _run(vol: Any, source: Any, target: Any, offsets: list[int], expected: str,
         **options: Any) -> dict[str, Any]:
    _drop_cache(source.driver.volume_path(vol.id))
    before = _read_bytes()
    started = time.perf_counter()
    result = vol.migrate(target, **options)
    seconds = time.perf_counter() - started
    storage_read = _read_bytes() - before
    if _digest(target.driver.volume_path(vol.id), offsets) != expected:
        raise SystemExit(f"the data of volume {vol.id} on {target.id} is not what was written")
    return {"seconds": seconds, "method": result.method, "bytes_read": result.bytes_read,
            "data_bytes": result.data_bytes, "bytes_written": result.bytes_written,
            "verified": result.verified, "storage_read_bytes": storage_read}


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out = dict(runs[len(runs) // 2])
    out["seconds"] = round(statistics.median(r["seconds"] for r in runs), 4)
    out["seconds_min"] = round(min(r["seconds"] for r in runs), 4)
    out["seconds_max"] = round(max(r["seconds"] for r in runs), 4)
    out["storage_read_bytes"] = int(statistics.median(r["storage_read_bytes"] for r in runs))
    return out


def bench(xfs: str, ext4: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    volumelib.setup()
    thin = {"volume_driver": "file", "max_over_subscription_ratio": 20.0}
    a = volumelib.Backend("bench-xfs-a", file_root=os.path.join(xfs, "a"), **thin)
    b = volumelib.Backend("bench-xfs-b", file_root=os.path.join(xfs, "b"), **thin)
    e = volumelib.Backend("bench-ext4", file_root=os.path.join(ext4, "root"), **thin)
    try:
        vol = a.create_volume(args.size_gib, name="bench")
        offsets = _chunks(args.size_gib * GiB, args.data_gib * GiB)
        expected = _write_data(a.driver.volume_path(vol.id), offsets)
        paths: dict[str, list[dict[str, Any]]] = {"reflink": [], "sparse_host": [],
                                                  "sparse_host_no_verify": []}
        for _ in range(args.runs):
            paths["reflink"].append(_run(vol, a, b, offsets, expected))
            vol.migrate(a)  # back (a reflink too), not timed
            paths["sparse_host"].append(_run(vol, a, e, offsets, expected))
            vol.migrate(a)
            paths["sparse_host_no_verify"].append(_run(vol, a, e, offsets, expected,
                                                       verify=False))
            vol.migrate(a)
        vol.delete()
    finally:
        for backend in (a, b, e):
            backend.close()
    lines = []
    for path, runs in paths.items():
        line = {"bench": f"migrate_{args.size_gib}g_{args.data_gib}g", "path": path,
                "volume_gib": args.size_gib, "data_gib": args.data_gib, "runs": args.runs,
                "source_fs": "xfs", "target_fs": "xfs" if path == "reflink" else _fstype(ext4)}
        line.update(_median(runs))
        lines.append(line)
    return lines


@contextlib.contextmanager
def _ext4_dir(workdir: str) -> Iterator[str]:
    directory = tempfile.mkdtemp(prefix="volumelib-bench-", dir=workdir)
    try:
        yield directory
    finally:
        if loop.available():
            detach_loop_devices_under(directory)
        shutil.rmtree(directory, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-gib", type=int, default=10, help="volume size (GiB)")
    parser.add_argument("--data-gib", type=int, default=1, help="data written (GiB)")
    parser.add_argument("--runs", type=int, default=3, help="runs per path (median)")
    parser.add_argument("--workdir", default="/var/tmp",
                        help="where the ext4 directory and the XFS image go")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("needs root (loop filesystems and loop-device attaches)", file=sys.stderr)
        return 2
    with loop_filesystem("xfs", size_bytes=(args.data_gib * 3 + 2) * GiB,
                         workdir=args.workdir) as xfs, _ext4_dir(args.workdir) as ext4:
        for line in bench(xfs.mountpoint, ext4, args):
            print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
