"""Consistency groups of the file driver, through its SPI, on real filesystems.

On a real btrfs (on a loop device) the driver keeps a group's volumes in one
subvolume and takes a group snapshot as one read-only subvolume snapshot: the tests
write distinct patterns, snapshot, overwrite, create groups from the snapshot and
from the group, and check every byte. They prove the snapshot is a single subvolume
snapshot of the group (``btrfs subvolume show``) that costs no data space. On XFS and
ext4 there is no consistency: every group method raises ``NotImplementedError`` and
the per-volume methods work as before for group members. Nothing is mocked.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import os
import stat
import subprocess
import time
import types
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.helpers import pread, pwrite
from volumelib import exceptions as exc
from volumelib.drivers.file import FileDriver, btrfs, copy, loop
from volumelib.drivers.types import Capability, ConnectorProperties, SnapshotInfo, VolumeInfo

#: ``btrfs_root`` and ``btrfs_dir`` (a real btrfs on a loop device).
pytest_plugins = ["tests.functional.btrfs_fixtures"]

MiB = 1024 ** 2
GiB = 1024 ** 3
CHUNK = 16 * MiB
CONNECTOR = ConnectorProperties(host="localhost", do_local_attach=True)
CTX = types.SimpleNamespace(project_id="project", user_id="user")
#: The ``make_driver`` fixture (tests/functional/conftest.py).
MakeDriver = Callable[..., FileDriver]


# -- helpers -------------------------------------------------------------------------

def new_id() -> str:
    return str(uuid.uuid4())


def new_volume(size: int = 1, group_id: str | None = None) -> VolumeInfo:
    return VolumeInfo(id=new_id(), size=size, group_id=group_id)


def new_snapshot(volume: VolumeInfo, group_snapshot_id: str | None = None) -> SnapshotInfo:
    return SnapshotInfo(id=new_id(), volume_id=volume.id, volume_size=volume.size,
                        volume=volume, group_snapshot_id=group_snapshot_id)


def new_group() -> dict[str, Any]:
    return {"id": new_id(), "name": "g", "status": "creating", "backend_name": "t",
            "group_type": {"consistent_group_snapshot_enabled": "<is> True"}}


def new_cgsnapshot(group: dict[str, Any]) -> dict[str, Any]:
    return {"id": new_id(), "name": None, "status": "creating", "group_id": group["id"],
            "backend_name": "t"}


def in_group(volume: VolumeInfo, group: dict[str, Any] | None) -> VolumeInfo:
    return dataclasses.replace(volume, group_id=group["id"] if group else None)


def group_path(driver: FileDriver, group: dict[str, Any]) -> str:
    return os.path.join(driver.root, "groups", f"group-{group['id']}")


def gsnap_path(driver: FileDriver, cgsnap: dict[str, Any]) -> str:
    return os.path.join(driver.root, "group-snapshots", f"gsnap-{cgsnap['id']}")


def flat_path(driver: FileDriver, volume: VolumeInfo) -> str:
    return os.path.join(driver.root, "volumes", f"volume-{volume.id}")


def member_path(driver: FileDriver, group: dict[str, Any], volume: VolumeInfo) -> str:
    return os.path.join(group_path(driver, group), f"volume-{volume.id}")



def allocated(path: str) -> int:
    return os.stat(path).st_blocks * 512


def run(*cmd: str) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True,
                          timeout=120).stdout.strip()


def fstype_of(path: str) -> str:
    return run("findmnt", "-n", "-o", "FSTYPE", "-T", path)


#: Offsets and lengths of the patterns in a 1 GiB volume: unaligned, spanning pages,
#: a large extent, the last bytes.
PATTERN = [(0, 4096), (7 * 4096 + 100, 5000), (100 * MiB, 8 * MiB), (300 * MiB + 3, 65536),
           (GiB - 4096, 4096)]


def write_patterns(path: str, seed: str, pattern: list[tuple[int, int]] = PATTERN
                   ) -> dict[int, bytes]:
    """Write a pattern derived from ``seed`` at each offset (os.pwrite); what was written."""
    written = {}
    for offset, length in pattern:
        block = hashlib.sha256(f"{seed}/{offset}".encode()).digest()
        data = (block * (length // len(block) + 1))[:length]
        pwrite(path, offset, data)
        written[offset] = data
    return written


def merged(*layers: dict[int, bytes]) -> dict[int, bytes]:
    """Later layers over earlier ones (same offsets and lengths replace)."""
    out: dict[int, bytes] = {}
    for layer in layers:
        out.update(layer)
    return out


_ZEROS = bytes(CHUNK)


def expected_chunk(start: int, length: int, written: dict[int, bytes]) -> bytes:
    hits = [(o, d) for o, d in written.items() if o < start + length and o + len(d) > start]
    if not hits:
        return _ZEROS[:length] if length < CHUNK else _ZEROS
    buf = bytearray(length)
    for offset, data in hits:
        lo, hi = max(offset, start), min(offset + len(data), start + length)
        buf[lo - start:hi - start] = data[lo - offset:hi - offset]
    return bytes(buf)


def _next_data(fd: int, pos: int) -> int | None:
    try:
        return os.lseek(fd, pos, os.SEEK_DATA)
    except OSError as e:
        assert e.errno == errno.ENXIO
        return None


def assert_image(path: str, size: int, written: dict[int, bytes], *,
                 read_holes: bool = False) -> None:
    """Every byte of ``path`` is the pattern where written and zero elsewhere, and the
    file is ``size`` bytes.

    Every chunk holding data is read and compared. A chunk that is a hole (no data
    by ``SEEK_DATA``) reads as zeros by definition; it is only checked to be expected
    zero, unless ``read_holes`` (this VM reads holes at ~1 GiB/s).
    """
    assert os.stat(path).st_size == size, path
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        pos = 0
        while pos < size:
            n = min(CHUNK, size - pos)
            data_at = _next_data(f.fileno(), pos)
            if not read_holes and (data_at is None or data_at >= pos + n):
                assert expected_chunk(pos, n, written) == _ZEROS[:n], \
                    f"{path} has a hole in [{pos}, {pos + n}) where data was written"
                pos += n
                continue
            f.seek(pos)
            got = 0
            while got < n:
                r = f.readinto(view[got:n])
                assert r, f"{path}: short read at {pos + got}"
                got += r
            data = buf if n == CHUNK else bytes(view[:n])  # (memoryview == is slow)
            assert data == expected_chunk(pos, n, written), \
                f"{path} differs in [{pos}, {pos + n})"
            pos += n


def btrfs_used(mountpoint: str) -> dict[str, int]:
    """``{"Data": used bytes, "Metadata": ..., ...}`` after a filesystem sync."""
    run("btrfs", "filesystem", "sync", mountpoint)
    used = {}
    for line in run("btrfs", "filesystem", "df", "-b", mountpoint).splitlines():
        kind = line.split(",")[0].strip()
        used[kind] = int(line.rsplit("used=", 1)[1])
    return used


def make_group(driver: FileDriver, count: int, size: int = 1
               ) -> tuple[dict[str, Any], list[VolumeInfo]]:
    """A group with ``count`` volumes, made the way the library does: the group, flat
    volumes, then ``update_consistencygroup`` adds them."""
    group = new_group()
    assert driver.create_consistencygroup(CTX, group) is None
    volumes = [new_volume(size) for _ in range(count)]
    for v in volumes:
        driver.create_volume(v)
    assert driver.update_consistencygroup(CTX, group, add_volumes=volumes) == \
        (None, None, None)
    return group, [in_group(v, group) for v in volumes]


# -- btrfs: setup ----------------------------------------------------------------------

def test_btrfs_capability_and_layout(btrfs_dir: str, make_driver: MakeDriver) -> None:
    assert fstype_of(btrfs_dir) == "btrfs"
    driver = make_driver(btrfs_dir)
    assert Capability.CONSISTENT_GROUP_SNAPSHOT in driver.capabilities
    assert {Capability.REFLINK, Capability.COW_SNAPSHOT} <= driver.capabilities
    assert sorted(os.listdir(driver.root)) == ["group-snapshots", "groups", "snapshots",
                                               "volumes"]
    for sub in ("groups", "group-snapshots"):
        path = os.path.join(driver.root, sub)
        assert stat.S_IMODE(os.lstat(path).st_mode) == 0o700
        assert os.listdir(path) == [], "the subvolume probe must leave nothing behind"
    pool = driver.get_volume_stats(refresh=True).to_dict()["pools"][0]
    assert pool["consistent_group_snapshot_enabled"] is True

    group = new_group()
    driver.create_consistencygroup(CTX, group)
    path = group_path(driver, group)
    assert btrfs.is_subvolume(path)
    assert stat.S_IMODE(os.lstat(path).st_mode) == 0o700
    assert driver.create_consistencygroup(CTX, group) is None  # idempotent
    # reflink=never rules out shared extents, hence subvolume snapshots.
    never = make_driver(btrfs_dir, file_root=os.path.join(btrfs_dir, "never"),
                        reflink="never")
    assert Capability.CONSISTENT_GROUP_SNAPSHOT not in never.capabilities
    with pytest.raises(NotImplementedError):
        never.create_consistencygroup(CTX, new_group())


# -- btrfs: consistency, every byte ------------------------------------------------------

def test_group_snapshot_is_consistent_and_atomic(btrfs_dir: str, btrfs_root: Any,
                                                 make_driver: MakeDriver) -> None:
    driver = make_driver(btrfs_dir)
    group, members = make_group(driver, 3)
    for v in members:
        assert os.path.isfile(member_path(driver, group, v))
        assert not os.path.exists(flat_path(driver, v)), "moved, not copied"
        assert driver.volume_path(v.id, group["id"]) == member_path(driver, group, v)
        assert driver.volume_path(v.id) == member_path(driver, group, v)

    before = [write_patterns(member_path(driver, group, v), f"before-{i}")
              for i, v in enumerate(members)]
    used0 = btrfs_used(btrfs_root.mountpoint)
    cgsnap = new_cgsnapshot(group)
    snaps = [new_snapshot(v, cgsnap["id"]) for v in members]
    started = time.monotonic()
    assert driver.create_cgsnapshot(CTX, cgsnap, snaps) == (None, None)
    elapsed = time.monotonic() - started
    used1 = btrfs_used(btrfs_root.mountpoint)

    # One subvolume snapshot of the group's subvolume: atomic across the members.
    gsnap = gsnap_path(driver, cgsnap)
    shown = btrfs.show(gsnap)
    origin = btrfs.show(group_path(driver, group))
    assert shown["Parent UUID"] == origin["UUID"]
    assert "readonly" in str(shown["Flags"])
    assert [s for s in origin["Snapshot(s)"] if s.endswith(f"gsnap-{cgsnap['id']}")]
    assert sorted(os.listdir(gsnap)) == sorted(f"volume-{v.id}" for v in members)
    # It shares every extent: no data space used, only a little metadata.
    assert used1["Data"] - used0["Data"] < MiB, (used0, used1)
    assert used1["Metadata"] - used0["Metadata"] < 4 * MiB, (used0, used1)
    assert elapsed < 10, f"a group snapshot took {elapsed:.1f} s"

    after = [write_patterns(member_path(driver, group, v), f"after-{i}")
             for i, v in enumerate(members)]
    for v, b in zip(members, before):
        assert_image(os.path.join(gsnap, f"volume-{v.id}"), GiB, b)

    new = new_group()
    targets = [new_volume(2, new["id"]) for _ in members]  # larger than the sources
    model, updates = driver.create_consistencygroup_from_src(
        CTX, new, targets, cgsnapshot=cgsnap, snapshots=snaps)
    assert model == {"status": "available"}
    assert updates == [{"id": t.id, "status": "available"} for t in targets]
    assert btrfs.is_subvolume(group_path(driver, new))
    for t, b in zip(targets, before):
        path = member_path(driver, new, t)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert_image(path, 2 * GiB, b, read_holes=True)  # every byte read
        assert allocated(path) < 32 * MiB, "the copy must stay sparse"
    for v, a, b in zip(members, after, before):  # the sources hold the new data
        assert_image(member_path(driver, group, v), GiB, merged(b, a))

    # The per-volume methods work for members of a group snapshot too.
    one = new_volume(3)
    driver.create_volume_from_snapshot(one, snaps[1])
    assert_image(flat_path(driver, one), 3 * GiB, before[1])
    driver.revert_to_snapshot(members[2], snaps[2])
    assert_image(member_path(driver, group, members[2]), GiB, before[2])
    driver.delete_snapshot(snaps[0])  # lives in the group snapshot: kept
    assert os.path.exists(os.path.join(gsnap, f"volume-{members[0].id}"))

    # The copies are independent of the group snapshot and of each other.
    pwrite(member_path(driver, new, targets[0]), 0, b"X" * 4096)
    assert pread(os.path.join(gsnap, f"volume-{members[0].id}"), 0, 4096) == before[0][0]
    assert driver.delete_cgsnapshot(CTX, cgsnap, snaps) == (None, None)
    assert not os.path.lexists(gsnap)
    assert driver.delete_cgsnapshot(CTX, cgsnap, snaps) == (None, None)  # missing: no-op
    assert_image(member_path(driver, new, targets[1]), 2 * GiB, before[1])
    assert_image(flat_path(driver, one), 3 * GiB, before[1])


def test_group_from_source_group(btrfs_dir: str, make_driver: MakeDriver) -> None:
    driver = make_driver(btrfs_dir)
    group, members = make_group(driver, 3)
    data = [write_patterns(member_path(driver, group, v), f"src-{i}")
            for i, v in enumerate(members)]
    new = new_group()
    targets = [new_volume(1, new["id"]), new_volume(2, new["id"]), new_volume(1, new["id"])]
    model, updates = driver.create_consistencygroup_from_src(
        CTX, new, targets, source_cg=group, source_vols=members)
    assert model == {"status": "available"}
    assert [u["status"] for u in updates] == ["available"] * 3
    for t, d in zip(targets, data):
        assert_image(member_path(driver, new, t), t.size * GiB, d)
    assert os.listdir(os.path.join(driver.root, "group-snapshots")) == [], \
        "the frozen source snapshot must be deleted"
    pwrite(member_path(driver, new, targets[0]), 0, b"N" * 4096)
    assert pread(member_path(driver, group, members[0]), 0, 4096) == data[0][0]
    # The new group is a group like any other.
    cgsnap = new_cgsnapshot(new)
    assert driver.create_cgsnapshot(CTX, cgsnap, [new_snapshot(t, cgsnap["id"])
                                                  for t in targets]) == (None, None)


def test_group_from_a_group_snapshot_taken_volume_by_volume(
        btrfs_dir: str, make_driver: MakeDriver) -> None:
    """A group snapshot the library's fallback took (one snapshot file per volume) is a
    valid source as well: each snapshot's own file is used."""
    driver = make_driver(btrfs_dir)
    group, members = make_group(driver, 2)
    data = [write_patterns(member_path(driver, group, v), f"f{i}")
            for i, v in enumerate(members)]
    cgsnap = new_cgsnapshot(group)
    snaps = [new_snapshot(v, cgsnap["id"]) for v in members]
    for s in snaps:
        driver.create_snapshot(s)
    assert not os.path.lexists(gsnap_path(driver, cgsnap))
    new = new_group()
    targets = [new_volume(1, new["id"]), new_volume(2, new["id"])]
    model, updates = driver.create_consistencygroup_from_src(
        CTX, new, targets, cgsnapshot=cgsnap, snapshots=snaps)
    assert model == {"status": "available"}
    assert [u["status"] for u in updates] == ["available"] * 2
    for t, d in zip(targets, data):
        assert_image(member_path(driver, new, t), t.size * GiB, d)
    driver.delete_cgsnapshot(CTX, cgsnap, snaps)  # removes the snapshot files too
    assert os.listdir(os.path.join(driver.root, "snapshots")) == []


