"""The ``volumelib`` command, built on cliff (the OpenStack client's framework)::

    volumelib [--config FILE] [--backend NAME] [--debug] COMMAND [ARGS] [-f FORMAT] [-c COL]

Commands: ``volume create|list|show|extend|delete|attach|detach|clone|revert``,
``volume manage|unmanage|manageable-list|migrate|retype``,
``snapshot create|list|show|delete|manage|unmanage|manageable-list``, ``group ...``,
``backend stats|health|gc|list``, ``pool add|list|show|set|remove|drain``,
``type create|list|show|delete``,
``image-cache ...``, ``events list|watch|deliver``,
``subscription create|list|show|confirm|delete``, ``db upgrade|current|downgrade``,
``demo``. See ``docs/cli.md``.

Exit codes (stable; scripts may rely on them):

== ==================================================================================
0  success
1  the operation failed (a backend or store error, anything unexpected)
2  bad usage: unknown command or option, malformed value, bad or missing config
3  not found: the volume, snapshot, group or backend named does not exist
4  busy, retry later: another writer or operation holds the resource (retryable)
5  refused in the resource's current state (in use, has snapshots, already exists)
6  not supported by this backend's driver
== ==================================================================================

Errors are one line on stderr (``volumelib: error: ...``); ``--debug`` adds the
traceback and DEBUG logging.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import traceback
import warnings
from collections.abc import Sequence
from typing import Any, NoReturn

from cliff.app import App
from cliff.commandmanager import CommandManager
from cliff.help import HelpExit

from volumelib import exceptions as exc
from volumelib._version import __version__

__all__ = ["main", "VolumelibApp", "exit_code_for", "EXIT_OK", "EXIT_ERROR", "EXIT_USAGE",
           "EXIT_NOT_FOUND", "EXIT_BUSY", "EXIT_STATE", "EXIT_NOT_SUPPORTED", "COMMANDS"]

LOG = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
EXIT_BUSY = 4
EXIT_STATE = 5
EXIT_NOT_SUPPORTED = 6

PROG = "volumelib"

#: Command name -> "module:Class", imported only when the command runs.
COMMANDS: dict[str, str] = {
    "volume create": "volumes:CreateVolume",
    "volume list": "volumes:ListVolumes",
    "volume show": "volumes:ShowVolume",
    "volume extend": "volumes:ExtendVolume",
    "volume delete": "volumes:DeleteVolume",
    "volume attach": "volumes:AttachVolume",
    "volume detach": "volumes:DetachVolume",
    "volume clone": "volumes:CloneVolume",
    "volume revert": "volumes:RevertVolume",
    "volume manageable-list": "moves:ManageableVolumes",
    "volume manage": "moves:ManageVolume",
    "volume unmanage": "moves:UnmanageVolume",
    "volume migrate": "moves:MigrateVolume",
    "volume retype": "moves:RetypeVolume",
    "snapshot create": "volumes:CreateSnapshot",
    "snapshot list": "volumes:ListSnapshots",
    "snapshot show": "volumes:ShowSnapshot",
    "snapshot delete": "volumes:DeleteSnapshot",
    "snapshot manageable-list": "moves:ManageableSnapshots",
    "snapshot manage": "moves:ManageSnapshot",
    "snapshot unmanage": "moves:UnmanageSnapshot",
    "group create": "groups:CreateGroup",
    "group create-from-src": "groups:CreateGroupFromSource",
    "group list": "groups:ListGroups",
    "group show": "groups:ShowGroup",
    "group update": "groups:UpdateGroup",
    "group delete": "groups:DeleteGroup",
    "group snapshot-create": "groups:CreateGroupSnapshot",
    "group snapshot-list": "groups:ListGroupSnapshots",
    "group snapshot-show": "groups:ShowGroupSnapshot",
    "group snapshot-delete": "groups:DeleteGroupSnapshot",
    "pool add": "control:AddPool",
    "pool list": "control:ListPools",
    "pool show": "control:ShowPool",
    "pool set": "control:SetPool",
    "pool remove": "control:RemovePool",
    "pool drain": "moves:DrainPool",
    "type create": "control:CreateType",
    "type list": "control:ListTypes",
    "type show": "control:ShowType",
    "type delete": "control:DeleteType",
    "backend list": "admin:ListBackends",
    "backend stats": "admin:BackendStats",
    "backend health": "admin:BackendHealth",
    "backend gc": "admin:BackendGc",
    "db upgrade": "admin:DbUpgrade",
    "db current": "admin:DbCurrent",
    "db downgrade": "admin:DbDowngrade",
    "demo": "admin:Demo",
    "image-cache list": "image_cache:ListImages",
    "image-cache queue": "image_cache:QueueImage",
    "image-cache prefetch": "image_cache:Prefetch",
    "image-cache prune": "image_cache:Prune",
    "image-cache clean": "image_cache:Clean",
    "image-cache delete": "image_cache:DeleteImages",
    "events list": "events:ListEvents",
    "events watch": "events:WatchEvents",
    "events deliver": "events:DeliverEvents",
    "subscription create": "events:CreateSubscription",
    "subscription list": "events:ListSubscriptions",
    "subscription show": "events:ShowSubscription",
    "subscription confirm": "events:ConfirmSubscription",
    "subscription delete": "events:DeleteSubscription",
}


class _LazyCommand:
    """A CommandManager entry that imports its command class on first use."""

    def __init__(self, name: str, target: str) -> None:
        self.name = name
        module, _, attr = target.partition(":")
        self.value = f"volumelib.cli.{module}:{attr}"
        self._module, self._attr = f"volumelib.cli.{module}", attr

    def load(self) -> Any:
        return getattr(importlib.import_module(self._module), self._attr)


def build_command_manager() -> CommandManager:
    manager = CommandManager("volumelib.cli")
    for name, target in COMMANDS.items():
        manager.commands[name] = _LazyCommand(name, target)  # type: ignore[assignment]
    return manager


class UsageError(Exception):
    """A command line the parser rejected (exit code 2)."""


def _one_line_errors(parser: argparse.ArgumentParser, label: str = "") -> None:
    """Make ``parser`` raise :class:`UsageError` instead of printing usage and exiting."""
    def error(message: str) -> NoReturn:
        prefix = f"{label}: " if label else ""
        raise UsageError(f"{prefix}{message} (see '{parser.prog} --help')")
    parser.error = error  # type: ignore[method-assign]


def exit_code_for(error: BaseException) -> int:
    """The documented exit code for an exception raised by a command."""

    if isinstance(error, UsageError):
        return EXIT_USAGE
    if not isinstance(error, exc.VolumelibError):
        return EXIT_ERROR
    if getattr(error, "retryable", False):
        return EXIT_BUSY
    if isinstance(error, exc.NotFound):
        return EXIT_NOT_FOUND
    if isinstance(error, (exc.InsufficientCapacity, exc.QuotaExceeded, exc.NoValidBackend)):
        return EXIT_ERROR
    if isinstance(error, exc.InvalidArgument):
        return EXIT_USAGE
    if isinstance(error, (exc.InvalidState, exc.AlreadyExists)):
        return EXIT_STATE
    if isinstance(error, exc.NotSupported):
        return EXIT_NOT_SUPPORTED
    return EXIT_ERROR


def _legacy_argv(argv: list[str]) -> list[str]:
    """Accept the pre-cliff order ``db --url URL [-f json] ACTION`` too: options given
    between ``db`` and its action move after the action."""
    if not argv or argv[0] != "db":
        return argv
    rest = argv[1:]
    for i, word in enumerate(rest):
        if word in ("upgrade", "current", "downgrade") and i > 0:
            return ["db", word, *rest[:i], *rest[i + 1:]]
    return argv


class VolumelibApp(App):
    """The ``volumelib`` application."""

    NAME = PROG
    DEFAULT_VERBOSE_LEVEL = 0
    CONSOLE_MESSAGE_FORMAT = "%(levelname)s %(name)s: %(message)s"

    def __init__(self, stdout: Any = None, stderr: Any = None) -> None:
        super().__init__(description="Block volumes on real storage, no control plane.",
                         version=__version__, command_manager=build_command_manager(),
                         stdout=stdout, stderr=stderr, deferred_help=True)
        self._ctx: Any = None

    def build_option_parser(self, description: str | None, version: str | None,
                            argparse_kwargs: dict[str, Any] | None = None
                            ) -> argparse.ArgumentParser:
        parser = super().build_option_parser(description, version,
                                             dict(argparse_kwargs or {}, prog=PROG))
        for action in parser._actions:
            if isinstance(action, argparse._VersionAction):
                action.version = f"{PROG} {version}"
        parser.add_argument("--config", metavar="FILE", default=None,
                            help="YAML or ini file with persistence_config and backends "
                                 "(default: $VOLUMELIB_CONFIG)")
        parser.add_argument("--backend", metavar="NAME",
                            default=os.environ.get("VOLUMELIB_BACKEND") or None,
                            help="the configured backend to use when there are several "
                                 "(default: $VOLUMELIB_BACKEND)")
        _one_line_errors(parser)
        return parser

    @property
    def ctx(self) -> Any:
        """The run's :class:`volumelib.cli.context.CliContext` (config, store, backends)."""
        if self._ctx is None:
            # The library itself loads when a command needs it, so that --help and
            # --version stay quick.
            from volumelib.cli.context import CliContext
            self._ctx = CliContext(self.options.config, self.options.backend)
        return self._ctx

    def configure_logging(self) -> None:
        """The command is an application, so it owns logging (the library never does).

        WARNING by default, INFO with ``-v``, DEBUG with ``-vv`` or ``--debug``.
        os-brick's warnings about initiators this host lacks, and eventlet's deprecation
        warning that os-brick's import triggers, are shown only with ``--debug``.
        """
        level = logging.DEBUG if self.options.debug else {
            0: logging.WARNING, 1: logging.INFO}.get(self.options.verbose_level, logging.DEBUG)
        root = logging.getLogger()
        root.setLevel(level)
        console = logging.StreamHandler(self.stderr)
        console.setFormatter(logging.Formatter(self.CONSOLE_MESSAGE_FORMAT))
        root.addHandler(console)
        if self.options.log_file:
            handler = logging.FileHandler(self.options.log_file)
            handler.setFormatter(logging.Formatter(self.LOG_FILE_MESSAGE_FORMAT))
            root.addHandler(handler)
        if not self.options.debug:
            logging.getLogger("os_brick").setLevel(logging.ERROR)
            logging.getLogger("stevedore").setLevel(logging.ERROR)
            warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

    def fail(self, error: BaseException) -> int:
        """Report ``error`` as one line (plus the traceback with ``--debug``)."""
        debug = getattr(getattr(self, "options", None), "debug", False)
        if debug:
            traceback.print_exception(error, file=self.stderr)
        if isinstance(error, (exc.VolumelibError, UsageError)):
            text = str(error)
        else:
            text = f"unexpected {type(error).__name__}: {error}"
            if not debug:
                text += " (run with --debug for the traceback)"
        text = " ".join(text.split())
        self.stderr.write(f"{PROG}: error: {text}\n")
        self.stderr.flush()
        return exit_code_for(error)

    def run(self, argv: list[str]) -> int:
        try:
            self.options, remainder = self.parser.parse_known_args(argv)
        except UsageError as e:
            return self.fail(e)
        self.configure_logging()
        if self.options.deferred_help:  # `volumelib --help`, `volumelib volume list --help`
            if not remainder:
                self.print_help_if_requested()  # prints and exits 0
            remainder = ["help", *remainder]
        if not remainder:
            self.parser.print_help(self.stderr)
            return EXIT_USAGE
        try:
            return self.run_subcommand(_legacy_argv(remainder))
        except BrokenPipeError:
            return 141
        except KeyboardInterrupt:
            return 130
        finally:
            if self._ctx is not None:
                self._ctx.close()

    def run_subcommand(self, argv: list[str]) -> int:
        if argv and argv[0].startswith("-"):
            return self.fail(UsageError(f"unknown option {argv[0]!r} (see '{PROG} --help')"))
        try:
            factory, name, sub_argv = self.command_manager.find_command(argv)
        except ValueError:
            words = " ".join(w for w in argv if not w.startswith("-"))
            verbs = sorted(c.split(" ", 1)[1] for c in COMMANDS if c.split(" ")[0] == argv[0]
                           and " " in c)
            hint = f"; {argv[0]} takes {', '.join(verbs)}" if verbs else ""
            return self.fail(UsageError(f"unknown command {words!r}{hint} "
                                        f"(see '{PROG} help')"))
        cmd = factory(self, self.options, cmd_name=name)
        try:
            parser = cmd.get_parser(f"{PROG} {name}")
            _one_line_errors(parser, name)
            parsed = parser.parse_args(sub_argv)
            return int(cmd.run(parsed) or 0)
        except HelpExit:
            return EXIT_OK
        except SystemExit as e:  # --help of a command
            return e.code if isinstance(e.code, int) else EXIT_OK
        except ValueError as e:
            if str(e).startswith("No recognized column names"):  # cliff's -c check
                return self.fail(UsageError(f"{name}: {e}"))
            if name == "help" and str(e).startswith("Unknown command"):
                return self.fail(UsageError(f"help: no command {' '.join(sub_argv)!r}"))
            return self.fail(e)
        except Exception as e:  # noqa: BLE001 - every error becomes one line + a code
            return self.fail(e)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``volumelib`` command; returns the exit code."""
    app = VolumelibApp()
    try:
        return app.run(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as e:  # --version, --help
        return e.code if isinstance(e.code, int) else EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
