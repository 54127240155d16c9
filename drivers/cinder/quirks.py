"""What the adapter knows about particular Cinder drivers: workarounds and listings.

Cinder drivers run unmodified. Where one has a known bug that Cinder's own volume
manager (or its operators) would work around, the adapter does it here, around the
driver's call, and ``docs/drivers.md`` lists each one:

==========================  ==================================================================
driver                      what
==========================  ==================================================================
RBD (``rbd.RBDDriver``)     *Leak*: deleting a clone takes the fast path (``remove``) and
                            returns before cleaning its parent's ``<clone>.clone_snap``, so
                            deleting the source later renames it ``volume-<id>.deleted``
                            (the snapshot protected, no clone left) and nothing removes it.
                            Workaround: the parent reference is read before the delete and,
                            when the driver returned with it still there and childless,
                            cleaned with the driver's own ``_delete_clone_parent_refs``
                            (what its slow path does).
                            *Speed*: every call opens a new RADOS connection (~20-50 ms);
                            the adapter keeps one per pool for the backend's life
                            (``cinder_reuse_rados=False`` turns this off).
NFS family (``nfs``,        *Size*: a volume from a snapshot is copied at the snapshot's
``remotefs``)               size, ignoring a larger one asked; so is a clone (copied
                            through a temporary snapshot of its source). Workaround: extend
                            it to the size asked right after (what Cinder's volume manager
                            does for volumes from images).
                            *Clone format*: a clone of a volume with snapshots gets the
                            source's ``format`` admin metadata (``qcow2``) while its file is
                            a raw copy, so extending it fails. Workaround: the format the
                            clone's file has is recorded after the clone.
                            *Revert*: the class has ``revert_to_snapshot`` but it raises
                            ``NotImplementedError``: not declared.
==========================  ==================================================================

Listings (for ``gc`` and the stats' ``total_volumes``/``provisioned_capacity_gb``): a
Cinder driver has no ``gc``; the adapter lists its storage objects through the
driver's ``get_manageable_volumes``/``get_manageable_snapshots`` when it has them, and
for RBD straight from the pool (which also sees ``.deleted`` images).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import subprocess
from collections.abc import Mapping
from types import ModuleType
from typing import Any, Protocol

__all__ = ["Quirks", "for_class", "StorageObject", "attribute_options", "Adapter"]

LOG = logging.getLogger(__name__)

UUID_RE = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_VOLUME_RE = re.compile(rf"^volume-({UUID_RE})(\.deleted)?$")
_SNAPSHOT_RE = re.compile(rf"^snapshot-({UUID_RE})$")
_NFS_RE = re.compile(rf"^volume-({UUID_RE})(?:\.({UUID_RE}))?$")


def _virtual_gb(path: str) -> float:
    """The size a reader sees of a raw or qcow2 file, in GiB."""
    try:
        out = subprocess.run(["qemu-img", "info", "--output=json", "-U", path],
                             capture_output=True, text=True, timeout=60, check=True)
        return int(json.loads(out.stdout)["virtual-size"]) / 1024 ** 3
    except (OSError, subprocess.SubprocessError, ValueError, KeyError):
        return os.path.getsize(path) / 1024 ** 3


@dataclasses.dataclass(frozen=True)
class StorageObject:
    """One volumelib-named object found on the storage."""

    kind: str          # "volume" or "snapshot"
    id: str            # the volumelib id in its name
    name: str          # the storage's name for it
    size_gb: float = 0.0
    #: Still needed by something live (a ``.deleted`` RBD image clones depend on).
    in_use: bool = False
    parent: str | None = None   # the volume image a snapshot belongs to


class Adapter(Protocol):
    """What quirks use of the adapter (:class:`~volumelib.drivers.cinder.driver.
    CinderDriver`), which sits above this module and passes itself in."""

    @property
    def adapter_options(self) -> Mapping[str, Any]:
        """The adapter's own options (:data:`ADAPTER_OPTIONS`), as the backend set them."""

    @property
    def cinder_driver(self) -> Any:
        """The Cinder driver instance the adapter runs."""

    def delete_orphan(self, obj: StorageObject) -> None:
        """Delete a storage object no record knows of, with the driver's delete."""


def _is_subclass(cls: type, module: str, name: str) -> bool:
    return any(c.__module__ == module and c.__name__ == name for c in cls.__mro__)


