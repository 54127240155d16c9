"""ControlPlane on the memory store with fake-driver pools: pools, types, placement,
catalogue, health, gc. (Real filesystems and SQL: tests/functional/test_control_plane.py.)
"""

from __future__ import annotations

import pytest

import volumelib
from volumelib import exceptions as exc
from volumelib.control.health import PROBE_STEPS
from volumelib.control.plane import ControlPlane
from volumelib.persistence.memory import MemoryPersistence


@pytest.fixture
def store():
    s = MemoryPersistence()
    yield s
    s.close()


@pytest.fixture
def cp(store):
    plane = ControlPlane(persistence=store)
    yield plane
    plane.close()


def volumes_on(cp, pool):
    return sorted(v.id for v in cp.persistence.get_volumes(backend_name=pool))


# -- pools ----------------------------------------------------------------------------

def test_add_pool_stores_config_and_capabilities(cp, store):
    pool = cp.add_pool("a", "fake", weight=2, description="first", fake_capacity_gb=50,
                       fake_native_groups=False)
    assert pool.name == "a" and pool.weight == 2.0 and pool.enabled
    stored = store.get_pools(pool_name="a")[0]
    assert stored.volume_driver == "fake"
    assert stored.driver_config == {"fake_capacity_gb": 50, "fake_native_groups": False}
    assert "thin" in stored.capabilities and "multiattach" in stored.capabilities
    assert "consistent_group_snapshot" not in stored.capabilities
    cp.add_pool("b", "fake")
    assert [p.name for p in cp.pools()] == ["a", "b"]
    assert cp.backend("a") is cp.backend("a")
    assert cp.backend("a").id == "a"


@pytest.mark.parametrize("args, kwargs, error", [
    (("a", "no-such-driver"), {}, exc.DriverNotFound),
    (("a", "fake"), {"no_such_option": 1}, exc.UnknownOption),
    (("a", "fake"), {"fake_capacity_gb": 0}, exc.InvalidConfig),
    (("a", "fake"), {"fake_fail_on": ["do_setup"]}, exc.BackendError),
    (("a", "fake"), {"weight": -1}, exc.InvalidArgument),
    (("a", "fake"), {"weight": float("nan")}, exc.InvalidArgument),
    (("a", "fake"), {"weight": "2"}, exc.InvalidArgument),
    (("", "fake"), {}, exc.InvalidName),
    (("a/b", "fake"), {}, exc.InvalidName),
    (("a", "fake"), {"volume_backend_name": "x"}, exc.InvalidArgument),
    (("a", "fake"), {"fake_fail_on": {1, 2}}, exc.InvalidArgument),
])
def test_bad_pools_are_refused_and_nothing_is_stored(cp, store, args, kwargs, error):
    with pytest.raises(error):
        cp.add_pool(*args, **kwargs)
    assert store.get_pools() == []


def test_setup_failure_carries_the_drivers_error(cp):
    with pytest.raises(exc.BackendError, match="fake failure injected in do_setup"):
        cp.add_pool("a", "fake", fake_fail_on=["do_setup"])


def test_duplicate_pool(cp, store):
    cp.add_pool("a", "fake", fake_capacity_gb=10)
    with pytest.raises(exc.AlreadyExists, match="a"):
        cp.add_pool("a", "fake", fake_capacity_gb=99)
    assert store.get_pools()[0].driver_config == {"fake_capacity_gb": 10}


def test_weight_and_enabled_updates(cp):
    cp.add_pool("a", "fake")
    assert cp.set_pool_weight("a", 0).weight == 0.0
    assert cp.get_pool("a").weight == 0.0
    assert cp.set_pool_enabled("a", False).enabled is False
    with pytest.raises(exc.InvalidArgument):
        cp.set_pool_weight("a", -0.5)
    with pytest.raises(exc.PoolNotFound, match="nope"):
        cp.set_pool_weight("nope", 1)
    assert cp.get_pool("a").weight == 0.0


def test_backend_is_rebuilt_when_another_process_changes_the_config(cp, store):
    cp.add_pool("a", "fake", fake_capacity_gb=10)
    first = cp.backend("a")
    pool = store.get_pools(pool_name="a")[0]
    pool.driver_config = {"fake_capacity_gb": 20}
    store.set_pool(pool)
    second = cp.backend("a")
    assert second is not first and second.driver.config.fake_capacity_gb == 20
    assert not first.driver.is_alive()  # the old one was closed


def test_backend_of_unknown_pool(cp):
    with pytest.raises(exc.PoolNotFound, match="ghost"):
        cp.backend("ghost")


# -- placement through the control plane ---------------------------------------------------

