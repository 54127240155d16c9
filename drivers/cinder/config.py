"""A Cinder driver's configuration, in a private ``oslo.config`` ``ConfigOpts``.

Cinder's own ``Configuration`` registers every option on the process-global
``cfg.CONF``. Here each backend gets its own ``ConfigOpts`` (nothing read from
``/etc/cinder``), with one group named after the backend, holding:

* the options Cinder's driver base appends for every driver (``volume_opts`` and
  friends: ``reserved_percentage``, ``target_helper``, ``volume_dd_blocksize``...);
* the driver's own, from its ``get_driver_options()``, and any it appends in its
  constructor (found by building a throwaway instance when a keyword is not known
  otherwise);
* the few that Cinder drivers read as plain attributes and declare nowhere
  (``rbd_keyring_conf``: :data:`volumelib.drivers.cinder.quirks`).

A keyword that none of them declares is refused with ``UnknownOption`` listing the
known ones; a value oslo.config cannot convert to the option's type with
``InvalidConfig`` naming the option (the value is hidden for ``secret`` options).
Secrets are the options oslo.config marks ``secret=True`` plus any whose name is a
volumelib secret key (``password``...); :meth:`CinderConfig.redacted` hides them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from oslo_config import cfg

from volumelib import exceptions as exc
from volumelib.drivers.types import SECRET_KEYS

__all__ = ["CinderConfig", "build", "base_options", "option_type"]

LOG = logging.getLogger(__name__)


def base_options() -> list[Any]:
    """The options Cinder's ``BaseVD.__init__`` appends for every driver."""
    # Cinder's driver base (imported already when a Cinder driver is in use).
    from cinder.volume import driver as cinder_driver
    opts: list[Any] = []
    for name in ("volume_opts", "iser_opts", "nvmeof_opts", "nvmet_opts", "scst_opts",
                 "backup_opts", "image_opts", "fqdn_opts"):
        opts.extend(getattr(cinder_driver, name, ()))
    return opts


def option_type(opt: Any) -> str:
    """A short type name for an oslo.config option (``str``, ``int``, ``bool``...;
    ``multistr`` and ``multi`` for options given several times, whose value is a list)."""
    for cls, name in ((cfg.BoolOpt, "bool"), (cfg.IntOpt, "int"), (cfg.FloatOpt, "float"),
                      (cfg.ListOpt, "list"), (cfg.DictOpt, "dict"), (cfg.PortOpt, "port"),
                      (cfg.MultiStrOpt, "multistr"), (cfg.MultiOpt, "multi")):
        if isinstance(opt, cls):
            return name
    return "str"


