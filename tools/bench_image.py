#!/usr/bin/env python3
"""Time ``backend.create_volume(size, image=URL)``: cold, warm from tier 1, tier 2.

Everything is real: qcow2 images made with ``qemu-img`` (under ``--workdir``, served
by a loopback HTTP server), the file driver and the image cache on an XFS
(``reflink=1``) loop filesystem (needs root). Cases, each the median of ``--runs``:

* ``cold``: empty tier 1 cache, no tier 2: HEAD + download + sha256 + qemu-img
  check/convert into the volume file;
* ``warm_tier1``: the image is in the tier 1 cache: HEAD + qemu-img convert;
* ``tier2``: an image-volume exists: HEAD + reflink clone.

for a 1 GiB qcow2 mostly empty (``--data-mib`` written), the same fully written, and
a 20 GiB one mostly empty (tier 2 must not depend on the virtual size). The source
file's page cache is dropped (``posix_fadvise DONTNEED``) before each run. Prints one
JSON line per case with ``ratio_vs_cold`` (against the cold create of the same image
in this run), then a summary line::

    {"bench": "image_create", "case": "tier2", "image": "empty_1g", "seconds": 0.01,
     "ratio_vs_cold": 0.05, ...}
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import volumelib
from volumelib.image_cache import load_driver
from volumelib.testing.image_cache import image_server
from volumelib.testing.loopfs import loop_filesystem

MiB = 1024 ** 2
GiB = 1024 ** 3


def _make_qcow2(path: str, virtual: int, data: int) -> str:
    """A qcow2 of ``virtual`` bytes with ``data`` bytes written, spread evenly."""
    subprocess.run(["qemu-img", "create", "-f", "qcow2", path, str(virtual)], check=True,
                   capture_output=True)
    raw = path + ".raw"
    blocks = [os.urandom(8 * MiB) for _ in range(4)]
    count = max(1, data // (8 * MiB))
    stride = virtual // count
    with open(raw, "wb") as f:
        f.truncate(virtual)
        for i in range(count):
            f.seek(i * stride)
            f.write(blocks[i % 4])
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, path],
                   check=True, capture_output=True)
    os.unlink(raw)
    return path


def _drop_cache(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _median(runs: int, before: Callable[[], None], create: Callable[[], Any]) -> float:
    """Median seconds of ``create()`` (after ``before()``); each volume is deleted."""
    times = []
    for _ in range(runs):
        before()
        started = time.perf_counter()
        vol = create()
        times.append(time.perf_counter() - started)
        vol.delete()
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", default="/var/tmp",
                        help="where images and the loop filesystem's file go")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--data-mib", type=int, default=64,
                        help="data written in the 'mostly empty' images")
    parser.add_argument("--fs-gib", type=int, default=12, help="size of the XFS")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("bench_image needs root (loop devices, mount)", file=sys.stderr)
        return 2
    workdir = tempfile.mkdtemp(prefix="bench-image-", dir=args.workdir)
    specs = {"empty_1g": (GiB, args.data_mib * MiB), "full_1g": (GiB, GiB),
             "empty_20g": (20 * GiB, args.data_mib * MiB)}
    images = {name: _make_qcow2(os.path.join(workdir, f"{name}.qcow2"), v, d)
              for name, (v, d) in specs.items()}
    results = []
    try:
        with loop_filesystem("xfs", size_bytes=args.fs_gib * GiB, workdir=workdir) as fs, \
                image_server(workdir) as server:
            volumelib.setup()
            backend = volumelib.Backend("bench-image", "file",
                                        file_root=os.path.join(fs.mountpoint, "root"),
                                        max_over_subscription_ratio=20.0)
            cache = load_driver("sqlite", os.path.join(fs.mountpoint, "cache"))
            urls = {name: server.url(os.path.basename(path)) for name, path in images.items()}
            sizes = {name: max(1, specs[name][0] // GiB) for name in images}

            def create(name: str, tier2: bool) -> Any:
                return backend.create_volume(sizes[name], image=urls[name],
                                             image_cache=cache, image_volume_cache=tier2)

            seconds: dict[tuple[str, str], float] = {}
            for name, path in images.items():
                def cold_prep(path: str = path) -> None:
                    cache.delete_all_cached_images()
                    _drop_cache(path)
                    os.sync()  # no writeback of an earlier case in this one

                seconds["cold", name] = _median(args.runs, cold_prep,
                                                lambda name=name: create(name, False))
                create(name, False).delete()  # leave it in tier 1
                seconds["warm_tier1", name] = _median(
                    args.runs, os.sync, lambda name=name: create(name, False))
                create(name, True)  # builds the image-volume (kept)
            # Tier 2 rounds interleave the images, so that they share the conditions.
            os.sync()
            rounds: dict[str, list[float]] = {name: [] for name in images}
            for _ in range(args.runs):
                for name in images:
                    started = time.perf_counter()
                    vol = create(name, True)
                    rounds[name].append(time.perf_counter() - started)
                    vol.delete()
            for name in images:
                seconds["tier2", name] = statistics.median(rounds[name])
            for name, path in images.items():
                virtual, data = specs[name]
                for case in ("cold", "warm_tier1", "tier2"):
                    line = {"bench": "image_create", "case": case, "image": name,
                            "virtual_gib": virtual // GiB, "data_mib": data // MiB,
                            "qcow2_mib": round(os.path.getsize(path) / MiB, 1),
                            "seconds": round(seconds[case, name], 4),
                            "ratio_vs_cold": round(seconds[case, name]
                                                   / seconds["cold", name], 4),
                            "runs": args.runs}
                    results.append(line)
                    print(json.dumps(line), flush=True)
            backend.close()
    finally:
        subprocess.run(["rm", "-rf", workdir], check=False)
    t2 = {r["image"]: r["seconds"] for r in results if r["case"] == "tier2"}
    print(json.dumps({"bench": "image_create", "case": "summary",
                      "tier2_20g_vs_1g": round(t2["empty_20g"] / t2["empty_1g"], 3),
                      "tier2_full_vs_empty_1g": round(t2["full_1g"] / t2["empty_1g"], 3)}),
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
