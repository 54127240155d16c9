"""Controller and node in different processes, as container storage plugins run.

The controller exports a volume to the node's connector properties; the node process
has no backend (``fail_on_missing_backend=False``) and attaches from the persisted
connection; a *restarted* node process detaches from what the store remembers.
Real loop devices through os-brick's LOCAL connector, a real SQLite file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

import volumelib
from volumelib import exceptions as exc
from tests.helpers import pread, requires_root, requires_tool

NODE = textwrap.dedent("""
    import json, os, sys
    import volumelib
    db, action, ref = sys.argv[1:4]
    host = os.environ.get("NODE_HOST")
    volumelib.setup(persistence_config={"storage": "dbms", "connection": f"sqlite:///{db}"},
                    fail_on_missing_backend=False, host=host)
    if action == "props":
        print(json.dumps(volumelib.get_connector_properties()))
        sys.exit(0)
    if action in ("attach-json", "attach-json-keep"):
        conn = volumelib.load(ref)           # from the controller's JSON, no backend here
    else:
        [conn] = volumelib.get_persistence().get_connections(connection_id=ref)
    try:
        if action in ("attach", "attach-json", "attach-json-keep"):
            conn.attach()
            fd = os.open(conn.path, os.O_RDWR)
            os.pwrite(fd, b"written-by-the-node" * 100, 1 << 20)
            os.fsync(fd)
            os.close(fd)
            if action == "attach-json":
                conn.detach()
            out = {"path": conn.path, "status": conn.status}
        elif action == "extend":
            out = {"size": conn.extend()}
        elif action == "detach":
            path = conn.path
            conn.detach()
            out = {"path": path, "status": conn.status, "attached": conn.attached}
    except volumelib.VolumelibError as e:
        out = {"error": type(e).__name__, "message": str(e)}
    print(json.dumps(out))
