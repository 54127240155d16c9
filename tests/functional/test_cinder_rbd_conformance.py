"""Cinder's own, unmodified ``RBDDriver`` (``volumelib.drivers.cinder``) passes the driver
conformance suite on the session's real single-node Ceph cluster, side by side with
volumelib's native ``rbd`` driver (``test_rbd_conformance.py``, same cluster and
pool). Data is reached through the suite's default: a local attach with os-brick's
userspace RBD connector.

The suite checks after every test that the pool holds no image or snapshot that no
record knows of. With the adapter's workarounds off, it catches Cinder's RBD clone
leak (``volume-<id>.deleted`` with a protected ``.clone_snap``): see
``test_the_suite_catches_the_clone_leak_without_the_workaround``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

import pytest

import volumelib
from volumelib import exceptions as exc
from volumelib.drivers.types import Capability
from volumelib.testing import drivers as suite

pytest_plugins = ["tests.functional.ceph_fixtures", "tests.functional.cinder_fixtures"]


class CinderRBDFixtures(suite.DriverFixtures):
    @pytest.fixture
    def backend(self, cinder_rbd_backend: Any) -> Any:
        return cinder_rbd_backend


class TestCinderRBDDriver(CinderRBDFixtures, suite.DriverSuite):
    def test_it_is_cinders_driver(self, backend: Any) -> None:
        from cinder.volume.drivers.rbd import RBDDriver
        assert type(backend.driver.cinder_driver) is RBDDriver
        assert backend.stats()["vendor_name"] == "Open Source"  # Cinder's RBD says so
        assert {Capability.CLONE, Capability.THIN, Capability.LOCAL_ATTACH,
                Capability.REVERT_TO_SNAPSHOT} <= backend.capabilities
        # Cinder's RBD driver has no group interface: groups use the fallback.
        assert Capability.CONSISTENT_GROUP_SNAPSHOT not in backend.capabilities

    def test_images_have_cinders_names_and_the_native_driver_reads_them(
            self, backend: Any, rbd_backend_config: dict[str, Any]) -> None:
        vol = backend.create_volume(1)
        self.write_data(backend, vol, 0, b"cinder" * 100)
        with backend.driver.cinder_driver.rbd.Image(
                _ioctx(backend), f"volume-{vol.id}", read_only=True) as image:
            assert image.size() == 1024 ** 3
            assert image.read(0, 600) == b"cinder" * 100
        vol.delete()


def _ioctx(backend: Any) -> Any:
    client, ioctx = backend.driver.cinder_driver._connect_to_rados(
        backend.driver.configuration.rbd_pool)
    return ioctx


class TestCinderRBDBugs(CinderRBDFixtures):
    """The extended suite finds Cinder's RBD clone leak when the adapter does not work
    around it; with the workaround (the default) the suite above passes."""

    @pytest.fixture
    def backend(self, cinder_rbd_config: dict[str, Any]) -> Any:
        volumelib.setup()
        backend = volumelib.Backend(volume_backend_name="cinder-rbd-bare",
                                    cinder_workarounds=False, **cinder_rbd_config)
        yield backend
        backend.driver.gc(lambda kind, object_id: False)
        backend.close()
        volumelib.setup()

    @pytest.fixture
    def _nothing_left_behind(self) -> Any:  # this class shows what is left on purpose
        yield

    def test_the_suite_catches_the_clone_leak_without_the_workaround(self, backend: Any
                                                                     ) -> None:
        # The suite's own test: clone, delete the clone, delete the source.
        suite.CloneTests.test_clone_keeps_data(self, backend)
        left = self.leftovers(backend)
        assert len(left) == 1 and left[0].startswith("volume ") and \
            left[0].endswith(".deleted)"), left
        backend.driver.gc(suite.is_known(backend))  # the adapter's gc removes it
        assert self.leftovers(backend) == []


class TestCinderRBDSetup:
    """Bad configurations fail in ``Backend(...)`` with a specific error and leave
    nothing behind."""

    def test_unknown_option_lists_the_known_ones(self, cinder_rbd_config: dict[str, Any]
                                                 ) -> None:
        volumelib.setup()
        with pytest.raises(exc.UnknownOption) as info:
            volumelib.Backend("bad", **dict(cinder_rbd_config, rbd_pol="x"))
        assert "rbd_pol" in str(info.value) and "rbd_pool" in str(info.value)

    def test_bad_value_names_the_option(self, cinder_rbd_config: dict[str, Any]) -> None:
        with pytest.raises(exc.InvalidConfig) as info:
            volumelib.Backend("bad", **dict(cinder_rbd_config, rbd_max_clone_depth="deep"))
        assert "rbd_max_clone_depth" in str(info.value) and "deep" in str(info.value)

    def test_secret_options_are_not_shown(self, cinder_rbd_config: dict[str, Any]) -> None:
        volumelib.setup()
        backend = volumelib.Backend("secret", **dict(cinder_rbd_config,
                                                     chap_password="hunter2-secret"))
        try:
            assert "hunter2-secret" not in repr(backend.driver)
            assert "hunter2-secret" not in str(backend.config)
            assert backend.driver.configuration.chap_password == "hunter2-secret"
        finally:
            backend.close()

    @staticmethod
    def _threads() -> int:
        return len(os.listdir("/proc/self/task"))

    @pytest.mark.parametrize("fault", ["wrong monitor", "wrong key"])
    def test_failing_do_setup_names_driver_and_cause(
            self, cinder_rbd_config: dict[str, Any], fault: str) -> None:
        work = tempfile.mkdtemp(prefix="volumelib-cinder-bad-")
        try:
            conf = os.path.join(work, "ceph.conf")
            keyring = os.path.join(work, "keyring")
            shutil.copy(cinder_rbd_config["rbd_ceph_conf"], conf)
            shutil.copy(cinder_rbd_config["rbd_keyring_conf"], keyring)
            if fault == "wrong monitor":
                _set_global(conf, "mon_host", "v2:127.0.0.1:9")  # nothing answers there
            else:  # the driver's RADOS client reads the keyring named in ceph.conf
                _set_key(keyring, "AQBXu2ZlAAAAABAAzh6gQ0bZnxYxQlKDYVqEjQ==")
                _set_global(conf, "keyring", keyring)
            volumelib.setup()
            before = self._threads()
            with pytest.raises(exc.BackendError) as info:
                volumelib.Backend("bad-setup", **dict(
                    cinder_rbd_config, rbd_ceph_conf=conf, rbd_keyring_conf=keyring,
                    rados_connect_timeout=3, rados_connection_retries=1,
                    rados_connection_interval=0))
            message = str(info.value)
            assert "cinder.volume.drivers.rbd.RBDDriver" in message
            assert "bad-setup" in message and "set up" in message
            assert self._threads() <= before + 1  # no RADOS handle left running
        finally:
            shutil.rmtree(work, ignore_errors=True)


def _set_global(conf: str, option: str, value: str) -> None:
    """Set ``option`` in the ``[global]`` section of a ceph.conf (its first line)."""
    with open(conf, encoding="utf-8") as f:
        lines = f.read().splitlines()
    done = False
    for i, line in enumerate(lines):
        if not done and line.replace(" ", "").startswith(f"{option}="):
            lines[i], done = f"{option} = {value}", True
    assert done, f"no {option} in {conf}"
    with open(conf, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


def _set_key(keyring: str, key: str) -> None:
    with open(keyring, encoding="utf-8") as f:
        lines = f.read().splitlines()
    lines = [f"\tkey = {key}" if line.strip().startswith("key") else line for line in lines]
    with open(keyring, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