def test_weight_orders_and_zero_drains(cp):
    cp.add_pool("a", "fake", weight=1)
    cp.add_pool("b", "fake", weight=5)
    v1 = cp.create_volume(1, name="one")
    assert v1.backend_name == "b" and v1.backend.id == "b"
    cp.set_pool_weight("b", 0)
    v2 = cp.create_volume(1, name="two")
    assert v2.backend_name == "a"
    cp.set_pool_enabled("a", False)
    with pytest.raises(exc.NoValidBackend) as info:
        cp.create_volume(1)
    assert info.value.reasons["a"].startswith("enabled:")
    assert info.value.reasons["b"].startswith("weight:")
    assert volumes_on(cp, "a") == [v2.id] and volumes_on(cp, "b") == [v1.id]


def test_pinned_type_reaches_a_drained_pool(cp, store):
    cp.add_pool("a", "fake", weight=0)
    cp.add_pool("b", "fake")
    vtype = cp.create_volume_type("only-a", pools=["a"])
    assert vtype.extra_specs["volume_backend_name"] == "a"
    assert cp.create_volume(1, volume_type="only-a").backend_name == "a"
    assert cp.create_volume(1).backend_name == "b"
    both = cp.create_volume_type("ab", pools=["a", "b"])
    assert both.extra_specs["volume_backend_name"] == "<or> a <or> b"
    assert cp.create_volume(1, volume_type=both).backend_name == "b"


def test_capabilities_pick_the_pool(cp):
    cp.add_pool("plain", "fake", fake_native_groups=False, weight=10)
    cp.add_pool("cg", "fake")
    cp.create_volume_type("consistent", {"consistent_group_snapshot_enabled": "<is> True"})
    vol = cp.create_volume(1, volume_type="consistent")
    assert vol.backend_name == "cg"
    assert vol.volume_type_id == cp.get_volume_type("consistent").id
    assert cp.create_volume(1, volume_type={"multiattach": "<is> True"}).backend_name \
        == "plain"
    with pytest.raises(exc.NoValidBackend) as info:
        cp.create_volume(1, volume_type={"reflink": "<is> True"})
    assert set(info.value.reasons) == {"plain", "cg"}
    assert all("reflink" in r for r in info.value.reasons.values())


def test_capacity_fills_one_pool_then_the_next(cp):
    cp.add_pool("small", "fake", weight=2, fake_capacity_gb=3,
                max_over_subscription_ratio=1.0)
    cp.add_pool("big", "fake", fake_capacity_gb=100, max_over_subscription_ratio=1.0)
    placed = [cp.create_volume(1).backend_name for _ in range(5)]
    assert placed == ["small"] * 3 + ["big"] * 2
    with pytest.raises(exc.NoValidBackend) as info:
        cp.create_volume(101)
    assert "over max_over_subscription_ratio" in info.value.reasons["small"]
    assert info.value.reasons["big"].startswith("capacity:")


def test_pool_name_pattern(cp):
    for name in ("ssd-1", "ssd-2", "hdd-1"):
        cp.add_pool(name, "fake")
    cp.create_volume_type("ssd", {"pool_name_pattern": "ssd-*"})
    placed = {cp.create_volume(1, volume_type="ssd").backend_name for _ in range(4)}
    assert placed <= {"ssd-1", "ssd-2"}


def test_place_shows_the_ranking_without_creating(cp, store):
    cp.add_pool("a", "fake", weight=1)
    cp.add_pool("b", "fake", weight=2)
    assert [c.name for c in cp.place(1)] == ["b", "a"]
    assert store.get_volumes() == []


def test_no_pools(cp):
    with pytest.raises(exc.NoValidBackend, match="no pool is registered"):
        cp.create_volume(1)


@pytest.mark.parametrize("kwargs, error", [
    ({"size": 0}, exc.InvalidSize),
    ({"size": 1, "name": "a/b"}, exc.InvalidName),
    ({"size": 1, "volume_type": "no-such-type"}, exc.NotFound),
    ({"size": 1, "volume_type": 7}, exc.InvalidArgument),
    ({"size": 1, "volume_type": {"thin": "<is> maybe"}}, exc.InvalidArgument),
])
def test_bad_create_changes_nothing(cp, store, kwargs, error):
    cp.add_pool("a", "fake")
    with pytest.raises(error):
        cp.create_volume(**kwargs)
    assert store.get_volumes() == []


# -- volume types ---------------------------------------------------------------------------

