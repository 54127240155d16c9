"""Versioned objects: change tracking, primitives, versions, JSON."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
import textwrap
import uuid

import pytest

import volumelib
from volumelib import exceptions as exc
from volumelib.objects import Connection, Snapshot, Volume
from volumelib.versioned import VersionedObject


def _vol(**kw):
    base = dict(id=str(uuid.uuid4()), size=1, backend_name="b", status="available")
    base.update(kw)
    return Volume(**base)


def test_change_tracking_sees_assignments_and_in_place_edits():
    vol = _vol(metadata={"a": "1"})
    vol.obj_reset_changes()
    assert vol.obj_what_changed() == set()
    vol.name = "n"
    vol.metadata["b"] = "2"
    assert vol.obj_what_changed() == {"name", "metadata"}
    assert vol.obj_get_changes()["metadata"] == {"a": "1", "b": "2"}
    vol.obj_reset_changes(["name"])
    assert vol.obj_what_changed() == {"metadata"}


def test_bad_field_value_is_invalid_argument():
    vol = _vol()
    with pytest.raises(exc.InvalidArgument) as info:
        vol.size = "huge"
    assert "size" in str(info.value) and "huge" in str(info.value)
    with pytest.raises(exc.InvalidArgument):
        Volume(nonsense=1)


def test_primitive_is_an_ovo_envelope_and_round_trips():
    created = datetime.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=datetime.timezone.utc)
    vol = _vol(name="ünïcode", metadata={"k": "v"}, created_at=created)
    prim = vol.obj_to_primitive()
    assert prim["versioned_object.name"] == "Volume"
    assert prim["versioned_object.namespace"] == "volumelib"
    assert prim["versioned_object.version"] == Volume.VERSION
    back = VersionedObject.obj_from_primitive(json.loads(json.dumps(prim)))
    assert back == vol
    assert back.created_at == created  # microseconds and tz kept


def test_secret_field_left_out_unless_asked():
    vol = _vol(provider_auth="CHAP user s3cr3t")
    assert "s3cr3t" not in json.dumps(vol.obj_to_primitive())
    assert "s3cr3t" in json.dumps(vol.obj_to_primitive(include_secrets=True))


@pytest.mark.parametrize("mutate, message", [
    (lambda p: p.update({"versioned_object.version": "2.0"}), "newer"),
    (lambda p: p.update({"versioned_object.version": "1.99"}), "newer"),
    (lambda p: p.update({"versioned_object.namespace": "nova"}), "namespace"),
    (lambda p: p.update({"versioned_object.name": "Server"}), "unknown"),
    (lambda p: p["versioned_object.data"].update({"size": "big"}), "size"),
    (lambda p: p["versioned_object.data"].update({"bogus": 1}), "bogus"),
    (lambda p: p.pop("versioned_object.data"), "data"),
])
def test_bad_primitives_are_refused(mutate, message):
    prim = _vol().obj_to_primitive()
    mutate(prim)
    with pytest.raises(exc.InvalidPayload) as info:
        VersionedObject.obj_from_primitive(prim)
    assert message in str(info.value)


def test_older_minor_version_loads():
    prim = _vol().obj_to_primitive()
    prim["versioned_object.version"] = "1.0"
    assert isinstance(VersionedObject.obj_from_primitive(prim), Volume)


@pytest.mark.parametrize("payload", [
    "{not json", "[1, 2]", "42", '{"class": "Volume"}', '{"class": "Nope", "ovo": {}}',
    b"\xff\xfe", '{"class": "Volume", "ovo": {"versioned_object.name": "Snapshot"}}',
])
def test_load_rejects_garbage(payload):
    volumelib.setup()
    with pytest.raises(exc.InvalidPayload):
        volumelib.load(payload)
    assert volumelib.get_persistence().get_volumes() == []


def test_load_needs_the_backend_unless_told_otherwise():
    volumelib.setup()
    b = volumelib.Backend("only-here", "fake")
    vol = b.create_volume(1)
    data = vol.jsons
    b.close()
    with pytest.raises(exc.BackendNotFound):
        volumelib.load(data)
    volumelib.setup(fail_on_missing_backend=False)
    loaded = volumelib.load(data)
    assert loaded.id == vol.id
    with pytest.raises(exc.BackendNotFound):
        loaded.backend
    volumelib.setup()


def test_round_trip_in_a_new_process():
    """json made here loads in another interpreter (and back)."""
    volumelib.setup()
    b = volumelib.Backend("xproc", "fake")
    vol = b.create_volume(2, name="travel", metadata={"x": "y"})
    snap = vol.create_snapshot(name="s")
    conn = vol.connect({"host": "h", "ip": "127.0.0.1"})
    script = textwrap.dedent("""
        import json, sys, volumelib
        volumelib.setup(fail_on_missing_backend=False)
        objs = volumelib.load(sys.stdin.read())
        print(json.dumps([o.json for o in objs]))
    """)
    payload = json.dumps([vol.json, snap.json, conn.json])
    out = subprocess.run([sys.executable, "-c", script], input=payload, text=True,
                         capture_output=True, check=True).stdout
    volumelib.setup(fail_on_missing_backend=False)
    back = volumelib.load(out)
    assert [type(o) for o in back] == [Volume, Snapshot, Connection]
    assert back[0] == vol and back[1] == snap
    assert back[2].connection_info["data"]["auth_password"] == "***"
    volumelib.setup()


def test_exception_tree():
    for name in exc.__all__:
        cls = getattr(exc, name)
        assert issubclass(cls, exc.VolumelibError)
        assert getattr(volumelib, name) is cls
    assert issubclass(exc.VolumeNotFound, exc.NotFound)
    assert issubclass(exc.HasSnapshots, exc.InvalidState)
    assert issubclass(exc.ConcurrentModification, exc.PersistenceError)
    e = exc.VolumeNotFound(volume_id="abc")
    assert e.volume_id == "abc" and "abc" in str(e)
    e = exc.BackendError(backend_name="b1", operation="create", reason="boom")
    assert e.backend_name == "b1" and "b1" in str(e)
