"""The file driver, through the public API, passes the driver conformance suite on a
real XFS with reflink and on ext4 (copy fallback), with data checked through real
loop-device attaches (root) — the suite's default way to reach the bytes. On btrfs
the groups are native (one atomic subvolume snapshot); elsewhere the fallback runs."""

from __future__ import annotations

import os
from typing import Any

import pytest

import volumelib
from volumelib import exceptions as exc
from volumelib.drivers.types import Capability
from volumelib.testing import drivers as suite
from tests.helpers import requires_root

pytest_plugins = ["tests.functional.btrfs_fixtures"]


class FileFixtures(suite.DriverFixtures):
    @pytest.fixture(params=["xfs", "btrfs", "ext4"])
    def backend(self, request: pytest.FixtureRequest) -> Any:
        requires_root()
        directory = request.getfixturevalue(f"{request.param}_dir")
        volumelib.setup()
        backend = volumelib.Backend("file-conformance", "file",
                                    file_root=os.path.join(directory, "root"))
        backend.fs = request.param  # type: ignore[attr-defined]
        backend.directory = directory  # type: ignore[attr-defined]
        yield backend
        for vol in backend.volumes:  # a failed test must not leave exports behind
            for conn in vol.connections:
                try:
                    conn.detach(force=True)
                    conn.disconnect(force=True)
                except exc.VolumelibError:
                    pass
        backend.close()
        volumelib.setup()

    @pytest.fixture
    def migration_target(self, backend: Any) -> Any:
        """Another root on the same filesystem: the reflink migration on XFS and btrfs,
        the host-assisted copy on ext4."""
        target = volumelib.Backend("file-conformance-target", "file",
                                   file_root=os.path.join(backend.directory, "target"))
        yield target
        target.close()


class TestFileDriver(FileFixtures, suite.DriverSuite):
    def test_capabilities_follow_the_filesystem(self, backend: Any) -> None:
        has_reflink = Capability.REFLINK in backend.capabilities
        assert has_reflink == (backend.fs in ("xfs", "btrfs"))
        native_groups = Capability.CONSISTENT_GROUP_SNAPSHOT in backend.capabilities
        assert native_groups == (backend.fs == "btrfs")
        assert Capability.LOCAL_ATTACH in backend.capabilities

    def test_too_big_for_the_filesystem(self, backend: Any) -> None:
        before = len(backend.volumes)
        with pytest.raises(exc.InsufficientCapacity) as info:
            backend.create_volume(100_000)
        assert "100000" in str(info.value)
        assert len(backend.volumes) == before
        assert os.listdir(os.path.join(backend.driver.root, "volumes")) == []

    def test_failed_operations_leave_files_and_records_as_they_were(self, backend: Any) -> None:
        vol = backend.create_volume(1, name="keep")
        snap = vol.create_snapshot()
        files = sorted(os.listdir(os.path.join(backend.driver.root, "volumes")))
        for call, error in ((lambda: vol.delete(), exc.HasSnapshots),
                            (lambda: vol.extend(1), exc.InvalidSize),
                            (lambda: vol.clone(name="../escape"), exc.InvalidName),
                            (lambda: snap.create_volume(size=0), exc.InvalidSize)):
            with pytest.raises(error):
                call()
        assert sorted(os.listdir(os.path.join(backend.driver.root, "volumes"))) == files
        stored = backend.get_volume(vol.id)
        assert (stored.status, stored.size, stored.name) == ("available", 1, "keep")
        snap.delete()
        vol.delete()
