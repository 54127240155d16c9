"""The file driver's iSCSI export (``target_helper=tgtadm``) on a real tgtd, as root.

A private tgtd (``tools/tgtd.py``) serves the targets on 127.0.0.1; the bytes go
through a real userspace initiator (qemu's libiscsi block driver) with CHAP, and are
compared with the volume *file*. Nothing is mocked. After every test no target and
no CHAP account is left (the tests check ``tgtadm --op show``; the fixture cleans up
after a failure too).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.helpers import pread, pwrite
from tools.tgtd import Tgtd
from volumelib import exceptions as exc
from volumelib.drivers.file import FileDriver, iscsi
from volumelib.drivers.types import (Capability, ConnectionInfo, ConnectorProperties,
                                     VolumeInfo)

pytest_plugins = ["tests.functional.tgt_fixtures"]

#: The initiator name of the test connectors (the fixture's qemu uses the same).
INITIATOR = "iqn.1993-08.org.debian:01:volumelib-test"
MiB = 1024 ** 2
GiB = 1024 ** 3
CONNECTOR = ConnectorProperties(host="node-1", ip="127.0.0.1", initiator=INITIATOR)
MakeDriver = Callable[..., FileDriver]


@dataclasses.dataclass(frozen=True)
class _AuthVolumeInfo(VolumeInfo):
    """``VolumeInfo`` with ``provider_auth``, for an SPI whose VolumeInfo lacks it."""

    provider_auth: str | None = dataclasses.field(default=None, repr=False)


def saved(vol: VolumeInfo, update: Any) -> VolumeInfo:
    """``vol`` after the library applied the driver's model update to it."""
    if not update:
        return vol
    if "provider_auth" in {f.name for f in dataclasses.fields(VolumeInfo)}:
        return dataclasses.replace(vol, **update)
    return _AuthVolumeInfo(**{f.name: getattr(vol, f.name)
                              for f in dataclasses.fields(VolumeInfo)}, **update)


def new_volume(size: int = 1) -> VolumeInfo:
    return VolumeInfo(id=str(uuid.uuid4()), size=size)


def vpath(driver: FileDriver, vol: VolumeInfo) -> str:
    return os.path.join(driver.root, "volumes", f"volume-{vol.id}")


def iqn(vol: VolumeInfo) -> str:
    return f"iqn.2010-10.org.volumelib:volume-{vol.id}"


def export(driver: FileDriver, vol: VolumeInfo,
           connector: ConnectorProperties = CONNECTOR) -> tuple[VolumeInfo, ConnectionInfo]:
    vol = saved(vol, driver.create_export(vol, connector))
    return vol, driver.initialize_connection(vol, connector)


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def targets_of(daemon: Tgtd) -> list[iscsi.Target]:
    return iscsi.parse_targets(daemon.tgtadm("--mode", "target", "--op", "show").stdout)


def accounts_of(daemon: Tgtd) -> list[str]:
    return iscsi.parse_accounts(daemon.tgtadm("--mode", "account", "--op", "show").stdout)


def assert_clean(tgtd: Tgtd) -> None:
    assert targets_of(tgtd) == [] and accounts_of(tgtd) == []


# -- data through the initiator ------------------------------------------------------

