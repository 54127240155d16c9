"""Manage, unmanage, migrate, retype and drain on real components: the file driver on
loop-device XFS (reflink) and on ext4, the rbd driver on the session's throwaway Ceph
cluster, with data read back through the storage itself (files, librbd) and through
real attaches (loop devices, os-brick's userspace RBD connector).

Crashes at every named checkpoint: tests/functional/test_crash_migrate.py.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

import volumelib
from volumelib import exceptions as exc
from volumelib.control.plane import ControlPlane
from volumelib.drivers.file import loop
from volumelib.testing.drivers import AttachedDevice
from volumelib.testing.loopfs import loop_filesystem
from tests.helpers import requires_root, requires_tool

pytest_plugins = ["tests.functional.ceph_fixtures"]

MiB = 1024 ** 2
GiB = 1024 ** 3
STRIDE = 16 * MiB  # a 1 MiB block of pattern every 16 MiB: 64 MiB of data in 1 GiB


def pattern_block(seed: str, offset: int) -> bytes:
    return hashlib.sha256(f"{seed}:{offset}".encode()).digest() * (MiB // 32)


def pattern_digest(seed: str, size: int) -> str:
    """The SHA-256 of a ``size``-byte volume holding the pattern (zeros elsewhere)."""
    h = hashlib.sha256()
    zeros = bytes(STRIDE - MiB)
    for offset in range(0, size, STRIDE):
        h.update(pattern_block(seed, offset))
        h.update(zeros[:min(STRIDE, size - offset) - MiB])
    return h.hexdigest()


def write_pattern(writer: Any, seed: str, size: int) -> None:
    for offset in range(0, size, STRIDE):
        writer(offset, pattern_block(seed, offset))


def digest_of(reader: Any, size: int) -> str:
    h = hashlib.sha256()
    for offset in range(0, size, 4 * MiB):
        h.update(reader(offset, 4 * MiB))
    return h.hexdigest()


def file_io(backend: Any, vol: Any) -> tuple[Any, Any]:
    path = backend.driver.volume_path(vol.id)

    def write(offset: int, data: bytes) -> None:
        with open(path, "r+b") as f:
            f.seek(offset)
            f.write(data)

    def read(offset: int, length: int) -> bytes:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read(length)

    return write, read


def rbd_io(backend: Any, vol: Any) -> tuple[Any, Any]:
    def write(offset: int, data: bytes) -> None:
        with backend.driver.open_image(vol.id) as image:
            image.write(data, offset)

    def read(offset: int, length: int) -> bytes:
        with backend.driver.open_image(vol.id, read_only=True) as image:
            return bytes(image.read(offset, length))

    return write, read


def io_for(backend: Any, vol: Any) -> tuple[Any, Any]:
    return (rbd_io if backend.driver.name == "rbd" else file_io)(backend, vol)


def storage(backend: Any) -> list[str]:
    """Every object of a backend's storage: files (with temp files) or RBD images with
    their snapshots and trash."""
    if backend.driver.name == "rbd":
        import rbd
        ioctx = backend.driver.client.ioctx
        out = []
        for name in sorted(rbd.RBD().list(ioctx)):
            with backend.driver.client.image(name, read_only=True) as image:
                out.append(f"{name}@{','.join(s['name'] for s in image.list_snaps())}")
        return out + [f"trash:{e['name']}" for e in rbd.RBD().trash_list(ioctx)]
    root = backend.driver.root
    out = []
    for directory, _, files in os.walk(root):
        out += [os.path.relpath(os.path.join(directory, f), root) for f in files]
    return sorted(out)


def world(*backends: Any) -> dict[str, Any]:
    store = backends[0].persistence
    return {"volumes": sorted((v.id, v.status, v.backend_name, v.size, v.volume_type_id)
                              for v in store.get_volumes()),
            "snapshots": sorted((s.id, s.status) for s in store.get_snapshots()),
            "intents": sorted(kv.key for kv in store.get_key_values()),
            "storage": {b.id: storage(b) for b in backends}}


@pytest.fixture
def xfs_pair(xfs_dir: str) -> Iterator[tuple[Any, Any]]:
    """Two file backends in two roots of one reflink XFS."""
    requires_root()
    volumelib.setup()
    a = volumelib.Backend("xfs-a", "file", file_root=os.path.join(xfs_dir, "a"))
    b = volumelib.Backend("xfs-b", "file", file_root=os.path.join(xfs_dir, "b"))
    yield a, b
    a.close()
    b.close()


@pytest.fixture
def ext4_backend(ext4_dir: str) -> Iterator[Any]:
    backend = volumelib.Backend("ext4", "file", file_root=os.path.join(ext4_dir, "root"))
    yield backend
    backend.close()


@pytest.fixture
def rbd_pair(ceph_cluster: Any, make_rbd_backend: Any) -> tuple[Any, Any]:
    """Two rbd backends: two pools of the session's cluster."""
    other = ceph_cluster.add_pool("volumelib-other")
    return make_rbd_backend(), make_rbd_backend(rbd_pool=other["rbd_pool"])