""")


def node(db: str, action: str, ref: str = "", host: str | None = None) -> dict:
    env = dict(os.environ)
    if host:
        env["NODE_HOST"] = host
    proc = subprocess.run([sys.executable, "-c", NODE, db, action, ref], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def loop_devices_for(path: str) -> list[str]:
    out = subprocess.run(["losetup", "-j", path], capture_output=True, text=True).stdout
    return [line.split(":")[0] for line in out.splitlines() if line.strip()]


@pytest.fixture
def controller(ext4_dir):
    requires_root()
    requires_tool("losetup", "blockdev")
    db = os.path.join(ext4_dir, "shared.sqlite")
    volumelib.setup(persistence_config={"storage": "dbms", "connection": f"sqlite:///{db}"})
    backend = volumelib.Backend("ctl", "file", file_root=os.path.join(ext4_dir, "root"))
    yield db, backend
    backend.close()
    volumelib.get_persistence().close()
    volumelib.setup()


def test_controller_exports_node_attaches_restarted_node_detaches(controller):
    db, backend = controller
    vol = backend.create_volume(1, name="pvc-1")
    props = node(db, "props")
    assert props.get("host") and "platform" in props
    conn = vol.connect(props)
    assert backend.get_volume(vol.id).status == "in-use"

    attached = node(db, "attach", conn.id)
    assert attached["status"] == "attached" and attached["path"].startswith("/dev/loop")
    conn.refresh()
    assert conn.attached and conn.path == attached["path"]  # persisted, not in memory
    file_path = backend.driver.volume_path(vol.id)
    assert pread(file_path, 1 << 20, 1900) == b"written-by-the-node" * 100

    with pytest.raises(exc.VolumeInUse):
        conn.disconnect()  # still attached on the node

    vol.extend(2)
    assert node(db, "extend", conn.id) == {"size": 2 * 1024 ** 3}

    detached = node(db, "detach", conn.id)  # a new process: the old one is gone
    assert detached == {"path": attached["path"], "status": "connected", "attached": False}
    conn.refresh()
    conn.disconnect()
    vol.refresh()
    assert vol.status == "available" and vol.connections == []
    assert loop_devices_for(file_path) == []
    vol.delete()


def test_node_attaches_from_json_without_the_store_record(controller):
    db, backend = controller
    vol = backend.create_volume(1)
    conn = vol.connect(node(db, "props"))
    data = conn.jsons
    assert "auth_password" not in data or "***" in data
    out = node(db + ".node-only", "attach-json", data)  # the node's own, empty store
    assert out["status"] == "connected"
    assert pread(backend.driver.volume_path(vol.id), 1 << 20, 19) == b"written-by-the-node"
    conn.disconnect()
    vol.delete()


def test_node_sharing_the_store_attaches_from_json(controller):
    """A node process that shares the controller's database loads the connection from
    the controller's JSON: load() binds it to the stored row, so attach() saves it
    (it used to raise AlreadyExists: the loaded object did not know the row existed)."""
    db, backend = controller
    vol = backend.create_volume(1)
    conn = vol.connect(node(db, "props"))
    out = node(db, "attach-json-keep", conn.jsons)  # the same store as the controller
    assert out["status"] == "attached" and out["path"].startswith("/dev/loop"), out
    conn.refresh()
    assert conn.attached and conn.path == out["path"]
    assert pread(backend.driver.volume_path(vol.id), 1 << 20, 19) == b"written-by-the-node"
    assert node(db, "detach", conn.id)["status"] == "connected"
    conn.refresh()
    conn.disconnect()
    vol.delete()


def test_node_with_a_stale_json_gets_concurrent_modification(controller):
    """JSON taken before the row changed is a stale copy: attach() is refused with the
    retryable ConcurrentModification and changes nothing."""
    db, backend = controller
    vol = backend.create_volume(1)
    conn = vol.connect(node(db, "props"))
    stale = conn.jsons
    node(db, "attach", conn.id)             # the row moves on: attached...
    node(db, "detach", conn.id)             # ...and detached again
    path = backend.driver.volume_path(vol.id)
    exported = loop_devices_for(path)       # the export, made by connect
    out = node(db, "attach-json-keep", stale)
    assert out["error"] == "ConcurrentModification", out
    conn.refresh()
    assert conn.status == "connected" and not conn.attached
    assert loop_devices_for(path) == exported  # nothing attached
    conn.disconnect()
    assert loop_devices_for(path) == []
    vol.delete()


def test_node_errors_are_specific_and_change_nothing(controller):
    db, backend = controller
    vol = backend.create_volume(1)
    conn = vol.connect(node(db, "props"))
    assert node(db, "detach", conn.id)["error"] == "InvalidState"  # not attached
    node(db, "attach", conn.id)
    again = node(db, "attach", conn.id)
    assert again["error"] == "InvalidState" and "already attached" in again["message"]
    elsewhere = node(db, "detach", conn.id, host="some-other-node")
    assert elsewhere["error"] == "InvalidState" and "some-other-node" in elsewhere["message"]
    conn.refresh()
    assert conn.attached and conn.status == "attached"
    node(db, "detach", conn.id)
    conn.refresh()
    conn.disconnect()
    vol.delete()


@pytest.mark.parametrize("status", ["error", "deleting", "creating"])
def test_connecting_a_volume_in_a_bad_state_is_refused(controller, status):
    db, backend = controller
    vol = backend.create_volume(1)
    vol.status = status
    vol.save()
    with pytest.raises(exc.InvalidState):
        vol.connect({"host": "n1"})
    assert backend.persistence.get_connections(volume_id=vol.id) == []
    assert loop_devices_for(backend.driver.volume_path(vol.id)) == []
    vol.status = "available"
    vol.save()
    vol.delete()


def test_bad_connector_shapes(controller):
    db, backend = controller
    vol = backend.create_volume(1)
    for bad in (None, "host=x", ["host"], 42):
        with pytest.raises(exc.InvalidArgument):
            vol.connect(bad)
    with pytest.raises(exc.InvalidArgument):
        vol.connect({"host": "x"}, attach_mode="rwx")
    assert vol.connections == [] and backend.get_volume(vol.id).status == "available"
    assert backend.validate_connector({"host": "x", "ip": "127.0.0.1"})["host"] == "x"
    vol.delete()
