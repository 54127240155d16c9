"""Argument types and shared arguments of the CLI commands."""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence

from volumelib import exceptions as exc

__all__ = ["parse_key_value", "positive_int", "parse_size", "add_ref", "add_backend_arg"]

_UNITS = {"": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3, "T": 1024 ** 4}


def parse_key_value(items: Sequence[str] | None, what: str = "--property") -> dict[str, str]:
    """``["k=v", ...]`` -> ``{"k": "v"}``. Raises InvalidArgument on an item without ``=``."""
    out: dict[str, str] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise exc.InvalidArgument(reason=f"{what} needs KEY=VALUE, not {item!r}")
        out[key] = value
    return out


def positive_int(text: str) -> int:
    """argparse type: a whole number >= 1 (a malformed size is a usage error)."""
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def parse_size(text: str) -> int:
    """``"20G"``, ``"512M"``, ``"1048576"`` -> bytes (binary units)."""
    match = re.fullmatch(r"\s*(\d+)\s*([KMGT]?)(?:i?B)?\s*", text, re.IGNORECASE)
    if not match or int(match.group(1)) < 1:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 512M, 20G)")
    return int(match.group(1)) * _UNITS[match.group(2).upper()]



def add_ref(parser: argparse.ArgumentParser, dest: str, metavar: str, *,
            many: bool = False, help: str | None = None) -> None:
    """A positional reference by id or name (``many``: one or more of them)."""
    parser.add_argument(dest, metavar=metavar, nargs="+" if many else None,
                        help=help or ("ids or names" if many else "id or name"))


def add_backend_arg(parser: argparse.ArgumentParser) -> None:
    """The optional positional ``BACKEND`` of the ``backend`` commands (dest ``name``)."""
    parser.add_argument("name", nargs="?", metavar="BACKEND",
                        help="backend name (default: --backend or the only one)")