# -- adopting what exists ---------------------------------------------------------------------

def test_adopt_a_file_made_outside_use_it_and_unmanage(xfs_pair: Any) -> None:
    a, _ = xfs_pair
    requires_tool("dd", "losetup")
    folder = a.driver.import_dir
    os.makedirs(folder)
    legacy = os.path.join(folder, "legacy.raw")
    subprocess.run(["dd", "if=/dev/urandom", f"of={legacy}", "bs=1M", "count=3",
                    "status=none"], check=True, timeout=60)
    with open(legacy, "ab") as f:
        f.truncate(GiB + 4096 * 3)  # not a whole number of GiB
    with open(legacy, "rb") as f:
        head = f.read(3 * MiB)
    with open(os.path.join(folder, "disk.qcow2"), "wb") as f:
        f.write(b"QFI\xfb" + bytes(508))
    listed = {m["reference"]["source-name"]: m for m in a.manageable_volumes()}
    assert listed["legacy.raw"]["safe_to_manage"] and listed["legacy.raw"]["size"] == 2
    assert not listed["disk.qcow2"]["safe_to_manage"]
    assert "qcow2" in listed["disk.qcow2"]["reason_not_safe"]
    with pytest.raises(exc.NotManageable):
        a.manage({"source-name": "disk.qcow2"})

    vol = a.manage({"source-name": "legacy.raw"}, name="legacy")
    assert (vol.size, vol.status) == (2, "available")
    assert not os.path.exists(legacy)
    assert os.path.getsize(a.driver.volume_path(vol.id)) == 2 * GiB
    conn = vol.attach()  # used through a real loop device
    try:
        with AttachedDevice(conn.path) as dev:
            assert dev.read(0, 3 * MiB) == head
            dev.write(5 * MiB, b"written through volumelib")
    finally:
        vol.detach()
    ref = vol.unmanage()
    assert ref == {"source-name": f"volume-{vol.id}"}
    assert a.volumes == [] and a.gc(older_than=0)["orphans"] == []
    kept = os.path.join(folder, ref["source-name"])
    with open(kept, "rb") as f:
        assert f.read(3 * MiB) == head
        f.seek(5 * MiB)
        assert f.read(25) == b"written through volumelib"
    assert {m["reference"]["source-name"] for m in a.manageable_volumes()} == \
        {"disk.qcow2", ref["source-name"]}