def test_member_operations_and_removal(btrfs_dir: str, make_driver: MakeDriver) -> None:
    driver = make_driver(btrfs_dir)
    group, (a, b) = make_group(driver, 2)
    data = write_patterns(member_path(driver, group, a), "a")

    # Per-volume methods on a member, where the library's fallback would call them.
    snap = new_snapshot(a)
    driver.create_snapshot(snap)
    assert_image(os.path.join(driver.root, "snapshots", f"snapshot-{snap.id}"), GiB, data)
    clone = new_volume(2, group["id"])  # created in a group: lands in its subvolume
    driver.create_cloned_volume(clone, a)
    assert_image(member_path(driver, group, clone), 2 * GiB, data)
    driver.extend_volume(b, 2)
    assert os.stat(member_path(driver, group, b)).st_size == 2 * GiB
    fresh = new_volume(1, group["id"])
    driver.create_volume(fresh)
    assert os.path.isfile(member_path(driver, group, fresh))
    with pytest.raises(exc.AlreadyExists):
        driver.create_volume(dataclasses.replace(fresh, group_id=None))
    stats = driver.get_volume_stats(refresh=True).pools[0]
    assert stats.total_volumes == 4 and stats.provisioned_capacity_gb == 6.0

    # Removed from the group: back in volumes/, same data, still sparse.
    model, added, removed = driver.update_consistencygroup(CTX, group, remove_volumes=[a])
    assert (model, added, removed) == (None, None, None)
    out = in_group(a, None)
    assert not os.path.exists(member_path(driver, group, a))
    assert_image(flat_path(driver, out), GiB, data)
    assert allocated(flat_path(driver, out)) < 32 * MiB
    snap2 = new_snapshot(out)
    driver.create_snapshot(snap2)
    clone2 = new_volume(1)
    driver.create_cloned_volume(clone2, out)
    assert_image(flat_path(driver, clone2), GiB, data)
    driver.revert_to_snapshot(out, snap)
    assert_image(flat_path(driver, out), GiB, data)
    # A group snapshot no longer includes it.
    cgsnap = new_cgsnapshot(group)
    driver.create_cgsnapshot(CTX, cgsnap, [new_snapshot(b, cgsnap["id"])])
    assert f"volume-{a.id}" not in os.listdir(gsnap_path(driver, cgsnap))
    for v in (out, clone2):
        driver.delete_volume(v)
        assert not os.path.exists(flat_path(driver, v))
    driver.delete_snapshot(snap)
    driver.delete_snapshot(snap2)

    # A record out of step (no group_id) still finds a member; adding twice is a no-op.
    driver.extend_volume(dataclasses.replace(b, group_id=None, size=2), 3)
    assert os.stat(member_path(driver, group, b)).st_size == 3 * GiB
    assert driver.update_consistencygroup(CTX, group, add_volumes=[b]) == (None, None, None)
    driver.delete_volume(clone)
    assert not os.path.exists(member_path(driver, group, clone))


