"""Conformance tests of the control plane's stored kinds: pools, leases, quotas.

Part of :class:`volumelib.testing.persistence.PersistenceSuite` (a mixin, like the
others there); a store may also pick :class:`ControlKindTests` alone. Only the
store's public contract is used (``get_pools``/``set_pool``/``delete_pool`` and the
same for leases and quotas).
"""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from volumelib import exceptions as exc
from volumelib.objects import Lease, Pool, Quota

__all__ = ["ControlKindTests", "PoolTests", "LeaseTests", "QuotaTests"]

UTC = datetime.timezone.utc


def _when(seconds: float = 0.0) -> datetime.datetime:
    return datetime.datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=UTC) \
        + datetime.timedelta(seconds=seconds)


class PoolTests:
    def test_pool_round_trip_and_lookup_by_name(self, store: Any) -> None:
        pool = Pool(name="fast-1", volume_driver="file",
                    driver_config={"file_root": "/srv/a", "depth": 2, "ratio": 1.5,
                                   "flags": [True, None], "nested": {"k": "v"}},
                    weight=0.25, capabilities=["thin", "clone"], description="SSD",
                    enabled=False)
        store.set_pool(pool)
        store.set_pool(Pool(name="slow-1", volume_driver="fake"))
        [got] = store.get_pools(pool_name="fast-1")
        assert got == pool
        assert got.driver_config["nested"] == {"k": "v"}
        assert got.weight == 0.25 and isinstance(got.weight, float)
        assert got.capabilities == ["thin", "clone"] and got.enabled is False
        assert got.created_at is not None and got.created_at.tzinfo is not None
        assert {p.name for p in store.get_pools()} == {"fast-1", "slow-1"}
        [slow] = store.get_pools("slow-1")
        assert (slow.weight, slow.enabled, slow.capabilities, slow.driver_config) \
            == (1.0, True, [], {})
        assert store.get_pools(pool_name="nope") == []

    def test_pool_update_is_compare_and_set(self, store: Any) -> None:
        store.set_pool(Pool(name="p", volume_driver="fake"))
        first, second = store.get_pools("p")[0], store.get_pools("p")[0]
        first.weight = 0.0
        first.driver_config["added"] = "x"  # in-place change is tracked too
        store.set_pool(first)
        assert first.updated_at is not None
        second.weight = 5.0
        with pytest.raises(exc.ConcurrentModification):
            store.set_pool(second)
        [got] = store.get_pools("p")
        assert got.weight == 0.0 and got.driver_config == {"added": "x"}
        with pytest.raises(exc.AlreadyExists):
            store.set_pool(Pool(name="p", volume_driver="other"))
        assert store.get_pools("p")[0].volume_driver == "fake"

    def test_pool_delete_by_object_or_name_and_idempotence(self, store: Any) -> None:
        for name in ("a", "b"):
            store.set_pool(Pool(name=name, volume_driver="fake"))
        store.delete_pool(store.get_pools("a")[0])
        store.delete_pool("b")
        store.delete_pool("b")  # missing: no-op
        assert store.get_pools() == []

    def test_pools_are_never_soft_deleted(self, soft_store: Any) -> None:
        soft_store.set_pool(Pool(name="gone", volume_driver="fake"))
        soft_store.delete_pool("gone")
        assert soft_store.get_pools() == []
        soft_store.set_pool(Pool(name="gone", volume_driver="fake"))  # name free again
        assert len(soft_store.get_pools("gone")) == 1