def attribute_options(cinder_cls: type) -> dict[str, str]:
    """Options a driver reads as attributes without declaring them."""
    if _is_subclass(cinder_cls, "cinder.volume.drivers.rbd", "RBDDriver"):
        return {"rbd_keyring_conf": "Path to the keyring of rbd_user (read by the "
                                    "driver as an attribute, as cinderlib set it)."}
    return {}


#: Options of the adapter itself (not Cinder's), with their defaults and help.
ADAPTER_OPTIONS: dict[str, tuple[Any, str]] = {
    "cinder_reuse_rados": (True, "RBD: keep one RADOS connection per pool open for the "
                                 "backend's life instead of one per call."),
    "cinder_workarounds": (True, "Work around the known driver bugs listed in "
                                 "docs/drivers.md (False: run the driver bare, e.g. to "
                                 "show a bug)."),
}


def _workarounds(adapter: Adapter) -> bool:
    return bool(adapter.adapter_options.get("cinder_workarounds", True))


class Quirks:
    """The default: no workaround; listings through the manageable-volumes API."""

    name = "generic"
    #: Capabilities the class seems to have (it overrides the method) but does not:
    #: the override only raises ``NotImplementedError``.
    not_capable: frozenset[Any] = frozenset()

    def prepare(self, adapter: Adapter) -> None:
        """After the driver is built, before ``do_setup``."""

    def close(self, adapter: Adapter) -> None:
        """When the backend closes."""

    def before_delete_volume(self, adapter: Adapter, volume: Any) -> Any:
        """Returns what :meth:`after_delete_volume` needs."""
        return None

    def after_delete_volume(self, adapter: Adapter, volume: Any, state: Any) -> None:
        """After the driver deleted ``volume`` without raising."""

    def after_create_from_snapshot(self, adapter: Adapter, volume: Any,
                                   snapshot: Any) -> None:
        """After ``create_volume_from_snapshot`` (``volume.size`` is the size asked)."""

    def after_create_cloned(self, adapter: Adapter, volume: Any, source: Any) -> None:
        """After ``create_cloned_volume``."""

    def inventory(self, adapter: Adapter) -> list[StorageObject] | None:
        """Every volumelib-named object on the storage, or ``None`` if the driver cannot
        list them."""
        drv = adapter.cinder_driver
        base = _base_method(drv, "get_manageable_volumes")
        if base:
            return None
        found: list[StorageObject] = []
        try:
            volumes = drv.get_manageable_volumes([], None, 100000, 0, ["size"], ["asc"])
        except NotImplementedError:
            return None
        for entry in volumes:
            name = str((entry.get("reference") or {}).get("source-name", ""))
            m = _VOLUME_RE.match(name.rsplit("/", 1)[-1])
            if m:
                found.append(StorageObject("volume", m.group(1), name,
                                           float(entry.get("size") or 0)))
        if not _base_method(drv, "get_manageable_snapshots"):
            try:
                snaps = drv.get_manageable_snapshots([], None, 100000, 0, ["size"],
                                                     ["asc"])
            except NotImplementedError:
                snaps = []
            for entry in snaps:
                name = str((entry.get("reference") or {}).get("source-name", ""))
                m = _SNAPSHOT_RE.match(name.rsplit("/", 1)[-1])
                if m:
                    found.append(StorageObject("snapshot", m.group(1), name))
        return found

    def remove(self, adapter: Adapter, obj: StorageObject) -> None:
        """Remove an orphan with the driver's own delete."""
        adapter.delete_orphan(obj)


def _base_method(drv: Any, name: str) -> bool:
    """Whether ``drv``'s ``name`` is Cinder's base class's (not implemented)."""
    # Cinder's driver base (imported already: a Cinder driver is running).
    from cinder.volume import driver as cinder_driver
    method = getattr(type(drv), name, None)
    return method is None or any(
        method is getattr(base, name, object()) for base in
        (cinder_driver.BaseVD, cinder_driver.VolumeDriver,
         getattr(cinder_driver, "ManageableVD", object)))


def _cinder_rbd() -> ModuleType:
    """Cinder's RBD driver module (imported already: its driver is running)."""
    # Cinder stays lazy: only the RBD quirks reach into its RBD module.
    from cinder.volume.drivers import rbd
    return rbd


