"""The ``rbd`` driver: volumes as Ceph RBD images, through the librados/librbd bindings.

Naming in the pool ``rbd_pool``::

    volume-<id>                      a volume's image
    volume-<id>@snapshot-<sid>       a snapshot (user namespace)
    volume-<src>@clone-<id>          temporary snapshot a volume clone is made from
                                     (removed right after the clone: clone v2 keeps it
                                     in the trash namespace while the clone needs it)
    group-<gid>                      an RBD group (consistency group), see groups.py
    group-<gid>@gsnap-<gsid>         an RBD group snapshot

Clones are copy-on-write RBD clones (v2: the cluster requires mimic clients, so no
snapshot protection is needed) of a snapshot. A clone whose parent chain gets longer
than ``rbd_max_clone_depth`` is flattened (its data copied in), and with
``rbd_flatten_volume_from_snapshot`` every volume from a snapshot is.

Deleting a volume that clones still depend on (through a snapshot of it that was
deleted while it had clones, or a volume clone) moves its image to the RBD trash
instead: the record goes, the clones keep working, and ``gc()`` (or any later
delete) purges trashed ``volume-*`` images once nothing depends on them. Deleting a
*protected* snapshot that has clones (made by another tool with clone v1) is refused
with ``InvalidState``.

Deferred deletion (``rbd_deferred_deletion``, off by default as in Cinder): every
delete moves the image to the RBD trash with ``rbd_deferred_deletion_delay`` instead
of removing it, so the call costs one ``trash_move`` instead of librbd's ``remove``.
A purge (:meth:`RBDDriver.purge_trash`) removes the expired entries that are ours;
it runs in ``gc()`` and, with ``rbd_deferred_deletion_purge_interval``, in a
background thread started by the first delete or ``gc()`` and stopped by
``close()`` (see :mod:`volumelib.drivers.rbd.trash`).

One ``rados.Rados`` handle per driver (:class:`~volumelib.drivers.rbd.client.RadosClient`)
is opened in ``do_setup`` and reused; every request is bounded by
``rados_connect_timeout``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from volumelib import exceptions as exc
from volumelib.drivers.base import ModelUpdate, VolumeDriver
from volumelib.drivers.boundary import check_id
from volumelib.drivers.options import Option
from volumelib.drivers.rbd import groups, maintenance, manage, names, trash
from volumelib.drivers.rbd.client import RadosClient, operation, rados, rbd, translate
from volumelib.drivers.rbd.connection import (build_connection_info, monitors_from_monmap,
                                              read_keyring)
from volumelib.drivers.types import (BackendStats, Capability, ConnectionInfo,
                                     ConnectorProperties, PoolStats, SnapshotInfo,
                                     VolumeInfo)

__all__ = ["RBDDriver"]

LOG = logging.getLogger(__name__)

GiB = 1024 ** 3
MiB = 1024 ** 2


class RBDDriver(groups.GroupsMixin, maintenance.MaintenanceMixin, manage.ManageMixin,
                VolumeDriver):
    """Volumes as RBD images in one pool of a Ceph cluster.

    See the module docstring for naming, clones and the trash policy, and
    ``docs/rbd.md`` for a walk-through with ``tools/cephcluster.py``.
    """

    name = "rbd"
    vendor_name = "Ceph"
    version = "1.0.0"
    storage_protocol = "ceph"
    options = (
        Option("rbd_pool", "str", "rbd", "The RADOS pool holding the images."),
        Option("rbd_ceph_conf", "str", "",
               "Path to ceph.conf; empty: librados' default search (/etc/ceph/...)."),
        Option("rbd_user", "str", "admin",
               "The Ceph client name without 'client.' (needs 'profile rbd' on the pool)."),
        Option("rbd_keyring", "str", None,
               "Path to the keyring file holding the user's key (a secret file: keep it "
               "0600); default: the keyring named in ceph.conf."),
        Option("rbd_keyring_conf", "str", None,
               "Cinder's name for rbd_keyring (used when rbd_keyring is not given)."),
        Option("rbd_secret_uuid", "str", None,
               "The libvirt secret's UUID, passed in connection info (secret_uuid)."),
        Option("rbd_cluster_name", "str", "ceph", "The Ceph cluster name."),
        Option("rbd_max_clone_depth", "int", 5,
               "Longest chain of clones; a deeper clone is flattened (0: every clone "
               "is a full copy).", min=0),
        Option("rbd_flatten_volume_from_snapshot", "bool", False,
               "Flatten volumes created from snapshots (no dependency on the snapshot)."),
        Option("rbd_store_chunk_size", "int", 4,
               "RADOS object size of new images in MiB (a power of two).", min=1),
        Option("report_discard_supported", "bool", False,
               "Tell attachers the volumes support discard (connection info 'discard')."),
        Option("rados_connect_timeout", "int", 30,
               "Seconds for the connect and for each monitor or OSD request.", min=1),
        Option("max_over_subscription_ratio", "float", 20.0,
               "Ratio of provisioned to free space reported for placement (thin).",
               min=0.1),
        Option("rbd_deferred_deletion", "bool", False,
               "Deferred deletion (Cinder's enable_deferred_deletion): a deleted volume's "
               "image moves to the RBD trash and a later purge (gc(), or the purge "
               "thread) frees its space; deletes return after one trash move instead "
               "of a full image removal."),
        Option("rbd_deferred_deletion_delay", "int", 0,
               "Seconds a deleted volume's image stays in the RBD trash before a purge "
               "may remove it (with rbd_deferred_deletion); 0: at the next purge.",
               min=0),
        Option("rbd_deferred_deletion_purge_interval", "float", 0.0,
               "Seconds between purges of expired trash entries by a background thread "
               "(started by the first delete or gc, stopped by close); 0: no thread, "
               "gc() purges.", min=0),
    )

    #: Longest accepted ``rbd_deferred_deletion_delay`` (ten years): librbd keeps the
    #: deferment end in 32-bit seconds.
    MAX_DEFERRED_DELETION_DELAY = 10 * 365 * 24 * 3600
    #: Shortest accepted purge interval (a shorter one would keep the cluster busy
    #: listing the trash).
    MIN_PURGE_INTERVAL = 0.1

    def __init__(self, *, db: Any = None, **options: Any) -> None:
        super().__init__(db=db, **options)
        cfg = self.config
        chunk = cfg.rbd_store_chunk_size
        if chunk & (chunk - 1):
            raise exc.InvalidConfig(reason=f"option rbd_store_chunk_size={chunk} of driver "
                                           f"rbd: must be a power of two (MiB)")
        self._order = (chunk * MiB).bit_length() - 1
        user = cfg.rbd_user or "admin"
        self.user: str = user[len("client."):] if user.startswith("client.") else user
        self.keyring: str | None = cfg.rbd_keyring or cfg.rbd_keyring_conf
        if not cfg.rbd_pool:
            raise exc.InvalidConfig(reason="option rbd_pool of driver rbd: must not be empty")
        self.client = RadosClient(backend_name=self.backend_name,
                                  conf_path=cfg.rbd_ceph_conf or None, user=self.user,
                                  keyring=self.keyring, cluster_name=cfg.rbd_cluster_name,
                                  pool=cfg.rbd_pool, timeout=cfg.rados_connect_timeout)
        delay = cfg.rbd_deferred_deletion_delay
        if delay > self.MAX_DEFERRED_DELETION_DELAY:
            raise exc.InvalidConfig(
                reason=f"option rbd_deferred_deletion_delay={delay} of driver rbd: must be "
                       f"at most {self.MAX_DEFERRED_DELETION_DELAY} s (ten years)")
        interval = cfg.rbd_deferred_deletion_purge_interval
        if 0 < interval < self.MIN_PURGE_INTERVAL:
            raise exc.InvalidConfig(
                reason=f"option rbd_deferred_deletion_purge_interval={interval} of driver "
                       f"rbd: must be 0 (no purge thread) or at least "
                       f"{self.MIN_PURGE_INTERVAL} s")
        self._monitors: tuple[list[str], list[str]] | None = None
        self._stats: BackendStats | None = None
        #: The clock purges decide expiry with (seconds since the epoch); tests move it.
        self.clock: Callable[[], float] = time.time
        self._purger: trash.PurgeThread | None = None
        self._purger_lock = threading.Lock()
        #: One purge at a time in this driver (the thread, gc and deletes share it).
        self._purge_mutex = threading.Lock()
        self._closed = False

    # -- life cycle ----------------------------------------------------------------------

    def do_setup(self) -> None:
        """Check the files named by the options and connect to the cluster and pool.

        Raises:
            InvalidConfig: ``rbd_ceph_conf`` or the keyring is missing or unreadable,
                or the pool does not exist.
            BackendError: the monitors do not answer within ``rados_connect_timeout``
                or refuse the key.
        """
        for option, path in (("rbd_ceph_conf", self.config.rbd_ceph_conf),
                             ("rbd_keyring", self.keyring)):
            if path and not os.access(path, os.R_OK):
                raise exc.InvalidConfig(reason=f"option {option}={path!r} of driver rbd: "
                                               f"not a readable file")
        self.client.connect()
        if self.config.rbd_deferred_deletion and not \
                self.config.rbd_deferred_deletion_purge_interval:
            LOG.info("rbd backend %s: deferred deletion without a purge thread; gc() "
                     "frees the space of deleted volumes", self.backend_name)

    def check_for_setup_error(self) -> None:
        """Raise ``BackendError`` unless the pool answers (lists its images)."""
        try:
            rbd.RBD().list2(self.client.ioctx)
        except (rados.Error, rbd.Error) as e:
            raise translate(self.client, "list images", e) from e

    def is_alive(self) -> bool:
        """The monitors answer (within ``rados_connect_timeout``). Never raises."""
        try:
            self.client.mon_command("mon stat")
            return True
        except Exception:  # noqa: BLE001 - is_alive never raises
            LOG.debug("rbd backend %s is not alive", self.backend_name, exc_info=True)
            self.client.reset()
            return False

    def health(self) -> dict[str, Any]:
        """``alive``, the cluster's ``ceph_health`` (``HEALTH_OK``...) with its check
        names, ``pool``, ``fsid``, ``user``, and ``trash``: the deferred deletion
        settings, the purge thread's state and the trash entries that are ours
        (``images``; ``expired``: those a purge may remove now; ``oldest_expired_age_s``),
        from one trash listing. Never raises."""
        report: dict[str, Any] = {"alive": False, "pool": self.config.rbd_pool,
                                  "user": f"client.{self.user}"}
        try:
            health = self.client.mon_command("health")
            report.update(alive=True, ceph_health=health.get("status"),
                          ceph_checks=sorted(health.get("checks", {})),
                          fsid=self.client.cluster.get_fsid())
        except Exception as e:  # noqa: BLE001 - a health report says why, never raises
            report["error"] = str(e)
            self.client.reset()
            report["trash"] = self._trash_settings()
            return report
        report["trash"] = self._trash_settings()
        try:
            report["trash"].update(self.trash_summary(sizes=False))
        except Exception as e:  # noqa: BLE001 - a health report says why, never raises
            report["trash"]["error"] = str(e)
        return report

    def _trash_settings(self) -> dict[str, Any]:
        """Deferred deletion settings and the purge thread's state, for ``health()``."""
        cfg = self.config
        purger = self._purger
        thread: dict[str, Any] = {"interval_s": cfg.rbd_deferred_deletion_purge_interval,
                                  "state": "off"}
        if cfg.rbd_deferred_deletion_purge_interval:
            thread["state"] = "not started" if purger is None else \
                ("running" if purger.running else "stopped")
        if purger is not None:
            thread.update(passes=purger.passes, purged=purger.purged,
                          last_pass_at=purger.last_pass_at, last_error=purger.last_error)
        return {"deferred_deletion": cfg.rbd_deferred_deletion,
                "delay_s": cfg.rbd_deferred_deletion_delay, "purge_thread": thread}

    def close(self) -> None:
        """Stop the purge thread (waiting for a pass in progress) and close the cluster
        handle. Idempotent; the thread is never started again."""
        with self._purger_lock:
            self._closed = True
            purger = self._purger
        if purger is not None:
            purger.stop(timeout=4.0 * self.config.rados_connect_timeout)
        self.client.close()
        self._stats = None

    def _ensure_purger(self) -> None:
        """Start the purge thread on first use, when an interval is set."""
        interval = self.config.rbd_deferred_deletion_purge_interval
        if not interval or self._purger is not None:
            return
        with self._purger_lock:
            if self._purger is not None or self._closed:
                return
            self._purger = trash.PurgeThread(f"volumelib-rbd-purge-{self.backend_name}",
                                             interval, self._purge_pass)
            self._purger.start()

    def _purge_pass(self) -> int:
        """One purge of the thread; librados/librbd errors become volumelib's."""
        try:
            return len(self.purge_trash())
        except (rados.Error, rbd.Error) as e:
            raise translate(self.client, "purge trash", e) from e

    @property
    def purge_thread(self) -> trash.PurgeThread | None:
        """The background purge thread, once started (``None`` before)."""
        return self._purger

    @property
    def capabilities(self) -> frozenset[Capability]:
        """THIN, CLONE, COW_SNAPSHOT, ONLINE_EXTEND, REVERT_TO_SNAPSHOT,
        CONSISTENT_GROUP_SNAPSHOT, MANAGE_EXISTING(_SNAPSHOT), MIGRATE (deep copy
        within the cluster), ALLOCATION_MAP (rbd diff); LOCAL_ATTACH as root
        (os-brick's userspace RBD attach, which yields a file-like handle, not a block
        device). Not MULTIATTACH: images have the exclusive-lock feature."""
        caps = {Capability.THIN, Capability.CLONE, Capability.COW_SNAPSHOT,
                Capability.ONLINE_EXTEND, Capability.REVERT_TO_SNAPSHOT,
                Capability.CONSISTENT_GROUP_SNAPSHOT, Capability.MANAGE_EXISTING,
                Capability.MANAGE_EXISTING_SNAPSHOT, Capability.MIGRATE,
                Capability.ALLOCATION_MAP}
        if os.geteuid() == 0:
            caps.add(Capability.LOCAL_ATTACH)
        return frozenset(caps)

    # -- names and helpers ---------------------------------------------------------------

    #: ``value`` itself when it is a canonical UUID, else InvalidId.
    _check_id = staticmethod(check_id)

    def _image_name(self, volume_id: str) -> str:
        return f"{names.VOLUME}{self._check_id(volume_id)}"

    @staticmethod
    def _size_bytes(size: object) -> int:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise exc.InvalidSize(size=size, reason="must be a positive number of GiB")
        return size * GiB

    def image_name(self, volume_id: str) -> str:
        """The RBD image of a volume (for tools that reach the data with librbd)."""
        return self._image_name(volume_id)

    def open_image(self, volume_id: str, read_only: bool = False) -> Any:
        """A context manager yielding the volume's ``rbd.Image`` (for tools and tests)."""
        return self.client.image(self._image_name(volume_id), read_only=read_only)

    def _open_volume(self, volume: VolumeInfo, read_only: bool = False) -> Any:
        """Open the volume's image; ``VolumeNotFound`` if it has none."""
        try:
            return rbd.Image(self.client.ioctx, self._image_name(volume.id),
                             read_only=read_only)
        except rbd.ImageNotFound as e:
            raise exc.VolumeNotFound(volume_id=volume.id) from e

    def _exists(self, name: str) -> bool:
        try:
            rbd.Image(self.client.ioctx, name, read_only=True).close()
        except rbd.ImageNotFound:
            return False
        return True

    def _create_image(self, volume: VolumeInfo) -> None:
        name = self._image_name(volume.id)
        size = self._size_bytes(volume.size)
        try:
            rbd.RBD().create(self.client.ioctx, name, size, order=self._order,
                             old_format=False)
        except groups._EXISTS as e:
            raise exc.AlreadyExists(resource="Volume image", id=volume.id) from e

    def _discard_image(self, name: str) -> None:
        """Best-effort removal of an image this call just created and failed to fill."""
        try:
            rbd.RBD().remove(self.client.ioctx, name)
        except (rbd.Error, rados.Error) as e:  # gc removes it once its record is gone
            LOG.warning("cannot remove the partial image %s: %s", name, e)

    def _clone_depth(self, name: str) -> int:
        """How many ancestors the image has (0 for one that is no clone)."""
        depth = 0
        image = rbd.Image(self.client.ioctx, name, read_only=True)
        try:
            while True:
                try:
                    spec = image.get_parent_image_spec()
                    parent_id = image.parent_id()
                except rbd.ImageNotFound:
                    return depth
                depth += 1
                if spec.get("pool_name") != self.config.rbd_pool:
                    return depth  # a parent in another pool: count it, look no further
                image.close()
                image = rbd.Image(self.client.ioctx, image_id=parent_id, read_only=True)
        finally:
            image.close()

    def _finish_clone(self, name: str, size: int, flatten: bool) -> None:
        """Grow a new clone to ``size`` bytes and flatten it when asked or too deep."""
        with self.client.image(name) as image:
            if image.size() < size:
                image.resize(size)
        depth = self._clone_depth(name)
        if flatten or depth > self.config.rbd_max_clone_depth:
            LOG.debug("flattening %s (depth %d, max %d, flatten=%s)", name, depth,
                      self.config.rbd_max_clone_depth, flatten)
            with self.client.image(name) as image:
                image.flatten()

    # -- volumes -------------------------------------------------------------------------

    @operation("create_volume")
    def create_volume(self, volume: VolumeInfo) -> ModelUpdate:
        """Create an empty (thin) image of ``volume.size`` GiB.

        Raises:
            InvalidId, InvalidSize: bad id or size. AlreadyExists: the image exists.
        """
        self._create_image(volume)
        return None

    @operation("delete_volume")
    def delete_volume(self, volume: VolumeInfo) -> None:
        """Remove the volume's image (missing: no-op); into the RBD trash while clones
        depend on it. With ``rbd_deferred_deletion`` the image always moves to the RBD
        trash (with ``rbd_deferred_deletion_delay``) and a later purge removes it; an
        image already in the trash is no longer the volume's: no-op.

        Raises:
            VolumeInUse: a client has the image open (watchers), or holds its lock.
        """
        self._ensure_purger()
        self._remove_image(self._image_name(volume.id), volume.id)
        if not self.config.rbd_deferred_deletion:
            self.purge_trash()

    def _removal_delay(self) -> int | None:
        """The trash delay of a deletion: ``None`` (remove at once) unless deferred."""
        return self.config.rbd_deferred_deletion_delay \
            if self.config.rbd_deferred_deletion else None

    def _prepare_removal(self, name: str, volume_id: str, read_only: bool) -> bool:
        """Check that no other client has image ``name`` open, take it out of its RBD
        group and remove its leftover user snapshots (not those clones depend on).
        Returns ``False`` when the image does not exist.

        Args:
            read_only: inspect through a read-only open (no watch of our own, cheaper);
                the image is opened for writing only if it has snapshots to remove.

        Raises:
            VolumeInUse: another client watches the image.
        """
        ioctx = self.client.ioctx
        try:
            image = rbd.Image(ioctx, name, read_only=read_only)
        except rbd.ImageNotFound:
            LOG.debug("image %s does not exist; nothing to delete", name)
            return False
        try:
            me = self.client.cluster.get_instance_id()
            watchers = [w for w in image.watchers_list() if w.get("id") != me]
            if watchers:
                raise exc.VolumeInUse(volume_id=volume_id,
                                      reason=f"image {name} is open by "
                                             f"{', '.join(w['addr'] for w in watchers)}")
            membership = image.group()
            if membership.get("name"):
                rbd.Group(ioctx, membership["name"]).remove_image(ioctx, name)
            user_snaps = [s["name"] for s in image.list_snaps()
                          if s.get("namespace", rbd.RBD_SNAP_NAMESPACE_TYPE_USER)
                          == rbd.RBD_SNAP_NAMESPACE_TYPE_USER]
            if user_snaps and read_only:
                image.close()
                image = rbd.Image(ioctx, name)
            for snap in user_snaps:
                if image.is_protected_snap(snap):
                    if list(image.list_children2()):
                        continue
                    image.unprotect_snap(snap)
                LOG.debug("removing leftover snapshot %s@%s", name, snap)
                image.remove_snap(snap)
        finally:
            image.close()
        return True

    def _remove_image(self, name: str, volume_id: str) -> str:
        """Remove image ``name``: out of its group, leftover user snapshots removed, then
        deleted, or moved to the trash if snapshots clones depend on remain; with
        deferred deletion, moved to the trash with the configured delay. Returns
        ``removed``, ``trashed`` or ``missing``.

        Raises:
            VolumeInUse: another client has the image open or holds its lock.
        """
        ioctx = self.client.ioctx
        delay = self._removal_delay()
        if not self._prepare_removal(name, volume_id, read_only=delay is not None):
            return "missing"
        if delay is not None:
            try:
                rbd.RBD().trash_move(ioctx, name, delay)
            except rbd.ImageNotFound:
                return "missing"
            except rbd.ImageBusy as e:
                raise exc.VolumeInUse(volume_id=volume_id,
                                      reason=f"image {name} is busy: {e}") from e
            LOG.debug("image %s moved to the RBD trash (purge after %d s)", name, delay)
            return "trashed"
        try:
            rbd.RBD().remove(ioctx, name)
        except rbd.ImageNotFound:
            return "missing"
        except rbd.ImageBusy as e:
            raise exc.VolumeInUse(volume_id=volume_id,
                                  reason=f"image {name} is busy: {e}") from e
        except rbd.ImageHasSnapshots:
            LOG.info("image %s still has snapshots clones depend on; moving it to the "
                     "RBD trash (gc purges it when they are gone)", name)
            rbd.RBD().trash_move(ioctx, name, 0)
            return "trashed"
        return "removed"

    @operation("extend_volume")
    def extend_volume(self, volume: VolumeInfo, new_size: int) -> None:
        """Grow the image to ``new_size`` GiB (also while attached: librbd tells the
        clients that have it open).

        Raises:
            VolumeNotFound: no image. InvalidSize: ``new_size`` would shrink it.
        """
        size = self._size_bytes(new_size)
        image = self._open_volume(volume)
        try:
            current = image.size()
            if size < current:
                raise exc.InvalidSize(size=new_size,
                                      reason=f"volume {volume.id} is already {current} bytes")
            if size > current:
                image.resize(size)
        finally:
            image.close()

    @operation("create_cloned_volume")
    def create_cloned_volume(self, volume: VolumeInfo, src_vref: VolumeInfo) -> ModelUpdate:
        """A COW clone of ``src_vref`` through a temporary snapshot ``clone-<id>``
        (removed at once: clone v2 keeps it in the trash namespace while needed).

        Raises:
            VolumeNotFound: no source image. InvalidSize: smaller than the source.
            AlreadyExists: ``volume``'s image exists.
        """
        name = self._image_name(volume.id)
        size = self._size_bytes(volume.size)
        snap = f"{names.CLONE_SNAP}{volume.id}"
        src_name = self._image_name(src_vref.id)
        source = self._open_volume(src_vref)
        try:
            if size < source.size():
                raise exc.InvalidSize(size=volume.size,
                                      reason=f"smaller than its source ({source.size()} "
                                             f"bytes)")
            if self._exists(name):
                raise exc.AlreadyExists(resource="Volume image", id=volume.id)
            source.create_snap(snap)
        finally:
            source.close()
        try:
            rbd.RBD().clone(self.client.ioctx, src_name, snap, self.client.ioctx, name,
                            order=self._order)
        except groups._EXISTS as e:
            raise exc.AlreadyExists(resource="Volume image", id=volume.id) from e
        finally:
            with self.client.image(src_name) as source:
                source.remove_snap(snap)
        self._finish_or_discard(name, size, flatten=self.config.rbd_max_clone_depth == 0)
        return None

    def _finish_or_discard(self, name: str, size: int, flatten: bool) -> None:
        try:
            self._finish_clone(name, size, flatten)
        except BaseException:
            self._discard_image(name)
            raise

    # -- snapshots -----------------------------------------------------------------------

    @operation("create_snapshot")
    def create_snapshot(self, snapshot: SnapshotInfo) -> ModelUpdate:
        """Snapshot ``volume-<vid>@snapshot-<sid>``.

        Raises:
            VolumeNotFound: no image. AlreadyExists: the snapshot exists.
        """
        snap = f"{names.SNAPSHOT}{self._check_id(snapshot.id)}"
        image = self._open_volume(snapshot.volume)
        try:
            image.create_snap(snap)
        except groups._EXISTS as e:
            raise exc.AlreadyExists(resource="Snapshot", id=snapshot.id) from e
        finally:
            image.close()
        return None

    @operation("delete_snapshot")
    def delete_snapshot(self, snapshot: SnapshotInfo) -> None:
        """Remove the snapshot (missing, or volume gone: no-op). With clone v2 a
        snapshot that clones depend on leaves the user's view at once and lives on in
        the trash namespace until its last clone is gone or flattened.

        A member of a group snapshot has no snapshot of its own (it goes with
        ``delete_cgsnapshot``): no-op.

        Raises:
            InvalidState: the snapshot is protected (clone v1) and has clones.
        """
        snap = f"{names.SNAPSHOT}{self._check_id(snapshot.id)}"
        try:
            image = rbd.Image(self.client.ioctx, self._image_name(snapshot.volume.id))
        except rbd.ImageNotFound:
            return
        try:
            if not image.snap_exists(snap):
                LOG.debug("snapshot %s does not exist; nothing to delete", snapshot.id)
                return
            if image.is_protected_snap(snap):
                image.set_snap(snap)
                children = [f"{c['pool']}/{c['image']}" for c in image.list_children2()]
                image.set_snap(None)
                if children:
                    raise exc.InvalidState(
                        resource=f"Snapshot {snapshot.id}", status="protected",
                        reason=f"clones depend on it: {', '.join(children)}; flatten or "
                               f"delete them first")
                image.unprotect_snap(snap)
            image.remove_snap(snap)
        finally:
            image.close()

    def _snapshot_source(self, snapshot: SnapshotInfo) -> tuple[str, str | None, int | None]:
        """``(image, user snapshot name, group snapshot id)`` holding the data."""
        src = self._image_name(snapshot.volume.id)
        snap = f"{names.SNAPSHOT}{self._check_id(snapshot.id)}"
        try:
            image = rbd.Image(self.client.ioctx, src, read_only=True)
        except rbd.ImageNotFound as e:
            raise exc.SnapshotNotFound(snapshot_id=snapshot.id) from e
        try:
            if image.snap_exists(snap):
                return src, snap, None
            if snapshot.group_snapshot_id:
                snap_id = groups.find_group_snap_id(
                    image, groups.gsnap_name(self._check_id(snapshot.group_snapshot_id)))
                if snap_id is not None:
                    return src, None, snap_id
        finally:
            image.close()
        raise exc.SnapshotNotFound(snapshot_id=snapshot.id)

    @operation("create_volume_from_snapshot")
    def create_volume_from_snapshot(self, volume: VolumeInfo,
                                    snapshot: SnapshotInfo) -> ModelUpdate:
        """A COW clone of the snapshot, grown to ``volume.size``; flattened with
        ``rbd_flatten_volume_from_snapshot`` or past ``rbd_max_clone_depth``. A member
        of a group snapshot is copied (librbd cannot clone from a group snapshot).

        Raises:
            SnapshotNotFound: no such snapshot. InvalidSize: smaller than it.
            AlreadyExists: ``volume``'s image exists.
        """
        name = self._image_name(volume.id)
        size = self._size_bytes(volume.size)
        src, snap, group_snap_id = self._snapshot_source(snapshot)
        if group_snap_id is not None:
            self._copy_from_snapshot_id(src, group_snap_id, volume)
            return None
        with self.client.image(src, snapshot=snap, read_only=True) as image:
            if size < image.size():
                raise exc.InvalidSize(size=volume.size,
                                      reason=f"smaller than its snapshot ({image.size()} "
                                             f"bytes)")
        try:
            rbd.RBD().clone(self.client.ioctx, src, snap, self.client.ioctx, name,
                            order=self._order)
        except groups._EXISTS as e:
            raise exc.AlreadyExists(resource="Volume image", id=volume.id) from e
        self._finish_or_discard(name, size,
                                flatten=self.config.rbd_flatten_volume_from_snapshot
                                or self.config.rbd_max_clone_depth == 0)
        return None

    def _copy_from_snapshot_id(self, src_name: str, snap_id: int, volume: VolumeInfo) -> None:
        """Create ``volume``'s image with the data of ``src_name`` at snapshot ``snap_id``
        (a sparse copy)."""
        self._create_image(volume)
        name = self._image_name(volume.id)
        try:
            with self.client.image(src_name, read_only=True) as src:
                src.set_snap_by_id(snap_id)
                if src.size() > self._size_bytes(volume.size):
                    raise exc.InvalidSize(size=volume.size,
                                          reason=f"smaller than its source ({src.size()} "
                                                 f"bytes)")
                with self.client.image(name) as dst:
                    copied = groups.sparse_copy(src, dst)
            LOG.debug("copied %d bytes of %s@%d into %s", copied, src_name, snap_id, name)
        except BaseException:
            self._discard_image(name)
            raise

    @operation("revert_to_snapshot")
    def revert_to_snapshot(self, volume: VolumeInfo, snapshot: SnapshotInfo) -> None:
        """Roll the image back to the snapshot, keeping ``volume.size``.

        A member of a group snapshot (RBD rolls back only whole groups) is copied
        back instead: objects written since are discarded, the snapshot's rewritten.

        Raises:
            VolumeNotFound, SnapshotNotFound: the image or the snapshot is missing.
        """
        src, snap, group_snap_id = self._snapshot_source(snapshot)
        if src != self._image_name(volume.id):
            raise exc.InvalidArgument(reason=f"snapshot {snapshot.id} is not of volume "
                                             f"{volume.id}")
        size = self._size_bytes(volume.size)
        if group_snap_id is not None:  # RBD rolls back only whole groups: copy it back
            with self.client.image(src, read_only=True) as frozen:
                frozen.set_snap_by_id(group_snap_id)
                image = self._open_volume(volume)
                try:
                    groups.sparse_revert(frozen, image, size)
                finally:
                    image.close()
            return
        image = self._open_volume(volume)
        try:
            image.rollback_to_snap(snap)
            if image.size() != size:
                image.resize(size)
        finally:
            image.close()

    # -- consistency groups (groups.py), with this driver's logging and errors ------------

    create_consistencygroup = operation("create_consistencygroup")(
        groups.GroupsMixin.create_consistencygroup)
    create_consistencygroup_from_src = operation("create_consistencygroup_from_src")(
        groups.GroupsMixin.create_consistencygroup_from_src)
    delete_consistencygroup = operation("delete_consistencygroup")(
        groups.GroupsMixin.delete_consistencygroup)
    update_consistencygroup = operation("update_consistencygroup")(
        groups.GroupsMixin.update_consistencygroup)
    create_cgsnapshot = operation("create_cgsnapshot")(groups.GroupsMixin.create_cgsnapshot)
    delete_cgsnapshot = operation("delete_cgsnapshot")(groups.GroupsMixin.delete_cgsnapshot)

    # -- connections ---------------------------------------------------------------------

    def create_export(self, volume: VolumeInfo,
                      connector: ConnectorProperties) -> ModelUpdate:
        """Nothing to export: clients reach the cluster directly."""
        return None

    def remove_export(self, volume: VolumeInfo) -> None:
        """Nothing to undo."""

    def terminate_connection(self, volume: VolumeInfo,
                             connector: ConnectorProperties | None) -> None:
        """Nothing to revoke (access is by cephx key, not per host)."""

    @operation("initialize_connection")
    def initialize_connection(self, volume: VolumeInfo,
                              connector: ConnectorProperties) -> ConnectionInfo:
        """os-brick's ``rbd`` connection info: ``name`` (``pool/volume-<id>``), the
        monitors' ``hosts``/``ports``, ``auth_username``, the ``keyring`` content
        (redacted in repr, logs and dumps), ``cluster_name``, ``discard``...

        Raises:
            VolumeNotFound: no image.
        """
        self._open_volume(volume, read_only=True).close()
        if self._monitors is None:
            self._monitors = monitors_from_monmap(self.client.mon_command("mon dump"))
        hosts, ports = self._monitors
        return build_connection_info(
            pool=self.config.rbd_pool, image=self._image_name(volume.id),
            volume_id=volume.id, hosts=list(hosts), ports=list(ports), user=self.user,
            keyring=read_keyring(self.keyring, self.user),
            secret_uuid=self.config.rbd_secret_uuid,
            cluster_name=self.config.rbd_cluster_name,
            discard=self.config.report_discard_supported, connector=connector)

    # -- stats and maintenance -----------------------------------------------------------

    @operation("get_volume_stats")
    def get_volume_stats(self, refresh: bool = False) -> BackendStats:
        """One pool named after ``rbd_pool``, from the cluster (Cinder's formula):
        ``free`` is the pool's ``max_avail`` and ``total`` is that plus the pool's used
        bytes (both ``unknown`` when no manager reports them); ``provisioned`` sums the
        live images' sizes, ``allocated`` is the pool's stored bytes (trashed images'
        data included until purged).

        The deleted volumes' images waiting in the RBD trash are reported apart:
        ``trash_images`` (ours), ``trash_expired_images`` (a purge may remove them
        now), ``trash_provisioned_gb`` (their sizes: the most a purge can free), and
        ``deferred_deletion`` (the option)."""
        if self._stats is not None and not refresh:
            return self._stats
        df = self.client.mon_command("df")
        pool_df = next((p for p in df.get("pools", []) if p["name"] == self.config.rbd_pool),
                       None)
        total: float | str = "unknown"
        free: float | str = "unknown"
        allocated = 0.0
        if pool_df is not None and df.get("stats", {}).get("total_bytes"):
            stats = pool_df["stats"]
            used = stats.get("bytes_used", stats.get("stored", 0))
            free = round(stats["max_avail"] / GiB, 2)
            total = round((stats["max_avail"] + used) / GiB, 2)
            allocated = round(stats.get("stored", used) / GiB, 2)
        sizes = []
        for _, name in self._volume_images():
            try:
                with self.client.image(name, read_only=True) as image:
                    sizes.append(image.size())
            except rbd.ImageNotFound:
                continue
        in_trash = self.trash_summary(sizes=True)
        pool = PoolStats(
            pool_name=self.config.rbd_pool,
            total_capacity_gb=total, free_capacity_gb=free,
            provisioned_capacity_gb=round(sum(sizes) / GiB, 2),
            allocated_capacity_gb=allocated, total_volumes=len(sizes),
            thin_provisioning_support=True, thick_provisioning_support=False,
            max_over_subscription_ratio=self.config.max_over_subscription_ratio,
            multiattach=False,
            extra={"consistent_group_snapshot_enabled": True,
                   "rbd_cluster_name": self.config.rbd_cluster_name,
                   "deferred_deletion": self.config.rbd_deferred_deletion,
                   "trash_images": in_trash["images"],
                   "trash_expired_images": in_trash["expired"],
                   "trash_provisioned_gb": round(in_trash["provisioned_bytes"] / GiB, 2),
                   # Cinder's key: equal on two backends means the same storage.
                   "location_info": f"rbd:{self.client.cluster.get_fsid()}:"
                                    f"{self.config.rbd_pool}"},
        )
        self._stats = BackendStats(volume_backend_name=self.backend_name,
                                   vendor_name=self.vendor_name, driver_version=self.version,
                                   storage_protocol=self.storage_protocol, pools=[pool])
        return self._stats

    gc = operation("gc")(maintenance.MaintenanceMixin.gc)