def test_delete_group_with_volumes(btrfs_dir: str, make_driver: MakeDriver) -> None:
    driver = make_driver(btrfs_dir)
    group, members = make_group(driver, 3)
    for i, v in enumerate(members):
        write_patterns(member_path(driver, group, v), str(i))
    cgsnap = new_cgsnapshot(group)
    driver.create_cgsnapshot(CTX, cgsnap, [new_snapshot(v, cgsnap["id"]) for v in members])
    stray = new_volume()  # in the subvolume but not named in the delete: kept
    os.close(os.open(member_path(driver, group, stray), os.O_CREAT | os.O_WRONLY, 0o600))
    assert driver.delete_consistencygroup(CTX, group, members) == (None, None)
    assert not os.path.lexists(group_path(driver, group))
    assert os.path.isfile(flat_path(driver, stray))
    assert os.path.isdir(gsnap_path(driver, cgsnap)), "its snapshots are separate"
    assert driver.delete_consistencygroup(CTX, group, members) == (None, None)  # again
    with pytest.raises(exc.GroupNotFound):
        driver.update_consistencygroup(CTX, group, add_volumes=[stray])
    with pytest.raises(exc.GroupNotFound):
        driver.create_cgsnapshot(CTX, new_cgsnapshot(group), [])
    driver.delete_cgsnapshot(CTX, cgsnap, [])
    assert os.listdir(os.path.join(driver.root, "groups")) == []
    assert os.listdir(os.path.join(driver.root, "group-snapshots")) == []