class RBDQuirks(Quirks):
    """Cinder's ``RBDDriver``: see the module docstring."""

    name = "rbd"

    def __init__(self) -> None:
        self._clients: dict[Any, Any] = {}

    def prepare(self, adapter: Adapter) -> None:
        if not adapter.adapter_options.get("cinder_reuse_rados", True):
            return
        drv = adapter.cinder_driver
        connect = drv._connect_to_rados
        disconnect = type(drv)._disconnect_from_rados
        clients = self._clients

        def cached_connect(pool: Any = None, remote: Any = None,
                           timeout: Any = None) -> Any:
            key = (pool, repr(remote))
            pair = clients.get(key)
            if pair is None:
                pair = clients[key] = connect(pool, remote, timeout)
            return pair

        def keep(client: Any, ioctx: Any) -> None:
            if not any(pair == (client, ioctx) for pair in clients.values()):
                disconnect(client, ioctx)

        self._disconnect = disconnect
        # The driver's code is unchanged: only where its connections come from.
        drv._connect_to_rados = cached_connect
        drv._disconnect_from_rados = keep

    def close(self, adapter: Adapter) -> None:
        clients, self._clients = self._clients, {}
        for client, ioctx in clients.values():
            try:
                self._disconnect(client, ioctx)
            except Exception:  # noqa: BLE001 - closing
                LOG.debug("closing a RADOS connection failed", exc_info=True)

    def before_delete_volume(self, adapter: Adapter, volume: Any) -> Any:
        if not _workarounds(adapter):
            return None
        cinder_rbd = _cinder_rbd()
        drv = adapter.cinder_driver
        try:
            with cinder_rbd.RBDVolumeProxy(drv, volume.name, read_only=True) as image:
                clone_snap = drv._find_clone_snap(image)
                _pool, parent, parent_snap = drv._get_clone_info(image.volume, volume.name,
                                                                 clone_snap)
        except drv.rbd.ImageNotFound:
            return None
        return (parent, parent_snap) if parent else None

    def after_delete_volume(self, adapter: Adapter, volume: Any, state: Any) -> None:
        if not state:
            return
        cinder_rbd = _cinder_rbd()
        drv = adapter.cinder_driver
        parent, parent_snap = state
        with cinder_rbd.RADOSClient(drv) as client:
            try:
                with cinder_rbd.RBDVolumeProxy(drv, parent, ioctx=client.ioctx,
                                               read_only=True) as image:
                    if not any(s["name"] == parent_snap for s in image.list_snaps()):
                        return  # the driver cleaned it itself (its slow path)
                    image.set_snap(parent_snap)
                    if list(image.list_children()):
                        return  # other clones still need it
            except drv.rbd.ImageNotFound:
                return
            LOG.info("cleaning %s@%s left by deleting volume %s (Cinder RBD driver "
                     "bug: its fast delete path skips it)", parent, parent_snap, volume.id)
            drv._delete_clone_parent_refs(client, parent, parent_snap)

    def inventory(self, adapter: Adapter) -> list[StorageObject]:
        cinder_rbd = _cinder_rbd()
        drv = adapter.cinder_driver
        found: list[StorageObject] = []
        with cinder_rbd.RADOSClient(drv) as client:
            for name in drv.RBDProxy().list(client.ioctx):
                m = _VOLUME_RE.match(name)
                if not m:
                    continue
                try:
                    with cinder_rbd.RBDVolumeProxy(drv, name, ioctx=client.ioctx,
                                                   read_only=True) as image:
                        size = image.size() / 1024 ** 3
                        snaps = list(image.list_snaps())
                        in_use = False
                        for snap in snaps:
                            image.set_snap(snap["name"])
                            if list(image.list_children()):
                                in_use = True
                            image.set_snap(None)
                            sm = _SNAPSHOT_RE.match(snap["name"])
                            if sm:
                                found.append(StorageObject("snapshot", sm.group(1),
                                                           snap["name"], parent=name))
                except drv.rbd.ImageNotFound:
                    continue
                deleted = bool(m.group(2))
                found.append(StorageObject("volume", m.group(1), name, size,
                                           in_use=deleted and in_use))
        return found

    def remove(self, adapter: Adapter, obj: StorageObject) -> None:
        if not obj.name.endswith(".deleted"):
            return super().remove(adapter, obj)
        cinder_rbd = _cinder_rbd()
        drv = adapter.cinder_driver
        with cinder_rbd.RADOSClient(drv) as client:
            with cinder_rbd.RBDVolumeProxy(drv, obj.name, ioctx=client.ioctx) as image:
                for snap in list(image.list_snaps()):
                    if image.is_protected_snap(snap["name"]):
                        image.unprotect_snap(snap["name"])
                    image.remove_snap(snap["name"])
            drv.RBDProxy().remove(client.ioctx, obj.name)


