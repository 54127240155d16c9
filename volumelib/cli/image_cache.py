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
"""

from __future__ import annotations

import argparse
import datetime
import os
from typing import Any

from cliff.lister import Lister
from cliff.show import ShowOne

from volumelib import exceptions as exc
from volumelib.cli import arguments, command_bases, formatting
from volumelib.cli.config import image_cache_options
from volumelib.image_cache import Image, fetch, load_driver


def _add_common(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--cache-dir", default=os.environ.get("VOLUMELIB_IMAGE_CACHE_DIR"),
                        help="the cache directory (default: $VOLUMELIB_IMAGE_CACHE_DIR, "
                             "then the config file's image_cache.base_dir)")
    parser.add_argument("--driver", choices=("sqlite", "xattr"), default=None,
                        help="how the cache keeps its index (default: sqlite)")
    parser.add_argument("--max-size", type=arguments.parse_size, help="cache size limit (20G...)")
    parser.add_argument("--max-count", type=arguments.positive_int, help="most images kept")
    return parser


def _iso(ts: float) -> str:
    utc = datetime.timezone.utc  # noqa: UP017 - datetime.UTC is 3.11+
    return datetime.datetime.fromtimestamp(ts, utc).isoformat(timespec="seconds")


class _CacheCommand:
    """Mixin: the cache the options name."""

    app: Any

    def cache(self, args: argparse.Namespace) -> Any:


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
        cache = self.cache(parsed_args)
        image = Image(parsed_args.source, id=parsed_args.id or "",
                      checksum=parsed_args.checksum)
        queued = cache.queue_image(image.id, source=image.source, checksum=image.checksum)
        return formatting.show_dict({"image_id": image.id, "queued": queued})


class Prefetch(command_bases.ExitStatus, _CacheCommand, Lister):
    """Download every queued image into the cache (progress bar on stderr).
    Exits 1 when an image failed (it stays queued)."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = _add_common(super().get_parser(prog_name))
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> Any:
        cache = self.cache(parsed_args)
        bar = None if parsed_args.no_progress else formatting.ProgressBar(self.app.stderr)
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
        if parsed_args.max_size is None and parsed_args.max_count is None:
            raise exc.InvalidArgument(reason="prune needs --max-size and/or --max-count")
        files, freed = self.cache(parsed_args).prune()
        return formatting.show_dict({"files": files, "bytes": freed})


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
        return formatting.show_dict({"removed": removed})


class DeleteImages(_CacheCommand, ShowOne):
    """Delete cached (or, with --queued, queued) images."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = _add_common(super().get_parser(prog_name))
        parser.add_argument("image_ids", nargs="*", metavar="IMAGE_ID")
        parser.add_argument("--all", action="store_true", help="every image")
        parser.add_argument("--queued", action="store_true", help="act on the queue")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> Any:
        args = parsed_args
        if bool(args.image_ids) == bool(args.all):
            raise exc.InvalidArgument(reason="delete needs image ids or --all (not both)")
        cache = self.cache(args)
        if args.queued:
            if args.all:
                return formatting.show_dict({"deleted": cache.delete_all_queued_images()})
            count = sum(1 for i in args.image_ids if cache.is_queued(i))
            for image_id in args.image_ids:
                cache.delete_queued_image(image_id)
            return formatting.show_dict({"deleted": count})
        if args.all:
            return formatting.show_dict({"deleted": cache.delete_all_cached_images()})
        count = sum(1 for i in args.image_ids if cache.is_cached(i))
        for image_id in args.image_ids:
            cache.delete_cached_image(image_id)
        return formatting.show_dict({"deleted": count})
