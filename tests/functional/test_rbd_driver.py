"""RBD-specific behaviour and faults, on the session's real single-node Ceph cluster:
connection info for os-brick, COW clones and flattening, the trash policy, groups as
RBD groups, rbd-fuse + loop block devices, gc, and bad input / faults (wrong pool,
wrong key, unreachable monitors, an OSD stopped in the middle of operations)."""

from __future__ import annotations

import os
import socket
import stat
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from volumelib import checkpoints
from volumelib import exceptions as exc
from tests.helpers import pread, pwrite, requires_tool

pytest_plugins = ["tests.functional.ceph_fixtures"]

MiB = 1024 ** 2
GiB = 1024 ** 3
CONSISTENT = {"consistent_group_snapshot_enabled": "<is> True"}
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def make_backend(make_rbd_backend: Any) -> Any:
    return make_rbd_backend


def _image(backend: Any, vol: Any) -> Any:
    return backend.driver.open_image(vol.id)


def _write(backend: Any, vol: Any, offset: int, data: bytes) -> None:
    with _image(backend, vol) as image:
        image.write(data, offset)
        image.flush()


def _read(backend: Any, vol: Any, offset: int, length: int) -> bytes:
    with backend.driver.open_image(vol.id, read_only=True) as image:
        return image.read(offset, length)


def _images(backend: Any) -> set[str]:
    import rbd
    return set(rbd.RBD().list(backend.driver.client.ioctx))


def _trash(backend: Any) -> set[str]:
    import rbd
    return {e["name"] for e in rbd.RBD().trash_list(backend.driver.client.ioctx)}


def _user_snaps(backend: Any, vol: Any) -> list[str]:
    with backend.driver.open_image(vol.id, read_only=True) as image:
        return [s["name"] for s in image.list_snaps() if s.get("namespace", 0) == 0]


def _parent(backend: Any, vol: Any) -> str | None:
    import rbd
    with backend.driver.open_image(vol.id, read_only=True) as image:
        try:
            return image.get_parent_image_spec()["image_name"]
        except rbd.ImageNotFound:
            return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- connection info and attach --------------------------------------------------------

def test_connection_info_is_what_os_brick_expects(rbd_backend: Any, ceph_cluster: Any) -> None:
    vol = rbd_backend.create_volume(1)
    conn = vol.connect({"host": "node-1", "ip": "127.0.0.1"})
    info = conn.connection_info
    assert info["driver_volume_type"] == "rbd"
    data = info["data"]
    assert data["name"] == f"{ceph_cluster.pool}/volume-{vol.id}"
    assert (data["hosts"], data["ports"]) == (["127.0.0.1"], [str(ceph_cluster.port)])
    assert (data["auth_enabled"], data["auth_username"]) == (True, ceph_cluster.user)
    assert data["cluster_name"] == "ceph" and data["volume_id"] == vol.id
    assert data["do_local_attach"] is False and data["discard"] is False
    key = ceph_cluster.key()
    assert key in data["keyring"]  # the keyring content os-brick writes into its conf
    for shown in (repr(conn), conn.jsons, vol.jsons, repr(rbd_backend.driver)):
        assert key not in shown
    conn.disconnect()
    vol.delete()


def test_attach_reads_what_librbd_wrote_and_detach_closes(rbd_backend: Any) -> None:
    vol = rbd_backend.create_volume(1)
    _write(rbd_backend, vol, 7 * MiB, b"from-librbd")
    conn = vol.attach()
    handle = conn.path
    try:
        handle.seek(7 * MiB)
        assert handle.read(11) == b"from-librbd"
    finally:
        vol.detach()
    # os-brick wrote a ceph.conf holding the key for the handle: gone with the detach
    assert handle.rbd_conf and not os.path.exists(handle.rbd_conf)
    assert conn.path is None and vol.connections == []
    vol.delete()
    assert f"volume-{vol.id}" not in _images(rbd_backend)


def test_rbd_fuse_and_loop_give_a_block_device(rbd_backend: Any, ceph_cluster: Any) -> None:
    """The documented route to a real block device without krbd."""
    requires_tool("rbd-fuse", "losetup")
    from volumelib.drivers.rbd.fuse import rbd_block_device
    vol = rbd_backend.create_volume(1)
    name = rbd_backend.driver.image_name(vol.id)
    with rbd_block_device(ceph_cluster.conf_path, ceph_cluster.user,
                          ceph_cluster.keyring_path, ceph_cluster.pool, name) as device:
        assert stat.S_ISBLK(os.stat(device).st_mode)
        pwrite(device, 5 * MiB, b"via-a-loop-device" * 256)
        assert pread(device, 5 * MiB, 17) == b"via-a-loop-device"
        with open(device, "rb") as f:
            assert f.seek(0, 2) == GiB
    assert not [line for line in _loop_backing_files().splitlines()
                if line.startswith(f"{device}:")]  # the loop device was detached
    assert _read(rbd_backend, vol, 5 * MiB, 17 * 256) == b"via-a-loop-device" * 256
    vol.delete()


