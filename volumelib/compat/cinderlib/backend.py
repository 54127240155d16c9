"""cinderlib's ``setup`` and ``Backend`` over ``volumelib.setup`` and ``volumelib.Backend``.

cinderlib kept its settings as class attributes of ``Backend`` (``root_helper``,
``project_id``, ``persistence``...) and every backend in the class dict
``Backend.backends``; scripts read both, so this adapter does the same. The work is
done by volumelib: one ``volumelib.Backend`` per compat ``Backend`` (``backend.driver``
is its volumelib driver, ``backend.vl_backend`` the volumelib backend).
"""

from __future__ import annotations

import json as json_lib
import logging
import os
import threading
from collections.abc import Mapping
from typing import Any, ClassVar

import urllib3

import volumelib
from volumelib import exceptions as exc
from volumelib import runtime
from volumelib.compat.cinderlib import drivers as compat_drivers
from volumelib.compat.cinderlib import lenient
from volumelib.compat.cinderlib.identity import wrap, wrap_all
from volumelib.compat.cinderlib.persistence import CurrentPersistence
from volumelib.drivers import load_driver_class
from volumelib.drivers.types import redact

__all__ = ["Backend", "setup", "load", "load_backend_data", "DEFAULT_PROJECT_ID",
           "DEFAULT_USER_ID"]

LOG = logging.getLogger(__name__)

DEFAULT_PROJECT_ID = "cinderlib"
DEFAULT_USER_ID = "cinderlib"

#: The loggers ``disable_logs``/``debug`` act on: the library's own, never the host
#: application's (cinderlib disabled every logger of the process).
OWN_LOGGERS = ("volumelib", "cinderlib")

_lock = threading.RLock()
_saved_levels: dict[str, int] = {}
_debug_handler: logging.Handler | None = None


def _set_logging(disable_logs: bool, debug: bool) -> None:
    """Quiet (or open up) volumelib's and cinderlib's loggers only."""
    global _debug_handler
    for name in OWN_LOGGERS:
        logger = logging.getLogger(name)
        if name not in _saved_levels:
            _saved_levels[name] = logger.level
        if debug:
            logger.setLevel(logging.DEBUG)
        elif disable_logs:
            logger.setLevel(logging.CRITICAL + 1)
        else:
            logger.setLevel(_saved_levels[name])
    root_lib = logging.getLogger(OWN_LOGGERS[0])
    if debug and _debug_handler is None:
        # Only on our logger, so the host application's handlers are not touched.
        _debug_handler = logging.StreamHandler()
        _debug_handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s"))
        for name in OWN_LOGGERS:
            logging.getLogger(name).addHandler(_debug_handler)
    elif not debug and _debug_handler is not None:
        for name in OWN_LOGGERS:
            logging.getLogger(name).removeHandler(_debug_handler)
        _debug_handler = None
    LOG.debug("cinderlib compat logging: disable_logs=%s debug=%s (level %s)",
              disable_logs, debug, root_lib.level)


def _suppress_ssl_warnings() -> None:
    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)


def _brick_in_process() -> None:
    """As root, run os-brick's privileged calls in this process, as cinderlib's
    ``setup`` did (``set_client_mode(False)``): clients call os-brick themselves
    (Ember-CSI's ``get_connector_properties``), and without it os-brick would start
    its privsep helper through ``sudo``. Not root: os-brick is left as it is."""
    if os.geteuid() != 0:
        return
    # Lazy: os-brick (and its privsep/eventlet stack) loads only when set up as root.
    import os_brick.privileged

    os_brick.privileged.default.set_client_mode(False)
    LOG.debug("os-brick runs its privileged calls in-process (root)")


