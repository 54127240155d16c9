"""Group operations on the fake driver: native vs fallback, partial failures, rules applied."""

from __future__ import annotations

import uuid

import pytest

import volumelib
from volumelib import exceptions as exc


@pytest.fixture(autouse=True)
def fresh_store():
    volumelib.setup()
    yield
    volumelib.setup()


def _group(backend, n=2):
    vols = [backend.create_volume(1, name=f"v{i}") for i in range(n)]
    return backend.create_group(volumes=vols), vols


def test_fallback_snapshot_is_reported_not_consistent():
    b = volumelib.Backend("fb", "fake", fake_native_groups=False)
    group, vols = _group(b)
    gs = group.create_snapshot()
    assert gs.consistent is False and gs.status == "available"
    native = volumelib.Backend("nat", "fake")
    group2, _ = _group(native)
    assert group2.create_snapshot().consistent is True


def test_fallback_partial_failure_lifts_group_snapshot_to_error():
    b = volumelib.Backend("partial", "fake", fake_native_groups=False)
    group, (ok, bad) = _group(b)
    b.driver.config.fake_fail_volumes = [bad.id]
    with pytest.raises(exc.BackendError) as info:
        group.create_snapshot(name="half")
    assert "1 of 2" in str(info.value)
    [gs] = group.group_snapshots
    assert gs.status == "error" and gs.consistent is False
    statuses = {s.volume_id: s.status for s in gs.snapshots}
    assert statuses == {ok.id: "available", bad.id: "error"}
    b.driver.config.fake_fail_volumes = []
    gs.delete()  # an errored group snapshot can be deleted
    assert group.group_snapshots == []


@pytest.mark.parametrize("op", ["create_cgsnapshot", "create_consistencygroup_from_src",
                                "delete_consistencygroup"])
def test_native_exception_leaves_nothing_transitional(op):
    b = volumelib.Backend("boom", "fake")
    group, vols = _group(b)
    gs = group.create_snapshot()
    b.driver.config.fake_fail_on = [op]
    with pytest.raises(exc.BackendError) as info:
        if op == "create_cgsnapshot":
            group.create_snapshot()
        elif op == "create_consistencygroup_from_src":
            b.create_group_from_src(group_snapshot=gs)
        else:
            gs.delete()
            group.delete(delete_volumes=True)
    assert isinstance(info.value.__cause__, RuntimeError)
    store = volumelib.get_persistence()
    transitional = {"creating", "deleting", "updating"}
    everything = (store.get_volumes() + store.get_snapshots() + store.get_groups()
                  + store.get_group_snapshots())
    assert not [o for o in everything if o.status in transitional]
    assert [o for o in everything if o.status == "error"]


def test_native_model_update_error_from_src_is_honoured():
    class Lying(volumelib.drivers.fake.FakeDriver):  # a driver that reports failure
        name = "lying"

        def create_consistencygroup_from_src(self, *args, **kwargs):
            super().create_consistencygroup_from_src(*args, **kwargs)
            return {"status": "error"}, None

    b = volumelib.Backend("lying", Lying)
    group, _ = _group(b)
    gs = group.create_snapshot()
    with pytest.raises(exc.BackendError):
        b.create_group_from_src(group_snapshot=gs)
    [new] = [g for g in b.groups if g.id != group.id]
    assert new.status == "error"
    assert {v.status for v in new.volumes} == {"error"}


def test_foreign_backend_volume_refused():
    a = volumelib.Backend("a", "fake")
    other = volumelib.Backend("b", "fake")
    group = a.create_group()
    foreign = other.create_volume(1)
    with pytest.raises(exc.InvalidArgument) as info:
        group.update(add_volumes=[foreign])
    assert foreign.id in str(info.value)
    assert group.volumes == [] and other.get_volume(foreign.id).group_id is None


def test_from_src_sizes_and_order():
    b = volumelib.Backend("order", "fake")
    vols = [b.create_volume(s) for s in (3, 1, 2)]
    group = b.create_group(volumes=vols)
    copy = b.create_group_from_src(source_group=group)
    by_source = {v.source_volid: v.size for v in copy.volumes}
    assert by_source == {v.id: v.size for v in vols}


def test_group_from_unavailable_source_refused():
    b = volumelib.Backend("unavail", "fake")
    group, vols = _group(b)
    gs = group.create_snapshot()
    gs.status = "error"
    gs.save()
    before = len(b.groups)
    with pytest.raises(exc.InvalidState):
        b.create_group_from_src(group_snapshot=gs)
    with pytest.raises(exc.GroupSnapshotNotFound):
        b.create_group_from_src(group_snapshot=str(uuid.uuid4()))
    assert len(b.groups) == before