def test_exported_member_blocks_delete_and_move(btrfs_dir: str, make_driver: MakeDriver,
                                               root_only: None) -> None:
    driver = make_driver(btrfs_dir)
    group, (a, b) = make_group(driver, 2)
    driver.create_export(a, CONNECTOR)
    device = driver.initialize_connection(a, CONNECTOR).data["device_path"]
    assert run("losetup", "-j", member_path(driver, group, a)).startswith(device)

    model, updates = driver.delete_consistencygroup(CTX, group, [a, b])
    assert model == {"status": "error_deleting"}
    assert updates == [{"id": a.id, "status": "error_deleting"},
                       {"id": b.id, "status": "deleted"}]
    assert os.path.isfile(member_path(driver, group, a)), "the attached member stays"
    assert btrfs.is_subvolume(group_path(driver, group))

    # Moving an attached volume in or out is refused, and then nothing moves.
    other = new_volume()
    driver.create_volume(other)
    model, added, removed = driver.update_consistencygroup(
        CTX, group, add_volumes=[other], remove_volumes=[a])
    assert model == {"status": "error"}
    assert added is None and removed == [{"id": a.id, "status": "error"}]
    assert os.path.isfile(flat_path(driver, other)), "all or none"
    loose = new_volume()
    driver.create_volume(loose)
    driver.create_export(loose, CONNECTOR)
    assert driver.update_consistencygroup(CTX, group, add_volumes=[loose, other])[:2] == \
        ({"status": "error"}, [{"id": loose.id, "status": "error"}])
    assert os.path.isfile(flat_path(driver, loose))
    assert os.path.isfile(flat_path(driver, other))
    driver.remove_export(loose)

    driver.remove_export(a)
    assert driver.delete_consistencygroup(CTX, group, [a, b]) == (None, None)
    assert not os.path.lexists(group_path(driver, group))


