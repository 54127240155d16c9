"""``volumelib image-cache``: look after a local image cache.

::

    volumelib image-cache list     --cache-dir DIR [--driver sqlite|xattr] [-f json]
    volumelib image-cache queue    SOURCE [--id ID] [--checksum sha256:HEX] --cache-dir DIR
    volumelib image-cache prefetch --cache-dir DIR      # with a progress bar on stderr
    volumelib image-cache prune    --cache-dir DIR --max-size 20G [--max-count N]
    volumelib image-cache clean    --cache-dir DIR [--stall-time SECONDS]
    volumelib image-cache delete   IMAGE_ID... | --all [--queued] --cache-dir DIR

``--cache-dir`` defaults to ``$VOLUMELIB_IMAGE_CACHE_DIR``. Registered in the main
command by :func:`register` and :func:`run`; also runs alone
(``python -m volumelib.cli.image_cache``). Exit codes: 0 success, 1 an error (or a
prefetch that left images queued), 2 bad usage.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import sys
from typing import Any, TextIO

__all__ = ["ProgressBar", "main", "parse_size", "register", "run"]

_UNITS = {"": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3, "T": 1024 ** 4}


def parse_size(text: str) -> int:
    """``"20G"``, ``"512M"``, ``"1048576"`` -> bytes (binary units)."""
    match = re.fullmatch(r"\s*(\d+)\s*([KMGT]?)(?:i?B)?\s*", text, re.IGNORECASE)
    if not match or int(match.group(1)) < 1:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 512M, 20G)")
    return int(match.group(1)) * _UNITS[match.group(2).upper()]


def _human(n: float | None) -> str:
    if n is None:
        return "?"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


class ProgressBar:
    """A ``progress(phase, done, total)`` callback drawing a bar on ``stream``: redrawn
    in place on a terminal, one line per 10 % otherwise (logs, pipes)."""

    def __init__(self, stream: TextIO | None = None, width: int = 30) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self.tty = self.stream.isatty()
        self._last: tuple[str, int] | None = None

    def __call__(self, phase: str, done: float, total: float | None) -> None:
        if phase == "download":
            fraction = done / total if total else None
            detail = f"{_human(done)} / {_human(total)}"
        else:
            fraction = done / total if total else 0.0
            detail = f"{fraction * 100:.0f}%"
        step = int((fraction or 0) * 10)
        if not self.tty and self._last == (phase, step) and fraction is not None:
            return
        if not self.tty and fraction is None and self._last and self._last[0] == phase \
                and done % (64 * 1024 ** 2) >= 1024 ** 2:
            return  # unknown size: a line every 64 MiB
        self._last = (phase, step)
        filled = int((fraction or 0) * self.width)
        bar = "#" * filled + "." * (self.width - filled) if fraction is not None \
            else "?" * self.width
        line = f"{phase:<9} [{bar}] {detail}"
        if self.tty:
            self.stream.write("\r" + line + ("\n" if fraction == 1 else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self._last is not None:
            self.stream.write("\n")
            self.stream.flush()


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--cache-dir", default=os.environ.get("VOLUMELIB_IMAGE_CACHE_DIR"),
                        help="the cache directory (default: $VOLUMELIB_IMAGE_CACHE_DIR)")
    common.add_argument("--driver", choices=("sqlite", "xattr"), default="sqlite",
                        help="how the cache keeps its index (default: sqlite)")
    common.add_argument("--max-size", type=parse_size, help="cache size limit (20G...)")
    common.add_argument("--max-count", type=int, help="most images kept")
    common.add_argument("-f", "--format", choices=("text", "json"), default="text",
                        help="output format")
    return common


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``image-cache`` and its actions to a parser's subparsers."""
    common = _common()
    parser = subparsers.add_parser("image-cache", help="list, queue, prefetch, prune, "
                                                       "clean and delete cached images")
    actions = parser.add_subparsers(dest="image_cache_action", metavar="ACTION",
                                    required=True)
    listing = actions.add_parser("list", parents=[common], help="cached and queued images")
    listing.add_argument("--queued", action="store_true", help="only the queue")
    queue = actions.add_parser("queue", parents=[common],
                               help="queue an image (path or URL) for prefetch")
    queue.add_argument("source", help="a local path or an http(s):// URL")
    queue.add_argument("--id", help="cache key (default: derived from the source)")
    queue.add_argument("--checksum", help="sha256:HEX (or md5:, sha512:) to verify")
    fetch = actions.add_parser("prefetch", parents=[common],
                               help="download every queued image into the cache")
    fetch.add_argument("--no-progress", action="store_true", help="no progress bar")
    actions.add_parser("prune", parents=[common],
                       help="evict least recently used images down to the limits")
    clean = actions.add_parser("clean", parents=[common],
                               help="remove failed, abandoned and stalled downloads")
    clean.add_argument("--stall-time", type=float,
                       help="seconds without progress after which a download is stalled "
                            "(default 86400)")
    delete = actions.add_parser("delete", parents=[common],
                                help="delete cached (or, with --queued, queued) images")
    delete.add_argument("image_ids", nargs="*", metavar="IMAGE_ID")
    delete.add_argument("--all", action="store_true", help="every image")
    delete.add_argument("--queued", action="store_true", help="act on the queue")
    return parser


