"""The CLI's configuration: which store, which backends.

Sources, strongest first:

1. ``--config FILE`` (else ``$VOLUMELIB_CONFIG``): YAML (``.yaml``/``.yml``/``.json``,
   or any file that does not look like an ini) or an oslo.config style ini.
2. ``$VOLUMELIB_DB_URL``: replaces the file's persistence with the SQL store at that
   URL (``{"storage": "dbms", "connection": URL}``).
3. Nothing: the memory store and no backend (enough for ``--help``, ``db`` with
   ``--url`` and ``image-cache``).

YAML, the shape of cinderlib's YAML test configs::

    persistence_config:            # volumelib.setup(persistence_config=...)
      storage: db
      connection: sqlite:////var/lib/volumelib/db.sqlite
    project_id: ops                # optional, recorded on new resources
    backends:                      # each a volumelib.Backend(**kwargs)
      - volume_backend_name: local
        volume_driver: file
        file_root: /var/lib/volumelib/local

ini (Cinder's layout; values are coerced to the driver options' declared types)::

    [DEFAULT]
    enabled_backends = local
    [database]
    connection = sqlite:////var/lib/volumelib/db.sqlite
    [local]
    volume_driver = file
    file_root = /var/lib/volumelib/local

Nothing here touches a global ``cfg.CONF``: the ini is read by oslo.config's parser
into plain dicts.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
from collections.abc import Mapping
from typing import Any

import yaml
from oslo_config import cfg

from volumelib import exceptions as exc
from volumelib.cli.arguments import parse_size
from volumelib.compat.cinderlib import drivers as compat
from volumelib.drivers import load_driver_class

__all__ = ["CliConfig", "load", "parse_yaml", "parse_ini", "image_cache_options",
           "backend_kwargs", "ENV_CONFIG", "ENV_DB_URL"]

LOG = logging.getLogger(__name__)

ENV_CONFIG = "VOLUMELIB_CONFIG"
ENV_DB_URL = "VOLUMELIB_DB_URL"

#: Top-level YAML keys volumelib uses.
KNOWN_KEYS = frozenset({"persistence_config", "backends", "project_id", "user_id",
                        "file_locks_path", "image_cache", "persistence"})
#: Keys of cinderlib's YAML test configs that mean nothing here; accepted and ignored
#: so that such a file works unchanged.
CINDERLIB_KEYS = frozenset({"logs", "debug", "venv_sudo", "size_precision",
                            "storage_nw_ip", "privileged_user", "disable_logs",
                            "output_all_backend_info", "use_multipath"})
#: ini sections that are not backends.
INI_RESERVED = frozenset({"DEFAULT", "database", "persistence", "volumelib", "image_cache"})


@dataclasses.dataclass
class CliConfig:
    """What the CLI runs with.

    Attributes:
        source: the file read (``None``: none).
        persistence_config: for ``volumelib.setup`` (``None``: memory).
        backends: ``Backend`` keyword dicts, each with ``volume_backend_name``.
        project_id, user_id, file_locks_path: for ``volumelib.setup``.
        image_cache: options of a local image cache for ``volume create --image``
            (``base_dir``, ``driver``, ``max_size``, ``max_count``), or ``None``.
        raw: the whole parsed document (the conformance kit reads ``persistence``).
    """

    # Not in repr: a database URL and driver options may hold passwords.
    source: str | None = None
    persistence_config: dict[str, Any] | None = dataclasses.field(default=None, repr=False)
    backends: list[dict[str, Any]] = dataclasses.field(default_factory=list, repr=False)
    project_id: str | None = None
    user_id: str | None = None
    file_locks_path: str | None = None
    image_cache: dict[str, Any] | None = None
    raw: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False)

    @property
    def backend_names(self) -> list[str]:
        return [b["volume_backend_name"] for b in self.backends]

    def backend_config(self, name: str | None) -> dict[str, Any]:
        """The keyword dict of backend ``name``; the only one when ``name`` is ``None``.

        Raises:
            InvalidConfig: no backend configured, or several and no name given.
            BackendNotFound: no backend of that name in the configuration.
        """
        if not self.backends:
            raise exc.InvalidConfig(reason="no backend configured: pass --config FILE or "
                                           f"set {ENV_CONFIG} (a YAML file with 'backends')")
        if name is None:
            if len(self.backends) > 1:
                raise exc.InvalidConfig(
                    reason=f"{len(self.backends)} backends configured "
                           f"({', '.join(self.backend_names)}): pick one with --backend NAME")
            return dict(self.backends[0])
        for backend in self.backends:
            if backend["volume_backend_name"] == name:
                return dict(backend)
        raise exc.BackendNotFound(
            f"Backend {name!r} is not in the configuration "
            f"({', '.join(self.backend_names) or 'none configured'}).", backend_name=name)


IMAGE_CACHE_KEYS = ("base_dir", "driver", "max_size", "max_count", "stall_time")


def image_cache_options(section: Mapping[str, Any], where: str = "image_cache"
                        ) -> tuple[str, str, dict[str, Any]]:
    """``(base_dir, driver, options)`` of an ``image_cache`` section. Sizes may be
    written ``20G``/``512M`` (ini values are strings).

    Raises:
        InvalidConfig: an unknown key or a malformed value, naming it.
    """


    unknown = sorted(set(section) - set(IMAGE_CACHE_KEYS))
    if unknown:
        raise exc.InvalidConfig(reason=f"{where}: unknown key(s) {', '.join(unknown)}; "
                                       f"known: {', '.join(IMAGE_CACHE_KEYS)}")
    options: dict[str, Any] = {}
    try:
        if section.get("max_size") is not None:
            options["max_size"] = parse_size(str(section["max_size"]))
        if section.get("max_count") is not None:
            options["max_count"] = int(section["max_count"])
        if section.get("stall_time") is not None:
            options["stall_time"] = float(section["stall_time"])
    except (ValueError, TypeError, argparse.ArgumentTypeError) as e:
        raise exc.InvalidConfig(reason=f"{where}: {e}") from None
    return str(section["base_dir"]), str(section.get("driver") or "sqlite"), options


def backend_kwargs(options: Mapping[str, Any]) -> dict[str, Any]:
    """The ``volumelib.Backend`` keywords for a configured backend.

    A Cinder driver path (``volume_driver: cinder.volume.drivers.rbd.RBDDriver``, as in
    a cinderlib YAML file) is resolved as ``volumelib.compat.cinderlib`` does: its native
    volumelib driver with Cinder's option names translated when there is one (unless
    ``use_cinder_driver: true``), else Cinder's own driver through
    ``volumelib.drivers.cinder``; anything else passes as is.

    Raises:
        DriverNotFound: Cinder is not installed for a path that needs it.
        UnknownOption: an option the driver does not take.
    """
    kwargs = dict(options)
    driver = kwargs.get("volume_driver")
    if not (isinstance(driver, str) and driver.startswith("cinder.")):
        return kwargs

    target, alias = compat.resolve(driver, kwargs.pop("use_cinder_driver", None))
    cls = target if isinstance(target, type) else load_driver_class(target)
    explicit = {k: v for k, v in kwargs.items()
                if k not in ("volume_backend_name", "volume_driver")}
    LOG.debug("backend %s: Cinder driver %s served by volumelib's %s",
              kwargs.get("volume_backend_name"), driver, target)
    return {"volume_backend_name": kwargs["volume_backend_name"], "volume_driver": target,
            **compat.driver_options(cls, alias, explicit, {})}


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        raise exc.InvalidConfig(reason=f"config file {path} does not exist") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as e:
        raise exc.InvalidConfig(reason=f"cannot read config file {path}: "
                                       f"{e.strerror if isinstance(e, OSError) else e}") from e


def _looks_like_ini(path: str, text: str) -> bool:
    if path.endswith((".ini", ".conf", ".cfg")):
        return True
    if path.endswith((".yaml", ".yml", ".json")):
        return False
    first = next((ln.strip() for ln in text.splitlines()
                  if ln.strip() and not ln.lstrip().startswith(("#", ";"))), "")
    return first.startswith("[") and first.endswith("]") and ":" not in first


def _check_backends(backends: Any, path: str) -> list[dict[str, Any]]:
    if backends is None:
        return []
    if not isinstance(backends, list):
        raise exc.InvalidConfig(reason=f"{path}: 'backends' must be a list of mappings, "
                                       f"not {type(backends).__name__}")
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, backend in enumerate(backends):
        if not isinstance(backend, Mapping):
            raise exc.InvalidConfig(reason=f"{path}: backends[{i}] must be a mapping of "
                                           f"Backend options, not {backend!r:.60}")
        bad = [k for k in backend if not isinstance(k, str)]
        if bad:
            raise exc.InvalidConfig(reason=f"{path}: backends[{i}] has non-string keys {bad}")
        name = backend.get("volume_backend_name")
        if not isinstance(name, str) or not name:
            raise exc.InvalidConfig(reason=f"{path}: backends[{i}] needs a "
                                           f"volume_backend_name")
        if name in seen:
            raise exc.InvalidConfig(reason=f"{path}: two backends named {name!r}")
        seen.add(name)
        out.append(dict(backend))
    return out


def parse_yaml(text: str, path: str = "<config>") -> CliConfig:
    """Parse a YAML (or JSON) configuration document.

    Raises:
        InvalidConfig: not YAML, not a mapping, an unknown key or a bad value.
    """

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise exc.InvalidConfig(reason=f"{path}{where} is not valid YAML: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise exc.InvalidConfig(reason=f"{path} must hold a mapping (persistence_config, "
                                       f"backends...), not {type(data).__name__}")
    unknown = sorted(str(k) for k in data if k not in KNOWN_KEYS | CINDERLIB_KEYS)
    if unknown:
        raise exc.InvalidConfig(reason=f"{path}: unknown key(s) {', '.join(unknown)}; known: "
                                       f"{', '.join(sorted(KNOWN_KEYS))}")
    persistence = data.get("persistence_config")
    if persistence is not None and not isinstance(persistence, Mapping):
        raise exc.InvalidConfig(reason=f"{path}: persistence_config must be a mapping "
                                       f"such as {{storage: db, connection: URL}}")
    image_cache = data.get("image_cache")
    if image_cache is not None and not (isinstance(image_cache, Mapping)
                                        and isinstance(image_cache.get("base_dir"), str)):
        raise exc.InvalidConfig(reason=f"{path}: image_cache must be a mapping with "
                                       f"base_dir (and optionally driver, max_size, max_count)")
    if image_cache is not None:
        image_cache_options(image_cache, f"{path}: image_cache")
    for key in ("project_id", "user_id", "file_locks_path"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise exc.InvalidConfig(reason=f"{path}: {key} must be a string")
    return CliConfig(source=path,
                     persistence_config=dict(persistence) if persistence else None,
                     backends=_check_backends(data.get("backends"), path),
                     project_id=data.get("project_id"), user_id=data.get("user_id"),
                     file_locks_path=data.get("file_locks_path"),
                     image_cache=dict(image_cache) if image_cache else None,
                     raw=dict(data))


def parse_ini(path: str) -> CliConfig:
    """Parse an oslo.config style ini file (see the module docstring).

    Backends are the sections named by ``[DEFAULT] enabled_backends``, or, without
    it, every section but ``DEFAULT``, ``database``, ``persistence``, ``volumelib`` and
    ``image_cache``. A backend's ``volume_backend_name`` defaults to its section name.

    Raises:
        InvalidConfig: unreadable or malformed, or ``enabled_backends`` names a
            missing section.
    """

    _read(path)  # the same clear errors as for YAML on a missing file
    sections: dict[str, dict[str, list[str]]] = {}
    try:
        cfg.ConfigParser(path, sections).parse()
    except cfg.ParseError as e:
        raise exc.InvalidConfig(reason=f"{path} is not a valid ini file: {e.msg} "
                                       f"(line {e.lineno})") from None

    def flat(section: str) -> dict[str, str]:
        return {k: v[-1] for k, v in sections.get(section, {}).items()}

    default = flat("DEFAULT")
    unknown = sorted(set(default) - {"enabled_backends", "project_id", "user_id",
                                     "file_locks_path"})
    if unknown:
        raise exc.InvalidConfig(reason=f"{path}: unknown [DEFAULT] option(s) "
                                       f"{', '.join(unknown)}")
    if "enabled_backends" in default:
        names = [n.strip() for n in default["enabled_backends"].split(",") if n.strip()]
        missing = [n for n in names if n not in sections]
        if missing:
            raise exc.InvalidConfig(reason=f"{path}: enabled_backends names section(s) "
                                           f"{', '.join(missing)} that the file lacks")
    else:
        names = [s for s in sections if s not in INI_RESERVED]
    backends = []
    for name in names:
        options: dict[str, Any] = flat(name)
        options.setdefault("volume_backend_name", name)
        backends.append(options)
    persistence: dict[str, Any] | None = flat("persistence") or None
    database = flat("database")
    if database.get("connection"):
        if persistence:
            raise exc.InvalidConfig(reason=f"{path}: both [database] connection and "
                                           f"[persistence]; keep one")
        persistence = {"storage": "dbms", "connection": database["connection"]}
    image_cache: dict[str, Any] | None = flat("image_cache") or None
    if image_cache is not None:
        if not image_cache.get("base_dir"):
            raise exc.InvalidConfig(reason=f"{path}: [image_cache] needs base_dir")
        image_cache_options(image_cache, f"{path}: [image_cache]")
    return CliConfig(source=path, persistence_config=persistence,
                     backends=_check_backends(backends, path),
                     project_id=default.get("project_id"), user_id=default.get("user_id"),
                     file_locks_path=default.get("file_locks_path"),
                     image_cache=image_cache, raw={"backends": backends})


def load(path: str | None = None, environ: Mapping[str, str] | None = None) -> CliConfig:
    """Read the configuration from ``path``, ``$VOLUMELIB_CONFIG`` and
    ``$VOLUMELIB_DB_URL`` (see the module docstring for the precedence).

    Raises:
        InvalidConfig: the file is missing, unreadable or malformed.
    """
    env = os.environ if environ is None else environ
    path = path or env.get(ENV_CONFIG) or None
    if path is None:
        config = CliConfig()
    else:
        text = _read(path)
        config = parse_ini(path) if _looks_like_ini(path, text) else parse_yaml(text, path)
    url = env.get(ENV_DB_URL)
    if url:
        LOG.debug("persistence from $%s", ENV_DB_URL)
        config.persistence_config = {"storage": "dbms", "connection": url}
    return config
