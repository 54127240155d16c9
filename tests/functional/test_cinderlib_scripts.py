"""cinderlib scripts (``tests/cinderlib_scripts/``) run unmodified on volumelib.

Each script is run as its own process, as a cinderlib user runs it, against the file
driver on a real reflink XFS (``xfs_dir``) with the ``db`` persistence on a real SQLite
file; attaching goes through real loop devices (root). Every script asserts its own
flow and prints a JSON line; the tests check that line and what is left on disk.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
from typing import Any

import pytest
import yaml

from tests.helpers import requires_root, requires_tool

SCRIPTS = pathlib.Path(__file__).resolve().parents[1] / "cinderlib_scripts"
ROOT = SCRIPTS.parents[1]


def run_script(name: str, *args: str, timeout: int = 300) -> dict[str, Any]:
    """Run a script in a fresh interpreter; return its last JSON line."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.run([sys.executable, str(SCRIPTS / name), *args], env=env,
                          capture_output=True, text=True, timeout=timeout, cwd=str(ROOT))
    assert proc.returncode == 0, f"{name} {' '.join(args)} failed:\n{proc.stderr[-4000:]}"
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert lines, f"{name} printed no result:\n{proc.stdout}\n{proc.stderr[-2000:]}"
    result = json.loads(lines[-1])
    assert result["ok"] is True
    return result


