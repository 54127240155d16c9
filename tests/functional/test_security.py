"""Security: the file driver stays inside ``file_root``; secrets stay out of sight.

Paths: on a real XFS, volume and snapshot files, the layout's directories, the root
itself and temp files are replaced by symlinks pointing outside ``file_root``, and
ids carry ``../``; every operation either refuses (``BackendError``/``InvalidId``) or
acts on the link itself, and a "victim" file and directory outside are checked byte
for byte (and by stat) afterwards.

Secrets: CHAP passwords of the file driver's iSCSI exports (a real tgtd), options a
driver marks secret, ``provider_auth`` and database URLs with passwords (a real
PostgreSQL) never show in logs (every logger at DEBUG), ``json``, ``jsons``, ``dump``,
``dumps``, ``repr`` or exception messages, unless ``include_secrets=True`` asks.
"""

from __future__ import annotations

import hashlib
import logging
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

import volumelib
from tests.functional.dbfixtures import pg_server, pg_url  # noqa: F401 - fixtures
from volumelib import exceptions as exc
from volumelib.drivers.fake import FakeDriver
from volumelib.drivers.options import Option
from volumelib.drivers.base import ModelUpdate
from volumelib.drivers.types import VolumeInfo

pytest_plugins = ["tests.functional.tgt_fixtures"]

MiB = 1024 ** 2
VICTIM_DATA = b"outside file_root: must never change " * 1000


# -- paths -----------------------------------------------------------------------------