class Backend:
    """A cinderlib backend: ``Backend(volume_backend_name=..., volume_driver=..., **opts)``.

    ``volume_driver`` is a Cinder driver path with a native equivalent
    (``cinder.volume.drivers.rbd.RBDDriver``), a volumelib driver name (``file``,
    ``fake``, ``rbd``) or a dotted class path. A second ``Backend`` with the same name
    and configuration is the same object (cinderlib's behaviour); with another
    configuration it raises ``AlreadyExists``.

    Raises:
        DriverNotFound: the driver has no volumelib equivalent, naming it.
        UnknownOption / InvalidConfig: an option the driver does not know.
        AlreadyExists: the name is taken by a backend with another configuration.
        BackendError: the driver failed to set up.
    """

    #: name -> Backend, every backend of this process (cinderlib's registry).
    backends: ClassVar[dict[str, Backend]] = {}
    global_initialization: ClassVar[bool] = False
    root_helper: ClassVar[str] = "sudo"
    project_id: ClassVar[str] = DEFAULT_PROJECT_ID
    user_id: ClassVar[str] = DEFAULT_USER_ID
    non_uuid_ids: ClassVar[bool] = False
    fail_on_missing_backend: ClassVar[bool] = True
    output_all_backend_info: ClassVar[bool] = False
    #: ``setup(**kwargs)`` options that are not cinderlib's own: driver defaults.
    driver_defaults: ClassVar[dict[str, Any]] = {}
    persistence = CurrentPersistence()

    def __new__(cls, volume_backend_name: str | None = None, **driver_cfg: Any) -> Backend:
        existing = cls.backends.get(volume_backend_name) if isinstance(
            volume_backend_name, str) else None
        if existing is not None:
            if existing._original_cfg == driver_cfg:
                return existing
            differ = sorted(k for k in set(driver_cfg) | set(existing._original_cfg)
                            if driver_cfg.get(k) != existing._original_cfg.get(k))
            raise exc.AlreadyExists(
                f"backend {volume_backend_name!r} already exists with another "
                f"configuration (differs in: {', '.join(differ)})",
                resource="Backend", id=volume_backend_name)
        return super().__new__(cls)

    def __init__(self, volume_backend_name: str | None = None, **driver_cfg: Any) -> None:
        if getattr(self, "_initialized", False):
            return  # the existing backend of that name, returned by __new__
        if not Backend.global_initialization:
            setup()
        if not isinstance(volume_backend_name, str) or not volume_backend_name:
            raise exc.InvalidConfig(reason=f"volume_backend_name must be a non-empty "
                                           f"string, not {volume_backend_name!r}")
        original = dict(driver_cfg)
        cfg = dict(driver_cfg)
        target, alias_key = compat_drivers.resolve(cfg.pop("volume_driver", None),
                                                   cfg.pop("use_cinder_driver", None))
        cls = target if isinstance(target, type) else load_driver_class(target)
        options = compat_drivers.driver_options(cls, alias_key, cfg, Backend.driver_defaults)
        self._original_cfg = original
        self._driver_cfg = {"volume_backend_name": volume_backend_name, **original}
        self.vl_backend = volumelib.Backend(volume_backend_name, cls, **options)
        self.driver = self.vl_backend.driver
        self._initialized = True
        Backend.backends[volume_backend_name] = self
        self._stats = self._transform_legacy_stats(self.vl_backend.stats())
        LOG.debug("cinderlib backend %s served by %r", volume_backend_name, self.driver)

    # -- identity and settings -------------------------------------------------------

    @property
    def id(self) -> str:
        return self.vl_backend.id

    @property
    def initialized(self) -> bool:
        return self._initialized

    @property
    def config(self) -> dict[str, Any]:
        """Only the name, unless ``setup(output_all_backend_info=True)`` (then all of
        the configuration, secrets included, as cinderlib did)."""
        if Backend.output_all_backend_info:
            return dict(self._driver_cfg)
        return {"volume_backend_name": self.id}

    def __repr__(self) -> str:
        return f"<cinderlib.Backend {self.id}>"

    def __getattr__(self, name: str) -> Any:
        """cinderlib's ``Backend`` passed unknown attributes on to its driver, and its
        clients use that (Ember-CSI calls ``backend.get_version()`` and reads
        ``backend.supported``): a compatibility shim, public names only.

        Raises:
            AttributeError: neither the backend nor its driver has ``name``.
        """
        if name.startswith("_") or name in ("driver", "vl_backend"):
            raise AttributeError(name)
        try:
            driver = self.__dict__["driver"]
        except KeyError:
            raise AttributeError(name) from None
        try:
            return getattr(driver, name)
        except AttributeError:
            raise AttributeError(f"neither cinderlib.Backend {self.id!r} nor its driver "
                                 f"{type(driver).__name__} has attribute {name!r}") from None

    @classmethod
    def global_setup(cls, *args: Any, **kwargs: Any) -> None:
        setup(*args, **kwargs)

    @classmethod
    def set_persistence(cls, persistence_config: Any) -> None:
        """Switch the store (after ``setup``), keeping the other settings."""
        if not cls.global_initialization:
            raise exc.InvalidState(resource="cinderlib", status="not set up",
                                   reason="set_persistence needs setup() first")
        settings = runtime.settings()
        volumelib.setup(persistence_config=persistence_config, project_id=cls.project_id,
                        user_id=cls.user_id, file_locks_path=settings.file_locks_path,
                        fail_on_missing_backend=cls.fail_on_missing_backend,
                        host=settings.host)

    # -- stats and pools ----------------------------------------------------------------

    def _transform_legacy_stats(self, stats: Mapping[str, Any]) -> dict[str, Any]:
        stats = dict(stats)
        if "pools" not in stats:
            pool = {k: v for k, v in stats.items()
                    if k not in ("driver_version", "shared_targets", "sparse_copy_volume",
                                 "storage_protocol", "vendor_name", "volume_backend_name")}
            pool["pool_name"] = self.id
            stats["pools"] = [pool]
        if len(stats["pools"]) == 1:
            # Cinder's volume manager, not the driver, reports allocated_capacity_gb:
            # the GiB of the volumes it created in the pool. Do the same from the store
            # (some volumelib drivers report the blocks in use under that name).
            pool = dict(stats["pools"][0])
            store = self.vl_backend.persistence
            pool["allocated_capacity_gb"] = float(sum(
                v.size for v in store.get_volumes(backend_name=self.id)))
            stats["pools"] = [pool]
        return stats

    def stats(self, refresh: bool = False) -> dict[str, Any]:
        """Cinder's stats dict; cached unless ``refresh``."""
        if refresh:
            self._stats = self._transform_legacy_stats(self.vl_backend.stats(refresh=True))
        return self._stats

    @property
    def pool_names(self) -> tuple[str, ...]:
        return tuple(p.get("pool_name", self.id) for p in self._stats["pools"])

    # -- volumes --------------------------------------------------------------------------

    @property
    def volumes(self) -> list[Any]:
        """This backend's volumes, read from the store (live compat objects)."""
        return wrap_all(self.vl_backend.volumes)

    def volumes_filtered(self, volume_id: str | None = None,
                         volume_name: str | None = None) -> list[Any]:
        return self.persistence.get_volumes(volume_id=volume_id, volume_name=volume_name,
                                            backend_name=self.id)

    def create_volume(self, size: int, name: str | None = "", description: str | None = "",
                      bootable: bool = False, pool_name: str | None = None,
                      **kwargs: Any) -> Any:
        """cinderlib's ``create_volume``: ``size`` GiB (an integral float such as
        ``1.0`` too, as cinderlib took it), ``name``, ``description``, ``pool_name``
        (one of :attr:`pool_names`), and ``id``, ``metadata``, ``extra_specs`` (a
        volume type's specs), ``volume_type``, ``multiattach``.

        ``bootable`` is accepted and not stored (it meant nothing to cinderlib either).

        Raises:
            PoolNotFound: ``pool_name`` is not one of this backend's pools.
            InvalidArgument: a keyword volumelib has no equivalent for.
            NotSupported: ``qos_specs`` (volumelib types have no QoS on create).
        """
        size = lenient.integral_size(size)
        if pool_name is not None and pool_name not in self.pool_names:
            raise exc.PoolNotFound(
                f"Pool {pool_name!r} is not a pool of backend {self.id} "
                f"(pools: {', '.join(self.pool_names)})", pool_name=pool_name)
        lenient.refuse_qos_specs(kwargs, "create_volume", self.vl_backend.driver_name)
        if not isinstance(bootable, bool):
            raise exc.InvalidArgument(reason=f"bootable must be a bool, not {bootable!r}")
        extra_specs = kwargs.pop("extra_specs", None)
        if extra_specs is not None and kwargs.get("volume_type") is not None:
            raise exc.InvalidArgument(reason="give extra_specs or volume_type, not both")
        if extra_specs is not None:
            kwargs["volume_type"] = dict(extra_specs)
        allowed = {"id", "metadata", "volume_type", "multiattach"}
        unknown = sorted(set(kwargs) - allowed)
        if unknown:
            raise exc.InvalidArgument(
                reason=f"create_volume: volumelib has no equivalent for "
                       f"{', '.join(unknown)} (accepted: size, name, description, "
                       f"pool_name, bootable, extra_specs, {', '.join(sorted(allowed))})")
        vol = self.vl_backend.create_volume(size=size, name=name, description=description,
                                            **kwargs)
        return wrap(vol)

    def validate_connector(self, connector_dict: Mapping[str, Any]) -> None:
        """Raise ``InvalidArgument`` if the driver cannot connect to that host."""
        self.vl_backend.validate_connector(connector_dict)

    def refresh(self) -> None:
        """Nothing to do: :attr:`volumes` always reads the store."""

    def close(self) -> None:
        """(volumelib addition) Release the driver and forget this backend."""
        try:
            self.vl_backend.close()
        finally:
            if Backend.backends.get(self.id) is self:
                del Backend.backends[self.id]

    # -- serialization ----------------------------------------------------------------------

    def _serialize(self, attr: str) -> dict[str, Any]:
        return {"class": "Backend", "backend": self.config,
                "volumes": [getattr(v, attr) for v in self.volumes]}

    @property
    def json(self) -> dict[str, Any]:
        return self._serialize("json")

    @property
    def jsons(self) -> str:
        return json_lib.dumps(self.json, separators=(",", ":"))

    @property
    def dump(self) -> dict[str, Any]:
        return self._serialize("dump")

    @property
    def dumps(self) -> str:
        return json_lib.dumps(self.dump, separators=(",", ":"))

    @classmethod
    def load(cls, json_src: Any, save: bool = False) -> Backend | str:
        """A backend and its volumes from :attr:`json`/:attr:`dump` data."""
        return load_backend_data(json_src, save=save)

    @classmethod
    def load_backend(cls, backend_data: Mapping[str, Any]) -> Backend | str:
        """The live backend named in ``backend_data``; created from it when it carries
        a whole configuration; else its name (``fail_on_missing_backend=False``).

        Raises:
            BackendNotFound: unknown, no configuration, and ``fail_on_missing_backend``.
        """
        if not isinstance(backend_data, Mapping) or \
                not isinstance(backend_data.get("volume_backend_name"), str):
            raise exc.InvalidPayload(reason=f"backend data needs a volume_backend_name: "
                                            f"{backend_data!r:.80}")
        name = backend_data["volume_backend_name"]
        if name in cls.backends:
            return cls.backends[name]
        if len(backend_data) > 1:
            cfg = dict(backend_data)
            return cls(cfg.pop("volume_backend_name"), **cfg)
        if cls.fail_on_missing_backend:
            raise exc.BackendNotFound(backend_name=name)
        return name

    @staticmethod
    def list_supported_drivers(output_version: int = 1) -> dict[str, dict[str, Any]]:
        return compat_drivers.list_supported_drivers(output_version)


