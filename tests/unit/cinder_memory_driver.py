"""A Cinder volume driver that keeps volumes in memory, written for volumelib's tests.

It is a real ``cinder.volume.driver.VolumeDriver`` subclass with Cinder's method
signatures and return shapes, including the generic group interface
(``create_group``, ``create_group_snapshot``, ``create_group_from_src``...) that
Cinder's RBD and NFS drivers lack, so the adapter's group mapping runs against a
Cinder driver that implements it. Out-of-tree, as a vendor's driver would be: it is
loaded by its dotted path through ``volumelib.drivers.cinder``.

Data: sparse 64 KiB blocks per volume; snapshots copy the block map (copy-on-write
by sharing immutable bytes). ``write``/``read``/``size`` are the test hooks.
"""

from __future__ import annotations

import threading
from typing import Any

from cinder import exception
from cinder.volume import driver

GiB = 1024 ** 3
BLOCK = 64 * 1024

# All backends of this class in the process share one "array" (like real storage).
_LOCK = threading.RLock()
_VOLUMES: dict[str, dict[str, Any]] = {}
_SNAPSHOTS: dict[str, dict[str, Any]] = {}
_GROUPS: dict[str, set[str]] = {}


class MemoryDriver(driver.VolumeDriver):
    """In-memory Cinder driver with the generic group interface."""

    VERSION = "1.0.0"
    CI_WIKI_NAME = "volumelib-tests"
    STORAGE_PROTOCOL = "memory"

    def do_setup(self, context: Any) -> None:
        self._stats = {}

    def check_for_setup_error(self) -> None:
        pass

    # -- test hooks ---------------------------------------------------------------

    @staticmethod
    def write(volume_id: str, offset: int, data: bytes) -> None:
        with _LOCK:
            vol = _VOLUMES[volume_id]
            if offset + len(data) > vol["size"] * GiB:
                raise ValueError("write past the end")
            blocks = vol["blocks"]
            pos = 0
            while pos < len(data):
                i, within = divmod(offset + pos, BLOCK)
                take = min(BLOCK - within, len(data) - pos)
                block = bytearray(blocks.get(i, bytes(BLOCK)))
                block[within:within + take] = data[pos:pos + take]
                blocks[i] = bytes(block)
                pos += take

    @staticmethod
    def read(volume_id: str, offset: int, length: int) -> bytes:
        with _LOCK:
            blocks = _VOLUMES[volume_id]["blocks"]
            out = bytearray()
            pos = offset
            while pos < offset + length:
                i, within = divmod(pos, BLOCK)
                take = min(BLOCK - within, offset + length - pos)
                out += blocks.get(i, bytes(BLOCK))[within:within + take]
                pos += take
            return bytes(out)

    @staticmethod
    def size(volume_id: str) -> int:
        with _LOCK:
            return _VOLUMES[volume_id]["size"] * GiB

    # -- volumes ------------------------------------------------------------------

    def _new(self, volume: Any, blocks: dict[int, bytes]) -> dict[str, str]:
        with _LOCK:
            if volume.id in _VOLUMES:
                raise exception.VolumeBackendAPIException(data=f"{volume.id} exists")
            _VOLUMES[volume.id] = {"size": volume.size, "blocks": dict(blocks)}
        return {"provider_location": f"memory://{volume.id}"}

    def create_volume(self, volume: Any) -> dict[str, str]:
        return self._new(volume, {})

    def delete_volume(self, volume: Any) -> None:
        with _LOCK:
            _VOLUMES.pop(volume.id, None)

    def extend_volume(self, volume: Any, new_size: int) -> None:
        with _LOCK:
            _VOLUMES[volume.id]["size"] = int(new_size)

    def create_cloned_volume(self, volume: Any, src_vref: Any) -> dict[str, str]:
        with _LOCK:
            return self._new(volume, _VOLUMES[src_vref.id]["blocks"])

    def create_snapshot(self, snapshot: Any) -> dict[str, str]:
        with _LOCK:
            src = _VOLUMES[snapshot.volume_id]
            _SNAPSHOTS[snapshot.id] = {"size": src["size"], "blocks": dict(src["blocks"])}
        return {"provider_location": f"memory-snap://{snapshot.id}"}

    def delete_snapshot(self, snapshot: Any) -> None:
        with _LOCK:
            _SNAPSHOTS.pop(snapshot.id, None)

    def create_volume_from_snapshot(self, volume: Any, snapshot: Any) -> dict[str, str]:
        with _LOCK:
            return self._new(volume, _SNAPSHOTS[snapshot.id]["blocks"])

    def revert_to_snapshot(self, context: Any, volume: Any, snapshot: Any) -> None:
        with _LOCK:
            _VOLUMES[volume.id]["blocks"] = dict(_SNAPSHOTS[snapshot.id]["blocks"])

    # -- exports and connections --------------------------------------------------

    def create_export(self, context: Any, volume: Any, connector: Any) -> None:
        return None

    def ensure_export(self, context: Any, volume: Any) -> None:
        return None

    def remove_export(self, context: Any, volume: Any) -> None:
        return None

    def initialize_connection(self, volume: Any, connector: Any) -> dict[str, Any]:
        return {"driver_volume_type": "memory",
                "data": {"volume_id": volume.id, "host": connector.get("host")}}

    def terminate_connection(self, volume: Any, connector: Any, **kwargs: Any) -> None:
        return None

    # -- stats and listing --------------------------------------------------------

    def _update_volume_stats(self) -> None:
        self._stats = {"volume_backend_name": self.configuration.volume_backend_name,
                       "vendor_name": "volumelib tests", "driver_version": self.VERSION,
                       "storage_protocol": self.STORAGE_PROTOCOL,
                       "pools": [{"pool_name": "memory", "total_capacity_gb": 1000,
                                  "free_capacity_gb": 1000, "reserved_percentage": 0,
                                  "thin_provisioning_support": True,
                                  "consistent_group_snapshot_enabled": True}]}

    def get_manageable_volumes(self, cinder_volumes: Any, marker: Any, limit: Any,
                               offset: Any, sort_keys: Any, sort_dirs: Any) -> list:
        with _LOCK:
            return [{"reference": {"source-name": f"volume-{vid}"}, "size": v["size"],
                     "safe_to_manage": False, "reason_not_safe": "",
                     "cinder_id": None, "extra_info": None}
                    for vid, v in _VOLUMES.items()]

    def get_manageable_snapshots(self, cinder_snapshots: Any, marker: Any, limit: Any,
                                 offset: Any, sort_keys: Any, sort_dirs: Any) -> list:
        with _LOCK:
            return [{"reference": {"source-name": f"snapshot-{sid}"}, "size": s["size"],
                     "safe_to_manage": False, "reason_not_safe": "", "cinder_id": None,
                     "extra_info": None, "source_reference": {}}
                    for sid, s in _SNAPSHOTS.items()]

    # -- the generic group interface (Cinder's shapes) ----------------------------

    def create_group(self, context: Any, group: Any) -> dict[str, str]:
        with _LOCK:
            _GROUPS[group.id] = set()
        return {"status": "available"}

    def delete_group(self, context: Any, group: Any, volumes: Any) -> tuple:
        with _LOCK:
            for vol in volumes:
                _VOLUMES.pop(vol.id, None)
            _GROUPS.pop(group.id, None)
        return {"status": "deleted"}, [{"id": v.id, "status": "deleted"} for v in volumes]

    def update_group(self, context: Any, group: Any, add_volumes: Any = None,
                     remove_volumes: Any = None) -> tuple:
        with _LOCK:
            members = _GROUPS.setdefault(group.id, set())
            members.update(v.id for v in add_volumes or ())
            members.difference_update(v.id for v in remove_volumes or ())
        return None, None, None

    def create_group_snapshot(self, context: Any, group_snapshot: Any,
                              snapshots: Any) -> tuple:
        with _LOCK:  # one lock for all members: consistent
            for snap in snapshots:
                src = _VOLUMES[snap.volume_id]
                _SNAPSHOTS[snap.id] = {"size": src["size"], "blocks": dict(src["blocks"])}
        return {"status": "available"}, [{"id": s.id, "status": "available"}
                                         for s in snapshots]

    def delete_group_snapshot(self, context: Any, group_snapshot: Any,
                              snapshots: Any) -> tuple:
        with _LOCK:
            for snap in snapshots:
                _SNAPSHOTS.pop(snap.id, None)
        return {"status": "deleted"}, [{"id": s.id, "status": "deleted"} for s in snapshots]

    def create_group_from_src(self, context: Any, group: Any, volumes: Any,
                              group_snapshot: Any = None, snapshots: Any = None,
                              source_group: Any = None, source_vols: Any = None) -> tuple:
        with _LOCK:
            _GROUPS[group.id] = {v.id for v in volumes}
            sources = snapshots if group_snapshot is not None else source_vols
            table = _SNAPSHOTS if group_snapshot is not None else _VOLUMES
            updates = []
            for vol, src in zip(volumes, sources):
                self._new(vol, table[src.id]["blocks"])
                updates.append({"id": vol.id, "status": "available",
                                "provider_location": f"memory://{vol.id}"})
        return {"status": "available"}, updates
