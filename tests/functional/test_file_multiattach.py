"""Several connections to one file volume (local loop-device exports), as root.

The rule under test (``drivers/file/driver.py``): every ``rw`` connection of a volume
shares one writable loop device, every ``ro`` connection one read-only loop device
(``losetup --read-only``); ``terminate_connection`` leaves them, since the stateless
driver cannot know whether another connection of the same mode still uses one, and
``remove_export`` (the library calls it with the last connection) detaches them all.
Each test checks ``losetup`` at its end; the fixtures detach leftovers of a failure.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import volumelib
from tests.helpers import pread, pwrite, requires_root
from volumelib import exceptions as exc
from volumelib.drivers.file import FileDriver
from volumelib.drivers.types import Capability, ConnectorProperties, VolumeInfo
from volumelib.testing.loopfs import detach_loop_devices_under

MiB = 1024 ** 2
GiB = 1024 ** 3
MakeDriver = Callable[..., FileDriver]
NODE_A = ConnectorProperties(host="node-a", do_local_attach=True)
NODE_B = ConnectorProperties(host="node-b", do_local_attach=True)
RO_A = ConnectorProperties(host="node-a", do_local_attach=True, attach_mode="ro")
RO_C = ConnectorProperties(host="node-c", do_local_attach=True, attach_mode="ro")


def new_volume(size: int = 1) -> VolumeInfo:
    return VolumeInfo(id=str(uuid.uuid4()), size=size, multiattach=True)


def vpath(driver: FileDriver, vol: VolumeInfo) -> str:
    return os.path.join(driver.root, "volumes", f"volume-{vol.id}")


def loop_devices(path: str) -> dict[str, bool]:
    """``/dev/loopN`` -> read-only, for the devices backed by ``path`` (``losetup``)."""
    out = subprocess.run(["losetup", "--list", "--json", "-O", "NAME,BACK-FILE,RO"],
                         check=True, capture_output=True, text=True, timeout=30).stdout
    rows = json.loads(out)["loopdevices"] if out.strip() else []
    return {r["name"]: r["ro"] in (True, "1", 1) for r in rows
            if (r["back-file"] or "").removesuffix(" (deleted)") == path}


def losetup_a_mentions(directory: str) -> list[str]:
    out = subprocess.run(["losetup", "-a"], check=True, capture_output=True, text=True,
                         timeout=30).stdout
    return [line for line in out.splitlines() if directory in line]


def write_fails(device: str) -> int:
    """Write to ``device`` and return the errno the kernel refused it with."""
    try:
        fd = os.open(device, os.O_WRONLY)
    except OSError as e:
        return e.errno  # type: ignore[return-value]
    try:
        os.pwrite(fd, b"x" * 4096, 0)
        os.fsync(fd)
    except OSError as e:
        return e.errno  # type: ignore[return-value]
    finally:
        os.close(fd)
    raise AssertionError(f"{device} accepted a write")


@pytest.fixture
def driver(ext4_dir: str, make_driver: MakeDriver, root_only: None) -> Iterator[FileDriver]:
    """A local-export FileDriver; after the test (passed or not) no loop device is
    left under its root (the tests check it themselves before)."""
    d = make_driver(ext4_dir)
    yield d
    detach_loop_devices_under(d.root)
    assert losetup_a_mentions(d.root) == []


# -- driver level --------------------------------------------------------------------

def test_rw_connections_share_a_device_ro_ones_get_a_read_only_one(
        driver: FileDriver) -> None:
    assert Capability.MULTIATTACH in driver.capabilities
    assert driver.get_volume_stats(refresh=True).pools[0].multiattach is True
    vol = new_volume()
    driver.create_volume(vol)
    path = vpath(driver, vol)
    infos = {}
    for name, connector in (("a", NODE_A), ("b", NODE_B), ("ro-a", RO_A), ("ro-c", RO_C)):
        assert driver.create_export(vol, connector) is None
        infos[name] = driver.initialize_connection(vol, connector)
    rw, ro = infos["a"].data["device_path"], infos["ro-a"].data["device_path"]
    assert infos["b"].data == {"device_path": rw, "access_mode": "rw"}
    assert infos["ro-c"].data == {"device_path": ro, "access_mode": "ro"}
    assert infos["a"].data["access_mode"] == "rw" and infos["ro-a"].data["access_mode"] == "ro"
    assert rw != ro
    assert loop_devices(path) == {rw: False, ro: True}
    with open(f"/sys/block/{os.path.basename(ro)}/ro", encoding="ascii") as f:
        assert f.read().strip() == "1"

    # Writes through the rw device reach the file and are seen through the ro device.
    pattern = os.urandom(64 * 1024)
    pwrite(rw, 7 * MiB, pattern)
    assert pread(path, 7 * MiB, len(pattern)) == pattern
    assert pread(ro, 7 * MiB, len(pattern)) == pattern
    # The ro device refuses writes; the file is unchanged.
    assert write_fails(ro) in (errno.EROFS, errno.EACCES, errno.EPERM)
    assert pread(path, 0, 4096) == bytes(4096)

    # terminate_connection keeps the shared devices (the documented rule).
    for connector in (RO_A, NODE_A, None):
        driver.terminate_connection(vol, connector)
    assert loop_devices(path) == {rw: False, ro: True}
    assert driver.initialize_connection(vol, RO_C).data["device_path"] == ro

    with pytest.raises(exc.VolumeInUse) as info:
        driver.delete_volume(vol)
    assert rw in str(info.value) and ro in str(info.value)
    driver.remove_export(vol)  # the last connection: everything goes
    assert loop_devices(path) == {}
    driver.remove_export(vol)
    for connector in (NODE_A, RO_A):
        with pytest.raises(exc.BackendError, match="not exported"):
            driver.initialize_connection(vol, connector)
    driver.delete_volume(vol)


def test_first_connection_read_only(driver: FileDriver) -> None:
    vol = new_volume()
    driver.create_volume(vol)
    path = vpath(driver, vol)
    pwrite(path, 0, b"seed" * 1024)
    driver.create_export(vol, RO_A)
    (ro,) = loop_devices(path)
    assert loop_devices(path)[ro] is True, "a ro connection makes no writable device"
    with pytest.raises(exc.BackendError, match="not exported"):
        driver.initialize_connection(vol, NODE_A)
    assert pread(driver.initialize_connection(vol, RO_A).data["device_path"], 0, 4096) \
        == b"seed" * 1024
    driver.create_export(vol, NODE_B)
    assert sorted(loop_devices(path).values()) == [False, True]
    driver.extend_volume(vol, 2)  # both devices follow
    for device in loop_devices(path):
        fd = os.open(device, os.O_RDONLY)
        try:
            assert os.lseek(fd, 0, os.SEEK_END) == 2 * GiB
        finally:
            os.close(fd)
    driver.remove_export(vol)
    assert loop_devices(path) == {}


def test_exports_of_one_volume_in_parallel_processes(driver: FileDriver) -> None:
    """Exports of one volume are serialised across processes (``flock`` on the
    file): four processes exporting rw and ro at once make one device of each."""
    vol = new_volume()
    driver.create_volume(vol)
    script = (
        "import sys\n"
        "from volumelib.drivers.file import FileDriver\n"
        "from volumelib.drivers.types import ConnectorProperties, VolumeInfo\n"
        "d = FileDriver(volume_backend_name='t', file_root=sys.argv[1])\n"
        "d.do_setup()\n"
        "v = VolumeInfo(id=sys.argv[2], size=1)\n"
        "for mode in ('rw', 'ro'):\n"
        "    d.create_export(v, ConnectorProperties(attach_mode=mode))\n")
    root_dir = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
    procs = [subprocess.Popen([sys.executable, "-c", script, driver.root, vol.id],
                              cwd=root_dir, stderr=subprocess.PIPE, text=True)
             for _ in range(4)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    assert sorted(loop_devices(vpath(driver, vol)).values()) == [False, True]
    driver.remove_export(vol)


def test_bad_input(driver: FileDriver) -> None:
    vol = new_volume()
    driver.create_volume(vol)
    for bad in (ConnectorProperties(attach_mode="rx"), None, "node-a", 42):
        with pytest.raises(exc.InvalidArgument):
            driver.create_export(vol, bad)  # type: ignore[arg-type]
        with pytest.raises(exc.InvalidArgument):
            driver.initialize_connection(vol, bad)  # type: ignore[arg-type]
    ghost = new_volume()
    for connector in (NODE_A, RO_A):
        with pytest.raises(exc.VolumeNotFound):
            driver.create_export(ghost, connector)
        with pytest.raises(exc.VolumeNotFound):
            driver.initialize_connection(ghost, connector)
    driver.remove_export(ghost)
    assert loop_devices(vpath(driver, vol)) == {}
    # A volume file swapped for a symlink is never exported (losetup would follow it).
    linked = new_volume()
    os.symlink(vpath(driver, vol), vpath(driver, linked))
    for connector in (NODE_A, RO_A):
        with pytest.raises(exc.BackendError, match="symlink"):
            driver.create_export(linked, connector)
    assert loop_devices(vpath(driver, vol)) == {}
    driver.delete_volume(linked)  # removes the link only
    assert os.path.exists(vpath(driver, vol))
    # A connector given as a plain mapping (os-brick's dict) is accepted.
    driver.create_export(vol, {"host": "node-a", "attach_mode": "ro"})  # type: ignore[arg-type]
    assert list(loop_devices(vpath(driver, vol)).values()) == [True]
    driver.remove_export(vol)


# -- through the library -------------------------------------------------------------

@pytest.fixture
def backend(ext4_dir: str, root_only: None) -> Iterator[Any]:
    requires_root()
    volumelib.setup()
    backend = volumelib.Backend("multiattach", "file",
                                file_root=os.path.join(ext4_dir, "root"))
    yield backend
    for vol in backend.volumes:
        for conn in vol.connections:
            try:
                conn.disconnect(force=True)
            except exc.VolumelibError:
                pass
    root = backend.driver.root
    backend.close()
    volumelib.setup()
    assert losetup_a_mentions(root) == [], "a test left loop devices behind"


def test_library_multiattach_rw_and_ro(backend: Any) -> None:
    vol = backend.create_volume(1, multiattach=True)
    path = backend.driver.volume_path(vol.id)
    c1 = vol.connect(NODE_A.to_dict())
    c2 = vol.connect(NODE_B.to_dict())
    c3 = vol.connect({"host": "node-c"}, attach_mode="ro")
    assert c3.attach_mode == "ro"
    rw = c1.connection_info["data"]["device_path"]
    ro = c3.connection_info["data"]["device_path"]
    assert c2.connection_info["data"] == {"device_path": rw, "access_mode": "rw"}
    assert c3.connection_info["data"] == {"device_path": ro, "access_mode": "ro"}
    assert loop_devices(path) == {rw: False, ro: True}
    assert backend.get_volume(vol.id).status == "in-use"

    c3.disconnect()  # shared devices stay until the last connection goes
    c1.disconnect()
    assert loop_devices(path) == {rw: False, ro: True}
    assert [c.id for c in vol.connections] == [c2.id]
    c2.disconnect()
    assert loop_devices(path) == {}
    assert backend.get_volume(vol.id).status == "available"
    vol.delete()


def test_library_refuses_a_second_connection_without_multiattach(backend: Any) -> None:
    vol = backend.create_volume(1)
    conn = vol.connect(NODE_A.to_dict())
    with pytest.raises(exc.VolumeInUse):
        vol.connect(NODE_B.to_dict(), attach_mode="ro")
    assert len(loop_devices(backend.driver.volume_path(vol.id))) == 1
    conn.disconnect()
    assert loop_devices(backend.driver.volume_path(vol.id)) == {}
    vol.delete()


def test_library_connect_bad_input_leaks_nothing(backend: Any) -> None:
    vol = backend.create_volume(1, multiattach=True)
    path = backend.driver.volume_path(vol.id)
    with pytest.raises(exc.InvalidArgument):
        vol.connect(NODE_A.to_dict(), attach_mode="rx")
    with pytest.raises(exc.InvalidArgument):
        vol.connect("node-a")
    assert vol.connections == [] and loop_devices(path) == {}
    assert backend.get_volume(vol.id).status == "available"
    vol.delete()
    with pytest.raises(exc.VolumelibError):  # deleted: VolumeNotFound or InvalidState
        vol.connect(NODE_A.to_dict())
    assert loop_devices(path) == {}
