"""The file driver, through its SPI, on a real XFS (reflink) and on ext4, as root.

Nothing about storage is mocked: volumes are files on real filesystems, exports are
real loop devices, and every claim (data, holes, shared extents, device sizes) is
checked on the real objects.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import json
import os
import re
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.helpers import pread, pwrite, requires_tool
from volumelib import exceptions as exc
from volumelib.drivers.file import FileDriver, copy, loop
from volumelib.drivers.types import Capability, ConnectorProperties, SnapshotInfo, VolumeInfo
from volumelib.testing.loopfs import loop_filesystem

MiB = 1024 ** 2
GiB = 1024 ** 3
CONNECTOR = ConnectorProperties(host="localhost", do_local_attach=True)
#: The ``make_driver`` fixture (tests/functional/conftest.py).
MakeDriver = Callable[..., FileDriver]


# -- helpers -------------------------------------------------------------------------

def new_volume(size: int = 1) -> VolumeInfo:
    return VolumeInfo(id=str(uuid.uuid4()), size=size)


def new_snapshot(volume: VolumeInfo) -> SnapshotInfo:
    return SnapshotInfo(id=str(uuid.uuid4()), volume_id=volume.id,
                        volume_size=volume.size, volume=volume)


def vpath(driver: FileDriver, volume: VolumeInfo) -> str:
    return os.path.join(driver.root, "volumes", f"volume-{volume.id}")


def spath(driver: FileDriver, snapshot: SnapshotInfo) -> str:
    return os.path.join(driver.root, "snapshots", f"snapshot-{snapshot.id}")



def sha(path: str, offset: int, length: int) -> str:
    return hashlib.sha256(pread(path, offset, length)).hexdigest()


def same_bytes(a: str, b: str | None, offset: int = 0, length: int | None = None) -> bool:
    """Whether ``length`` bytes (default: all of ``a`` from ``offset``) of ``a`` and ``b``
    are equal, byte for byte; ``b=None`` compares with zeros. Sizes must match too."""
    size_a = os.stat(a).st_size
    if length is None:
        if b is not None and os.stat(b).st_size != size_a:
            return False
        length = size_a - offset
    zero = bytes(16 * MiB)
    with open(a, "rb") as fa, open(b or "/dev/zero", "rb") as fb:
        fa.seek(offset)
        if b is not None:
            fb.seek(offset)
        while length > 0:
            n = min(len(zero), length)
            chunk = fa.read(n)
            if len(chunk) != n or chunk != (fb.read(n) if b is not None else zero[:n]):
                return False
            length -= n
    return True


def has_data_after(path: str, offset: int) -> bool:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.lseek(fd, offset, os.SEEK_DATA)
        return True
    except OSError as e:
        assert e.errno == errno.ENXIO
        return False
    finally:
        os.close(fd)


def allocated(path: str) -> int:
    return os.stat(path).st_blocks * 512


def free_bytes(path: str) -> int:
    os.sync()
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def run(*cmd: str) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True,
                          timeout=30).stdout.strip()


def fstype_of(path: str) -> str:
    return run("findmnt", "-n", "-o", "FSTYPE", "-T", path)


def losetup_j(path: str) -> str:
    return run("losetup", "-j", path)


def blockdev_size(device: str) -> int:
    return int(run("blockdev", "--getsize64", device))


def listing(driver: FileDriver) -> dict[str, list[str]]:
    return {sub: sorted(os.listdir(os.path.join(driver.root, sub)))
            for sub in ("volumes", "snapshots")}


#: Offsets and lengths of the test patterns in a 1 GiB volume (some unaligned).
PATTERN = [(0, 4096), (7 * 4096 + 100, 5000), (300 * MiB, 64 * 1024), (GiB - 4096, 4096)]


def write_patterns(path: str, seed: bytes) -> dict[int, bytes]:
    written = {}
    for offset, length in PATTERN:
        data = (hashlib.sha256(seed + str(offset).encode()).digest() * (length // 32 + 1))
        data = data[:length]
        pwrite(path, offset, data)
        written[offset] = data
    return written


def assert_patterns(path: str, written: dict[int, bytes]) -> None:
    for offset, data in written.items():
        assert pread(path, offset, len(data)) == data, f"{path} differs at {offset}"


# -- life cycle and data -------------------------------------------------------------

def test_setup_layout_and_capabilities(fs_dir: str, make_driver: MakeDriver) -> None:
    root = os.path.join(fs_dir, "a", "b", "root")
    driver = make_driver(fs_dir, file_root=root)
    for path in (os.path.join(fs_dir, "a"), root, os.path.join(root, "volumes"),
                 os.path.join(root, "snapshots")):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o700, path
    assert sorted(os.listdir(root)) == ["snapshots", "volumes"], \
        "the reflink probe must not leave files behind"
    caps = driver.capabilities
    base = {Capability.THIN, Capability.CLONE, Capability.REVERT_TO_SNAPSHOT,
            Capability.ONLINE_EXTEND}
    assert base <= caps
    on_xfs = fstype_of(fs_dir) == "xfs"
    assert (Capability.REFLINK in caps) is on_xfs
    assert (Capability.COW_SNAPSHOT in caps) is on_xfs
    assert (Capability.LOCAL_ATTACH in caps) is (os.geteuid() == 0 and loop.available())
    health = driver.health()
    assert health.pop("free_bytes") > 0
    assert health == {"alive": True, "reflink": on_xfs, "file_root": root,
                      "local_attach": Capability.LOCAL_ATTACH in caps}
    assert driver.is_alive()
    # reflink=never hides what the filesystem could do.
    never = make_driver(fs_dir, reflink="never")
    assert Capability.REFLINK not in never.capabilities
    assert never.health()["reflink"] is False


def test_full_life_cycle_data(fs_dir: str, make_driver: MakeDriver) -> None:
    driver = make_driver(fs_dir)
    vol = new_volume(1)
    assert driver.create_volume(vol) is None
    path = vpath(driver, vol)
    st = os.stat(path)
    assert st.st_size == GiB and stat.S_IMODE(st.st_mode) == 0o600
    assert allocated(path) < MiB, "a new volume must be sparse"
    before = write_patterns(path, b"before")

    snap = new_snapshot(vol)
    assert driver.create_snapshot(snap) is None
    snap_path = spath(driver, snap)
    assert stat.S_IMODE(os.stat(snap_path).st_mode) == 0o400
    assert os.stat(snap_path).st_size == GiB
    assert same_bytes(snap_path, path)

    after = write_patterns(path, b"after")
    assert_patterns(path, after)
    assert_patterns(snap_path, before)  # the snapshot did not follow the volume

    from_snap = new_volume(2)  # bigger than its source
    driver.create_volume_from_snapshot(from_snap, snap)
    fs_path = vpath(driver, from_snap)
    assert os.stat(fs_path).st_size == 2 * GiB
    assert stat.S_IMODE(os.stat(fs_path).st_mode) == 0o600
    assert same_bytes(fs_path, snap_path, 0, GiB)
    assert not has_data_after(fs_path, GiB), "the grown part must be a hole"
    assert same_bytes(fs_path, None, GiB)

    clone = new_volume(1)
    driver.create_cloned_volume(clone, vol)
    clone_path = vpath(driver, clone)
    assert same_bytes(clone_path, path)
    pwrite(clone_path, 0, b"C" * 4096)  # copy on write: the source keeps its data
    assert pread(path, 0, 4096) == after[0]
    assert pread(snap_path, 0, 4096) == before[0]

    driver.extend_volume(vol, 2)
    assert os.stat(path).st_size == 2 * GiB
    assert_patterns(path, after)

    grown = dataclasses.replace(vol, size=2)
    driver.revert_to_snapshot(grown, snap)
    assert os.stat(path).st_size == 2 * GiB, "revert keeps the volume's size"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert same_bytes(path, snap_path, 0, GiB)
    assert not has_data_after(path, GiB)
    pwrite(path, 0, b"R" * 4096)  # the reverted volume is writable and independent
    assert pread(snap_path, 0, 4096) == before[0]

    stats = driver.get_volume_stats(refresh=True).to_dict()
    pool = stats["pools"][0]
    assert pool["total_volumes"] == 3
    assert pool["provisioned_capacity_gb"] == 5.0

    for v in (vol, from_snap, clone):
        driver.delete_volume(v)
        driver.delete_volume(v)  # missing: no-op
    driver.delete_snapshot(snap)
    driver.delete_snapshot(snap)
    assert listing(driver) == {"volumes": [], "snapshots": []}, "no temp files left"


def test_create_errors(fs_dir: str, make_driver: MakeDriver) -> None:
    driver = make_driver(fs_dir)
    vol = new_volume(1)
    driver.create_volume(vol)
    with pytest.raises(exc.AlreadyExists):
        driver.create_volume(vol)
    other = new_volume(1)
    driver.create_volume(other)
    with pytest.raises(exc.AlreadyExists):
        driver.create_cloned_volume(other, vol)
    for size in (0, -1, 1.5, True, "1"):
        with pytest.raises(exc.InvalidSize):
            driver.create_volume(dataclasses.replace(new_volume(), size=size))
    driver.extend_volume(vol, 2)
    with pytest.raises(exc.InvalidSize):
        driver.extend_volume(vol, 1)
    with pytest.raises(exc.InvalidSize):  # a clone smaller than its source
        driver.create_cloned_volume(new_volume(1), dataclasses.replace(vol, size=2))
    ghost = new_volume(1)
    with pytest.raises(exc.VolumeNotFound):
        driver.create_cloned_volume(new_volume(1), ghost)
    with pytest.raises(exc.VolumeNotFound):
        driver.create_snapshot(new_snapshot(ghost))
    with pytest.raises(exc.VolumeNotFound):
        driver.extend_volume(ghost, 3)
    with pytest.raises(exc.SnapshotNotFound):
        driver.create_volume_from_snapshot(new_volume(1), new_snapshot(vol))
    with pytest.raises(exc.SnapshotNotFound):
        driver.revert_to_snapshot(vol, new_snapshot(vol))
    assert listing(driver) == {"volumes": sorted([f"volume-{vol.id}", f"volume-{other.id}"]),
                               "snapshots": []}


def test_operations_need_setup(ext4_dir: str, make_driver: MakeDriver) -> None:
    driver = make_driver(ext4_dir, setup=False)
    with pytest.raises(exc.BackendError, match="do_setup"):
        driver.create_volume(new_volume())
    assert not os.path.exists(driver.root)


# -- sparse copies and reflinks ------------------------------------------------------

def test_sparse_copy_keeps_holes(ext4_dir: str, make_driver: MakeDriver) -> None:
    driver = make_driver(ext4_dir)
    assert Capability.REFLINK not in driver.capabilities
    vol = new_volume(1)
    driver.create_volume(vol)
    path = vpath(driver, vol)
    extents = [(100 * MiB, os.urandom(64 * 1024)), (700 * MiB + 512, os.urandom(MiB))]
    for offset, data in extents:
        pwrite(path, offset, data)

    clone = new_volume(1)
    driver.create_cloned_volume(clone, vol)
    clone_path = vpath(driver, clone)
    assert os.stat(clone_path).st_size == GiB
    assert allocated(clone_path) < 4 * MiB, "holes were filled"
    for offset, data in extents:
        assert sha(clone_path, offset, len(data)) == hashlib.sha256(data).hexdigest()
    for offset, length in [(0, MiB), (500 * MiB, MiB), (GiB - MiB, MiB)]:
        assert sha(clone_path, offset, length) == hashlib.sha256(bytes(length)).hexdigest()
    assert same_bytes(clone_path, path)
    with open(path, "rb") as f, open(clone_path, "rb") as g:
        assert copy.data_extents(g.fileno()) == copy.data_extents(f.fileno())


def test_copy_file_progress_and_no_hole_reads(ext4_dir: str) -> None:
    src = os.path.join(ext4_dir, "src")
    with open(src, "wb") as f:
        f.truncate(GiB)
    pwrite(src, 10 * MiB, os.urandom(3 * MiB))
    pwrite(src, 900 * MiB, os.urandom(8192))
    calls: list[tuple[int, int]] = []

    def rchar() -> int:
        with open("/proc/self/io", encoding="ascii") as f:
            return int(next(line for line in f if line.startswith("rchar:")).split()[1])

    for use_cfr in (True, False):
        dst = os.path.join(ext4_dir, f"dst-{use_cfr}")
        calls.clear()
        read_before = rchar()
        total = copy.copy_file(src, dst, reflink=False, progress=lambda c, t: calls.append((c, t)),
                               use_copy_file_range=use_cfr)
        read = rchar() - read_before
        assert total == 3 * MiB + 8192
        assert calls and calls[-1] == (total, total)
        assert all(t == total for _, t in calls)
        assert [c for c, _ in calls] == sorted(c for c, _ in calls)
        assert os.stat(dst).st_size == GiB
        assert same_bytes(dst, src)
        assert allocated(dst) < 8 * MiB
        if not use_cfr:  # pread/pwrite: the bytes read are the data, never the holes
            assert read < 8 * MiB, f"read {read} bytes to copy {total}"
    # A reflink on ext4 fails loudly instead of copying.
    with pytest.raises(OSError) as e:
        copy.copy_file(src, os.path.join(ext4_dir, "r"), reflink=True)
    assert e.value.errno in (errno.EOPNOTSUPP, errno.EXDEV, errno.EINVAL, errno.ENOTTY)
    assert copy.probe_reflink(ext4_dir) is False


def test_copy_into_place_falls_back_and_cleans_up(ext4_dir: str, xfs_dir: str) -> None:
    src = os.path.join(ext4_dir, "src")
    with open(src, "wb") as f:
        f.truncate(64 * MiB)
    pwrite(src, MiB, os.urandom(MiB))
    dst = os.path.join(xfs_dir, "dst")
    fd = os.open(src, os.O_RDONLY)
    try:
        with pytest.raises(OSError) as e:  # FICLONE across filesystems: EXDEV
            copy.copy_into_place(fd, dst, ".tmp-a", reflink=True)
        assert e.value.errno == errno.EXDEV
        assert os.listdir(xfs_dir) == [], "the temp file must be removed"
        assert copy.copy_into_place(fd, dst, ".tmp-b", reflink=True, reflink_fallback=True,
                                    size=128 * MiB, mode=0o400) == MiB
        assert os.stat(dst).st_size == 128 * MiB
        assert stat.S_IMODE(os.stat(dst).st_mode) == 0o400
        assert same_bytes(dst, src, 0, 64 * MiB) and not has_data_after(dst, 2 * MiB)
        with pytest.raises(FileExistsError):
            copy.copy_into_place(fd, dst, ".tmp-c", reflink=False)
        assert os.listdir(xfs_dir) == ["dst"]
    finally:
        os.close(fd)


def test_reflink_shares_extents(xfs_dir: str, make_driver: MakeDriver) -> None:
    driver = make_driver(xfs_dir)
    assert Capability.REFLINK in driver.capabilities
    assert copy.probe_reflink(xfs_dir) is True
    vol = new_volume(1)
    driver.create_volume(vol)
    path = vpath(driver, vol)
    pwrite(path, 64 * MiB, os.urandom(8 * MiB) * 32)  # 256 MiB of data
    assert allocated(path) >= 256 * MiB

    free0 = free_bytes(xfs_dir)
    clone = new_volume(2)
    driver.create_cloned_volume(clone, vol)
    used_by_reflink = free0 - free_bytes(xfs_dir)
    assert used_by_reflink < 4 * MiB, f"a reflink clone used {used_by_reflink} bytes"
    assert same_bytes(vpath(driver, clone), path, 0, GiB)

    # The control: the same clone with reflink=never really copies the blocks.
    copier = make_driver(xfs_dir, file_root=driver.root, reflink="never")
    free1 = free_bytes(xfs_dir)
    copied = new_volume(1)
    copier.create_cloned_volume(copied, vol)
    used_by_copy = free1 - free_bytes(xfs_dir)
    assert used_by_copy >= 250 * MiB, f"reflink=never used only {used_by_copy} bytes"
    assert same_bytes(vpath(copier, copied), path)


# -- loop devices (root) -------------------------------------------------------------

def test_loop_attach_write_extend_detach(fs_dir: str, make_driver: MakeDriver,
                                         root_only: None) -> None:
    driver = make_driver(fs_dir)
    assert Capability.LOCAL_ATTACH in driver.capabilities
    vol = new_volume(1)
    driver.create_volume(vol)
    path = vpath(driver, vol)
    with pytest.raises(exc.BackendError, match="not exported"):
        driver.initialize_connection(vol, CONNECTOR)

    assert driver.create_export(vol, CONNECTOR) is None
    info = driver.initialize_connection(vol, CONNECTOR)
    assert info.driver_volume_type == "local"
    device = info.data["device_path"]
    assert re.fullmatch(r"/dev/loop[0-9]+", device)
    assert stat.S_ISBLK(os.stat(device).st_mode)
    assert blockdev_size(device) == GiB
    name = os.path.basename(device)
    with open(f"/sys/block/{name}/loop/dio", encoding="ascii") as f:
        assert f.read().strip() == "1", "loop_direct_io defaults to on"
    driver.create_export(vol, CONNECTOR)  # exported already: reuses the device
    assert len(losetup_j(path).splitlines()) == 1
    assert driver.initialize_connection(vol, CONNECTOR).data["device_path"] == device

    pattern = os.urandom(64 * 1024)
    pwrite(device, 5 * MiB, pattern)  # through the block device, fsynced
    assert pread(path, 5 * MiB, len(pattern)) == pattern

    driver.extend_volume(vol, 2)
    assert blockdev_size(device) == 2 * GiB
    assert loop.device_size(device) == 2 * GiB

    with pytest.raises(exc.VolumeInUse) as e:
        driver.delete_volume(vol)
    assert e.value.volume_id == vol.id and device in str(e.value)
    assert os.path.exists(path)
    snap = new_snapshot(vol)
    driver.create_snapshot(snap)
    with pytest.raises(exc.VolumeInUse):
        driver.revert_to_snapshot(dataclasses.replace(vol, size=2), snap)
    driver.terminate_connection(vol, CONNECTOR)
    driver.terminate_connection(vol, None)

    driver.remove_export(vol)
    assert losetup_j(path) == ""
    driver.remove_export(vol)  # not exported: no-op
    with pytest.raises(exc.BackendError, match="not exported"):
        driver.initialize_connection(vol, CONNECTOR)
    driver.revert_to_snapshot(dataclasses.replace(vol, size=2), snap)
    assert pread(path, 5 * MiB, len(pattern)) == pattern
    driver.delete_volume(vol)
    assert not os.path.exists(path)


def test_snapshot_of_exported_volume_sees_unflushed_writes(
        xfs_dir: str, make_driver: MakeDriver, root_only: None) -> None:
    driver = make_driver(xfs_dir)
    vol = new_volume(1)
    driver.create_volume(vol)
    driver.create_export(vol, CONNECTOR)
    device = driver.initialize_connection(vol, CONNECTOR).data["device_path"]
    pattern = os.urandom(4096)
    fd = os.open(device, os.O_RDWR)  # buffered, kept open, not fsynced
    try:
        os.pwrite(fd, pattern, 8 * MiB)
        snap = new_snapshot(vol)
        driver.create_snapshot(snap)
        clone = new_volume(1)
        driver.create_cloned_volume(clone, vol)
    finally:
        os.close(fd)
    assert pread(spath(driver, snap), 8 * MiB, 4096) == pattern
    assert pread(vpath(driver, clone), 8 * MiB, 4096) == pattern
    driver.remove_export(vol)


def test_loop_without_direct_io(ext4_dir: str, make_driver: MakeDriver,
                                root_only: None) -> None:
    driver = make_driver(ext4_dir, loop_direct_io="false")
    vol = new_volume(1)
    driver.create_volume(vol)
    driver.create_export(vol, CONNECTOR)
    device = driver.initialize_connection(vol, CONNECTOR).data["device_path"]
    with open(f"/sys/block/{os.path.basename(device)}/loop/dio", encoding="ascii") as f:
        assert f.read().strip() == "0"
    driver.remove_export(vol)
    assert losetup_j(vpath(driver, vol)) == ""


NON_ROOT_SCRIPT = """
import json, os, uuid
from volumelib import exceptions as exc
from volumelib.drivers.file import FileDriver
from volumelib.drivers.types import ConnectorProperties, VolumeInfo
d = FileDriver(file_root=os.environ["ROOT"], volume_backend_name="t")
d.do_setup(); d.check_for_setup_error()
v = VolumeInfo(id=str(uuid.uuid4()), size=1)
d.create_volume(v)
out = {"uid": os.geteuid(), "caps": sorted(map(str, d.capabilities))}
try:
    d.create_export(v, ConnectorProperties())
