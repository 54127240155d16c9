"""Manage, unmanage, retype, migrate and drain through the public API, on the fake driver
(its blocks are real bytes in memory) and the memory store. The same on real files,
Ceph and loop filesystems, and the crash tests: tests/functional/test_manage_migrate.py
and tests/functional/test_crash_migrate.py."""

from __future__ import annotations

import gc
from typing import Any

import pytest

import volumelib
from volumelib import exceptions as exc
from volumelib.control.plane import ControlPlane
from volumelib.drivers.fake import FakeDriver
from volumelib.drivers.types import Capability
from volumelib.objects import intents

GiB = 1024 ** 3


class NoManage(FakeDriver):
    """The fake driver without the manage capabilities (a driver that has none)."""

    @property
    def capabilities(self) -> frozenset[Capability]:
        return super().capabilities - {Capability.MANAGE_EXISTING,
                                       Capability.MANAGE_EXISTING_SNAPSHOT}


@pytest.fixture
def two() -> Any:
    volumelib.setup()
    a = volumelib.Backend("fa", "fake")
    b = volumelib.Backend("fb", "fake", fake_capacity_gb=10, max_over_subscription_ratio=1)
    yield a, b
    a.close()
    b.close()


def world(*backends: Any) -> dict[str, Any]:
    """Everything a refused request must leave as it was: records, intent records,
    and each fake driver's objects and their bytes."""
    store = backends[0].persistence
    return {
        "volumes": sorted((v.id, v.status, v.backend_name, v.size, v.volume_type_id,
                           str(v.volume_type), v.name) for v in store.get_volumes()),
        "snapshots": sorted((s.id, s.status, s.volume_id) for s in store.get_snapshots()),
        "intents": sorted(kv.key for kv in store.get_key_values()),
        "storage": {b.id: (sorted((k, sorted(i.blocks.items())) for k, i in
                                  b.driver._volumes.items()),
                           sorted(b.driver._foreign), sorted(b.driver._snapshots),
                           sorted(b.driver._foreign_snaps))
                    for b in backends},
        "usage": store.usage_by_project(),
    }


# -- manage / unmanage ------------------------------------------------------------------

def test_manage_lists_adopts_and_rounds_up(two: Any) -> None:
    a, _ = two
    ref = a.driver.add_foreign_volume("legacy", 3 * GiB + 5, b"hello world")
    a.driver.add_foreign_volume("busy", GiB, in_use=True)
    listed = {m["reference"]["source-name"]: m for m in a.manageable_volumes()}
    assert listed["legacy"] == {"reference": ref, "size": 4, "safe_to_manage": True,
                                "reason_not_safe": None, "cinder_id": None,
                                "extra_info": None}
    assert listed["busy"]["safe_to_manage"] is False
    assert listed["busy"]["reason_not_safe"] == "in use"

    vol = a.manage(ref, name="adopted", volume_type={"multiattach": "<is> True"})
    assert (vol.status, vol.size, vol.name, vol.multiattach) == ("available", 4, "adopted",
                                                                  True)
    assert a.get_volume(vol.id).status == "available"
    assert a.driver.read(vol.id, 0, 11) == b"hello world"
    assert not a.persistence.get_key_values()  # the intent record is gone
    assert a.persistence.usage_by_project()[None]["gigabytes"] == 4
    listed = {m["reference"]["source-name"]: m for m in a.manageable_volumes()}
    assert "legacy" not in listed
    assert listed[f"volume-{vol.id}"]["cinder_id"] == vol.id
    assert listed[f"volume-{vol.id}"]["reason_not_safe"] == "already managed"


def test_manageable_paging(two: Any) -> None:
    a, _ = two
    for name in ("c", "a", "b", "d"):
        a.driver.add_foreign_volume(name, GiB)
    names = lambda page: [m["reference"]["source-name"] for m in page]  # noqa: E731
    assert names(a.manageable_volumes(limit=2)) == ["a", "b"]
    assert names(a.manageable_volumes(marker={"source-name": "b"}, limit=2)) == ["c", "d"]
    assert names(a.manageable_volumes(marker="c")) == ["d"]
    with pytest.raises(exc.InvalidArgument):
        a.manageable_volumes(limit=0)
    with pytest.raises(exc.InvalidArgument):
        a.manageable_volumes(sort_keys=["name"])


