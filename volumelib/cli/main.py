"""``volumelib`` command: ``--version`` and ``demo`` (the full CLI grows from here)."""

from __future__ import annotations

import argparse
import logging
import sys

from volumelib._version import __version__

__all__ = ["main"]


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="volumelib", description="Block volumes on real storage, no control plane.")
    parser.add_argument("--version", action="version", version=f"volumelib {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="log at DEBUG and show tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser("demo", help="create, snapshot, clone, attach and delete a real "
                                       "volume (file driver, SQLite), printing each step")
    demo.add_argument("--workdir", help="where to keep the files (default: a temp dir)")
    demo.add_argument("--keep", action="store_true", help="keep the work dir afterwards")
    demo.add_argument("--size", type=int, default=1, help="volume size in GiB (default 1)")
    demo.add_argument("-f", "--format", choices=("text", "json"), default="text",
                      help="output format")
    return parser


def _configure_logging(debug: bool) -> None:
    """The command is an application, so it owns logging (the library never touches it).

    os-brick warns on every host without iSCSI or NVMe initiators while gathering
    connector properties; that is noise for a user of the local connector, so it is
    shown only with ``--debug``. Likewise eventlet's deprecation warning, which
    os-brick's import triggers.
    """
    import warnings

    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not debug:
        logging.getLogger("os_brick").setLevel(logging.ERROR)
        warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")


def main(argv: list[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.debug)
    if args.command is None:
        parser.print_help()
        return 2
    if args.command == "demo":
        from volumelib import demo
        return demo.run(workdir=args.workdir, keep=args.keep, size_gb=args.size,
                        fmt=args.format)
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