class Outside:
    """A victim directory beside ``file_root`` with a file and look-alike volume files."""

    def __init__(self, base: str) -> None:
        self.dir = os.path.join(base, "outside")
        os.makedirs(self.dir)
        self.file = os.path.join(self.dir, "victim")
        with open(self.file, "wb") as f:
            f.write(VICTIM_DATA)
        # Named like the driver's files: what a gc that followed a link would remove.
        self.lookalikes = [os.path.join(self.dir, f"volume-{uuid.uuid4()}"),
                           os.path.join(self.dir, f"snapshot-{uuid.uuid4()}")]
        for path in self.lookalikes:
            with open(path, "wb") as f:
                f.write(b"look-alike")
        self.before = self.state()

    def state(self) -> dict[str, tuple]:
        out = {}
        for name in sorted(os.listdir(self.dir)):
            path = os.path.join(self.dir, name)
            st = os.lstat(path)
            with open(path, "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()
            out[name] = (st.st_size, st.st_mode, st.st_mtime_ns, st.st_ino, digest)
        return out

    def assert_untouched(self) -> None:
        assert self.state() == self.before


@pytest.fixture
def fenv(xfs_dir: str) -> Iterator[tuple[volumelib.Backend, Outside]]:
    volumelib.setup()
    backend = volumelib.Backend("sec", "file", file_root=os.path.join(xfs_dir, "root"))
    outside = Outside(xfs_dir)
    yield backend, outside
    backend.close()
    volumelib.setup()


def _volfile(backend: volumelib.Backend, vol: Any) -> str:
    return os.path.join(backend.driver.root, "volumes", f"volume-{vol.id}")


def _replace_with_link(path: str, target: str) -> None:
    os.unlink(path)
    os.symlink(target, path)


def _loop_backing_files() -> list[str]:
    from volumelib.drivers.file import loop
    if not loop.available():
        return []
    return [d.back_file or "" for d in loop.list_devices()]


def test_volume_file_replaced_by_symlink(fenv: Any) -> None:
    backend, outside = fenv
    vol = backend.create_volume(1)
    snap = vol.create_snapshot()
    _replace_with_link(_volfile(backend, vol), outside.file)

    with pytest.raises(exc.BackendError, match="symlink"):
        vol.extend(2)
    vol.refresh()
    vol.status = "available"  # the failed extend left error_extending; try the others
    vol.save()
    with pytest.raises(exc.BackendError, match="symlink"):
        vol.create_snapshot()
    with pytest.raises(exc.BackendError, match="symlink"):
        vol.clone()
    if os.geteuid() == 0:
        with pytest.raises(exc.VolumelibError):
            vol.attach()
        assert outside.file not in " ".join(_loop_backing_files())
    outside.assert_untouched()
    # No copy of the victim's bytes anywhere under file_root.
    for dirpath, _, files in os.walk(backend.driver.root):
        for name in files:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                with open(path, "rb") as f:
                    assert VICTIM_DATA[:64] not in f.read(MiB), path

    # Revert replaces the link (inside file_root) by the snapshot's data.
    vol.revert_to_snapshot(snap)
    assert not os.path.islink(_volfile(backend, vol))
    outside.assert_untouched()
    # Delete removes the link, never what it points to.
    _replace_with_link(_volfile(backend, vol), outside.file)
    for failed in vol.snapshots:  # the refused create_snapshot left one in error
        failed.delete()
    assert vol.snapshots == []
    vol.delete()
    assert not os.path.lexists(_volfile(backend, vol))
    outside.assert_untouched()


def test_snapshot_file_replaced_by_symlink(fenv: Any) -> None:
    backend, outside = fenv
    vol = backend.create_volume(1)
    snap = vol.create_snapshot()
    path = os.path.join(backend.driver.root, "snapshots", f"snapshot-{snap.id}")
    os.chmod(path, 0o600)
    _replace_with_link(path, outside.file)
    with pytest.raises(exc.BackendError, match="symlink"):
        snap.create_volume()
    with pytest.raises(exc.BackendError, match="symlink"):
        vol.revert_to_snapshot(snap)
    vol.refresh()
    assert not os.path.islink(_volfile(backend, vol))
    snap.delete()
    assert not os.path.lexists(path)
    outside.assert_untouched()


@pytest.mark.parametrize("sub", ["volumes", "snapshots"])
def test_layout_directory_replaced_by_symlink(fenv: Any, sub: str) -> None:
    """After set-up, ``volumes`` or ``snapshots`` becomes a link to a directory full of
    files named like the driver's (unknown to the store): every operation and gc
    refuse to use it; nothing outside is created, changed or removed."""
    backend, outside = fenv
    vol = backend.create_volume(1)
    snap = vol.create_snapshot()
    real = os.path.join(backend.driver.root, sub)
    os.rename(real, real + ".moved")
    os.symlink(outside.dir, real)

    calls = [lambda: vol.create_snapshot(), lambda: snap.create_volume(),
             lambda: backend.driver.gc(lambda kind, oid: False)]
    if sub == "volumes":
        calls += [lambda: backend.create_volume(1), lambda: vol.clone(),
                  lambda: vol.extend(2)]
    for call in calls:
        with pytest.raises(exc.BackendError, match="not a real directory"):
            call()
    report = backend.gc(older_than=0)
    assert report["orphans"] == [] and report["skipped"], report
    outside.assert_untouched()


def test_ids_with_dot_dot_are_refused_by_the_driver(fenv: Any) -> None:
    """The SPI itself refuses ids that are not canonical UUIDs (the library checks them
    too, so only a caller of the SPI could pass one)."""
    backend, outside = fenv
    driver = backend.driver
    escape = os.path.relpath(outside.file, os.path.join(driver.root, "volumes"))
    assert escape.startswith("..")
    for bad in (escape, f"../{os.path.basename(outside.dir)}/victim",
                f"{uuid.uuid4()}/../../../outside/victim", "..", "/etc/passwd"):
        info = VolumeInfo(id=bad, size=1)
        for call in (lambda: driver.create_volume(info), lambda: driver.delete_volume(info),
                     lambda: driver.extend_volume(info, 2),
                     lambda: driver.volume_path(bad)):
            with pytest.raises(exc.InvalidId):
                call()
    outside.assert_untouched()


def test_file_root_symlink_repointed_after_setup(fenv: Any, xfs_dir: str) -> None:
    """``file_root`` given as a symlink is resolved at set-up; pointing the link at
    another directory later changes nothing for the running driver (gc included)."""
    _, outside = fenv
    real = os.path.join(xfs_dir, "real-root")
    os.makedirs(real)
    link = os.path.join(xfs_dir, "root-link")
    os.symlink(real, link)
    backend = volumelib.Backend("sec-link", "file", file_root=link)
    try:
        vol = backend.create_volume(1)
        os.unlink(link)
        os.symlink(outside.dir, link)
        os.makedirs(os.path.join(outside.dir, "volumes"))
        look = os.path.join(outside.dir, "volumes", f"volume-{uuid.uuid4()}")
        open(look, "wb").close()
        report = backend.gc(older_than=0)
        assert report["orphans"] == []
        assert os.path.exists(look)
        assert os.path.isfile(os.path.join(real, "volumes", f"volume-{vol.id}"))
        vol.delete()
        assert os.listdir(os.path.join(real, "volumes")) == []
    finally:
        backend.close()


def test_stale_temp_symlink_is_removed_not_followed(fenv: Any) -> None:
    """gc removes an old ``.tmp-*`` entry that is a symlink: the link, not its target."""
    backend, outside = fenv
    for sub in ("", "volumes", "snapshots"):
        link = os.path.join(backend.driver.root, sub, f".tmp-{uuid.uuid4()}-00")
        os.symlink(outside.file, link)
        os.utime(link, (1, 1), follow_symlinks=False)
    report = backend.gc(older_than=0)
    assert len([o for o in report["orphans"] if "stale temporary" in o]) == 3, report
    for sub in ("", "volumes", "snapshots"):
        directory = os.path.join(backend.driver.root, sub)
        assert not [n for n in os.listdir(directory) if n.startswith(".tmp-")]
    outside.assert_untouched()


# -- secrets -----------------------------------------------------------------------------

API_KEY = "api-key-" + uuid.uuid4().hex
AUTH_SECRET = "auth-secret-" + uuid.uuid4().hex


class SecretFakeDriver(FakeDriver):
    """The fake driver with a secret option and provider_auth on its volumes (a real
    driver subclass, as a vendor would write one)."""

    name = "secret-fake"
    options = FakeDriver.options + (
        Option("fake_api_key", "str", None, "A key for the storage's API.", secret=True),
        Option("fake_api_mode", "str", "a", "Mode.", secret=True, choices=("a", "b")),
    )

    def create_volume(self, volume: VolumeInfo) -> ModelUpdate:
        update = dict(super().create_volume(volume) or {})
        update["provider_auth"] = f"CHAP user {AUTH_SECRET}"
        return update


def _every_shown_text(backend: volumelib.Backend, vol: Any, conn: Any) -> list[str]:
    stored = backend.get_volume(vol.id)
    texts = [vol.jsons, vol.dumps, repr(vol), str(vol.json), str(vol.dump),
             stored.jsons, repr(stored), volumelib.dumps(), str(volumelib.dump()),
             repr(backend), str(backend.config), repr(backend.driver),
             str(backend.stats(refresh=True)), str(backend.health()),
             repr(volumelib.get_persistence()), repr(stored.info())]
    if conn is not None:
        texts += [conn.jsons, conn.dumps, repr(conn), str(conn.json)]
    return texts


def test_secret_options_and_provider_auth(caplog: pytest.LogCaptureFixture) -> None:
    volumelib.setup()
    with caplog.at_level(logging.DEBUG):
        backend = volumelib.Backend("secrets", SecretFakeDriver, fake_api_key=API_KEY)
        try:
            vol = backend.create_volume(1)
            conn = vol.connect({"host": "h"})
            assert vol.provider_auth.endswith(AUTH_SECRET)  # it is there, for the driver
            assert backend.driver.config.fake_api_key == API_KEY
            texts = _every_shown_text(backend, vol, conn)
            # Errors: a bad value of a secret option is not echoed, whichever check fails.
            errors = []
            for bad in ({"fake_api_key": ["k", API_KEY]}, {"fake_api_mode": API_KEY}):
                with pytest.raises(exc.InvalidConfig) as info:
                    volumelib.Backend("other", SecretFakeDriver, **bad)
                errors.append(str(info.value))
            with pytest.raises(exc.VolumeInUse) as info:
                vol.delete()
            errors.append(str(info.value))
            conn.disconnect()
            vol.delete()
        finally:
            backend.close()
    for text in texts + errors + [caplog.text]:
        assert API_KEY not in text and AUTH_SECRET not in text
        assert "fake-secret" not in text  # the fake driver's connection auth_password
    assert "***" in "".join(errors)
    # Asked for explicitly: there.
    assert AUTH_SECRET in vol.to_json(include_secrets=True)["ovo"][
        "versioned_object.data"]["provider_auth"]
    assert "fake-secret" in str(conn.to_json(include_secrets=True))


def test_iscsi_chap_password_stays_hidden(ext4_dir: str, tgtd: Any,
                                          caplog: pytest.LogCaptureFixture) -> None:
    """A real tgtd export with CHAP: the password is in the volume's provider_auth and
    the connection info the initiator gets, and nowhere a person or a log sees."""
    volumelib.setup()
    with caplog.at_level(logging.DEBUG):
        backend = volumelib.Backend("iscsi-sec", "file",
                                    file_root=os.path.join(ext4_dir, "root"),
                                    target_helper="tgtadm", iscsi_chap=True,
                                    tgtadm_control_port=tgtd.control_port,
                                    target_port=tgtd.portal_port)
        try:
            vol = backend.create_volume(1)
            conn = vol.connect({"host": "node", "initiator": "iqn.1993-08.org.x:01:sec"})
            password = conn.connection_info["data"]["auth_password"]
            assert password and len(password) >= 12
            texts = _every_shown_text(backend, vol, conn)
            with pytest.raises(exc.VolumeInUse) as info:
                vol.delete()
            texts.append(str(info.value))
            full = vol.to_json(include_secrets=True)
            conn.disconnect()
            vol.delete()
        finally:
            backend.close()
            volumelib.setup()
            tgtd.clear()
    for text in texts + [caplog.text]:
        assert password not in text
    assert "***" in conn.jsons
    assert password in full["ovo"]["versioned_object.data"]["provider_auth"]


def _with_password(url: str, password: str) -> str:
    scheme, rest = url.split("://", 1)
    user, host = rest.split("@", 1)
    return f"{scheme}://{user}:{password}@{host}"


def test_database_url_password_redacted(pg_url: str,  # noqa: F811 - fixture
                                        caplog: pytest.LogCaptureFixture) -> None:
    """PostgreSQL (trust authentication ignores the password, so the URL works)."""
    password = "pw-" + uuid.uuid4().hex
    url = _with_password(pg_url, password)
    errors = []
    with caplog.at_level(logging.DEBUG):
        volumelib.setup(persistence_config={"storage": "dbms", "connection": url})
        store = volumelib.get_persistence()
        try:
            backend = volumelib.Backend("db-sec", "fake")
            vol = backend.create_volume(1)
            texts = _every_shown_text(backend, vol, None) + [store.url, repr(store)]
            backend.close()
        finally:
            store.close()
            volumelib.setup()
        nowhere = _with_password("postgresql://u@127.0.0.1:1/db", password)
        for config in ({"storage": "dbms", "connection": nowhere},
                       {"storage": "dbms", "connection": url.rsplit("/", 1)[0] + "/nosuchdb"},
                       {"storage": "dbms", "connection": nowhere.replace(":1/", ":x/")},
                       {"storage": "dbms", "connection": url, "pool": "x"}):
            with pytest.raises(exc.PersistenceError) as info:
                volumelib.setup(persistence_config=config)
            errors.append(str(info.value))
            errors.append(repr(info.value))
            assert info.value.__cause__ is None or password not in str(info.value.__cause__)
    for text in texts + errors + [caplog.text]:
        assert password not in text
    assert all("***" in e for e in errors[::2]), errors
