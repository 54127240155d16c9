"""Driver error text is scrubbed of secrets before it reaches ``BackendError``."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest

import volumelib
from volumelib import exceptions as exc
from volumelib.drivers.fake import FakeDriver
from volumelib.drivers.options import Option
from volumelib.drivers.base import ModelUpdate
from volumelib.drivers.types import SnapshotInfo, VolumeInfo
from volumelib.objects.driver_calls import scrub_secrets

API_KEY = "api-key-" + uuid.uuid4().hex
AUTH_PASSWORD = "chap-pw-" + uuid.uuid4().hex


class LeakyDriver(FakeDriver):
    """A fake driver subclass whose errors quote its secret option and the volume's
    CHAP credentials, as a careless vendor driver might."""

    name = "leaky-fake"
    options = FakeDriver.options + (
        Option("leaky_api_key", "str", None, "The storage API key.", secret=True),
    )

    def create_volume(self, volume: VolumeInfo) -> ModelUpdate:
        update = dict(super().create_volume(volume) or {})
        update["provider_auth"] = f"CHAP admin {AUTH_PASSWORD}"
        return update

    def extend_volume(self, volume: VolumeInfo, new_size: int) -> None:
        raise RuntimeError(f"POST /extend?key={self.config.leaky_api_key} refused "
                           f"(auth {volume.provider_auth}) for {volume.id}")

    def create_snapshot(self, snapshot: SnapshotInfo) -> ModelUpdate:
        raise ValueError(f"login with password {snapshot.volume.provider_auth.split()[-1]} "
                         f"failed")


@pytest.fixture
def backend() -> Any:
    volumelib.setup()
    b = volumelib.Backend("leaky", LeakyDriver, leaky_api_key=API_KEY)
    yield b
    b.close()
    volumelib.setup()


def test_secret_option_and_provider_auth_scrubbed(backend: Any,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    vol = backend.create_volume(1)
    with caplog.at_level(logging.DEBUG), pytest.raises(exc.BackendError) as info:
        vol.extend(2)
    text = str(info.value)
    assert "RuntimeError: POST /extend?key=*** refused (auth ***)" in text, text
    assert vol.id in text  # the rest of the driver's message is kept
    assert API_KEY not in text and AUTH_PASSWORD not in text
    # The original (with the secrets) is not chained, and the debug log is clean.
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert API_KEY not in caplog.text and AUTH_PASSWORD not in caplog.text
    assert backend.get_volume(vol.id).status == "error_extending"


def test_password_part_of_provider_auth_scrubbed(backend: Any) -> None:
    vol = backend.create_volume(1)
    with pytest.raises(exc.BackendError) as info:
        vol.create_snapshot()
    assert "login with password *** failed" in str(info.value)
    assert AUTH_PASSWORD not in str(info.value)


def test_error_without_secret_keeps_its_cause() -> None:
    volumelib.setup()
    b = volumelib.Backend("plain", "fake", fake_fail_on=["extend_volume"])
    try:
        vol = b.create_volume(1)
        with pytest.raises(exc.BackendError) as info:
            vol.extend(2)
        assert info.value.__cause__ is not None
        assert str(info.value.__cause__) in str(info.value)
    finally:
        b.close()
        volumelib.setup()


def test_scrub_secrets_longest_first_and_short_values_left() -> None:
    assert scrub_secrets("k=abcdef1234 p=abcd x=ab", ["abcd", "abcdef1234", "ab"]) \
        == "k=*** p=*** x=ab"
