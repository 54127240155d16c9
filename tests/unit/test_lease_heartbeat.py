"""The operation lease's cost: one shared heartbeat thread per process, woken only when
needed, and two store statements per operation in the common case."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

import volumelib
from volumelib import exceptions as exc
from volumelib.control.leases import LeaseManager
from volumelib.persistence.memory import MemoryPersistence


class CountingStore(MemoryPersistence):
    """The memory store, counting the statements a SQL store would run."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def _fetch(self, kind: Any, filters: Any) -> Any:
        self.calls.append(f"read {kind.name}")
        return super()._fetch(kind, filters)

    def _insert(self, kind: Any, values: Any) -> int:
        self.calls.append(f"insert {kind.name}")
        return super()._insert(kind, values)

    def _update(self, kind: Any, key: str, expected_version: int, changes: Any) -> int:
        self.calls.append(f"update {kind.name}")
        return super()._update(kind, key, expected_version, changes)

    def _remove_if(self, kind: Any, key: str, expected_version: int) -> bool:
        self.calls.append(f"delete {kind.name}")
        return super()._remove_if(kind, key, expected_version)


@pytest.fixture
def store() -> Any:
    s = CountingStore()
    volumelib.setup(persistence_config={"storage": s})
    yield s
    volumelib.setup()


def _heartbeat_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "volumelib-lease-heartbeat"]


def test_one_heartbeat_thread_for_many_operations_and_threads(store: Any) -> None:
    leases = LeaseManager(store)

    def many(prefix: str) -> None:
        for i in range(50):
            with leases.operation(f"{prefix}-{i}", "bench"):
                pass

    workers = [threading.Thread(target=many, args=(f"t{n}",)) for n in range(4)]
    for w in workers:
        w.start()
    many("main")
    for w in workers:
        w.join()
    assert len(_heartbeat_threads()) == 1
    assert store.get_leases() == []


def test_common_operation_costs_an_insert_and_a_delete(store: Any) -> None:
    leases = LeaseManager(store)
    store.calls.clear()
    with leases.operation("res-1", "bench") as lease:
        assert lease is not None and lease.holder.split(":")[-1].startswith("op-")
        assert store.calls == ["insert lease"]
    assert store.calls == ["insert lease", "delete lease"]


def test_existing_row_is_read_busy_and_free_rows_are_reused(store: Any) -> None:
    leases = LeaseManager(store)
    with leases.as_holder("someone"):
        leases.acquire("res-2", ttl=60)
    with pytest.raises(exc.ResourceBusy) as info:
        with leases.operation("res-2", "bench"):
            pass
    assert info.value.holder == "someone"
    # The caller's own lease: the operation runs under it (the row is read).
    with leases.as_holder("someone"), leases.operation("res-2", "bench") as lease:
        assert lease is None
    assert store.get_leases("res-2")[0].holder == "someone"


def test_short_operation_renewed_while_heartbeat_sleeps_for_a_long_one(store: Any) -> None:
    """A long-ttl operation puts the thread to sleep for a third of its ttl; a short
    one added then must wake it, or its lease would run out unrenewed."""
    leases = LeaseManager(store)
    with leases.operation("long", "slow", ttl=120):
        time.sleep(0.05)  # the thread is asleep, until ~40 s from now
        with leases.operation("short", "slow", ttl=0.3) as lease:
            first = lease.expires_at
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if store.get_leases("short")[0].expires_at > first:
                    break
                time.sleep(0.02)
            assert store.get_leases("short")[0].expires_at > first
    assert store.get_leases() == []
