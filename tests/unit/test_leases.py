"""Leases on the memory store, driven by an injected clock (no sleeps)."""

from __future__ import annotations

import datetime
import threading
import time

import pytest

import volumelib
from volumelib import exceptions as exc
from volumelib.control.leases import LeaseManager, is_operation_holder, process_holder
from volumelib.objects import Lease
from volumelib.persistence.memory import MemoryPersistence

UTC = datetime.timezone.utc
T0 = datetime.datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += datetime.timedelta(seconds=seconds)


@pytest.fixture
def store():
    s = MemoryPersistence()
    yield s
    s.close()


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def alice(store, clock):
    return LeaseManager(store, holder="alice", clock=clock)


@pytest.fixture
def bob(store, clock):
    return LeaseManager(store, holder="bob", clock=clock)


@pytest.fixture
def backend(store):
    b = volumelib.Backend("leasing", "fake", persistence=store)
    yield b
    b.close()


def _row(store, rid):
    rows = store.get_leases(resource_id=rid)
    return (rows[0].holder, rows[0].expires_at, rows[0]._db_version) if rows else None


def test_acquire_get_renew_release(alice, store, clock):
    lease = alice.acquire("res-1", ttl=10, operation="resize")
    assert (lease.holder, lease.operation, lease.ttl) == ("alice", "resize", 10.0)
    assert lease.expires_at == T0 + datetime.timedelta(seconds=10)
    assert alice.get("res-1") == lease
    clock.advance(8)
    renewed = alice.renew("res-1")
    assert renewed.expires_at == T0 + datetime.timedelta(seconds=18)
    renewed = alice.renew("res-1", ttl=30)
    assert (renewed.ttl, renewed.expires_at) == (30.0, T0 + datetime.timedelta(seconds=38))
    alice.release("res-1")
    assert alice.get("res-1") is None
    assert store.get_leases() == []  # no expiry history: the row is gone


def test_acquire_again_by_the_holder_renews(alice, clock):
    alice.acquire("r", ttl=5)
    clock.advance(3)
    lease = alice.acquire("r", ttl=5, grace=2, operation="again")
    assert (lease.expires_at, lease.grace, lease.expired_count) == \
        (T0 + datetime.timedelta(seconds=8), 2.0, 0)


def test_held_lease_refuses_others_and_changes_nothing(alice, bob, store):
    alice.acquire("r", ttl=10)
    before = _row(store, "r")
    with pytest.raises(exc.LeaseHeld) as info:
        bob.acquire("r", ttl=10)
    assert info.value.retryable and info.value.holder == "alice"
    assert "alice" in str(info.value)
    for call in (bob.renew, bob.release):
        with pytest.raises(exc.LeaseHeld):
            call("r")
    assert _row(store, "r") == before


def test_expiry_is_implicit_and_another_holder_takes_over(alice, bob, store, clock):
    alice.acquire("r", ttl=10)
    clock.advance(10)  # exactly at expires_at: expired
    assert alice.get("r") is None
    assert alice.get("r", include_expired=True).is_expired(clock())
    lease = bob.acquire("r", ttl=10)
    assert (lease.holder, lease.expired_count) == ("bob", 1)
    # alice lost it: her calls are refused with the new holder named
    with pytest.raises(exc.LeaseHeld, match="bob"):
        alice.renew("r")
    with pytest.raises(exc.LeaseHeld):
        alice.release("r")
    bob.release("r")
    # the expiry count survives the release (a free row)
    [row] = store.get_leases("r")
    assert (row.holder, row.expired_count) == (None, 1)
    assert bob.get("r") is None


def test_own_expired_lease_renew_and_release_raise_lease_expired(alice, store, clock):
    alice.acquire("r", ttl=10)
    clock.advance(11)
    before = _row(store, "r")
    with pytest.raises(exc.LeaseExpired) as info:
        alice.renew("r")
    assert not info.value.retryable and "r" in str(info.value)
    with pytest.raises(exc.LeaseExpired):
        alice.release("r")
    assert _row(store, "r") == before
    # acquiring again works (and counts the expiry)
    assert alice.acquire("r", ttl=10).expired_count == 1


