"""The cinderlib compatibility layer's surface, on the ``fake`` driver.

cinderlib kept process-wide state (``Backend.backends``, ``global_initialization``),
so the ``cl`` fixture resets it, the store and the loggers it touches around each test.
"""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import textwrap

import pytest

import volumelib
import volumelib.compat.cinderlib as cinderlib
from volumelib import exceptions as exc
from volumelib.compat.cinderlib import drivers as compat_drivers
from volumelib.compat.cinderlib.cmd import cinder_to_yaml

FAKE = {"volume_backend_name": "fake1", "volume_driver": "fake"}


def _reset() -> None:
    for backend in list(cinderlib.Backend.backends.values()):
        backend.close()
    cinderlib.Backend.backends.clear()
    cinderlib.Backend.global_initialization = False
    cinderlib.Backend.driver_defaults = {}
    volumelib.setup()


@pytest.fixture
def cl():
    levels = {n: logging.getLogger(n).level for n in ("volumelib", "cinderlib")}
    handlers = {n: list(logging.getLogger(n).handlers) for n in ("volumelib", "cinderlib")}
    _reset()
    yield cinderlib
    _reset()
    for name, level in levels.items():
        logger = logging.getLogger(name)
        logger.setLevel(level)
        logger.handlers[:] = handlers[name]


# -- setup -----------------------------------------------------------------------------

def test_setup_keywords_and_driver_defaults(cl, tmp_path):
    cl.setup(persistence_config={"storage": "memory_db"}, root_helper="",
             user_id="alice", host="node-a", file_locks_path=str(tmp_path),
             fail_on_missing_backend=False, suppress_requests_ssl_warnings=False,
             disable_logs=True, fake_capacity_gb=7, state_path="/var/lib/cinder")
    assert cl.Backend.global_initialization is True
    assert (cl.Backend.project_id, cl.Backend.user_id) == ("cinderlib", "alice")
    assert cl.Backend.root_helper == "" and cl.Backend.fail_on_missing_backend is False
    backend = cl.Backend(**FAKE)
    # fake_capacity_gb reached the driver; state_path (not a fake option) was dropped
    assert backend.stats()["pools"][0]["total_capacity_gb"] == 7
    vol = backend.create_volume(1, name="v")
    assert (vol.project_id, vol.user_id) == ("cinderlib", "alice")
    assert vol.host == "node-a@fake1#fake1"
    assert type(cl.Backend.persistence.store).__name__ == "MemoryDBPersistence"
    # an explicit option overrides the setup default
    other = cl.Backend(volume_backend_name="fake2", volume_driver="fake", fake_capacity_gb=9)
    assert other.stats()["pools"][0]["total_capacity_gb"] == 9


def test_setup_once_unless_reset_and_backend_sets_up_alone(cl):
    backend = cl.Backend(**FAKE)  # no setup(): memory, cinderlib defaults
    assert cl.Backend.global_initialization is True
    assert type(cl.Backend.persistence.store).__name__ == "MemoryPersistence"
    with pytest.raises(exc.InvalidState, match="global_initialization"):
        cl.setup(persistence_config={"storage": "memory_db"})
    assert type(cl.Backend.persistence.store).__name__ == "MemoryPersistence"
    cl.Backend.global_initialization = False
    cl.setup(persistence_config={"storage": "memory_db"})
    assert type(cl.Backend.persistence.store).__name__ == "MemoryDBPersistence"
    assert cl.Backend.backends["fake1"] is backend


def test_setup_refuses_what_volumelib_cannot_do(cl):
    with pytest.raises(exc.NotSupported, match="non_uuid_ids"):
        cl.setup(non_uuid_ids=True)
    with pytest.raises(exc.InvalidConfig, match="root_helper"):
        cl.setup(root_helper=["sudo"])
    with pytest.raises(exc.InvalidPersistence, match="nosuchstore"):
        cl.setup(persistence_config={"storage": "nosuchstore"})
    assert cl.Backend.global_initialization is False


