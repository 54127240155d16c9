"""Controller and node in different processes, exchanging data through the
key-value store of the shared persistence (cinderlib's documented remote flow).

usage: remote_connect.py CONFIG.yaml STEP NODE_ID
  node-register       the node stores its connector properties under NODE_ID
  controller-connect  the controller creates a volume, connects it to NODE_ID and
                      stores conn.dumps under "conn-NODE_ID"
  node-attach         the node loads that connection, attaches it, writes with dd,
                      detaches
  controller-check    the controller finds the data, disconnects and deletes
"""
import json
import socket
import sys

import yaml

import volumelib.compat.cinderlib as cinderlib
from device_io import read_at, write_at

config_file, step, node_id = sys.argv[1:4]
with open(config_file) as f:
    config = yaml.safe_load(f)

MARK = b"written-on-the-node".ljust(4096, b"#")  # one 4 KiB block (direct I/O)
OFFSET = 1024 * 1024


node = step.startswith("node-")
# A node has no backend configuration, only the metadata persistence
cinderlib.setup(persistence_config=config["persistence_config"],
                disable_logs=not config.get("logs", False),
                fail_on_missing_backend=not node)
persistence = cinderlib.Backend.persistence
result = {"ok": True, "step": step}

if step == "node-register":
    kv = persistence.get_key_values(node_id)
    if not kv:
        try:
            storage_nw_ip = socket.gethostbyname(socket.gethostname())
        except OSError:
            storage_nw_ip = "127.0.0.1"
        connector_dict = cinderlib.get_connector_properties("sudo", storage_nw_ip,
                                                            False, False)
        value = json.dumps(connector_dict, separators=(",", ":"))
        persistence.set_key_value(cinderlib.KeyValue(node_id, value))
    assert persistence.get_key_values(node_id)
    assert not cinderlib.Backend.backends

elif step == "controller-connect":
    storage = cinderlib.Backend(**config["backends"][0])
    kv = persistence.get_key_values(node_id)
    if not kv:
        raise Exception("Unknown node")
    connector_info = json.loads(kv[0].value)
    vol = storage.create_volume(1, name="for-" + node_id)
    conn = vol.connect(connector_info, attached_host=node_id)
    assert conn.connected and not conn.attached and vol.status == "in-use"
    assert conn.protocol == conn.conn_info["driver_volume_type"]
    persistence.set_key_value(cinderlib.KeyValue("conn-" + node_id, conn.dumps))
    result["volume"] = vol.id

elif step == "node-attach":
    [kv] = persistence.get_key_values("conn-" + node_id)
    conn = cinderlib.load(kv.value)
    assert isinstance(conn, cinderlib.Connection) and conn.connected
    conn.attach()
    assert conn.attached
    write_at(conn.path, OFFSET, MARK)
    result["path"] = conn.path if isinstance(conn.path, str) else type(conn.path).__name__
    conn.detach()
    assert not conn.attached and conn.connected
    assert cinderlib.Connection.get_by_id(conn.id).attached is False

elif step == "controller-check":
    storage = cinderlib.Backend(**config["backends"][0])
    [kv] = persistence.get_key_values("conn-" + node_id)
    conn_id = json.loads(kv.value)["ovo"]["versioned_object.data"]["id"]
    conn = cinderlib.Connection.get_by_id(conn_id)
    vol = cinderlib.Volume.get_by_id(conn.volume_id)
    assert vol in storage.volumes and conn in vol.connections and not conn.attached
    conn.disconnect()
    assert vol.connections == [] and vol.status == "available"
    local = vol.attach()
    got = read_at(local.path, OFFSET, len(MARK))
    vol.detach()
    assert got == MARK, got[:40]
    vol.delete()
    persistence.delete_key_value(kv)
    persistence.delete_key_value(node_id)
    assert persistence.get_key_values("conn-" + node_id) == []
    result["volume"] = vol.id

else:
    raise SystemExit("unknown step %s" % step)

print(json.dumps(result))