def test_adopt_an_rbd_image_made_outside_with_its_snapshot(rbd_backend: Any,
                                                          ceph_cluster: Any,
                                                          tmp_path: Any) -> None:
    backend = rbd_backend
    source = tmp_path / "made-elsewhere.raw"
    head = os.urandom(2 * MiB)
    with open(source, "wb") as f:
        f.write(head)
        f.truncate(GiB + MiB)
    rbd_cmd = ["rbd", "-c", ceph_cluster.conf_path, "-n", "client.admin", "--keyring",
               ceph_cluster.admin_keyring_path, "-p", ceph_cluster.pool]
    subprocess.run([*rbd_cmd, "import", str(source), "legacy-db"], check=True, timeout=120,
                   capture_output=True)
    subprocess.run([*rbd_cmd, "snap", "create", "legacy-db@before-upgrade"], check=True,
                   timeout=60, capture_output=True)
    listed = {m["reference"]["source-name"]: m for m in backend.manageable_volumes()}
    assert listed["legacy-db"]["size"] == 2 and listed["legacy-db"]["safe_to_manage"]
    image_id = listed["legacy-db"]["extra_info"].split()[2].rstrip(",")
    vol = backend.manage({"source-id": image_id}, name="db")  # by RBD image id
    assert (vol.size, vol.status) == (2, "available")
    [entry] = backend.manageable_snapshots()
    assert entry["reference"] == {"source-name": "before-upgrade"} and entry["safe_to_manage"]
    snap = backend.manage_snapshot(entry["reference"], vol, name="before-upgrade")
    with pytest.raises(exc.AlreadyManaged):  # the image is volume-<id> now
        backend.manage({"source-name": f"volume-{vol.id}"})

    conn = vol.attach()  # os-brick's userspace RBD connector: a file-like handle
    try:
        with AttachedDevice(conn.path) as dev:
            assert dev.read(0, 2 * MiB) == head
            dev.write(0, b"X" * 4096)
    finally:
        vol.detach()
    vol.revert_to_snapshot(snap)  # the adopted snapshot is a real snapshot of it
    _, read = rbd_io(backend, vol)
    assert read(0, 2 * MiB) == head
    assert snap.unmanage() == {"source-name": f"unmanaged-snapshot-{snap.id}"}
    ref = vol.unmanage()
    assert ref == {"source-name": f"unmanaged-volume-{vol.id}"}
    assert backend.volumes == [] and backend.gc(older_than=0)["orphans"] == []
    out = tmp_path / "exported.raw"
    subprocess.run([*rbd_cmd, "export", ref["source-name"], str(out)], check=True,
                   timeout=120, capture_output=True)
    with open(out, "rb") as f:
        assert f.read(2 * MiB) == head
    assert os.path.getsize(out) == 2 * GiB  # grown to whole GiB when adopted
    subprocess.run([*rbd_cmd, "snap", "purge", ref["source-name"]], check=True, timeout=60,
                   capture_output=True)
    subprocess.run([*rbd_cmd, "rm", ref["source-name"]], check=True, timeout=60,
                   capture_output=True)


def test_bad_references_change_nothing(xfs_pair: Any, rbd_backend: Any) -> None:
    a, _ = xfs_pair
    os.makedirs(a.driver.import_dir)
    inside = os.path.join(a.driver.import_dir, "in-use.raw")
    with open(inside, "wb") as f:
        f.truncate(GiB)
    device = loop.attach(inside)
    try:
        mine = a.create_volume(1)
        theirs = rbd_backend.create_volume(1)
        before = world(a, rbd_backend)
        cases = [
            (a, {"source-name": "missing.raw"}, exc.ReferenceNotFound),
            (a, {"source-name": "../volumes/x"}, exc.InvalidReference),
            (a, {"source-id": "12"}, exc.InvalidReference),
            (a, {"source-name": f"volume-{mine.id}"}, exc.AlreadyManaged),
            (a, {"source-name": "in-use.raw"}, exc.NotManageable),
            (rbd_backend, {"source-name": "no-such-image"}, exc.ReferenceNotFound),
            (rbd_backend, {"source-id": "0123456789ab"}, exc.ReferenceNotFound),
            (rbd_backend, {"source-name": f"volume-{theirs.id}"}, exc.AlreadyManaged),
        ]
        for backend, reference, error in cases:
            with pytest.raises(error) as caught:
                backend.manage(reference)
            assert world(a, rbd_backend) == before, (reference, error)
            if error is exc.ReferenceNotFound:
                assert list(reference.values())[0] in str(caught.value)
    finally:
        loop.detach(device)


# -- migration ---------------------------------------------------------------------------------

def test_migrate_xfs_to_rbd_and_back_keeps_the_pattern(xfs_pair: Any, rbd_backend: Any) -> None:
    a, _ = xfs_pair
    vol = a.create_volume(1, name="pattern", metadata={"app": "db"})
    write_pattern(file_io(a, vol)[0], "xr", GiB)
    expected = pattern_digest("xr", GiB)
    phases: list[str] = []
    there = vol.migrate(rbd_backend, progress=lambda phase, done, total: phases.append(phase))
    assert (there.method, there.verified) == ("host", True)
    assert there.data_bytes == 64 * MiB and there.bytes_written == 64 * MiB
    assert there.bytes_read == 2 * 64 * MiB  # the extents, then the verification
    assert {"copy", "verify"} <= set(phases)
    assert vol.backend_name == rbd_backend.id
    assert digest_of(rbd_io(rbd_backend, vol)[1], GiB) == expected
    assert storage(a) == [] or all(not p.startswith("volumes/") for p in storage(a))
    back = vol.migrate(a)
    assert back.method == "host" and back.data_bytes == 64 * MiB  # rbd diff: data only
    assert digest_of(file_io(a, vol)[1], GiB) == expected
    assert storage(rbd_backend) == []
    stored = a.get_volume(vol.id)
    assert (stored.name, stored.metadata, stored.size) == ("pattern", {"app": "db"}, 1)
    # Only the data is allocated on the target: the copy kept the holes.
    assert os.stat(a.driver.volume_path(vol.id)).st_blocks * 512 < 80 * MiB


