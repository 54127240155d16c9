"""Placement rules as tables: filters, capacity, weighing, Cinder's spec syntax."""

from __future__ import annotations

import math

import pytest

from volumelib import exceptions as exc
from volumelib import specs as spec_syntax
from volumelib.control import placement
from volumelib.control.placement import PlacementRequest, PoolState


def stats(total=100.0, free=100.0, provisioned=0.0, thin=True, ratio=1.0, reserved=0,
          thick=None, **extra):
    pool = {"pool_name": "p", "total_capacity_gb": total, "free_capacity_gb": free,
            "provisioned_capacity_gb": provisioned, "thin_provisioning_support": thin,
            "thick_provisioning_support": (not thin) if thick is None else thick,
            "max_over_subscription_ratio": ratio, "reserved_percentage": reserved}
    pool.update(extra)
    return {"volume_backend_name": "x", "vendor_name": "volumelib",
            "storage_protocol": "file", "driver_version": "1.0", "pools": [pool]}


def pool(name, weight=1.0, enabled=True, caps=("thin", "clone"), **kw):
    st = kw.pop("st", None)
    return PoolState(name=name, weight=weight, enabled=enabled, capabilities=frozenset(caps),
                     stats=stats(**kw) if st is None else st)


def reasons_of(request, pools):
    with pytest.raises(exc.NoValidBackend) as info:
        placement.place(request, pools)
    return info.value.reasons


# -- the spec syntax -------------------------------------------------------------------

@pytest.mark.parametrize("capability, spec, expected", [
    (True, "<is> True", True),
    (False, "<is> True", False),
    (False, "<is> False", True),
    ("true", "<is> True", True),
    (True, "True", True),
    (False, "True", False),
    (True, "False", False),
    (True, True, True),
    ("iSCSI", "<in> SCSI", True),
    ("file", "<in> SCSI", False),
    ("file", "<or> rbd <or> file", True),
    ("iscsi", "<or> rbd <or> file", False),
    (100, ">= 100", True),
    (99.5, ">= 100", False),
    (10, "<= 10", True),
    (10, "< 10", False),
    (11, "> 10", True),
    ("10", "== 10.0", True),
    (10, "!= 10", False),
    ("n/a", ">= 1", False),
    ("file", "s== file", True),
    ("file", "s!= file", False),
    ("file", "file", True),
    ("file", "File", False),
    ("", "", True),
])
def test_match_spec(capability, spec, expected):
    assert spec_syntax.match_spec(capability, spec) is expected


@pytest.mark.parametrize("spec", ["<is> maybe", ">= lots", "==", "< x"])
def test_malformed_specs_raise_with_the_value(spec):
    with pytest.raises(exc.InvalidArgument, match="needs"):
        spec_syntax.match_spec(1, spec)
    with pytest.raises(exc.InvalidArgument, match="'k'"):
        spec_syntax.validate_specs({"k": spec})


@pytest.mark.parametrize("specs", [["a"], {"": "x"}, {"k": 3}, {"pool_name_pattern": " "}])
def test_validate_specs_refuses_bad_shapes(specs):
    with pytest.raises(exc.InvalidArgument):
        spec_syntax.validate_specs(specs)


def test_validate_specs_normalises_booleans():
    assert spec_syntax.validate_specs({"multiattach": True}) == {"multiattach": "True"}
    assert spec_syntax.validate_specs(None) == {}


@pytest.mark.parametrize("specs, expected", [
    ({}, None),
    ({"volume_backend_name": "a"}, {"a"}),
    ({"volume_backend_name": "s== a"}, {"a"}),
    ({"volume_backend_name": "<or> a <or> b"}, {"a", "b"}),
    ({"volume_backend_name": " "}, None),
])
def test_pinned_pools(specs, expected):
    got = placement.pinned_pools(specs)
    assert (got is None and expected is None) or got == frozenset(expected)


def test_pool_capabilities_use_declared_and_cinder_names_and_stats():
    caps = placement.pool_capabilities(pool("a", caps=("thin", "reflink", "multiattach")))
    assert caps["thin"] is True and caps["thin_provisioning_support"] is True
    assert caps["reflink"] is True and caps["cow_snapshot"] is False
    assert caps["multiattach"] is True and caps["consistent_group_snapshot_enabled"] is False
    assert caps["storage_protocol"] == "file" and caps["total_capacity_gb"] == 100.0
    assert caps["volume_backend_name"] == "a" and "pool_name" not in caps