def test_type_pools_must_match(cp, store):
    cp.add_pool("plain", "fake", fake_native_groups=False)
    cp.add_pool("cg", "fake")
    specs = {"consistent_group_snapshot_enabled": "<is> True"}
    with pytest.raises(exc.InvalidArgument, match="'plain'.*consistent_group_snapshot"):
        cp.create_volume_type("cg", specs, pools=["cg", "plain"])
    with pytest.raises(exc.PoolNotFound, match="ghost"):
        cp.create_volume_type("cg", specs, pools=["ghost"])
    with pytest.raises(exc.InvalidArgument, match="pool_name"):
        cp.create_volume_type("cg", {"pool_name_pattern": "x*"}, pools=["cg"])
    with pytest.raises(exc.InvalidArgument, match="contradicts"):
        cp.create_volume_type("cg", {"volume_backend_name": "plain"}, pools=["cg"])
    with pytest.raises(exc.InvalidArgument):
        cp.create_volume_type("cg", specs, pools="cg")
    assert store.get_volume_types() == []
    vtype = cp.create_volume_type("cg", specs, qos_specs={"total_iops_sec": "500"},
                                  pools=["cg"], description="consistent")
    assert vtype.qos_specs == {"total_iops_sec": "500"}
    with pytest.raises(exc.AlreadyExists):
        cp.create_volume_type("cg")
    assert [t.name for t in cp.volume_types()] == ["cg"]
    assert cp.get_volume_type(vtype.id).name == "cg"
    cp.delete_volume_type("cg")
    assert cp.volume_types() == []


# -- the catalogue ---------------------------------------------------------------------------

def test_get_volume_finds_the_pool(cp, store):
    cp.add_pool("a", "fake")
    cp.add_pool("b", "fake", weight=3)
    vol = cp.create_volume(2, name="data")
    other = ControlPlane(persistence=store)
    try:
        found = other.get_volume(vol.id)
        assert found.backend_name == "b" and found.backend.id == "b"
        assert found.backend is other.backend("b")
    finally:
        other.close()
    # (the fake driver keeps its data per Backend object, so the data path is
    # exercised through the control plane that created it; across processes on real
    # storage: tests/functional/test_control_plane.py)
    found = cp.get_volume(vol.id)
    snap = found.create_snapshot(name="s")
    assert snap.volume_id == vol.id and found.snapshots[0].id == snap.id
    with pytest.raises(exc.VolumeNotFound):
        cp.get_volume("5b0f4cbb-4ad0-4d0e-9d35-c0fa1a0a8d11")
    with pytest.raises(exc.InvalidId):
        cp.get_volume("not-a-uuid")


def test_remove_pool(cp, store):
    cp.add_pool("a", "fake")
    vol = cp.create_volume(1)
    with pytest.raises(exc.InvalidState, match="holding 1 volume"):
        cp.remove_pool("a")
    assert [p.name for p in cp.pools()] == ["a"]
    cp.remove_pool("a", force=True)
    assert cp.pools() == []
    with pytest.raises(exc.PoolNotFound, match="'?a'?"):
        cp.get_volume(vol.id)
    report = cp.gc()
    assert report["unknown_pool_records"] == [
        {"kind": "volume", "id": vol.id, "pool": "a", "status": "available"}]
    with pytest.raises(exc.PoolNotFound):
        cp.remove_pool("a")
    cp.add_pool("b", "fake")
    cp.remove_pool("b")  # empty: no force needed
    assert cp.pools() == []


def test_listing_and_counts_across_pools(cp):
    cp.add_pool("a", "fake")
    cp.add_pool("b", "fake")
    made = [cp.create_volume(1, name=f"data_{i}", volume_type={"volume_backend_name":
                                                               "ab"[i % 2]})
            for i in range(4)]
    cp.create_volume(3, name="dataX")
    items, marker = cp.list_volumes(filters={"name^": "data_"}, limit=3)
    assert [v.name for v in items] == ["data_0", "data_1", "data_2"] and marker
    assert [v.backend.id for v in items] == ["a", "b", "a"]
    items, marker = cp.list_volumes(filters={"name^": "data_"}, marker=marker)
    assert [v.id for v in items] == [made[3].id] and marker is None
    assert cp.count_volumes(filters={"name~": "_"}) == 4
    assert cp.count_volumes(pool="b") == 2 + (cp.get_volume(
        cp.list_volumes(filters={"name": "dataX"})[0][0].id).backend_name == "b")
    assert cp.usage()[None]["gigabytes"] == 7
    assert len(cp.volumes) == 5


# -- stats, health, gc -------------------------------------------------------------------------

