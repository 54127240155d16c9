"""Objects that make the trip between processes as JSON behave like the originals.

Each test runs the second side in a real child process with its own interpreter and
its own store, on the file driver (volume data in real files both processes see).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

import volumelib

CHILD = textwrap.dedent("""
    import json, sys
    import volumelib
    file_root, volume_dump, snapshot_json = sys.argv[1:4]
    volumelib.setup()                         # memory: this process's own, empty store
    backend = volumelib.Backend("shared", "file", file_root=file_root)
    vol = volumelib.load(volume_dump)         # what the other process dumped
    snap = volumelib.load(snapshot_json)
    try:
        new = snap.create_volume(name="from-the-other-side")
    except volumelib.VolumelibError as e:
        print(json.dumps({"error": type(e).__name__, "message": str(e)}))
        sys.exit(0)
    print(json.dumps({"id": new.id, "size": new.size, "status": new.status,
                      "snapshot_id": new.snapshot_id, "path": backend.driver.volume_path(new.id),
                      "stored": [v.id for v in volumelib.get_persistence().get_volumes()]}))
""")


@pytest.fixture
def file_backend(tmp_path):
    volumelib.setup()
    backend = volumelib.Backend("shared", "file", file_root=str(tmp_path / "root"))
    yield backend
    backend.close()
    volumelib.setup()


def test_memory_process_creates_a_volume_from_a_loaded_snapshot(file_backend, tmp_path):
    """cinderlib's snapshot JSON carries its volume; volumelib's does too, so a process
    whose store never saw the volume can still create a volume from the snapshot (it
    used to raise VolumeNotFound)."""
    vol = file_backend.create_volume(1, name="source")
    path = file_backend.driver.volume_path(vol.id)
    with open(path, "r+b") as f:
        f.seek(4096)
        f.write(b"before the snapshot")
    snap = vol.create_snapshot(name="s1")
    with open(path, "r+b") as f:
        f.seek(4096)
        f.write(b"AFTER  the snapshot")
    proc = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "root"), vol.dumps,
                           snap.jsons], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "error" not in out, out
    assert out["status"] == "available" and out["size"] == 1
    assert out["snapshot_id"] == snap.id
    assert out["stored"] == [out["id"]]   # the new volume, in the child's own store
    with open(out["path"], "rb") as f:     # the snapshot's data, not the volume's now
        f.seek(4096)
        assert f.read(19) == b"before the snapshot"
    assert os.path.getsize(out["path"]) == 1024 ** 3


def test_a_snapshot_json_carries_its_volume(file_backend):
    vol = file_backend.create_volume(1)
    snap = vol.create_snapshot()
    data = snap.json
    assert data["volume"]["ovo"]["versioned_object.data"]["id"] == vol.id
    assert "volume" not in vol.dump["snapshots"][0]  # not repeated inside its volume
    loaded = volumelib.load(json.dumps(data))
    assert loaded.volume.id == vol.id
