"""The fake driver on the memory store passes the driver conformance suite."""

from __future__ import annotations

from typing import Any

import pytest

import volumelib
from volumelib.testing import drivers as suite


class FakeFixtures(suite.DriverFixtures):
    @pytest.fixture
    def backend(self) -> Any:
        volumelib.setup()  # a fresh memory store for every test
        backend = volumelib.Backend("fake-conformance", "fake")
        yield backend
        backend.close()

    @pytest.fixture
    def migration_target(self, backend: Any) -> Any:
        target = volumelib.Backend("fake-conformance-target", "fake")
        yield target
        target.close()

    def write_data(self, backend: Any, volume: Any, offset: int, data: bytes) -> None:
        backend.driver.write(volume.id, offset, data)

    def read_data(self, backend: Any, volume: Any, offset: int, length: int) -> bytes:
        return backend.driver.read(volume.id, offset, length)

    def data_size(self, backend: Any, volume: Any) -> int:
        return backend.driver.size(volume.id)


class TestFakeDriver(FakeFixtures, suite.DriverSuite):
    pass


class FallbackFixtures(FakeFixtures):
    @pytest.fixture
    def backend(self) -> Any:
        volumelib.setup()
        backend = volumelib.Backend("fake-fallback", "fake", fake_native_groups=False)
        yield backend
        backend.close()


class TestFakeDriverGroupFallback(FallbackFixtures, suite.GroupTests):
    """Without the CG interface the library's per-volume fallback passes the same tests."""