# -- filters, one row per rule -------------------------------------------------------------

FILTER_TABLE = [
    # (description, pool, specs, size, expected reason prefix or None)
    ("plain pool", pool("a"), {}, 1, None),
    ("disabled", pool("a", enabled=False), {}, 1, "enabled:"),
    ("disabled even when pinned", pool("a", enabled=False),
     {"volume_backend_name": "a"}, 1, "enabled:"),
    ("no stats", PoolState("a", stats=None, error="boom"), {}, 1, "alive:"),
    ("pinned elsewhere", pool("a"), {"volume_backend_name": "b"}, 1, "backend_name:"),
    ("pinned among several", pool("a"), {"volume_backend_name": "<or> b <or> a"}, 1, None),
    ("weight 0 drains", pool("a", weight=0), {}, 1, "weight:"),
    ("weight 0 but pinned", pool("a", weight=0), {"volume_backend_name": "a"}, 1, None),
    ("glob matches", pool("ssd-1"), {"pool_name_pattern": "ssd-*"}, 1, None),
    ("glob does not match", pool("hdd-1"), {"pool_name_pattern": "ssd-*"}, 1, "pool_name:"),
    ("glob is case-sensitive", pool("SSD-1"), {"pool_name_pattern": "ssd-*"}, 1,
     "pool_name:"),
    ("glob is not a regex", pool("ssd-1"), {"pool_name_pattern": "ssd-.*"}, 1, "pool_name:"),
    ("glob character class", pool("rack2-a"), {"pool_name_pattern": "rack[12]-?"}, 1, None),
    ("capability present", pool("a", caps=("reflink",)), {"reflink": "<is> True"}, 1, None),
    ("capability missing", pool("a", caps=()), {"reflink": "<is> True"}, 1,
     "capabilities: reflink"),
    ("capability refused", pool("a", caps=("reflink",)), {"reflink": "<is> False"}, 1,
     "capabilities:"),
    ("cinder name", pool("a", caps=("consistent_group_snapshot",)),
     {"consistent_group_snapshot_enabled": "<is> True"}, 1, None),
    ("scoped capability", pool("a", caps=("multiattach",)),
     {"capabilities:multiattach": "<is> True"}, 1, None),
    ("other scopes ignored", pool("a"), {"qos:maxIOPS": "100", "volumelib:x": "y"}, 1, None),
    ("unreported key", pool("a"), {"compression": "<is> True"}, 1,
     "capabilities: does not report 'compression'"),
    ("stats key", pool("a"), {"storage_protocol": "<or> file <or> rbd"}, 1, None),
    ("stats key refused", pool("a"), {"storage_protocol": "rbd"}, 1, "capabilities:"),
    # capacity: thick
    ("thick fits", pool("a", thin=False, free=10), {}, 10, None),
    ("thick too big", pool("a", thin=False, free=10), {}, 11, "capacity: 10 GiB free"),
    ("reserved percentage", pool("a", thin=False, total=100, free=10, reserved=5), {}, 6,
     "capacity: 5 GiB free after 5 GiB reserved"),
    # capacity: thin
    ("thin within ratio", pool("a", total=10, free=10, provisioned=8, ratio=1.0), {}, 2,
     None),
    ("thin over ratio", pool("a", total=10, free=10, provisioned=9, ratio=1.0), {}, 2,
     "capacity: thin:"),
    ("thin over-subscribed", pool("a", total=10, free=2, provisioned=30, ratio=4.0), {}, 8,
     None),
    ("thin virtual free too small", pool("a", total=10, free=1, provisioned=0, ratio=4.0),
     {}, 5, "capacity: thin: 1 GiB free"),
    ("thick requested on thin-only", pool("a", thin=True, thick=False),
     {"provisioning:type": "thick"}, 1, "capacity: thick provisioning requested"),
    ("thick requested on a thin+thick pool uses thick maths",
     pool("a", thin=True, thick=True, total=10, free=2, ratio=10.0),
     {"provisioning:type": "thick"}, 3, "capacity: 2 GiB free"),
    ("infinite", pool("a", st={"pools": [{"total_capacity_gb": "infinite",
                                          "free_capacity_gb": "infinite"}]}), {}, 10**6,
     None),
    ("no capacity reported", pool("a", st={"pools": [{"pool_name": "p"}]}), {}, 1,
     "capacity: reports no capacity"),
]


@pytest.mark.parametrize("description, state, specs, size, expected", FILTER_TABLE,
                         ids=[row[0] for row in FILTER_TABLE])