@pytest.mark.parametrize("storage,cls", [("memory", "MemoryPersistence"),
                                         ("db", "DBPersistence"),
                                         ("memory_db", "MemoryDBPersistence")])
def test_persistence_names(cl, tmp_path, storage, cls):
    config = {"storage": storage}
    if storage == "db":
        config["connection"] = f"sqlite:///{tmp_path}/cl.sqlite"
    cl.setup(persistence_config=config)
    backend = cl.Backend(**FAKE)
    vol = backend.create_volume(1, name="kept")
    store = cl.Backend.persistence.store
    assert type(store).__name__ == cls
    assert [v.id for v in store.get_volumes(backend_name="fake1")] == [vol.id]
    if storage == "db":
        assert os.path.getsize(tmp_path / "cl.sqlite") > 0
        store.close()


def test_disable_logs_silences_only_our_loggers(cl):
    host_stream = io.StringIO()
    host = logging.getLogger("myapp.service")
    host_handler = logging.StreamHandler(host_stream)
    host.addHandler(host_handler)
    host.setLevel(logging.INFO)
    root_handlers = list(logging.getLogger().handlers)
    try:
        cl.setup(disable_logs=True)
        host.info("host application still logs")
        assert "host application still logs" in host_stream.getvalue()
        assert not logging.getLogger("volumelib.backend").isEnabledFor(logging.CRITICAL)
        assert not logging.getLogger("cinderlib.anything").isEnabledFor(logging.CRITICAL)
        assert not isinstance(logging.Logger.__dict__.get("disabled"), property)
        assert logging.getLogger().handlers == root_handlers

        ours_before = list(logging.getLogger("volumelib").handlers)
        cl.Backend.global_initialization = False
        cl.setup(disable_logs=False, debug=True)
        assert logging.getLogger("volumelib.backend").isEnabledFor(logging.DEBUG)
        assert len(logging.getLogger("volumelib").handlers) == len(ours_before) + 1
        assert logging.getLogger().handlers == root_handlers
        assert host.level == logging.INFO

        cl.Backend.global_initialization = False
        cl.setup(disable_logs=False)  # debug off again: our handler goes, level restored
        assert logging.getLogger("volumelib").handlers == ours_before
        assert logging.getLogger("volumelib.backend").isEnabledFor(logging.WARNING)
    finally:
        host.removeHandler(host_handler)


# -- Backend -----------------------------------------------------------------------------

def test_backend_registry_same_name_and_identity(cl):
    cl.setup()
    backend = cl.Backend(**FAKE)
    assert cl.Backend.backends == {"fake1": backend}
    assert backend.id == "fake1" and backend.initialized
    assert backend.config == {"volume_backend_name": "fake1"}
    assert cl.Backend(**FAKE) is backend  # same configuration: the same backend
    with pytest.raises(exc.AlreadyExists, match="fake_capacity_gb"):
        cl.Backend(volume_backend_name="fake1", volume_driver="fake", fake_capacity_gb=5)
    assert cl.Backend.backends == {"fake1": backend}
    with pytest.raises(exc.InvalidConfig):
        cl.Backend(volume_backend_name="", volume_driver="fake")


def test_stats_in_cinder_format_and_pools(cl):
    cl.setup()
    backend = cl.Backend(**FAKE)
    stats = backend.stats()
    for key in ("vendor_name", "volume_backend_name", "driver_version", "storage_protocol"):
        assert key in stats
    [pool] = stats["pools"]
    for key in ("pool_name", "total_capacity_gb", "free_capacity_gb",
                "provisioned_capacity_gb", "allocated_capacity_gb", "total_volumes",
                "thin_provisioning_support"):
        assert key in pool
    assert backend.pool_names == ("fake1",)
    backend.create_volume(3)
    assert backend.stats() == stats  # cached
    fresh = backend.stats(refresh=True)["pools"][0]
    assert fresh["allocated_capacity_gb"] == 3.0 and fresh["total_volumes"] == 1