def test_migrate_between_roots_of_one_xfs_is_a_reflink(xfs_pair: Any) -> None:
    a, b = xfs_pair
    vol = a.create_volume(1)
    write, _ = file_io(a, vol)
    for offset in range(0, GiB, 64 * MiB):  # the whole GiB written
        write(offset, hashlib.sha256(str(offset).encode()).digest() * (2 * MiB))
    expected = digest_of(file_io(a, vol)[1], GiB)
    free_before = os.statvfs(a.driver.root).f_bavail * os.statvfs(a.driver.root).f_frsize
    used_at_copy: list[int] = []

    def progress(phase: str, done: float, total: float | None) -> None:
        st = os.statvfs(b.driver.root)  # both files exist now: shared extents cost nothing
        used_at_copy.append(free_before - st.f_bavail * st.f_frsize)

    result = vol.migrate(b, progress=progress)
    assert result.method == "driver" and result.bytes_read == 0
    assert used_at_copy and max(used_at_copy) < 64 * MiB, used_at_copy
    assert result.seconds < 10
    assert digest_of(file_io(b, vol)[1], GiB) == expected
    assert not os.path.exists(a.driver.volume_path(vol.id))


def test_migrate_xfs_to_ext4_is_a_sparse_copy(xfs_pair: Any, ext4_backend: Any) -> None:
    a, _ = xfs_pair
    vol = a.create_volume(1)
    write_pattern(file_io(a, vol)[0], "x4", GiB)
    result = vol.migrate(ext4_backend)
    assert result.method == "host" and result.verified
    assert result.data_bytes == 64 * MiB and result.bytes_read == 128 * MiB
    path = ext4_backend.driver.volume_path(vol.id)
    assert os.path.getsize(path) == GiB
    assert os.stat(path).st_blocks * 512 <= 66 * MiB  # holes stayed holes
    assert digest_of(file_io(ext4_backend, vol)[1], GiB) == pattern_digest("x4", GiB)
    assert loop.devices_under(ext4_backend.driver.root) == []
    assert loop.devices_under(a.driver.root) == []


def test_migrate_within_one_ceph_cluster_is_a_deep_copy(rbd_pair: Any) -> None:
    r1, r2 = rbd_pair
    vol = r1.create_volume(1)
    write_pattern(rbd_io(r1, vol)[0], "rr", GiB)
    result = vol.migrate(r2)
    assert result.method == "driver" and result.bytes_read == 0
    assert digest_of(rbd_io(r2, vol)[1], GiB) == pattern_digest("rr", GiB)
    assert storage(r1) == [] and storage(r2) == [f"volume-{vol.id}@"]


def test_migration_refusals_change_nothing(xfs_pair: Any, rbd_backend: Any) -> None:
    a, b = xfs_pair
    vol = a.create_volume(1)
    with_snap = a.create_volume(1)
    with_snap.create_snapshot()
    attached = a.create_volume(1)
    attached.attach()
    with loop_filesystem("xfs", size_bytes=400 * MiB) as small:
        tiny = volumelib.Backend("tiny", "file", file_root=os.path.join(small.mountpoint, "r"),
                                 max_over_subscription_ratio=1.0)
        try:
            twin = volumelib.Backend("twin", "file", file_root=a.driver.root)
            try:
                before = world(a, b, rbd_backend, tiny)
                cases = [
                    (lambda: vol.migrate(tiny), exc.InsufficientCapacity),
                    (lambda: attached.migrate(b), exc.VolumeInUse),
                    (lambda: attached.migrate(rbd_backend), exc.VolumeInUse),
                    (lambda: with_snap.migrate(rbd_backend), exc.HasSnapshots),
                    (lambda: vol.migrate(twin), exc.InvalidArgument),  # the same storage
                    (lambda: vol.migrate("no-such-backend"), exc.BackendNotFound),
                    (lambda: vol.retype("no-such-type"), exc.VolumeTypeNotFound),
                ]
                for call, error in cases:
                    with pytest.raises(error):
                        call()
                    assert world(a, b, rbd_backend, tiny) == before, error
            finally:
                twin.close()
        finally:
            tiny.close()
    attached.detach()