def test_group_snapshot_sees_unflushed_writes(btrfs_dir: str, make_driver: MakeDriver,
                                              root_only: None) -> None:
    driver = make_driver(btrfs_dir, loop_direct_io="false")
    group, (a, b) = make_group(driver, 2)
    driver.create_export(a, CONNECTOR)
    device = driver.initialize_connection(a, CONNECTOR).data["device_path"]
    pattern = os.urandom(4096)
    fd = os.open(device, os.O_RDWR)  # buffered, kept open, not fsynced
    try:
        os.pwrite(fd, pattern, 8 * MiB)
        cgsnap = new_cgsnapshot(group)
        driver.create_cgsnapshot(CTX, cgsnap, [new_snapshot(v, cgsnap["id"]) for v in (a, b)])
    finally:
        os.close(fd)
    assert pread(os.path.join(gsnap_path(driver, cgsnap), f"volume-{a.id}"),
                 8 * MiB, 4096) == pattern
    driver.remove_export(a)


def test_group_errors(btrfs_dir: str, make_driver: MakeDriver) -> None:
    driver = make_driver(btrfs_dir)
    group, (a, b) = make_group(driver, 2)
    outsider = new_volume()
    driver.create_volume(outsider)
    cgsnap = new_cgsnapshot(group)
    # A volume outside the group's subvolume cannot be in a consistent snapshot.
    model, updates = driver.create_cgsnapshot(
        CTX, cgsnap, [new_snapshot(a, cgsnap["id"]), new_snapshot(outsider, cgsnap["id"])])
    assert model == {"status": "error"} and [u["status"] for u in updates] == ["error"] * 2
    assert not os.path.lexists(gsnap_path(driver, cgsnap)), "nothing created"
    snaps = [new_snapshot(a, cgsnap["id"]), new_snapshot(b, cgsnap["id"])]
    assert driver.create_cgsnapshot(CTX, cgsnap, snaps) == (None, None)
    with pytest.raises(exc.AlreadyExists):
        driver.create_cgsnapshot(CTX, cgsnap, snaps)

    new = new_group()
    with pytest.raises(exc.InvalidArgument, match="line up"):
        driver.create_consistencygroup_from_src(CTX, new, [new_volume(1, new["id"])],
                                                cgsnapshot=cgsnap, snapshots=snaps)
    with pytest.raises(exc.InvalidArgument):
        driver.create_consistencygroup_from_src(CTX, new, [])
    with pytest.raises(exc.GroupSnapshotNotFound):
        driver.create_consistencygroup_from_src(CTX, new, [], cgsnapshot=new_cgsnapshot(new),
                                                snapshots=[])
    with pytest.raises(exc.GroupNotFound):
        driver.create_consistencygroup_from_src(CTX, new, [], source_cg=new_group(),
                                                source_vols=[])
    assert not os.path.lexists(group_path(driver, new)), "refused before creating anything"
    # A target smaller than its source, and one that exists: those fail, the rest works.
    big = dataclasses.replace(b, size=2)
    driver.extend_volume(b, 2)
    cgsnap2 = new_cgsnapshot(group)
    snaps2 = [new_snapshot(a, cgsnap2["id"]), new_snapshot(big, cgsnap2["id"]),
              new_snapshot(a, cgsnap2["id"])]
    driver.create_cgsnapshot(CTX, cgsnap2, snaps2)
    t1, t2 = new_volume(1, new["id"]), new_volume(1, new["id"])
    model, updates = driver.create_consistencygroup_from_src(
        CTX, new, [t1, t2, in_group(outsider, new)], cgsnapshot=cgsnap2, snapshots=snaps2)
    assert model == {"status": "error"}
    assert updates == [{"id": t1.id, "status": "available"},
                       {"id": t2.id, "status": "error"},
                       {"id": outsider.id, "status": "error"}]
    assert sorted(os.listdir(group_path(driver, new))) == [f"volume-{t1.id}"], \
        "no temp files or partial copies"

    # Ids are validated; symlinks are not followed.
    for bad in ("../x", new_id().upper(), None):
        with pytest.raises(exc.InvalidId):
            driver.create_consistencygroup(CTX, {"id": bad})
        with pytest.raises(exc.InvalidId):
            driver.create_cgsnapshot(CTX, {"id": bad, "group_id": group["id"]}, [])
        if bad is not None:  # (no group is fine for a volume)
            with pytest.raises(exc.InvalidId):
                driver.volume_path(a.id, bad)
    target = os.path.join(btrfs_dir, "elsewhere")
    os.mkdir(target)
    evil = new_group()
    os.symlink(target, group_path(driver, evil))
    with pytest.raises(exc.BackendError, match="symlink"):
        driver.create_consistencygroup(CTX, evil)
    with pytest.raises(exc.BackendError, match="symlink"):
        driver.create_volume(new_volume(1, evil["id"]))
    assert os.listdir(target) == []


