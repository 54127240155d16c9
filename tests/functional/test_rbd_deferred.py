"""Deferred deletion of the rbd driver (``rbd_deferred_deletion``) on the session's real
single-node Ceph cluster: deletes move images to the RBD trash with the configured
delay, purges (``gc()``, the background thread) remove only expired entries that are
ours, the trash shows in stats and health, and a real crash between the trash move
and the record's deletion is reconciled by ``gc()``.

Expiry is decided on the driver's clock (``driver.clock``); tests that need "an hour
later" move that clock instead of sleeping. Only the real-time test waits, for a one
second delay, polling.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import volumelib
from volumelib import exceptions as exc
from volumelib.drivers.types import VolumeInfo

pytest_plugins = ["tests.functional.ceph_fixtures"]

GiB = 1024 ** 3
HOUR = 3600
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _images(backend: Any) -> set[str]:
    import rbd
    return set(rbd.RBD().list(backend.driver.client.ioctx))


def _trash(backend: Any) -> dict[str, list[dict[str, Any]]]:
    """Trash entries by image name (several entries may share a name)."""
    import rbd
    found: dict[str, list[dict[str, Any]]] = {}
    for entry in rbd.RBD().trash_list(backend.driver.client.ioctx):
        found.setdefault(entry["name"], []).append(entry)
    return found


def _write(backend: Any, vol: Any, offset: int, data: bytes) -> None:
    with backend.driver.open_image(vol.id) as image:
        image.write(data, offset)
        image.flush()


def _read(backend: Any, vol: Any, offset: int, length: int) -> bytes:
    with backend.driver.open_image(vol.id, read_only=True) as image:
        return image.read(offset, length)


def _later(backend: Any, seconds: float) -> None:
    """Move the driver's clock ``seconds`` ahead of the real one."""
    backend.driver.clock = lambda: time.time() + seconds


