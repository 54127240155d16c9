"""An operation finishes its own state transition even when a writer that takes no
lease (a metadata update) saved the same row while the driver worked: the final save
re-reads the row, keeps the other writer's fields and re-applies only its own.

Each case saves the row from a second object at the operation's ``*.driver_done``
checkpoint (after the driver call, before the final save), on the memory store with
the fake driver, and on a SQLite file store.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import volumelib
from volumelib import checkpoints
from volumelib import exceptions as exc
from volumelib.records.stored import OWN_SAVE_ATTEMPTS


@pytest.fixture(params=["memory", "sqlite_file"])
def backend(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Any]:
    if request.param == "memory":
        volumelib.setup()
    else:
        url = f"sqlite:///{os.path.join(str(tmp_path), 'own.sqlite')}"
        volumelib.setup(persistence_config={"storage": "dbms", "connection": url})
    b = volumelib.Backend("own", "fake")
    try:
        yield b
    finally:
        checkpoints.set_checkpoint_hook(None)
        b.close()
        volumelib.get_persistence().close()
        volumelib.setup()


def _write_at(point: str, write: Callable[[], None], times: int = 1) -> list[str]:
    """Run ``write`` at checkpoint ``point`` (``times`` times); returns the points seen."""
    seen: list[str] = []

    def hook(name: str) -> None:
        seen.append(name)
        if name == point:
            for _ in range(times):
                write()

    checkpoints.set_checkpoint_hook(hook)
    return seen


def _bump_metadata(backend: Any, vol_id: str, key: str = "owner") -> Callable[[], None]:
    def write() -> None:
        other = backend.get_volume(vol_id)
        other.metadata[key] = str(int(other.metadata.get(key, "0")) + 1)
        other.save()
    return write


def test_create(backend: Any) -> None:
    vol_id = "6d1c4e2a-8a57-4f0e-9a4b-0f8f4c1d2e3a"
    seen = _write_at("volume.create.driver_done", _bump_metadata(backend, vol_id))
    vol = backend.create_volume(1, id=vol_id, metadata={"owner": "0"})
    assert "volume.create.driver_done" in seen
    stored = backend.get_volume(vol_id)
    assert (stored.status, stored.size) == ("available", 1)
    assert stored.metadata == {"owner": "1"}
    assert (vol.status, vol.metadata) == ("available", {"owner": "1"})


def test_extend(backend: Any) -> None:
    vol = backend.create_volume(1)
    seen = _write_at("volume.extend.driver_done", _bump_metadata(backend, vol.id))
    vol.extend(2)
    assert "volume.extend.driver_done" in seen
    stored = backend.get_volume(vol.id)
    assert (stored.status, stored.size, stored.previous_status) == ("available", 2, None)
    assert stored.metadata == {"owner": "1"}
    assert (vol.size, vol.status, vol.metadata) == (2, "available", {"owner": "1"})


def test_revert(backend: Any) -> None:
    vol = backend.create_volume(1)
    snap = vol.create_snapshot()
    seen = _write_at("volume.revert.driver_done", _bump_metadata(backend, vol.id))
    vol.revert_to_snapshot(snap)
    assert "volume.revert.driver_done" in seen
    stored = backend.get_volume(vol.id)
    assert (stored.status, stored.previous_status) == ("available", None)
    assert stored.metadata == {"owner": "1"}


def test_connect_and_disconnect(backend: Any) -> None:
    vol = backend.create_volume(1)
    seen = _write_at("connection.connect.driver_done", _bump_metadata(backend, vol.id))
    conn = vol.connect({"host": "h"})
    assert "connection.connect.driver_done" in seen
    stored = backend.get_volume(vol.id)
    assert (stored.status, stored.metadata) == ("in-use", {"owner": "1"})
    _write_at("connection.disconnect.intent_stored", _bump_metadata(backend, vol.id))
    conn.disconnect()
    stored = backend.get_volume(vol.id)
    assert (stored.status, stored.metadata) == ("available", {"owner": "2"})
    assert backend.persistence.get_connections(volume_id=vol.id) == []


def test_snapshot_create_and_delete(backend: Any) -> None:
    vol = backend.create_volume(1)

    def write_snapshot_metadata() -> None:
        [other] = backend.persistence.get_snapshots(volume_id=vol.id)
        other.metadata["tag"] = "x"
        other.save()

    _write_at("snapshot.create.driver_done", write_snapshot_metadata)
    snap = vol.create_snapshot()
    [stored] = backend.persistence.get_snapshots(snapshot_id=snap.id)
    assert (stored.status, stored.metadata) == ("available", {"tag": "x"})
    seen = _write_at("snapshot.delete.driver_done", write_snapshot_metadata)
    snap.delete()
    assert "snapshot.delete.driver_done" in seen
    assert backend.persistence.get_snapshots(volume_id=vol.id) == []
    assert snap.status == "deleted"


def test_gives_up_after_bounded_attempts(backend: Any) -> None:
    """A row that keeps changing under it: the operation raises the retryable
    ConcurrentModification after ``OWN_SAVE_ATTEMPTS`` tries, and the other
    writer's changes are all kept."""
    vol = backend.create_volume(1)
    writes = {"n": 0}
    bump = _bump_metadata(backend, vol.id)

    def keep_writing(name: str) -> None:
        if name == "volume.extend.driver_done":
            writes["n"] += 1
            bump()

    real_stored = type(vol)._stored

    def stored_then_write(self: Any) -> Any:
        found = real_stored(self)
        bump()  # another writer again, right after each re-read
        writes["n"] += 1
        return found

    checkpoints.set_checkpoint_hook(keep_writing)
    type(vol)._stored = stored_then_write  # fault injection: a writer that never stops
    try:
        with pytest.raises(exc.ConcurrentModification) as info:
            vol.extend(2)
    finally:
        type(vol)._stored = real_stored
    assert info.value.retryable
    assert writes["n"] == OWN_SAVE_ATTEMPTS  # one at the checkpoint, one per re-read
    assert backend.get_volume(vol.id).metadata == {"owner": str(writes["n"])}