def test_create_volume_arguments(cl):
    cl.setup()
    backend = cl.Backend(**FAKE)
    with pytest.raises(exc.PoolNotFound, match="nopool"):
        backend.create_volume(1, pool_name="nopool")
    with pytest.raises(exc.InvalidArgument, match="availability_zone"):
        backend.create_volume(1, availability_zone="az1")
    with pytest.raises(exc.NotSupported, match="qos_specs"):
        backend.create_volume(1, qos_specs={"total_iops_sec": "100"})
    with pytest.raises(exc.InvalidSize):
        backend.create_volume(0)
    assert backend.volumes == []
    vol = backend.create_volume(1, name="n", description="d", bootable=False,
                                pool_name="fake1", metadata={"k": "v"},
                                extra_specs={"multiattach": "<is> True"})
    assert vol.multiattach and vol.extra_specs == {"multiattach": "<is> True"}
    assert (vol.display_name, vol.display_description, vol.metadata) == ("n", "d", {"k": "v"})


def test_driver_mapping_and_option_policy(cl, caplog):
    cl.setup(disable_logs=False)
    # A Cinder path with no native equivalent runs Cinder's own driver (the extra
    # volumelib[cinder]); LVM's set-up then fails here, naming the driver and the cause
    # (no volume group), and no backend is registered.
    with pytest.raises(exc.BackendError,
                       match="cinder.volume.drivers.lvm.LVMVolumeDriver") as err:
        cl.Backend(volume_backend_name="lvm",
                   volume_driver="cinder.volume.drivers.lvm.LVMVolumeDriver",
                   volume_group="cinder-volumes", target_helper="fake")
    assert "cinder-volumes" in str(err.value)
    assert "lvm" not in cl.Backend.backends
    with pytest.raises(exc.UnknownOption, match="'volume_grup'.*volume_group"):
        cl.Backend(volume_backend_name="lvm",
                   volume_driver="cinder.volume.drivers.lvm.LVMVolumeDriver",
                   volume_grup="cinder-volumes")
    assert "lvm" not in cl.Backend.backends
    with pytest.raises(exc.DriverNotFound):
        cl.Backend(volume_backend_name="x")  # no volume_driver
    assert compat_drivers.resolve("cinder.volume.drivers.rbd.RBDDriver") == ("rbd", "rbd")
    assert compat_drivers.resolve("file") == ("file", "file")
    assert compat_drivers.resolve("volumelib.drivers.fake.FakeDriver")[0] == \
        "volumelib.drivers.fake.FakeDriver"
    with caplog.at_level(logging.DEBUG, logger="volumelib.compat.cinderlib.drivers"):
        backend = cl.Backend(volume_backend_name="f", volume_driver="fake",
                             target_helper="lioadm", target_protocol="iscsi")
    assert "target_helper" in caplog.text and "dropped" in caplog.text
    assert backend.stats()["volume_backend_name"] == "f"
    with pytest.raises(exc.UnknownOption, match="'san_ip'.*fake_capacity_gb"):
        cl.Backend(volume_backend_name="g", volume_driver="fake", san_ip="10.0.0.1")
    assert "g" not in cl.Backend.backends


def test_option_aliases_rename_cinder_spellings():
    class Declares:
        name = "rbd"
        options = ()

    from volumelib.drivers.options import Option
    Declares.options = (Option("rbd_keyring", "str"), Option("rbd_pool", "str"))
    out = compat_drivers.driver_options(Declares, "rbd",
                                        {"rbd_keyring_conf": "/etc/ceph/k", "rbd_pool": "p"},
                                        {"rbd_keyring_conf": "/default"})
    assert out == {"rbd_keyring": "/etc/ceph/k", "rbd_pool": "p"}
    with pytest.raises(exc.InvalidConfig, match="rbd_keyring_conf"):
        compat_drivers.driver_options(Declares, "rbd", {"rbd_keyring_conf": "a",
                                                        "rbd_keyring": "b"}, {})


