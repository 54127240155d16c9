"""Bases the CLI commands share: deleting several objects safely, and commands whose
exit code reports what they found."""

from __future__ import annotations

import argparse
from typing import Any

from cliff.command import Command

from volumelib.cli.arguments import add_ref

__all__ = ["DeleteMany", "ExitStatus"]


class DeleteMany(Command):
    """Base of the ``... delete REF...`` commands: every reference is resolved before
    the first object is deleted, so one bad reference changes nothing.

    Subclasses set ``metavar`` and ``dest`` and implement :meth:`find` and
    :meth:`delete`.
    """

    metavar = "REF"
    dest = "refs"

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        add_ref(parser, self.dest, self.metavar, many=True)
        return parser

    def find(self, ref: str) -> Any:
        """The object ``ref`` names. Raises the matching NotFound."""
        raise NotImplementedError

    def delete(self, obj: Any) -> None:
        """Delete one object found by :meth:`find`."""
        raise NotImplementedError

    def take_action(self, parsed_args: argparse.Namespace) -> int:
        found = [self.find(ref) for ref in getattr(parsed_args, self.dest)]
        for obj in found:
            self.delete(obj)
        return 0


class ExitStatus:
    """Mixin for a command whose exit code reports what it found (health, prefetch):
    ``take_action`` sets ``self.exit_code``; the output is printed either way."""

    exit_code = 0

    def run(self, parsed_args: argparse.Namespace) -> int:
        """Run the command (output printed), then return :attr:`exit_code`."""
        super().run(parsed_args)  # type: ignore[misc]
        return self.exit_code