def test_not_leased(alice, bob, store, clock):
    with pytest.raises(exc.NotLeased):
        alice.renew("nothing")
    with pytest.raises(exc.NotLeased):
        alice.release("nothing")
    alice.acquire("r", ttl=1)
    clock.advance(2)
    with pytest.raises(exc.NotLeased, match="bob"):
        bob.release("r")  # alice's lease ran out; bob never had it
    assert store.get_leases("r")[0].holder == "alice"


def test_grace_keeps_the_resource_but_not_the_lease(alice, bob, store, clock):
    alice.acquire("tmp", ttl=10, grace=20)
    clock.advance(15)  # in grace
    lease = alice.get("tmp", include_expired=True)
    assert lease.in_grace(clock()) and alice.get("tmp") is None
    assert alice.expire() == {"expired": [], "exhausted": [], "dropped": []}
    assert store.get_leases("tmp")[0].holder == "alice"  # kept alive
    with pytest.raises(exc.LeaseExpired):
        alice.renew("tmp")
    clock.advance(15)  # past grace
    report = alice.expire()
    assert report["expired"] == ["tmp"]
    [row] = store.get_leases("tmp")
    assert (row.holder, row.expired_count) == (None, 1)
    assert bob.acquire("tmp", ttl=5).expired_count == 1


def test_takeover_during_grace_is_allowed(alice, bob, clock):
    """As a Zaqar claim past its ttl, an expired lease no longer protects the resource
    from other holders; grace only keeps the resource alive for gc."""
    alice.acquire("tmp", ttl=10, grace=60)
    clock.advance(11)
    assert bob.acquire("tmp", ttl=10).holder == "bob"


def test_retry_budget_moves_a_volume_to_error(store, clock, backend):
    vol = backend.create_volume(1, name="flaky")
    workers = [LeaseManager(store, holder=f"w{i}", clock=clock, retry_budget=3)
               for i in range(4)]
    for i in range(3):
        workers[i].acquire(vol, ttl=5)
        clock.advance(6)  # the worker "crashed": its lease runs out
    vol.refresh()
    assert vol.status == "available"  # two expiries counted so far
    lease = workers[3].acquire(vol, ttl=5)  # the third expired lease is taken over
    assert lease.expired_count == 0  # the count restarts
    vol.refresh()
    assert vol.status == "error"
    assert store.get_leases(vol.id)[0].resource_kind == "volume"


def test_retry_budget_through_expire_and_setup(store, clock, backend):
    volumelib.setup(lease_retry_budget=1)
    try:
        vol = backend.create_volume(1)
        manager = LeaseManager(store, holder="w", clock=clock)
        assert manager.retry_budget == 1
        manager.acquire(vol, ttl=5)
        clock.advance(6)
        report = manager.expire()
        assert report["exhausted"] == [vol.id]
        vol.refresh()
        assert vol.status == "error"
    finally:
        volumelib.setup()


def test_retry_budget_callback_for_other_resources(store, clock):
    seen = []
    manager = LeaseManager(store, holder="w", clock=clock, retry_budget=2,
                           on_exhausted=seen.append)
    for _ in range(2):
        manager.acquire("job-7", ttl=1)
        clock.advance(2)
        manager.expire()
    assert [lease.id for lease in seen] == ["job-7"]


@pytest.mark.parametrize("kwargs", [
    {"ttl": 0}, {"ttl": -1}, {"ttl": "10"}, {"ttl": float("nan")}, {"ttl": True},
    {"ttl": float("inf")}, {"ttl": 5, "grace": -1}, {"ttl": 5, "holder": ""},
    {"ttl": 5, "holder": 7}, {"ttl": 5, "operation": 3},
])
def test_bad_arguments_change_nothing(alice, store, kwargs):
    with pytest.raises(exc.InvalidArgument) as info:
        alice.acquire("r", **kwargs)
    assert repr(list(kwargs.values())[-1])[:10].strip("'") in str(info.value)
    assert store.get_leases() == []


