"""What cinderlib's real clients (Ember-CSI 0.9.1, cinderlib's own tests) need from the
compatibility layer, on the ``fake`` driver: each behaviour, and the bad input to it.

The end-to-end proof is ``tests/functional/test_ember_csi.py``; these pin each shim
down, with its refusals (a specific volumelib exception naming the value, and nothing
changed). The native API's strictness is checked alongside: the leniency is the
compat layer's only.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import zipfile

import pytest

import volumelib
import volumelib.compat.cinderlib as cinderlib
from tests.unit.test_cinderlib_compat import FAKE, cl  # noqa: F401  (the fixture)
from volumelib import exceptions as exc
from volumelib.compat import cinderlib_dist
from volumelib.drivers.fake import FakeDriver

GiB = 1024 ** 3


@pytest.fixture
def backend(cl):  # noqa: F811
    cl.setup(persistence_config={"storage": "memory_db"})
    return cl.Backend(**FAKE)


def _kv(key: str):
    found = cinderlib.Backend.persistence.get_key_values(key)
    return json.loads(found[0].value) if found else None


# -- Backend -------------------------------------------------------------------------------

def test_backend_passes_unknown_attributes_to_its_driver(backend):
    assert backend.get_version() == FakeDriver.version == backend.driver.version
    assert backend.supported is True
    assert backend.check_for_setup_error() is None  # a driver method, through the backend
    with pytest.raises(AttributeError, match="'no_such_thing'"):
        backend.no_such_thing
    with pytest.raises(AttributeError):
        backend._private_of_the_driver  # private names are never forwarded


def test_setup_puts_os_brick_in_process_as_root(cl):  # noqa: F811
    import os_brick.privileged
    context = os_brick.privileged.default
    before = context.client_mode
    context.set_client_mode(True)
    try:
        cl.setup()
        assert context.client_mode is (os.geteuid() != 0)
    finally:
        context.set_client_mode(before)


def test_objects_module_exports_key_value_and_exception_not_found():
    from volumelib.compat.cinderlib import objects
    assert objects.KeyValue is volumelib.KeyValue is cinderlib.KeyValue
    kv = objects.KeyValue("node-1", "{}")
    assert (kv.key, kv.value) == ("node-1", "{}")
    assert cinderlib.exception.NotFound is exc.NotFound


# -- sizes as integral floats ------------------------------------------------------------------

def test_integral_float_sizes_are_accepted_and_others_refused(backend):
    vol = backend.create_volume(1.0, name="f")
    assert vol.size == 1 and isinstance(vol.size, int)
    clone = vol.clone(size=2.0)
    snap = vol.create_snapshot()
    from_snap = snap.create_volume(size=3.0)
    assert (clone.size, from_snap.size) == (2, 3)
    assert vol.extend(2.0) == 2 * GiB and vol.size == 2
    count = len(backend.volumes)
    for call in (lambda: backend.create_volume(1.5), lambda: vol.clone(size=2.5),
                 lambda: snap.create_volume(size=1.5), lambda: vol.extend(2.5),
                 lambda: backend.create_volume("1")):
        with pytest.raises(exc.InvalidSize) as err:
            call()
        assert "1.5" in str(err.value) or "2.5" in str(err.value) or "'1'" in str(err.value)
    assert len(backend.volumes) == count and vol.size == 2
    # the native API stays strict
    with pytest.raises(exc.InvalidSize, match="1.0"):
        backend.vl_backend.create_volume(size=1.0)
    with pytest.raises(exc.InvalidSize, match="3.0"):
        vol.vl_object.extend(3.0)


# -- listing filters -------------------------------------------------------------------------

def test_falsy_listing_filters_are_ignored(backend):
    vol = backend.create_volume(1, name="a")
    snap = vol.create_snapshot(name="s")
    store = cinderlib.Backend.persistence
    assert store.get_snapshots(snapshot_id="", volume_id=vol.id) == [snap]
    assert store.get_snapshots(snapshot_id=None, snapshot_name="", volume_id="") == [snap]
    assert store.get_volumes(volume_id="", volume_name="", backend_name="") == [vol]
    assert store.get_connections(connection_id="", volume_id="") == []
    assert store.get_snapshots(snapshot_name="other") == []  # truthy filters still filter


# -- clone and volume from snapshot take what create_volume takes ------------------------------

def test_clone_and_from_snapshot_take_multiattach_and_empty_qos(backend):
    vol = backend.create_volume(1)
    clone = vol.clone(name="c", multiattach=True, qos_specs={}, extra_specs={})
    assert clone.multiattach and clone.extra_specs == {"multiattach": "<is> True"}
    plain = vol.clone(multiattach=False, qos_specs=None)
    assert plain.multiattach is False
    snap = vol.create_snapshot()
    shared = snap.create_volume(multiattach=True, qos_specs={}, metadata={"k": "v"})
    assert shared.multiattach and shared.metadata == {"k": "v"}
    single = clone.clone(multiattach=False)  # the source's multiattach spec is dropped
    assert single.multiattach is False and "multiattach" not in single.extra_specs
    count = len(backend.volumes)
    with pytest.raises(exc.NotSupported, match="total_iops_sec"):
        vol.clone(qos_specs={"total_iops_sec": "100"})
    with pytest.raises(exc.NotSupported, match="total_iops_sec"):
        snap.create_volume(qos_specs={"total_iops_sec": "100"})
    with pytest.raises(exc.InvalidArgument, match="'yes'"):
        vol.clone(multiattach="yes")
    with pytest.raises(exc.InvalidArgument, match="named volume type"):
        snap.create_volume(multiattach=True, volume_type="gold")
    with pytest.raises(exc.InvalidArgument, match="bootable"):
        vol.clone(bootable=True)
    assert len(backend.volumes) == count


def test_volume_type_view(backend):
    assert backend.create_volume(1).volume_type is None
    typed = backend.create_volume(1, extra_specs={"k": "v"})
    assert typed.volume_type.extra_specs == {"k": "v"}


# -- cinderlib's attachment fields ---------------------------------------------------------------

def test_connect_takes_attachment_fields_and_keeps_them(backend):
    vol = backend.create_volume(1)
    conn = vol.connect({"host": "n1", "multipath": False}, attached_host="node-7",
                       mountpoint="", instance_uuid="pod-1", attach_mode="rw")
    assert (conn.attached_host, conn.mountpoint, conn.instance_uuid) == ("node-7", "",
                                                                          "pod-1")
    assert conn.vl_object.attached_host is None  # volumelib's: where it is attached
    assert _kv(f"cinderlib:connection:{conn.id}") == {
        "attached_host": "node-7", "mountpoint": "", "instance_uuid": "pod-1"}
    conn._ovo.mountpoint = "/stage"
    conn.save()
    assert _kv(f"cinderlib:connection:{conn.id}")["mountpoint"] == "/stage"
    conn.refresh()
    assert conn.mountpoint == "/stage" and conn._ovo.mountpoint == "/stage"
    assert conn.use_multipath is False
    conn.disconnect()
    assert _kv(f"cinderlib:connection:{conn.id}") is None


def test_connect_refuses_bad_attachment_fields_before_exporting(backend):
    vol = backend.create_volume(1)
    with pytest.raises(exc.InvalidArgument, match="mountpoint.*5"):
        vol.connect({"host": "n1"}, mountpoint=5)
    with pytest.raises(exc.InvalidArgument, match="instance_id"):
        vol.connect({"host": "n1"}, instance_id="x")
    assert vol.connections == [] and vol.status == "available"
    assert [kv.key for kv in cinderlib.Backend.persistence.get_key_values()] == []


def test_use_multipath_follows_connector_then_connection_info(backend):
    vol = backend.create_volume(1, multiattach=True)
    assert vol.connect({"host": "a", "multipath": True}).use_multipath is True
    assert vol.connect({"host": "b"}).use_multipath is False


def test_disconnecting_while_iterating_connections_reaches_them_all(backend):
    vol = backend.create_volume(1, multiattach=True)
    for host in ("a", "b", "c"):
        vol.connect({"host": host})
    assert len(vol._connections) == 3
    for conn in vol.connections:  # a new list: disconnect edits vol._connections
        conn.disconnect()
    assert vol.connections == [] and vol._connections == [] and vol.status == "available"


def test_admin_metadata_is_stored_with_the_volume(backend):
    vol = backend.create_volume(1)
    assert vol.admin_metadata == {} and vol._ovo.admin_metadata == {}
    metadata = vol._ovo.admin_metadata or {}
    metadata.update(fs_type="ext4")
    vol._ovo.admin_metadata = metadata  # as ember does it
    vol.save()
    assert _kv(f"cinderlib:volume:{vol.id}") == {"admin_metadata": {"fs_type": "ext4"}}
    vol.refresh()
    assert vol.admin_metadata == {"fs_type": "ext4"}
    vol.admin_metadata["mkfs"] = "done"  # in place, then saved
    vol.save()
    assert _kv(f"cinderlib:volume:{vol.id}")["admin_metadata"]["mkfs"] == "done"
    with pytest.raises(exc.InvalidArgument, match="admin_metadata.*'size': 1"):
        vol._ovo.admin_metadata = {"size": 1}
    with pytest.raises(exc.InvalidArgument, match="admin_metadata"):
        vol.admin_metadata = "fs_type=ext4"
    vol.refresh()
    assert vol.admin_metadata == {"fs_type": "ext4", "mkfs": "done"}
    vol.delete()
    assert _kv(f"cinderlib:volume:{vol.id}") is None


def test_ovo_view_reads_and_writes_the_volumelib_object(backend):
    vol = backend.create_volume(1)
    assert vol._ovo is vol._ovo and vol._ovo.vl_object is vol.vl_object
    vol._ovo.status = "error"
    assert vol.vl_object.status == "error" and vol.status == "error"
    with pytest.raises(exc.InvalidArgument, match="size"):
        vol._ovo.size = "big"
    assert vol.size == 1
    with pytest.raises(AttributeError):
        vol._ovo.no_such_field
    with pytest.raises(AttributeError, match="'bootable'"):
        vol._ovo.bootable = True  # a Cinder field volumelib has not: nothing would keep it
    with pytest.raises(AttributeError, match="'volume_attachment'"):
        vol._ovo.volume_attachment = []
    assert "bootable" not in vars(vol.vl_object)


# -- cinderlib.Connection(backend, ...), vol._connections, volume_attachment -----------------

def test_connection_records_as_ember_duplicates_and_removes_them(backend):
    vol = backend.create_volume(1)
    first = vol.connect({"host": "n1"}, attached_host="node-1", mountpoint="/stage")
    assert vol._connections == [first]
    assert vol._ovo.volume_attachment.objects == [first._ovo]
    info = first.connection_info.copy()
    dup = cinderlib.Connection(vol.backend, connector=first.connector_info, volume=vol,
                               status="attached", connection_info=info, attach_mode="rw",
                               attached_host=first.attached_host, mountpoint="/target",
                               instance_uuid="pod-9")
    assert [c.id for c in vol.connections] == [first.id]  # not stored before save()
    dup.connector_info["_capability"] = {"is_block": True}  # changed in place...
    dup.save()  # ...and saved
    stored = cinderlib.Backend.persistence.store.get_connections(connection_id=dup.id)[0]
    assert stored.connector["_capability"] == {"is_block": True}
    assert stored.connection_info == first.conn_info and stored.volume_id == vol.id
    assert "_capability" not in first.connector_info
    assert _kv(f"cinderlib:connection:{dup.id}") == {
        "attached_host": "node-1", "mountpoint": "/target", "instance_uuid": "pod-9"}
    vol._connections.append(dup)
    vol._ovo.volume_attachment.objects.append(dup._ovo)
    assert cinderlib.Connection.get_by_id(dup.id) is dup
    assert {c.mountpoint for c in vol.connections} == {"/stage", "/target"}
    # ember's node unpublish: forget the record, then its two in-memory lists
    cinderlib.Backend.persistence.delete_connection(dup)
    vol._connections.remove(dup)
    vol._ovo.volume_attachment.objects.remove(dup._ovo)
    assert [c.id for c in vol.connections] == [first.id]
    assert _kv(f"cinderlib:connection:{dup.id}") is None
    first.disconnect()
    assert vol._connections == [] and vol._ovo.volume_attachment.objects == []
    assert vol.connections == [] and vol.status == "available"


def test_connection_constructor_refuses_bad_input(backend):
    vol = backend.create_volume(1)
    conn = vol.connect({"host": "n1"})
    info = conn.connection_info
    snap = vol.create_snapshot()
    cases = [
        ({"volume": "not-a-volume", "connection_info": info}, "not-a-volume"),
        ({"volume": snap, "connection_info": info}, "cinderlib.Snapshot"),
        ({"volume": conn, "connection_info": info}, "cinderlib.Connection"),
        ({"volume": vol, "connection_info": {"data": {}}}, "'conn'"),
        ({"volume": vol, "connection_info": info, "status": "bogus"}, "bogus"),
        ({"volume": vol, "connection_info": info, "attach_mode": "rx"}, "rx"),
        ({"volume": vol, "connection_info": info, "mountpoint": 7}, "7"),
        ({"volume": vol, "connection_info": info, "connector": "host=n1"}, "host=n1"),
        ({"volume": vol, "connection_info": info, "wwpn": "x"}, "wwpn"),
    ]
    for kwargs, named in cases:
        with pytest.raises(exc.InvalidArgument) as err:
            cinderlib.Connection(backend, **kwargs)
        assert named in str(err.value), (kwargs, err.value)
    with pytest.raises(exc.InvalidArgument, match="'elsewhere'"):
        cinderlib.Connection("elsewhere", volume=vol, connection_info=info)
    assert [c.id for c in vol.connections] == [conn.id]
    with pytest.raises(exc.NotSupported):
        cinderlib.Volume(backend, size=1)  # the other objects still come from factories


# -- a volume its client marked deleted ----------------------------------------------------------

def test_volume_marked_deleted_by_its_client_is_deleted_with_its_last_snapshot(backend):
    vol = backend.create_volume(1)
    snap = vol.create_snapshot()
    vol._ovo.status = "deleted"  # ember's soft delete of a volume with snapshots
    vol.save()
    with pytest.raises(exc.HasSnapshots):
        vol.delete()
    assert cinderlib.Backend.persistence.store.get_volumes(volume_id=vol.id)[0].status == \
        "deleted"
    snap.delete()
    again = snap.volume
    assert again is vol and again.status == "deleted" and not again.deleted
    assert vol.id in backend.driver._volumes  # still on the (fake) storage
    again.delete()
    assert vol.deleted and backend.volumes == []
    assert vol.id not in backend.driver._volumes


# -- list_supported_drivers ----------------------------------------------------------------------

OPTION_KEYS = {"name", "dest", "type", "default", "help", "secret", "required", "choices",
               "deprecated_for_removal", "deprecated_reason", "deprecated_since"}


def test_list_supported_drivers_version_2_types_are_dicts(cl):  # noqa: F811
    """Every driver listed, volumelib's and (with the extra) Cinder's, gives its options
    with the same keys; version 2 gives ``type`` as a dict with a Python ``type_class``.
    volumelib's own drivers are all supported and deprecate nothing; Cinder marks some
    of its drivers unsupported and some options deprecated, and says so."""
    v1 = cl.Backend.list_supported_drivers(1)
    v2 = cl.Backend.list_supported_drivers(2)
    assert set(v1) == set(v2)
    own = {name for name, d in v2.items() if not d["class_fqn"].startswith("cinder.")}
    assert {"FakeDriver", "FileDriver"} <= own
    for name, driver in v2.items():
        assert driver["supported"] is True if name in own else \
            isinstance(driver["supported"], bool)
        assert v1[name]["supported"] == driver["supported"]
        for opt in driver["driver_options"]:
            assert set(opt) == OPTION_KEYS, (name, opt)
            assert isinstance(opt["type"], dict) and isinstance(opt["type"]["type_class"], type)
            assert isinstance(opt["type"]["type_name"], str) and opt["type"]["type_name"]
            assert opt["dest"] == opt["name"]
            assert opt["deprecated_for_removal"] is False if name in own else \
                isinstance(opt["deprecated_for_removal"], bool)
        for opt in v1[name]["driver_options"]:
            assert set(opt) == OPTION_KEYS, (name, opt)
            assert all(isinstance(v, str) for v in opt.values())
            assert opt["deprecated_for_removal"] == "False" if name in own else \
                opt["deprecated_for_removal"] in ("True", "False")
    cinders = [d for name, d in v2.items() if name not in own]
    if cinders:  # the extra volumelib[cinder] is installed
        assert any(not d["supported"] for d in cinders)
        assert any(o["deprecated_for_removal"] for d in cinders for o in d["driver_options"])
    fake = {o["name"]: o for o in v2["FakeDriver"]["driver_options"]}
    assert fake["fake_capacity_gb"]["type"]["type_class"] is int
    assert fake["fake_capacity_gb"]["type"]["type_name"] == "integer value"
    assert {o["name"]: o["type"] for o in v1["FakeDriver"]["driver_options"]}[
        "fake_capacity_gb"] == "int"


# -- the placeholder distributions ----------------------------------------------------------------

def test_placeholder_wheels_are_valid_and_alias_on_first_import(tmp_path):
    versions = cinderlib_dist.distribution_versions()
    assert versions == {"cinderlib": f"5.2.0+volumelib.{volumelib.__version__}",
                        "cinder": f"0+volumelib.{volumelib.__version__}"}
    paths = cinderlib_dist.build_wheels(str(tmp_path))
    assert [os.path.basename(p) for p in paths] == [
        f"cinderlib-{versions['cinderlib']}-py3-none-any.whl",
        f"cinder-{versions['cinder']}-py3-none-any.whl"]
    for path in paths:
        with zipfile.ZipFile(path) as zf:
            [record] = [n for n in zf.namelist() if n.endswith(".dist-info/RECORD")]
            for line in zf.read(record).decode().splitlines():
                member, digest, size = line.split(",")
                if member == record:
                    continue
                data = zf.read(member)
                want = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
                assert digest == "sha256=" + want.decode() and int(size) == len(data)
            [meta] = [n for n in zf.namelist() if n.endswith("METADATA")]
            assert cinderlib_dist.MARKER in zf.read(meta).decode()
    site = tmp_path / "site"
    with zipfile.ZipFile(paths[0]) as zf:
        zf.extractall(site)
    assert (site / "volumelib-cinderlib-alias.pth").read_text() == \
        "import _volumelib_cinderlib_alias\n"
    code = (f"import site, sys; site.addsitedir({str(site)!r});"
            "assert 'volumelib' not in sys.modules;"  # nothing imported at start-up
            "import cinderlib; from cinderlib import objects;"
            "print(cinderlib.__name__, objects.KeyValue.__module__)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["volumelib.compat.cinderlib", "volumelib.records.key_value"]


def test_placeholder_install_refuses_to_replace_a_real_cinderlib(tmp_path, monkeypatch):
    real = tmp_path / "site" / "cinderlib-5.2.0.dist-info"
    real.mkdir(parents=True)
    (real / "METADATA").write_text("Metadata-Version: 2.1\nName: cinderlib\n"
                                   "Version: 5.2.0\nSummary: Direct usage of Cinder "
                                   "volume drivers without the services\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "site"))
    with pytest.raises(exc.InvalidState, match="a real cinderlib is installed"):
        cinderlib_dist.install(sys.executable)
    assert cinderlib_dist.uninstall(sys.executable) == []  # not ours: left alone
    assert (real / "METADATA").exists()
    assert cinderlib_dist.main(["wheels", str(tmp_path / "new" / "dir")]) == 0
    assert len(os.listdir(tmp_path / "new" / "dir")) == 2
