"""Create, snapshot, clone, extend and delete volumes the way cinderlib scripts do.

usage: lifecycle.py CONFIG.yaml
"""
import json
import sys

import yaml

import volumelib.compat.cinderlib as cinderlib

with open(sys.argv[1]) as f:
    config = yaml.safe_load(f)

cinderlib.setup(persistence_config=config["persistence_config"],
                disable_logs=not config.get("logs", False))
backend = cinderlib.Backend(**config["backends"][0])
assert cinderlib.Backend.backends[backend.id] is backend

# Stats in Cinder's format
stats = backend.stats(refresh=True)
for key in ("vendor_name", "volume_backend_name", "driver_version", "storage_protocol"):
    assert key in stats, key
pools = stats.get("pools", [stats])
assert all("free_capacity_gb" in p and "total_capacity_gb" in p for p in pools)
assert backend.pool_names and backend.pool_names[0] == pools[0]["pool_name"]
before = sum(p.get("allocated_capacity_gb", p.get("provisioned_capacity_gb", 0))
             for p in pools)

vol = backend.create_volume(size=1, name="cl-data", description="a cinderlib volume",
                            pool_name=backend.pool_names[0])
assert vol.status == "available" and vol.size == 1
assert vol.display_name == "cl-data" and vol.display_description == "a cinderlib volume"
assert vol in backend.volumes
assert backend.stats() == stats  # cached until refresh
after = sum(p.get("allocated_capacity_gb", p.get("provisioned_capacity_gb", 0))
            for p in backend.stats(refresh=True)["pools"])
assert after != before, (before, after)

snap = vol.create_snapshot(name=vol.id)
assert snap.status == "available" and snap.volume_size == vol.size
assert snap.display_name == vol.id
assert snap in vol.snapshots and snap.volume is vol

from_snap = snap.create_volume(name="from-snap")
assert from_snap.snapshot_id == snap.id and from_snap.size == vol.size

clone = vol.clone(size=vol.size + 1, name="bigger-clone")
assert clone.source_volid == vol.id and clone.size == 2

# Extend the copy read back from the store: the original object sees it (live objects)
from_db = backend.persistence.get_volumes(vol.id)[0]
assert from_db is vol
new_bytes = from_db.extend(vol.size + 1)
assert new_bytes == 2 * 1024 ** 3 and vol.size == 2

ids = sorted(v.id for v in backend.volumes)
assert ids == sorted([vol.id, from_snap.id, clone.id]), ids


def delete_twice(obj):
    """Delete, then delete again as after a failed attempt: both succeed."""
    obj.delete()
    assert obj.status == "deleted" and obj.deleted
    obj._ovo.status = "error"
    obj._ovo.deleted = False
    obj.delete()
    assert obj.status == "deleted" and obj.deleted


# Deleting in reverse order, and deleting twice is harmless
for v in (clone, from_snap):
    v.delete()
    assert v.status == "deleted" and v.deleted
    assert v not in backend.volumes

delete_twice(snap)
assert snap not in vol.snapshots
delete_twice(vol)
assert vol not in backend.volumes
assert backend.volumes == []

drivers = cinderlib.list_supported_drivers()
assert {"version", "class_name", "supported", "ci_wiki_name", "driver_options",
        "class_fqn", "desc"} == set(next(iter(drivers.values())))
print(json.dumps({"ok": True, "backend": backend.id, "volume": vol.id,
                  "drivers": sorted(drivers)}))