def test_export_with_chap_and_move_bytes_both_ways(xfs_dir: str, make_iscsi_driver: MakeDriver,
                                                    tgtd: Tgtd, initiator: Any) -> None:
    driver = make_iscsi_driver(xfs_dir)
    assert driver.storage_protocol == "iSCSI"
    stats = driver.get_volume_stats(refresh=True).to_dict()
    assert stats["storage_protocol"] == "iSCSI" and stats["pools"][0]["multiattach"] is True
    assert Capability.MULTIATTACH in driver.capabilities
    assert Capability.LOCAL_ATTACH not in driver.capabilities  # no kernel initiator here
    vol = new_volume(1)
    driver.create_volume(vol)
    path = vpath(driver, vol)

    update = driver.create_export(vol, CONNECTOR)
    auth = update["provider_auth"]
    method, user, password = auth.split(" ")
    assert method == "CHAP" and len(user) >= 12 and len(password) >= 12
    vol = saved(vol, update)
    assert driver.create_export(vol, CONNECTOR) is None, "idempotent: same credentials"
    info = driver.initialize_connection(vol, CONNECTOR)
    assert info.driver_volume_type == "iscsi"
    assert info.data == {
        "target_discovered": False, "target_iqn": iqn(vol),
        "target_portal": f"127.0.0.1:{tgtd.portal_port}", "target_lun": 1,
        "volume_id": vol.id, "access_mode": "rw", "auth_method": "CHAP",
        "auth_username": user, "auth_password": password}
    assert password not in repr(info)

    (target,) = targets_of(tgtd)
    assert target.name == iqn(vol) and target.luns == {0: None, 1: path}
    assert target.acls == ("ALL",) and target.accounts == (user,)
    assert accounts_of(tgtd) == [user]
    assert not any(name.startswith("loop") and os.path.exists(f"/sys/block/{name}/loop")
                   and open(f"/sys/block/{name}/loop/backing_file").read().strip() == path
                   for name in os.listdir("/sys/block")), "no loop device for iSCSI"

    # initiator -> file
    lun = initiator(info)
    lun.io("write -P 0xab 5M 1M", "write -P 0x5c 1023M 1M")
    assert pread(path, 5 * MiB, MiB) == b"\xab" * MiB
    assert pread(path, GiB - MiB, MiB) == b"\x5c" * MiB
    assert pread(path, 4 * MiB, MiB) == bytes(MiB)
    # file -> initiator
    pwrite(path, 64 * MiB, b"\xcd" * MiB)
    lun.io("read -P 0xcd 64M 1M", "read -P 0xab 5M 1M")
    data = os.urandom(2 * MiB + 4096)
    pwrite(path, 300 * MiB + 512, data)
    assert digest(lun.read(300 * MiB + 512, len(data), xfs_dir)) == digest(data)
    # random data, initiator -> file, with qemu-img convert
    source = os.path.join(xfs_dir, "source.bin")
    with open(source, "wb") as f:
        f.write(os.urandom(3 * MiB))
    lun.write(700 * MiB, source)
    assert digest(pread(path, 700 * MiB, 3 * MiB)) == digest(pread(source, 0, 3 * MiB))
    assert lun.size() == GiB

    driver.remove_export(vol)
    assert_clean(tgtd)
    driver.delete_volume(vol)


def test_wrong_chap_secret_is_refused(ext4_dir: str, make_iscsi_driver: MakeDriver,
                                      tgtd: Tgtd, initiator: Any) -> None:
    driver = make_iscsi_driver(ext4_dir)
    vol = new_volume()
    driver.create_volume(vol)
    vol, info = export(driver, vol)
    good = info.data["auth_password"]
    inquiry = initiator(info).libiscsi("iscsi-inq")
    assert inquiry.returncode == 0 and "VIRTUAL-DISK" in inquiry.stdout, inquiry.stderr
    for wrong in ("x" * len(good), good[:-1], good.upper() if good != good.upper() else "y"):
        result = initiator(info, password=wrong).io("read 0 512", check=False)
        assert result.returncode != 0
        assert "Authentication failure" in result.stderr, result.stderr
        result = initiator(info, password=wrong).libiscsi("iscsi-inq")
        assert result.returncode != 0 and "Authentication failure" in result.stderr
    no_auth = ConnectionInfo("iscsi", {k: v for k, v in info.data.items()
                                       if not k.startswith("auth_")})
    result = initiator(no_auth).io("read 0 512", check=False)
    assert result.returncode != 0 and "Authentication failure" in result.stderr
    initiator(info).io("write -P 0x11 0 4k")
    assert pread(vpath(driver, vol), 0, 4096) == b"\x11" * 4096
    # Another volume's credentials do not open this one.
    other = new_volume()
    driver.create_volume(other)
    other, other_info = export(driver, other)
    crossed = ConnectionInfo("iscsi", dict(info.data,
                                           auth_username=other_info.data["auth_username"],
                                           auth_password=other_info.data["auth_password"]))
    assert initiator(crossed).io("read 0 512", check=False).returncode != 0
    for v in (vol, other):
        driver.remove_export(v)
    assert_clean(tgtd)