def setup(file_locks_path: str | None = None, root_helper: str = "sudo",
          suppress_requests_ssl_warnings: bool = True, disable_logs: bool = True,
          non_uuid_ids: bool = False, output_all_backend_info: bool = False,
          project_id: str | None = None, user_id: str | None = None,
          persistence_config: Any = None, fail_on_missing_backend: bool = True,
          host: str | None = None, debug: bool = False, **cinder_config_params: Any) -> None:
    """cinderlib's ``setup`` (``Backend.global_setup``): once per process.

    Args:
        persistence_config: ``{"storage": "memory" | "db" | "memory_db" | class |
            instance, ...}`` (``db`` takes ``connection``, an SQLAlchemy URL).
        root_helper: recorded; volumelib runs os-brick in-process (root needed to
            attach): as root, ``setup`` puts os-brick's privileged calls in-process for
            the whole process, as cinderlib did.
        disable_logs: silence volumelib's and cinderlib's loggers (never the host
            application's). ``debug``: set them to DEBUG with a stderr handler.
        project_id, user_id: recorded on new resources (default ``cinderlib``).
        non_uuid_ids: only ``False``: volumelib ids are UUIDs.
        **cinder_config_params: driver defaults for every Backend created afterwards
            (applied when the driver declares the option).

    Raises:
        InvalidState: already set up (set ``Backend.global_initialization = False``
            first, as cinderlib required).
        NotSupported: ``non_uuid_ids=True``.
        InvalidPersistence: the persistence config names no store.
    """
    with _lock:
        if Backend.global_initialization:
            raise exc.InvalidState(
                resource="cinderlib", status="already set up",
                reason="setup() may be called once; set "
                       "cinderlib.Backend.global_initialization = False to set up again")
        if non_uuid_ids:
            raise exc.NotSupported("non_uuid_ids=True is not supported: volumelib ids "
                                   "are UUIDs", operation="non_uuid_ids", driver="volumelib")
        if not isinstance(root_helper, str):
            raise exc.InvalidConfig(reason=f"root_helper must be a string, "
                                           f"not {root_helper!r}")
        volumelib.setup(persistence_config=persistence_config,
                        project_id=project_id or DEFAULT_PROJECT_ID,
                        user_id=user_id or DEFAULT_USER_ID, file_locks_path=file_locks_path,
                        fail_on_missing_backend=fail_on_missing_backend, host=host)
        Backend.root_helper = root_helper
        Backend.project_id = project_id or DEFAULT_PROJECT_ID
        Backend.user_id = user_id or DEFAULT_USER_ID
        Backend.non_uuid_ids = False
        Backend.fail_on_missing_backend = bool(fail_on_missing_backend)
        Backend.output_all_backend_info = bool(output_all_backend_info)
        Backend.driver_defaults = dict(cinder_config_params)
        _set_logging(bool(disable_logs), bool(debug))
        if suppress_requests_ssl_warnings:
            _suppress_ssl_warnings()
        _brick_in_process()
        Backend.global_initialization = True