def _loop_backing_files() -> str:
    import subprocess
    return subprocess.run(["losetup", "-a"], capture_output=True, text=True,
                          check=False).stdout


# -- clones, flattening, trash ---------------------------------------------------------

def test_clone_is_copy_on_write_and_leaves_no_snapshot(rbd_backend: Any) -> None:
    vol = rbd_backend.create_volume(1)
    _write(rbd_backend, vol, 0, b"parent-data")
    clone = vol.clone(size=2)
    assert _parent(rbd_backend, clone) == f"volume-{vol.id}"
    assert _user_snaps(rbd_backend, vol) == []  # the clone's snapshot is in the trash ns
    assert _read(rbd_backend, clone, 0, 11) == b"parent-data"
    _write(rbd_backend, clone, 0, b"child-data!")
    assert _read(rbd_backend, vol, 0, 11) == b"parent-data"
    with _image(rbd_backend, clone) as image:
        assert image.size() == 2 * GiB


def test_clone_deeper_than_max_depth_is_flattened(make_backend: Any) -> None:
    backend = make_backend(rbd_max_clone_depth=1)
    vol = backend.create_volume(1)
    _write(backend, vol, MiB, b"generation-0")
    first = vol.clone()
    second = first.clone()
    assert _parent(backend, first) == f"volume-{vol.id}"
    assert _parent(backend, second) is None  # depth 2 > 1: flattened
    assert _read(backend, second, MiB, 12) == b"generation-0"


def test_flatten_volume_from_snapshot(make_backend: Any) -> None:
    backend = make_backend(rbd_flatten_volume_from_snapshot=True)
    vol = backend.create_volume(1)
    _write(backend, vol, 0, b"snap-data")
    snap = vol.create_snapshot()
    new = snap.create_volume()
    assert _parent(backend, new) is None
    assert _read(backend, new, 0, 9) == b"snap-data"
    snap.delete()  # no clone depends on it: removable at once
    assert _user_snaps(backend, vol) == []


def test_store_chunk_size_sets_the_object_size(make_backend: Any) -> None:
    backend = make_backend(rbd_store_chunk_size=8)
    vol = backend.create_volume(1)
    with _image(backend, vol) as image:
        assert image.stat()["obj_size"] == 8 * MiB


def test_delete_with_dependent_clones_uses_the_trash(rbd_backend: Any) -> None:
    vol = rbd_backend.create_volume(1)
    _write(rbd_backend, vol, 0, b"keep-me")
    snap = vol.create_snapshot()
    clone = snap.create_volume()
    snap.delete()  # clone v2: the snapshot moves to the trash namespace
    vol.delete()  # the clone still needs the image: into the RBD trash
    assert vol.status == "deleted"
    image = f"volume-{vol.id}"
    assert image not in _images(rbd_backend) and image in _trash(rbd_backend)
    assert _read(rbd_backend, clone, 0, 7) == b"keep-me"
    rbd_backend.gc(older_than=0)
    assert image in _trash(rbd_backend)  # gc keeps it while the clone needs it
    clone.delete()  # the last dependant: the trashed image is purged
    assert image not in _trash(rbd_backend)


def test_protected_snapshot_with_clones_refused(rbd_backend: Any) -> None:
    """A snapshot protected by another tool (clone v1 style) with clones is refused
    with InvalidState naming the clone; the snapshot stays."""
    vol = rbd_backend.create_volume(1)
    snap = vol.create_snapshot()
    clone = snap.create_volume()
    with _image(rbd_backend, vol) as image:
        image.protect_snap(f"snapshot-{snap.id}")
    with pytest.raises(exc.InvalidState) as info:
        snap.delete()
    assert f"volume-{clone.id}" in str(info.value)
    assert f"snapshot-{snap.id}" in _user_snaps(rbd_backend, vol)
    clone.delete()
    snap.delete()  # no clone any more: unprotected and removed
    assert _user_snaps(rbd_backend, vol) == []


# -- groups ------------------------------------------------------------------------------

