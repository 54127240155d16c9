"""``volumelib volume ...`` and ``snapshot ...`` in subprocesses, on a SQLite file and
the file driver on a real XFS (reflink clones, loop-device attaches as root)."""

from __future__ import annotations

import csv
import io
import json
import os
import stat

import yaml

from tests.functional.test_cli_support import cli_env  # noqa: F401 - fixture
from tests.helpers import pread, pwrite, requires_root

MiB = 1024 ** 2
GiB = 1024 ** 3


def block_size(path: str) -> int:
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.lseek(fd, 0, os.SEEK_END)
    finally:
        os.close(fd)


def test_volume_life_cycle(cli_env):  # noqa: F811
    requires_root()
    env = cli_env
    vol = env.json("volume", "create", "--size", "1", "data", "--description", "first",
                   "--property", "team=ops", "--property", "tier=gold")
    assert (vol["name"], vol["size"], vol["status"]) == ("data", 1, "available")
    assert vol["metadata"] == {"team": "ops", "tier": "gold"}
    assert vol["backend_name"] == "local" and vol["description"] == "first"
    assert env.json("volume", "show", "data") == env.json("volume", "show", vol["id"])
    assert [v["id"] for v in env.json("volume", "list")] == [vol["id"]]

    # Attach: a real loop device that outlives the command.
    conn = env.json("volume", "attach", "data")
    assert conn["volume_id"] == vol["id"] and conn["status"] == "attached"
    assert stat.S_ISBLK(os.stat(conn["path"]).st_mode)
    assert env.json("volume", "show", "data")["status"] == "in-use"
    assert env.json("volume", "show", "data")["connections"] == [conn["id"]]
    pwrite(conn["path"], 5 * MiB, b"first version" * 100)

    # Extend while attached: the device sees the new size.
    assert env.json("volume", "extend", "data", "--size", "2")["size"] == 2
    assert block_size(conn["path"]) == 2 * GiB
    env.ok("volume", "detach", "data")
    shown = env.json("volume", "show", "data")
    assert shown["status"] == "available" and shown["connections"] == []

    snap = env.json("snapshot", "create", "--volume", "data", "before")
    assert (snap["volume_id"], snap["volume_size"], snap["status"]) == \
        (vol["id"], 2, "available")
    assert env.json("snapshot", "show", "before")["id"] == snap["id"]
    assert [s["id"] for s in env.json("snapshot", "list", "--volume", "data")] == [snap["id"]]
    assert env.json("volume", "show", "data")["snapshots"] == [snap["id"]]

    # Overwrite, then clone, volume from snapshot, revert: check the bytes for real.
    conn = env.json("volume", "attach", "data")
    pwrite(conn["path"], 5 * MiB, b"SECOND VERSION" * 100)
    env.ok("volume", "detach", "data")
    clone = env.json("volume", "clone", "data", "copy", "--size", "3")
    assert (clone["size"], clone["source_volid"]) == (3, vol["id"])
    from_snap = env.json("volume", "create", "--snapshot", "before", "restored")
    assert (from_snap["size"], from_snap["snapshot_id"]) == (2, snap["id"])
    reverted = env.json("volume", "revert", "data", "before")
    assert reverted["status"] == "available" and reverted["size"] == 2
    for name, expected in (("copy", b"SECOND VERSION" * 100), ("restored", b"first version"
                                                                          * 100),
                           ("data", b"first version" * 100)):
        conn = env.json("volume", "attach", name)
        try:
            assert pread(conn["path"], 5 * MiB, len(expected)) == expected, name
        finally:
            env.ok("volume", "detach", name)
    names = {v["name"]: v for v in env.json("volume", "list", "--long")}
    assert set(names) == {"data", "copy", "restored"}
    assert names["data"]["metadata"] == {"team": "ops", "tier": "gold"}

    # Delete: snapshots first, then several volumes in one command.
    env.ok("snapshot", "delete", "before")
    assert env.json("snapshot", "list") == []
    assert env.ok("volume", "delete", "data", clone["id"], "restored") == ""
    assert env.json("volume", "list") == []
    assert os.listdir(os.path.join(env.file_root, "volumes")) == []


def test_every_output_format(cli_env):  # noqa: F811
    env = cli_env
    vol = env.json("volume", "create", "--size", "1", "fmt", "--property", "k=v")
    env.json("volume", "create", "--size", "2", "other")

    table = env.ok("volume", "show", "fmt")
    assert table.startswith("+") and "| metadata     | k='v'" in table
    shown = yaml.safe_load(env.ok("volume", "show", "fmt", "-f", "yaml"))
    assert shown["id"] == vol["id"] and shown["metadata"] == {"k": "v"}
    assert env.ok("volume", "show", "fmt", "-f", "value", "-c", "id") == vol["id"] + "\n"
    assert env.ok("volume", "show", "fmt", "-f", "value", "-c", "size", "-c", "status") == \
        "1\navailable\n"
    assert json.loads(env.ok("volume", "show", "fmt", "-f", "json", "-c", "name",
                             "-c", "size")) == {"name": "fmt", "size": 1}
    assert env.ok("volume", "show", "fmt", "-f", "shell", "-c", "size") == 'size="1"\n'

    listing = env.ok("volume", "list")
    assert "| fmt " in listing and "| other " in listing and listing.startswith("+")
    rows = yaml.safe_load(env.ok("volume", "list", "-f", "yaml"))
    assert [r["name"] for r in rows] == ["fmt", "other"]
    assert env.ok("volume", "list", "-f", "value", "-c", "name") == "fmt\nother\n"
    parsed = list(csv.reader(io.StringIO(env.ok("volume", "list", "-f", "csv",
                                                "-c", "name", "-c", "size"))))
    assert parsed == [["name", "size"], ["fmt", "1"], ["other", "2"]]
    assert [r["size"] for r in env.json("volume", "list", "--status", "available")] == [1, 2]
    assert [r["name"] for r in env.json("volume", "list", "--property", "k=v")] == ["fmt"]
    page = env.json("volume", "list", "--limit", "1")
    assert [r["name"] for r in page] == ["fmt"]
    assert [r["name"] for r in env.json("volume", "list", "--marker", page[0]["id"])] == \
        ["other"]
    snap = env.json("snapshot", "create", "--volume", "fmt", "s")
    assert yaml.safe_load(env.ok("snapshot", "list", "-f", "yaml"))[0]["id"] == snap["id"]
    assert env.ok("snapshot", "show", "s", "-f", "value", "-c", "volume_id") == \
        vol["id"] + "\n"