# -- retype and drain ----------------------------------------------------------------------------

def test_retype_in_place_and_with_migration(xfs_dir: str, ext4_dir: str) -> None:
    requires_root()
    volumelib.setup()
    with ControlPlane() as cp:
        cp.add_pool("ext4", "file", file_root=os.path.join(ext4_dir, "root"))
        cp.add_pool("xfs", "file", file_root=os.path.join(xfs_dir, "root"))
        cp.create_volume_type("plain", extra_specs={"thin": "<is> True"})
        cow = cp.create_volume_type("cow", extra_specs={"reflink": "<is> True"})
        vol = cp.create_volume(1, volume_type="plain", name="r")
        ext4 = cp.backend("ext4") if vol.backend_name == "ext4" else None
        if ext4 is None:  # placement chose xfs: put it on ext4 for the test
            vol.migrate("ext4")
            ext4 = cp.backend("ext4")
        write_pattern(file_io(ext4, vol)[0], "rt", GiB)
        before = world(ext4, cp.backend("xfs"))
        with pytest.raises(exc.MigrationRequired) as caught:
            vol.retype("cow")
        assert "reflink" in str(caught.value)
        assert world(ext4, cp.backend("xfs")) == before
        assert vol.retype("plain") is None  # the same type: nothing to do
        result = vol.retype("cow", migration_policy="on-demand")
        assert result is not None and result.target == "xfs" and result.method == "host"
        stored = cp.get_volume(vol.id)
        assert (stored.backend_name, stored.volume_type_id) == ("xfs", cow.id)
        assert digest_of(file_io(cp.backend("xfs"), stored)[1], GiB) == \
            pattern_digest("rt", GiB)
        assert stored.retype("plain") is None  # xfs serves "plain" too: in place
        assert cp.get_volume(vol.id).backend_name == "xfs"
        assert cp.get_volume(vol.id).volume_type["thin"] == "<is> True"


def test_drain_a_pool(xfs_dir: str, ext4_dir: str, rbd_backend_config: dict[str, Any]) -> None:
    requires_root()
    volumelib.setup()
    with ControlPlane() as cp:
        cp.add_pool("leaving", "file", file_root=os.path.join(xfs_dir, "root"))
        cp.add_pool("ext4", "file", file_root=os.path.join(ext4_dir, "root"), weight=1)
        cp.add_pool("ceph", **rbd_backend_config, weight=2)
        leaving = cp.backend("leaving")
        vols = [leaving.create_volume(1, name=f"d{i}") for i in range(3)]
        for i, vol in enumerate(vols):
            write_pattern(file_io(leaving, vol)[0], f"d{i}", 64 * MiB)
        kept = leaving.create_volume(1, name="has-snapshot")
        kept.create_snapshot()
        bar: list[tuple[str, str]] = []
        report = cp.drain("leaving", progress=lambda vid, phase, *_: bar.append((vid, phase)))
        assert sorted(m["volume_id"] for m in report["moved"]) == sorted(v.id for v in vols)
        assert {m["target"] for m in report["moved"]} == {"ceph"}  # the heavier pool
        assert list(report["failed"]) == [kept.id] and report["remaining"] == 1
        assert {vid for vid, _ in bar} == {v.id for v in vols}
        ceph = cp.backend("ceph")
        for i, vol in enumerate(vols):
            moved = cp.get_volume(vol.id)
            assert moved.backend_name == "ceph"
            assert digest_of(rbd_io(ceph, moved)[1], 64 * MiB) == pattern_digest(f"d{i}",
                                                                                  64 * MiB)
            moved.delete()
        assert cp.get_pool("leaving").weight == 0
        assert [p for p in storage(leaving) if p.startswith("volumes/")] == \
            [f"volumes/volume-{kept.id}"]