@pytest.mark.parametrize("reference, error", [
    ({"source-name": "no-such-object"}, exc.ReferenceNotFound),
    ({"source-nam": "legacy"}, exc.InvalidReference),
    ({"source-name": "legacy", "source-id": "x"}, exc.InvalidReference),
    ({"source-name": ""}, exc.InvalidReference),
    ("legacy", exc.InvalidReference),
    ({"source-name": "busy"}, exc.NotManageable),
])
def test_manage_bad_reference_changes_nothing(two: Any, reference: Any,
                                              error: type[Exception]) -> None:
    a, b = two
    a.driver.add_foreign_volume("legacy", GiB, b"data")
    a.driver.add_foreign_volume("busy", GiB, in_use=True)
    before = world(a, b)
    with pytest.raises(error) as caught:
        a.manage(reference, name="x")
    assert world(a, b) == before
    if error is exc.ReferenceNotFound:
        assert "no-such-object" in str(caught.value)


def test_manage_already_managed_and_unknown_type(two: Any) -> None:
    a, b = two
    vol = a.create_volume(1, name="mine")
    ref = a.driver.add_foreign_volume("legacy", GiB)
    before = world(a, b)
    with pytest.raises(exc.AlreadyManaged) as caught:
        a.manage({"source-name": f"volume-{vol.id}"})
    assert caught.value.id == vol.id
    with pytest.raises(exc.VolumeTypeNotFound):
        a.manage(ref, volume_type="no-such-type")
    with pytest.raises(exc.AlreadyExists):
        a.manage(ref, id=vol.id)
    assert world(a, b) == before


def test_manage_driver_failure_leaves_nothing(two: Any) -> None:
    volumelib.setup()
    a = volumelib.Backend("fail", "fake", fake_fail_on=["manage_existing"])
    try:
        ref = a.driver.add_foreign_volume("legacy", GiB, b"x")
        before = world(a)
        with pytest.raises(exc.BackendError):
            a.manage(ref)
        assert world(a) == before
    finally:
        a.close()


def test_unmanage_keeps_data_and_manage_again(two: Any) -> None:
    a, _ = two
    vol = a.create_volume(2, name="v")
    a.driver.write(vol.id, 4096, b"keep me")
    ref = vol.unmanage()
    assert ref == {"source-name": f"unmanaged-volume-{vol.id}"}
    assert vol.status == "deleted"
    assert not a.persistence.get_volumes(volume_id=vol.id)
    assert a.persistence.usage_by_project().get(None, {}).get("volumes", 0) == 0
    assert a.gc(older_than=0)["orphans"] == []  # not taken for an orphan
    again = a.manage(ref, name="again")
    assert again.id != vol.id and again.size == 2
    assert a.driver.read(again.id, 4096, 7) == b"keep me"


def test_unmanage_refusals_change_nothing(two: Any) -> None:
    a, b = two
    vol = a.create_volume(1)
    snap = vol.create_snapshot()
    with pytest.raises(exc.HasSnapshots):
        vol.unmanage()
    snap.delete()
    conn = vol.connect({"host": "h"})
    before = world(a, b)
    with pytest.raises(exc.VolumeInUse):
        vol.unmanage()
    assert world(a, b) == before
    conn.disconnect()
    volumelib.setup()
    c = volumelib.Backend("nomanage", NoManage)
    try:
        v = c.create_volume(1)
        with pytest.raises(exc.NotSupported):
            v.unmanage()
        assert c.get_volume(v.id).status == "available"
        with pytest.raises(exc.NotSupported):
            c.manage({"source-name": "x"})
    finally:
        c.close()


def test_snapshot_manage_and_unmanage(two: Any) -> None:
    a, _ = two
    vol = a.manage(a.driver.add_foreign_volume("legacy", GiB, b"v1"))
    ref = a.driver.add_foreign_snapshot(f"volume-{vol.id}", "nightly")
    listed = a.manageable_snapshots()
    assert listed[0]["reference"] == ref and listed[0]["safe_to_manage"]
    assert listed[0]["source_reference"] == {"source-name": f"volume-{vol.id}"}
    snap = a.manage_snapshot(ref, vol, name="nightly")
    assert (snap.status, snap.volume_id, snap.volume_size) == ("available", vol.id, 1)
    assert [s.id for s in vol.snapshots] == [snap.id]
    with pytest.raises(exc.ReferenceNotFound):
        a.manage_snapshot({"source-name": "nope"}, vol)
    with pytest.raises(exc.VolumeNotFound):
        a.manage_snapshot(ref, "00000000-0000-4000-8000-000000000000")
    back = snap.unmanage()
    assert back == {"source-name": f"unmanaged-snapshot-{snap.id}"}
    assert vol.snapshots == []


# -- migration --------------------------------------------------------------------------

