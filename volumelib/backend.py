"""``Backend``: one storage backend, its driver, and the volumes it holds."""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from volumelib import exceptions as exc
from volumelib import runtime, validation
from volumelib.control.leases import LeaseManager
from volumelib.drivers import load_driver_class
from volumelib.drivers.base import VolumeDriver
from volumelib.drivers.types import Capability, ConnectorProperties
from volumelib.objects.driver_calls import call_driver
from volumelib.objects.group import Group, find_group, find_group_snapshot
from volumelib.objects import manage as managing
from volumelib.objects.group_snapshot import GroupSnapshot
from volumelib.objects.snapshot import Snapshot
from volumelib.objects.volume import Volume
from volumelib.operations import from_image, reconcile
from volumelib.persistence import setup as persistence_setup
from volumelib.persistence.base import DB, PersistenceDriverBase
from volumelib.records.stored import Status

__all__ = ["Backend"]

LOG = logging.getLogger(__name__)


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
        runtime.register_backend(self)
        LOG.debug("backend %s ready: %r", self._id, self.driver)

    # -- identity ------------------------------------------------------------------

    @property
    def id(self) -> str:
        return self._id

    name = id

    @property
    def persistence(self) -> PersistenceDriverBase:
        return runtime.persistence(self._persistence)

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

        See :mod:`volumelib.operations.reconcile` for the rules.
        """
        return reconcile.collect(self, older_than=older_than, dry_run=dry_run)

    def close(self) -> None:
        """Release the driver. Objects of this backend can no longer call it."""
        try:
            self.driver.close()
        finally:
            runtime.unregister_backend(self)

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
                reads: raw, qcow2, vmdk...). See :mod:`volumelib.operations.from_image`.
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
            request = Volume._prepare(self, size=size, name=name, description=description,
                                      metadata=metadata, volume_type=volume_type, id=id,
                                      multiattach=multiattach, check_capacity=False,
                                      id_must_be_free=False)
            return Volume._create_by_name(self, request, id_given=id is not None)
        if image is not None:
            return from_image.create_volume_from_image(
                self, image, size=size, image_cache=image_cache,
                image_volume_cache=image_volume_cache, progress=progress, name=name,
                description=description, metadata=metadata, volume_type=volume_type,
                id=id, multiattach=multiattach)
        if image_cache is not None or progress is not None or image_volume_cache:
            raise exc.InvalidArgument(reason="image_cache, progress and "
                                             "image_volume_cache need image=")
        request = Volume._prepare(self, size=size, name=name, description=description,
                                  metadata=metadata, volume_type=volume_type, id=id,
                                  multiattach=multiattach)
        return Volume._create(self, request, driver_method="create_volume",
                              call=lambda drv, info: drv.create_volume(info))

    def validate_connector(self, connector_properties: Any) -> dict[str, Any]:
        """Check that this backend can connect to a host with these properties.

        Returns the properties as a plain dict. Raises ``InvalidArgument``.
        """
        props = ConnectorProperties.from_dict(connector_properties)
        self.driver.validate_connector(props)
        return props.to_dict()

    # -- groups ----------------------------------------------------------------------

    def create_group(self, name: str | None = None, volumes: Any = (),
                     group_type: Mapping[str, str] | None = None,
                     description: str | None = None, id: str | None = None) -> Group:
        """Create a group, optionally with volumes (objects or ids) of this backend.

        ``group_type`` is a mapping of Cinder-syntax specs, e.g.
        ``{"consistent_group_snapshot_enabled": "<is> True"}``.
        """
        return Group._create(self, name=name, volumes=volumes, group_type=group_type,
                             description=description, id=id)

    def create_group_from_src(self, name: str | None = None, group_snapshot: Any = None,
                              source_group: Any = None, description: str | None = None,
                              id: str | None = None) -> Group:
        """A new group whose volumes are copies of a group snapshot's or a group's,
        in the source's order (oldest source first)."""
        return Group._create_from_src(self, name=name, group_snapshot=group_snapshot,
                                      source_group=source_group, description=description,
                                      id=id)

    @property
    def groups(self) -> list[Group]:
        found = self.persistence.get_groups(backend_name=self._id)
        for g in found:
            g._bind(self)
        return found

    def get_group(self, group_id: str) -> Group:
        """Raises: GroupNotFound."""
        return find_group(self, group_id)

    def get_group_snapshot(self, group_snapshot_id: str) -> GroupSnapshot:
        """Raises: GroupSnapshotNotFound."""
        return find_group_snapshot(self, group_snapshot_id)

    # -- adopting what exists (objects/manage.py) --------------------------------------

    def manageable_volumes(self, marker: Any = None, limit: int | None = None,
                           offset: int = 0, sort_keys: Sequence[str] | None = None,
                           sort_dirs: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Storage objects of this backend that ``manage`` could adopt, in Cinder's
        shape: ``reference``, ``size`` (GiB, rounded up), ``safe_to_manage``,
        ``reason_not_safe`` (in use, already managed, wrong format...), ``cinder_id``
        (the volume it already is), ``extra_info``.

        Args:
            marker: the ``reference`` (or its ``source-name``) of the last entry of the
                previous page. limit: page size. offset: entries skipped.
            sort_keys, sort_dirs: ``reference``/``size``, ``asc``/``desc``.

        Raises:
            NotSupported: the driver does not declare ``MANAGE_EXISTING``.
            InvalidArgument: bad paging arguments.
        """
        return managing.manageable_volumes(self, marker, limit, offset, sort_keys, sort_dirs)

    def manageable_snapshots(self, marker: Any = None, limit: int | None = None,
                             offset: int = 0, sort_keys: Sequence[str] | None = None,
                             sort_dirs: Sequence[str] | None = None
                             ) -> list[dict[str, Any]]:
        """As :meth:`manageable_volumes`, for snapshots; each entry also names its
        volume's object (``source_reference``).

        Raises:
            NotSupported: no ``MANAGE_EXISTING_SNAPSHOT``.
        """
        return managing.manageable_snapshots(self, marker, limit, offset, sort_keys,
                                             sort_dirs)

    def manage(self, reference: Mapping[str, Any], name: str | None = None,
               volume_type: Any = None, *, description: str | None = None,
               metadata: Mapping[str, str] | None = None, id: str | None = None) -> Volume:
        """Adopt a storage object made outside volumelib as a volume (Cinder's
        manage_existing). Its data is kept; its size is rounded up to whole GiB (the
        object grows to it); the driver renames it into its naming.

        Args:
            reference: ``{"source-name": ...}`` or ``{"source-id": ...}`` (see
                :meth:`manageable_volumes` and the driver's docs).
            name, volume_type, description, metadata, id: as for ``create_volume``.

        Raises:
            NotSupported: the driver does not declare ``MANAGE_EXISTING``.
            InvalidReference: a malformed reference. ReferenceNotFound: nothing answers
            it. AlreadyManaged: it is a volume already. NotManageable: in use or of
            the wrong format. InvalidName, InvalidId, VolumeTypeNotFound, AlreadyExists,
            QuotaExceeded: the request. Nothing changes on any of them.
        """
        return managing.manage_volume(self, reference, name=name, volume_type=volume_type,
                                      description=description, metadata=metadata, id=id)

    def manage_snapshot(self, reference: Mapping[str, Any], volume: Any,
                        name: str | None = None, *, description: str | None = None,
                        metadata: Mapping[str, str] | None = None,
                        id: str | None = None) -> Snapshot:
        """Adopt a snapshot of ``volume``'s storage object (a volume of this backend,
        by object or id) made outside volumelib (Cinder's manage_existing_snapshot).

        Raises:
            NotSupported: no ``MANAGE_EXISTING_SNAPSHOT``. VolumeNotFound: no such
            volume here. And the reference errors of :meth:`manage`.
        """
        return managing.manage_snapshot(self, reference, volume, name=name,
                                        description=description, metadata=metadata, id=id)
