"""``fake``: a deterministic in-memory driver for tests and benchmarks.

It keeps every volume's and snapshot's bytes in memory (sparse: only written blocks),
so snapshot, clone, revert and extend semantics are checked for real. It declares
every capability except local attach. ``fake_fail_on`` makes named operations raise,
for testing the library's failure handling (a fault injected on purpose, documented
as such).

Objects made "outside volumelib" for the manage tests are added with
:meth:`FakeDriver.add_foreign_volume` and :meth:`FakeDriver.add_foreign_snapshot`;
a volume migrates natively to another ``FakeDriver`` (a copy of its blocks).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from volumelib import exceptions as exc
from volumelib.drivers.base import ModelUpdate, VolumeDriver
from volumelib.drivers.manageable import (gib_rounded_up,
                                          manageable_entry,
                                          paginate_manageable,
                                          reference_value)
from volumelib.drivers.options import Option
from volumelib.drivers.types import (BackendStats, Capability, ConnectionInfo,
                                     ConnectorProperties, PoolStats, SnapshotInfo,
                                     VolumeInfo)

__all__ = ["FakeDriver"]

GiB = 1024 ** 3
BLOCK = 4096


@dataclasses.dataclass
class _Image:
    size: int  # GiB
    blocks: dict[int, bytes] = dataclasses.field(default_factory=dict)
    exports: int = 0
    #: Bytes of an object made outside volumelib (not a whole number of GiB).
    size_bytes: int | None = None
    #: QoS specs set by ``retype``.
    qos: dict[str, str] = dataclasses.field(default_factory=dict)

    def copy(self, size: int | None = None) -> _Image:
        return _Image(size=self.size if size is None else size, blocks=dict(self.blocks))

    def nbytes(self) -> int:
        return self.size_bytes if self.size_bytes is not None else self.size * GiB


class FakeDriver(VolumeDriver):
    """In-memory driver. Data can be written and read with :meth:`write`/:meth:`read`."""

    name = "fake"
    vendor_name = "volumelib"
    version = "1.0.0"
    storage_protocol = "fake"
    options = (
        Option("fake_capacity_gb", "int", 1000, "Total capacity reported, in GiB.", min=1),
        Option("max_over_subscription_ratio", "float", 20.0,
               "Provisioned GiB may reach capacity times this.", min=0.1),
        Option("fake_fail_on", "list", [],
               "Operations that raise RuntimeError (fault injection for tests)."),
        Option("fake_native_groups", "bool", True,
               "Implement the consistency-group interface (atomic group snapshots); "
               "off: raise NotImplementedError so the library's fallback runs."),
        Option("fake_fail_volumes", "list", [],
               "Volume ids whose per-volume operations fail (partial-failure tests)."),
        Option("fake_retype_in_place", "bool", True,
               "retype adjusts volumes in place; off: it answers that a migration is "
               "needed (for testing the library's retype with migration)."),
    )

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._lock = threading.RLock()
        self._volumes: dict[str, _Image] = {}
        self._snapshots: dict[str, _Image] = {}
        #: Objects made outside volumelib, by name: volumes, and snapshots of volumes
        #: (``(volume object name, snapshot name)``; a managed volume's name is
        #: ``volume-<id>``).
        self._foreign: dict[str, _Image] = {}
        self._foreign_snaps: dict[tuple[str, str], _Image] = {}
        self._alive = False
        self._provisioned_gb = 0  # running total: check_capacity stays O(1)

    @property
    def capabilities(self) -> frozenset[Capability]:
        caps = {Capability.THIN, Capability.CLONE, Capability.COW_SNAPSHOT,
                Capability.ONLINE_EXTEND, Capability.MULTIATTACH,
                Capability.REVERT_TO_SNAPSHOT, Capability.MANAGE_EXISTING,
                Capability.MANAGE_EXISTING_SNAPSHOT, Capability.MIGRATE,
                Capability.RETYPE, Capability.ALLOCATION_MAP}
        if self.config.fake_native_groups:
            caps.add(Capability.CONSISTENT_GROUP_SNAPSHOT)
        return frozenset(caps)

    def _maybe_fail(self, operation: str, volume_id: str | None = None) -> None:
        if operation in self.config.fake_fail_on:
            raise RuntimeError(f"fake failure injected in {operation}")
        if volume_id is not None and volume_id in self.config.fake_fail_volumes:
            raise RuntimeError(f"fake failure injected in {operation} of {volume_id}")

    def _native_groups(self) -> None:
        if not self.config.fake_native_groups:
            raise NotImplementedError

    # -- data access for tests ---------------------------------------------------

    def write(self, volume_id: str, offset: int, data: bytes) -> None:
        """Write ``data`` at ``offset`` into a volume (block aligned or not)."""
        with self._lock:
            img = self._volumes[volume_id]
            if offset < 0 or offset + len(data) > img.size * GiB:
                raise ValueError("write past the end of the volume")
            for i, byte_block in self._split(offset, data):
                img.blocks[i] = byte_block(img.blocks.get(i, bytes(BLOCK)))

    def size(self, volume_id: str) -> int:
        """The size in bytes a reader of the volume sees."""
        with self._lock:
            return self._volumes[volume_id].size * GiB

    def read(self, volume_id: str, offset: int, length: int) -> bytes:
        with self._lock:
            img = self._volumes[volume_id]
            out = bytearray()
            pos = offset
            while pos < offset + length:
                i, within = divmod(pos, BLOCK)
                take = min(BLOCK - within, offset + length - pos)
                out += img.blocks.get(i, bytes(BLOCK))[within:within + take]
                pos += take
            return bytes(out)

    @staticmethod
    def _split(offset: int, data: bytes) -> list[tuple[int, Callable[[bytes], bytes]]]:
        parts = []
        pos = 0
        while pos < len(data):
            i, within = divmod(offset + pos, BLOCK)
            take = min(BLOCK - within, len(data) - pos)
            chunk = data[pos:pos + take]

            def patch(old: bytes, within: int = within, chunk: bytes = chunk) -> bytes:
                return old[:within] + chunk + old[within + len(chunk):]

            parts.append((i, patch))
            pos += take
        return parts

    # -- life cycle ----------------------------------------------------------------

    def do_setup(self) -> None:
        self._maybe_fail("do_setup")
        self._alive = True

    def check_for_setup_error(self) -> None:
        self._maybe_fail("check_for_setup_error")

    def is_alive(self) -> bool:
        return self._alive

    def close(self) -> None:
        self._alive = False

    def gc(self, is_known: Callable[[str, str], bool], *, dry_run: bool = False) -> list[str]:
        found = []
        with self._lock:
            for kind, table in (("volume", self._volumes), ("snapshot", self._snapshots)):
                for obj_id in list(table):
                    if not is_known(kind, obj_id):
                        found.append(f"{kind} {obj_id}")
                        if not dry_run:
                            gone = table.pop(obj_id)
                            if kind == "volume":
                                self._provisioned_gb -= gone.size
        return found

    # -- capacity ------------------------------------------------------------------

    def _provisioned(self) -> int:
        return self._provisioned_gb

    def _put(self, volume_id: str, image: _Image) -> None:
        old = self._volumes.get(volume_id)
        self._provisioned_gb += image.size - (old.size if old else 0)
        self._volumes[volume_id] = image

    def check_capacity(self, size: int) -> None:
        limit = self.config.fake_capacity_gb * self.config.max_over_subscription_ratio
        available = limit - self._provisioned()
        if size > available:
            raise exc.InsufficientCapacity(backend_name=self.backend_name, requested_gb=size,
                                           available_gb=round(available, 2))

    # -- volumes and snapshots ---------------------------------------------------------

    def create_volume(self, volume: VolumeInfo) -> ModelUpdate:
        self._maybe_fail("create_volume")
        with self._lock:
            self._put(volume.id, _Image(size=volume.size))
        return {"provider_location": f"fake://{volume.id}"}

    def delete_volume(self, volume: VolumeInfo) -> None:
        self._maybe_fail("delete_volume", volume.id)
        with self._lock:
            img = self._volumes.get(volume.id)
            if img is not None and img.exports:
                raise exc.VolumeInUse(volume_id=volume.id, reason="still exported")
            gone = self._volumes.pop(volume.id, None)
            if gone is not None:
                self._provisioned_gb -= gone.size

    def extend_volume(self, volume: VolumeInfo, new_size: int) -> None:
        self._maybe_fail("extend_volume")
        with self._lock:
            img = self._volumes[volume.id]
            self._provisioned_gb += new_size - img.size
            img.size = new_size

    def create_cloned_volume(self, volume: VolumeInfo, src_vref: VolumeInfo) -> ModelUpdate:
        self._maybe_fail("create_cloned_volume", src_vref.id)
        with self._lock:
            self._put(volume.id, self._volumes[src_vref.id].copy(volume.size))
        return {"provider_location": f"fake://{volume.id}"}

    def create_snapshot(self, snapshot: SnapshotInfo) -> ModelUpdate:
        self._maybe_fail("create_snapshot", snapshot.volume_id)
        with self._lock:
            self._snapshots[snapshot.id] = self._volumes[snapshot.volume_id].copy()
        return {"provider_location": f"fake://snapshot/{snapshot.id}"}

    def delete_snapshot(self, snapshot: SnapshotInfo) -> None:
        self._maybe_fail("delete_snapshot")
        with self._lock:
            self._snapshots.pop(snapshot.id, None)

    def create_volume_from_snapshot(self, volume: VolumeInfo,
                                    snapshot: SnapshotInfo) -> ModelUpdate:
        self._maybe_fail("create_volume_from_snapshot", snapshot.volume_id)
        with self._lock:
            self._put(volume.id, self._snapshots[snapshot.id].copy(volume.size))
        return {"provider_location": f"fake://{volume.id}"}

    def revert_to_snapshot(self, volume: VolumeInfo, snapshot: SnapshotInfo) -> None:
        self._maybe_fail("revert_to_snapshot")
        with self._lock:
            self._put(volume.id, self._snapshots[snapshot.id].copy(volume.size))

    # -- connections ---------------------------------------------------------------

    def create_export(self, volume: VolumeInfo, connector: ConnectorProperties) -> ModelUpdate:
        self._maybe_fail("create_export")
        with self._lock:
            self._volumes[volume.id].exports += 1
        return None

    def remove_export(self, volume: VolumeInfo) -> None:
        self._maybe_fail("remove_export")
        with self._lock:
            img = self._volumes.get(volume.id)
            if img is not None:
                img.exports = 0

    def initialize_connection(self, volume: VolumeInfo,
                              connector: ConnectorProperties) -> ConnectionInfo:
        self._maybe_fail("initialize_connection")
        return ConnectionInfo("fake", {"volume_id": volume.id, "host": connector.host,
                                       "auth_password": "fake-secret"})

    def terminate_connection(self, volume: VolumeInfo,
                             connector: ConnectorProperties | None) -> None:
        self._maybe_fail("terminate_connection")

    def get_volume_stats(self, refresh: bool = False) -> BackendStats:
        self._maybe_fail("get_volume_stats")
        with self._lock:
            provisioned = self._provisioned()
            allocated = sum(len(v.blocks) * BLOCK for v in self._volumes.values()) / GiB
            total = self.config.fake_capacity_gb
            pool = PoolStats(pool_name=self.backend_name, total_capacity_gb=float(total),
                             free_capacity_gb=round(total - allocated, 2),
                             provisioned_capacity_gb=float(provisioned),
                             allocated_capacity_gb=round(allocated, 2),
                             total_volumes=len(self._volumes),
                             thin_provisioning_support=True,
                             thick_provisioning_support=False,
                             max_over_subscription_ratio=self.config.max_over_subscription_ratio,
                             multiattach=True)
        return BackendStats(volume_backend_name=self.backend_name,
                            vendor_name=self.vendor_name, driver_version=self.version,
                            storage_protocol=self.storage_protocol, pools=[pool])

    # -- consistency groups: native and atomic (one lock held for the whole group) -----

    def create_consistencygroup(self, context: Any, group: Any) -> Any:
        self._native_groups()
        self._maybe_fail("create_consistencygroup")
        return None

    def update_consistencygroup(self, context: Any, group: Any, add_volumes: Any = None,
                                remove_volumes: Any = None) -> Any:
        self._native_groups()
        self._maybe_fail("update_consistencygroup")
        return None, None, None

    def create_cgsnapshot(self, context: Any, cgsnapshot: Any, snapshots: Any) -> Any:
        self._native_groups()
        self._maybe_fail("create_cgsnapshot")
        with self._lock:
            for snap in snapshots:
                self._snapshots[snap.id] = self._volumes[snap.volume_id].copy()
        return None, None

    def delete_cgsnapshot(self, context: Any, cgsnapshot: Any, snapshots: Any) -> Any:
        self._native_groups()
        self._maybe_fail("delete_cgsnapshot")
        with self._lock:
            for snap in snapshots:
                self._snapshots.pop(snap.id, None)
        return None, None

    def create_consistencygroup_from_src(self, context: Any, group: Any, volumes: Any,
                                         cgsnapshot: Any = None, snapshots: Any = None,
                                         source_cg: Any = None,
                                         source_vols: Any = None) -> Any:
        self._native_groups()
        self._maybe_fail("create_consistencygroup_from_src")
        with self._lock:
            sources = ([self._snapshots[s.id] for s in snapshots] if cgsnapshot is not None
                       else [self._volumes[v.id] for v in source_vols])
            for target, source in zip(volumes, sources):
                self._put(target.id, source.copy(target.size))
        return None, None

    def delete_consistencygroup(self, context: Any, group: Any, volumes: Any) -> Any:
        self._native_groups()
        self._maybe_fail("delete_consistencygroup")
        updates = []
        with self._lock:
            for vol in volumes:
                img = self._volumes.get(vol.id)
                if img is not None and img.exports:
                    updates.append({"id": vol.id, "status": "error_deleting"})
                    continue
                if img is not None:
                    self._provisioned_gb -= img.size
                    del self._volumes[vol.id]
                updates.append({"id": vol.id, "status": "deleted"})
        failed = any(u["status"] == "error_deleting" for u in updates)
        return ({"status": "error_deleting"} if failed else None), updates

    # -- manage, migrate, retype ---------------------------------------------------------

    def add_foreign_volume(self, name: str, size_bytes: int, data: bytes = b"",
                           in_use: bool = False) -> dict[str, str]:
        """Make an object "outside volumelib" (for the manage tests): ``size_bytes``
        long, ``data`` at offset 0, exported (in use) or not. Returns its reference."""
        with self._lock:
            img = _Image(size=gib_rounded_up(size_bytes), size_bytes=size_bytes,
                         exports=1 if in_use else 0)
            self._foreign[name] = img
        if data:
            for i, patch in self._split(0, data):
                img.blocks[i] = patch(img.blocks.get(i, bytes(BLOCK)))
        return {"source-name": name}

    def add_foreign_snapshot(self, volume_object: str, name: str) -> dict[str, str]:
        """Snapshot an object (``volume-<id>`` for a volume, or a foreign name) outside
        volumelib. Returns the snapshot's reference."""
        with self._lock:
            img = self._object(volume_object)
            if img is None:
                raise KeyError(volume_object)
            self._foreign_snaps[(volume_object, name)] = img.copy()
        return {"source-name": name}

    def _object(self, name: str) -> _Image | None:
        if name.startswith("volume-") and name[len("volume-"):] in self._volumes:
            return self._volumes[name[len("volume-"):]]
        return self._foreign.get(name)

    def _foreign_ref(self, existing_ref: Mapping[str, Any]) -> tuple[str, _Image]:
        _, name = reference_value(existing_ref, accepted=("source-name",))
        if name.startswith("volume-") and name[len("volume-"):] in self._volumes:
            raise exc.AlreadyManaged(reference=dict(existing_ref), resource="volume",
                                     id=name[len("volume-"):])
        img = self._foreign.get(name)
        if img is None:
            raise exc.ReferenceNotFound(backend_name=self.backend_name,
                                        reference=dict(existing_ref))
        if img.exports:
            raise exc.NotManageable(reference=dict(existing_ref),
                                    backend_name=self.backend_name, reason="in use")
        return name, img

    def get_manageable_volumes(self, cinder_volumes: Sequence[VolumeInfo], marker: Any,
                               limit: int | None, offset: int, sort_keys: Sequence[str],
                               sort_dirs: Sequence[str]) -> list[dict[str, Any]]:
        """The foreign objects (in use ones not safe) and this backend's volumes
        (already managed)."""
        known = {v.id for v in cinder_volumes}
        with self._lock:
            entries = [manageable_entry({"source-name": n}, img.nbytes(),
                                        reason_not_safe="in use" if img.exports else None)
                       for n, img in self._foreign.items()]
            entries += [manageable_entry({"source-name": f"volume-{vid}"}, img.nbytes(),
                                         reason_not_safe="already managed",
                                         cinder_id=vid if vid in known else None)
                        for vid, img in self._volumes.items()]
        return paginate_manageable(entries, marker, limit, offset, sort_keys, sort_dirs)

    def manage_existing_get_size(self, volume: VolumeInfo,
                                 existing_ref: Mapping[str, Any]) -> int:
        with self._lock:
            _, img = self._foreign_ref(existing_ref)
            return gib_rounded_up(img.nbytes())

    def manage_existing(self, volume: VolumeInfo,
                        existing_ref: Mapping[str, Any]) -> ModelUpdate:
        self._maybe_fail("manage_existing")
        with self._lock:
            if volume.id in self._volumes and \
                    reference_value(existing_ref)[1] not in self._foreign:
                return {"provider_location": f"fake://{volume.id}"}  # done before a crash
            name, img = self._foreign_ref(existing_ref)
            del self._foreign[name]
            img.size, img.size_bytes = gib_rounded_up(img.nbytes()), None
            self._put(volume.id, img)
            for (obj, snap), simg in list(self._foreign_snaps.items()):
                if obj == name:  # its snapshots follow it
                    self._foreign_snaps[(f"volume-{volume.id}", snap)] = \
                        self._foreign_snaps.pop((obj, snap))
        return {"provider_location": f"fake://{volume.id}"}

    def unmanage(self, volume: VolumeInfo) -> Mapping[str, Any] | None:
        self._maybe_fail("unmanage")
        name = f"unmanaged-volume-{volume.id}"
        with self._lock:
            img = self._volumes.get(volume.id)
            if img is None:
                return {"source-name": name} if name in self._foreign else None
            if img.exports:
                raise exc.VolumeInUse(volume_id=volume.id, reason="still exported")
            self._provisioned_gb -= img.size
            self._foreign[name] = self._volumes.pop(volume.id)
        return {"source-name": name}

    def get_manageable_snapshots(self, cinder_snapshots: Sequence[SnapshotInfo],
                                 marker: Any, limit: int | None, offset: int,
                                 sort_keys: Sequence[str], sort_dirs: Sequence[str]
                                 ) -> list[dict[str, Any]]:
        """Foreign snapshots; safe when their object is a managed volume."""
        with self._lock:
            entries = []
            for (obj, snap), img in self._foreign_snaps.items():
                managed = obj.startswith("volume-") and obj[len("volume-"):] in self._volumes
                entries.append(manageable_entry(
                    {"source-name": snap}, img.nbytes(),
                    reason_not_safe=None if managed else "its volume is not managed",
                    source_reference={"source-name": obj}))
        return paginate_manageable(entries, marker, limit, offset, sort_keys, sort_dirs)

    def _foreign_snap(self, snapshot: SnapshotInfo,
                      existing_ref: Mapping[str, Any]) -> tuple[tuple[str, str], _Image]:
        _, name = reference_value(existing_ref, accepted=("source-name",))
        key = (f"volume-{snapshot.volume_id}", name)
        img = self._foreign_snaps.get(key)
        if img is None:
            if name.startswith("snapshot-") and name[len("snapshot-"):] in self._snapshots:
                raise exc.AlreadyManaged(reference=dict(existing_ref), resource="snapshot",
                                         id=name[len("snapshot-"):])
            raise exc.ReferenceNotFound(backend_name=self.backend_name,
                                        reference=dict(existing_ref))
        return key, img

    def manage_existing_snapshot_get_size(self, snapshot: SnapshotInfo,
                                          existing_ref: Mapping[str, Any]) -> int:
        with self._lock:
            return gib_rounded_up(self._foreign_snap(snapshot, existing_ref)[1].nbytes())

    def manage_existing_snapshot(self, snapshot: SnapshotInfo,
                                 existing_ref: Mapping[str, Any]) -> ModelUpdate:
        with self._lock:
            if snapshot.id in self._snapshots:
                return None  # done before a crash
            key, img = self._foreign_snap(snapshot, existing_ref)
            self._snapshots[snapshot.id] = self._foreign_snaps.pop(key)
        return None

    def unmanage_snapshot(self, snapshot: SnapshotInfo) -> Mapping[str, Any] | None:
        name = f"unmanaged-snapshot-{snapshot.id}"
        with self._lock:
            img = self._snapshots.pop(snapshot.id, None)
            if img is not None:
                self._foreign_snaps[(f"volume-{snapshot.volume_id}", name)] = img
            elif (f"volume-{snapshot.volume_id}", name) not in self._foreign_snaps:
                return None
        return {"source-name": name}

    def migrate_volume(self, volume: VolumeInfo, target: VolumeDriver,
                       progress: Callable[[int, int], None] | None = None
                       ) -> tuple[bool, ModelUpdate]:
        """To another ``FakeDriver``: a copy of the blocks."""
        if not isinstance(target, FakeDriver) or target is self:
            return False, None
        self._maybe_fail("migrate_volume", volume.id)
        with self._lock:
            img = self._volumes.get(volume.id)
            if img is None:
                raise exc.VolumeNotFound(volume_id=volume.id)
            copy = img.copy()
        with target._lock:
            if volume.id in target._volumes:
                raise exc.AlreadyExists(resource="Volume", id=volume.id)
            target._put(volume.id, copy)
        if progress is not None:
            total = len(copy.blocks) * BLOCK
            progress(total, total)
        return True, {"provider_location": f"fake://{volume.id}"}

    def retype(self, volume: VolumeInfo, new_type: Mapping[str, Any],
               diff: Mapping[str, Any]) -> tuple[bool, ModelUpdate]:
        """Keeps the new QoS specs on the volume (see :meth:`qos_of`); with
        ``fake_retype_in_place`` off, answers that a migration is needed."""
        if not self.config.fake_retype_in_place:
            return False, None
        with self._lock:
            img = self._volumes.get(volume.id)
            if img is None:
                raise exc.VolumeNotFound(volume_id=volume.id)
            img.qos = dict(new_type.get("qos_specs") or {})
        return True, None

    def qos_of(self, volume_id: str) -> dict[str, str]:
        """The QoS specs ``retype`` left on a volume (for tests)."""
        with self._lock:
            return dict(self._volumes[volume_id].qos)

    def get_allocated_extents(self, volume: VolumeInfo) -> list[tuple[int, int]]:
        """The written blocks, merged into ranges."""
        with self._lock:
            img = self._volumes.get(volume.id)
            if img is None:
                raise exc.VolumeNotFound(volume_id=volume.id)
            extents: list[tuple[int, int]] = []
            for i in sorted(img.blocks):
                if extents and extents[-1][0] + extents[-1][1] == i * BLOCK:
                    extents[-1] = (extents[-1][0], extents[-1][1] + BLOCK)
                else:
                    extents.append((i * BLOCK, BLOCK))
            return extents