class LeaseTests:
    def test_lease_round_trip_and_lookups(self, store: Any) -> None:
        long_id = "name:" + "p" * 100 + ":" + "n" * 149  # 255 characters
        assert len(long_id) == 255
        lease = Lease(id=long_id, resource_kind="volume", holder="host:1:abc",
                      operation="extend", ttl=0.1, grace=2.5, expires_at=_when(),
                      expired_count=2)
        store.set_lease(lease)
        store.set_lease(Lease(id="other", holder="host:2:def", ttl=30.0,
                              expires_at=_when(30)))
        [got] = store.get_leases(resource_id=long_id)
        assert got == lease
        assert got.ttl == 0.1 and got.grace == 2.5  # doubles, not single precision
        assert got.expires_at == _when() and got.expires_at.utcoffset() \
            == datetime.timedelta(0)
        assert got.keep_until == _when(2.5)
        assert [x.id for x in store.get_leases(holder="host:2:def")] == ["other"]
        assert {x.id for x in store.get_leases()} == {long_id, "other"}
        assert store.get_leases(resource_id="x", holder="host:1:abc") == []
        [other] = store.get_leases("other")
        assert (other.expired_count, other.grace, other.operation) == (0, 0.0, None)

    def test_lease_state_at_a_given_time(self, store: Any) -> None:
        store.set_lease(Lease(id="r", holder="h", ttl=10.0, grace=5.0,
                              expires_at=_when()))
        [lease] = store.get_leases("r")
        assert lease.is_held(_when(-1)) and not lease.is_expired(_when(-1))
        assert lease.is_expired(_when()) and lease.in_grace(_when(4.9))
        assert not lease.in_grace(_when(5)) and not lease.is_held(_when(5))
        lease.holder = None
        assert not lease.is_held(_when(-1)) and not lease.is_expired(_when(1))

    def test_takeover_is_compare_and_set(self, store: Any) -> None:
        store.set_lease(Lease(id="vol-1", holder="a", ttl=1.0, expires_at=_when()))
        mine, theirs = store.get_leases("vol-1")[0], store.get_leases("vol-1")[0]
        mine.holder, mine.expires_at = "b", _when(60)
        mine.expired_count = mine.expired_count + 1
        store.set_lease(mine)
        theirs.holder, theirs.expires_at = "c", _when(60)
        with pytest.raises(exc.ConcurrentModification):
            store.set_lease(theirs)
        [got] = store.get_leases("vol-1")
        assert (got.holder, got.expired_count) == ("b", 1)
        with pytest.raises(exc.AlreadyExists):
            store.set_lease(Lease(id="vol-1", holder="d", ttl=1.0, expires_at=_when()))
        assert store.get_leases("vol-1")[0].holder == "b"

    def test_delete_of_a_stale_lease_deletes_nothing(self, store: Any) -> None:
        store.set_lease(Lease(id="vol-2", holder="a", ttl=1.0, expires_at=_when()))
        stale = store.get_leases("vol-2")[0]
        fresh = store.get_leases("vol-2")[0]
        fresh.holder = "b"
        store.set_lease(fresh)
        with pytest.raises(exc.ConcurrentModification):
            store.delete_lease(stale)  # a's release must not drop b's lease
        assert store.get_leases("vol-2")[0].holder == "b"
        store.delete_lease(fresh)
        assert store.get_leases("vol-2") == []
        store.delete_lease(fresh)  # missing: no-op
        store.delete_lease("vol-2")
        store.set_lease(Lease(id="vol-3", holder="a", expires_at=_when()))
        store.delete_lease("vol-3")  # by id: unconditional
        assert store.get_leases() == []

    def test_leases_are_never_soft_deleted(self, soft_store: Any) -> None:
        soft_store.set_lease(Lease(id="t", holder="a", expires_at=_when()))
        soft_store.delete_lease(soft_store.get_leases("t")[0])
        assert soft_store.get_leases() == []
        soft_store.set_lease(Lease(id="t", holder="b", expires_at=_when()))
        assert soft_store.get_leases("t")[0].holder == "b"


class QuotaTests:
    def test_quota_ids_lookup_and_defaults(self, store: Any) -> None:
        store.set_quota(Quota(project_id="p1", resource="volumes", limit=10))
        store.set_quota(Quota(project_id="p1", resource="gigabytes", limit=100,
                              in_use=7))
        store.set_quota(Quota(project_id="p2", resource="snapshots"))
        assert {q.id for q in store.get_quotas("p1")} == {"p1/volumes", "p1/gigabytes"}
        [p2] = store.get_quotas(project_id="p2")
        assert (p2.id, p2.limit, p2.in_use) == ("p2/snapshots", -1, 0)
        assert len(store.get_quotas()) == 3
        assert store.get_quotas("nobody") == []

    def test_usage_update_is_compare_and_set(self, store: Any) -> None:
        store.set_quota(Quota(project_id="p", resource="volumes", limit=1))
        one, two = store.get_quotas("p")[0], store.get_quotas("p")[0]
        one.in_use += 1
        store.set_quota(one)
        two.in_use += 1
        with pytest.raises(exc.ConcurrentModification):
            store.set_quota(two)  # the check that keeps usage under the limit
        assert store.get_quotas("p")[0].in_use == 1

    def test_quota_delete(self, store: Any) -> None:
        store.set_quota(Quota(project_id="p", resource="volumes", limit=1))
        store.set_quota(Quota(project_id="p", resource="snapshots", limit=1))
        [volumes] = [q for q in store.get_quotas("p") if q.resource == "volumes"]
        store.delete_quota(volumes)
        store.delete_quota("p/snapshots")
        store.delete_quota("p/snapshots")  # missing: no-op
        assert store.get_quotas() == []


class ControlKindTests(PoolTests, LeaseTests, QuotaTests):
    """Pools, leases and quotas."""
