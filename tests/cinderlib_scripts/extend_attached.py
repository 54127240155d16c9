"""Extend a volume while it is attached; the host sees the new size at once.

usage: extend_attached.py CONFIG.yaml   (needs root)
"""
import json
import sys

import yaml

import volumelib.compat.cinderlib as cinderlib
from device_io import device_size, read_at, write_at

GiB = 1024 ** 3

with open(sys.argv[1]) as f:
    config = yaml.safe_load(f)

cinderlib.setup(persistence_config=config["persistence_config"],
                disable_logs=not config.get("logs", False))
backend = cinderlib.Backend(**config["backends"][0])


vol = backend.create_volume(size=1, name="grow-me")
conn = vol.attach()
assert device_size(conn.path) == 1 * GiB

reported = vol.extend(2)
assert reported == 2 * GiB, reported
assert vol.size == 2 and vol._ovo.size == 2 and vol.status == "in-use"
assert device_size(vol.local_attach.path) == 2 * GiB

# Write past the old end through the device, then read it back after a re-attach
marker = b"beyond-the-old-end".ljust(4096, b".")  # one 4 KiB block (direct I/O)
offset = GiB + 8 * 4096
write_at(conn.path, offset, marker)
vol.detach()
conn = vol.attach()
got = read_at(conn.path, offset, len(marker))
assert got == marker, got[:40]
vol.detach()
vol.delete()
print(json.dumps({"ok": True, "size": reported}))