def _iso(ts: float) -> str:
    utc = datetime.timezone.utc  # noqa: UP017 - datetime.UTC is 3.11+
    return datetime.datetime.fromtimestamp(ts, utc).isoformat(timespec="seconds")


def _act(args: argparse.Namespace) -> tuple[dict[str, Any], int]:
    from volumelib import exceptions as exc
    from volumelib.image_cache import Image, fetch, load_driver

    if not args.cache_dir:
        raise exc.InvalidConfig(reason="no cache directory: pass --cache-dir or set "
                                       "VOLUMELIB_IMAGE_CACHE_DIR")
    cache = load_driver(args.driver, args.cache_dir, max_size=args.max_size,
                        max_count=args.max_count)
    action = args.image_cache_action
    if action == "list":
        queued = [cache.get_queued_image(i) for i in cache.get_queued_images()]
        if args.queued:
            return {"queued": queued}, 0
        return {"cached": cache.get_cached_images(), "queued": queued,
                "cache_size": cache.get_cache_size()}, 0
    if action == "queue":
        image = Image(args.source, id=args.id or "", checksum=args.checksum)
        return {"image_id": image.id, "queued": cache.queue_image(
            image.id, source=image.source, checksum=image.checksum)}, 0
    if action == "prefetch":
        bar = None if args.no_progress else ProgressBar()
        try:
            result = fetch.prefetch(cache, progress=bar)
        finally:
            if bar:
                bar.close()
        return result, 1 if result["failed"] else 0
    if action == "prune":
        if args.max_size is None and args.max_count is None:
            raise exc.InvalidArgument(reason="prune needs --max-size and/or --max-count")
        files, freed = cache.prune()
        return {"files": files, "bytes": freed}, 0
    if action == "clean":
        return {"removed": cache.clean(stall_time=args.stall_time)}, 0
    if bool(args.image_ids) == bool(args.all):
        raise exc.InvalidArgument(reason="delete needs image ids or --all (not both)")
    if args.queued:
        if args.all:
            return {"deleted": cache.delete_all_queued_images()}, 0
        count = sum(1 for i in args.image_ids if cache.is_queued(i))
        for image_id in args.image_ids:
            cache.delete_queued_image(image_id)
        return {"deleted": count}, 0
    if args.all:
        return {"deleted": cache.delete_all_cached_images()}, 0
    count = sum(1 for i in args.image_ids if cache.is_cached(i))
    for image_id in args.image_ids:
        cache.delete_cached_image(image_id)
    return {"deleted": count}, 0


def _print_text(action: str, result: dict[str, Any], out: TextIO) -> None:
    if action == "list":
        cached, queued = result.get("cached"), result.get("queued", [])
        if cached is not None:
            out.write(f"{'IMAGE ID':<40} {'SIZE':>10} {'HITS':>5}  {'LAST ACCESSED':<25} "
                      f"SOURCE\n")
            for e in cached:
                out.write(f"{e['image_id']:<40} {_human(e['size']):>10} {e['hits']:>5}  "
                          f"{_iso(e['last_accessed']):<25} {e['meta'].get('source', '')}\n")
            out.write(f"{len(cached)} cached, {_human(result['cache_size'])} in use\n")
        for q in queued:
            out.write(f"queued: {q['image_id']} {q.get('source') or '(no source)'}\n")
        return
    if action == "prefetch":
        for image_id in result["cached"]:
            out.write(f"cached: {image_id}\n")
        for image_id, reason in result["failed"].items():
            out.write(f"failed: {image_id}: {reason}\n")
        return
    for key, value in result.items():
        out.write(f"{key}: {value}\n")


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run a parsed ``image-cache`` command; prints the result, returns the exit code."""
    from volumelib import exceptions as exc

    out = out or sys.stdout
    try:
        result, code = _act(args)
    except exc.VolumelibError as e:
        if getattr(args, "debug", False):
            raise
        print(f"volumelib: error: {e}", file=sys.stderr)
        return 1
    if args.format == "json":
        out.write(json.dumps(result, sort_keys=True) + "\n")
    else:
        _print_text(args.image_cache_action, result, out)
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="volumelib")
    register(parser.add_subparsers(dest="command", required=True))
    return run(parser.parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
