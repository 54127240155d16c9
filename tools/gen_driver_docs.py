#!/usr/bin/env python3
"""Write (or --check) the driver options section of docs/drivers.md from the drivers'
declared options, so the documentation cannot drift from the code."""

from __future__ import annotations

import argparse
import pathlib
import sys

BEGIN = "<!-- BEGIN GENERATED OPTIONS (tools/gen_driver_docs.py) -->"
END = "<!-- END GENERATED OPTIONS -->"
DOC = pathlib.Path(__file__).resolve().parent.parent / "docs" / "drivers.md"


def render() -> str:
    from volumelib.drivers import available_drivers, load_driver_class
    from volumelib.drivers.base import COMMON_OPTIONS

    out = [BEGIN, ""]
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
    out.append(END)
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if docs are stale")
    args = parser.parse_args()
    text = DOC.read_text()
    start, end = text.index(BEGIN), text.index(END) + len(END)
    new = text[:start] + render() + text[end:]
    if args.check:
        if new != text:
            print(f"{DOC} is out of date: run tools/gen_driver_docs.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