# -- gc ------------------------------------------------------------------------------

def test_gc_of_groups(btrfs_dir: str, make_driver: MakeDriver) -> None:
    driver = make_driver(btrfs_dir)
    known_group, (k1, k2) = make_group(driver, 2)
    orphan_group, _ = make_group(driver, 1)
    holding_group, (h1,) = make_group(driver, 1)  # unknown, but holds a known volume
    unknown_member = new_volume(1, known_group["id"])
    driver.create_volume(unknown_member)
    known_snap, orphan_snap = new_cgsnapshot(known_group), new_cgsnapshot(known_group)
    for cgsnap in (known_snap, orphan_snap):
        driver.create_cgsnapshot(CTX, cgsnap, [new_snapshot(k1, cgsnap["id"])])
    # Left by crashes: a frozen source group (a snapshot, which keeps its source's
    # mtime: made of a group last modified two hours ago) and a half-made copy.
    two_hours_ago = time.time() - 7200
    os.utime(group_path(driver, known_group), (two_hours_ago, two_hours_ago))
    tmp_snapshot = os.path.join(driver.root, "group-snapshots", f".tmp-{new_id()}-abc")
    btrfs.snapshot(group_path(driver, known_group), tmp_snapshot, readonly=True)
    assert os.stat(tmp_snapshot).st_mtime < time.time() - 3600
    # A copy in progress into the group: its process holds the temp file locked.
    tmp_copy = os.path.join(group_path(driver, known_group), f".tmp-{k1.id}-def")
    copying = copy.create_temp(group_path(driver, known_group), os.path.basename(tmp_copy))
    known = {("group", known_group["id"]), ("group_snapshot", known_snap["id"]),
             ("volume", k1.id), ("volume", k2.id), ("volume", h1.id)}
    asked: list[tuple[str, str]] = []

    def is_known(kind: str, object_id: str) -> bool:
        asked.append((kind, object_id))
        return (kind, object_id) in known

    def state() -> dict[str, list[str]]:
        return {sub: sorted(os.listdir(os.path.join(driver.root, sub)))
                for sub in ("groups", "group-snapshots", "volumes",
                            f"groups/group-{known_group['id']}")}

    try:
        before = state()
        report = driver.gc(is_known, dry_run=True)
        assert state() == before, "dry_run removed something"
        assert sorted(report) == sorted([
            f"orphan group {orphan_group['id']}: {group_path(driver, orphan_group)}",
            (f"orphan volume {unknown_member.id}: "
             f"{member_path(driver, known_group, unknown_member)}"),
            f"orphan group snapshot {orphan_snap['id']}: {gsnap_path(driver, orphan_snap)}",
        ]), "the temporary objects are fresh (by ctime) or held (by a live copy)"
        assert ("group", holding_group["id"]) in asked and ("volume", h1.id) in asked
        assert ("group_snapshot", known_snap["id"]) in asked

        driver.clock = lambda: time.time() + 7200  # two hours later the subvolume is stale
        report = driver.gc(is_known, dry_run=True)
        assert len(report) == 4 and not any(tmp_copy in line for line in report), \
            "a held temp file is kept whatever its age"
    finally:
        os.close(copying)  # the copy dies: its temp file is a leftover now
    report = driver.gc(is_known, dry_run=True)
    assert len(report) == 5
    assert any(tmp_snapshot in line and "subvolume" in line for line in report)
    assert any(tmp_copy in line for line in report)
    assert state() == before
    assert sorted(driver.gc(is_known)) == sorted(report)
    assert state() == {
        "groups": sorted(f"group-{g['id']}" for g in (known_group, holding_group)),
        "group-snapshots": [f"gsnap-{known_snap['id']}"],
        "volumes": [],
        f"groups/group-{known_group['id']}": sorted(f"volume-{v.id}" for v in (k1, k2)),
    }
    assert driver.gc(is_known) == []