def test_group_is_an_rbd_group_and_its_snapshot_one_rbd_group_snapshot(
        rbd_backend: Any) -> None:
    import rbd
    vols = [rbd_backend.create_volume(1) for _ in range(3)]
    group = rbd_backend.create_group(volumes=vols, group_type=CONSISTENT)
    ioctx = rbd_backend.driver.client.ioctx
    assert f"group-{group.id}" in rbd.RBD().group_list(ioctx)
    members = {i["name"] for i in rbd.Group(ioctx, f"group-{group.id}").list_images()}
    assert members == {f"volume-{v.id}" for v in vols}
    for vol in vols:
        _write(rbd_backend, vol, 0, b"snapshotted")
    gs = group.create_snapshot()
    assert gs.consistent is True
    snaps = [s["name"] for s in rbd.Group(ioctx, f"group-{group.id}").list_snaps()]
    assert snaps == [f"gsnap-{gs.id}"]
    member = gs.snapshots[0]
    target = rbd_backend.get_volume(member.volume_id)
    _write(rbd_backend, target, 0, b"overwritten")
    _write(rbd_backend, target, 100 * MiB, b"written-after")  # a new object: discarded
    target.extend(2)
    target.revert_to_snapshot(member)  # copied back from the group snapshot
    assert rbd_backend.get_volume(target.id).status == "available"
    assert _read(rbd_backend, target, 0, 11) == b"snapshotted"
    assert _read(rbd_backend, target, 100 * MiB, 13) == b"\0" * 13
    with _image(rbd_backend, target) as image:
        assert image.size() == 2 * GiB
    gs.delete()
    assert list(rbd.Group(ioctx, f"group-{group.id}").list_snaps()) == []
    group.delete(delete_volumes=True)
    assert f"group-{group.id}" not in rbd.RBD().group_list(ioctx)
    assert not {f"volume-{v.id}" for v in vols} & _images(rbd_backend)


# -- stats, health, gc -------------------------------------------------------------------

def test_stats_come_from_the_cluster(rbd_backend: Any, ceph_cluster: Any) -> None:
    pool = rbd_backend.stats(refresh=True)["pools"][0]
    assert pool["pool_name"] == ceph_cluster.pool
    assert isinstance(pool["total_capacity_gb"], float) and pool["total_capacity_gb"] > 50
    assert 0 < pool["free_capacity_gb"] <= pool["total_capacity_gb"]
    vol = rbd_backend.create_volume(5)
    after = rbd_backend.stats(refresh=True)["pools"][0]
    assert after["provisioned_capacity_gb"] == pool["provisioned_capacity_gb"] + 5
    health = rbd_backend.health()
    assert health["driver"]["ceph_health"].startswith("HEALTH_")
    vol.delete()


def test_gc_removes_what_no_record_knows(rbd_backend: Any) -> None:
    import rbd
    ioctx = rbd_backend.driver.client.ioctx
    vol = rbd_backend.create_volume(1)
    orphan_id = str(uuid.uuid4())
    rbd.RBD().create(ioctx, f"volume-{orphan_id}", GiB)
    stray_snap = f"snapshot-{uuid.uuid4()}"
    with _image(rbd_backend, vol) as image:
        image.create_snap(stray_snap)
    stray_group = f"group-{uuid.uuid4()}"
    rbd.RBD().group_create(ioctx, stray_group)
    report = rbd_backend.gc(older_than=0)
    found = " ".join(report["orphans"])
    for name in (orphan_id, stray_snap, stray_group):
        assert name in found
    assert f"volume-{orphan_id}" not in _images(rbd_backend)
    assert _user_snaps(rbd_backend, vol) == []
    assert stray_group not in rbd.RBD().group_list(ioctx)
    assert f"volume-{vol.id}" in _images(rbd_backend)  # known: kept
    vol.delete()


# -- bad configuration -------------------------------------------------------------------

def test_wrong_pool_refused(make_backend: Any) -> None:
    with pytest.raises(exc.InvalidConfig) as info:
        make_backend(rbd_pool="no-such-pool")
    assert "no-such-pool" in str(info.value)


def test_bad_chunk_size_refused(make_backend: Any) -> None:
    with pytest.raises(exc.InvalidConfig) as info:
        make_backend(rbd_store_chunk_size=3)
    assert "rbd_store_chunk_size=3" in str(info.value)


def test_missing_keyring_refused(make_backend: Any, tmp_path: Any) -> None:
    missing = str(tmp_path / "nope.keyring")
    with pytest.raises(exc.InvalidConfig) as info:
        make_backend(rbd_keyring=missing)
    assert missing in str(info.value)


def test_wrong_key_refused(make_backend: Any, tmp_path: Any, ceph_cluster: Any) -> None:
    bad = tmp_path / "bad.keyring"
    bad.write_text(f"[client.{ceph_cluster.user}]\n\tkey = "
                   f"AQBCZQ5lAAAAABAAx6+7ce5Cvv3sPX2IYKGWqA==\n")
    bad.chmod(0o600)
    with pytest.raises(exc.BackendError) as info:
        make_backend(rbd_keyring=str(bad), rados_connect_timeout=5)
    assert f"client.{ceph_cluster.user}" in str(info.value)