def test_stats(cp):
    cp.add_pool("a", "fake", fake_capacity_gb=10)
    cp.add_pool("b", "fake", fake_capacity_gb=30, weight=0)
    cp.create_volume(2)
    stats = cp.stats()
    assert stats["pools"]["a"]["total_capacity_gb"] == 10
    assert stats["pools"]["a"]["provisioned_capacity_gb"] == 2
    assert stats["pools"]["a"]["volumes"] == 1 and stats["pools"]["b"]["volumes"] == 0
    assert stats["pools"]["b"]["weight"] == 0
    assert stats["backends"]["b"]["pools"][0]["total_capacity_gb"] == 30
    assert stats["total"]["total_capacity_gb"] == 40


def test_health_and_probe(cp, store):
    cp.add_pool("a", "fake")
    cp.add_pool("off", "fake", enabled=False)
    cp.create_volume(1)
    report = cp.health()
    assert report["ok"] and report["pools"]["a"]["alive"]
    assert report["pools"]["a"]["volumes_by_status"] == {"available": 1}
    assert "probe" not in report["pools"]["a"]
    report = cp.health(probe=True)
    probe = report["pools"]["a"]["probe"]
    assert report["ok"] and probe["ok"], probe
    assert [s["step"] for s in probe["steps"]] == list(PROBE_STEPS)
    assert all(s["ok"] and s["seconds"] >= 0 for s in probe["steps"])
    assert "probe" not in report["pools"]["off"]
    assert len(store.get_volumes()) == 1 and store.get_snapshots() == []
    assert cp.backend("a").driver._volumes.keys() == {v.id for v in store.get_volumes()}


def test_probe_cleans_up_when_a_step_fails(cp, store):
    # Fault injected on purpose: the fake driver's clone fails (fake_fail_on).
    cp.add_pool("a", "fake", fake_fail_on=["create_cloned_volume"])
    report = cp.health(probe=True)
    probe = report["pools"]["a"]["probe"]
    assert not report["ok"] and not probe["ok"]
    assert [(s["step"], s["ok"]) for s in probe["steps"]] == [
        ("create", True), ("snapshot", True), ("clone", False)]
    assert "fake failure injected in create_cloned_volume" in probe["error"]
    assert probe["cleanup"] == []
    # The probe's volume, snapshot and the failed clone's error record are gone,
    # from the store and from the storage.
    assert store.get_volumes() == [] and store.get_snapshots() == []
    assert cp.backend("a").driver._volumes == {} and cp.backend("a").driver._snapshots == {}


def test_gc_reports_orphans_on_both_sides(cp, store):
    cp.add_pool("a", "fake")
    vol = cp.create_volume(1)
    lost = cp.create_volume(1)
    store.delete_volume(store.get_volumes(volume_id=lost.id)[0])  # the record is lost
    report = cp.gc(dry_run=True)
    assert report["storage_orphans"] == {"a": [f"volume {lost.id}"]}
    assert lost.id in cp.backend("a").driver._volumes  # dry run: still there
    report = cp.gc()
    assert report["storage_orphans"] == {"a": [f"volume {lost.id}"]}
    assert lost.id not in cp.backend("a").driver._volumes
    assert vol.id in cp.backend("a").driver._volumes
    assert cp.gc()["storage_orphans"] == {}
    with pytest.raises(exc.InvalidArgument, match="-1"):
        cp.gc(older_than=-1)


def test_default_store_and_export(store):
    previous = volumelib.get_persistence()
    volumelib.setup(persistence_config={"storage": store})
    try:
        with volumelib.ControlPlane() as cp:
            cp.add_pool("a", "fake")
            assert cp.persistence is store
            assert store.get_pools()[0].name == "a"
    finally:
        volumelib.setup(persistence_config={"storage": previous})


def test_leases_follow_the_control_planes_store(cp, store):
    cp.add_pool("a", "fake")
    vol = cp.create_volume(1)
    assert cp.leases is cp.leases
    lease = cp.leases.acquire(vol, ttl=60, holder="worker-1")
    assert store.get_leases(resource_id=vol.id)[0].holder == "worker-1"
    assert cp.leases.get(vol.id).holder == lease.holder == "worker-1"
    cp.leases.release(vol, holder="worker-1")
    assert cp.leases.get(vol.id) is None


@pytest.mark.parametrize("kwargs", [
    {"extra_specs": ["reflink"]}, {"extra_specs": {"reflink": "<is> maybe"}},
    {"extra_specs": {"k": 1}}, {"qos_specs": {"total_iops_sec": 500}},
    {"qos_specs": "fast"}, {"pools": []}, {"pools": [3]}, {"description": 5},
])
def test_bad_volume_types_store_nothing(cp, store, kwargs):
    cp.add_pool("a", "fake")
    with pytest.raises(exc.InvalidArgument):
        cp.create_volume_type("t", **kwargs)
    with pytest.raises(exc.InvalidName):
        cp.create_volume_type("a/b")
    assert store.get_volume_types() == []
