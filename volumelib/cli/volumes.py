"""``volumelib volume ...`` and ``volumelib snapshot ...``.

Volumes and snapshots are named by id or by (unique) name. Every reference is
resolved before anything changes, so a bad one changes nothing.
"""

from __future__ import annotations

import argparse
import logging
import os
from typing import Any

from cliff.command import Command
from cliff.lister import Lister
from cliff.show import ShowOne

from volumelib import exceptions as exc
from volumelib import runtime
from volumelib.cli import arguments, command_bases, formatting
from volumelib.cli.config import image_cache_options
from volumelib.cli.formatting import ProgressBar
from volumelib.image_cache import load_driver

LOG = logging.getLogger(__name__)

VOLUME_SHOW = (*formatting.VOLUME_COLUMNS, "snapshots")


def _add_descriptive(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--description", help="free text")
    parser.add_argument("--property", action="append", metavar="KEY=VALUE", dest="properties",
                        help="metadata, repeat for several")


def _show_volume(vol: Any) -> Any:
    vol.refresh()
    return formatting.show(vol, VOLUME_SHOW)


# -- volumes --------------------------------------------------------------------------

class CreateVolume(ShowOne):
    """Create a volume: empty, from an image, from a snapshot or from another volume."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument("name", nargs="?", metavar="NAME", help="the volume's name")
        parser.add_argument("--size", type=arguments.positive_int, metavar="GIB",
                            help="size in GiB (default with --snapshot/--source: theirs)")
        _add_descriptive(parser)
        parser.add_argument("--type", dest="volume_type", metavar="TYPE",
                            help="a stored volume type's name or id")
        parser.add_argument("--type-property", action="append", metavar="KEY=VALUE",
                            dest="type_properties",
                            help="an extra spec in Cinder's syntax, e.g. "
                                 "'multiattach=<is> True' (instead of --type)")
        parser.add_argument("--multiattach", action="store_true", default=None,
                            help="allow several connections at once")
        parser.add_argument("--id", help="the UUID to use (default: a new one)")
        source = parser.add_mutually_exclusive_group()
        source.add_argument("--image", metavar="SRC",
                            help="a local path or http(s) URL of an image (raw, qcow2...)")
        source.add_argument("--snapshot", metavar="SNAPSHOT", help="create from a snapshot")
        source.add_argument("--source", metavar="VOLUME", help="clone this volume")
        parser.add_argument("--image-id", help="cache key of --image (default: derived)")
        parser.add_argument("--checksum", help="sha256:HEX (md5:, sha512:) of --image")
        parser.add_argument("--image-cache-dir", metavar="DIR",
                            default=os.environ.get("VOLUMELIB_IMAGE_CACHE_DIR"),
                            help="local image cache for --image (default: "
                                 "$VOLUMELIB_IMAGE_CACHE_DIR, then the config file's "
                                 "image_cache)")
        parser.add_argument("--no-progress", action="store_true",
                            help="no progress bar on stderr for --image")
        return parser

    def _image_cache(self, parsed_args: argparse.Namespace) -> Any:
        """``--image-cache-dir`` (or $VOLUMELIB_IMAGE_CACHE_DIR), else the config's
        ``image_cache``, else none (the image is downloaded to a temporary file)."""
        if parsed_args.image_cache_dir:
            return load_driver("sqlite", parsed_args.image_cache_dir)
        section = self.app.ctx.config.image_cache
        if not section:
            return None
        base_dir, driver, options = image_cache_options(section)
        return load_driver(driver, base_dir, **options)

    def take_action(self, parsed_args: argparse.Namespace) -> Any:
        ctx = self.app.ctx
        args = parsed_args
        for flag in ("image_id", "checksum"):
            if getattr(args, flag) and not args.image:
                raise exc.InvalidArgument(reason=f"--{flag.replace('_', '-')} needs --image")
        kwargs: dict[str, Any] = dict(
            name=args.name, description=args.description,
            metadata=arguments.parse_key_value(args.properties), id=args.id)
        if args.type_properties:
            if args.volume_type:
                raise exc.InvalidArgument(reason="give --type or --type-property, not both")
            kwargs["volume_type"] = arguments.parse_key_value(args.type_properties,
                                                           "--type-property")
        elif args.volume_type:
            kwargs["volume_type"] = args.volume_type
        if args.snapshot or args.source:
            if args.multiattach is not None:
                raise exc.InvalidArgument(reason="--multiattach applies to new volumes only; "
                                                 "the copy keeps its source's type")
            if args.snapshot:
                snap = ctx.find_snapshot(args.snapshot)
                return _show_volume(snap.create_volume(size=args.size, **kwargs))
            src = ctx.find_volume(args.source)
            return _show_volume(src.clone(size=args.size, **kwargs))
        if args.size is None:
            raise exc.InvalidArgument(reason="--size is required (unless --snapshot or "
                                             "--source)")
        if ctx.backend_name is None and not ctx.config.backends and ctx.control.pools():
            create = ctx.control.create_volume  # no backend configured: placement on pools
        else:
            create = ctx.backend().create_volume
        if not args.image:
            return _show_volume(create(args.size, multiattach=args.multiattach, **kwargs))
        image = {"source": args.image}
        if args.image_id:
            image["id"] = args.image_id
        if args.checksum:
            image["checksum"] = args.checksum
        bar = None if args.no_progress else ProgressBar(self.app.stderr)
        try:
            vol = create(args.size, image=image, image_cache=self._image_cache(args),
                         progress=bar, multiattach=args.multiattach, **kwargs)
        finally:
            if bar is not None:
                bar.close()
        return _show_volume(vol)


class ListVolumes(Lister):
    """List volumes (of --backend, or of every backend in the store), oldest first."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument("--long", action="store_true", help="more columns")
        parser.add_argument("--status", help="only volumes in this status")
        parser.add_argument("--name", help="only volumes of this name")
        parser.add_argument("--property", action="append", metavar="KEY=VALUE",
                            dest="properties", help="only volumes with this metadata")
        parser.add_argument("--limit", type=arguments.positive_int, help="page size")
        parser.add_argument("--marker", metavar="VOLUME_ID",
                            help="the last id of the previous page")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> Any:
        ctx = self.app.ctx
        filters: dict[str, Any] = {}
        if parsed_args.status:
            filters["status"] = parsed_args.status
        if parsed_args.name:
            filters["name"] = parsed_args.name
        if parsed_args.properties:
            filters["metadata"] = arguments.parse_key_value(parsed_args.properties)
        vols, _next = ctx.persistence.list_volumes(
            marker=parsed_args.marker, limit=parsed_args.limit, filters=filters,
            backend_name=ctx._scope())
        names = (*formatting.VOLUME_LIST_COLUMNS, "metadata", "created_at") if parsed_args.long \
            else formatting.VOLUME_LIST_COLUMNS
        return formatting.rows(vols, names)


class ShowVolume(ShowOne):
    """Show one volume."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        arguments.add_ref(parser, "volume", "VOLUME")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> Any:
        vol = self.app.ctx.find_volume(parsed_args.volume)
        return formatting.show(vol, (*VOLUME_SHOW, "connections"))


class ExtendVolume(ShowOne):
    """Grow a volume to a new size (also while attached, when the driver can)."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        arguments.add_ref(parser, "volume", "VOLUME")
        parser.add_argument("--size", type=arguments.positive_int, required=True, metavar="GIB",
                            help="the new size in GiB, larger than the current")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> Any:
        vol = self.app.ctx.find_volume(parsed_args.volume)
        vol.extend(parsed_args.size)
        for conn in vol.connections:  # an attached device here sees the new size
            if conn.attached and conn.attached_host == _host():
                conn.extend()
        return _show_volume(vol)


def _host() -> str:
    return runtime.settings().host


class DeleteVolume(command_bases.DeleteMany):
    """Delete volumes (every reference is checked before the first is deleted)."""

    metavar, dest = "VOLUME", "volumes"

    def find(self, ref: str) -> Any:
        return self.app.ctx.find_volume(ref)

    def delete(self, obj: Any) -> None:
        obj.delete()


class AttachVolume(ShowOne):
    """Attach a volume on this host and print its device path.

    Needs root for the file driver. The attachment outlives the command: detach it
    with ``volume detach``.
    """

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        arguments.add_ref(parser, "volume", "VOLUME")
        parser.add_argument("--mode", choices=("rw", "ro"), default="rw",
                            help="read-write (default) or read-only")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> Any:
        vol = self.app.ctx.find_volume(parsed_args.volume)
        conn = vol.attach(attach_mode=parsed_args.mode)
        return formatting.show(conn, formatting.CONNECTION_COLUMNS)


class DetachVolume(Command):
    """Detach a volume attached on this host and remove its connection."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        arguments.add_ref(parser, "volume", "VOLUME")
        parser.add_argument("--force", action="store_true",
                            help="detach even if the device is busy (may lose data)")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> int:
        vol = self.app.ctx.find_volume(parsed_args.volume)
        vol.detach(force=parsed_args.force)
        return 0


class CloneVolume(ShowOne):
    """Create a new volume holding a copy of another's data."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument("source", metavar="VOLUME", help="id or name of the source")
        parser.add_argument("name", nargs="?", metavar="NAME", help="the clone's name")
        parser.add_argument("--size", type=arguments.positive_int, metavar="GIB",
                            help="size in GiB (default: the source's)")
        _add_descriptive(parser)
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> Any:
        src = self.app.ctx.find_volume(parsed_args.source)
        clone = src.clone(name=parsed_args.name, size=parsed_args.size,
                          description=parsed_args.description,
                          metadata=arguments.parse_key_value(parsed_args.properties))
        return _show_volume(clone)


class RevertVolume(ShowOne):
    """Make a volume's data its snapshot's again (the size is kept)."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        arguments.add_ref(parser, "volume", "VOLUME")
        parser.add_argument("snapshot", metavar="SNAPSHOT", help="id or name of one of its "
                                                                 "snapshots")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> Any:
        ctx = self.app.ctx
        vol = ctx.find_volume(parsed_args.volume)
        snap = ctx.find_snapshot(parsed_args.snapshot)
        vol.revert_to_snapshot(snap)
        return _show_volume(vol)


# -- snapshots ------------------------------------------------------------------------

class CreateSnapshot(ShowOne):
    """Snapshot a volume."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument("name", nargs="?", metavar="NAME", help="the snapshot's name")
        parser.add_argument("--volume", required=True, metavar="VOLUME",
                            help="id or name of the volume")
        _add_descriptive(parser)
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> Any:
        vol = self.app.ctx.find_volume(parsed_args.volume)
        snap = vol.create_snapshot(name=parsed_args.name, description=parsed_args.description,
                                   metadata=arguments.parse_key_value(parsed_args.properties))
        return formatting.show(snap, formatting.SNAPSHOT_COLUMNS)


class ListSnapshots(Lister):
    """List snapshots (of one volume with --volume)."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument("--volume", metavar="VOLUME", help="only this volume's")
        parser.add_argument("--long", action="store_true", help="more columns")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> Any:
        ctx = self.app.ctx
        if parsed_args.volume:
            snaps = ctx.persistence.get_snapshots(
                volume_id=ctx.find_volume(parsed_args.volume).id)
        else:
            snaps = ctx.in_scope(ctx.persistence.get_snapshots())
        snaps = formatting.oldest_first(snaps)
        names = formatting.SNAPSHOT_COLUMNS if parsed_args.long else formatting.SNAPSHOT_LIST_COLUMNS
        return formatting.rows(snaps, names)


class ShowSnapshot(ShowOne):
    """Show one snapshot."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        arguments.add_ref(parser, "snapshot", "SNAPSHOT")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> Any:
        return formatting.show(self.app.ctx.find_snapshot(parsed_args.snapshot),
                           formatting.SNAPSHOT_COLUMNS)


class DeleteSnapshot(command_bases.DeleteMany):
    """Delete snapshots (every reference is checked before the first is deleted)."""

    metavar, dest = "SNAPSHOT", "snapshots"

    def find(self, ref: str) -> Any:
        return self.app.ctx.find_snapshot(ref)

    def delete(self, obj: Any) -> None:
        obj.delete()