def test_filter_table(description, state, specs, size, expected):
    request = PlacementRequest(size=size, extra_specs=specs, volume_type="t")
    if expected is None:
        chosen = placement.place(request, [state])
        assert [c.name for c in chosen] == [state.name]
    else:
        reasons = reasons_of(request, [state])
        assert list(reasons) == [state.name]
        assert reasons[state.name].startswith(expected), reasons


def test_no_valid_backend_explains_every_pool():
    pools = [pool("a", enabled=False), pool("b", weight=0), pool("c", caps=()),
             pool("d", thin=False, free=1)]
    request = PlacementRequest(size=2, extra_specs={"thin": "<is> True"}, volume_type="gold")
    with pytest.raises(exc.NoValidBackend) as info:
        placement.place(request, pools)
    e = info.value
    assert {k: v.split(":")[0] for k, v in e.reasons.items()} == {
        "a": "enabled", "b": "weight", "c": "capabilities", "d": "capacity"}
    assert "gold" in e.request and "2 GiB" in e.request
    assert "'a'" in str(e) and "weight" in str(e)


def test_no_pool_at_all():
    with pytest.raises(exc.NoValidBackend, match="no pool is registered") as info:
        placement.place(PlacementRequest(size=1), [])
    assert info.value.reasons == {}


@pytest.mark.parametrize("size", [0, -1, 1.5, True, "1"])
def test_bad_size(size):
    with pytest.raises(exc.InvalidSize):
        placement.place(PlacementRequest(size=size), [pool("a")])


# -- weighing ------------------------------------------------------------------------------

WEIGH_TABLE = [
    ("higher weight first", [pool("a", weight=1), pool("b", weight=3)], ["b", "a"]),
    ("ties by free capacity", [pool("a", thin=False, free=10),
                               pool("b", thin=False, free=50)], ["b", "a"]),
    ("thin virtual free counts", [pool("a", thin=False, free=30),
                                  pool("b", thin=True, free=10, ratio=5.0)], ["b", "a"]),
    ("then by name", [pool("b"), pool("c"), pool("a")], ["a", "b", "c"]),
    ("weight beats capacity", [pool("a", weight=2, thin=False, free=5),
                               pool("b", weight=1, thin=False, free=500)], ["a", "b"]),
    ("fractional weights", [pool("a", weight=0.5), pool("b", weight=0.75)], ["b", "a"]),
]


@pytest.mark.parametrize("description, pools, expected", WEIGH_TABLE,
                         ids=[row[0] for row in WEIGH_TABLE])
def test_weigh_table(description, pools, expected):
    request = PlacementRequest(size=1)
    assert [c.name for c in placement.place(request, pools)] == expected
    assert [c.name for c in placement.place(request, list(reversed(pools)))] == expected
    assert placement.select(request, pools).name == expected[0]


def test_pinned_drained_pool_ranks_after_weighted_ones():
    pools = [pool("a", weight=0), pool("b", weight=1)]
    request = PlacementRequest(size=1, extra_specs={"volume_backend_name": "<or> a <or> b"})
    assert [c.name for c in placement.place(request, pools)] == ["b", "a"]


def test_best_cinder_pool_of_a_backend_is_used():
    st = {"pools": [{"pool_name": "small", "total_capacity_gb": 10, "free_capacity_gb": 1},
                    {"pool_name": "big", "total_capacity_gb": 10, "free_capacity_gb": 9}]}
    chosen = placement.select(PlacementRequest(size=5), [pool("a", st=st)])
    assert chosen.stats_pool == "big" and chosen.free_gb == 9


def test_infinite_capacity_is_weighed_as_infinite():
    st = {"pools": [{"total_capacity_gb": "unknown", "free_capacity_gb": "unknown"}]}
    chosen = placement.select(PlacementRequest(size=1), [pool("a", st=st),
                                                         pool("b", thin=False)])
    assert chosen.name == "a" and chosen.free_gb == math.inf


def test_type_mismatch():
    assert placement.type_mismatch(pool("a", caps=("reflink",)),
                                   {"reflink": "<is> True"}) is None
    assert placement.type_mismatch(pool("a", caps=()),
                                   {"reflink": "<is> True"}).startswith("capabilities")
    assert placement.type_mismatch(pool("a"), {"pool_name_pattern": "b*"}
                                   ).startswith("pool_name")
    # capacity, weight and state are not part of a type's match
    assert placement.type_mismatch(pool("a", weight=0, enabled=False, free=0), {}) is None