except exc.NotSupported as e:
    out["error"] = str(e)
d.delete_volume(v)
print(json.dumps(out))
"""


def test_local_attach_needs_root(ext4_dir: str, root_only: None) -> None:
    requires_tool("setpriv")
    root = os.path.join(ext4_dir, "nobody")
    os.mkdir(root, 0o700)
    os.chown(root, 65534, 65534)
    os.chmod(ext4_dir, 0o755)
    result = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable,
         "-c", NON_ROOT_SCRIPT],
        env={**os.environ, "ROOT": root}, capture_output=True, text=True, timeout=120,
        cwd="/")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["uid"] == 65534
    assert "local_attach" not in out["caps"] and "thin" in out["caps"]
    assert "root" in out["error"] and "losetup" in out["error"]


# -- bad input and safety ------------------------------------------------------------

BAD_IDS = ["../etc", "a/b", "", "x\0y", str(uuid.uuid4()).upper(),
           "{" + str(uuid.uuid4()) + "}", uuid.uuid4().hex, "urn:uuid:" + str(uuid.uuid4()),
           " " + str(uuid.uuid4()), None, 42]


@pytest.mark.parametrize("bad", BAD_IDS, ids=repr)
def test_bad_ids_are_refused(ext4_dir: str, make_driver: MakeDriver, bad: Any) -> None:
    driver = make_driver(ext4_dir)
    good = new_volume()
    driver.create_volume(good)
    bad_vol = VolumeInfo(id=bad, size=1)
    bad_snap = SnapshotInfo(id=bad, volume_id=good.id, volume_size=1, volume=good)
    calls = [
        lambda: driver.create_volume(bad_vol),
        lambda: driver.delete_volume(bad_vol),
        lambda: driver.extend_volume(bad_vol, 2),
        lambda: driver.create_cloned_volume(bad_vol, good),
        lambda: driver.create_cloned_volume(new_volume(), bad_vol),
        lambda: driver.create_snapshot(bad_snap),
        lambda: driver.create_snapshot(new_snapshot(bad_vol)),
        lambda: driver.delete_snapshot(bad_snap),
        lambda: driver.create_volume_from_snapshot(bad_vol, new_snapshot(good)),
        lambda: driver.revert_to_snapshot(good, bad_snap),
        lambda: driver.create_export(bad_vol, CONNECTOR),
        lambda: driver.remove_export(bad_vol),
        lambda: driver.initialize_connection(bad_vol, CONNECTOR),
    ]
    for call in calls:
        with pytest.raises(exc.InvalidId) as e:
            call()
        assert e.value.id == bad
    assert listing(driver) == {"volumes": [f"volume-{good.id}"], "snapshots": []}
    assert sorted(os.listdir(driver.root)) == ["snapshots", "volumes"]


def test_options_are_validated(ext4_dir: str, make_driver: MakeDriver) -> None:
    root = os.path.join(ext4_dir, "root")
    with pytest.raises(exc.UnknownOption) as e:
        FileDriver(file_root=root, volume_backend_name="t", file_rot="/x")
    assert e.value.option == "file_rot" and "file_root" in str(e.value)
    with pytest.raises(exc.InvalidConfig):
        FileDriver(file_root=root, reflink="sometimes")
    with pytest.raises(exc.InvalidConfig):
        FileDriver(file_root=root, max_over_subscription_ratio=0.01)
    with pytest.raises(exc.InvalidConfig):
        FileDriver(file_root=root, loop_direct_io="maybe")
    driver = make_driver(ext4_dir, max_over_subscription_ratio="2.5", loop_direct_io="no")
    assert driver.config.max_over_subscription_ratio == 2.5
    assert driver.config.loop_direct_io is False
    defaults = FileDriver()
    assert defaults.config.file_root == "/var/lib/volumelib/file"
    assert defaults.config.reflink == "auto" and defaults.config.loop_direct_io is True
    assert defaults.config.max_over_subscription_ratio == 1.0
    untouched = os.path.join(ext4_dir, "not-yet")
    FileDriver(file_root=untouched)
    assert not os.path.exists(untouched), "only do_setup creates file_root"


def test_reflink_always(fs_dir: str, make_driver: MakeDriver) -> None:
    if fstype_of(fs_dir) == "xfs":
        driver = make_driver(fs_dir, reflink="always")
        assert Capability.REFLINK in driver.capabilities
    else:
        with pytest.raises(exc.InvalidConfig, match="reflink"):
            make_driver(fs_dir, reflink="always")


def test_symlinked_directories_are_refused(ext4_dir: str, make_driver: MakeDriver) -> None:
    target = os.path.join(ext4_dir, "elsewhere")
    os.mkdir(target)
    root = os.path.join(ext4_dir, "root")
    os.mkdir(root)
    os.symlink("/etc", os.path.join(root, "volumes"))
    with pytest.raises(exc.InvalidConfig, match="symlink"):
        make_driver(ext4_dir)
    # Swapped for a symlink after setup: every operation refuses.
    root2 = os.path.join(ext4_dir, "root2")
    driver = make_driver(ext4_dir, file_root=root2)
    vol = new_volume()
    driver.create_volume(vol)
    os.rename(os.path.join(root2, "snapshots"), os.path.join(ext4_dir, "moved"))
    os.symlink(target, os.path.join(root2, "snapshots"))
    with pytest.raises(exc.BackendError, match="symlink"):
        driver.create_snapshot(new_snapshot(vol))
    os.rename(os.path.join(root2, "volumes"), os.path.join(ext4_dir, "moved2"))
    os.symlink(target, os.path.join(root2, "volumes"))
    with pytest.raises(exc.BackendError, match="symlink"):
        driver.create_volume(new_volume())
    with pytest.raises(exc.BackendError):
        driver.delete_volume(vol)
    assert os.listdir(target) == []
    assert os.listdir(os.path.join(ext4_dir, "moved2")) == [f"volume-{vol.id}"]


def test_symlinked_volume_file_is_not_followed(ext4_dir: str,
                                               make_driver: MakeDriver) -> None:
    driver = make_driver(ext4_dir)
    victim = os.path.join(ext4_dir, "victim")
    with open(victim, "wb") as f:
        f.write(b"precious")
    vol = new_volume()
    os.symlink(victim, vpath(driver, vol))
    with pytest.raises(exc.BackendError, match="symlink"):
        driver.extend_volume(vol, 2)
    with pytest.raises(exc.BackendError, match="symlink"):
        driver.create_snapshot(new_snapshot(vol))
    with pytest.raises(exc.BackendError, match="symlink"):
        driver.create_cloned_volume(new_volume(), vol)
    with pytest.raises(exc.AlreadyExists):
        driver.create_volume(vol)
    driver.delete_volume(vol)  # removes the link, not its target
    assert not os.path.lexists(vpath(driver, vol))
    with open(victim, "rb") as f:
        assert f.read() == b"precious"
    assert listing(driver) == {"volumes": [], "snapshots": []}


def test_capacity(fs_dir: str, make_driver: MakeDriver) -> None:
    driver = make_driver(fs_dir)
    free_gb = driver.health()["free_bytes"] / GiB
    driver.check_capacity(1)
    with pytest.raises(exc.InsufficientCapacity) as e:
        driver.check_capacity(10 ** 6)
    assert e.value.requested_gb == 10 ** 6 and e.value.backend_name == "t"
    assert abs(e.value.available_gb - free_gb) < 0.1
    between = int(free_gb * 2) + 1  # over the free space, under 3x of it
    with pytest.raises(exc.InsufficientCapacity):
        driver.check_capacity(between)
    thin = make_driver(fs_dir, file_root=driver.root, max_over_subscription_ratio=3)
    thin.check_capacity(between)


def test_stats(fs_dir: str, make_driver: MakeDriver) -> None:
    driver = make_driver(fs_dir, max_over_subscription_ratio=2)
    a, b = new_volume(1), new_volume(2)
    driver.create_volume(a)
    driver.create_volume(b)
    pwrite(vpath(driver, b), 0, os.urandom(MiB) * 64)
    stats = driver.get_volume_stats(refresh=True)
    d = stats.to_dict()
    assert d["volume_backend_name"] == "t" and d["storage_protocol"] == "local"
    assert d["vendor_name"] == "volumelib" and d["driver_version"] == FileDriver.version
    (pool,) = d["pools"]
    vfs = os.statvfs(driver.root)
    assert pool["pool_name"] == "t"
    assert pool["total_capacity_gb"] == round(vfs.f_blocks * vfs.f_frsize / GiB, 2)
    assert abs(pool["free_capacity_gb"] - vfs.f_bavail * vfs.f_frsize / GiB) < 0.05
    assert pool["provisioned_capacity_gb"] == 3.0
    assert pool["allocated_capacity_gb"] == round(64 * MiB / GiB, 2)
    assert pool["total_volumes"] == 2
    assert pool["thin_provisioning_support"] is True
    assert pool["thick_provisioning_support"] is False
    assert pool["max_over_subscription_ratio"] == 2.0 and pool["multiattach"] is True
    assert pool["reflink"] is (Capability.REFLINK in driver.capabilities)
    assert pool["file_root"] == driver.root
    driver.delete_volume(a)
    assert driver.get_volume_stats().pools[0].total_volumes == 2  # cached
    assert driver.get_volume_stats(refresh=True).pools[0].total_volumes == 1


# -- gc ------------------------------------------------------------------------------

def test_gc(ext4_dir: str, make_driver: MakeDriver) -> None:
    driver = make_driver(ext4_dir)
    known, orphan = new_volume(), new_volume()
    for v in (known, orphan):
        driver.create_volume(v)
    known_snap, orphan_snap = new_snapshot(known), new_snapshot(known)
    driver.create_snapshot(known_snap)
    driver.create_snapshot(orphan_snap)
    vols = os.path.join(driver.root, "volumes")
    # Temp files left by dead copies (nobody holds their lock), an old one and a new
    # one, and the temp file of a copy in progress, which holds it locked (here this
    # process; flock locks belong to open file descriptions, so gc's own open of it
    # is refused exactly as in another process).
    dead_old = os.path.join(vols, f".tmp-{uuid.uuid4()}-abc")
    dead_new = os.path.join(vols, f".tmp-{uuid.uuid4()}-ghi")
    running = os.path.join(vols, f".tmp-{uuid.uuid4()}-def")
    stray = os.path.join(vols, "notes.txt")
    for p in (dead_old, dead_new, stray):
        open(p, "wb").close()
    running_fd = copy.create_temp(vols, os.path.basename(running))
    two_hours_ago = time.time() - 7200
    os.utime(dead_old, (two_hours_ago, two_hours_ago))
    known_ids = {("volume", known.id), ("snapshot", known_snap.id)}
    asked: list[tuple[str, str]] = []

    def is_known(kind: str, object_id: str) -> bool:
        asked.append((kind, object_id))
        return (kind, object_id) in known_ids

    try:
        before = listing(driver)
        report = driver.gc(is_known, dry_run=True)
        assert listing(driver) == before, "dry_run removed something"
        assert len(report) == 4
        assert any(orphan.id in line for line in report)
        assert any(orphan_snap.id in line for line in report)
        assert any(dead_old in line for line in report)
        assert any(dead_new in line for line in report)
        assert set(asked) == known_ids | {("volume", orphan.id), ("snapshot", orphan_snap.id)}

        assert driver.gc(is_known) == report
        assert listing(driver) == {
            "volumes": sorted([f"volume-{known.id}", os.path.basename(running), "notes.txt"]),
            "snapshots": [f"snapshot-{known_snap.id}"]}
        assert driver.gc(is_known) == []
        driver.clock = lambda: time.time() + 2 * 3600  # age does not matter while held
        assert driver.gc(is_known) == [] and os.path.exists(running)
    finally:
        os.close(running_fd)  # the copy ends without renaming its file: a dead copy's
    dry = driver.gc(is_known, dry_run=True)
    assert len(dry) == 1 and running in dry[0] and os.path.exists(running)
    real = driver.gc(is_known)
    assert len(real) == 1 and running in real[0] and not os.path.exists(running)
    assert os.path.exists(stray)


def test_gc_keeps_exported_orphans(ext4_dir: str, make_driver: MakeDriver,
                                   root_only: None) -> None:
    driver = make_driver(ext4_dir)
    vol = new_volume()
    driver.create_volume(vol)
    driver.create_export(vol, CONNECTOR)
    assert driver.gc(lambda kind, object_id: False) == []
    assert os.path.exists(vpath(driver, vol))
    driver.remove_export(vol)
    assert len(driver.gc(lambda kind, object_id: False)) == 1
    assert not os.path.exists(vpath(driver, vol))


# -- the loop filesystem helper ------------------------------------------------------

def test_loop_filesystem_tears_down_on_error(root_only: None) -> None:
    requires_tool("mkfs.btrfs", "mount", "umount")
    seen: dict[str, str] = {}
    with pytest.raises(RuntimeError, match="boom"):
        with loop_filesystem("btrfs", size_bytes=512 * MiB) as fs:
            seen.update(mountpoint=fs.mountpoint, device=fs.device, image=fs.image)
            assert os.path.ismount(fs.mountpoint) and fs.fstype == "btrfs"
            assert copy.probe_reflink(fs.mountpoint) is True
            leftover = os.path.join(fs.mountpoint, "volume")
            with open(leftover, "wb") as f:
                f.truncate(64 * MiB)
            seen["leftover"] = loop.attach(leftover, direct_io=False)
            raise RuntimeError("boom")
    assert not os.path.ismount(seen["mountpoint"])
    assert not os.path.exists(os.path.dirname(seen["image"]))
    devices = {d.name: d for d in loop.list_devices()}
    for name in (seen["device"], seen["leftover"]):
        assert name not in devices or not (devices[name].back_file or "").startswith(
            os.path.dirname(seen["image"])), f"{name} left attached"
