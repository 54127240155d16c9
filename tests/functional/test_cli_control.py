"""``volumelib pool ...`` and ``type ...`` (the control plane) in subprocesses, on a
SQLite file, with file-driver pools on the reflink XFS and on ext4; volumes placed on
them by ``volume create`` when the configuration defines no backend."""

from __future__ import annotations

import json
import os
import textwrap

from tests.functional.test_cli_support import one_error_line, run_cli

SECRET_DRIVER = """\
    from volumelib.drivers.fake import FakeDriver
    from volumelib.drivers.options import Option


    class SecretFake(FakeDriver):
        options = FakeDriver.options + (
            Option("fake_password", "str", None, "A password.", secret=True),)
    """


def test_pools_types_and_placement(xfs_dir, ext4_dir, tmp_path):
    db = tmp_path / "cp.sqlite"
    config = tmp_path / "cp.yaml"
    config.write_text(f"persistence_config:\n  storage: db\n  connection: sqlite:///{db}\n")
    (tmp_path / "secret_driver.py").write_text(textwrap.dedent(SECRET_DRIVER))
    env = {"VOLUMELIB_CONFIG": str(config), "PYTHONPATH": str(tmp_path)}

    def ok(*args: str) -> str:
        proc = run_cli(*args, env=env)
        assert proc.returncode == 0, (args, proc.stderr)
        return proc.stdout

    def js(*args: str):
        return json.loads(ok(*args, "-f", "json"))

    xfs = js("pool", "add", "xfs", "--driver", "file", "--option",
             f"file_root={xfs_dir}/root", "--description", "reflink")
    assert "reflink" in xfs["capabilities"] and xfs["driver_config"] == {
        "file_root": f"{xfs_dir}/root"}
    ext4 = js("pool", "add", "ext4", "--driver", "file", "--option",
              f"file_root={ext4_dir}/root", "--weight", "5")
    assert "reflink" not in ext4["capabilities"] and ext4["weight"] == 5.0
    assert [p["name"] for p in js("pool", "list")] == ["ext4", "xfs"]
    assert js("pool", "show", "xfs")["description"] == "reflink"

    # A driver's secret option is stored but never shown.
    secret = js("pool", "add", "secretive", "--driver", "secret_driver.SecretFake",
                "--option", "fake_password=hunter2", "--disabled")
    assert secret["driver_config"] == {"fake_password": "***"} and secret["enabled"] is False
    assert "hunter2" not in ok("pool", "list", "--long") + ok("pool", "show", "secretive")

    cow = js("type", "create", "cow", "--property", "reflink=<is> True",
             "--qos", "total_iops_sec=500", "--description", "instant clones")
    assert cow["extra_specs"] == {"reflink": "<is> True"}
    assert cow["qos_specs"] == {"total_iops_sec": "500"}
    assert [t["name"] for t in js("type", "list")] == ["cow"]
    assert js("type", "show", cow["id"])["name"] == "cow"

    # No backend in the configuration: volume create places on the pools.
    heavy = js("volume", "create", "--size", "1", "heavy")
    assert heavy["backend_name"] == "ext4"  # the heaviest pool with room
    cloneable = js("volume", "create", "--size", "1", "cloneable", "--type", "cow")
    assert cloneable["backend_name"] == "xfs" and cloneable["volume_type"] == {
        "reflink": "<is> True"}
    js("pool", "set", "ext4", "--weight", "0")
    assert js("volume", "create", "--size", "1", "drained")["backend_name"] == "xfs"
    # A volume on a pool is found and operated on without any configured backend.
    assert js("volume", "clone", "cloneable", "copy")["backend_name"] == "xfs"
    assert js("--backend", "ext4", "volume", "list") == [
        {k: heavy[k] for k in ("id", "name", "size", "status", "backend_name")}]
    assert js("backend", "stats", "xfs")["total_volumes"] == 3
    assert {(b["name"], b["source"]) for b in js("backend", "list")} == {
        ("xfs", "pool"), ("ext4", "pool"), ("secretive", "pool")}

    # Bad requests: one line, the documented code, nothing stored.
    before = (ok("pool", "list", "--long"), ok("type", "list", "--long"),
              ok("volume", "list", "--long"))
    for args, code, needle in [
        (("pool", "add", "xfs", "--driver", "file", "--option", "file_root=/x"), 5, "xfs"),
        (("pool", "add", "bad", "--driver", "nosuchdriver"), 1, "nosuchdriver"),
        (("pool", "add", "bad", "--driver", "file", "--option", "frobnicate=1"), 2,
         "frobnicate"),
        (("pool", "add", "bad", "--driver", "file", "--weight", "-1"), 2, "-1"),
        (("pool", "show", "nope"), 3, "nope"),
        (("pool", "set", "nope", "--weight", "1"), 3, "nope"),
        (("pool", "set", "xfs"), 2, "--weight"),
        (("type", "create", "cow"), 5, "cow"),
        (("type", "create", "t2", "--property", "reflink=<is> maybe"), 2, "maybe"),
        (("type", "create", "t3", "--pool", "nope"), 3, "nope"),
        (("type", "create", "t4", "--pool", "ext4", "--property", "reflink=<is> True"), 2,
         "ext4"),
        (("type", "show", "nope"), 3, "nope"),
        (("type", "delete", "cow", "nope"), 3, "nope"),
        (("volume", "create", "--size", "1", "--type", "nope"), 3, "nope"),
        (("--backend", "nope", "volume", "list"), 3, "nope"),
    ]:
        proc = run_cli(*args, env=env)
        line = one_error_line(proc)
        assert proc.returncode == code and needle in line, (args, proc.returncode, line)
    assert (ok("pool", "list", "--long"), ok("type", "list", "--long"),
            ok("volume", "list", "--long")) == before

    # Clean up through the CLI: volumes, type, pools.
    ok("volume", "delete", "heavy", "cloneable", "copy", "drained")
    ok("type", "delete", "cow")
    assert js("type", "list") == []
    for name in ("xfs", "ext4", "secretive"):
        ok("pool", "remove", name)
    assert js("pool", "list") == []
    assert os.listdir(os.path.join(xfs_dir, "root", "volumes")) == []
