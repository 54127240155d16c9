"""Attach a volume, write through the device with dd, snapshot, clone, read it back.

usage: attach_dd.py CONFIG.yaml        (needs root)
"""
import json
import os
import sys

import yaml

import volumelib.compat.cinderlib as cinderlib
from device_io import read_at, write_at

with open(sys.argv[1]) as f:
    config = yaml.safe_load(f)

cinderlib.setup(persistence_config=config["persistence_config"],
                disable_logs=not config.get("logs", False))
backend = cinderlib.Backend(**config["backends"][0])


def write_data(vol, data):
    if not vol.local_attach:
        vol.attach()
    try:
        write_at(vol.local_attach.path, 0, data)
    finally:
        vol.detach()


def read_data(vol, length):
    if not vol.local_attach:
        vol.attach()
    try:
        return read_at(vol.local_attach.path, 0, length)
    finally:
        vol.detach()


vol = backend.create_volume(size=1, name="attach-me")
attach = vol.attach()
assert attach is vol.local_attach and attach in vol.connections
assert attach.attached and attach.connected and vol.status == "in-use"
path = attach.path
assert os.path.exists(path) if isinstance(path, str) else hasattr(path, "read"), path
path = path if isinstance(path, str) else type(path).__name__
vol.detach()
assert vol.local_attach is None and attach not in vol.connections
assert vol.status == "available"

data = b"0123456789abcdef" * 512  # 8 KiB (direct I/O: whole 4 KiB blocks)
write_data(vol, data)
snap = vol.create_snapshot(name="before-overwrite")
write_data(vol, data[::-1])

from_snap = snap.create_volume(name="restored")
clone = vol.clone(name="copy")
assert read_data(from_snap, len(data)) == data
assert read_data(clone, len(data)) == data[::-1]
assert read_data(vol, len(data)) == data[::-1]

# Connection.detach keeps the connection; disconnect removes it
attach = clone.attach()
attach.detach()
assert not attach.attached and clone.local_attach is None
assert attach in clone.connections
attach.disconnect()
assert attach not in clone.connections and clone.status == "available"

try:
    clone.detach()
except cinderlib.exception.NotLocal:
    pass
else:
    raise AssertionError("detach of a volume not attached here must raise NotLocal")

for v in (clone, from_snap):
    v.delete()
snap.delete()
vol.delete()
assert backend.volumes == []
print(json.dumps({"ok": True, "path": path, "volume": vol.id}))
