"""``volumelib group ...`` and ``backend stats|health|gc|list`` in subprocesses, on a
SQLite file and the file driver on a real XFS."""

from __future__ import annotations

import os

import yaml

from tests.functional.test_cli_support import cli_env, one_error_line  # noqa: F401
from tests.helpers import pread, pwrite, requires_root

MiB = 1024 ** 2


def test_group_commands(cli_env):  # noqa: F811
    requires_root()
    env = cli_env
    a = env.json("volume", "create", "--size", "1", "ga")
    b = env.json("volume", "create", "--size", "1", "gb")
    c = env.json("volume", "create", "--size", "1", "gc")
    group = env.json("group", "create", "g1", "--volume", "ga", "--volume", b["id"],
                     "--consistent", "--description", "two")
    assert group["status"] == "available" and group["name"] == "g1"
    assert group["volumes"] == sorted([a["id"], b["id"]])
    assert group["group_type"] == {"consistent_group_snapshot_enabled": "<is> True"}
    assert env.json("volume", "show", "ga")["group_id"] == group["id"]
    assert [g["id"] for g in env.json("group", "list")] == [group["id"]]
    assert env.json("group", "show", "g1") == env.json("group", "show", group["id"])

    updated = env.json("group", "update", "g1", "--add-volume", "gc", "--remove-volume", "gb")
    assert updated["volumes"] == sorted([a["id"], c["id"]])
    assert env.json("volume", "show", "gb")["group_id"] is None

    conn = env.json("volume", "attach", "ga")
    pwrite(conn["path"], MiB, b"in the group" * 100)
    env.ok("volume", "detach", "ga")
    gs = env.json("group", "snapshot-create", "g1", "--name", "gs1")
    assert gs["status"] == "available" and gs["group_id"] == group["id"]
    assert len(gs["snapshots"]) == 2 and gs["consistent"] is False  # XFS: the fallback
    assert [s["id"] for s in env.json("group", "snapshot-list", "--group", "g1")] == [gs["id"]]
    assert env.json("group", "snapshot-show", "gs1")["snapshots"] == gs["snapshots"]
    # Member snapshots show up among the snapshots, and cannot be deleted alone.
    members = {s["id"] for s in env.json("snapshot", "list")}
    assert set(gs["snapshots"]) <= members
    refused = env.run("snapshot", "delete", gs["snapshots"][0])
    assert refused.returncode == 5 and "group snapshot" in one_error_line(refused)

    copy = env.json("group", "create-from-src", "g1-copy", "--group-snapshot", "gs1")
    assert copy["status"] == "available" and len(copy["volumes"]) == 2
    copied = [env.json("volume", "show", v) for v in copy["volumes"]]
    source_of = {s["id"]: s["volume_id"] for s in env.json("snapshot", "list", "--long")}
    target = next(v for v in copied if source_of[v["snapshot_id"]] == a["id"])
    conn = env.json("volume", "attach", target["id"])
    try:
        assert pread(conn["path"], MiB, 1200) == b"in the group" * 100
    finally:
        env.ok("volume", "detach", target["id"])
    clone = env.json("group", "create-from-src", "--source-group", "g1")
    assert len(clone["volumes"]) == 2 and clone["source_group_id"] == group["id"]

    refused = env.run("group", "delete", "g1")
    assert refused.returncode == 5 and one_error_line(refused)
    env.ok("group", "snapshot-delete", "gs1")
    assert env.json("group", "snapshot-list") == []
    for name in ("g1", "g1-copy", clone["id"]):
        env.ok("group", "delete", name, "--delete-volumes")
    assert env.json("group", "list") == []
    assert [v["name"] for v in env.json("volume", "list")] == ["gb"]
    env.ok("volume", "delete", "gb")
    assert os.listdir(os.path.join(env.file_root, "volumes")) == []


def test_backend_stats_health_list(cli_env):  # noqa: F811
    env = cli_env
    env.ok("volume", "create", "--size", "3", "counted")
    stats = env.json("backend", "stats")
    assert stats["volume_backend_name"] == "local" and stats["vendor_name"] == "volumelib"
    assert stats["total_volumes"] == 1 and stats["provisioned_capacity_gb"] >= 3
    assert stats["reflink"] is True and "clone" in stats["capabilities"]
    assert stats["pools_detail"][0]["pool_name"] == stats["pools"][0]
    table = env.ok("backend", "stats")
    assert "| total_capacity_gb" in table and "pools_detail" not in table
    assert env.ok("backend", "stats", "local", "-f", "value", "-c", "total_volumes") == "1\n"
    health = yaml.safe_load(env.ok("backend", "health", "-f", "yaml"))
    assert health["alive"] is True and health["volumes_by_status"] == {"available": 1}
    assert env.json("backend", "list") == [
        {"name": "local", "volume_driver": "file", "source": "config"}]


def test_backend_gc_finishes_an_interrupted_delete(cli_env):  # noqa: F811
    env = cli_env
    vol = env.json("volume", "create", "--size", "1", "stuck")
    keep = env.json("volume", "create", "--size", "1", "keep")
    # What a crash after storing the delete intent leaves behind: the record in
    # ``deleting`` (written here straight into the SQLite file, as the dead process did).
    import volumelib.persistence
    store = volumelib.persistence.setup({"storage": "db",
                                         "connection": f"sqlite:///{env.db}"})
    try:
        record = store.get_volumes(volume_id=vol["id"])[0]
        record.status = "deleting"
        store.set_volume(record)
    finally:
        store.close()
    young = env.json("backend", "gc")  # default: only records older than 600 s
    assert young == []
    dry = env.json("backend", "gc", "--older-than", "0", "--dry-run")
    assert {"kind": "volume", "id": vol["id"], "action": "finish delete",
            "result": "would do", "reason": ""} in dry
    assert env.json("volume", "show", "stuck")["status"] == "deleting"
    done = env.json("backend", "gc", "--older-than", "0")
    assert [(r["id"], r["result"]) for r in done if r["kind"] == "volume"] == \
        [(vol["id"], "done")]
    gone = env.run("volume", "show", vol["id"])
    assert gone.returncode == 3
    assert [v["id"] for v in env.json("volume", "list")] == [keep["id"]]
    files = os.listdir(os.path.join(env.file_root, "volumes"))
    assert [f for f in files if vol["id"] in f] == [] and any(keep["id"] in f for f in files)