class CinderConfig:
    """What a Cinder driver gets as ``self.configuration``.

    It answers Cinder's ``Configuration`` interface (``append_config_values``,
    ``safe_get``, ``get``, ``set_default``, ``config_group`` and attribute access to
    option values) over a private ``ConfigOpts``. Attribute access has to forward:
    that is how Cinder drivers read their options. Attributes a driver sets on it
    (the RBD driver normalises ``rbd_user``...) shadow the option, as with Cinder's.
    """

    def __init__(self, conf: Any, group: str) -> None:
        object.__setattr__(self, "_conf", conf)
        object.__setattr__(self, "config_group", group)
        object.__setattr__(self, "_secret", set())

    # -- Cinder's Configuration interface -------------------------------------------

    def append_config_values(self, opts: Iterable[Any]) -> None:
        for opt in opts:
            try:
                self._conf.register_opt(opt, group=self.config_group)
            except cfg.DuplicateOptError:
                continue
            if getattr(opt, "secret", False):
                self._secret.add(opt.dest)

    def safe_get(self, name: str) -> Any:
        try:
            return getattr(self, name)
        except (cfg.NoSuchOptError, AttributeError):
            return None

    def get(self, name: str, default: Any = None) -> Any:
        value = self.safe_get(name)
        return default if value is None else value

    def set_default(self, name: str, default: Any) -> None:
        self._conf.set_default(name, default, group=self.config_group)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        conf = object.__getattribute__(self, "_conf")
        group = object.__getattribute__(self, "config_group")
        return conf._get(name, group)

    # -- volumelib's side ------------------------------------------------------------

    def known(self) -> set[str]:
        """Every option name registered in this backend's group."""
        return set(self._conf[self.config_group].keys())

    def is_secret(self, name: str) -> bool:
        return name in self._secret or name.lower() in SECRET_KEYS or \
            any(word in name.lower() for word in ("password", "secret_key", "chap_"))

    def set(self, name: str, value: Any, driver: str) -> None:
        """Set option ``name`` (an override), converted to its type.

        Raises:
            InvalidConfig: oslo.config cannot convert ``value``.
        """
        try:
            self._conf.set_override(name, value, group=self.config_group)
        except (ValueError, TypeError) as e:
            shown = "***" if self.is_secret(name) else repr(value)
            why = "a bad value" if self.is_secret(name) else str(e)
            raise exc.InvalidConfig(
                reason=f"option {name}={shown} of Cinder driver {driver}: {why}") from None

    def redacted(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """``given`` with the values of secret options replaced by ``***``."""
        return {k: ("***" if self.is_secret(k) and v is not None else v)
                for k, v in given.items()}


def build(cinder_cls: type, backend_name: str, options: Mapping[str, Any],
          driver: str, attribute_options: Mapping[str, str]) -> CinderConfig:
    """The configuration of one backend of ``cinder_cls`` with ``options`` set.

    Args:
        attribute_options: options the driver reads as plain attributes without
            declaring them (name -> help), set as attributes.

    Raises:
        UnknownOption: a keyword no option of the driver declares (listing them).
        InvalidConfig: a value of the wrong type.
    """
    conf = cfg.ConfigOpts()
    conf([], project="cinder", default_config_files=[], default_config_dirs=[],
         use_env=False)
    config = CinderConfig(conf, backend_name)
    config.append_config_values(base_options())
    config.append_config_values(_driver_options(cinder_cls))
    unknown = [k for k in options if k not in config.known() and k not in attribute_options]
    if unknown:
        _probe_constructor(cinder_cls, config)
        unknown = [k for k in unknown if k not in config.known()]
    if unknown:
        known = sorted(config.known() | set(attribute_options))
        raise exc.UnknownOption(option=sorted(unknown)[0], driver=driver,
                                known=", ".join(known))
    config.set("volume_backend_name", backend_name, driver)
    for name, value in options.items():
        if value is None:
            continue
        if name in attribute_options and name not in config.known():
            if not isinstance(value, str):
                raise exc.InvalidConfig(reason=f"option {name}={value!r} of Cinder driver "
                                               f"{driver}: expected a string")
            object.__setattr__(config, name, value)
        else:
            config.set(name, value, driver)
    return config


def _driver_options(cinder_cls: type) -> list[Any]:
    getter = getattr(cinder_cls, "get_driver_options", None)
    if getter is None:
        return []
    try:
        return list(getter())
    except Exception as e:  # noqa: BLE001 - a driver's listing is its own code
        LOG.debug("%s.get_driver_options() failed: %s", cinder_cls.__name__, e)
        return []


def _probe_constructor(cinder_cls: type, config: CinderConfig) -> None:
    """Build a throwaway instance so the options its constructor appends get
    registered (Cinder drivers must not do I/O in ``__init__``)."""
    probe_conf = cfg.ConfigOpts()
    probe_conf([], project="cinder", default_config_files=[], default_config_dirs=[],
               use_env=False)
    probe = CinderConfig(probe_conf, config.config_group)
    try:
        cinder_cls(configuration=probe, host="volumelib-probe")
    except Exception as e:  # noqa: BLE001 - only the registered options matter
        LOG.debug("probing %s's options: its constructor raised %s", cinder_cls.__name__, e)
    for name in probe.known() - config.known():
        config.append_config_values([probe_conf._get_opt_info(name, probe.config_group)
                                     ["opt"]])