@pytest.mark.parametrize("resource", [None, "", "x" * 256, 42])
def test_bad_resources(alice, store, resource):
    with pytest.raises(exc.InvalidArgument):
        alice.acquire(resource, ttl=5)
    assert store.get_leases() == []


def test_bad_manager_and_setup_arguments():
    with pytest.raises(exc.InvalidArgument):
        LeaseManager(retry_budget=-1)
    with pytest.raises(exc.InvalidConfig, match="operation_lease_ttl"):
        volumelib.setup(operation_lease_ttl=0)
    with pytest.raises(exc.InvalidConfig, match="lease_retry_budget"):
        volumelib.setup(lease_retry_budget="3")


def test_default_holders():
    assert process_holder() == process_holder()
    host, pid, _ = process_holder().split(":")
    assert int(pid) > 0 and host
    manager = volumelib.leases()
    assert manager.holder == process_holder()
    with manager.as_holder("worker-9"):
        assert manager.holder == "worker-9"
    assert manager.holder == process_holder()
    assert not is_operation_holder(process_holder())


# -- library operations ---------------------------------------------------------------

def test_operation_on_a_volume_held_by_another_is_busy(backend, store):
    vol = backend.create_volume(1, name="v")
    other = LeaseManager(store, holder="another-host:1:x")
    other.acquire(vol, ttl=60, operation="backup")
    version = vol._db_version
    for call in (lambda: vol.extend(2), vol.delete, vol.create_snapshot, vol.clone,
                 lambda: vol.connect({"host": "h", "initiator": "iqn.x"})):
        with pytest.raises(exc.ResourceBusy) as info:
            call()
        assert info.value.retryable and isinstance(info.value, exc.LeaseHeld)
        assert info.value.holder == "another-host:1:x"
        assert "backup" in str(info.value)
    vol.refresh()
    assert (vol.size, vol.status, vol._db_version) == (1, "available", version)
    assert store.get_snapshots() == [] and len(store.get_volumes()) == 1
    other.release(vol)
    assert vol.extend(2) == 2 * 1024 ** 3


def test_operation_runs_under_the_callers_own_lease(backend, store, clock):
    vol = backend.create_volume(1)
    mine = LeaseManager(store, clock=clock)  # the process holder, as volumelib.leases()
    mine.acquire(vol, ttl=60)
    vol.extend(2)  # runs under it, the lease is kept
    assert store.get_leases(vol.id)[0].holder == process_holder()
    with mine.as_holder("job-1"):
        mine.release(vol, holder=process_holder())
        mine.acquire(vol, ttl=60)
        vol.extend(3)
    assert store.get_leases(vol.id)[0].holder == "job-1"
    with pytest.raises(exc.ResourceBusy):
        vol.extend(4)  # outside the block, job-1 is another holder


def test_operation_under_an_expired_own_lease(backend, store):
    vol = backend.create_volume(1)
    past = Clock()
    past.now = datetime.datetime.now(UTC) - datetime.timedelta(hours=1)
    LeaseManager(store, clock=past).acquire(vol, ttl=60)  # expired an hour ago
    with pytest.raises(exc.LeaseExpired):
        vol.extend(2)
    vol.refresh()
    assert vol.size == 1


def test_operations_release_their_lease_and_nest(backend, store):
    vol = backend.create_volume(1)
    snap = vol.create_snapshot()
    clone = snap.create_volume()
    vol.extend(2)
    snap.delete()
    clone.delete()
    assert store.get_leases() == []
    manager = backend.leases
    with manager.operation(vol, "outer") as lease:
        assert is_operation_holder(lease.holder) and lease.operation == "outer"
        with manager.operation(vol, "inner") as inner:
            assert inner is None  # re-entrant in one call stack
        vol.extend(3)  # a library operation inside: re-entrant too
        errors = []
        t = threading.Thread(target=lambda: _catch(errors, vol.delete))
        t.start()
        t.join()
        assert [type(e) for e in errors] == [exc.ResourceBusy]  # another thread: busy
    assert store.get_leases() == []
    vol.delete()
    assert vol.status == "deleted"


