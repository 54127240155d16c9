"""The memory store runs the persistence conformance suite."""

from __future__ import annotations

import pytest

from volumelib.persistence.memory import MemoryPersistence
from volumelib.testing import persistence as suite
from volumelib.testing import persistence_listing as listing


class MemoryFixtures(suite.PersistenceFixtures):
    @pytest.fixture
    def store(self):
        store = MemoryPersistence()
        yield store
        store.close()


class TestMemoryPersistence(MemoryFixtures, suite.PersistenceSuite, listing.ListingSuite):
    pass