def test_groups_persist_in_sql_store(tmp_path):
    url = f"sqlite:///{tmp_path / 'g.sqlite'}"
    volumelib.setup(persistence_config={"storage": "dbms", "connection": url})
    b = volumelib.Backend("sqlg", "fake")
    group, vols = _group(b, 3)
    gs = group.create_snapshot()
    volumelib.setup(persistence_config={"storage": "dbms", "connection": url})
    again = b.get_group(group.id)
    assert sorted(v.id for v in again.volumes) == sorted(v.id for v in vols)
    loaded = b.get_group_snapshot(gs.id)
    assert loaded.consistent is True and len(loaded.snapshots) == 3
    volumelib.get_persistence().close()


# -- operation leases: a group operation and its members' ----------------------------------

def _from_other_thread(func):
    """Run ``func`` in another thread (another caller: its own call stack, no lease
    of ours to re-enter); return what it raised, or None."""
    import threading
    out = {}

    def run():
        try:
            func()
        except Exception as e:  # noqa: BLE001 - handed to the test
            out["error"] = e

    t = threading.Thread(target=run)
    t.start()
    t.join()
    return out.get("error")


def _at(point, func):
    """Call ``func`` once at checkpoint ``point``; returns what it raised (list)."""
    from volumelib import checkpoints
    seen = []

    def hook(name):
        if name == point and not seen:
            seen.append(_from_other_thread(func))

    checkpoints.set_checkpoint_hook(hook)
    return seen


@pytest.fixture
def no_hook():
    from volumelib import checkpoints
    yield
    checkpoints.set_checkpoint_hook(None)


@pytest.mark.parametrize("point, op", [
    ("group_snapshot.create.intent_stored", lambda g: g.create_snapshot()),
    ("group.update.intent_stored", lambda g: g.update(remove_volumes=[g.volumes[0]])),
    ("group.delete.intent_stored", lambda g: g.delete(delete_volumes=True)),
])
def test_member_volumes_are_busy_during_group_operations(no_hook, point, op):
    b = volumelib.Backend("leased", "fake")
    group, vols = _group(b)
    seen = _at(point, lambda: b.get_volume(vols[0].id).extend(2))
    try:
        op(group)
    except exc.VolumelibError:
        pass
    assert len(seen) == 1 and isinstance(seen[0], exc.ResourceBusy), seen
    assert seen[0].retryable
    assert volumelib.leases().get(vols[0].id) is None  # released at the end


def test_group_is_busy_during_its_snapshot(no_hook):
    b = volumelib.Backend("leased", "fake")
    group, _ = _group(b)
    seen = _at("group_snapshot.create.intent_stored",
               lambda: b.get_group(group.id).create_snapshot(name="second"))
    gs = group.create_snapshot(name="first")
    assert isinstance(seen[0], exc.ResourceBusy) and group.id in str(seen[0])
    assert [g.id for g in group.group_snapshots] == [gs.id]  # the second stored nothing


def test_member_snapshots_busy_during_group_snapshot_delete(no_hook):
    b = volumelib.Backend("leased", "fake")
    group, _ = _group(b)
    gs = group.create_snapshot()
    member = gs.snapshots[0]
    seen = _at("group_snapshot.delete.intent_stored",
               lambda: b.persistence.get_snapshots(snapshot_id=member.id)[0].create_volume())
    gs.delete()
    assert isinstance(seen[0], exc.ResourceBusy) and member.id in str(seen[0])


def test_source_volumes_busy_during_group_from_source(no_hook):
    b = volumelib.Backend("leased", "fake")
    group, vols = _group(b)
    seen = _at("group.create_from_src.intent_stored",
               lambda: b.get_volume(vols[1].id).delete())
    new = b.create_group_from_src(source_group=group)
    assert isinstance(seen[0], exc.ResourceBusy) and vols[1].id in str(seen[0])
    assert len(new.volumes) == 2 and b.get_volume(vols[1].id).status == "available"


def test_group_operation_refused_while_a_member_is_leased():
    b = volumelib.Backend("leased", "fake")
    group, vols = _group(b)
    leases = volumelib.leases()
    with leases.as_holder("someone-else"):
        leases.acquire(vols[1], ttl=60)
    with pytest.raises(exc.ResourceBusy) as info:
        group.create_snapshot()
    assert info.value.holder == "someone-else"
    assert group.group_snapshots == [] and b.persistence.get_snapshots() == []
    assert leases.get(group) is None and leases.get(vols[0]) is None  # given back
    with pytest.raises(exc.ResourceBusy):
        group.delete(delete_volumes=True)
    assert b.get_group(group.id).status == "available"
    assert {v.status for v in group.volumes} == {"available"}
