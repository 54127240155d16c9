"""The CLI with a cinderlib-shaped YAML file naming Cinder's RBD driver, on a real
single-node Ceph cluster (``tests/functional/ceph_fixtures.py``) and a SQLite file."""

from __future__ import annotations

import json

import yaml

from tests.functional.test_cli_support import one_error_line, run_cli

pytest_plugins = ["tests.functional.ceph_fixtures"]


def test_cinderlib_yaml_on_ceph(rbd_backend_config, tmp_path):
    backend = {"volume_backend_name": "ceph",
               "volume_driver": "cinder.volume.drivers.rbd.RBDDriver",
               "rbd_pool": rbd_backend_config["rbd_pool"],
               "rbd_user": rbd_backend_config["rbd_user"],
               "rbd_ceph_conf": rbd_backend_config["rbd_ceph_conf"],
               "rbd_keyring_conf": rbd_backend_config["rbd_keyring"],  # Cinder's name
               "use_multipath_for_image_xfer": True}  # means nothing here: dropped
    config = tmp_path / "cinderlib.yaml"
    config.write_text(yaml.safe_dump({
        "logs": False, "venv_sudo": False, "size_precision": 0,
        "persistence_config": {"storage": "db",
                               "connection": f"sqlite:///{tmp_path / 'cl.sqlite'}"},
        "backends": [backend]}))

    def js(*args: str):
        proc = run_cli("--config", str(config), *args, "-f", "json")
        assert proc.returncode == 0, (args, proc.stderr)
        return json.loads(proc.stdout)

    vol = js("volume", "create", "--size", "1", "on-ceph")
    assert vol["backend_name"] == "ceph" and vol["status"] == "available"
    snap = js("snapshot", "create", "--volume", "on-ceph", "s")
    clone = js("volume", "clone", "on-ceph", "ceph-copy", "--size", "2")
    assert clone["size"] == 2
    assert js("volume", "extend", "on-ceph", "--size", "3")["size"] == 3
    stats = js("backend", "stats")
    assert stats["storage_protocol"] == "ceph" and stats["total_volumes"] >= 2
    refused = run_cli("--config", str(config), "volume", "delete", "on-ceph")
    assert refused.returncode == 5 and "snapshot" in one_error_line(refused)
    run_cli("--config", str(config), "snapshot", "delete", snap["id"])
    proc = run_cli("--config", str(config), "volume", "delete", "on-ceph", "ceph-copy")
    assert proc.returncode == 0, proc.stderr
    assert js("volume", "list") == []
