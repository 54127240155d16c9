"""The Cinder adapter's loading, configuration, stats and capability mapping, with the
real Cinder package (the extra ``volumelib[cinder]``) and no storage.

Storage-backed runs are in ``tests/functional/test_cinder_rbd_conformance.py`` (a real
Ceph cluster) and ``test_cinder_nfs_conformance.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

import volumelib
from volumelib import exceptions as exc
from volumelib.drivers.types import Capability


def _requires_cinder() -> None:
    try:
        import cinder.volume.driver  # noqa: F401
    except ImportError as e:
        pytest.skip(f"needs OpenStack Cinder (pip install 'volumelib[cinder]'): {e}")


def _run(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                         text=True, timeout=120, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_volumelib_does_not_import_cinder() -> None:
    result = _run("""
        import json, sys
        import volumelib, volumelib.drivers, volumelib.drivers.cinder
        import volumelib.compat.cinderlib, volumelib.testing.drivers
        print(json.dumps(sorted(m for m in sys.modules
                                if m == "cinder" or m.startswith("cinder."))))
    """)
    assert result == []


def test_without_the_extra_a_cinder_path_names_it() -> None:
    """Cinder made unimportable in a child process (``sys.modules["cinder"] = None`` is
    how Python spells "not installed"): the error says which extra to install and
    nothing is stored."""
    result = _run("""
        import json, sys
        sys.modules["cinder"] = None
        import volumelib
        volumelib.setup()
        try:
            volumelib.Backend("ceph", "cinder.volume.drivers.rbd.RBDDriver", rbd_pool="x")
        except volumelib.DriverNotFound as e:
            print(json.dumps({"error": str(e), "volumes": len(volumelib.Backend.__mro__)}))
    """)
    assert "volumelib[cinder]" in result["error"]
    assert "cinder.volume.drivers.rbd.RBDDriver" in result["error"]


@pytest.mark.parametrize("path, why", [
    ("cinder.volume.drivers.nope.NopeDriver", "not a Cinder volume driver"),
    ("cinder.volume.drivers.rbd.NopeDriver", "not a Cinder volume driver"),
    ("cinder.exception.CinderException", "not a Cinder volume driver"),
])
def test_unknown_cinder_path_refused(path: str, why: str) -> None:
    _requires_cinder()
    volumelib.setup()
    with pytest.raises(exc.DriverNotFound) as info:
        volumelib.Backend("bad", path)
    assert path in str(info.value) and why in str(info.value)


def test_deprecated_cinder_path_goes_to_the_new_class() -> None:
    _requires_cinder()
    from volumelib.drivers import load_driver_class
    cls = load_driver_class("cinder.volume.drivers.dell_emc.vmax.iscsi.VMAXISCSIDriver")
    assert cls.cinder_path == \
        "cinder.volume.drivers.dell_emc.powermax.iscsi.PowerMaxISCSIDriver"
    assert cls.cinder_class.__name__ == "PowerMaxISCSIDriver"


def test_adapter_classes_are_cached_and_named_after_cinder() -> None:
    _requires_cinder()
    from volumelib.drivers import load_driver_class
    from volumelib.drivers.base import VolumeDriver
    cls = load_driver_class("cinder.volume.drivers.rbd.RBDDriver")
    assert cls is load_driver_class("cinder.volume.drivers.rbd.RBDDriver")
    assert issubclass(cls, VolumeDriver) and cls.name == "cinder.volume.drivers.rbd.RBDDriver"
    described = cls.describe()
    names = {o["name"] for o in described["options"]}
    assert {"rbd_pool", "rbd_user", "rbd_ceph_conf", "rbd_keyring_conf"} <= names
    assert described["storage_protocol"] == "ceph"


class TestConfiguration:
    def _build(self, **options):
        _requires_cinder()
        from cinder.volume.drivers.rbd import RBDDriver

        from volumelib.drivers.cinder import config, quirks, runtime
        runtime.ensure()
        return config.build(RBDDriver, "cfg-test", options,
                            driver="cinder.volume.drivers.rbd.RBDDriver",
                            attribute_options=quirks.attribute_options(RBDDriver))

    def test_values_are_typed_and_private(self) -> None:
        from oslo_config import cfg
        conf = self._build(rbd_pool="p", rbd_max_clone_depth="7",
                           rbd_flatten_volume_from_snapshot="true",
                           rbd_keyring_conf="/etc/ceph/k")
        assert (conf.rbd_pool, conf.rbd_max_clone_depth,
                conf.rbd_flatten_volume_from_snapshot) == ("p", 7, True)
        assert conf.rbd_keyring_conf == "/etc/ceph/k"
        assert conf.volume_backend_name == "cfg-test"
        assert conf.safe_get("no_such_option") is None
        # Nothing reached the process's global configuration.
        assert "cfg-test" not in cfg.CONF
        assert cfg.CONF.backend_defaults.rbd_pool == "rbd"

    def test_unknown_option_lists_known_ones(self) -> None:
        with pytest.raises(exc.UnknownOption) as info:
            self._build(rbd_poool="p")
        message = str(info.value)
        assert "rbd_poool" in message and "rbd_pool" in message and "rbd_user" in message

    @pytest.mark.parametrize("name, value", [("rbd_max_clone_depth", "deep"),
                                             ("rbd_flatten_volume_from_snapshot", "maybe"),
                                             ("reserved_percentage", 500)])
    def test_bad_value_names_option(self, name: str, value: object) -> None:
        with pytest.raises(exc.InvalidConfig) as info:
            self._build(**{name: value})
        assert name in str(info.value) and str(value) in str(info.value)

    def test_secrets_are_redacted(self) -> None:
        conf = self._build(chap_password="hunter2")
        assert conf.is_secret("chap_password")  # oslo.config marks it secret=True
        assert conf.redacted({"chap_password": "hunter2", "rbd_pool": "p"}) == \
            {"chap_password": "***", "rbd_pool": "p"}


STATS_TOP = {"vendor_name": "Open Source", "driver_version": "1.3.0",
             "storage_protocol": "ceph", "total_capacity_gb": 94.7, "free_capacity_gb": 90,
             "reserved_percentage": 0, "multiattach": True,
             "thin_provisioning_support": True, "max_over_subscription_ratio": "20.0",
             "backend_state": "up", "volume_backend_name": "x"}
STATS_POOLS = {"vendor_name": "Acme", "driver_version": "2", "storage_protocol": "iSCSI",
               "pools": [{"pool_name": "gold", "total_capacity_gb": "infinite",
                          "free_capacity_gb": "unknown", "provisioned_capacity_gb": 12,
                          "total_volumes": 3, "consistent_group_snapshot_enabled": True,
                          "online_extend_support": False},
                         {"pool_name": "silver", "total_capacity_gb": 10,
                          "free_capacity_gb": 5}]}


@pytest.mark.parametrize("raw, pools, first", [
    (STATS_TOP, ["b"], {"total_capacity_gb": 94.7, "free_capacity_gb": 90.0,
                        "thin_provisioning_support": True, "multiattach": True,
                        "max_over_subscription_ratio": 20.0, "total_volumes": 4,
                        "provisioned_capacity_gb": 6.0, "backend_state": "up"}),
    (STATS_POOLS, ["gold", "silver"], {"total_capacity_gb": "infinite",
                                       "free_capacity_gb": "unknown",
                                       "provisioned_capacity_gb": 12.0, "total_volumes": 3,
                                       "thin_provisioning_support": False}),
])
def test_stats_map_to_cinders_format(raw: dict, pools: list, first: dict) -> None:
    _requires_cinder()
    from volumelib.drivers.cinder import stats
    result = stats.to_backend_stats(raw, backend_name="b", vendor="v", version="0",
                                    protocol="p", volumes=4, provisioned_gb=6.0).to_dict()
    assert [p["pool_name"] for p in result["pools"]] == pools
    assert {k: result["pools"][0][k] for k in first} == first
    assert result["vendor_name"] == raw["vendor_name"]


def test_capabilities_from_class_and_stats() -> None:
    _requires_cinder()
    from cinder.volume.drivers.nfs import NfsDriver
    from cinder.volume.drivers.rbd import RBDDriver

    from volumelib.drivers.cinder import stats
    rbd = stats.capabilities(RBDDriver, STATS_TOP, "ceph", is_root=True)
    assert rbd == {Capability.CLONE, Capability.REVERT_TO_SNAPSHOT, Capability.THIN,
                   Capability.ONLINE_EXTEND, Capability.MULTIATTACH,
                   Capability.LOCAL_ATTACH}
    assert Capability.LOCAL_ATTACH not in stats.capabilities(RBDDriver, STATS_TOP, "ceph",
                                                             is_root=False)
    # A driver without the group interface never declares consistent group snapshots,
    # whatever it reports; online_extend_support False is honoured.
    nfs = stats.capabilities(NfsDriver, STATS_POOLS, "nfs", is_root=True)
    assert Capability.CONSISTENT_GROUP_SNAPSHOT not in nfs
    assert Capability.ONLINE_EXTEND not in nfs and Capability.LOCAL_ATTACH not in nfs


def test_list_supported_drivers_has_cinders_drivers_in_both_versions() -> None:
    _requires_cinder()
    import volumelib.compat.cinderlib as cinderlib
    v1 = cinderlib.list_supported_drivers()
    v2 = cinderlib.list_supported_drivers(output_version=2)
    nfs1, nfs2 = v1["NfsDriver"], v2["NfsDriver"]
    assert nfs1["class_fqn"] == "cinder.volume.drivers.nfs.NfsDriver" and nfs1["supported"]
    opts1 = {o["name"]: o for o in nfs1["driver_options"]}
    opts2 = {o["name"]: o for o in nfs2["driver_options"]}
    assert opts1["nfs_snapshot_support"]["default"] == "False"  # v1: strings
    assert opts2["nfs_snapshot_support"]["default"] is False    # v2: Python values
    assert opts2["nfs_shares_config"]["dest"] == "nfs_shares_config"
    # v2: type as cinderlib's version 2 gives it, the Python type of the values in
    # type_class and oslo.config's wording, as for volumelib's own drivers.
    assert opts2["nfs_snapshot_support"]["type"] == {
        "type_class": bool, "type_name": "boolean value", "choices": None}
    assert opts1["nfs_snapshot_support"]["type"] == "bool"
    assert opts2["nfs_shares_config"]["type"]["type_class"] is str
    rbd_opts = {o["name"]: o for o in
                v2["cinder.volume.drivers.rbd.RBDDriver"]["driver_options"]}
    assert rbd_opts["rbd_concurrent_flatten_operations"]["type"] == {
        "type_class": int, "type_name": "integer value", "choices": None, "min": 0,
        "max": None}
    assert rbd_opts["rbd_keyring_conf"]["type"]["type_class"] is str
    # Cinder's deprecations are its own, not volumelib's False.
    deprecated = [o for e in v2.values() for o in e["driver_options"]
                  if o["deprecated_for_removal"]]
    assert deprecated and all(isinstance(o["deprecated_reason"], (str, type(None)))
                              for o in deprecated)
    # Cinder's RBD driver is listed under its path (volumelib's own rbd keeps the name).
    rbd = v1["cinder.volume.drivers.rbd.RBDDriver"]
    assert rbd["class_name"] == "RBDDriver" and \
        "rbd_keyring_conf" in {o["name"] for o in rbd["driver_options"]}
    assert v1["RBDDriver"]["class_fqn"] == "volumelib.drivers.rbd.driver.RBDDriver"
    cinder_entries = [k for k, v in v1.items() if v["class_fqn"].startswith("cinder.")]
    assert len(cinder_entries) > 80  # every driver Cinder ships that imports here
    secret = [o for e in v2.values() for o in e["driver_options"] if o.get("secret")]
    assert secret and all(o["default"] is None for o in secret)
