"""Placeholder ``cinderlib`` and ``cinder`` distributions: ``import cinderlib`` is volumelib.

Programs built on cinderlib (Ember-CSI) import ``cinderlib`` by name and look up the
``cinderlib`` and ``cinder`` distributions (Ember-CSI reads both versions with
``pkg_resources.get_distribution`` when it starts, and pip resolves its
``cinderlib>=0.9.0`` requirement). This module makes an environment where volumelib
stands in for both, as two small wheels it writes itself:

* ``cinderlib`` ``5.2.0+volumelib.<volumelib version>`` (the cinderlib API level the
  compat layer follows), requiring ``volumelib``. It holds a ``.pth`` file and a
  small module that, the first time something imports ``cinderlib`` and no real
  cinderlib is found, calls :func:`volumelib.compat.install_cinderlib_alias`; until
  then volumelib is not imported (no start-up cost for other programs).
* ``cinder`` ``0+volumelib.<volumelib version>``, empty: there is no Cinder here, and
  the version says so to anyone who reads it (Ember-CSI's ``GetPluginInfo`` manifest).

Use it in the environment of the program (a dedicated virtualenv)::

    python -m volumelib.compat.cinderlib_dist install     # pip-installs both wheels
    python -m volumelib.compat.cinderlib_dist uninstall   # pip uninstall cinderlib cinder
    python -m volumelib.compat.cinderlib_dist wheels DIR  # only write the wheels

``install`` refuses to replace a real cinderlib or cinder. Nothing here runs when
volumelib is imported.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import logging
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence

from volumelib import exceptions as exc
from volumelib._version import __version__

__all__ = ["CINDERLIB_API_VERSION", "MARKER", "distribution_versions", "build_wheels",
           "install", "uninstall", "main"]

LOG = logging.getLogger(__name__)

#: The cinderlib release whose API the compat layer follows.
CINDERLIB_API_VERSION = "5.2.0"
#: In the ``Summary`` of both placeholders: how ``install`` recognises its own.
MARKER = "placeholder installed by volumelib.compat.cinderlib_dist"

ALIAS_MODULE = "_volumelib_cinderlib_alias"

#: The module the ``.pth`` imports at interpreter start: a finder at the *end* of
#: ``sys.meta_path`` (so an installed real cinderlib is found first) that installs the
#: alias on the first ``import cinderlib`` and then steps aside.
_ALIAS_SOURCE = '''\
"""Makes ``import cinderlib`` give volumelib.compat.cinderlib (written by
volumelib.compat.cinderlib_dist; volumelib is imported only when cinderlib is)."""
import importlib.util
import sys


class _OnFirstImport:
    @classmethod
    def find_spec(cls, fullname, path=None, target=None):
        if fullname != "cinderlib" and not fullname.startswith("cinderlib."):
            return None
        if cls in sys.meta_path:
            sys.meta_path.remove(cls)
        try:
            import volumelib.compat
        except ImportError:
            return None
        if not volumelib.compat.install_cinderlib_alias():
            return None
        return importlib.util.find_spec(fullname)


if _OnFirstImport not in sys.meta_path:
    sys.meta_path.append(_OnFirstImport)
'''


def _local_label() -> str:
    """volumelib's version as a PEP 440 local label (``volumelib.0.1.0``)."""
    cleaned = "".join(c if c.isalnum() else "." for c in __version__.lower())
    return "volumelib." + ".".join(p for p in cleaned.split(".") if p)


def distribution_versions() -> dict[str, str]:
    """``{"cinderlib": ..., "cinder": ...}``: the placeholders' versions."""
    label = _local_label()
    return {"cinderlib": f"{CINDERLIB_API_VERSION}+{label}", "cinder": f"0+{label}"}


