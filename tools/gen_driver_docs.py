#!/usr/bin/env python3
"""Write (or --check) the generated sections of docs/drivers.md, so the documentation
cannot drift from the code:

* the driver options, from each installed driver's declared options;
* the SPI reference, from ``volumelib.drivers.base.VolumeDriver``: every method's
  signature and docstring, as a vendor reads them.

``--check`` exits 1 (saying which section) when the file differs from what would be
written; tests/unit/test_docs.py runs it.
"""

from __future__ import annotations

import argparse
import inspect
import pathlib
import sys
from collections.abc import Callable
from typing import Any

OPTIONS_BEGIN = "<!-- BEGIN GENERATED OPTIONS (tools/gen_driver_docs.py) -->"
OPTIONS_END = "<!-- END GENERATED OPTIONS -->"
SPI_BEGIN = "<!-- BEGIN GENERATED SPI REFERENCE (tools/gen_driver_docs.py) -->"
SPI_END = "<!-- END GENERATED SPI REFERENCE -->"
DOC = pathlib.Path(__file__).resolve().parent.parent / "docs" / "drivers.md"

#: Longest line of a rendered signature before its parameters go one per line.
WIDTH = 88


def render() -> str:
    """The options section, markers included."""
    from volumelib.drivers import available_drivers, load_driver_class
    from volumelib.drivers.base import COMMON_OPTIONS

    out = [OPTIONS_BEGIN, ""]
    for name in available_drivers():
        try:
            cls = load_driver_class(name)
        except Exception as e:  # noqa: BLE001 - an optional driver may not import here
            out += [f"### `{name}`", "", f"(not importable here: {e})", ""]
            continue
        d = cls.describe()
        out += [f"### `{name}`: `{d['class']}`", "",
                f"Protocol `{d['storage_protocol']}`, vendor {d['vendor_name']}, "
                f"version {d['version']}.", "",
                "| option | type | default | description |", "| --- | --- | --- | --- |"]
        for opt in [o.describe() for o in COMMON_OPTIONS] + d["options"]:
            default = "(secret)" if opt["secret"] else repr(opt["default"])
            extra = f" One of {', '.join(map(repr, opt['choices']))}." if opt["choices"] else ""
            out.append(f"| `{opt['name']}` | {opt['type']} | `{default}` | "
                       f"{opt['help']}{extra} |")
        out.append("")
    out.append(OPTIONS_END)
    return "\n".join(out)


# -- the SPI reference ---------------------------------------------------------------


def spi_members() -> list[tuple[str, Any]]:
    """``(name, attribute)`` of what ``VolumeDriver`` defines for vendors, in source
    order: ``__init__``, then every public method, property and classmethod of the
    class itself, then of the interfaces it is made of (the consistency-group and the
    manage/migrate methods, in modules of their own)."""
    from volumelib.drivers.base import VolumeDriver

    members: list[tuple[str, Any]] = []
    for cls in VolumeDriver.__mro__:
        if not cls.__module__.startswith("volumelib.drivers"):
            continue
        members += [(name, attr) for name, attr in vars(cls).items()
                    if name == "__init__" or (not name.startswith("_") and _function(attr))]
    return members


def _function(attr: Any) -> Callable[..., Any] | None:
    """The function behind a method, property or classmethod (``None`` otherwise)."""
    if isinstance(attr, property):
        return attr.fget
    if isinstance(attr, (classmethod, staticmethod)):
        return attr.__func__
    return attr if inspect.isfunction(attr) else None


def _annotation(value: Any) -> str:
    # ``from __future__ import annotations`` keeps annotations as the source's text.
    return value if isinstance(value, str) else inspect.formatannotation(value)