def test_without_chap(ext4_dir: str, make_iscsi_driver: MakeDriver, tgtd: Tgtd,
                      initiator: Any) -> None:
    driver = make_iscsi_driver(ext4_dir, iscsi_chap=False)
    vol = new_volume()
    driver.create_volume(vol)
    assert driver.create_export(vol, CONNECTOR) is None  # no credentials to save
    info = driver.initialize_connection(vol, CONNECTOR)
    assert not any(k.startswith("auth_") for k in info.data)
    initiator(info).io("write -P 0x22 0 4k")
    assert pread(vpath(driver, vol), 0, 4096) == b"\x22" * 4096
    assert targets_of(tgtd)[0].accounts == () and accounts_of(tgtd) == []
    driver.remove_export(vol)
    assert_clean(tgtd)


# -- life cycle of the target --------------------------------------------------------

def test_remove_export_deletes_target_and_account(ext4_dir: str,
                                                  make_iscsi_driver: MakeDriver,
                                                  tgtd: Tgtd, initiator: Any) -> None:
    driver = make_iscsi_driver(ext4_dir)
    keep, vol = new_volume(), new_volume()
    for v in (keep, vol):
        driver.create_volume(v)
    keep, _ = export(driver, keep)
    vol, info = export(driver, vol)
    assert {t.name for t in targets_of(tgtd)} == {iqn(keep), iqn(vol)}
    driver.terminate_connection(vol, CONNECTOR)  # no-op by design: shared target
    assert iqn(vol) in {t.name for t in targets_of(tgtd)}
    driver.remove_export(vol)
    assert {t.name for t in targets_of(tgtd)} == {iqn(keep)}
    assert accounts_of(tgtd) == [
        driver.initialize_connection(keep, CONNECTOR).data["auth_username"]]
    driver.remove_export(vol)  # idempotent
    with pytest.raises(exc.BackendError, match="no iSCSI target"):
        driver.initialize_connection(vol, CONNECTOR)
    assert initiator(info).io("read 0 512", check=False).returncode != 0
    # the credentials stay with the volume: a new export serves them again
    again = driver.create_export(vol, CONNECTOR)
    assert again is None
    assert driver.initialize_connection(vol, CONNECTOR).data == info.data
    for v in (keep, vol):
        driver.remove_export(v)
        driver.delete_volume(v)
    assert_clean(tgtd)


def test_remove_export_cuts_open_sessions(ext4_dir: str, make_iscsi_driver: MakeDriver,
                                          tgtd: Tgtd, initiator: Any) -> None:
    driver = make_iscsi_driver(ext4_dir)
    vol = new_volume()
    driver.create_volume(vol)
    vol, info = export(driver, vol)
    with initiator(info).session("sleep 60000") as qemu_io:  # holds a session
        deadline = time.monotonic() + 30
        while not targets_of(tgtd)[0].sessions and time.monotonic() < deadline:
            assert qemu_io.poll() is None, qemu_io.communicate()
            time.sleep(0.05)
        assert targets_of(tgtd)[0].sessions == 1
        with pytest.raises(exc.VolumeInUse):
            driver.delete_volume(vol)
        driver.remove_export(vol)  # --force: the session is cut
        assert_clean(tgtd)
    driver.delete_volume(vol)


def test_in_use_volume_is_protected(ext4_dir: str, make_iscsi_driver: MakeDriver,
                                    tgtd: Tgtd) -> None:
    from volumelib.drivers.types import SnapshotInfo
    driver = make_iscsi_driver(ext4_dir)
    vol = new_volume()
    driver.create_volume(vol)
    snap = SnapshotInfo(id=str(uuid.uuid4()), volume_id=vol.id, volume_size=1, volume=vol)
    driver.create_snapshot(snap)
    vol, _ = export(driver, vol)
    with pytest.raises(exc.VolumeInUse, match="iSCSI target"):
        driver.delete_volume(vol)
    with pytest.raises(exc.VolumeInUse, match="iSCSI target"):
        driver.revert_to_snapshot(vol, snap)
    assert driver.gc(lambda kind, oid: kind != "volume") == []  # unknown but exported
    assert os.path.exists(vpath(driver, vol))
    driver.remove_export(vol)
    driver.delete_snapshot(snap)
    driver.delete_volume(vol)
    assert_clean(tgtd)


