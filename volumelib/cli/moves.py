"""``volumelib volume manage|unmanage|manageable-list|migrate|retype``,
``volumelib snapshot manage|unmanage|manageable-list`` and ``volumelib pool drain``
(see ``docs/manage-migrate.md``).

A migration target or a pool is named like ``--backend``: a backend of the
configuration or a pool registered in the store. Migrations draw a progress bar on
stderr (``--no-progress`` to leave it out).
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from cliff.lister import Lister
from cliff.show import ShowOne

from volumelib.cli import arguments, formatting
from volumelib.cli.formatting import ProgressBar

LOG = logging.getLogger(__name__)

MANAGEABLE_COLUMNS = ("reference", "size", "safe_to_manage", "reason_not_safe", "cinder_id",
                      "extra_info")
SNAPSHOT_MANAGEABLE_COLUMNS = (*MANAGEABLE_COLUMNS, "source_reference")


def _reference(parsed_args: argparse.Namespace) -> dict[str, str]:
    key = "source-id" if parsed_args.source_id else "source-name"
    return {key: parsed_args.reference}


def _add_reference(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("reference", metavar="REFERENCE",
                        help=f"the {what} to adopt: its name (source-name; a path under the "
                             f"import folder for the file driver), or with --source-id its "
                             f"id (an RBD image id)")
    parser.add_argument("--source-id", action="store_true",
                        help="REFERENCE is a source-id, not a source-name")


def _add_paging(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--limit", type=arguments.positive_int, help="page size")
    parser.add_argument("--marker", metavar="NAME",
                        help="the source-name the previous page ended with")


def _rows(entries: list[dict[str, Any]], names: tuple[str, ...]) -> Any:
    return names, [tuple(formatting._cell(e.get(n)) for n in names) for e in entries]


def _bar(parsed_args: argparse.Namespace, app: Any) -> ProgressBar | None:
    return None if parsed_args.no_progress else ProgressBar(app.stderr)


def _with_pools(ctx: Any, vol: Any) -> Any:
    """Let ``vol`` find pools by name (and place itself) through the store's control
    plane when pools are registered; build the configured backends so a retype can
    choose among them otherwise."""
    if ctx.control.pools():
        vol._bind_pools(ctx.control)
    else:
        ctx.backends()
    return vol


class ManageableVolumes(Lister):
    """List the storage objects of a backend that ``volume manage`` could adopt."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        _add_paging(parser)
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> Any:
        entries = self.app.ctx.backend().manageable_volumes(marker=parsed_args.marker,
                                                            limit=parsed_args.limit)
        return _rows(entries, MANAGEABLE_COLUMNS)


class ManageVolume(ShowOne):
    """Adopt a storage object made outside volumelib as a volume (its data is kept)."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        _add_reference(parser, "object")
        parser.add_argument("--name", help="the volume's name")
        parser.add_argument("--type", dest="volume_type", metavar="TYPE",
                            help="a stored volume type's name or id")
        parser.add_argument("--description", help="free text")
        parser.add_argument("--property", action="append", metavar="KEY=VALUE",
                            dest="properties", help="metadata, repeat for several")
        parser.add_argument("--id", help="the UUID to use (default: a new one)")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> Any:
        args = parsed_args
        vol = self.app.ctx.backend().manage(
            _reference(args), name=args.name, volume_type=args.volume_type,
            description=args.description, metadata=arguments.parse_key_value(args.properties),
            id=args.id)
        vol.refresh()
        return formatting.show(vol, formatting.VOLUME_COLUMNS)


class UnmanageVolume(ShowOne):
    """Forget a volume and keep its data; prints where the data is now."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        arguments.add_ref(parser, "volume", "VOLUME")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> Any:
        vol = self.app.ctx.find_volume(parsed_args.volume)
        backend = vol.backend_name
        ref = vol.unmanage()
        return formatting.show_dict({"id": vol.id, "backend_name": backend,
                                     "reference": ref or {}})