def test_gc_keeps_groups_with_exported_files(btrfs_dir: str, make_driver: MakeDriver,
                                             root_only: None) -> None:
    driver = make_driver(btrfs_dir)
    group, (a,) = make_group(driver, 1)
    driver.create_export(a, CONNECTOR)
    assert driver.gc(lambda kind, object_id: False) == []
    assert os.path.isfile(member_path(driver, group, a))
    driver.remove_export(a)
    assert driver.gc(lambda kind, object_id: False) == \
        [f"orphan group {group['id']}: {group_path(driver, group)}"]
    assert os.listdir(os.path.join(driver.root, "groups")) == []


# -- XFS and ext4: no native groups ------------------------------------------------------

def test_no_consistent_groups_without_btrfs(fs_dir: str, make_driver: MakeDriver) -> None:
    assert fstype_of(fs_dir) in ("xfs", "ext4")
    driver = make_driver(fs_dir)
    assert Capability.CONSISTENT_GROUP_SNAPSHOT not in driver.capabilities
    assert sorted(os.listdir(driver.root)) == ["snapshots", "volumes"]
    pool = driver.get_volume_stats(refresh=True).to_dict()["pools"][0]
    assert pool["consistent_group_snapshot_enabled"] is False
    group = new_group()
    vol = new_volume(1, group["id"])
    cgsnap = new_cgsnapshot(group)
    snap = new_snapshot(vol, cgsnap["id"])
    calls = [
        lambda: driver.create_consistencygroup(CTX, group),
        lambda: driver.create_consistencygroup_from_src(CTX, group, [vol], cgsnapshot=cgsnap,
                                                        snapshots=[snap]),
        lambda: driver.create_consistencygroup_from_src(CTX, group, [vol], source_cg=group,
                                                        source_vols=[vol]),
        lambda: driver.delete_consistencygroup(CTX, group, [vol]),
        lambda: driver.update_consistencygroup(CTX, group, add_volumes=[vol]),
        lambda: driver.create_cgsnapshot(CTX, cgsnap, [snap]),
        lambda: driver.delete_cgsnapshot(CTX, cgsnap, [snap]),
    ]
    for call in calls:
        with pytest.raises(NotImplementedError):
            call()
    assert sorted(os.listdir(driver.root)) == ["snapshots", "volumes"]

    # The library's fallback: per-volume methods on members, each one on its own.
    driver.create_volume(vol)
    assert os.path.isfile(flat_path(driver, vol))
    assert driver.volume_path(vol.id, group["id"]) == flat_path(driver, vol)
    data = write_patterns(flat_path(driver, vol), "fallback")
    driver.create_snapshot(snap)
    snap_file = os.path.join(driver.root, "snapshots", f"snapshot-{snap.id}")
    assert_image(snap_file, GiB, data)
    target = new_volume(2, new_id())
    driver.create_volume_from_snapshot(target, snap)
    assert_image(flat_path(driver, target), 2 * GiB, data)
    clone = new_volume(2, target.group_id)
    driver.create_cloned_volume(clone, target)
    assert_image(flat_path(driver, clone), 2 * GiB, data)
    pwrite(flat_path(driver, vol), 0, b"Z" * 4096)
    driver.revert_to_snapshot(vol, snap)
    assert_image(flat_path(driver, vol), GiB, data)
    driver.delete_snapshot(snap)
    assert not os.path.exists(snap_file)
    for v in (vol, target, clone):
        driver.delete_volume(v)
    assert os.listdir(os.path.join(driver.root, "volumes")) == []
    # gc asks about groups only where they exist.
    asked: list[str] = []
    driver.gc(lambda kind, object_id: asked.append(kind) or True)
    assert "group" not in asked and "group_snapshot" not in asked