def test_extend_while_exported(ext4_dir: str, make_iscsi_driver: MakeDriver,
                               tgtd: Tgtd, initiator: Any) -> None:
    driver = make_iscsi_driver(ext4_dir)
    assert Capability.ONLINE_EXTEND in driver.capabilities
    vol = new_volume(1)
    driver.create_volume(vol)
    vol, info = export(driver, vol)
    lun = initiator(info)
    lun.io("write -P 0x33 0 1M")
    driver.extend_volume(vol, 2)
    assert lun.size() == 2 * GiB
    capacity = lun.libiscsi("iscsi-readcapacity16")
    assert f"Total size:{2 * GiB}" in capacity.stdout, capacity.stderr
    lun.io("read -P 0x33 0 1M", "write -P 0x44 2047M 1M")
    assert pread(vpath(driver, vol), 2 * GiB - MiB, MiB) == b"\x44" * MiB
    driver.remove_export(vol)
    assert_clean(tgtd)


def test_create_export_repairs_a_partial_target(ext4_dir: str, make_iscsi_driver: MakeDriver,
                                                tgtd: Tgtd, initiator: Any) -> None:
    """A target left without LUN, ACL or account (a crash mid-way, or tgtd restarted
    and someone made only the target) is completed by the next create_export."""
    driver = make_iscsi_driver(ext4_dir)
    vol = new_volume()
    driver.create_volume(vol)
    tgtd.tgtadm("--mode", "target", "--op", "new", "--tid", "7", "--targetname", iqn(vol))
    tgtd.tgtadm("--mode", "account", "--op", "new", "--user", "stale", "--password",
                "stalestalestale")
    tgtd.tgtadm("--mode", "account", "--op", "bind", "--tid", "7", "--user", "stale")
    vol, info = export(driver, vol)
    (target,) = targets_of(tgtd)
    assert target.tid == 7 and target.luns[1] == vpath(driver, vol)
    assert target.accounts == (info.data["auth_username"],)
    assert "stale" not in accounts_of(tgtd)
    initiator(info).io("write -P 0x55 0 4k")
    driver.remove_export(vol)
    assert_clean(tgtd)


def test_tids_are_allocated_safely_across_processes(ext4_dir: str,
                                                    make_iscsi_driver: MakeDriver,
                                                    tgtd: Tgtd) -> None:
    """Processes exporting at the same time get distinct tids; two processes
    exporting the same volume make one target."""
    driver = make_iscsi_driver(ext4_dir)
    vols = [new_volume() for _ in range(8)]
    for v in vols:
        driver.create_volume(v)
    tgtd.tgtadm("--mode", "target", "--op", "new", "--tid", "2", "--targetname",
                "iqn.2010-10.org.volumelib:someone-else")  # a gap below and a tid in use
    script = (
        "import sys\n"
        "from volumelib.drivers.file import FileDriver\n"
        "from volumelib.drivers.types import ConnectorProperties, VolumeInfo\n"
        "d = FileDriver(volume_backend_name='t', file_root=sys.argv[1],\n"
        "               target_helper='tgtadm', tgtadm_control_port=int(sys.argv[2]),\n"
        "               iscsi_chap=False)\n"
        "d.do_setup()\n"
        "for vid in sys.argv[3:]:\n"
        "    d.create_export(VolumeInfo(id=vid, size=1),\n"
        "                    ConnectorProperties(initiator='iqn.x:y'))\n")
    procs = []
    for i in range(4):  # each process: its own two volumes plus one shared with all
        mine = [v.id for v in vols[2 * i:2 * i + 2]] + [vols[0].id]
        procs.append(subprocess.Popen(
            [sys.executable, "-c", script, driver.root, str(tgtd.control_port), *mine],
            cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))),
            stderr=subprocess.PIPE, text=True))
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    targets = targets_of(tgtd)
    names = [t.name for t in targets]
    assert sorted(names) == sorted([iqn(v) for v in vols] +
                                   ["iqn.2010-10.org.volumelib:someone-else"])
    assert len({t.tid for t in targets}) == len(targets)
    assert all(t.luns[1] == vpath(driver, v) for v in vols for t in targets
               if t.name == iqn(v))
    for v in vols:
        driver.remove_export(v)
    assert [t.name for t in targets_of(tgtd)] == ["iqn.2010-10.org.volumelib:someone-else"]


