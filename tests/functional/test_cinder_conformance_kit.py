"""``volumelib-conformance --config vendor.yaml`` with a Cinder driver path, as a
vendor's CI runs it (``docs/conformance-kit.md`` walks through this example): Cinder's
own RBD driver on the session's Ceph cluster, reported per capability; and the same
driver with the adapter's workarounds off, where the kit reports the clone leak."""

from __future__ import annotations

from typing import Any

import yaml

from tests.functional.test_conformance_kit import junit_cases, kit, verdicts

pytest_plugins = ["tests.functional.ceph_fixtures", "tests.functional.cinder_fixtures"]


def _config(tmp_path: Any, backend: dict[str, Any]) -> str:
    config = tmp_path / "vendor.yaml"
    config.write_text(yaml.safe_dump({"persistence": ["memory"], "backends": [backend]}))
    return str(config)


def test_cinder_rbd_driver_through_the_kit(cinder_rbd_config: dict[str, Any],
                                           tmp_path: Any) -> None:
    # use_cinder_driver: RBD is the one Cinder path volumelib also serves natively.
    config = _config(tmp_path, {"volume_backend_name": "acme-ceph",
                                "use_cinder_driver": True, **cinder_rbd_config})
    junit, report = str(tmp_path / "junit.xml"), str(tmp_path / "report.txt")
    proc = kit("--config", config, "--junit-xml", junit, "--report", report)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    text = open(report).read()
    got = verdicts(text, "== acme-ceph (driver cinder.volume.drivers.rbd.RBDDriver) on "
                         "memory: PASSED")
    for area in ("volumes", "snapshots", "sizes", "connections", "groups", "gc"):
        assert got[area] == "passed", (area, got)
    for cap in ("clone", "revert_to_snapshot", "local_attach", "online_extend"):
        assert got[f"capability {cap}"] == "passed", (cap, got)
    # Cinder's RBD driver has no group interface: not declared, the fallback is used.
    assert "capability consistent_group_snapshot" not in got
    assert "declared capabilities: clone, local_attach, multiattach, online_extend, " \
           "revert_to_snapshot, thin" in text
    cases = junit_cases(junit)
    assert cases[("acme-ceph-memory", "acme-ceph-memory.LocalAttachTests",
                  "test_attach_detach")] == "passed"


def test_the_kit_reports_the_clone_leak_without_the_workaround(
        cinder_rbd_config: dict[str, Any], tmp_path: Any) -> None:
    config = _config(tmp_path, {"volume_backend_name": "bare-ceph",
                                "use_cinder_driver": True, "cinder_workarounds": False,
                                **cinder_rbd_config})
    report = str(tmp_path / "report.txt")
    try:
        proc = kit("--config", config, "--report", report, "-k", "test_clone_keeps_data")
        assert proc.returncode == 1
        text = open(report).read()
        assert "FAILED" in text and ".deleted" in text  # the leaked image, named
        assert "holds objects no record knows of" in text
    finally:
        import volumelib
        volumelib.setup()
        backend = volumelib.Backend("bare-ceph-cleanup", **cinder_rbd_config)
        backend.driver.gc(lambda kind, object_id: False)
        backend.close()
