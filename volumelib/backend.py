"""``Backend``: one storage backend, its driver, and the volumes it holds."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from volumelib import core
from volumelib import exceptions as exc
from volumelib import validation
from volumelib.drivers import load_driver_class
from volumelib.drivers.base import VolumeDriver
from volumelib.drivers.types import Capability, VolumeInfo
from volumelib.objects.common import Status, apply_model_update, call_driver
from volumelib.persistence.base import DB

if TYPE_CHECKING:
    from volumelib.control.leases import LeaseManager
    from volumelib.objects import Volume
    from volumelib.persistence.base import PersistenceDriverBase

__all__ = ["Backend", "spec_is_true"]

LOG = logging.getLogger(__name__)


def spec_is_true(specs: Mapping[str, Any], key: str) -> bool:
    """Cinder's ``"<is> True"`` syntax (plain ``"True"``/``True`` accepted too)."""
    value = specs.get(key)
    if isinstance(value, bool):
        return value
    if not isinstance(value, str):
        return False
    value = value.strip()
    if value.lower().startswith("<is>"):
        value = value[4:].strip()
    return value.lower() in ("true", "1", "yes", "on")


def _gone(name: str) -> Any:
    raise exc.BackendNotFound(backend_name=name)


class _BackendDB(DB):
    """The driver's read-only facade, always on the backend's current store."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    @property  # type: ignore[override]
    def persistence(self) -> PersistenceDriverBase:
        return self._backend.persistence


class Backend:
    """A storage backend served by one volume driver.

    Args:
        volume_backend_name: this backend's name (``backend.id``), recorded on every
            volume it creates.
        volume_driver: an entry-point name (``file``, ``fake``...), a dotted class path
            or a ``VolumeDriver`` subclass.
        persistence: a store for this backend only (default: the one ``volumelib.setup``
            chose, looked up at each call).
        **driver_options: the driver's options (``file_root=...``).

    Raises:
        DriverNotFound: unknown driver, listing those available.
        UnknownOption / InvalidConfig: an option the driver does not declare, or a bad value.
        BackendError: the driver failed to set up.
    """

    def __init__(self, volume_backend_name: str = "volumelib",
                 volume_driver: str | type[VolumeDriver] = "file", *,
                 persistence: Any = None, **driver_options: Any) -> None:
        validation.check_name(volume_backend_name, what="volume_backend_name")
        if not volume_backend_name:
            raise exc.InvalidName(name=volume_backend_name,
                                  reason="volume_backend_name must not be empty")
        if isinstance(volume_driver, type):
            if not issubclass(volume_driver, VolumeDriver):
                raise exc.DriverNotFound(driver=volume_driver, available="(a VolumeDriver)")
            cls = volume_driver
        else:
            cls = load_driver_class(volume_driver)
        self._id = volume_backend_name
        self._persistence = None
        if persistence is not None:
            from volumelib.persistence import setup as persistence_setup
            self._persistence = persistence_setup(persistence)
        self.driver: VolumeDriver = cls(db=_BackendDB(self),
                                        volume_backend_name=volume_backend_name,
                                        **driver_options)
        self.driver_name = cls.name if isinstance(volume_driver, type) else volume_driver
        try:
            self.driver.do_setup()
            self.driver.check_for_setup_error()
        except exc.VolumelibError:
            raise
        except Exception as e:  # noqa: BLE001
            raise exc.BackendError(backend_name=self._id, operation="set up",
                                   reason=f"{type(e).__name__}: {e}") from e
        self._stats: dict[str, Any] | None = None
        self._leases: Any = None
        core.register_backend(self)
        LOG.debug("backend %s ready: %r", self._id, self.driver)

    # -- identity ------------------------------------------------------------------

    @property
    def id(self) -> str:
        return self._id

    name = id

    @property
    def persistence(self) -> PersistenceDriverBase:
        return self._persistence if self._persistence is not None else core.persistence()

    @property
    def config(self) -> dict[str, Any]:
        """The backend's configuration without secrets (what JSON carries)."""
        cfg = {"volume_backend_name": self._id, "volume_driver": self.driver_name}
        cfg.update({k: v for k, v in self.driver.redacted_config().items()
                    if k != "volume_backend_name" and v != "***"})
        return cfg

    @property
    def capabilities(self) -> frozenset[Capability]:
        return self.driver.capabilities

    @property
    def leases(self) -> LeaseManager:
        """Leases in this backend's store (:mod:`volumelib.control.leases`)."""
        if self._leases is None:
            import weakref

            from volumelib.control.leases import LeaseManager
            me, name = weakref.ref(self), self._id
            self._leases = LeaseManager(
                lambda: (me() or _gone(name)).persistence)
        return self._leases

    def __repr__(self) -> str:
        return f"<Backend {self._id} driver={self.driver_name}>"

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    # -- health --------------------------------------------------------------------

    def stats(self, refresh: bool = False) -> dict[str, Any]:
        """Capacity and capabilities in Cinder's stats format (cached unless ``refresh``)."""
        if refresh or self._stats is None:
            stats = call_driver(self, "get_volume_stats", self.driver.get_volume_stats, refresh)
            data = stats.to_dict() if hasattr(stats, "to_dict") else dict(stats)
            data["volume_backend_name"] = self._id
            self._stats = data
        return dict(self._stats)

    def is_alive(self) -> bool:
        try:
            return bool(self.driver.is_alive())
        except Exception:  # noqa: BLE001 - is_alive never raises to the caller
            LOG.debug("is_alive of %s raised", self._id, exc_info=True)
            return False

    def health(self) -> dict[str, Any]:
        """Driver health plus what the store says: volumes per status, stuck operations."""
        try:
            driver = dict(self.driver.health())
        except Exception as e:  # noqa: BLE001
            driver = {"alive": False, "error": f"{type(e).__name__}: {e}"}
        by_status: dict[str, int] = {}
        for vol in self.persistence.get_volumes(backend_name=self._id):
            by_status[vol.status] = by_status.get(vol.status, 0) + 1
        transitional = sum(n for s, n in by_status.items() if s in Status.TRANSITIONAL)
        return {"backend": self._id, "alive": bool(driver.get("alive")), "driver": driver,
                "volumes_by_status": by_status, "transitional": transitional}

    def gc(self, older_than: float | None = 600, dry_run: bool = False) -> dict[str, Any]:
        """Reconcile records left in transitional states and remove orphans.

        See :mod:`volumelib.gc` for the rules.
        """
        from volumelib import gc as gc_module
        return gc_module.collect(self, older_than=older_than, dry_run=dry_run)

    def close(self) -> None:
        """Release the driver. Objects of this backend can no longer call it."""
        try:
            self.driver.close()
        finally:
            core.unregister_backend(self)

    # -- volumes -------------------------------------------------------------------

    @property
    def volumes(self) -> list[Volume]:
        """All of this backend's volumes, from the store."""
        vols = self.persistence.get_volumes(backend_name=self._id)
        for v in vols:
            v._bind(self)
        return vols

    def get_volume(self, volume_id: str) -> Volume:
        """One of this backend's volumes by id.

        Raises:
            VolumeNotFound: no such volume on this backend.
        """
        validation.check_id(volume_id, what="volume id")
        found = self.persistence.get_volumes(volume_id=volume_id, backend_name=self._id)
        if not found:
            raise exc.VolumeNotFound(volume_id=volume_id)
        found[0]._bind(self)
        return found[0]

    def list_volumes(self, marker: str | None = None, limit: int | None = None,
                     filters: Mapping[str, Any] | None = None,
                     project_id: str | None = None) -> tuple[list[Volume], str | None]:
        """A page of this backend's volumes, oldest first: ``(items, next_marker)``."""
        items, nxt = self.persistence.list_volumes(marker=marker, limit=limit,
                                                   filters=filters, project_id=project_id,
                                                   backend_name=self._id)
        for v in items:
            v._bind(self)
        return items, nxt

    def create_volume(self, size: int, name: str | None = None,
                      description: str | None = None,
                      metadata: Mapping[str, str] | None = None, volume_type: Any = None,
                      id: str | None = None, multiattach: bool | None = None,
                      image: Any = None, image_cache: Any = None,
                      progress: Callable[[str, float, float | None], None] | None = None,
                      image_volume_cache: bool | None = None,
                      idempotent: bool = False) -> Volume:
        """Create a volume of ``size`` GiB, empty or holding ``image``.

        Args:
            size: GiB, a positive ``int``.
            name, description, metadata: free text and a flat ``str -> str`` mapping.
            volume_type: a stored type's name or id, a ``VolumeType``, or a plain dict of
                Cinder-syntax extra specs (``{"multiattach": "<is> True"}``).
            id: the UUID to use (default: a new one).
            multiattach: override the type's ``multiattach`` spec.
            image: a local path, an ``http(s)://`` URL, a
                ``volumelib.image_cache.Image`` (source, id, checksum) or a dict of its
                fields: the volume is created holding it (any format ``qemu-img``
                reads: raw, qcow2, vmdk...). See :mod:`volumelib.image_cache.provision`.
            image_cache: a local image cache driver (tier 1), e.g.
                ``volumelib.image_cache.load_driver("sqlite", base_dir)``.
            progress: ``progress(phase, done, total)`` while downloading (bytes),
                converting (percent) and cloning.
            image_volume_cache: keep a cached image-volume per image in this backend
                and clone it (tier 2); default: when the backend clones cheaply.
            idempotent: create by name (for plugins that retry): if the project
                already has a live volume called ``name``, return it when ``size``,
                ``description``, ``metadata``, the type, ``multiattach`` and the backend
                match, raise ``NameConflict`` listing the differences otherwise.
                Concurrent idempotent creates of one name (any process or host) end
                with one volume: they serialize on a lease on the key
                ``name:<project>:<name>`` and the later callers wait (up to twice the
                operation lease ttl, then ``ResourceBusy``) for the first. Needs
                ``name``; not with ``image``.

        Raises:
            InvalidSize, InvalidName, InvalidId, InvalidArgument: bad input; nothing stored.
            InsufficientCapacity: the backend has no room; nothing stored.
            AlreadyExists: ``id`` is taken.
            NameConflict: (``idempotent``) the name is taken with other parameters.
            QuotaExceeded: the project's ``volumes`` or ``gigabytes`` limit; nothing
                stored.
            BackendError: the driver failed; the volume is stored in ``error``.
            ImageError: (``volumelib.image_cache.exceptions``) the image is missing,
                cannot be downloaded, is corrupt, does not match its checksum or does
                not fit (``ImageTooLarge``): nothing stored, or, when found only while
                writing it, the volume is stored ``error`` with its storage removed.
        """
        if idempotent:
            if image is not None or image_cache is not None or progress is not None \
                    or image_volume_cache:
                raise exc.InvalidArgument(reason="idempotent create does not take an image")
            return self._create_by_name(size=size, name=name, description=description,
                                        metadata=metadata, volume_type=volume_type, id=id,
                                        multiattach=multiattach)
        if image is not None:
            from volumelib.image_cache import provision
            return provision.create_volume_from_image(
                self, image, size=size, image_cache=image_cache,
                image_volume_cache=image_volume_cache, progress=progress, name=name,
                description=description, metadata=metadata, volume_type=volume_type,
                id=id, multiattach=multiattach)
        if image_cache is not None or progress is not None or image_volume_cache:
            raise exc.InvalidArgument(reason="image_cache, progress and "
                                             "image_volume_cache need image=")
        return self._create_volume(size=size, name=name, description=description,
                                   metadata=metadata, volume_type=volume_type, id=id,
                                   multiattach=multiattach, operation="create_volume",
                                   call=lambda drv, info: drv.create_volume(info))

    def _create_volume(self, *, size: Any, name: Any, description: Any, metadata: Any,
                       volume_type: Any, id: Any, operation: str,
                       call: Callable[[VolumeDriver, VolumeInfo], Any],
                       multiattach: bool | None = None, snapshot_id: str | None = None,
                       source_volid: str | None = None) -> Volume:
        from volumelib.control import quotas
        from volumelib.objects import Volume
        size = validation.check_size(size)
        name = validation.check_name(name)
        description = validation.check_description(description)
        metadata = validation.check_metadata(metadata)
        vol_id = validation.new_id(id)
        type_id, specs = self._resolve_type(volume_type)
        if multiattach is None:
            multiattach = spec_is_true(specs, "multiattach")
        if multiattach and Capability.MULTIATTACH not in self.capabilities:
            raise exc.NotSupported(operation="multiattach volumes", driver=self.driver_name)
        self.driver.check_capacity(size)
        settings = core.settings()
        vol = Volume._new(self, id=vol_id, name=name, description=description, size=size,
                          status=Status.CREATING, project_id=settings.project_id,
                          user_id=settings.user_id, backend_name=self._id,
                          volume_type_id=type_id, volume_type=specs, metadata=metadata,
                          multiattach=bool(multiattach), snapshot_id=snapshot_id,
                          source_volid=source_volid)
        store = self.persistence
        reservation = quotas.reserve(store, settings.project_id, volumes=1, gigabytes=size)
        try:
            store.set_volume(vol)
        except Exception:
            reservation.cancel()
            raise
        core.checkpoint("volume.create.intent_stored")
        try:
            update = call_driver(self, operation, call, self.driver, vol.info(),
                                 resource_id=vol.id)
        except Exception:
            vol._settle(Status.ERROR)
            raise
        core.checkpoint("volume.create.driver_done")
        apply_model_update(vol, update)
        vol.status = Status.AVAILABLE
        # Keep what another writer saved meanwhile (metadata...): set only our fields.
        vol._save_own("status", "provider_location", "provider_id", "provider_auth")
        return vol

    def _create_by_name(self, *, size: Any, name: Any, description: Any, metadata: Any,
                        volume_type: Any, id: Any, multiattach: bool | None) -> Volume:
        """``create_volume(..., idempotent=True)``: see there."""
        import hashlib
        import time

        size = validation.check_size(size)
        name = validation.check_name(name)
        if not name:
            raise exc.InvalidName(name=name, reason="an idempotent create needs a name")
        description = validation.check_description(description)
        metadata = validation.check_metadata(metadata)
        type_id, specs = self._resolve_type(volume_type)
        if multiattach is None:
            multiattach = spec_is_true(specs, "multiattach")
        project_id = core.settings().project_id
        key = f"name:{project_id or ''}:{name}"
        if len(key) > 255:
            key = "name:" + hashlib.sha256(key.encode()).hexdigest()
        wanted = {"size": size, "description": description, "metadata": metadata,
                  "volume_type_id": type_id, "volume_type": specs,
                  "multiattach": bool(multiattach), "backend_name": self._id}
        store = self.persistence
        manager = self.leases
        deadline = time.monotonic() + 2 * core.settings().operation_lease_ttl
        delay = 0.02
        while True:
            try:
                with manager.operation(key, "create_volume"):
                    found = [v for v in store.get_volumes(volume_name=name)
                             if v.project_id == project_id and v.status not in
                             (Status.DELETING, Status.ERROR_DELETING, Status.DELETED)]
                    if not found:
                        return self._create_volume(
                            size=size, name=name, description=description,
                            metadata=metadata, volume_type=volume_type, id=id,
                            multiattach=multiattach, operation="create_volume",
                            call=lambda drv, info: drv.create_volume(info))
                    vol = sorted(found, key=lambda v: (v.created_at is None,
                                                       v.created_at, v.id))[0]
                    differences = {f: {"existing": getattr(vol, f), "requested": value}
                                   for f, value in wanted.items()
                                   if getattr(vol, f) != value}
                    if id is not None and vol.id != id:
                        differences["id"] = {"existing": vol.id, "requested": id}
                    if differences:
                        raise exc.NameConflict(resource="Volume", name=name,
                                               project_id=project_id,
                                               differences=differences, volume_id=vol.id)
                    backend = core.get_backend(vol.backend_name, required=False)
                    vol._bind(backend if backend is not None else self)
                    LOG.debug("idempotent create of %r: volume %s exists", name, vol.id)
                    return vol
            except exc.ResourceBusy:
                if time.monotonic() + delay > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.5)

    def validate_connector(self, connector_properties: Any) -> dict[str, Any]:
        """Check that this backend can connect to a host with these properties.

        Returns the properties as a plain dict. Raises ``InvalidArgument``.
        """
        from volumelib.drivers.types import ConnectorProperties
        props = ConnectorProperties.from_dict(connector_properties)
        self.driver.validate_connector(props)
        return props.to_dict()

    # -- groups ----------------------------------------------------------------------

    def create_group(self, name: str | None = None, volumes: Any = (),
                     group_type: Mapping[str, str] | None = None,
                     description: str | None = None, id: str | None = None) -> Any:
        """Create a group, optionally with volumes (objects or ids) of this backend.

        ``group_type`` is a mapping of Cinder-syntax specs, e.g.
        ``{"consistent_group_snapshot_enabled": "<is> True"}``.
        """
        from volumelib.groups import operations
        return operations.create_group(self, name=name, volumes=volumes,
                                       group_type=group_type, description=description,
                                       id=id)

    def create_group_from_src(self, name: str | None = None, group_snapshot: Any = None,
                              source_group: Any = None, description: str | None = None,
                              id: str | None = None) -> Any:
        """A new group whose volumes are copies of a group snapshot's or a group's,
        in the source's order (oldest source first)."""
        from volumelib.groups import operations
        return operations.create_group_from_src(self, name=name,
                                                group_snapshot=group_snapshot,
                                                source_group=source_group,
                                                description=description, id=id)

    @property
    def groups(self) -> list[Any]:
        found = self.persistence.get_groups(backend_name=self._id)
        for g in found:
            g._bind(self)
        return found

    def get_group(self, group_id: str) -> Any:
        """Raises: GroupNotFound."""
        from volumelib.groups.operations import _load
        return _load(self, "group", group_id)

    def get_group_snapshot(self, group_snapshot_id: str) -> Any:
        """Raises: GroupSnapshotNotFound."""
        from volumelib.groups.operations import _load
        return _load(self, "group_snapshot", group_snapshot_id)

    def _resolve_type(self, volume_type: Any) -> tuple[str | None, dict[str, str]]:
        """``(type id or None, extra specs)`` for what a user passed as ``volume_type``."""
        from volumelib.objects import VolumeType
        if volume_type is None:
            return None, {}
        if isinstance(volume_type, VolumeType):
            return volume_type.id, dict(volume_type.extra_specs)
        if isinstance(volume_type, Mapping):
            specs = volume_type.get("extra_specs", volume_type) \
                if isinstance(volume_type.get("extra_specs"), Mapping) else volume_type
            bad = {k: v for k, v in specs.items()
                   if not isinstance(k, str) or not isinstance(v, (str, bool))}
            if bad:
                raise exc.InvalidArgument(reason=f"volume type specs must map strings to "
                                                 f"strings: {bad!r:.80}")
            return None, {k: (str(v) if isinstance(v, bool) else v) for k, v in specs.items()}
        if isinstance(volume_type, str):
            store = self.persistence
            found = store.get_volume_types(name=volume_type)
            if not found:
                try:
                    found = store.get_volume_types(volume_type_id=validation.check_id(volume_type))
                except exc.InvalidId:
                    found = []
            if not found:
                raise exc.NotFound(resource=f"volume type {volume_type!r}")
            return found[0].id, dict(found[0].extra_specs)
        raise exc.InvalidArgument(reason=f"volume_type must be a name, id, VolumeType or "
                                         f"dict of specs, not {volume_type!r:.60}")