def test_unreachable_monitors_time_out(make_backend: Any, tmp_path: Any,
                                       ceph_cluster: Any) -> None:
    """No monitor listens: the connect gives up after rados_connect_timeout (a
    BackendError saying so), it does not hang."""
    conf = tmp_path / "ceph.conf"
    conf.write_text(f"[global]\nmon_host = v2:127.0.0.1:{_free_port()}\n"
                    f"auth_client_required = cephx\n")
    with pytest.raises(exc.BackendError) as info:
        make_backend(rbd_ceph_conf=str(conf), rados_connect_timeout=3)
    assert "within 3 s" in str(info.value) or "connect" in str(info.value)


# -- an OSD stopped in the middle of operations -------------------------------------------

@pytest.fixture
def osd_restarted(ceph_cluster: Any) -> Iterator[Any]:
    """Yields the cluster; whatever the test did, the OSD runs again afterwards."""
    yield ceph_cluster
    checkpoints.set_checkpoint_hook(None)
    ceph_cluster.start_osd()


def _stop_osd_at(cluster: Any, checkpoint: str) -> None:
    def hook(name: str) -> None:
        if name == checkpoint:
            checkpoints.set_checkpoint_hook(None)
            cluster.stop_osd()

    checkpoints.set_checkpoint_hook(hook)


def test_osd_stopped_mid_operation(make_backend: Any, osd_restarted: Any) -> None:
    cluster = osd_restarted
    backend = make_backend(rados_connect_timeout=5)
    vol = backend.create_volume(1)
    _write(backend, vol, 0, b"before-the-fault")
    doomed = backend.create_volume(1)
    # Delete: the intent is stored, then the OSD goes away before the driver runs.
    _stop_osd_at(cluster, "volume.delete.intent_stored")
    with pytest.raises(exc.BackendError):
        doomed.delete()
    assert backend.get_volume(doomed.id).status == "error_deleting"
    # Clone with the OSD still down: fails within the timeout, the record says error.
    with pytest.raises(exc.BackendError):
        vol.clone()
    failed = [v for v in backend.volumes if v.source_volid == vol.id]
    assert [v.status for v in failed] == ["error"]
    assert backend.get_volume(vol.id).status == "available"
    cluster.start_osd()
    # gc finishes the interrupted delete; the failed clone's record is the user's to
    # delete, and its leftovers (a partial image, a clone-<id> snapshot) go with it.
    report = backend.gc(older_than=0)
    assert {"kind": "volume", "id": doomed.id, "action": "finish delete"} in report["actions"]
    assert f"volume-{doomed.id}" not in _images(backend)
    failed[0].delete()
    backend.gc(older_than=0)
    assert f"volume-{failed[0].id}" not in _images(backend)
    assert _user_snaps(backend, vol) == []
    assert _read(backend, vol, 0, 16) == b"before-the-fault"
    assert backend.is_alive() is True


def test_is_alive_follows_the_monitor(make_backend: Any, ceph_cluster: Any) -> None:
    """With its monitor stopped the cluster is not alive: is_alive() says False within
    rados_connect_timeout, health() says why, operations fail with BackendError; with
    the monitor back, the same backend works again (it reconnects)."""
    backend = make_backend(rados_connect_timeout=3)
    vol = backend.create_volume(1)
    try:
        ceph_cluster.stop_daemon("mon.a")
        assert backend.is_alive() is False
        assert backend.health()["driver"]["alive"] is False
        with pytest.raises(exc.BackendError):
            backend.create_volume(1)
    finally:
        ceph_cluster.start()
    assert backend.is_alive() is True
    assert backend.get_volume(vol.id).status == "available"
    vol.extend(2)
    assert backend.get_volume(vol.id).size == 2


# -- the cluster tool --------------------------------------------------------------------

def test_cluster_tool_stops_by_pid_and_restarts_with_its_data(make_backend: Any,
                                                              ceph_cluster: Any) -> None:
    import json
    import subprocess
    import sys
    backend = make_backend()
    vol = backend.create_volume(1)
    _write(backend, vol, 0, b"survives-a-restart")
    backend.close()
    pids = ceph_cluster.pids()
    assert set(pids) >= {"mon.a", "osd.0"}
    ceph_cluster.stop()
    for pid in pids.values():
        assert not os.path.exists(f"/proc/{pid}") or \
            open(f"/proc/{pid}/stat").read().split(")")[1].split()[0] == "Z"
    status = json.loads(subprocess.run(
        [sys.executable, os.path.join(REPO, "tools", "cephcluster.py"), "status",
         ceph_cluster.workdir],
        capture_output=True, text=True, check=True, timeout=60).stdout)
    assert not any(status["running"].values()) and status["pool"] == ceph_cluster.pool
    ceph_cluster.start()  # same folder: the same cluster, same port, same data
    again = make_backend()
    assert _read(again, vol, 0, 18) == b"survives-a-restart"