# -- secrets -------------------------------------------------------------------------

def test_secrets_stay_out_of_logs_and_errors(ext4_dir: str, make_iscsi_driver: MakeDriver,
                                             tgtd: Tgtd,
                                             caplog: pytest.LogCaptureFixture) -> None:
    driver = make_iscsi_driver(ext4_dir)
    vol = new_volume()
    driver.create_volume(vol)
    with caplog.at_level(logging.DEBUG, logger="volumelib"):
        vol, info = export(driver, vol)
        driver.remove_export(vol)
    password = info.data["auth_password"]
    assert "--password ***" in caplog.text, "the account command is logged, redacted"
    assert password not in caplog.text
    assert password not in repr(info) and password not in repr(vol)
    creds = iscsi.ChapCredentials.from_provider_auth(f"CHAP u {password}")
    assert creds is not None and password not in repr(creds)
    # A failing command that carries the secret: redacted in the error too.
    tgtadm = iscsi.TgtAdm(tgtd.control_port)
    tgtadm.new_account(iscsi.ChapCredentials("dup", password))
    with pytest.raises(iscsi.TgtadmError) as e:
        tgtadm.run("--mode", "account", "--op", "new", "--user", "dup", "--password",
                   password, secret=password)
    assert password not in str(e.value) and "***" in str(e.value)
    assert e.value.__context__ is None
    tgtadm.delete_account("dup")
    assert_clean(tgtd)


# -- bad input -----------------------------------------------------------------------

def test_bad_connectors_are_refused(ext4_dir: str, make_iscsi_driver: MakeDriver,
                                    tgtd: Tgtd) -> None:
    driver = make_iscsi_driver(ext4_dir)
    vol = new_volume()
    driver.create_volume(vol)
    no_initiator = ConnectorProperties(host="node-1", ip="127.0.0.1")
    for bad in (no_initiator, ConnectorProperties(initiator=""), {"host": "h"},
                None, "iqn.x:y", dataclasses.replace(CONNECTOR, attach_mode="rx")):
        for call in (driver.create_export, driver.initialize_connection):
            with pytest.raises(exc.InvalidArgument) as e:
                call(vol, bad)  # type: ignore[arg-type]
            assert not isinstance(e.value, exc.InvalidId)
        assert targets_of(tgtd) == []
    with pytest.raises(exc.InvalidArgument, match="initiator"):
        driver.initialize_connection(vol, no_initiator)
    assert driver.validate_connector(CONNECTOR.to_dict()) == CONNECTOR
    # exported, still a connector without initiator is refused
    vol, _ = export(driver, vol)
    with pytest.raises(exc.InvalidArgument, match="initiator"):
        driver.initialize_connection(vol, no_initiator)
    driver.remove_export(vol)
    assert_clean(tgtd)


def test_missing_volume(ext4_dir: str, make_iscsi_driver: MakeDriver, tgtd: Tgtd) -> None:
    driver = make_iscsi_driver(ext4_dir)
    ghost = new_volume()
    with pytest.raises(exc.VolumeNotFound):
        driver.create_export(ghost, CONNECTOR)
    with pytest.raises(exc.VolumeNotFound):
        driver.initialize_connection(ghost, CONNECTOR)
    driver.remove_export(ghost)  # not exported: no-op
    driver.terminate_connection(ghost, CONNECTOR)
    assert_clean(tgtd)
    with pytest.raises(exc.InvalidId):
        driver.create_export(VolumeInfo(id="../x", size=1), CONNECTOR)
    # A volume file swapped for a symlink is never served.
    victim = os.path.join(ext4_dir, "victim")
    with open(victim, "wb") as f:
        f.write(b"precious")
    os.symlink(victim, vpath(driver, ghost))
    with pytest.raises(exc.BackendError, match="symlink"):
        driver.create_export(ghost, CONNECTOR)
    assert_clean(tgtd)
    driver.delete_volume(ghost)
    assert os.path.exists(victim)


