"""``fake``: a deterministic in-memory driver for tests and benchmarks.

It keeps every volume's and snapshot's bytes in memory (sparse: only written blocks),
so snapshot, clone, revert and extend semantics are checked for real. It declares
every capability except local attach. ``fake_fail_on`` makes named operations raise,
for testing the library's failure handling (a fault injected on purpose, documented
as such).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from typing import Any

from volumelib import exceptions as exc
from volumelib.drivers.base import ModelUpdate, VolumeDriver
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

    def copy(self, size: int | None = None) -> _Image:
        return _Image(size=self.size if size is None else size, blocks=dict(self.blocks))


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
    )

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._lock = threading.RLock()
        self._volumes: dict[str, _Image] = {}
        self._snapshots: dict[str, _Image] = {}
        self._alive = False
        self._provisioned_gb = 0  # running total: check_capacity stays O(1)

    @property
    def capabilities(self) -> frozenset[Capability]:
        caps = {Capability.THIN, Capability.CLONE, Capability.COW_SNAPSHOT,
                Capability.ONLINE_EXTEND, Capability.MULTIATTACH,
                Capability.REVERT_TO_SNAPSHOT}
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
