"""``volumelib volume manage|unmanage|manageable-list|migrate|retype`` and
``pool drain`` in subprocesses, on a SQLite file and two file backends (a reflink XFS
and ext4), with real loop-device copies."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.functional.test_cli_support import CliEnv, make_env, one_error_line, write_config
from tests.helpers import pread, pwrite, requires_root

MiB = 1024 ** 2
GiB = 1024 ** 3


@pytest.fixture
def env(xfs_dir: str, ext4_dir: str, tmp_path: Any) -> Iterator[CliEnv]:
    requires_root()
    for made in make_env(xfs_dir, tmp_path):
        write_config(made.config, made.db, [
            {"volume_backend_name": "local", "volume_driver": "file",
             "file_root": made.file_root},
            {"volume_backend_name": "ext4", "volume_driver": "file",
             "file_root": os.path.join(ext4_dir, "root")}])
        made.ext4_root = os.path.join(ext4_dir, "root")  # type: ignore[attr-defined]
        yield made


def test_manage_migrate_retype_unmanage(env: CliEnv) -> None:
    folder = os.path.join(env.file_root, "import")
    os.makedirs(folder)
    with open(os.path.join(folder, "legacy.raw"), "wb") as f:
        f.write(b"made elsewhere" * 1000)
        f.truncate(GiB)
    listed = env.json("--backend", "local", "volume", "manageable-list")
    assert listed == [{"reference": {"source-name": "legacy.raw"}, "size": 1,
                       "safe_to_manage": True, "reason_not_safe": None, "cinder_id": None,
                       "extra_info": listed[0]["extra_info"]}]
    vol = env.json("--backend", "local", "volume", "manage", "legacy.raw", "--name", "legacy",
                   "--property", "from=elsewhere")
    assert (vol["name"], vol["size"], vol["status"], vol["metadata"]) == \
        ("legacy", 1, "available", {"from": "elsewhere"})

    proc = env.run("volume", "migrate", "legacy", "ext4", "-f", "json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert (result["method"], result["target"], result["verified"]) == ("host", "ext4", True)
    assert "copy" in proc.stderr and "100%" in proc.stderr  # the progress bar
    shown = env.json("volume", "show", "legacy")
    assert (shown["id"], shown["backend_name"]) == (vol["id"], "ext4")
    ext4_root = env.ext4_root  # type: ignore[attr-defined]
    path = os.path.join(ext4_root, "volumes", f"volume-{vol['id']}")
    assert pread(path, 0, 14) == b"made elsewhere"

    env.ok("type", "create", "cow", "--property", "reflink=<is> True")
    refused = env.run("volume", "retype", "legacy", "cow")
    assert refused.returncode == 2 and "migration_policy" in one_error_line(refused)
    retyped = env.json("volume", "retype", "legacy", "cow", "--migration-policy", "on-demand",
                       "--no-progress")
    assert retyped["backend_name"] == "local" and retyped["volume_type"] == \
        {"reflink": "<is> True"}

    gone = env.json("volume", "unmanage", "legacy")
    assert gone["reference"] == {"source-name": f"volume-{vol['id']}"}
    assert env.json("volume", "list") == []
    kept = os.path.join(folder, f"volume-{vol['id']}")
    assert pread(kept, 0, 14) == b"made elsewhere"


def test_bad_input_exit_codes_and_nothing_changed(env: CliEnv) -> None:
    vol = env.json("--backend", "local", "volume", "create", "--size", "1", "v")
    conn = env.json("volume", "attach", "v")
    pwrite(conn["path"], 0, b"attached")
    before = env.state()
    cases = [
        (("--backend", "local", "volume", "manage", "missing.raw"), 3, "missing.raw"),
        (("--backend", "local", "volume", "manage", "x", "--source-id"), 2, "source-id"),
        (("volume", "migrate", "v", "nowhere"), 3, "nowhere"),
        (("volume", "migrate", "v", "ext4"), 5, "in use"),
        (("volume", "unmanage", "v"), 5, "in use"),
        (("volume", "retype", "v", "no-such-type"), 3, "no-such-type"),
        (("pool", "drain", "no-such-pool"), 3, "no-such-pool"),
    ]
    for args, code, text in cases:
        proc = env.run(*args)
        assert proc.returncode == code, (args, proc.returncode, proc.stderr)
        assert text in one_error_line(proc), (args, proc.stderr)
        assert env.state() == before, args
    env.ok("volume", "detach", "v")
    assert env.json("volume", "show", vol["id"])["status"] == "available"


def test_pool_drain(env: CliEnv, xfs_dir: str) -> None:
    for name, weight in (("old", "1"), ("new", "1")):
        env.ok("pool", "add", name, "--driver", "file", "--weight", weight, "--option",
               f"file_root={os.path.join(xfs_dir, 'pools', name)}")
    made = [env.json("--backend", "old", "volume", "create", "--size", "1", f"d{i}")
            for i in range(2)]
    proc = env.run("pool", "drain", "old", "-f", "json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert len(report["moved"]) == 2 and report["failed"] == {} and report["remaining"] == 0
    assert all(v["backend_name"] == "new" for v in
               (env.json("volume", "show", m["id"]) for m in made))
    assert env.json("pool", "show", "old")["weight"] == 0
