"""``volumelib pool ...`` and ``volumelib type ...``: the control plane's pools and
volume types, kept in the configured store (see ``docs/pools.md``).

A pool's driver options are stored with it (another process rebuilds the backend
from them); options the driver declares secret are shown as ``***``.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from cliff.command import Command
from cliff.lister import Lister
from cliff.show import ShowOne

from volumelib import exceptions as exc
from volumelib.cli import arguments, command_bases, formatting
from volumelib.drivers import load_driver_class

LOG = logging.getLogger(__name__)

POOL_COLUMNS = ("name", "volume_driver", "weight", "enabled", "capabilities",
                "description", "driver_config")
POOL_LIST_COLUMNS = ("name", "volume_driver", "weight", "enabled")
TYPE_COLUMNS = ("id", "name", "extra_specs", "qos_specs", "description", "is_public")
TYPE_LIST_COLUMNS = ("id", "name", "extra_specs")


def _redacted(pool: Any) -> dict[str, Any]:
    """The pool's driver options with the driver's secret ones hidden (all of them
    when the driver class cannot be loaded here)."""
    config = dict(pool.driver_config or {})
    try:
        secrets = {o.name for o in load_driver_class(pool.volume_driver).options if o.secret}
    except Exception:  # noqa: BLE001 - unknown here: hide every value
        return {k: "***" for k in config}
    return {k: ("***" if k in secrets and v not in (None, "") else v)
            for k, v in config.items()}


def _show_pool(pool: Any) -> Any:
    data = {name: getattr(pool, name, None) for name in POOL_COLUMNS}
    data["driver_config"] = _redacted(pool)
    data["capabilities"] = sorted(data["capabilities"] or [])
    return formatting.show_dict(data)


def _weight(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


class AddPool(ShowOne):
    """Register a backend as a pool in the store (its driver is set up to read its
    capabilities)."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument("name", metavar="NAME", help="the pool (backend) name")
        parser.add_argument("--driver", required=True, dest="volume_driver",
                            help="volume driver: entry-point name or dotted class path")
        parser.add_argument("--option", action="append", metavar="KEY=VALUE",
                            dest="options", help="a driver option, repeatable")
        parser.add_argument("--weight", type=_weight, default=1.0,
                            help="placement weight (0 drains the pool; default 1)")
        parser.add_argument("--disabled", action="store_true",
                            help="register it disabled (never chosen by placement)")
        parser.add_argument("--description", help="free text")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> Any:
        args = parsed_args
        pool = self.app.ctx.control.add_pool(
            args.name, args.volume_driver, weight=args.weight,
            description=args.description, enabled=not args.disabled,
            **arguments.parse_key_value(args.options, "--option"))
        return _show_pool(pool)


class ListPools(Lister):
    """List the pools registered in the store."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument("--long", action="store_true", help="more columns")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> Any:
        pools = self.app.ctx.control.pools()
        if not parsed_args.long:
            return formatting.rows(pools, POOL_LIST_COLUMNS)
        return POOL_COLUMNS, [_show_pool(p)[1] for p in pools]


class ShowPool(ShowOne):
    """Show one pool (secret driver options hidden)."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument("name", metavar="POOL")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> Any:
        return _show_pool(self.app.ctx.control.get_pool(parsed_args.name))


class SetPool(ShowOne):
    """Change a pool's weight or enable/disable it."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument("name", metavar="POOL")
        parser.add_argument("--weight", type=_weight,
                            help="placement weight (0 drains the pool)")
        state = parser.add_mutually_exclusive_group()
        state.add_argument("--enable", action="store_true", default=None)
        state.add_argument("--disable", action="store_true", default=None)
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> Any:
        args = parsed_args
        control = self.app.ctx.control
        if args.weight is None and not args.enable and not args.disable:
            raise exc.InvalidArgument(reason="give --weight, --enable or --disable")
        pool = control.get_pool(args.name)
        if args.weight is not None:
            pool = control.set_pool_weight(args.name, args.weight)
        if args.enable or args.disable:
            pool = control.set_pool_enabled(args.name, bool(args.enable))
        return _show_pool(pool)


class RemovePool(Command):
    """Remove a pool (refused while volumes live on it, unless --force)."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument("name", metavar="POOL")
        parser.add_argument("--force", action="store_true",
                            help="remove only the pool record even if volumes remain")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> int:
        self.app.ctx.control.remove_pool(parsed_args.name, force=parsed_args.force)
        return 0


class CreateType(ShowOne):
    """Create a volume type: Cinder-syntax extra specs, QoS specs, optional pools."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument("name", metavar="NAME")
        parser.add_argument("--property", action="append", metavar="KEY=VALUE",
                            dest="specs", help="an extra spec, e.g. 'reflink=<is> True'")
        parser.add_argument("--qos", action="append", metavar="KEY=VALUE",
                            help="a QoS spec handed to the driver, e.g. total_iops_sec=500")
        parser.add_argument("--pool", action="append", dest="pools", metavar="POOL",
                            help="pin the type to this pool, repeatable")
        parser.add_argument("--description", help="free text")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> Any:
        args = parsed_args
        vtype = self.app.ctx.control.create_volume_type(
            args.name, extra_specs=arguments.parse_key_value(args.specs),
            qos_specs=arguments.parse_key_value(args.qos, "--qos"), pools=args.pools,
            description=args.description)
        return formatting.show(vtype, TYPE_COLUMNS)


class ListTypes(Lister):
    """List volume types."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument("--long", action="store_true", help="more columns")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> Any:
        types = self.app.ctx.control.volume_types()
        return formatting.rows(types, TYPE_COLUMNS if parsed_args.long else TYPE_LIST_COLUMNS)


class ShowType(ShowOne):
    """Show one volume type (by name or id)."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument("name", metavar="TYPE", help="name or id")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> Any:
        return formatting.show(self.app.ctx.control.get_volume_type(parsed_args.name),
                           TYPE_COLUMNS)


class DeleteType(command_bases.DeleteMany):
    """Delete volume types (by name or id)."""

    metavar, dest = "TYPE", "names"

    def find(self, ref: str) -> Any:
        return self.app.ctx.control.get_volume_type(ref)

    def delete(self, obj: Any) -> None:
        self.app.ctx.control.delete_volume_type(obj.id)