def _wait_for(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll ``condition`` every 50 ms; return the seconds it took, fail after ``timeout``."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            pytest.fail(f"{what}: not within {timeout} s")
        time.sleep(0.05)
    return time.monotonic() - started


@pytest.fixture
def deferred(make_rbd_backend: Any) -> Callable[..., Any]:
    """``deferred(**overrides)``: a backend with deferred deletion (an hour's delay
    unless overridden)."""
    def make(**overrides: Any) -> Any:
        return make_rbd_backend(**{"rbd_deferred_deletion": True,
                                   "rbd_deferred_deletion_delay": HOUR, **overrides})
    return make


# -- the delete, the trash, the purge ----------------------------------------------------

def test_delete_moves_the_image_to_the_trash_and_gc_purges_after_the_delay(
        deferred: Any) -> None:
    import rbd
    backend = deferred()
    vol = backend.create_volume(2)
    _write(backend, vol, 0, b"deleted-data")
    name = f"volume-{vol.id}"
    before = backend.stats(refresh=True)["pools"][0]
    vol.delete()
    assert vol.status == "deleted"
    with pytest.raises(exc.VolumeNotFound):
        backend.get_volume(vol.id)
    assert name not in _images(backend)
    [entry] = _trash(backend)[name]
    assert entry["source"] == "USER"
    # librbd itself holds the delay: it refuses an unforced removal before it ends
    assert (entry["deferment_end_time"] - entry["deletion_time"]).total_seconds() == HOUR
    with pytest.raises(rbd.PermissionError):
        rbd.RBD().trash_remove(backend.driver.client.ioctx, entry["id"])
    # visible in stats and health
    pool = backend.stats(refresh=True)["pools"][0]
    assert pool["deferred_deletion"] is True
    assert pool["trash_images"] == before["trash_images"] + 1
    assert pool["trash_provisioned_gb"] == before["trash_provisioned_gb"] + 2
    assert pool["total_volumes"] == before["total_volumes"] - 1
    trash = backend.health()["driver"]["trash"]
    assert trash["deferred_deletion"] is True and trash["delay_s"] == HOUR
    assert trash["images"] >= 1 and trash["purge_thread"]["state"] == "off"
    # gc before the delay: kept; the delete of the trashed volume again: a no-op
    assert not [line for line in backend.gc(older_than=0)["orphans"] if name in line]
    backend.driver.delete_volume(vol.info())
    assert len(_trash(backend)[name]) == 1
    # an hour later gc purges it
    _later(backend, HOUR + 2)
    assert backend.health()["driver"]["trash"]["expired"] >= 1
    report = backend.gc(older_than=0)
    assert any(name in line and "purged" in line for line in report["orphans"])
    assert name not in _trash(backend) and name not in _images(backend)
    pool = backend.stats(refresh=True)["pools"][0]
    assert pool["trash_images"] == before["trash_images"]


def test_purge_waits_the_delay_in_real_time(deferred: Any) -> None:
    """A one second delay, on the real clock: the purge right after the delete keeps
    the image; it goes once a second has really passed (never earlier)."""
    backend = deferred(rbd_deferred_deletion_delay=1)
    vol = backend.create_volume(1)
    name = f"volume-{vol.id}"
    vol.delete()
    deleted_at = time.time()
    assert not [line for line in backend.driver.purge_trash() if name in line]
    assert name in _trash(backend)

    def purged() -> bool:
        backend.driver.purge_trash()
        return name not in _trash(backend)

    _wait_for(purged, 10, f"{name} purged")
    assert time.time() - deleted_at >= 1.0


def test_same_id_created_again_while_its_old_image_is_in_the_trash(deferred: Any) -> None:
    backend = deferred()
    vol_id = str(uuid.uuid4())
    old = backend.create_volume(1, id=vol_id)
    _write(backend, old, 0, b"old-contents")
    old.delete()
    new = backend.create_volume(2, id=vol_id)
    assert new.status == "available"
    assert _read(backend, new, 0, 12) == b"\0" * 12  # a new image, not the old one
    _write(backend, new, 0, b"new-contents")
    assert len(_trash(backend)[f"volume-{vol_id}"]) == 1
    _later(backend, HOUR + 2)
    backend.gc(older_than=0)  # purges the old image by its image id
    assert f"volume-{vol_id}" not in _trash(backend)
    assert f"volume-{vol_id}" in _images(backend)
    assert _read(backend, new, 0, 12) == b"new-contents"
    with backend.driver.open_image(vol_id, read_only=True) as image:
        assert image.size() == 2 * GiB


def test_in_use_volume_is_refused_and_stays(deferred: Any, make_rbd_backend: Any) -> None:
    """Another client has the image open: VolumeInUse, the image stays out of the trash."""
    backend = deferred()
    other = make_rbd_backend()  # another cluster handle: a watcher of its own
    vol = backend.create_volume(1)
    with other.driver.open_image(vol.id):
        with pytest.raises(exc.VolumeInUse):
            vol.delete()
    assert f"volume-{vol.id}" in _images(backend)
    assert f"volume-{vol.id}" not in _trash(backend)
    vol.delete()
    assert f"volume-{vol.id}" in _trash(backend)


def test_purge_leaves_other_backends_entries_before_their_delay(
        deferred: Any, make_rbd_backend: Any) -> None:
    """A backend without deferred deletion purges the trash after each delete (the
    parents of deleted clones): it must not purge another backend's deferred deletions
    early."""
    patient = deferred()
    hasty = make_rbd_backend()
    kept = patient.create_volume(1)
    kept.delete()
    gone = hasty.create_volume(1)
    gone.delete()
    assert f"volume-{gone.id}" not in _images(hasty) | set(_trash(hasty))
    assert f"volume-{kept.id}" in _trash(patient)


def test_clone_and_its_trashed_parent_are_purged_in_one_gc(deferred: Any) -> None:
    backend = deferred(rbd_deferred_deletion_delay=0)
    vol = backend.create_volume(1)
    _write(backend, vol, 0, b"parent")
    snap = vol.create_snapshot()
    clone = snap.create_volume()
    snap.delete()
    vol.delete()
    assert _read(backend, clone, 0, 6) == b"parent"  # the clone reads through the trash
    clone.delete()
    names = {f"volume-{vol.id}", f"volume-{clone.id}"}
    assert names <= set(_trash(backend))
    purged = backend.driver.purge_trash()  # the clone first, then its parent
    assert len([line for line in purged if any(n in line for n in names)]) == 2
    assert not names & set(_trash(backend))


def test_parent_waits_while_a_live_clone_needs_it(deferred: Any) -> None:
    backend = deferred(rbd_deferred_deletion_delay=0)
    vol = backend.create_volume(1)
    _write(backend, vol, 0, b"still-needed")
    clone = vol.clone()
    vol.delete()
    backend.gc(older_than=0)
    assert f"volume-{vol.id}" in _trash(backend)
    assert _read(backend, clone, 0, 12) == b"still-needed"
    health = backend.health()["driver"]["trash"]
    assert health["expired"] >= 1  # expired, yet kept: a clone depends on it


def test_group_deleted_with_its_volumes_trashes_them(deferred: Any) -> None:
    import rbd
    backend = deferred()
    vols = [backend.create_volume(1) for _ in range(2)]
    group = backend.create_group(volumes=vols, group_type={
        "consistent_group_snapshot_enabled": "<is> True"})
    group.delete(delete_volumes=True)
    assert f"group-{group.id}" not in rbd.RBD().group_list(backend.driver.client.ioctx)
    for vol in vols:
        assert f"volume-{vol.id}" in _trash(backend)
        assert f"volume-{vol.id}" not in _images(backend)
    _later(backend, HOUR + 2)
    backend.gc(older_than=0)  # out of the group first: nothing keeps them
    assert not {f"volume-{v.id}" for v in vols} & set(_trash(backend))


def test_the_suites_leftover_check_and_trashed_images(deferred: Any) -> None:
    """The conformance suite's "nothing left behind" check (the driver's dry-run gc)
    does not count a deleted volume waiting out its delay, nor a trashed parent a clone
    still needs; it names an expired image nothing needs (gc would purge it), and gc
    then leaves nothing."""
    from volumelib.testing.drivers import DriverFixtures
    check = DriverFixtures()
    backend = deferred()
    waiting = backend.create_volume(1)
    waiting.delete()
    assert f"volume-{waiting.id}" in _trash(backend)
    assert check.leftovers(backend) == []
    quick = deferred(rbd_deferred_deletion_delay=0)
    parent = quick.create_volume(1)
    clone = parent.clone()
    parent.delete()
    assert f"volume-{parent.id}" in _trash(quick)
    assert check.leftovers(quick) == []  # expired, but the clone needs it
    clone.delete()
    # the trashed clone is free: gc would purge it (and then its parent, whose last
    # dependant it was; a dry run only names what is removable now)
    assert [line.split()[2] for line in check.leftovers(quick)] == [f"volume-{clone.id}"]
    quick.gc(older_than=0)
    assert not {f"volume-{parent.id}", f"volume-{clone.id}"} & set(_trash(quick))
    assert check.leftovers(quick) == []


# -- the background purge thread ---------------------------------------------------------

def _purge_threads(backend_name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate()
            if t.name == f"volumelib-rbd-purge-{backend_name}"]


def test_purge_thread_starts_on_first_use_purges_and_stops_on_close(
        deferred: Any) -> None:
    backend = deferred(rbd_deferred_deletion_delay=0,
                       rbd_deferred_deletion_purge_interval=0.2)
    name = backend.id
    assert _purge_threads(name) == []  # set up, not used yet: no thread
    assert backend.health()["driver"]["trash"]["purge_thread"]["state"] == "not started"
    vol = backend.create_volume(1)
    vol.delete()
    [thread] = _purge_threads(name)
    assert thread.daemon
    _wait_for(lambda: f"volume-{vol.id}" not in _trash(backend), 30,
              "the purge thread removing the trashed image")
    state = backend.health()["driver"]["trash"]["purge_thread"]
    assert state["state"] == "running" and state["purged"] >= 1
    assert state["last_error"] is None
    purger = backend.driver.purge_thread
    backend.close()
    assert not thread.is_alive() and not purger.running
    assert _purge_threads(name) == []
    backend.driver.delete_volume(VolumeInfo(id=str(uuid.uuid4()), size=1))
    assert _purge_threads(name) == []  # a use after close starts no thread
    assert _purge_threads(name) == []


def test_no_thread_at_import_or_set_up(rbd_backend_config: dict[str, Any]) -> None:
    code = textwrap.dedent("""
        import json, sys, threading
        import volumelib
        from volumelib.drivers.rbd import driver
        before = threading.active_count()
        volumelib.setup()
        b = volumelib.Backend(volume_backend_name="import-check",
                              rbd_deferred_deletion=True,
                              rbd_deferred_deletion_purge_interval=1, **json.loads(sys.argv[1]))
        names = [t.name for t in threading.enumerate()]
        b.close()
        print(json.dumps({"at_import": before, "names": names}))
    """)
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(rbd_backend_config)],
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["at_import"] == 1
    assert not [n for n in out["names"] if n.startswith("volumelib-rbd-purge")]