def _record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def _write_wheel(dest: str, name: str, version: str, summary: str,
                 files: dict[str, bytes], requires: Sequence[str] = ()) -> str:
    dist_info = f"{name}-{version}.dist-info"
    metadata = "".join([
        "Metadata-Version: 2.1\n", f"Name: {name}\n", f"Version: {version}\n",
        f"Summary: {summary} ({MARKER})\n",
        *(f"Requires-Dist: {r}\n" for r in requires)])
    contents = dict(files)
    contents[f"{dist_info}/METADATA"] = metadata.encode()
    contents[f"{dist_info}/WHEEL"] = (b"Wheel-Version: 1.0\nGenerator: volumelib\n"
                                      b"Root-Is-Purelib: true\nTag: py3-none-any\n")
    record = [_record_line(p, d) for p, d in contents.items()] + [f"{dist_info}/RECORD,,"]
    contents[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    path = os.path.join(dest, f"{name}-{version}-py3-none-any.whl")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for member, data in contents.items():
            zf.writestr(member, data)
    return path


def build_wheels(dest: str) -> list[str]:
    """Write the two placeholder wheels into directory ``dest`` (made if missing);
    return their paths."""
    os.makedirs(dest, exist_ok=True)
    versions = distribution_versions()
    pth = f"import {ALIAS_MODULE}\n".encode()
    return [
        _write_wheel(dest, "cinderlib", versions["cinderlib"],
                     "cinderlib's API served by volumelib.compat.cinderlib",
                     {f"{ALIAS_MODULE}.py": _ALIAS_SOURCE.encode(),
                      "volumelib-cinderlib-alias.pth": pth},
                     requires=["volumelib"]),
        _write_wheel(dest, "cinder", versions["cinder"],
                     "no Cinder: volumelib serves cinderlib's clients", {}),
    ]


def _installed_summary(python: str, name: str) -> str | None:
    """The ``Summary`` of distribution ``name`` in ``python``'s environment, or None."""
    code = ("import importlib.metadata as m, sys\n"
            "try:\n    print(m.metadata(sys.argv[1]).get('Summary') or '')\n"
            "except m.PackageNotFoundError:\n    sys.exit(3)\n")
    proc = subprocess.run([python, "-c", code, name], capture_output=True, text=True,
                          timeout=120, check=False)
    return proc.stdout.strip() if proc.returncode == 0 else None


def _pip(python: str, *args: str) -> None:
    cmd = [python, "-m", "pip", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    if proc.returncode != 0:
        raise exc.VolumelibError(f"{' '.join(cmd)} failed ({proc.returncode}): "
                                 f"{(proc.stderr or proc.stdout).strip()[-2000:]}")


def install(python: str | None = None) -> list[str]:
    """pip-install both placeholders into ``python``'s environment (default: this
    interpreter's); returns the wheel file names installed.

    Raises:
        InvalidState: a real ``cinderlib`` or ``cinder`` is installed there.
        VolumelibError: pip failed (its output in the message).
    """
    python = python or sys.executable
    for name in ("cinderlib", "cinder"):
        summary = _installed_summary(python, name)
        if summary is not None and MARKER not in summary:
            raise exc.InvalidState(resource=f"distribution {name}", status="installed",
                                   reason=f"a real {name} is installed in {python}'s "
                                          f"environment; not replacing it")
    with tempfile.TemporaryDirectory(prefix="volumelib-cinderlib-dist-") as tmp:
        wheels = build_wheels(tmp)
        _pip(python, "install", "--no-deps", "--no-index", "--force-reinstall", *wheels)
        names = [os.path.basename(w) for w in wheels]
    LOG.info("installed %s into %s's environment", ", ".join(names), python)
    return names


def uninstall(python: str | None = None) -> list[str]:
    """Remove the placeholders (only ours) from ``python``'s environment; returns the
    names removed."""
    python = python or sys.executable
    ours = [n for n in ("cinderlib", "cinder")
            if MARKER in (_installed_summary(python, n) or "")]
    if ours:
        _pip(python, "uninstall", "-y", *ours)
    return ours


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m volumelib.compat.cinderlib_dist",
        description="Placeholder cinderlib and cinder distributions that make "
                    "'import cinderlib' give volumelib.compat.cinderlib.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("install", "uninstall"):
        cmd = sub.add_parser(name)
        cmd.add_argument("--python", default=None,
                         help="the environment's interpreter (default: this one)")
    wheels = sub.add_parser("wheels", help="only write the two wheels into DIR")
    wheels.add_argument("dir")
    args = parser.parse_args(argv)
    try:
        if args.command == "wheels":
            for path in build_wheels(args.dir):
                print(path)
        elif args.command == "install":
            print("installed:", " ".join(install(args.python)))
        else:
            print("removed:", " ".join(uninstall(args.python)) or "nothing")
    except exc.VolumelibError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
