"""What ``volumelib.load()`` gives against the current store: a new object, one bound
to the stored row, or a stale copy (docs/objects.md, "Serialization")."""

from __future__ import annotations

import json

import pytest

import volumelib
from volumelib import exceptions as exc


@pytest.fixture
def backend():
    volumelib.setup()
    b = volumelib.Backend("bind", "fake")
    yield b
    b.close()
    volumelib.setup()


def test_loading_an_unknown_object_gives_a_new_one(backend):
    vol = backend.create_volume(1)
    data = vol.jsons
    volumelib.setup()                       # another, empty store
    loaded = volumelib.load(data)
    assert loaded.id == vol.id and loaded.__dict__.get("_db_version") is None
    loaded.save()                           # inserted
    assert volumelib.get_persistence().get_volumes(volume_id=vol.id)


def test_loading_a_stored_object_binds_it_to_the_row(backend):
    vol = backend.create_volume(1, metadata={"a": "1"})
    loaded = volumelib.load(vol.jsons)
    loaded.metadata["b"] = "2"
    loaded.save()                           # used to raise AlreadyExists
    vol.refresh()
    assert vol.metadata == {"a": "1", "b": "2"}
    loaded.extend(2)                        # and it can be operated on
    assert backend.get_volume(vol.id).size == 2


def test_a_bound_connection_gets_its_secrets_from_the_row(backend):
    vol = backend.create_volume(1)
    conn = vol.connect({"host": "node-1"})
    conn.connection_info = {"driver_volume_type": "iscsi",
                            "data": {"auth_password": "s3cret-pass", "target_lun": 0}}
    conn.save()
    data = conn.jsons
    assert "s3cret-pass" not in data
    loaded = volumelib.load(data)
    assert loaded.connection_info["data"]["auth_password"] == "s3cret-pass"
    assert loaded.__dict__.get("_db_version") == conn.__dict__.get("_db_version")


def test_a_stale_copy_refuses_to_save(backend):
    vol = backend.create_volume(1, metadata={"a": "1"})
    stale = vol.jsons
    vol.metadata["a"] = "changed"
    vol.save()
    loaded = volumelib.load(stale)
    assert loaded.metadata == {"a": "1"}    # the JSON's values
    loaded.description = "mine"
    with pytest.raises(exc.ConcurrentModification):
        loaded.save()
    assert backend.get_volume(vol.id).description is None
    loaded.refresh()                        # the retry the error asks for
    loaded.description = "mine"
    loaded.save()
    assert backend.get_volume(vol.id).description == "mine"


@pytest.mark.parametrize("changes", [[["size"]], "size", [1], {"size": 1}])
def test_malformed_changes_are_invalid_payload(backend, changes):
    data = backend.create_volume(1).json
    data["ovo"]["versioned_object.changes"] = changes
    with pytest.raises(exc.InvalidPayload, match="changes"):
        volumelib.load(json.dumps(data))