def test_misconfiguration_is_refused(ext4_dir: str, make_driver: MakeDriver,
                                     tgtd: Tgtd) -> None:
    for options, words in (({"target_prefix": "not an iqn"}, "target_prefix"),
                           ({"target_prefix": "iqn.2010-10.ORG.x:"}, "target_prefix"),
                           ({"target_port": 70000}, "target_port"),
                           ({"target_port": 0}, "target_port"),
                           ({"target_helper": "lio"}, "target_helper")):
        with pytest.raises(exc.InvalidConfig, match=words):
            make_driver(ext4_dir, target_helper=options.pop("target_helper", "tgtadm"),
                        tgtadm_control_port=tgtd.control_port, **options)
    unused = next(p for p in range(20000, 32768)  # tgtd's control ports end at 32767
                  if not os.path.exists(f"/run/tgtd/socket.{p}"))
    with pytest.raises(exc.InvalidConfig, match=f"control port {unused}"):
        make_driver(ext4_dir, target_helper="tgtadm", tgtadm_control_port=unused)
    down = make_driver(ext4_dir, target_helper="tgtadm", tgtadm_control_port=unused,
                       setup=False)
    down.do_setup()
    assert down.is_alive() is False
    assert "not connected" in down.health()["tgtd"].lower()
    vol = new_volume()
    down.create_volume(vol)
    down.remove_export(vol)  # no daemon: nothing can be exported, no error
    with pytest.raises(exc.BackendError) as e:
        down.create_export(vol, CONNECTOR)
    assert "tgtadm" in str(e.value) and "***" not in str(e.value)
    down.delete_volume(vol)  # no daemon, no target: deletable


# -- several connections -------------------------------------------------------------

def test_several_connections_share_the_target(ext4_dir: str, make_iscsi_driver: MakeDriver,
                                              tgtd: Tgtd, initiator: Any) -> None:
    driver = make_iscsi_driver(ext4_dir)
    vol = new_volume()
    driver.create_volume(vol)
    other_host = ConnectorProperties(host="node-2", initiator=INITIATOR + "-2")
    reader = ConnectorProperties(host="node-3", initiator=INITIATOR + "-3", attach_mode="ro")
    vol, first = export(driver, vol)
    _, second = export(driver, vol, other_host)
    _, third = export(driver, vol, reader)
    assert len(targets_of(tgtd)) == 1
    assert second.data == first.data
    assert third.data == dict(first.data, access_mode="ro")  # the host enforces it
    initiator(first).io("write -P 0x66 0 64k")
    initiator(second, initiator=other_host.initiator).io("read -P 0x66 0 64k")
    driver.terminate_connection(vol, other_host)
    initiator(first).io("read -P 0x66 0 64k")  # the others keep working
    driver.remove_export(vol)
    assert_clean(tgtd)


# -- through the library -------------------------------------------------------------

@pytest.fixture
def iscsi_backend(ext4_dir: str, tgtd: Tgtd) -> Any:
    import volumelib
    volumelib.setup()
    backend = volumelib.Backend("iscsi", "file", file_root=os.path.join(ext4_dir, "root"),
                                target_helper="tgtadm", iscsi_chap=True,
                                tgtadm_control_port=tgtd.control_port,
                                target_port=tgtd.portal_port)
    yield backend
    for vol in backend.volumes:
        for conn in vol.connections:
            try:
                conn.disconnect(force=True)
            except exc.VolumelibError:
                pass
    backend.close()
    volumelib.setup()
    tgtd.clear()


