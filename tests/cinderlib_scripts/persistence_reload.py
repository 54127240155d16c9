"""What outlives the process: the db persistence, and dumps/load with memory.

usage: persistence_reload.py CONFIG.yaml STEP [FILE]
  db-create    create a volume and a snapshot (db persistence from the config)
  db-reopen    a new process finds them, extends, deletes
  mem-dump     memory persistence: create a volume, write backend.dumps to FILE
  mem-load     memory persistence: load FILE with save=True, find and delete it
"""
import json
import sys

import yaml

import volumelib.compat.cinderlib as cinderlib

config_file, step = sys.argv[1:3]
with open(config_file) as f:
    config = yaml.safe_load(f)

if step.startswith("mem-"):
    persistence_config = {"storage": "memory"}
else:
    persistence_config = config["persistence_config"]
cinderlib.setup(persistence_config=persistence_config,
                disable_logs=not config.get("logs", False))
backend = cinderlib.Backend(**config["backends"][0])
result = {"ok": True, "step": step}

if step == "db-create":
    assert backend.volumes == []
    vol = backend.create_volume(1, name="survivor")
    snap = vol.create_snapshot(name="survivor-snap")
    result.update(volume=vol.id, snapshot=snap.id)

elif step == "db-reopen":
    [vol] = backend.volumes
    assert vol.display_name == "survivor" and vol.status == "available"
    assert cinderlib.Volume.get_by_id(vol.id) is vol
    assert [v.id for v in backend.volumes_filtered(volume_name="survivor")] == [vol.id]
    [snap] = vol.snapshots
    assert snap.display_name == "survivor-snap" and snap.volume is vol
    assert backend.persistence.get_snapshots(snapshot_id=snap.id) == [snap]
    assert vol.extend(2) == 2 * 1024 ** 3
    snap.delete()
    vol.delete()
    assert backend.volumes == []
    result.update(volume=vol.id, snapshot=snap.id)

elif step == "mem-dump":
    vol = backend.create_volume(1, name="dumped")
    with open(sys.argv[3], "w") as f:
        f.write(backend.dumps)
    result["volume"] = vol.id

elif step == "mem-load":
    assert backend.volumes == []  # a new memory store knows nothing
    with open(sys.argv[3]) as f:
        data = f.read()
    loaded = cinderlib.load(data, save=True)
    assert loaded is backend
    [vol] = backend.volumes
    assert vol.display_name == "dumped"
    vol.delete()
    assert backend.volumes == []
    result["volume"] = vol.id

else:
    raise SystemExit("unknown step %s" % step)

print(json.dumps(result))