def signature(name: str, func: Callable[..., Any]) -> str:
    """``def name(params) -> ret:`` as written in the source (annotations unquoted),
    wrapped one parameter per line when longer than :data:`WIDTH`."""
    sig = inspect.signature(func)
    params = []
    star_done = False
    for p in sig.parameters.values():
        if p.kind is p.VAR_POSITIONAL:
            text, star_done = f"*{p.name}", True
        elif p.kind is p.VAR_KEYWORD:
            text = f"**{p.name}"
        else:
            if p.kind is p.KEYWORD_ONLY and not star_done:
                params.append("*")
                star_done = True
            text = p.name
        if p.annotation is not p.empty:
            text += f": {_annotation(p.annotation)}"
        if p.default is not p.empty:
            text += f"{' = ' if p.annotation is not p.empty else '='}{p.default!r}"
        params.append(text)
    ret = ""
    if sig.return_annotation is not sig.empty:
        ret = f" -> {_annotation(sig.return_annotation)}"
    one_line = f"def {name}({', '.join(params)}){ret}:"
    if len(one_line) <= WIDTH:
        return one_line
    inner = "".join(f"    {p},\n" for p in params)
    return f"def {name}(\n{inner}){ret}:"


def _docstring_block(doc: str | None, indent: str) -> list[str]:
    if not doc:
        return [f'{indent}"""(undocumented)"""']
    lines = doc.splitlines()
    body = [f"{indent}{line}".rstrip() for line in lines[1:]]
    if not body:
        return [f'{indent}"""{lines[0]}"""']
    return [f'{indent}"""{lines[0]}', *body, f'{indent}"""']


def render_spi() -> str:
    """The SPI reference section, markers included: the class docstring and
    attributes, then one heading and one stub per member."""
    from volumelib.drivers.base import VolumeDriver

    out = [SPI_BEGIN, "",
           "Generated from `volumelib/drivers/base.py` (`drivers/base.py` in the source "
           "tree) by `tools/gen_driver_docs.py`; edit the docstrings there, not here.",
           "", "### `VolumeDriver`", "", "```python", "class VolumeDriver(abc.ABC):"]
    out += _docstring_block(inspect.getdoc(VolumeDriver), "    ")
    out.append("")
    for attr, annotation in VolumeDriver.__annotations__.items():
        out.append(f"    {attr}: {_annotation(annotation)} = "
                   f"{getattr(VolumeDriver, attr)!r}")
    out += ["```", ""]
    for name, attr in spi_members():
        func = _function(attr)
        assert func is not None
        decorators = []
        if isinstance(attr, property):
            decorators.append("@property")
        elif isinstance(attr, classmethod):
            decorators.append("@classmethod")
        if getattr(func, "__isabstractmethod__", False):
            decorators.append("@abc.abstractmethod")
        out += [f"### `{name}`", "", "```python", *decorators, signature(name, func)]
        out += _docstring_block(inspect.getdoc(func), "    ")
        out += ["```", ""]
    out.append(SPI_END)
    return "\n".join(out)


def _replace(text: str, begin: str, end: str, new: str, doc: pathlib.Path) -> str:
    try:
        start, stop = text.index(begin), text.index(end) + len(end)
    except ValueError:
        raise SystemExit(f"{doc}: the markers {begin!r} ... {end!r} are missing") from None
    return text[:start] + new + text[stop:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="fail if docs are stale")
    parser.add_argument("--doc", type=pathlib.Path, default=DOC,
                        help="the Markdown file to write or check (default: %(default)s)")
    args = parser.parse_args(argv)
    text = args.doc.read_text()
    stale = []
    new = text
    for begin, end, section, what in ((OPTIONS_BEGIN, OPTIONS_END, render(), "options"),
                                      (SPI_BEGIN, SPI_END, render_spi(), "SPI reference")):
        updated = _replace(new, begin, end, section, args.doc)
        if updated != new:
            stale.append(what)
        new = updated
    if args.check:
        if stale:
            print(f"{args.doc} is out of date ({' and '.join(stale)} section): run "
                  f"tools/gen_driver_docs.py", file=sys.stderr)
            return 1
        return 0
    if new != text:
        args.doc.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