def test_list_supported_drivers(cl):
    v1 = cl.list_supported_drivers()
    fake = v1["FakeDriver"]
    assert set(fake) == {"version", "class_name", "supported", "ci_wiki_name",
                         "driver_options", "class_fqn", "desc"}
    assert fake["class_fqn"] == "volumelib.drivers.fake.FakeDriver" and fake["supported"]
    opts = {o["name"]: o for o in fake["driver_options"]}
    assert opts["fake_capacity_gb"]["default"] == "1000"  # v1: strings
    assert "FileDriver" in v1
    v2 = cl.Backend.list_supported_drivers(output_version=2)
    opts2 = {o["name"]: o for o in v2["FakeDriver"]["driver_options"]}
    assert opts2["fake_capacity_gb"]["default"] == 1000 and opts2["fake_capacity_gb"]["dest"]
    with pytest.raises(exc.InvalidArgument, match="3"):
        cl.list_supported_drivers(output_version=3)


def test_validate_connector_and_connector_properties(cl):
    cl.setup(host="this-node")
    backend = cl.Backend(**FAKE)
    assert backend.validate_connector({"host": "n1", "ip": "10.0.0.2"}) is None
    with pytest.raises(exc.InvalidArgument):
        backend.validate_connector("host=n1")
    props = cl.get_connector_properties("sudo", "127.0.0.1", False, False)
    assert props["host"] == "this-node" and props["ip"] == "127.0.0.1"
    assert "platform" in props


# -- objects -------------------------------------------------------------------------------

def test_objects_are_live_and_carry_cinderlib_attributes(cl):
    cl.setup(persistence_config={"storage": "memory_db"})
    backend = cl.Backend(**FAKE)
    vol = backend.create_volume(1, name="data", description="about")
    assert isinstance(vol.vl_object, volumelib.Volume)
    # _ovo is cinderlib's view: the volumelib object's fields, read and written
    assert vol._ovo.vl_object is vol.vl_object and vol._ovo.size == 1
    assert (vol.display_name, vol.display_description) == ("data", "about")
    assert vol.status == "available" and vol.deleted is False and vol.deleted_at is None
    assert vol.local_attach is None and vol.attach_status == "detached"
    assert backend.persistence.get_volumes(vol.id)[0] is vol
    assert backend.volumes == [vol] and cl.Volume.get_by_id(vol.id) is vol
    snap = vol.create_snapshot(name="s")
    assert snap.volume is vol and vol.snapshots == [snap]
    assert snap.volume_size == 1 and isinstance(snap.vl_object, volumelib.Snapshot)
    assert cl.Snapshot.get_by_id(snap.id) is snap
    from_snap = snap.create_volume(name="fs", size=2)
    assert from_snap.snapshot_id == snap.id and from_snap.size == 2
    clone = vol.clone()
    assert clone.source_volid == vol.id and clone.size == vol.size
    # extend the copy from the store; the original sees it; bytes are returned
    copy = backend.persistence.get_volumes(volume_id=vol.id)[0]
    assert copy.extend(3) == 3 * 1024 ** 3 and vol.size == 3
    with pytest.raises(exc.InvalidArgument, match="bootable"):
        vol.clone(bootable=True)
    with pytest.raises(exc.VolumeNotFound):
        cl.Volume.get_by_id("8b6c6d5e-58a3-4c0a-9d25-2f7d6e0f3c11")
    with pytest.raises(exc.NotSupported):
        cl.Volume(backend, size=1)


def test_delete_is_idempotent_and_guarded(cl):
    cl.setup()
    backend = cl.Backend(**FAKE)
    vol = backend.create_volume(1)
    snap = vol.create_snapshot()
    with pytest.raises(exc.HasSnapshots):
        vol.delete()
    assert vol.status == "available"
    snap.delete()
    assert (snap.status, snap.deleted) == ("deleted", True) and vol.snapshots == []
    snap._ovo.status = "error"
    snap._ovo.deleted = False
    snap.delete()
    assert (snap.status, snap.deleted) == ("deleted", True)
    vol.delete()
    assert (vol.status, vol.deleted) == ("deleted", True) and vol.deleted_at is not None
    assert vol not in backend.volumes
    vol._ovo.status = "error"
    vol._ovo.deleted = False
    vol.delete()
    assert (vol.status, vol.deleted) == ("deleted", True)
    vol.delete()  # and a third time, still deleted
    assert backend.volumes == []


