"""``volumelib group ...``: groups of volumes and group snapshots."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from cliff.command import Command
from cliff.lister import Lister
from cliff.show import ShowOne

from volumelib import exceptions as exc
from volumelib.cli import arguments, command_bases, formatting

LOG = logging.getLogger(__name__)

CONSISTENT = {"consistent_group_snapshot_enabled": "<is> True"}


def _show_group(group: Any) -> Any:
    group.refresh()
    return formatting.show(group, formatting.GROUP_COLUMNS)


class CreateGroup(ShowOne):
    """Create a group, optionally with volumes of one backend."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument("name", nargs="?", metavar="NAME", help="the group's name")
        parser.add_argument("--volume", action="append", dest="volumes", metavar="VOLUME",
                            help="a member (id or name), repeat for several")
        parser.add_argument("--consistent", action="store_true",
                            help="ask for consistent (point-in-time) group snapshots: "
                                 "consistent_group_snapshot_enabled='<is> True'")
        parser.add_argument("--type-property", action="append", metavar="KEY=VALUE",
                            dest="type_properties", help="a group type spec, repeatable")
        parser.add_argument("--description", help="free text")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> Any:
        ctx = self.app.ctx
        specs = arguments.parse_key_value(parsed_args.type_properties, "--type-property")
        if parsed_args.consistent:
            specs.update(CONSISTENT)
        vols = [ctx.find_volume(ref) for ref in parsed_args.volumes or ()]
        backends = {v.backend_name for v in vols}
        if len(backends) > 1:
            raise exc.InvalidArgument(reason=f"a group's volumes must be on one backend, "
                                             f"not {', '.join(sorted(backends))}")
        backend = vols[0].backend if vols else ctx.backend()
        group = backend.create_group(name=parsed_args.name, volumes=vols,
                                     group_type=specs or None,
                                     description=parsed_args.description)
        return _show_group(group)


class CreateGroupFromSource(ShowOne):
    """Create a group whose volumes copy a group snapshot's or another group's."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument("name", nargs="?", metavar="NAME", help="the new group's name")
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--group-snapshot", metavar="GROUP_SNAPSHOT")
        source.add_argument("--source-group", metavar="GROUP")
        parser.add_argument("--description", help="free text")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> Any:
        ctx = self.app.ctx
        if parsed_args.group_snapshot:
            gs = ctx.find_group_snapshot(parsed_args.group_snapshot)
            group = gs.group
            ctx._bind(group, "group", group.id)
            new = group.backend.create_group_from_src(
                name=parsed_args.name, group_snapshot=gs, description=parsed_args.description)
        else:
            src = ctx.find_group(parsed_args.source_group)
            new = src.backend.create_group_from_src(
                name=parsed_args.name, source_group=src, description=parsed_args.description)
        return _show_group(new)


class ListGroups(Lister):
    """List groups."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument("--long", action="store_true", help="more columns")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> Any:
        ctx = self.app.ctx
        groups = ctx.persistence.get_groups(backend_name=ctx._scope())
        for g in groups:
            g._bind(None, ctx.persistence)
        names = formatting.GROUP_COLUMNS if parsed_args.long else formatting.GROUP_LIST_COLUMNS
        return formatting.rows(formatting.oldest_first(groups), names)


class ShowGroup(ShowOne):
    """Show one group and its volumes."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        arguments.add_ref(parser, "group", "GROUP")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> Any:
        return _show_group(self.app.ctx.find_group(parsed_args.group))


class UpdateGroup(ShowOne):
    """Add volumes to a group and remove others."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        arguments.add_ref(parser, "group", "GROUP")
        parser.add_argument("--add-volume", action="append", default=[], metavar="VOLUME")
        parser.add_argument("--remove-volume", action="append", default=[], metavar="VOLUME")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> Any:
        ctx = self.app.ctx
        group = ctx.find_group(parsed_args.group)
        if not parsed_args.add_volume and not parsed_args.remove_volume:
            raise exc.InvalidArgument(reason="give --add-volume and/or --remove-volume")
        add = [ctx.find_volume(r) for r in parsed_args.add_volume]
        remove = [ctx.find_volume(r) for r in parsed_args.remove_volume]
        group.update(add_volumes=add, remove_volumes=remove)
        return _show_group(group)


class DeleteGroup(Command):
    """Delete a group (and its volumes with --delete-volumes)."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        arguments.add_ref(parser, "group", "GROUP")
        parser.add_argument("--delete-volumes", action="store_true",
                            help="delete the member volumes too")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> int:
        group = self.app.ctx.find_group(parsed_args.group)
        group.delete(delete_volumes=parsed_args.delete_volumes)
        return 0


class CreateGroupSnapshot(ShowOne):
    """Snapshot every volume of a group together (atomically when the driver can)."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        arguments.add_ref(parser, "group", "GROUP")
        parser.add_argument("--name", help="the group snapshot's name")
        parser.add_argument("--description", help="free text")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> Any:
        group = self.app.ctx.find_group(parsed_args.group)
        gs = group.create_snapshot(name=parsed_args.name, description=parsed_args.description)
        return formatting.show(gs, formatting.GROUP_SNAPSHOT_COLUMNS)


class ListGroupSnapshots(Lister):
    """List group snapshots (of one group with --group)."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument("--group", metavar="GROUP", help="only this group's")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> Any:
        ctx = self.app.ctx
        if parsed_args.group:
            found = ctx.persistence.get_group_snapshots(
                group_id=ctx.find_group(parsed_args.group).id)
        else:
            found = ctx.in_scope(ctx.persistence.get_group_snapshots())
        for gs in found:
            gs._bind(None, ctx.persistence)
        return formatting.rows(formatting.oldest_first(found), formatting.GROUP_SNAPSHOT_COLUMNS)


class ShowGroupSnapshot(ShowOne):
    """Show one group snapshot and its member snapshots."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        arguments.add_ref(parser, "group_snapshot", "GROUP_SNAPSHOT")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> Any:
        gs = self.app.ctx.find_group_snapshot(parsed_args.group_snapshot)
        return formatting.show(gs, formatting.GROUP_SNAPSHOT_COLUMNS)


class DeleteGroupSnapshot(command_bases.DeleteMany):
    """Delete group snapshots and their member snapshots."""

    metavar, dest = "GROUP_SNAPSHOT", "group_snapshots"

    def find(self, ref: str) -> Any:
        return self.app.ctx.find_group_snapshot(ref)

    def delete(self, obj: Any) -> None:
        obj.delete()
