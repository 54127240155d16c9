"""Turn a ``cinder.conf`` into cinderlib's YAML test format (``backends:`` list).

::

    from volumelib.compat.cinderlib.cmd import cinder_to_yaml
    config = cinder_to_yaml.convert("/etc/cinder/cinder.conf", "cinderlib.yaml")
    backends = [cinderlib.Backend(**cfg) for cfg in config["backends"]]

or ``python -m volumelib.compat.cinderlib.cmd.cinder_to_yaml cinder.conf [out.yaml]``.

Each section named in ``[DEFAULT] enabled_backends`` becomes one dict of the options
set *in that section* (``[DEFAULT]`` values are not copied into it; cinderlib took
only the options its Cinder knew, which volumelib cannot know for drivers it does not
have). ``volume_backend_name`` defaults to the section name. Values of options the
mapped volumelib driver declares are converted to the declared type (``"true"`` ->
``True``, ``"5"`` -> ``5``); the rest stay strings.
"""

from __future__ import annotations

import configparser
import logging
import os
import sys
from typing import Any

import yaml

import volumelib.compat.cinderlib.drivers as compat_drivers
from volumelib import exceptions as exc
from volumelib.drivers import load_driver_class
from volumelib.drivers.base import COMMON_OPTIONS

__all__ = ["convert", "main"]

LOG = logging.getLogger(__name__)


def _typed(section: dict[str, str]) -> dict[str, Any]:
    """Convert the values the mapped volumelib driver declares a type for."""
    try:
        target, _ = compat_drivers.resolve(section.get("volume_driver"))
        cls = target if isinstance(target, type) else load_driver_class(target)
    except exc.DriverNotFound as e:
        LOG.debug("values of %s kept as strings: %s", section.get("volume_driver"), e)
        return dict(section)
    declared = {o.name: o for o in COMMON_OPTIONS + tuple(cls.options)}
    out: dict[str, Any] = {}
    for key, value in section.items():
        opt = declared.get(key)
        out[key] = opt.coerce(value, cls.name) if opt is not None else value
    return out


def convert(cinder_source: str, yaml_dest: str | None = None) -> dict[str, Any]:
    """Read ``cinder_source`` and return ``{"backends": [...]}``; also write it as YAML
    to ``yaml_dest`` when given.

    Raises:
        InvalidConfig: the file is missing or unreadable, has no
            ``[DEFAULT] enabled_backends``, or names a section it does not have; or a
            value does not convert to the type its driver declares.
    """
    if not isinstance(cinder_source, (str, os.PathLike)) or not os.path.isfile(cinder_source):
        raise exc.InvalidConfig(reason=f"Cinder config file {cinder_source!r} doesn't exist")
    # No default section: [DEFAULT] is read like any other and never merged into the
    # backend sections, so each backend gets exactly the keys written in its section.
    parser = configparser.ConfigParser(interpolation=None, default_section="\x00",
                                       strict=False)
    try:
        with open(cinder_source, encoding="utf-8") as f:
            parser.read_file(f)
    except (OSError, UnicodeDecodeError, configparser.Error) as e:
        raise exc.InvalidConfig(reason=f"cannot read {cinder_source}: {e}") from e
    enabled = parser.get("DEFAULT", "enabled_backends", fallback="")
    names = [n.strip() for n in enabled.split(",") if n.strip()]
    if not names:
        raise exc.InvalidConfig(reason=f"{cinder_source} has no [DEFAULT] enabled_backends")
    backends = []
    for name in names:
        if not parser.has_section(name):
            raise exc.InvalidConfig(reason=f"{cinder_source}: enabled backend {name!r} "
                                           f"has no [{name}] section")
        own = dict(parser.items(name))
        own.setdefault("volume_backend_name", name)
        backends.append(_typed(own))
    result = {"backends": backends}
    if yaml_dest:
        with open(yaml_dest, "w", encoding="utf-8") as f:
            yaml.safe_dump(result, f, default_flow_style=False)
    return result


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (1, 2):
        print("usage: cinder_to_yaml CINDER_CONF [YAML_DEST]", file=sys.stderr)
        return 2
    try:
        result = convert(args[0], args[1] if len(args) == 2 else None)
    except exc.VolumelibError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if len(args) == 1:
        sys.stdout.write(yaml.safe_dump(result, default_flow_style=False))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