def test_connect_disconnect_and_detach_semantics(cl):
    cl.setup(persistence_config={"storage": "memory_db"})
    backend = cl.Backend(**FAKE)
    vol = backend.create_volume(1)
    conn = vol.connect({"host": "node-3", "ip": "10.0.0.3"}, attached_host="node-3")
    assert conn in vol.connections and vol.status == "in-use"
    assert conn.connected and not conn.attached and conn.path is None
    assert conn.protocol == "fake" and conn.attached_host == "node-3"
    assert conn.connection_info["conn"]["driver_volume_type"] == "fake"
    assert conn.connector_info["host"] == "node-3" and conn.volume is vol
    assert "fake-secret" not in conn.jsons  # secrets are not serialized
    with pytest.raises(exc.InvalidArgument, match="instance_id"):
        vol.connect({"host": "n"}, instance_id="x")
    with pytest.raises(cl.exception.NotLocal):
        vol.detach()  # connected to another node, not attached here
    with pytest.raises(exc.InvalidState):
        conn.detach()  # not attached anywhere
    vol.disconnect(conn)
    assert vol.connections == [] and vol.status == "available"
    with pytest.raises(exc.NotSupported, match="attach"):
        vol.attach()  # the fake driver cannot attach on a host
    assert vol.connections == [] and vol.status == "available"


def test_json_load_and_library_dumps(cl, tmp_path):
    cl.setup(persistence_config={"storage": "db",
                                 "connection": f"sqlite:///{tmp_path}/a.sqlite"})
    backend = cl.Backend(**FAKE)
    vol = backend.create_volume(1, name="j")
    snap = vol.create_snapshot(name="js")
    data = vol.jsons
    assert json.loads(data)["backend"] == {"volume_backend_name": "fake1"}
    assert cl.load(data) is vol  # the live object, fields from the JSON
    assert cl.Volume.load(json.loads(data)) is vol
    with pytest.raises(exc.InvalidPayload):
        cl.Snapshot.load(data)
    dumped = json.loads(vol.dumps)
    assert [s["ovo"]["versioned_object.data"]["id"] for s in dumped["snapshots"]] == [snap.id]
    everything = json.loads(cl.dumps())
    assert [b["backend"] for b in everything] == [{"volume_backend_name": "fake1"}]
    assert [v["ovo"]["versioned_object.data"]["id"] for v in everything[0]["volumes"]] == \
        [vol.id]
    assert cl.json()[0]["class"] == "Backend"
    for bad in ("{not json", json.dumps({"class": "Nope"}), json.dumps([1])):
        with pytest.raises(exc.InvalidPayload):
            cl.load(bad)
    gone = dict(json.loads(data), backend={"volume_backend_name": "elsewhere"})
    gone["ovo"]["versioned_object.data"]["backend_name"] = "elsewhere"
    with pytest.raises(exc.BackendNotFound):
        cl.load(gone)
    cl.Backend.persistence.store.close()


def test_memory_load_save_puts_objects_in_the_new_store(cl):
    cl.setup()
    backend = cl.Backend(**FAKE)
    vol = backend.create_volume(1, name="moving")
    data = backend.dumps
    cl.Backend.set_persistence({"storage": "memory"})
    assert backend.volumes == []
    assert cl.load(data) is backend and backend.volumes == []  # not saved
    assert cl.load(data, save=True) is backend
    assert [v.id for v in backend.volumes] == [vol.id]