# -- loading from JSON ---------------------------------------------------------------------
# Here, beside Backend, because the two need each other: loading an object brings up
# its backend (Backend.load_backend) and Backend.load loads the backend's volumes.
# cinderlib.load and cinderlib.serialization re-export these.


def _parse(json_src: Any) -> Any:
    if isinstance(json_src, (bytes, bytearray)):
        json_src = bytes(json_src).decode("utf-8", errors="strict")
    if isinstance(json_src, str):
        try:
            return json_lib.loads(json_src)
        except ValueError as e:
            raise exc.InvalidPayload(reason=f"not JSON: {e}") from None
    return json_src


def load(json_src: Any, save: bool = False) -> Any:
    """Objects (or backends with their volumes) from what ``json``/``dump`` made.

    Args:
        json_src: a dict, a JSON string, or a list of either.
        save: also write them to the current store (cinderlib's ``save=True``).

    Raises:
        InvalidPayload: not something this layer serialized.
        BackendNotFound: its backend is not set up here, the data does not carry its
            configuration, and ``fail_on_missing_backend`` is on.
    """
    data = _parse(json_src)
    if isinstance(data, list):
        return [load(item, save=save) for item in data]
    if not isinstance(data, Mapping):
        raise exc.InvalidPayload(reason=f"expected an object, got {type(data).__name__}")
    if data.get("class") == "Backend":
        return load_backend_data(data, save=save)
    return _load_object(data, save)