def _catch(errors, func):
    try:
        func()
    except Exception as e:  # noqa: BLE001
        errors.append(e)


def test_failed_operation_releases_its_lease(backend, store):
    vol = backend.create_volume(1)
    with pytest.raises(exc.InvalidSize):
        vol.extend(1)
    assert store.get_leases() == []


def test_heartbeat_renews_an_operation_lease(backend, store):
    vol = backend.create_volume(1)
    with backend.leases.operation(vol, "slow", ttl=0.3) as lease:
        first = lease.expires_at
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if store.get_leases(vol.id)[0].expires_at > first:
                break
            time.sleep(0.02)
        assert store.get_leases(vol.id)[0].expires_at > first
    assert store.get_leases() == []


def test_deleting_a_volume_another_caller_deleted_is_a_no_op(backend, store):
    vol = backend.create_volume(1)
    stale = backend.get_volume(vol.id)
    vol.delete()
    stale.delete()
    assert stale.status == "deleted"


def test_stale_object_catches_up_before_operating(backend):
    vol = backend.create_volume(1)
    stale = backend.get_volume(vol.id)
    vol.extend(2)
    assert stale.extend(3) == 3 * 1024 ** 3  # no ConcurrentModification
    vol.refresh()
    assert vol.size == 3


# -- gc ---------------------------------------------------------------------------------

def test_gc_is_one_at_a_time_and_expires_leases(backend, store, clock):
    other = LeaseManager(store, holder="other-gc")
    other.acquire(f"gc:{backend.id}", ttl=60, operation="gc")
    report = backend.gc(older_than=0)
    assert report["busy"]["holder"] == "other-gc" and report["actions"] == []
    other.release(f"gc:{backend.id}")
    past = Clock()
    past.now = datetime.datetime.now(UTC) - datetime.timedelta(hours=1)
    LeaseManager(store, holder="gone", clock=past).acquire("stale-thing", ttl=1)
    report = backend.gc()
    assert "busy" not in report
    assert report["leases"]["expired"] == ["stale-thing"]
    assert store.get_leases("stale-thing")[0].holder is None


def test_gc_skips_a_volume_another_operation_holds(backend, store):
    vol = backend.create_volume(1)
    vol.status = "extending"
    vol.previous_status = "available"
    vol.save()
    _age(store, vol)
    with backend.leases.operation(vol, "extend"):
        reports = []
        t = threading.Thread(target=lambda: reports.append(backend.gc(older_than=60)))
        t.start()
        t.join()
        [skipped] = [s for s in reports[0]["skipped"] if s["id"] == vol.id]
        assert skipped["reason"].startswith("busy")
    vol.refresh()
    assert vol.status == "extending"
    report = backend.gc(older_than=0)
    assert {"kind": "volume", "id": vol.id, "action": "back to previous status"} \
        in report["actions"]
    vol.refresh()
    assert vol.status == "available"


def _age(store, vol, hours=1):
    """Make a record look written ``hours`` ago (the store stamps saves with now)."""
    from volumelib.persistence.base import KINDS
    old = datetime.datetime.now(UTC) - datetime.timedelta(hours=hours)
    store._update(KINDS["volume"], vol.id, vol._db_version, {"updated_at": old})
    vol.refresh()


def test_gc_takes_over_a_dead_operations_lease(backend, store):
    vol = backend.create_volume(1)
    vol.status = "extending"
    vol.previous_status = "available"
    vol.save()
    from volumelib.control.leases import new_holder
    dead = new_holder()  # an operation whose process died: no heartbeat any more
    LeaseManager(store).acquire(vol, ttl=3600, holder=dead, operation="extend")
    report = backend.gc(older_than=0)
    assert any(a["id"] == vol.id for a in report["actions"])
    vol.refresh()
    assert vol.status == "available"
    [row] = store.get_leases(vol.id)
    assert (row.holder, row.expired_count) == (None, 1)


def test_lease_objects_are_exported():
    assert volumelib.Lease is Lease
    assert issubclass(volumelib.ResourceBusy, volumelib.LeaseHeld)