def test_config_through_the_environment_and_two_backends(cli_env, tmp_path):  # noqa: F811
    env = cli_env
    from tests.functional.test_cli_support import run_cli, write_config
    config = write_config(str(tmp_path / "two.yaml"), env.db, [
        {"volume_backend_name": "a", "volume_driver": "file",
         "file_root": os.path.join(env.directory, "a")},
        {"volume_backend_name": "b", "volume_driver": "file",
         "file_root": os.path.join(env.directory, "b")}])
    with_env = {"VOLUMELIB_CONFIG": config}
    refused = run_cli("volume", "create", "--size", "1", "x", env=with_env)
    assert refused.returncode == 2 and "--backend" in refused.stderr
    assert refused.stderr.count("\n") == 1
    made = run_cli("--backend", "b", "volume", "create", "--size", "1", "x", "-f", "json",
                   env=with_env)
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["backend_name"] == "b"
    made = run_cli("volume", "create", "--size", "1", "y", "-f", "json",
                   env={**with_env, "VOLUMELIB_BACKEND": "a"})
    assert json.loads(made.stdout)["backend_name"] == "a"
    listed = json.loads(run_cli("volume", "list", "-f", "json", env=with_env).stdout)
    assert sorted((v["name"], v["backend_name"]) for v in listed) == [("x", "b"), ("y", "a")]
    only_a = json.loads(run_cli("--backend", "a", "volume", "list", "-f", "json",
                                env=with_env).stdout)
    assert [v["name"] for v in only_a] == ["y"]
    # A volume is found on its own backend without --backend.
    assert run_cli("volume", "delete", "x", env=with_env).returncode == 0
    backends = json.loads(run_cli("backend", "list", "-f", "json", env=with_env).stdout)
    assert backends == [{"name": "a", "volume_driver": "file", "source": "config"},
                        {"name": "b", "volume_driver": "file", "source": "config"}]
    # $VOLUMELIB_DB_URL replaces the file's store: an empty SQLite file, no volumes.
    other = run_cli("volume", "list", "-f", "json",
                    env={**with_env, "VOLUMELIB_DB_URL": f"sqlite:///{tmp_path / 'o.db'}"})
    assert other.returncode == 0 and json.loads(other.stdout) == []
    assert run_cli("--backend", "a", "volume", "delete", "y", env=with_env).returncode == 0


def test_ini_config(cli_env, tmp_path):  # noqa: F811
    from tests.functional.test_cli_support import run_cli
    ini = tmp_path / "volumelib.conf"
    ini.write_text(f"[DEFAULT]\nenabled_backends = inifile\n\n"
                   f"[database]\nconnection = sqlite:///{tmp_path / 'ini.sqlite'}\n\n"
                   f"[inifile]\nvolume_driver = file\n"
                   f"file_root = {cli_env.directory}/ini\n"
                   f"max_over_subscription_ratio = 2.5\n")
    made = run_cli("--config", str(ini), "volume", "create", "--size", "1", "fromini",
                   "-f", "json")
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["backend_name"] == "inifile"
    stats = json.loads(run_cli("--config", str(ini), "backend", "stats", "-f", "json").stdout)
    assert stats["max_over_subscription_ratio"] == 2.5  # coerced from the ini's string
    assert run_cli("--config", str(ini), "volume", "delete", "fromini").returncode == 0


def test_create_from_image_with_progress_bar(cli_env, tmp_path):  # noqa: F811
    requires_root()
    env = cli_env
    image = tmp_path / "disk.raw"
    pattern = os.urandom(MiB)
    with open(image, "wb") as f:
        f.write(pattern * 3)
    cache = tmp_path / "cache"
    proc = env.run("volume", "create", "--size", "1", "fromimage", "--image", str(image),
                   "--image-cache-dir", str(cache), "-f", "json")
    assert proc.returncode == 0, proc.stderr
    vol = json.loads(proc.stdout)
    assert vol["status"] == "available" and vol["size"] == 1
    bars = [ln for ln in proc.stderr.splitlines() if "[" in ln and "]" in ln]
    assert bars and bars[-1].rstrip().endswith("100%"), proc.stderr
    cached = json.loads(env.ok("image-cache", "list", "--cache-dir", str(cache), "-f",
                               "json"))
    assert [c["state"] for c in cached] == ["cached"]
    quiet = env.run("volume", "create", "--size", "1", "again", "--image", str(image),
                    "--no-progress", "-f", "value", "-c", "status")
    assert quiet.returncode == 0 and quiet.stdout == "available\n" and quiet.stderr == ""
    conn = env.json("volume", "attach", "fromimage")
    try:
        assert pread(conn["path"], 0, 3 * MiB) == pattern * 3
        assert pread(conn["path"], 3 * MiB, MiB) == bytes(MiB)
    finally:
        env.ok("volume", "detach", "fromimage")
    env.ok("volume", "delete", "fromimage", "again")