class NFSQuirks(Quirks):
    """Cinder's NFS family: see the module docstring."""

    name = "nfs"
    # RemoteFSSnapDriverDistributed.revert_to_snapshot calls a _revert_to_snapshot
    # that only RemoteFSPoolMixin drivers implement; the NFS driver raises.
    not_capable = frozenset({"revert_to_snapshot"})

    def after_create_from_snapshot(self, adapter: Adapter, volume: Any,
                                   snapshot: Any) -> None:
        if _workarounds(adapter) and volume.size > snapshot.volume_size:
            LOG.info("extending volume %s from %s to the %s GiB asked (Cinder NFS driver "
                     "bug: it copies a snapshot at its own size)", volume.id,
                     snapshot.volume_size, volume.size)
            adapter.cinder_driver.extend_volume(volume, volume.size)

    def after_create_cloned(self, adapter: Adapter, volume: Any, source: Any) -> None:
        if not _workarounds(adapter):
            return
        self._fix_clone_format(adapter, volume)
        # A clone is copied through a temporary snapshot of the source: same bug.
        if volume.size > source.size:
            LOG.info("extending clone %s from %s to the %s GiB asked (Cinder NFS driver "
                     "bug: it copies a snapshot at its own size)", volume.id, source.size,
                     volume.size)
            adapter.cinder_driver.extend_volume(volume, volume.size)

    @staticmethod
    def _fix_clone_format(adapter: Adapter, volume: Any) -> None:
        """The driver copies the source's ``format`` admin metadata to the clone (qcow2
        once the source has snapshots), but the clone's file is a fresh raw copy:
        record the format the file has, as the driver itself would read it."""
        drv = adapter.cinder_driver
        path = os.path.join(drv._local_volume_dir(volume),
                            drv.get_active_image_from_info(volume))
        actual = drv._qemu_img_info(path, volume.name).file_format
        if volume.admin_metadata.get("format") not in (None, actual):
            LOG.info("clone %s is %s but the driver recorded %s (Cinder NFS driver bug: "
                     "it copies the source's format); recording %s", volume.id, actual,
                     volume.admin_metadata.get("format"), actual)
            volume.admin_metadata["format"] = actual
            with volume.obj_as_admin():
                volume.save()

    def inventory(self, adapter: Adapter) -> list[StorageObject] | None:
        """The files in the driver's mounted shares: ``volume-<id>`` (a volume),
        ``volume-<id>.<snapshot id>`` (a snapshot's qcow2 file), ``volume-<id>.info``
        (the volume's snapshot chain, which goes with it)."""
        drv = adapter.cinder_driver
        found: list[StorageObject] = []
        for share in list(getattr(drv, "shares", {}) or {}):
            base = drv._get_mount_point_for_share(share)
            try:
                names = sorted(os.listdir(base))
            except OSError:
                continue
            for name in names:
                m = _NFS_RE.match(name)
                if not m:
                    continue
                path = os.path.join(base, name)
                if m.group(2):
                    found.append(StorageObject("snapshot", m.group(2), path,
                                               parent=f"volume-{m.group(1)}"))
                else:
                    found.append(StorageObject("volume", m.group(1), path,
                                               _virtual_gb(path)))
        return found

def for_class(cinder_cls: type) -> Quirks:
    """The quirks of a Cinder driver class (a fresh object per backend)."""
    if _is_subclass(cinder_cls, "cinder.volume.drivers.rbd", "RBDDriver"):
        return RBDQuirks()
    if _is_subclass(cinder_cls, "cinder.volume.drivers.remotefs", "RemoteFSDriver"):
        return NFSQuirks()
    return Quirks()