def test_output_all_backend_info_lets_load_create_the_backend(cl):
    cl.setup(output_all_backend_info=True)
    backend = cl.Backend(volume_backend_name="full", volume_driver="fake",
                         fake_capacity_gb=11)
    assert backend.config == {"volume_backend_name": "full", "volume_driver": "fake",
                              "fake_capacity_gb": 11}
    data = backend.jsons
    backend.close()
    assert "full" not in cl.Backend.backends
    again = cl.load(data)
    assert isinstance(again, cl.Backend) and again is not backend
    assert again.stats()["pools"][0]["total_capacity_gb"] == 11


def test_key_values_through_backend_persistence(cl):
    cl.setup(persistence_config={"storage": "memory_db"})
    store = cl.Backend.persistence
    assert store.get_key_values("node-1") == []
    store.set_key_value(cl.KeyValue("node-1", '{"host": "n1"}'))
    store.set_key_value(cl.KeyValue("node-1", '{"host": "n1b"}'))  # last writer wins
    [kv] = store.get_key_values("node-1")
    assert (kv.key, json.loads(kv.value)) == ("node-1", {"host": "n1b"})
    store.delete_key_value(kv)
    assert store.get_key_values("node-1") == []


# -- cinder_to_yaml ------------------------------------------------------------------------

def _conf(tmp_path, text: str) -> str:
    path = tmp_path / "cinder.conf"
    path.write_text(textwrap.dedent(text))
    return str(path)


def test_cinder_to_yaml(tmp_path):
    conf = _conf(tmp_path, """
        [DEFAULT]
        enabled_backends = ceph, local
        debug = true
        rbd_pool = from-default-not-copied

        [ceph]
        volume_driver = cinder.volume.drivers.rbd.RBDDriver
        volume_backend_name = ceph-1
        rbd_pool = volumes
        rbd_user = cinder
        rbd_ceph_conf = /etc/ceph/ceph.conf
        rbd_keyring_conf = /etc/ceph/ceph.client.cinder.keyring

        [local]
        volume_driver = fake
        fake_capacity_gb = 42
        fake_native_groups = false

        [disabled]
        volume_driver = fake
        """)
    dest = tmp_path / "out.yaml"
    result = cinder_to_yaml.convert(conf, str(dest))
    assert result == {"backends": [
        {"volume_driver": "cinder.volume.drivers.rbd.RBDDriver",
         "volume_backend_name": "ceph-1", "rbd_pool": "volumes", "rbd_user": "cinder",
         "rbd_ceph_conf": "/etc/ceph/ceph.conf",
         "rbd_keyring_conf": "/etc/ceph/ceph.client.cinder.keyring"},
        {"volume_driver": "fake", "fake_capacity_gb": 42, "fake_native_groups": False,
         "volume_backend_name": "local"}]}
    import yaml
    assert yaml.safe_load(dest.read_text()) == result


@pytest.mark.parametrize("text,match", [
    ("[DEFAULT]\ndebug = true\n", "enabled_backends"),
    ("[DEFAULT]\nenabled_backends = a\n", r"\[a\]"),
    ("[DEFAULT]\nenabled_backends = a\n[a]\nvolume_driver = fake\n"
     "fake_capacity_gb = lots\n", "fake_capacity_gb"),
    ("not an ini file\n", "cannot read"),
])
def test_cinder_to_yaml_bad_files(tmp_path, text, match):
    conf = _conf(tmp_path, text)
    dest = tmp_path / "out.yaml"
    with pytest.raises(exc.InvalidConfig, match=match):
        cinder_to_yaml.convert(conf, str(dest))
    assert not dest.exists()


def test_cinder_to_yaml_missing_file_and_cli(tmp_path, capsys):
    with pytest.raises(exc.InvalidConfig, match="nothere.conf"):
        cinder_to_yaml.convert(str(tmp_path / "nothere.conf"))
    conf = _conf(tmp_path, "[DEFAULT]\nenabled_backends = a\n[a]\nvolume_driver = fake\n")
    assert cinder_to_yaml.main([conf]) == 0
    assert "volume_backend_name: a" in capsys.readouterr().out
    assert cinder_to_yaml.main([str(tmp_path / "nothere.conf")]) == 1
    assert cinder_to_yaml.main([]) == 2