class MigrateVolume(ShowOne):
    """Move a volume to another backend or pool; it keeps its id."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        arguments.add_ref(parser, "volume", "VOLUME")
        parser.add_argument("target", metavar="TARGET",
                            help="a backend of the configuration or a registered pool")
        parser.add_argument("--force-host-copy", action="store_true",
                            help="copy through this host even where the driver could move "
                                 "the volume itself")
        parser.add_argument("--no-verify", action="store_true",
                            help="do not read the copy back to compare it")
        parser.add_argument("--no-progress", action="store_true",
                            help="no progress bar on stderr")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> Any:
        ctx = self.app.ctx
        vol = ctx.find_volume(parsed_args.volume)
        target = ctx.backend(parsed_args.target)
        bar = _bar(parsed_args, self.app)
        try:
            result = vol.migrate(target, progress=bar,
                                 force_host_copy=parsed_args.force_host_copy,
                                 verify=not parsed_args.no_verify)
        finally:
            if bar is not None:
                bar.close()
        return formatting.show_dict(result.to_dict())


class RetypeVolume(ShowOne):
    """Change a volume's type, in place or (--migration-policy on-demand) by moving it
    to a backend that serves the new type."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        arguments.add_ref(parser, "volume", "VOLUME")
        parser.add_argument("volume_type", metavar="TYPE",
                            help="a stored volume type's name or id")
        parser.add_argument("--migration-policy", choices=("never", "on-demand"),
                            default="never",
                            help="migrate when the volume's backend cannot serve the type "
                                 "(default: never, which refuses instead)")
        parser.add_argument("--no-progress", action="store_true",
                            help="no progress bar on stderr")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> Any:
        ctx = self.app.ctx
        vol = _with_pools(ctx, ctx.find_volume(parsed_args.volume))
        bar = _bar(parsed_args, self.app)
        try:
            vol.retype(parsed_args.volume_type, migration_policy=parsed_args.migration_policy,
                       progress=bar)
        finally:
            if bar is not None:
                bar.close()
        vol.refresh()
        return formatting.show(vol, formatting.VOLUME_COLUMNS)


class ManageableSnapshots(Lister):
    """List the snapshots of a backend that ``snapshot manage`` could adopt."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        _add_paging(parser)
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> Any:
        entries = self.app.ctx.backend().manageable_snapshots(marker=parsed_args.marker,
                                                              limit=parsed_args.limit)
        return _rows(entries, SNAPSHOT_MANAGEABLE_COLUMNS)


class ManageSnapshot(ShowOne):
    """Adopt a snapshot made outside volumelib of a volume's storage object."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        _add_reference(parser, "snapshot")
        parser.add_argument("--volume", required=True, metavar="VOLUME",
                            help="the volume (id or name) it is a snapshot of")
        parser.add_argument("--name", help="the snapshot's name")
        parser.add_argument("--description", help="free text")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> Any:
        ctx = self.app.ctx
        vol = ctx.find_volume(parsed_args.volume)
        snap = vol.backend.manage_snapshot(_reference(parsed_args), vol,
                                           name=parsed_args.name,
                                           description=parsed_args.description)
        return formatting.show(snap, formatting.SNAPSHOT_COLUMNS)


class UnmanageSnapshot(ShowOne):
    """Forget a snapshot and keep its data; prints where the data is now."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        arguments.add_ref(parser, "snapshot", "SNAPSHOT")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> Any:
        snap = self.app.ctx.find_snapshot(parsed_args.snapshot)
        ref = snap.unmanage()
        return formatting.show_dict({"id": snap.id, "volume_id": snap.volume_id,
                                     "reference": ref or {}})


class DrainPool(ShowOne):
    """Move every volume off a pool to the best other pools (placement); its weight is
    set to 0. Volumes that cannot move are listed with why."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument("pool", metavar="POOL", help="the pool to empty")
        parser.add_argument("--no-progress", action="store_true",
                            help="no progress bar on stderr")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> Any:
        bar = _bar(parsed_args, self.app)
        progress = None
        if bar is not None:
            def progress(volume_id: str, phase: str, done: float, total: float | None,
                         draw: ProgressBar = bar) -> None:
                draw(f"{phase} {volume_id[:8]}", done, total)
        try:
            report = self.app.ctx.control.drain(parsed_args.pool, progress=progress)
        finally:
            if bar is not None:
                bar.close()
        if report["failed"]:
            LOG.warning("%d volume(s) stay on %s", len(report["failed"]), parsed_args.pool)
        return formatting.show_dict({
            "pool": report["pool"],
            "moved": [f"{m['volume_id']} -> {m['target']} ({m['method']})"
                      for m in report["moved"]],
            "failed": report["failed"], "remaining": report["remaining"]})


__all__ = ["ManageableVolumes", "ManageVolume", "UnmanageVolume", "MigrateVolume",
           "RetypeVolume", "ManageableSnapshots", "ManageSnapshot", "UnmanageSnapshot",
           "DrainPool"]