def test_library_connect_over_iscsi(iscsi_backend: Any, tgtd: Tgtd, initiator: Any) -> None:
    """The library's connect/disconnect on an iSCSI backend with CHAP: the credentials
    the export saved (provider_auth) reach initialize_connection, work for a real
    initiator, and never show in JSON or repr."""
    backend = iscsi_backend
    assert backend.stats(refresh=True)["storage_protocol"] == "iSCSI"
    vol = backend.create_volume(1, multiattach=True)
    path = backend.driver.volume_path(vol.id)
    with pytest.raises(exc.InvalidArgument, match="initiator"):
        vol.connect({"host": "node-1", "ip": "127.0.0.1"})
    assert vol.connections == [] and targets_of(tgtd) == []
    assert backend.get_volume(vol.id).status == "available"
    c1 = vol.connect(CONNECTOR.to_dict())
    c2 = vol.connect(dict(CONNECTOR.to_dict(), host="node-2"), attach_mode="ro")
    assert c1.connection_info["driver_volume_type"] == "iscsi"
    data = c1.connection_info["data"]
    assert data["auth_method"] == "CHAP" and data["auth_password"]
    assert c2.connection_info["data"]["auth_password"] == data["auth_password"]
    stored = backend.get_volume(vol.id)
    assert stored.provider_auth and data["auth_password"] in stored.provider_auth
    for shown in (c1.jsons, repr(c1), stored.jsons, repr(stored), repr(stored.info())):
        assert data["auth_password"] not in shown
    assert c2.connection_info["data"]["access_mode"] == "ro"
    initiator(c1.connection_info).io("write -P 0x77 0 1M")
    assert pread(path, 0, MiB) == b"\x77" * MiB
    c1.disconnect()
    assert [t.name for t in targets_of(tgtd)] == [iqn(vol)]  # c2 still uses it
    c2.disconnect()
    assert targets_of(tgtd) == []
    assert backend.get_volume(vol.id).status == "available"
    vol.delete()


# -- parsing tgtadm's output (no daemon needed) ----------------------------------------

SHOW = """Target 1: iqn.2010-10.org.volumelib:volume-a
    System information:
        Driver: iscsi
        State: ready
    I_T nexus information:
        I_T nexus: 3
            Initiator: iqn.1993-08.org.debian:01:x alias: none
            Connection: 0
                IP Address: 127.0.0.1
    LUN information:
        LUN: 0
            Type: controller
            Backing store path: None
        LUN: 1
            Type: disk
            Backing store path: /srv/with space/volume-a
    Account information:
        alice
        bob (outgoing)
    ACL information:
        ALL
Target 12: iqn.2010-10.org.volumelib:volume-b
    System information:
        Driver: iscsi
    I_T nexus information:
    LUN information:
        LUN: 0
            Backing store path: None
    Account information:
    ACL information:
"""


def test_parse_tgtadm_output() -> None:
    a, b = iscsi.parse_targets(SHOW)
    assert (a.tid, a.name, a.sessions) == (1, "iqn.2010-10.org.volumelib:volume-a", 1)
    assert a.luns == {0: None, 1: "/srv/with space/volume-a"}
    assert a.accounts == ("alice",) and a.acls == ("ALL",)
    assert (b.tid, b.luns, b.accounts, b.acls, b.sessions) == (12, {0: None}, (), (), 0)
    assert iscsi.parse_targets("") == []
    assert iscsi.parse_accounts("Account list:\n    alice\n    bob\n") == ["alice", "bob"]
    assert iscsi.parse_accounts("Account list:\n") == []
    creds = iscsi.ChapCredentials.generate()
    assert iscsi.ChapCredentials.from_provider_auth(creds.to_provider_auth()) == creds
    assert creds.password not in repr(creds)
    for bad in (None, "", "CHAP onlyuser", "PLAIN u p", "CHAP u p extra", 42):
        assert iscsi.ChapCredentials.from_provider_auth(bad) is None
    assert iscsi.format_portal("::1", 3260) == "[::1]:3260"
    assert iscsi.format_portal("10.0.0.1", 3261) == "10.0.0.1:3261"