def test_migrate_keeps_id_data_and_record(two: Any) -> None:
    a, b = two
    vol = a.create_volume(2, name="moving", metadata={"k": "v"})
    a.driver.write(vol.id, 5 * 4096, b"pattern" * 100)
    seen: list[tuple[str, float, float | None]] = []
    result = vol.migrate(b, progress=lambda *args: seen.append(args))
    assert result.method == "driver" and result.target == "fb"
    assert vol.backend_name == "fb" and vol.status == "available"
    stored = b.get_volume(vol.id)
    assert (stored.id, stored.name, stored.metadata, stored.size) == (vol.id, "moving",
                                                                      {"k": "v"}, 2)
    assert b.driver.read(vol.id, 5 * 4096, 700) == b"pattern" * 100
    assert vol.id not in a.driver._volumes
    assert a.volumes == [] and not a.persistence.get_key_values()
    assert seen and seen[-1][0] == "copy"
    vol.extend(3)  # usable on its new backend
    assert b.driver._volumes[vol.id].size == 3


def test_migrate_by_pool_name_needs_the_backend(two: Any) -> None:
    a, b = two
    vol = a.create_volume(1)
    vol.migrate("fb")  # live in this process
    assert vol.backend_name == "fb"
    with pytest.raises(exc.BackendNotFound) as caught:
        vol.migrate("nowhere")
    assert "nowhere" in str(caught.value)


def test_migrate_refusals_change_nothing(two: Any) -> None:
    a, b = two
    vol = a.create_volume(1)
    big = a.create_volume(20)
    attached = a.create_volume(1)
    conn = attached.connect({"host": "h"})
    with_snap = a.create_volume(1)
    with_snap.create_snapshot()
    typed = a.create_volume(1, volume_type={"volume_backend_name": "fa"})
    before = world(a, b)
    cases = [
        (lambda: vol.migrate(a), exc.InvalidArgument),
        (lambda: vol.migrate(42), exc.InvalidArgument),
        (lambda: big.migrate(b), exc.InsufficientCapacity),
        (lambda: attached.migrate(b), exc.VolumeInUse),
        (lambda: with_snap.migrate(b), exc.HasSnapshots),
        (lambda: typed.migrate(b), exc.NoValidBackend),
        (lambda: vol.migrate(b, force_host_copy=True), exc.NotSupported),
    ]
    for call, error in cases:
        with pytest.raises(error):
            call()
        assert world(a, b) == before, error
    conn.disconnect()


def test_migrate_failure_rolls_back(two: Any) -> None:
    volumelib.setup()
    a = volumelib.Backend("src", "fake", fake_fail_on=["migrate_volume"])
    b = volumelib.Backend("dst", "fake")
    try:
        vol = a.create_volume(1)
        a.driver.write(vol.id, 0, b"stay")
        before = world(a, b)
        with pytest.raises(exc.BackendError):
            vol.migrate(b)
        assert world(a, b) == before
        assert vol.status == "available" and vol.backend_name == "src"
    finally:
        a.close()
        b.close()


def test_migrate_source_delete_failure_is_finished_by_gc(two: Any) -> None:
    volumelib.setup()
    a = volumelib.Backend("src", "fake", fake_fail_on=["delete_volume"])
    b = volumelib.Backend("dst", "fake")
    try:
        vol = a.create_volume(1)
        result = vol.migrate(b)
        assert result.source_left and "fake failure" in result.source_left
        assert vol.backend_name == "dst" and vol.status == "available"
        assert vol.id in a.driver._volumes  # left behind, and known to the record
        assert a.gc(older_than=0)["orphans"] == []
        a.driver.config.fake_fail_on = []
        report = a.gc(older_than=0)
        assert [x["action"] for x in report["actions"]] == ["finish migration src -> dst"]
        assert vol.id not in a.driver._volumes
        assert not a.persistence.get_key_values()
    finally:
        a.close()
        b.close()


def test_gc_rolls_back_or_finishes_an_interrupted_migration(two: Any) -> None:
    """The states a crash leaves (made by hand here; tests/functional/test_crash_migrate.py
    SIGKILLs real processes): before the switch gc rolls back, after it gc finishes."""
    a, b = two
    store = a.persistence
    vol = a.create_volume(1)
    for switched in (False, True):
        intents.save(store, intents.migration_key(vol.id),
                     {"volume_id": vol.id, "source": "fa", "target": "fb",
                      "source_provider": {}, "target_preexisted": False, "retype": None})
        vol.previous_status, vol.status = "available", "migrating"
        vol.save()
        a.driver.migrate_volume(vol.info(), b.driver)
        if switched:
            vol.backend_name = "fb"
            vol.save()
        report = (b if switched else a).gc(older_than=0)
        action = "finish" if switched else "roll back"
        assert [x["action"] for x in report["actions"]] == [f"{action} migration fa -> fb"]
        vol = store.get_volumes(volume_id=vol.id)[0]
        assert vol.status == "available"
        home = b if switched else a
        assert vol.backend_name == home.id
        assert set(a.driver._volumes) | set(b.driver._volumes) == {vol.id}
        assert vol.id in home.driver._volumes
        assert not store.get_key_values()
        vol._bind(a)