def loop_devices_under(directory: str) -> list[str]:
    out = subprocess.run(["losetup", "-a"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if directory in line]


@pytest.fixture
def file_config(xfs_dir: str) -> str:
    """A cinderlib YAML test config: the file driver on XFS, db persistence on SQLite."""
    requires_root()
    requires_tool("losetup", "blockdev", "lsblk", "dd")
    config = {
        "logs": False,
        "persistence_config": {"storage": "db",
                               "connection": f"sqlite:///{xfs_dir}/cinderlib.sqlite"},
        "backends": [{"volume_backend_name": "xfs", "volume_driver": "file",
                      "file_root": os.path.join(xfs_dir, "root")}],
    }
    path = os.path.join(xfs_dir, "cinderlib.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(config, f)
    return path


def _volume_files(config_path: str) -> list[str]:
    with open(config_path) as f:
        root = yaml.safe_load(f)["backends"][0]["file_root"]
    found = []
    for dirpath, _, files in os.walk(root):
        found.extend(os.path.join(dirpath, n) for n in files)
    return found


def test_lifecycle(file_config: str) -> None:
    out = run_script("lifecycle.py", file_config)
    assert out["backend"] == "xfs"
    assert {"FileDriver", "FakeDriver"} <= set(out["drivers"])
    assert _volume_files(file_config) == []  # every volume and snapshot file is gone


def test_attach_write_with_dd_snapshot_clone(file_config: str) -> None:
    out = run_script("attach_dd.py", file_config)
    assert out["path"].startswith("/dev/loop")
    assert loop_devices_under(os.path.dirname(file_config)) == []
    assert _volume_files(file_config) == []


def test_extend_while_attached(file_config: str) -> None:
    out = run_script("extend_attached.py", file_config)
    assert out["size"] == 2 * 1024 ** 3
    assert loop_devices_under(os.path.dirname(file_config)) == []


def test_remote_connect_through_the_key_value_store(file_config: str) -> None:
    assert run_script("remote_connect.py", file_config, "node-register", "node-7")
    connected = run_script("remote_connect.py", file_config, "controller-connect", "node-7")
    attached = run_script("remote_connect.py", file_config, "node-attach", "node-7")
    assert attached["path"].startswith("/dev/loop")
    checked = run_script("remote_connect.py", file_config, "controller-check", "node-7")
    assert checked["volume"] == connected["volume"]
    assert loop_devices_under(os.path.dirname(file_config)) == []
    assert _volume_files(file_config) == []


def test_db_persistence_survives_the_process(file_config: str) -> None:
    created = run_script("persistence_reload.py", file_config, "db-create")
    reopened = run_script("persistence_reload.py", file_config, "db-reopen")
    assert (reopened["volume"], reopened["snapshot"]) == (created["volume"],
                                                          created["snapshot"])
    assert _volume_files(file_config) == []


def test_memory_persistence_dumps_and_load(file_config: str, tmp_path) -> None:
    dump = str(tmp_path / "backend.json")
    dumped = run_script("persistence_reload.py", file_config, "mem-dump", dump)
    with open(dump) as f:
        data = json.load(f)
    assert data["class"] == "Backend" and data["backend"] == {"volume_backend_name": "xfs"}
    assert [v["ovo"]["versioned_object.data"]["id"] for v in data["volumes"]] == \
        [dumped["volume"]]
    loaded = run_script("persistence_reload.py", file_config, "mem-load", dump)
    assert loaded["volume"] == dumped["volume"]
    assert _volume_files(file_config) == []


def test_scripts_run_from_a_converted_cinder_conf(file_config: str, xfs_dir: str) -> None:
    """cinder.conf -> cinder_to_yaml -> the same script, unmodified."""
    from volumelib.compat.cinderlib.cmd import cinder_to_yaml

    conf = os.path.join(xfs_dir, "cinder.conf")
    with open(conf, "w") as f:
        f.write("[DEFAULT]\nenabled_backends = xfs\ndebug = True\n\n"
                f"[xfs]\nvolume_driver = file\nfile_root = {xfs_dir}/conf-root\n"
                "loop_direct_io = true\n")
    out_yaml = os.path.join(xfs_dir, "converted.yaml")
    converted = cinder_to_yaml.convert(conf, out_yaml)
    assert converted == {"backends": [{"volume_backend_name": "xfs", "volume_driver": "file",
                                       "file_root": f"{xfs_dir}/conf-root",
                                       "loop_direct_io": True}]}
    with open(out_yaml) as f:
        config = yaml.safe_load(f)
    config["persistence_config"] = {"storage": "memory_db"}
    with open(out_yaml, "w") as f:
        yaml.safe_dump(config, f)
    assert run_script("lifecycle.py", out_yaml)["backend"] == "xfs"


# -- the same scripts against RBD on the single-node Ceph cluster ------------------------------

from tests.functional.ceph_fixtures import ceph_cluster, rbd_backend_config  # noqa: E402,F401


@pytest.fixture
def rbd_config(rbd_backend_config: dict[str, Any], tmp_path) -> str:
    """A cinderlib YAML config naming Cinder's RBD driver with Cinder's option names."""
    cfg = dict(rbd_backend_config)
    backend = {"volume_backend_name": "ceph",
               "volume_driver": "cinder.volume.drivers.rbd.RBDDriver",
               "rbd_pool": cfg["rbd_pool"], "rbd_user": cfg["rbd_user"],
               "rbd_ceph_conf": cfg["rbd_ceph_conf"],
               "rbd_keyring_conf": cfg["rbd_keyring"]}
    config = {"logs": False,
              "persistence_config": {"storage": "db",
                                     "connection": f"sqlite:///{tmp_path}/cinderlib.sqlite"},
              "backends": [backend]}
    path = str(tmp_path / "cinderlib-rbd.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(config, f)
    return path


def test_rbd_lifecycle(rbd_config: str) -> None:
    out = run_script("lifecycle.py", rbd_config)
    assert out["backend"] == "ceph" and "RBDDriver" in out["drivers"]


def test_rbd_db_persistence_survives_the_process(rbd_config: str) -> None:
    created = run_script("persistence_reload.py", rbd_config, "db-create")
    reopened = run_script("persistence_reload.py", rbd_config, "db-reopen")
    assert reopened["volume"] == created["volume"]


def test_rbd_attach_write_snapshot_clone(rbd_config: str) -> None:
    """Without krbd, os-brick attaches RBD in userspace: ``conn.path`` is a file-like
    handle and the script writes through it instead of running dd."""
    out = run_script("attach_dd.py", rbd_config)
    assert out["path"] == "RBDVolumeIOWrapper"


def test_rbd_extend_while_attached(rbd_config: str) -> None:
    assert run_script("extend_attached.py", rbd_config)["size"] == 2 * 1024 ** 3


def test_rbd_remote_connect_through_the_key_value_store(rbd_config: str) -> None:
    run_script("remote_connect.py", rbd_config, "node-register", "node-r")
    connected = run_script("remote_connect.py", rbd_config, "controller-connect", "node-r")
    run_script("remote_connect.py", rbd_config, "node-attach", "node-r")
    checked = run_script("remote_connect.py", rbd_config, "controller-check", "node-r")
    assert checked["volume"] == connected["volume"]


# -- the same scripts with Cinder's own drivers (volumelib.drivers.cinder) ---------------------

from tests.functional.cinder_fixtures import nfs_share, requires_cinder  # noqa: E402,F401


@pytest.fixture
def cinder_rbd_yaml(rbd_config: str) -> str:
    """The RBD config above, switched to Cinder's own RBD driver (``use_cinder_driver``,
    the documented switch), everything else unchanged."""
    requires_cinder()
    with open(rbd_config) as f:
        config = yaml.safe_load(f)
    config["backends"][0]["use_cinder_driver"] = True
    path = rbd_config.replace(".yaml", "-cinder.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(config, f)
    return path


def test_cinder_rbd_lifecycle(cinder_rbd_yaml: str) -> None:
    out = run_script("lifecycle.py", cinder_rbd_yaml)
    assert out["backend"] == "ceph"


def test_cinder_rbd_attach_write_snapshot_clone(cinder_rbd_yaml: str) -> None:
    assert run_script("attach_dd.py", cinder_rbd_yaml)["path"] == "RBDVolumeIOWrapper"


def test_cinder_rbd_db_persistence_and_remote_connect(cinder_rbd_yaml: str) -> None:
    created = run_script("persistence_reload.py", cinder_rbd_yaml, "db-create")
    reopened = run_script("persistence_reload.py", cinder_rbd_yaml, "db-reopen")
    assert reopened["volume"] == created["volume"]
    run_script("remote_connect.py", cinder_rbd_yaml, "node-register", "node-c")
    connected = run_script("remote_connect.py", cinder_rbd_yaml, "controller-connect",
                           "node-c")
    run_script("remote_connect.py", cinder_rbd_yaml, "node-attach", "node-c")
    checked = run_script("remote_connect.py", cinder_rbd_yaml, "controller-check", "node-c")
    assert checked["volume"] == connected["volume"]


def test_cinder_nfs_lifecycle(nfs_share: dict[str, Any], tmp_path) -> None:
    """A cinderlib YAML naming Cinder's NFS driver (no native equivalent) runs unchanged
    (the share is a bind-mounted local directory: see cinder_fixtures)."""
    config = {"logs": False,
              "persistence_config": {"storage": "db",
                                     "connection": f"sqlite:///{tmp_path}/cl.sqlite"},
              "backends": [dict(nfs_share["config"], volume_backend_name="nfs")]}
    path = str(tmp_path / "cinderlib-nfs.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(config, f)
    assert run_script("lifecycle.py", path)["backend"] == "nfs"
    assert os.listdir(nfs_share["export"]) == []