# -- the alias and import hygiene --------------------------------------------------------------

def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=120)


def test_cinderlib_alias_is_off_by_default_and_installable():
    proc = _python("""
        import importlib.util, logging, sys
        finders = list(sys.meta_path)
        import volumelib.compat.cinderlib as compat
        assert sys.meta_path == finders, "importing the compat layer added a finder"
        assert logging.getLogger("volumelib").level == logging.NOTSET
        assert compat.Backend.global_initialization is False
        assert importlib.util.find_spec("cinderlib") is None
        import volumelib.compat
        assert volumelib.compat.install_cinderlib_alias() is True
        assert volumelib.compat.install_cinderlib_alias() is True  # idempotent
        import cinderlib
        from cinderlib.cmd import cinder_to_yaml
        import cinderlib.exception
        assert cinderlib is compat
        assert cinder_to_yaml is compat.cmd.cinder_to_yaml
        assert cinderlib.exception.NotLocal is compat.exception.NotLocal
        volumelib.compat.uninstall_cinderlib_alias()
        assert "cinderlib" not in sys.modules
        try:
            import cinderlib
        except ImportError:
            print("ok")
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("ok")


def test_alias_leaves_a_real_cinderlib_alone(tmp_path):
    fake_pkg = tmp_path / "cinderlib"
    fake_pkg.mkdir()
    (fake_pkg / "__init__.py").write_text("REAL = True\n")
    proc = _python(f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        import volumelib.compat
        assert volumelib.compat.install_cinderlib_alias() is False
        import cinderlib
        assert cinderlib.REAL
        print("ok")
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("ok")


def test_connection_json_has_no_secrets_and_a_store_reader_gets_them_back(cl):
    cl.setup(persistence_config={"storage": "memory_db"})
    backend = cl.Backend(**FAKE)
    vol = backend.create_volume(1)
    conn = vol.connect({"host": "node-9"})
    assert conn.conn_info["data"]["auth_password"] == "fake-secret"
    data = conn.dumps
    assert "fake-secret" not in data and "***" in data
    # the node shares the store: the loaded connection is the stored one, secrets too
    loaded = cl.load(data)
    assert loaded is conn and loaded.conn_info["data"]["auth_password"] == "fake-secret"
    loaded.attached_host = "node-9"
    loaded.save()  # saved over the stored row (not a second insert)
    assert cl.Connection.get_by_id(conn.id).attached_host == "node-9"
    # a store without that row keeps the redacted value (nothing to fill it from)
    other = json.loads(data)
    cl.Backend.set_persistence({"storage": "memory"})
    lone = cl.load(other)
    assert lone.conn_info["data"]["auth_password"] == "***"
    cl.Backend.set_persistence({"storage": "memory_db"})
    assert cl.Backend.persistence.get_connections(connection_id=conn.id) == []


def test_lookups_by_name_to_dict_and_missing_backends(cl):
    cl.setup(persistence_config={"storage": "memory_db"}, fail_on_missing_backend=False)
    backend = cl.Backend(**FAKE)
    vol = backend.create_volume(1, name="named")
    snap = vol.create_snapshot(name="snapname")
    assert cl.Volume.get_by_name("named") == [vol]
    assert cl.Snapshot.get_by_name("snapname") == [snap]
    assert backend.volumes_filtered(volume_name="nothing") == []
    flat = vol.to_dict()
    assert flat["id"] == vol.id and flat["name"] == "named" and "ovo" not in flat
    assert cl.Backend.load_backend({"volume_backend_name": "fake1"}) is backend
    # not set up here, no configuration in the data: its name (fail_on_missing_backend off)
    assert cl.Backend.load_backend({"volume_backend_name": "remote"}) == "remote"
    with pytest.raises(exc.InvalidPayload):
        cl.Backend.load_backend({"name": "x"})
    backend.close()
    assert vol.backend == "fake1"  # the name, once the backend is gone from this process
