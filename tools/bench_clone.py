#!/usr/bin/env python3
"""Time the file driver's create_cloned_volume: reflink against sparse copies.

Makes a 10 GiB volume with 1 GiB of data spread over it, on an XFS (``reflink=1``)
loop filesystem (needs root) and on ext4 (a directory under ``--workdir``; its real
filesystem type is reported), and clones it through the driver with each method the filesystem has:

* ``reflink``: ``FICLONE`` (``reflink=auto`` on XFS);
* ``copy``: the sparse copy with ``pread``/``pwrite`` (``reflink=never``), the baseline;
* ``copy_file_range``: the sparse copy with ``copy_file_range`` (``reflink=auto`` on
  ext4; on XFS the kernel turns it into a reflink, so it is not measured there).

The source's page cache is dropped (``posix_fadvise DONTNEED``) before each run, so
copies read from the disk. Prints one JSON line per (filesystem, method) with the
median of ``--runs`` runs::

    {"bench": "clone_10g", "fs": "xfs", "method": "reflink", "seconds": 0.004,
     "ratio_vs_copy": 0.002, ...}
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator

from volumelib.drivers.file import FileDriver, loop
from volumelib.drivers.types import VolumeInfo
from volumelib.testing.loopfs import detach_loop_devices_under, loop_filesystem

MiB = 1024 ** 2
GiB = 1024 ** 3


def _fstype(path: str) -> str:
    return subprocess.run(["findmnt", "-n", "-o", "FSTYPE", "-T", path], check=True,
                          capture_output=True, text=True, timeout=30).stdout.strip()


def _write_data(path: str, size: int, data: int) -> None:
    """Write ``data`` bytes in 8 MiB chunks spread evenly over ``size`` bytes."""
    chunk = 8 * MiB
    count = data // chunk
    stride = size // count
    blocks = [os.urandom(chunk) for _ in range(4)]
    fd = os.open(path, os.O_WRONLY)
    try:
        for i in range(count):
            os.pwrite(fd, blocks[i % len(blocks)], i * stride)
        os.fsync(fd)
    finally:
        os.close(fd)


def _drop_cache(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _time_clone(driver: FileDriver, src: VolumeInfo, src_path: str, runs: int) -> float:
    times = []
    for _ in range(runs):
        clone = VolumeInfo(id=str(uuid.uuid4()), size=src.size)
        _drop_cache(src_path)
        started = time.perf_counter()
        driver.create_cloned_volume(clone, src)
        times.append(time.perf_counter() - started)
        clone_path = os.path.join(driver.root, "volumes", f"volume-{clone.id}")
        if os.stat(clone_path).st_size != os.stat(src_path).st_size:
            raise SystemExit(f"clone {clone.id} has the wrong size")
        driver.delete_volume(clone)
    return statistics.median(times)


def bench(fs: str, directory: str, args: argparse.Namespace) -> list[dict[str, object]]:
    root = os.path.join(directory, "bench-root")
    auto = FileDriver(file_root=root, volume_backend_name=f"bench-{fs}")
    auto.do_setup()
    never = FileDriver(file_root=root, volume_backend_name=f"bench-{fs}", reflink="never")
    never.do_setup()
    src = VolumeInfo(id=str(uuid.uuid4()), size=args.size_gib)
    auto.create_volume(src)
    src_path = os.path.join(auto.root, "volumes", f"volume-{src.id}")
    _write_data(src_path, args.size_gib * GiB, args.data_gib * GiB)

    seconds = {"copy": _time_clone(never, src, src_path, args.runs)}
    if auto.health()["reflink"]:
        seconds["reflink"] = _time_clone(auto, src, src_path, args.runs)
    else:
        seconds["copy_file_range"] = _time_clone(auto, src, src_path, args.runs)
    auto.delete_volume(src)
    return [{"bench": f"clone_{args.size_gib}g", "fs": fs, "method": method,
             "seconds": round(value, 4), "ratio_vs_copy": round(value / seconds["copy"], 4),
             "volume_gib": args.size_gib, "data_gib": args.data_gib, "runs": args.runs}
            for method, value in seconds.items()]


@contextlib.contextmanager
def _ext4_dir(workdir: str) -> Iterator[str]:
    directory = tempfile.mkdtemp(prefix="volumelib-bench-", dir=workdir)
    try:
        yield directory
    finally:
        if os.geteuid() == 0 and loop.available():
            detach_loop_devices_under(directory)
        shutil.rmtree(directory, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-gib", type=int, default=10, help="volume size (GiB)")
    parser.add_argument("--data-gib", type=int, default=1, help="data written (GiB)")
    parser.add_argument("--runs", type=int, default=3, help="runs per method (median)")
    parser.add_argument("--workdir", default="/var/tmp",
                        help="where the ext4 directory and the XFS image go")
    args = parser.parse_args(argv)

    if os.geteuid() == 0:
        with loop_filesystem("xfs", size_bytes=(args.data_gib * 3 + 2) * GiB,
                             workdir=args.workdir) as xfs:
            for line in bench("xfs", xfs.mountpoint, args):
                print(json.dumps(line), flush=True)
    else:
        print("not root: skipping XFS (loop filesystem needs root)", file=sys.stderr)
    with _ext4_dir(args.workdir) as directory:
        for line in bench(_fstype(directory), directory, args):
            print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
