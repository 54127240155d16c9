"""``volumelib`` command: ``--version``, ``demo``, ``db upgrade|current|downgrade`` and
``image-cache list|queue|prefetch|prune|clean|delete``.

Exit codes: 0 success, 1 a volumelib error (one line on stderr; the traceback with
``--debug``), 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import Any

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
    db = sub.add_parser("db", help="the SQL store's schema (alembic migrations)")
    db.add_argument("--url", default=os.environ.get("VOLUMELIB_DB_URL"),
                    help="database URL (default: $VOLUMELIB_DB_URL), e.g. "
                         "sqlite:////var/lib/volumelib/db.sqlite")
    db.add_argument("-f", "--format", choices=("text", "json"), default="text")
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    up = db_sub.add_parser("upgrade", help="create or upgrade the schema")
    up.add_argument("revision", nargs="?", default="head")
    db_sub.add_parser("current", help="show the schema revision")
    down = db_sub.add_parser("downgrade", help="downgrade the schema")
    down.add_argument("revision", help="target revision ('base' drops every table)")
    down.add_argument("--yes", action="store_true",
                      help="confirm a downgrade to base, which deletes all data")
    from volumelib.cli import image_cache as image_cache_cli
    image_cache_cli.register(sub)
    return parser


def _db(args: argparse.Namespace) -> dict[str, Any]:
    from volumelib import exceptions as exc
    from volumelib.persistence.dbms import migrate

    if not args.url:
        raise exc.InvalidConfig(reason="no database: pass --url or set VOLUMELIB_DB_URL")
    if args.db_command == "upgrade":
        return {"revision": migrate.upgrade(args.url, args.revision)}
    if args.db_command == "current":
        found = migrate.current(args.url)
        return {"revision": found, "head": migrate.HEAD_REVISION,
                "up_to_date": found == migrate.HEAD_REVISION}
    if args.revision == "base" and not args.yes:
        raise exc.InvalidArgument(reason="downgrading to base deletes every volumelib "
                                         "table and its data; add --yes to confirm")
    return {"revision": migrate.downgrade(args.url, args.revision)}


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
    if args.command == "image-cache":
        from volumelib.cli import image_cache as image_cache_cli
        return image_cache_cli.run(args)
    from volumelib import exceptions as exc
    try:
        result = _db(args)
    except exc.VolumelibError as e:
        if args.debug:
            raise
        print(f"volumelib: error: {e}", file=sys.stderr)
        return 1
    if args.format == "json":
        print(json.dumps(result, sort_keys=True))
    else:
        for key, value in result.items():
            print(f"{key}: {value if value is not None else '(none)'}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