# -- measurement -----------------------------------------------------------------------

def test_group_snapshot_of_written_volumes_is_fast(btrfs_dir: str, btrfs_root: Any,
                                                   make_driver: MakeDriver,
                                                   record_property: Any) -> None:
    """3 volumes with 256 MiB written each: the group snapshot takes about as long as
    for empty ones and uses no data space."""
    driver = make_driver(btrfs_dir)
    group, members = make_group(driver, 3)
    block = os.urandom(MiB)
    for v in members:
        fd = os.open(member_path(driver, group, v), os.O_WRONLY)
        try:
            for i in range(256):
                os.pwrite(fd, block, i * MiB)
            os.fsync(fd)
        finally:
            os.close(fd)
    used0 = btrfs_used(btrfs_root.mountpoint)
    cgsnap = new_cgsnapshot(group)
    started = time.monotonic()
    driver.create_cgsnapshot(CTX, cgsnap, [new_snapshot(v, cgsnap["id"]) for v in members])
    elapsed = time.monotonic() - started
    used1 = btrfs_used(btrfs_root.mountpoint)
    record_property("group_snapshot_seconds", round(elapsed, 3))
    record_property("data_bytes_used_by_snapshot", used1["Data"] - used0["Data"])
    assert used0["Data"] >= 3 * 256 * MiB
    assert used1["Data"] - used0["Data"] < MiB
    assert elapsed < 10
    for v in members:
        assert pread(os.path.join(gsnap_path(driver, cgsnap), f"volume-{v.id}"),
                     255 * MiB, MiB) == block
    assert driver.delete_consistencygroup(CTX, group, members) == (None, None)
    driver.delete_cgsnapshot(CTX, cgsnap, [])


def test_copy_across_subvolumes_keeps_holes(btrfs_dir: str, make_driver: MakeDriver) -> None:
    """Adding to a group crosses subvolumes (rename fails with EXDEV): the data is
    reflinked, the holes stay holes, the source is gone."""
    driver = make_driver(btrfs_dir)
    group = new_group()
    driver.create_consistencygroup(CTX, group)
    vol = new_volume(4)
    driver.create_volume(vol)
    data = write_patterns(flat_path(driver, vol), "holes")
    with pytest.raises(OSError) as e:
        os.link(flat_path(driver, vol), member_path(driver, group, vol))
    assert e.value.errno == errno.EXDEV
    driver.update_consistencygroup(CTX, group, add_volumes=[vol])
    path = member_path(driver, group, vol)
    assert_image(path, 4 * GiB, data)
    assert allocated(path) < 16 * MiB
    assert not os.path.exists(flat_path(driver, vol))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert loop.devices_for_file(path) == []
