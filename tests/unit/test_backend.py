"""Backend: driver loading, configuration errors, failure handling, gc, types."""

from __future__ import annotations

import uuid

import pytest

import volumelib
from volumelib import exceptions as exc
from volumelib.objects import VolumeType


@pytest.fixture(autouse=True)
def fresh_store():
    volumelib.setup()
    yield
    volumelib.setup()


def test_unknown_driver_lists_available():
    with pytest.raises(exc.DriverNotFound) as info:
        volumelib.Backend("x", "no_such_driver")
    assert "no_such_driver" in str(info.value)
    assert "fake" in str(info.value) and "file" in str(info.value)


def test_dotted_path_driver_and_bad_paths():
    b = volumelib.Backend("dotted", "volumelib.drivers.fake.FakeDriver")
    assert b.create_volume(1).status == "available"
    for bad in ("volumelib.drivers.fake.Nope", "no.such.module.Driver", "os.path.join"):
        with pytest.raises(exc.DriverNotFound) as info:
            volumelib.Backend("bad", bad)
        assert bad in str(info.value)


def test_unknown_option_names_known_ones():
    with pytest.raises(exc.UnknownOption) as info:
        volumelib.Backend("x", "fake", fake_capacity=10)
    assert "fake_capacity" in str(info.value) and "fake_capacity_gb" in str(info.value)


@pytest.mark.parametrize("options", [{"fake_capacity_gb": "lots"},
                                     {"fake_capacity_gb": 0},
                                     {"max_over_subscription_ratio": True}])
def test_bad_option_values(options):
    with pytest.raises(exc.InvalidConfig) as info:
        volumelib.Backend("x", "fake", **options)
    assert list(options)[0] in str(info.value)


def test_setup_failure_is_backend_error():
    with pytest.raises(exc.BackendError) as info:
        volumelib.Backend("broken", "fake", fake_fail_on=["do_setup"])
    assert info.value.backend_name == "broken"


def test_bad_persistence_configs():
    for bad in ({"storage": "nosuch"}, {"storage": 42}, "memory", 3.5,
                {"storage": "memory", "unexpected": 1}):
        with pytest.raises(exc.InvalidPersistence) as info:
            volumelib.setup(persistence_config=bad)
        assert "memory" in str(info.value)


def test_persistence_setup_accepts_name_class_instance():
    from volumelib.persistence.memory import MemoryPersistence
    store = MemoryPersistence()
    assert volumelib.persistence.setup is not None  # the package, not shadowed
    assert volumelib.setup(persistence_config={"storage": store}).persistence is store
    volumelib.setup(persistence_config={"storage": MemoryPersistence})
    assert isinstance(volumelib.get_persistence(), MemoryPersistence)
    assert volumelib.get_persistence() is not store
    volumelib.setup(persistence_config=store)
    assert volumelib.get_persistence() is store


def test_two_backends_with_one_name_are_two_objects():
    a = volumelib.Backend("same", "fake")
    b = volumelib.Backend("same", "fake")
    assert a is not b and a.driver is not b.driver


def test_driver_failure_on_create_stores_error_and_names_backend():
    b = volumelib.Backend("failing", "fake", fake_fail_on=["create_volume"])
    with pytest.raises(exc.BackendError) as info:
        b.create_volume(1, name="doomed")
    assert info.value.backend_name == "failing"
    assert isinstance(info.value.__cause__, RuntimeError)
    [vol] = b.volumes
    assert (vol.name, vol.status) == ("doomed", "error")
    vol.delete()  # an errored volume can be deleted
    assert b.volumes == []


def test_driver_failure_on_delete_is_error_deleting_then_gc_finishes():
    b = volumelib.Backend("faildel", "fake", fake_fail_on=["delete_volume"])
    vol = b.create_volume(1)
    with pytest.raises(exc.BackendError):
        vol.delete()
    assert b.get_volume(vol.id).status == "error_deleting"
    b.driver.config.fake_fail_on = []
    report = b.gc(older_than=0)
    assert {"kind": "volume", "id": vol.id, "action": "finish delete"} in report["actions"]
    assert b.volumes == []


