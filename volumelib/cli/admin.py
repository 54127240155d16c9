"""``volumelib backend list|stats|health|gc``, ``db upgrade|current|downgrade`` and
``demo``."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from cliff.command import Command
from cliff.lister import Lister
from cliff.show import ShowOne

from volumelib import demo
from volumelib import exceptions as exc
from volumelib.cli import arguments, command_bases, formatting

LOG = logging.getLogger(__name__)


# -- backend --------------------------------------------------------------------------

class ListBackends(Lister):
    """List the configured backends and the store's pools (without building them)."""

    def take_action(self, parsed_args: argparse.Namespace) -> Any:
        ctx = self.app.ctx
        rows = [(b["volume_backend_name"], str(b.get("volume_driver", "file")), "config")
                for b in ctx.config.backends]
        rows += [(p.name, p.volume_driver, "pool") for p in ctx.persistence.get_pools()
                 if p.name not in ctx.config.backend_names]
        return ("name", "volume_driver", "source"), rows


class _OnBackend:
    """Mixin of the commands on one backend: the optional positional ``BACKEND``."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)  # type: ignore[misc]
        arguments.add_backend_arg(parser)
        return parser  # type: ignore[no-any-return]


def _flat_stats(stats: dict[str, Any]) -> dict[str, Any]:
    """Cinder's stats with the first pool's figures inline (a table reads better)."""
    out = {k: v for k, v in stats.items() if k != "pools"}
    pools = stats.get("pools") or []
    out["pools"] = [p.get("pool_name") for p in pools]
    if len(pools) == 1:
        for key, value in pools[0].items():
            if key != "pool_name":
                out.setdefault(key, value)
    return out


class BackendStats(_OnBackend, ShowOne):
    """Capacity and capabilities of a backend, in Cinder's stats format.

    With one pool its figures are shown inline; ``-f json``/``yaml`` (and a table of a
    backend with several pools) add the full structure as ``pools_detail``.
    """

    def take_action(self, parsed_args: argparse.Namespace) -> Any:
        backend = self.app.ctx.backend(parsed_args.name)
        stats = backend.stats(refresh=True)
        data = _flat_stats(stats)
        data["capabilities"] = sorted(str(c) for c in backend.capabilities)
        pools = stats.get("pools") or []
        if parsed_args.formatter in ("json", "yaml") or len(pools) > 1:
            data["pools_detail"] = pools
        return formatting.show_dict(data)


class BackendHealth(_OnBackend, command_bases.ExitStatus, ShowOne):
    """Whether a backend is alive, and its volumes per status."""

    def take_action(self, parsed_args: argparse.Namespace) -> Any:
        backend = self.app.ctx.backend(parsed_args.name)
        health = backend.health()
        self.exit_code = 0 if health.get("alive") else 1
        return formatting.show_dict(health)


class BackendGc(_OnBackend, Lister):
    """Reconcile records stuck in transitional states and remove orphaned storage."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument("--older-than", type=float, default=600, metavar="SECONDS",
                            help="only records older than this (default 600)")
        parser.add_argument("--dry-run", action="store_true",
                            help="report what would be done, change nothing")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> Any:
        if parsed_args.older_than < 0:
            raise exc.InvalidArgument(reason=f"--older-than must be >= 0, not "
                                             f"{parsed_args.older_than}")
        backend = self.app.ctx.backend(parsed_args.name)
        report = backend.gc(older_than=parsed_args.older_than, dry_run=parsed_args.dry_run)
        done = "would do" if parsed_args.dry_run else "done"
        rows = [(a.get("kind"), a.get("id"), a.get("action"), done, "")
                for a in report.get("actions", [])]
        rows += [(s.get("kind"), s.get("id"), s.get("action"), "skipped", s.get("reason", ""))
                 for s in report.get("skipped", [])]
        rows += [("orphan", o, "remove", done, "") for o in report.get("orphans") or []]
        return ("kind", "id", "action", "result", "reason"), rows


# -- db -------------------------------------------------------------------------------

class _DbCommand(ShowOne):
    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument("--url", default=None,
                            help="database URL, e.g. sqlite:////var/lib/volumelib/db.sqlite "
                                 "(default: $VOLUMELIB_DB_URL, then the config file's "
                                 "persistence_config connection)")
        return parser

    def url(self, parsed_args: argparse.Namespace) -> str:
        """``--url``, else the configured store's connection. Raises InvalidConfig."""
        if parsed_args.url:
            return parsed_args.url
        persistence = self.app.ctx.config.persistence_config or {}
        url = persistence.get("connection")
        if not url:
            raise exc.InvalidConfig(reason="no database: pass --url, set VOLUMELIB_DB_URL, "
                                           "or give persistence_config.connection in --config")
        return str(url)


class DbUpgrade(_DbCommand):
    """Create or upgrade the SQL store's schema (alembic migrations)."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument("revision", nargs="?", default="head",
                            help="target revision (default: head)")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> Any:
        # SQLAlchemy and alembic load only for the schema commands.
        from volumelib.persistence.dbms import migrate
        return formatting.show_dict({"revision": migrate.upgrade(self.url(parsed_args),
                                                             parsed_args.revision)})


class DbCurrent(_DbCommand):
    """Show the schema revision of the SQL store, and whether it is the newest."""

    def take_action(self, parsed_args: argparse.Namespace) -> Any:
        # SQLAlchemy and alembic load only for the schema commands.
        from volumelib.persistence.dbms import migrate
        found = migrate.current(self.url(parsed_args))
        return formatting.show_dict({"revision": found, "head": migrate.HEAD_REVISION,
                                 "up_to_date": found == migrate.HEAD_REVISION})


class DbDowngrade(_DbCommand):
    """Downgrade the SQL store's schema ('base' drops every volumelib table)."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument("revision", help="target revision ('base' drops every table)")
        parser.add_argument("--yes", action="store_true",
                            help="confirm a downgrade to base, which deletes all data")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> Any:
        # SQLAlchemy and alembic load only for the schema commands.
        from volumelib.persistence.dbms import migrate
        url = self.url(parsed_args)
        if parsed_args.revision == "base" and not parsed_args.yes:
            raise exc.InvalidArgument(reason="downgrading to base deletes every volumelib "
                                             "table and its data; add --yes to confirm")
        return formatting.show_dict({"revision": migrate.downgrade(url, parsed_args.revision)})


# -- demo -----------------------------------------------------------------------------

class Demo(Command):
    """Run a real volume through its whole life (file driver, SQLite), step by step.

    Creates, snapshots, clones, attaches (as root) and deletes it, printing each step.
    """

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument("--workdir", help="where to keep the files (default: a temp dir)")
        parser.add_argument("--keep", action="store_true", help="keep the work dir afterwards")
        parser.add_argument("--size", type=arguments.positive_int, default=1,
                            help="volume size in GiB (default 1)")
        parser.add_argument("-f", "--format", choices=("text", "json"), default="text",
                            help="output format")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> int:
        return demo.run(workdir=parsed_args.workdir, keep=parsed_args.keep,
                        size_gb=parsed_args.size, fmt=parsed_args.format,
                        out=self.app.stdout)
