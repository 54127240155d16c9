"""``volumelib image-cache``: look after a local image cache.

::

    volumelib image-cache list     --cache-dir DIR [--driver sqlite|xattr] [--queued]
    volumelib image-cache queue    SOURCE [--id ID] [--checksum sha256:HEX] --cache-dir DIR
    volumelib image-cache prefetch --cache-dir DIR      # with a progress bar on stderr
    volumelib image-cache prune    --cache-dir DIR --max-size 20G [--max-count N]
    volumelib image-cache clean    --cache-dir DIR [--stall-time SECONDS]
    volumelib image-cache delete   IMAGE_ID... | --all [--queued] --cache-dir DIR

Every command takes ``-f table|json|yaml|value`` and ``-c COLUMN``. ``--cache-dir``
defaults to ``$VOLUMELIB_IMAGE_CACHE_DIR``, then to the config file's
``image_cache.base_dir``. A prefetch that leaves images queued exits 1; the other
exit codes are the ``volumelib`` command's (see :mod:`volumelib.cli.main`).
Also home of :class:`ProgressBar`, which ``volume create --image`` draws too.
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import sys
from typing import Any, TextIO

from cliff.lister import Lister
from cliff.show import ShowOne

from volumelib.cli import common

__all__ = ["ProgressBar", "parse_size"]

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


def _add_common(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--cache-dir", default=os.environ.get("VOLUMELIB_IMAGE_CACHE_DIR"),
                        help="the cache directory (default: $VOLUMELIB_IMAGE_CACHE_DIR, "
                             "then the config file's image_cache.base_dir)")
    parser.add_argument("--driver", choices=("sqlite", "xattr"), default=None,
                        help="how the cache keeps its index (default: sqlite)")
    parser.add_argument("--max-size", type=parse_size, help="cache size limit (20G...)")
    parser.add_argument("--max-count", type=common.positive_int, help="most images kept")
    return parser


def _iso(ts: float) -> str:
    utc = datetime.timezone.utc  # noqa: UP017 - datetime.UTC is 3.11+
    return datetime.datetime.fromtimestamp(ts, utc).isoformat(timespec="seconds")


class _CacheCommand:
    """Mixin: the cache the options name."""

    app: Any

    def cache(self, args: argparse.Namespace) -> Any:
        from volumelib import exceptions as exc
        from volumelib.image_cache import load_driver

        from volumelib.cli.config import image_cache_options

        options: dict[str, Any] = {}
        base_dir, driver = args.cache_dir, "sqlite"
        if not base_dir and self.app.ctx.config.image_cache:
            base_dir, driver, options = image_cache_options(self.app.ctx.config.image_cache)
        if not base_dir:
            raise exc.InvalidConfig(reason="no cache directory: pass --cache-dir or set "
                                           "VOLUMELIB_IMAGE_CACHE_DIR")
        driver = args.driver or driver
        if args.max_size is not None:
            options["max_size"] = args.max_size
        if args.max_count is not None:
            options["max_count"] = args.max_count
        return load_driver(driver, base_dir, **options)


class ListImages(_CacheCommand, Lister):
    """List cached and queued images."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = _add_common(super().get_parser(prog_name))
        parser.add_argument("--queued", action="store_true", help="only the queue")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> Any:
        cache = self.cache(parsed_args)
        rows = []
        if not parsed_args.queued:
            for e in cache.get_cached_images():
                rows.append((e["image_id"], "cached", e["size"], e["hits"],
                             _iso(e["last_accessed"]), e["meta"].get("source", "")))
        for image_id in cache.get_queued_images():
            q = cache.get_queued_image(image_id)
            rows.append((image_id, "queued", None, None, None, q.get("source") or ""))
        return ("image_id", "state", "size", "hits", "last_accessed", "source"), rows


class QueueImage(_CacheCommand, ShowOne):
    """Queue an image (local path or http(s) URL) for prefetch."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = _add_common(super().get_parser(prog_name))
        parser.add_argument("source", help="a local path or an http(s):// URL")
        parser.add_argument("--id", help="cache key (default: derived from the source)")
        parser.add_argument("--checksum", help="sha256:HEX (or md5:, sha512:) to verify")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> Any:
        from volumelib.image_cache import Image
        cache = self.cache(parsed_args)
        image = Image(parsed_args.source, id=parsed_args.id or "",
                      checksum=parsed_args.checksum)
        queued = cache.queue_image(image.id, source=image.source, checksum=image.checksum)
        return common.show_dict({"image_id": image.id, "queued": queued})


class Prefetch(common.ExitStatus, _CacheCommand, Lister):
    """Download every queued image into the cache (progress bar on stderr).
    Exits 1 when an image failed (it stays queued)."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = _add_common(super().get_parser(prog_name))
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> Any:
        from volumelib.image_cache import fetch
        cache = self.cache(parsed_args)
        bar = None if parsed_args.no_progress else ProgressBar(self.app.stderr)
        try:
            result = fetch.prefetch(cache, progress=bar)
        finally:
            if bar:
                bar.close()
        self.exit_code = 1 if result["failed"] else 0
        rows = [(i, "cached", "") for i in result["cached"]]
        rows += [(i, "failed", " ".join(str(r).split())) for i, r in result["failed"].items()]
        return ("image_id", "result", "reason"), rows


class Prune(_CacheCommand, ShowOne):
    """Evict least recently used images down to --max-size / --max-count."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        return _add_common(super().get_parser(prog_name))

    def take_action(self, parsed_args: argparse.Namespace) -> Any:
        from volumelib import exceptions as exc
        if parsed_args.max_size is None and parsed_args.max_count is None:
            raise exc.InvalidArgument(reason="prune needs --max-size and/or --max-count")
        files, freed = self.cache(parsed_args).prune()
        return common.show_dict({"files": files, "bytes": freed})


class Clean(_CacheCommand, ShowOne):
    """Remove failed, abandoned and stalled downloads."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = _add_common(super().get_parser(prog_name))
        parser.add_argument("--stall-time", type=float,
                            help="seconds without progress after which a download is "
                                 "stalled (default 86400)")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> Any:
        removed = self.cache(parsed_args).clean(stall_time=parsed_args.stall_time)
        return common.show_dict({"removed": removed})


class DeleteImages(_CacheCommand, ShowOne):
    """Delete cached (or, with --queued, queued) images."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = _add_common(super().get_parser(prog_name))
        parser.add_argument("image_ids", nargs="*", metavar="IMAGE_ID")
        parser.add_argument("--all", action="store_true", help="every image")
        parser.add_argument("--queued", action="store_true", help="act on the queue")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> Any:
        from volumelib import exceptions as exc
        args = parsed_args
        if bool(args.image_ids) == bool(args.all):
            raise exc.InvalidArgument(reason="delete needs image ids or --all (not both)")
        cache = self.cache(args)
        if args.queued:
            if args.all:
                return common.show_dict({"deleted": cache.delete_all_queued_images()})
            count = sum(1 for i in args.image_ids if cache.is_queued(i))
            for image_id in args.image_ids:
                cache.delete_queued_image(image_id)
            return common.show_dict({"deleted": count})
        if args.all:
            return common.show_dict({"deleted": cache.delete_all_cached_images()})
        count = sum(1 for i in args.image_ids if cache.is_cached(i))
        for image_id in args.image_ids:
            cache.delete_cached_image(image_id)
        return common.show_dict({"deleted": count})