def test_failed_extend_is_error_extending_and_size_kept():
    b = volumelib.Backend("failext", "fake", fake_fail_on=["extend_volume"])
    vol = b.create_volume(1)
    with pytest.raises(exc.BackendError):
        vol.extend(2)
    stored = b.get_volume(vol.id)
    assert (stored.status, stored.size) == ("error_extending", 1)


def test_failed_connect_leaves_nothing():
    b = volumelib.Backend("failconn", "fake", fake_fail_on=["initialize_connection"])
    vol = b.create_volume(1)
    with pytest.raises(exc.BackendError):
        vol.connect({"host": "h"})
    assert vol.connections == []
    assert b.get_volume(vol.id).status == "available"
    assert b.driver._volumes[vol.id].exports == 0


def test_gc_rolls_back_interrupted_create_and_removes_orphans():
    b = volumelib.Backend("gc", "fake")
    vol = b.create_volume(1)
    vol.status = "creating"
    vol.save()
    orphan = b.create_volume(1)
    b.persistence.delete_volume(orphan)  # storage object without a record
    report = b.gc(older_than=0)
    assert {"kind": "volume", "id": vol.id, "action": "roll back create"} in report["actions"]
    assert report["orphans"] == [f"volume {orphan.id}"]
    assert b.volumes == [] and b.driver._volumes == {}


def test_gc_argument_checked():
    b = volumelib.Backend("gcarg", "fake")
    for bad in (-1, "10", True):
        with pytest.raises(exc.InvalidArgument):
            b.gc(older_than=bad)


def test_capacity_refused_before_anything_is_stored():
    b = volumelib.Backend("small", "fake", fake_capacity_gb=10,
                          max_over_subscription_ratio=1.0)
    b.create_volume(8)
    with pytest.raises(exc.InsufficientCapacity) as info:
        b.create_volume(5)
    assert info.value.requested_gb == 5 and "small" in str(info.value)
    assert len(b.volumes) == 1


def test_volume_types_by_name_and_specs():
    b = volumelib.Backend("types", "fake")
    vt = VolumeType(id=str(uuid.uuid4()), name="shared",
                    extra_specs={"multiattach": "<is> True"})
    volumelib.get_persistence().set_volume_type(vt)
    vol = b.create_volume(1, volume_type="shared")
    assert vol.multiattach and vol.volume_type_id == vt.id
    c1 = vol.connect({"host": "a"})
    c2 = vol.connect({"host": "b"})
    assert len(vol.connections) == 2
    c1.disconnect()
    assert b.get_volume(vol.id).status == "in-use"
    c2.disconnect()
    assert b.get_volume(vol.id).status == "available"
    plain = b.create_volume(1, volume_type={"multiattach": "<is> False"})
    assert not plain.multiattach
    with pytest.raises(exc.NotFound):
        b.create_volume(1, volume_type="no-such-type")
    with pytest.raises(exc.InvalidArgument):
        b.create_volume(1, volume_type={"k": 1})


def test_db_facade_for_drivers():
    b = volumelib.Backend("dbf", "fake")
    vol = b.create_volume(1)
    assert b.driver.db.volume_get(None, vol.id).id == vol.id
    with pytest.raises(exc.VolumeNotFound):
        b.driver.db.volume_get(None, str(uuid.uuid4()))
    assert b.driver.db.image_volume_cache_get_by_volume_id(None, vol.id) is None


def test_stale_object_gets_concurrent_modification():
    b = volumelib.Backend("cas", "fake")
    vol = b.create_volume(1)
    other = b.get_volume(vol.id)
    other.name = "theirs"
    other.save()
    vol.name = "mine"
    with pytest.raises(exc.ConcurrentModification):
        vol.save()
    assert b.get_volume(vol.id).name == "theirs"


def test_import_has_no_side_effects():
    import subprocess
    import sys
    code = ("import logging, sys; before = dict(logging.root.manager.loggerDict);"
            "import volumelib;"
            "assert logging.root.handlers == [], logging.root.handlers;"
            "assert 'sqlalchemy' not in sys.modules and 'os_brick' not in sys.modules;"
            "assert 'oslo_messaging' not in sys.modules and 'alembic' not in sys.modules;"
            "print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr
