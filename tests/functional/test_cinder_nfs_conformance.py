"""Cinder's own, unmodified NFS driver (``cinder.volume.drivers.nfs.NfsDriver``) through
``volumelib.drivers.cinder``, on a local directory: the second driver family.

**What is real and what is not.** This machine's kernel has no network filesystems
(``CONFIG_NETWORK_FILESYSTEMS`` is not set), so no NFS share can be mounted and the
NFS transport is *not* exercised. The share ``127.0.0.1:<dir>`` is a local directory
bind-mounted at the mount point the driver computes (``<nfs_mount_point_base>/
<md5 of the share>``); the driver (and os-brick under it) finds it in
``/proc/mounts`` and runs all of its own code on it: sparse raw files, qcow2
snapshots with their ``.info`` chain, volumes from snapshots and clones through
``qemu-img``, extend. ``mount.nfs`` must exist (the driver checks it at set-up;
``tools/setup-env`` installs ``nfs-common``) but is never run.

A local attach would mount the share through os-brick's NFS connector, which this
kernel cannot do, so the driver does not declare ``local_attach`` here (those tests
are N/A) and the fixture reaches a volume's bytes with ``qemu-io``/``qemu-img`` on the
volume's active file, as a reader of the attached file would see them.

With the adapter's workaround off, the suite catches Cinder's NFS size bug (a volume
from a snapshot is created at the snapshot's size, not the larger one asked).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

import volumelib
from volumelib.drivers.types import Capability
from volumelib.testing import drivers as suite

pytest_plugins = ["tests.functional.ceph_fixtures", "tests.functional.cinder_fixtures"]

def _active_file(export: str, volume_id: str) -> str:
    info = os.path.join(export, f"volume-{volume_id}.info")
    if os.path.exists(info):
        with open(info, encoding="utf-8") as f:
            return os.path.join(export, json.load(f)["active"])
    return os.path.join(export, f"volume-{volume_id}")


def _image_info(path: str) -> dict[str, Any]:
    out = subprocess.run(["qemu-img", "info", "--output=json", "-U", path],
                         capture_output=True, text=True, check=True, timeout=60)
    return json.loads(out.stdout)


class NFSFixtures(suite.DriverFixtures):
    workarounds = True

    @pytest.fixture
    def backend(self, nfs_share: dict[str, Any]) -> Iterator[Any]:
        volumelib.setup()
        backend = volumelib.Backend(volume_backend_name="cinder-nfs",
                                    cinder_workarounds=self.workarounds,
                                    **nfs_share["config"])
        backend.export = nfs_share["export"]  # type: ignore[attr-defined]
        try:
            yield backend
        finally:
            try:
                backend.driver.gc(lambda kind, object_id: False)
            finally:
                backend.close()
                volumelib.setup()

    def _path(self, backend: Any, volume: Any) -> tuple[str, str]:
        path = _active_file(backend.export, volume.id)
        return path, _image_info(path)["format"]

    def write_data(self, backend: Any, volume: Any, offset: int, data: bytes) -> None:
        path, fmt = self._path(backend, volume)
        with tempfile.NamedTemporaryFile() as src:
            src.write(data)
            src.flush()
            subprocess.run(["qemu-io", "-f", fmt, "-c",
                            f"write -s {src.name} {offset} {len(data)}", path],
                           check=True, capture_output=True, timeout=60)

    def read_data(self, backend: Any, volume: Any, offset: int, length: int) -> bytes:
        path, fmt = self._path(backend, volume)
        out = subprocess.run(["qemu-io", "-r", "-f", fmt, "-c",
                              f"read -v {offset} {length}", path],
                             check=True, capture_output=True, text=True, timeout=60)
        data = bytearray()
        for line in out.stdout.splitlines():
            m = re.match(r"^[0-9a-f]{8}:\s+((?:[0-9a-f]{2}\s)+)", line)
            if m:
                data += bytes(int(b, 16) for b in m.group(1).split())
        return bytes(data[:length])

    def data_size(self, backend: Any, volume: Any) -> int:
        path, _ = self._path(backend, volume)
        return int(_image_info(path)["virtual-size"])


class TestCinderNFSDriver(NFSFixtures, suite.DriverSuite):
    def test_it_is_cinders_nfs_driver_on_a_local_directory(self, backend: Any) -> None:
        from cinder.volume.drivers.nfs import NfsDriver
        assert type(backend.driver.cinder_driver) is NfsDriver
        assert Capability.LOCAL_ATTACH not in backend.capabilities  # no NFS client here
        vol = backend.create_volume(1)
        assert os.path.isfile(os.path.join(backend.export, f"volume-{vol.id}"))
        snap = vol.create_snapshot()
        # Cinder's NFS snapshots are qcow2 overlays recorded in a .info file.
        assert _image_info(_active_file(backend.export, vol.id))["format"] == "qcow2"
        snap.delete()
        vol.delete()
        assert os.listdir(backend.export) == []


class TestCinderNFSBugs(NFSFixtures):
    """Without the adapter's workaround, the suite's size test catches the NFS
    driver's from-snapshot size bug."""

    workarounds = False
    _check_size = suite.SizeTests._check_size

    @pytest.fixture
    def _nothing_left_behind(self) -> Any:  # the test deletes what it made
        yield

    @pytest.mark.parametrize("case", ["from snapshot", "clone"])
    def test_the_suite_catches_the_size_bug(self, backend: Any, case: str) -> None:
        with pytest.raises(AssertionError):
            if case == "from snapshot":
                suite.SizeTests.test_volume_from_snapshot_larger_has_the_size_asked(
                    self, backend)
            else:
                suite.SizeTests.test_clone_larger_has_the_size_asked(self, backend, False)
        # What the suite saw: the driver made it 1 GiB where 2 were asked.
        vol = backend.create_volume(1)
        if case == "from snapshot":
            snap = vol.create_snapshot()
            new = snap.create_volume(size=2)
        else:
            snap, new = None, vol.clone(size=2)
        assert new.size == 2 and self.data_size(backend, new) == 1024 ** 3
        new.delete()
        if snap is not None:
            snap.delete()
        vol.delete()