# -- a crash between the trash move and the record's deletion ------------------------------

CHILD = textwrap.dedent("""
    import json, sys
    import volumelib
    from volumelib import checkpoints
    url, config, vol_id = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
    volumelib.setup(persistence_config={"storage": "dbms", "connection": url})
    backend = volumelib.Backend(volume_backend_name="rbd-crash", **config)
    checkpoints.crash_at_from_env()
    backend.get_volume(vol_id).delete()
    print("survived")
""")


@pytest.fixture
def sqlite_store(tmp_path: Any) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'crash.sqlite'}"
    volumelib.setup(persistence_config={"storage": "dbms", "connection": url})
    try:
        yield url
    finally:
        volumelib.setup()


@pytest.mark.parametrize("crash_at", ["volume.delete.driver_done",
                                      "volume.delete.intent_stored"])
def test_crash_around_the_trash_move_is_reconciled_by_gc(
        rbd_backend_config: dict[str, Any], sqlite_store: str, crash_at: str) -> None:
    """SIGKILL right after the image moved to the trash (the record still says
    ``deleting``), or right before: ``gc()`` finishes the delete either way, the image
    ends in the trash exactly once, and a purge after the delay frees it."""
    from tests.functional.ceph_fixtures import cleanup_backend
    config = dict(rbd_backend_config, rbd_deferred_deletion=True,
                  rbd_deferred_deletion_delay=HOUR)
    backend = volumelib.Backend(volume_backend_name="rbd-crash", **config)
    try:
        vol = backend.create_volume(1)
        name = f"volume-{vol.id}"
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, sqlite_store, json.dumps(config), vol.id],
            env=dict(os.environ, VOLUMELIB_CRASH_AT=crash_at), capture_output=True,
            text=True, timeout=120, cwd=REPO)
        assert proc.returncode == -9, (proc.returncode, proc.stdout, proc.stderr)
        assert backend.get_volume(vol.id).status == "deleting"
        moved = crash_at == "volume.delete.driver_done"
        assert (name in _trash(backend)) is moved
        assert (name in _images(backend)) is not moved
        report = backend.gc(older_than=0)
        assert {"kind": "volume", "id": vol.id, "action": "finish delete"} in \
            report["actions"]
        with pytest.raises(exc.VolumeNotFound):
            backend.get_volume(vol.id)
        assert name not in _images(backend)
        assert len(_trash(backend)[name]) == 1  # moved once, kept for the delay
        _later(backend, HOUR + 2)
        backend.gc(older_than=0)
        assert name not in _trash(backend)
    finally:
        try:
            cleanup_backend(backend)
        finally:
            backend.close()


# -- bad options -----------------------------------------------------------------------------

@pytest.mark.parametrize("option, value", [
    ("rbd_deferred_deletion", "maybe"),
    ("rbd_deferred_deletion_delay", -1),
    ("rbd_deferred_deletion_delay", "soon"),
    ("rbd_deferred_deletion_delay", 10 ** 12),
    ("rbd_deferred_deletion_purge_interval", -5),
    ("rbd_deferred_deletion_purge_interval", 0.01),
    ("rbd_deferred_deletion_purge_interval", "often"),
])
def test_bad_option_values_refused(make_rbd_backend: Any, option: str, value: Any) -> None:
    with pytest.raises(exc.InvalidConfig) as info:
        make_rbd_backend(**{option: value})
    assert f"{option}={value!r}" in str(info.value) or f"{option}={value}" in str(info.value)