# -- retype -------------------------------------------------------------------------------

def test_retype_in_place_sets_type_and_qos(two: Any) -> None:
    a, b = two
    cp = ControlPlane()
    gold = cp.create_volume_type("gold", extra_specs={"thin": "<is> True"},
                                 qos_specs={"total_iops_sec": "500"})
    vol = a.create_volume(1)
    assert vol.retype("gold") is None
    assert (vol.volume_type_id, vol.backend_name) == (gold.id, "fa")
    assert a.driver.qos_of(vol.id) == {"total_iops_sec": "500"}
    assert vol.retype("gold") is None  # the same type again: nothing to do


def test_retype_needing_migration(two: Any) -> None:
    a, b = two
    cp = ControlPlane()
    pinned = cp.create_volume_type("on-b", extra_specs={"volume_backend_name": "fb"})
    vol = a.create_volume(1)
    a.driver.write(vol.id, 0, b"data")
    before = world(a, b)
    with pytest.raises(exc.MigrationRequired) as caught:
        vol.retype("on-b")
    assert "fb" in str(caught.value) and caught.value.policy == "never"
    with pytest.raises(exc.VolumeTypeNotFound):
        vol.retype("no-such-type", migration_policy="on-demand")
    with pytest.raises(exc.InvalidArgument):
        vol.retype("on-b", migration_policy="sometimes")
    assert world(a, b) == before
    result = vol.retype("on-b", migration_policy="on-demand")
    assert result is not None and result.target == "fb"
    assert (vol.backend_name, vol.volume_type_id) == ("fb", pinned.id)
    assert b.get_volume(vol.id).volume_type_id == pinned.id
    assert b.driver.read(vol.id, 0, 4) == b"data"


def test_retype_when_the_driver_cannot_adjust_in_place() -> None:
    # On-demand placement looks at every live backend of the process on this store;
    # backends earlier tests left unreferenced (in cycles) must not be among them.
    gc.collect()
    volumelib.setup()
    a = volumelib.Backend("stiff", "fake", fake_retype_in_place=False)
    b = volumelib.Backend("other", "fake")
    try:
        vol = a.create_volume(1)
        with pytest.raises(exc.MigrationRequired):
            vol.retype({"thin": "<is> True"})
        assert a.get_volume(vol.id).volume_type == {}
        vol.retype({"thin": "<is> True"}, migration_policy="on-demand")
        assert vol.backend_name == "other" and vol.volume_type == {"thin": "<is> True"}
    finally:
        a.close()
        b.close()


def test_retype_on_demand_without_any_fitting_backend(two: Any) -> None:
    a, b = two
    vol = a.create_volume(1)
    before = world(a, b)
    with pytest.raises(exc.NoValidBackend):
        vol.retype({"storage_protocol": "<in> iSCSI"}, migration_policy="on-demand")
    assert world(a, b) == before


# -- control plane: pool names and drain ------------------------------------------------------

def test_drain_moves_every_movable_volume() -> None:
    volumelib.setup()
    with ControlPlane() as cp:
        cp.add_pool("old", "fake")
        cp.add_pool("new1", "fake", weight=2)
        cp.add_pool("new2", "fake")
        old = cp.backend("old")
        vols = [old.create_volume(1, name=f"v{i}") for i in range(3)]
        old.driver.write(vols[0].id, 0, b"first")
        attached = old.create_volume(1, name="attached")
        conn = attached.connect({"host": "h"})
        pinned = old.create_volume(1, volume_type={"volume_backend_name": "old"})
        report = cp.drain("old")
        assert sorted(m["volume_id"] for m in report["moved"]) == sorted(v.id for v in vols)
        assert {m["target"] for m in report["moved"]} == {"new1"}
        assert set(report["failed"]) == {attached.id, pinned.id}
        assert "VolumeInUse" in report["failed"][attached.id]
        assert "NoValidBackend" in report["failed"][pinned.id]
        assert report["remaining"] == 2
        assert cp.get_pool("old").weight == 0
        assert cp.backend("new1").driver.read(vols[0].id, 0, 5) == b"first"
        conn.disconnect()
        # A volume from the control plane finds pools by name.
        moved = cp.get_volume(vols[1].id)
        moved.migrate("new2")
        assert cp.get_volume(vols[1].id).backend_name == "new2"
        with pytest.raises(exc.PoolNotFound):
            moved.migrate("no-such-pool")
        with pytest.raises(exc.PoolNotFound):
            cp.drain("no-such-pool")
