"""Idempotent create-by-name (``create_volume(..., idempotent=True)``): the rules on
memory and a SQLite file, and real processes racing on a SQLite file and PostgreSQL."""

from __future__ import annotations

import os

import pytest

import volumelib
from tests.functional.dbfixtures import pg_server, pg_url, sqlite_url  # noqa: F401
from tests.functional.test_leases import children, errors, pool, store, url  # noqa: F401
from volumelib import exceptions as exc
from volumelib.persistence.dbms.store import DBPersistence
from volumelib.persistence.memory import MemoryPersistence


@pytest.fixture(params=["memory", "sqlite"])
def local_store(request, tmp_path):
    s = (MemoryPersistence() if request.param == "memory"
         else DBPersistence(f"sqlite:///{tmp_path / 'i.sqlite'}"))
    volumelib.setup(persistence_config={"storage": s}, project_id="tenant-1")
    yield s
    volumelib.setup()
    s.close()


@pytest.fixture
def backend(local_store):
    b = volumelib.Backend("plugin", "fake", persistence=local_store)
    yield b
    b.close()


def test_same_parameters_return_the_existing_volume(backend, local_store):
    first = backend.create_volume(2, name="pvc-1", metadata={"k": "v"},
                                  volume_type={"thin": "<is> True"}, idempotent=True)
    again = backend.create_volume(2, name="pvc-1", metadata={"k": "v"},
                                  volume_type={"thin": "<is> True"}, idempotent=True)
    assert again.id == first.id and again.status == "available"
    assert again.backend is backend
    assert len(local_store.get_volumes()) == 1
    assert local_store.get_leases() == []  # the name lease is gone


@pytest.mark.parametrize("change, field", [
    ({"size": 3}, "size"), ({"metadata": {"k": "other"}}, "metadata"),
    ({"description": "else"}, "description"),
    ({"volume_type": {"thin": "<is> False"}}, "volume_type"),
    ({"multiattach": True}, "multiattach"),
])
def test_different_parameters_raise_name_conflict(backend, local_store, change, field):
    first = backend.create_volume(2, name="pvc-2", metadata={"k": "v"},
                                  volume_type={"thin": "<is> True"}, idempotent=True)
    wanted = {"size": 2, "metadata": {"k": "v"}, "volume_type": {"thin": "<is> True"}}
    wanted.update(change)
    with pytest.raises(exc.NameConflict) as info:
        backend.create_volume(name="pvc-2", idempotent=True, **wanted)
    e = info.value
    assert isinstance(e, exc.AlreadyExists) and e.volume_id == first.id
    assert field in e.differences and set(e.differences[field]) == {"existing", "requested"}
    assert "pvc-2" in str(e) and "tenant-1" in str(e) and field in str(e)
    assert [v.id for v in local_store.get_volumes()] == [first.id]


def test_another_backend_or_id_is_a_conflict(backend, local_store):
    first = backend.create_volume(1, name="pvc-3", idempotent=True)
    other = volumelib.Backend("plugin-2", "fake", persistence=local_store)
    try:
        with pytest.raises(exc.NameConflict, match="backend_name"):
            other.create_volume(1, name="pvc-3", idempotent=True)
    finally:
        other.close()
    with pytest.raises(exc.NameConflict, match="id"):
        backend.create_volume(1, name="pvc-3", idempotent=True,
                              id="00000000-0000-4000-8000-000000000001")
    assert backend.create_volume(1, name="pvc-3", idempotent=True, id=first.id).id == first.id


def test_names_are_per_project_and_deleted_volumes_do_not_count(backend, local_store):
    mine = backend.create_volume(1, name="data", idempotent=True)
    volumelib.setup(persistence_config={"storage": local_store}, project_id="tenant-2")
    theirs = backend.create_volume(1, name="data", idempotent=True)
    assert theirs.id != mine.id and theirs.project_id == "tenant-2"
    theirs.delete()
    again = backend.create_volume(1, name="data", idempotent=True)
    assert again.id not in (mine.id, theirs.id)


def test_bad_idempotent_requests_change_nothing(backend, local_store):
    with pytest.raises(exc.InvalidName, match="needs a name"):
        backend.create_volume(1, idempotent=True)
    with pytest.raises(exc.InvalidArgument, match="image"):
        backend.create_volume(1, name="x", image="/nonexistent.img", idempotent=True)
    with pytest.raises(exc.InvalidSize):
        backend.create_volume(0, name="x", idempotent=True)
    assert local_store.get_volumes() == [] and local_store.get_leases() == []


def test_without_idempotent_names_may_repeat(backend, local_store):
    a = backend.create_volume(1, name="dup")
    b = backend.create_volume(1, name="dup")
    assert a.id != b.id
    # idempotent now returns the oldest one
    assert backend.create_volume(1, name="dup", idempotent=True).id == a.id


# -- real processes racing -------------------------------------------------------------------

CREATE = ("result = backend.create_volume(spec.get('size', 1), name='pvc-race', "
          "idempotent=True).id")


def test_racing_creates_of_one_name_end_with_one_volume(children, store, pool):
    outs = children.race([CREATE] * 5, root=pool, project="tenant-r")
    assert errors(outs) == ["ok"] * 5, outs
    assert len({o["ok"] for o in outs}) == 1  # every caller got the same volume
    [vol] = store.get_volumes()
    assert (vol.id, vol.name, vol.project_id, vol.status) == \
        (outs[0]["ok"], "pvc-race", "tenant-r", "available")
    assert os.listdir(os.path.join(pool, "volumes")) == [f"volume-{vol.id}"]


def test_racing_creates_with_different_sizes(children, store, pool):
    codes = [CREATE.replace("spec.get('size', 1)", str(size)) for size in (1, 1, 2, 2)]
    outs = children.race(codes, root=pool, project="tenant-r")
    [vol] = store.get_volumes()
    for size, out in zip((1, 1, 2, 2), outs):
        if size == vol.size:
            assert out == {"ok": vol.id}
        else:
            assert out["error"] == "NameConflict" and "size" in out["message"]