def _load_object(data: Mapping[str, Any], save: bool) -> Any:
    backend_data = data.get("backend")
    if isinstance(backend_data, Mapping):
        Backend.load_backend(backend_data)
    obj = volumelib.load(dict(data), save=save)
    if not save:
        _adopt_stored_version(obj)
    return wrap(obj)


def _adopt_stored_version(obj: Any) -> None:
    """Let an object loaded from JSON be saved over its row in the current store.

    A connection handed to a node as JSON is usually also in the shared store: the
    node's ``attach()`` must update that row, not try to insert a second one.
    """
    store = obj.persistence
    getter = {"Volume": store.get_volumes, "Snapshot": store.get_snapshots,
              "Connection": store.get_connections}.get(obj.OBJ_NAME)
    if getter is None:
        return
    found = getter(obj.id)
    if found:
        # volumelib.serialization does the same for load(save=True).
        object.__setattr__(obj, "_db_version", found[0]._db_version)
        obj._changed.update(obj.fields)
        if obj.OBJ_NAME == "Connection":
            _fill_secrets(obj, found[0])


def _fill_secrets(conn: Any, stored: Any) -> None:
    """JSON never carries secrets (an RBD keyring, CHAP passwords): when the JSON is
    the redacted form of the stored connection, use the stored values, which a
    process with access to the shared store may read anyway."""
    for field in ("connection_info", "connector"):
        mine, theirs = getattr(conn, field), getattr(stored, field)
        if theirs and mine != theirs and mine == redact(theirs):
            setattr(conn, field, theirs)


def load_backend_data(json_src: Any, save: bool = False) -> Backend | str:
    """``Backend.load``: the backend of ``Backend.json``/``dump`` data and its volumes.

    Raises:
        InvalidPayload: the data has no ``backend`` mapping.
    """
    data = _parse(json_src)
    if not isinstance(data, Mapping) or not isinstance(data.get("backend"), Mapping):
        given = data.get("backend") if isinstance(data, Mapping) else data
        raise exc.InvalidPayload(reason=f"backend data needs a 'backend' mapping, not "
                                        f"{type(given).__name__} {given!r:.60}")
    backend = Backend.load_backend(data["backend"])
    volumes = data.get("volumes") or []
    if not isinstance(volumes, list):
        raise exc.InvalidPayload(reason=f"backend 'volumes' must be a list, not "
                                        f"{type(volumes).__name__} {volumes!r:.60}")
    for item in volumes:
        load(item, save=save)
    return backend
