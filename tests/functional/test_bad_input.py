"""Hostile input, table-driven: each case raises its specific exception, names the
offending value, and changes nothing.

Two environments:

* ``file``: the ``file`` driver on a real XFS (reflink) with a real SQLite file store;
  "nothing changed" compares every row of every table of the SQLite file (read with
  the ``sqlite3`` module, versions included) and the stat and first MiB of every file
  under ``file_root``.
* ``fake``: the ``fake`` driver on the memory store, for the pure-API cases; the
  store's tables and the driver's images are compared.

Each environment holds a volume (1 GiB, with data) and a snapshot of it before the
case runs, so the cases can use them.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import os
import sqlite3
import stat
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import volumelib
from volumelib import exceptions as exc

GiB = 1024 ** 3
UPPER_UUID = "ABCDEF00-0000-4000-8000-000000000000"


@dataclasses.dataclass
class Env:
    kind: str  # "file" or "fake"
    backend: volumelib.Backend
    store: Any
    vol: Any
    snap: Any
    tmp: str
    db_path: str | None = None
    root: str | None = None

    def state(self) -> Any:
        """Everything a failed call must not have changed."""
        if self.kind == "fake":
            drv = self.backend.driver
            images = {k: (v.size, sorted(v.blocks.items()), v.exports)
                      for k, v in {**drv._volumes, **{"s" + k: v for k, v
                                                      in drv._snapshots.items()}}.items()}
            # (a lookup may add an empty table to the memory store: not a change)
            tables = {k: v for k, v in self.store._tables.items() if v}
            return copy.deepcopy(tables), images
        return sqlite_rows(self.db_path), tree(self.root), tree(self.tmp)


def sqlite_rows(path: str) -> dict[str, list[tuple]]:
    """Every row of every table, sorted (opened read-only, outside SQLAlchemy)."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        return {t: sorted(con.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr)
                for t in tables}
    finally:
        con.close()


def tree(root: str) -> dict[str, tuple]:
    """Path -> (type, mode, size, blocks, mtime, sha256 of the first MiB) under ``root``,
    never following symlinks. SQLite's own files are left out (reading changes them)."""
    out: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            if ".sqlite" in name:
                continue
            st = os.lstat(path)
            digest = None
            if stat.S_ISREG(st.st_mode):
                with open(path, "rb") as f:
                    digest = hashlib.sha256(f.read(1024 * 1024)).hexdigest()
            out[os.path.relpath(path, root)] = (stat.S_IFMT(st.st_mode), st.st_mode,
                                                st.st_size, st.st_blocks, st.st_mtime_ns,
                                                digest)
    return out


def _populate(backend: volumelib.Backend) -> tuple[Any, Any]:
    vol = backend.create_volume(1, name="keeper", metadata={"k": "v"})
    if backend.driver_name == "fake":
        backend.driver.write(vol.id, 4096, b"keep" * 256)
    else:
        with open(backend.driver.volume_path(vol.id), "r+b") as f:
            f.seek(4096)
            f.write(b"keep" * 256)
    snap = vol.create_snapshot(name="keeper-snap")
    return vol, snap


@pytest.fixture
def file_env(xfs_dir: str) -> Iterator[Env]:
    db = os.path.join(xfs_dir, "store.sqlite")
    volumelib.setup(persistence_config={"storage": "dbms", "connection": f"sqlite:///{db}"})
    root = os.path.join(xfs_dir, "root")
    backend = volumelib.Backend("bad-file", "file", file_root=root)
    try:
        vol, snap = _populate(backend)
        yield Env("file", backend, volumelib.get_persistence(), vol, snap, xfs_dir, db,
                  root)
    finally:
        backend.close()
        volumelib.get_persistence().close()
        volumelib.setup()


@pytest.fixture
def fake_env(tmp_path: Any) -> Iterator[Env]:
    volumelib.setup()
    backend = volumelib.Backend("bad-fake", "fake")
    try:
        vol, snap = _populate(backend)
        yield Env("fake", backend, volumelib.get_persistence(), vol, snap, str(tmp_path))
    finally:
        backend.close()
        volumelib.setup()


@pytest.fixture(params=["file", "fake"])
def env(request: pytest.FixtureRequest) -> Env:
    return request.getfixturevalue(f"{request.param}_env")


def check(env: Env, call: Callable[[], Any], error: type[Exception], shown: str) -> Any:
    """``call()`` raises ``error`` naming ``shown`` and leaves the state as it was."""
    before = env.state()
    persistence = volumelib.get_persistence()
    with pytest.raises(error) as info:
        call()
    assert shown in str(info.value), (shown, str(info.value))
    assert volumelib.get_persistence() is persistence
    assert env.state() == before
    return info.value


# -- the table of API cases: (id, call(env), exception, text the message must show) ----

def _vol_json(env: Env, **changes: Any) -> dict[str, Any]:
    data = env.vol.json
    data["ovo"]["versioned_object.data"].update(changes)
    return data


def _dump_with(env: Env, path: list[str], value: Any) -> dict[str, Any]:
    data = env.vol.dump
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return data


LONG = "x" * 256
API_CASES: list[tuple[str, Callable[[Env], Any], type[Exception], str]] = []

for _size in (0, -1, 1.5, "1", True, 2 ** 63, None, float("nan"), [1]):
    API_CASES += [
        (f"create-size-{_size!r}", lambda e, s=_size: e.backend.create_volume(size=s),
         exc.InvalidSize, repr(_size)),
        (f"extend-{_size!r}", lambda e, s=_size: e.vol.extend(s), exc.InvalidSize,
         repr(_size)),
    ]
    if _size is not None:  # None means "the source's size" there
        API_CASES += [
            (f"clone-size-{_size!r}", lambda e, s=_size: e.vol.clone(size=s),
             exc.InvalidSize, repr(_size)),
            (f"from-snapshot-size-{_size!r}",
             lambda e, s=_size: e.snap.create_volume(size=s), exc.InvalidSize,
             repr(_size)),
        ]
API_CASES += [
    ("extend-to-same-size", lambda e: e.vol.extend(1), exc.InvalidSize, "1"),
    ("create-too-big-for-backend", lambda e: e.backend.create_volume(size=1024 * 1024),
     exc.InsufficientCapacity, "1048576"),
]

for _name, _shown in ((LONG, "x" * 40 + "..."), ("a\0b", "'a\\x00b'"), ("a/b", "'a/b'"),
                      ("..", "'..'"), ("a\\b", "a\\\\b"), (5, "5"), (b"name", "b'name'"),
                      (["n"], "['n']"), ("\ud800", "'\\ud800'"), ("tab\there", "tab\\there")):
    API_CASES += [
        (f"create-name-{_name!r:.12}", lambda e, n=_name: e.backend.create_volume(1, name=n),
         exc.InvalidName, _shown),
        (f"snapshot-name-{_name!r:.12}", lambda e, n=_name: e.vol.create_snapshot(name=n),
         exc.InvalidName, _shown),
        (f"clone-name-{_name!r:.12}", lambda e, n=_name: e.vol.clone(name=n),
         exc.InvalidName, _shown),
    ]

for _id, _shown in (("not-a-uuid", "'not-a-uuid'"),
                    ("'; DROP TABLE volumes;--", "DROP TABLE volumes"),
                    ("1 OR 1=1", "'1 OR 1=1'"),
                    ("../../etc/passwd", "'../../etc/passwd'"),
                    ("volume-../../x", "volume-../../x"),
                    (UPPER_UUID, UPPER_UUID), ("", "''"), (5, "5"), (None, "None"),
                    ("00000000-0000-0000-0000-00000000000g", "00000000000g")):
    API_CASES += [
        (f"get-id-{_id!r:.14}", lambda e, i=_id: e.backend.get_volume(i), exc.InvalidId,
         _shown),
        (f"group-id-{_id!r:.14}", lambda e, i=_id: e.backend.get_group(i),
         exc.InvalidArgument, _shown),
    ]
    if _id is not None:
        API_CASES += [
            (f"create-id-{_id!r:.14}", lambda e, i=_id: e.backend.create_volume(1, id=i),
             exc.InvalidId, _shown),
            (f"snapshot-id-{_id!r:.14}", lambda e, i=_id: e.vol.create_snapshot(id=i),
             exc.InvalidId, _shown),
        ]
API_CASES += [
    ("create-id-taken", lambda e: e.backend.create_volume(1, id=e.vol.id),
     exc.AlreadyExists, ""),
    ("snapshot-id-taken", lambda e: e.vol.create_snapshot(id=e.snap.id),
     exc.AlreadyExists, ""),
]

for _label, _meta, _shown in (
        ("huge-value", {"k": "v" * 100_000}, "'k'"),
        ("huge-key", {"k" * 300: "v"}, "kkkk"),
        ("too-many-keys", {str(i): "v" for i in range(257)}, "257"),
        ("non-utf8-bytes", {"k": b"\xff\xfe"}, "\\xff\\xfe"),
        ("bytes-key", {b"k": "v"}, "b'k'"),
        ("nested", {"k": {"inner": "v"}}, "{'inner': 'v'}"),
        ("int-value", {"k": 1}, "not 1"),
        ("none-value", {"k": None}, "not None"),
        ("list-value", {"k": ["a"]}, "['a']"),
        ("empty-key", {"": "v"}, "''"),
        ("surrogate", {"k": "\udcff"}, "'k'"),
        ("not-a-mapping", [("k", "v")], "[('k', 'v')]"),
        ("a-string", "k=v", "'k=v'")):
    API_CASES += [
        (f"create-metadata-{_label}",
         lambda e, m=_meta: e.backend.create_volume(1, metadata=m), exc.InvalidArgument,
         _shown),
        (f"snapshot-metadata-{_label}", lambda e, m=_meta: e.vol.create_snapshot(metadata=m),
         exc.InvalidArgument, _shown),
    ]

API_CASES += [
    ("description-int", lambda e: e.backend.create_volume(1, description=5),
     exc.InvalidArgument, "5"),
    ("description-huge", lambda e: e.backend.create_volume(1, description="d" * 2000),
     exc.InvalidArgument, "1024"),
    ("volume-type-int", lambda e: e.backend.create_volume(1, volume_type=5),
     exc.InvalidArgument, "5"),
    ("volume-type-bad-spec", lambda e: e.backend.create_volume(1, volume_type={"k": 1}),
     exc.InvalidArgument, "{'k': 1}"),
    ("volume-type-unknown-name", lambda e: e.backend.create_volume(1, volume_type="gold"),
     exc.NotFound, "'gold'"),
    ("image-args-without-image",
     lambda e: e.backend.create_volume(1, image_cache=object()), exc.InvalidArgument,
     "image_cache"),
    ("gc-older-than-negative", lambda e: e.backend.gc(older_than=-1), exc.InvalidArgument,
     "-1"),
    ("gc-older-than-str", lambda e: e.backend.gc(older_than="600"), exc.InvalidArgument,
     "'600'"),
    ("list-filter-unknown", lambda e: e.backend.list_volumes(filters={"provider_auth": "x"}),
     exc.InvalidArgument, "provider_auth"),
    ("list-limit-negative", lambda e: e.backend.list_volumes(limit=-1),
     exc.InvalidArgument, "-1"),
    ("list-marker-not-uuid", lambda e: e.backend.list_volumes(marker="../x"),
     exc.InvalidArgument, "../x"),
    ("revert-to-other-volume-snapshot-id",
     lambda e: e.vol.revert_to_snapshot(UPPER_UUID.lower()), exc.SnapshotNotFound,
     UPPER_UUID.lower()),
    ("revert-to-not-a-snapshot", lambda e: e.vol.revert_to_snapshot(5),
     exc.InvalidArgument, "5"),
]

# Connector properties (what a host sends to be connected).
for _label, _conn, _shown in (
        ("str", "host=h", "str"), ("none", None, "NoneType"), ("int", 5, "int"),
        ("list", [("host", "h")], "list")):
    API_CASES.append((f"connect-{_label}", lambda e, c=_conn: e.vol.connect(c),
                      exc.InvalidArgument, _shown))
API_CASES += [
    ("connect-mode-arg", lambda e: e.vol.connect({"host": "h"}, attach_mode="rwx"),
     exc.InvalidArgument, "'rwx'"),
    ("validate-connector-str", lambda e: e.backend.validate_connector("h"),
     exc.InvalidArgument, "str"),
]

# JSON for volumelib.load() (also with save=True: nothing may be stored).
LOAD_CASES: list[tuple[str, Callable[[Env], Any], str]] = [
    ("truncated", lambda e: e.vol.jsons[:-7], "not JSON"),
    ("empty-string", lambda e: "", "not JSON"),
    ("non-utf8", lambda e: b"\xff\xfe{}", "not UTF-8"),
    ("not-an-object", lambda e: "42", "got int"),
    ("null", lambda e: "null", "got NoneType"),
    ("list-of-junk", lambda e: [e.vol.json, "junk"], "got str"),
    ("deep-nesting", lambda e: "[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ("wrong-class", lambda e: {**e.vol.json, "class": "Backend"}, "'Backend'"),
    ("unknown-class", lambda e: {**e.vol.json, "class": "__import__"}, "'__import__'"),
    ("class-mismatch", lambda e: {**e.snap.json, "class": "Volume"},
     "holds a Snapshot"),
    ("wrong-version", lambda e: _dump_with(e, ["ovo", "versioned_object.version"], "2.0"),
     "version 2.0"),
    ("bad-version", lambda e: _dump_with(e, ["ovo", "versioned_object.version"], "one"),
     "'one'"),
    ("wrong-namespace",
     lambda e: _dump_with(e, ["ovo", "versioned_object.namespace"], "nova"), "'nova'"),
    ("missing-ovo", lambda e: {"class": "Volume"}, "no 'ovo'"),
    ("missing-data", lambda e: {"class": "Volume", "ovo": {
        "versioned_object.name": "Volume", "versioned_object.namespace": "volumelib",
        "versioned_object.version": "1.0"}}, "no data"),
    ("missing-id", lambda e: _vol_json(e, id=None), "id"),
    ("unknown-field", lambda e: _vol_json(e, admin=True), "admin"),
    ("size-bool", lambda e: _vol_json(e, size=True), "True"),
    ("size-float", lambda e: _vol_json(e, size=1.5), "1.5"),
    ("size-str", lambda e: _vol_json(e, size="1"), "'1'"),
    ("size-zero", lambda e: _vol_json(e, size=0), "0"),
    ("size-huge", lambda e: _vol_json(e, size=2 ** 70), str(2 ** 70)),
    ("id-path", lambda e: _vol_json(e, id="../../etc/passwd"), "../../etc/passwd"),
    ("id-sql", lambda e: _vol_json(e, id="'; DROP TABLE volumes;--"), "DROP TABLE"),
    ("name-slash", lambda e: _vol_json(e, name="../../x"), "../../x"),
    ("status-int", lambda e: _vol_json(e, status=5), "5"),
    ("multiattach-str", lambda e: _vol_json(e, multiattach="yes"), "'yes'"),
    ("metadata-nested", lambda e: _vol_json(e, metadata={"k": {"n": "v"}}), "{'n': 'v'}"),
    ("metadata-int", lambda e: _vol_json(e, metadata={"k": 1}), "{'k': 1}"),
    ("metadata-huge", lambda e: _vol_json(e, metadata={f"k{i}": "v" for i in range(5000)}),
     "5000"),
    ("created-at-garbage", lambda e: _vol_json(e, created_at="yesterday"), "'yesterday'"),
    ("snapshots-not-a-list", lambda e: _dump_with(e, ["snapshots"], {"a": 1}),
     "snapshots must be a list"),
    ("snapshot-of-other-volume",
     lambda e: _dump_with(e, ["snapshots"], [_other_snapshot(e)]), "another volume"),
    ("nested-junk", lambda e: _dump_with(e, ["snapshots"], [e.vol.json] * 2),
     "another volume"),
]


def _other_snapshot(env: Env) -> dict[str, Any]:
    data = env.snap.json
    data["ovo"]["versioned_object.data"]["volume_id"] = UPPER_UUID.lower()
    return data


@pytest.mark.parametrize("call, error, shown",
                         [pytest.param(c, e, s, id=i) for i, c, e, s in API_CASES])
def test_api_input(env: Env, call: Callable[[Env], Any], error: type[Exception],
                   shown: str) -> None:
    check(env, lambda: call(env), error, shown)


@pytest.mark.parametrize("save", [False, True], ids=["load", "load-save"])
@pytest.mark.parametrize("make, shown", [pytest.param(m, s, id=i) for i, m, s in LOAD_CASES])
def test_load_input(env: Env, make: Callable[[Env], Any], shown: str, save: bool) -> None:
    payload = make(env)
    check(env, lambda: volumelib.load(payload, save=save), exc.InvalidPayload, shown)
    if isinstance(payload, (dict, list)):  # and as JSON text too
        text = json.dumps(payload)
        check(env, lambda: volumelib.load(text, save=save), exc.InvalidPayload, shown)


def test_load_of_unknown_backend_changes_nothing(env: Env) -> None:
    data = _vol_json(env, backend_name="elsewhere")
    check(env, lambda: volumelib.load(data, save=True), exc.BackendNotFound, "elsewhere")


def test_valid_load_round_trips(env: Env) -> None:
    """The mutations above are refused, not the format: the untouched dump loads."""
    loaded = volumelib.load(env.vol.dumps)
    assert loaded.id == env.vol.id and loaded.size == 1 and loaded.metadata == {"k": "v"}


@pytest.mark.parametrize("connector", [{"host": 5}, {"host": "h", "multipath": "maybe"},
                                       {"host": "h", "initiator": ["x"]},
                                       {"host": "h", "do_local_attach": "no"}],
                         ids=["host-int", "multipath-str", "initiator-list", "local-str"])
def test_connector_value_types(fake_env: Env, connector: dict[str, Any]) -> None:
    bad = next(iter(v for k, v in connector.items() if k != "host" or len(connector) == 1))
    check(fake_env, lambda: fake_env.vol.connect(connector), exc.InvalidArgument, repr(bad))


# -- configuration: driver options, persistence configs, database URLs, paths ----------

DRIVER_OPTION_CASES = [
    ("unknown", {"file_rot": "/x"}, exc.UnknownOption, "'file_rot'"),
    ("port-str", {"target_port": "abc"}, exc.InvalidConfig, "'abc'"),
    ("port-float", {"target_port": 3260.5}, exc.InvalidConfig, "3260.5"),
    ("port-bool", {"target_port": True}, exc.InvalidConfig, "True"),
    ("port-huge", {"target_port": 70000}, exc.InvalidConfig, "70000"),
    ("port-zero", {"target_port": 0}, exc.InvalidConfig, "0"),
    ("ratio-nan", {"max_over_subscription_ratio": float("nan")}, exc.InvalidConfig, "nan"),
    ("ratio-inf", {"max_over_subscription_ratio": float("inf")}, exc.InvalidConfig, "inf"),
    ("ratio-list", {"max_over_subscription_ratio": [1]}, exc.InvalidConfig, "[1]"),
    ("ratio-tiny", {"max_over_subscription_ratio": 0.0}, exc.InvalidConfig, "0.0"),
    ("reflink-choice", {"reflink": "sometimes"}, exc.InvalidConfig, "'sometimes'"),
    ("direct-io-str", {"loop_direct_io": "maybe"}, exc.InvalidConfig, "'maybe'"),
    ("direct-io-int", {"loop_direct_io": 2}, exc.InvalidConfig, "2"),
    ("helper", {"target_helper": "lio"}, exc.InvalidConfig, "'lio'"),
    ("prefix", {"target_prefix": "no spaces"}, exc.InvalidConfig, "'no spaces'"),
    ("root-int", {"file_root": 5}, exc.InvalidConfig, "5"),
    ("root-empty", {"file_root": ""}, exc.InvalidConfig, "''"),
    ("root-nul", {"file_root": "/tmp/a\0b"}, exc.InvalidConfig, "\\x00"),
    ("root-relative", {"file_root": "relative/root"}, exc.InvalidConfig, "'relative/root'"),
    ("root-dot", {"file_root": "."}, exc.InvalidConfig, "'.'"),
]


@pytest.mark.parametrize("options, error, shown",
                         [pytest.param(o, e, s, id=i) for i, o, e, s in DRIVER_OPTION_CASES])
def test_file_driver_options(file_env: Env, options: dict[str, Any],
                             error: type[Exception], shown: str) -> None:
    """A bad option is refused before anything is created (not even ``file_root``)."""
    opts = {"file_root": os.path.join(file_env.tmp, "other-root"), **options}
    check(file_env, lambda: volumelib.Backend("other", "file", **opts), error, shown)
    assert not os.path.lexists(os.path.join(file_env.tmp, "other-root"))


FAKE_OPTION_CASES = [
    ("capacity-str", {"fake_capacity_gb": "lots"}, exc.InvalidConfig, "'lots'"),
    ("capacity-fraction", {"fake_capacity_gb": 1.7}, exc.InvalidConfig, "1.7"),
    ("capacity-inf", {"fake_capacity_gb": float("inf")}, exc.InvalidConfig, "inf"),
    ("capacity-negative", {"fake_capacity_gb": -1}, exc.InvalidConfig, "-1"),
    ("fail-on-int", {"fake_fail_on": 5}, exc.InvalidConfig, "5"),
    ("bool-str", {"fake_native_groups": "perhaps"}, exc.InvalidConfig, "'perhaps'"),
    ("unknown", {"fake_capacity": 1}, exc.UnknownOption, "'fake_capacity'"),
]


@pytest.mark.parametrize("options, error, shown",
                         [pytest.param(o, e, s, id=i) for i, o, e, s in FAKE_OPTION_CASES])
def test_fake_driver_options(fake_env: Env, options: dict[str, Any],
                             error: type[Exception], shown: str) -> None:
    check(fake_env, lambda: volumelib.Backend("other", "fake", **options), error, shown)


BACKEND_CASES = [
    ("driver-unknown", dict(volume_driver="nosuch"), exc.DriverNotFound, "'nosuch'"),
    ("driver-not-a-driver", dict(volume_driver="os.path.join"), exc.DriverNotFound,
     "'os.path.join'"),
    ("driver-missing-module", dict(volume_driver="no.such.Module"), exc.DriverNotFound,
     "'no.such.Module'"),
    ("driver-int", dict(volume_driver=5), exc.DriverNotFound, "5"),
    ("driver-class-not-driver", dict(volume_driver=dict), exc.DriverNotFound, "dict"),
    ("name-slash", dict(volume_backend_name="a/b"), exc.InvalidName, "'a/b'"),
    ("name-empty", dict(volume_backend_name=""), exc.InvalidName, "''"),
    ("name-int", dict(volume_backend_name=5), exc.InvalidName, "5"),
]


@pytest.mark.parametrize("kwargs, error, shown",
                         [pytest.param(k, e, s, id=i) for i, k, e, s in BACKEND_CASES])
def test_backend_arguments(fake_env: Env, kwargs: dict[str, Any], error: type[Exception],
                           shown: str) -> None:
    kwargs = {"volume_backend_name": "other", "volume_driver": "fake", **kwargs}
    check(fake_env, lambda: volumelib.Backend(**kwargs), error, shown)


PERSISTENCE_CASES = [
    ("int", 5, exc.InvalidPersistence, "5"),
    ("plain-name", "memory", exc.InvalidPersistence, "'memory'"),
    ("unknown-plugin", {"storage": "redis"}, exc.InvalidPersistence, "'redis'"),
    ("storage-none", {"storage": None}, exc.InvalidPersistence, "None"),
    ("storage-class-not-store", {"storage": dict}, exc.InvalidPersistence, "dict"),
    ("memory-extra-option", {"storage": "memory", "path": "/x"}, exc.InvalidPersistence,
     "path"),
    ("dbms-no-connection", {"storage": "dbms"}, exc.InvalidPersistence, "connection"),
    ("dbms-connection-int", {"storage": "dbms", "connection": 5}, exc.InvalidPersistence,
     "int"),
    ("dbms-unknown-option", {"storage": "dbms", "connection": "sqlite://", "pool": "x"},
     exc.InvalidPersistence, "pool"),
    ("url-not-a-url", {"storage": "dbms", "connection": "not a url"},
     exc.InvalidPersistence, "'not a url'"),
    ("url-unknown-dialect", {"storage": "dbms", "connection": "oracle2://u@h/db"},
     exc.InvalidPersistence, "oracle2"),
    ("url-bad-port", {"storage": "dbms", "connection": "postgresql://u@h:port/db"},
     exc.InvalidPersistence, "h:port"),
    ("url-bad-ipv6", {"storage": "dbms", "connection": "postgresql://u@[::1:5432/db"},
     exc.InvalidPersistence, "[::1:5432"),
    ("sqlite-sync", {"storage": "dbms", "connection": "sqlite://",
                     "sqlite_synchronous": "sometimes"}, exc.InvalidPersistence,
     "'sometimes'"),
    ("sqlite-missing-dir", {"storage": "dbms",
                            "connection": "sqlite:////nonexistent/dir/v.sqlite"},
     exc.PersistenceError, "/nonexistent/dir"),
    # Refused at once on the loopback: nothing listens on port 1.
    ("postgres-nowhere", {"storage": "dbms",
                          "connection": "postgresql://u@127.0.0.1:1/db"},
     exc.PersistenceError, "127.0.0.1:1"),
    ("mysql-nowhere", {"storage": "dbms", "connection": "mysql://u@127.0.0.1:1/db"},
     exc.PersistenceError, "127.0.0.1:1"),
]


@pytest.mark.parametrize("config, error, shown",
                         [pytest.param(c, e, s, id=i) for i, c, e, s in PERSISTENCE_CASES])
def test_persistence_config(env: Env, config: Any, error: type[Exception],
                            shown: str) -> None:
    """``volumelib.setup`` with a bad store keeps the store it had."""
    check(env, lambda: volumelib.setup(persistence_config=config), error, shown)
    check(env, lambda: volumelib.Backend("other", "fake", persistence=config), error, shown)


def test_sqlite_url_to_a_directory(file_env: Env) -> None:
    url = f"sqlite:///{file_env.tmp}"  # the directory itself, not a file in it
    check(file_env, lambda: volumelib.setup(persistence_config={"storage": "dbms",
                                                                "connection": url}),
          exc.PersistenceError, file_env.tmp)


# -- paths given as file_root ---------------------------------------------------------

def test_file_root_is_a_file(file_env: Env) -> None:
    path = os.path.join(file_env.tmp, "a-file")
    with open(path, "w") as f:
        f.write("not a directory")
    check(file_env, lambda: volumelib.Backend("other", "file", file_root=path),
          exc.InvalidConfig, path)
    check(file_env, lambda: volumelib.Backend("other", "file",
                                              file_root=os.path.join(path, "below")),
          exc.InvalidConfig, path)


def test_file_root_layout_directory_is_a_symlink(file_env: Env) -> None:
    """A ``volumes`` directory that is a symlink (even to a directory on the same
    filesystem) is refused at set-up."""
    root = os.path.join(file_env.tmp, "trap-root")
    elsewhere = os.path.join(file_env.tmp, "elsewhere")
    os.makedirs(root)
    os.makedirs(elsewhere)
    os.symlink(elsewhere, os.path.join(root, "volumes"))
    check(file_env, lambda: volumelib.Backend("other", "file", file_root=root),
          exc.InvalidConfig, os.path.join(root, "volumes"))
    assert os.listdir(elsewhere) == []


def test_file_root_nonexistent_is_created_private(file_env: Env) -> None:
    """Not an error: a missing ``file_root`` and its missing parents are created 0o700."""
    root = os.path.join(file_env.tmp, "new", "deeper", "root")
    backend = volumelib.Backend("other", "file", file_root=root)
    try:
        for path in (os.path.join(file_env.tmp, "new"), root,
                     os.path.join(root, "volumes")):
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o700, path
        assert backend.volumes == []
    finally:
        backend.close()


def test_file_root_symlink_is_resolved_once(file_env: Env) -> None:
    """A ``file_root`` that is a symlink is resolved at set-up; the driver keeps using
    that real directory even if the link is later pointed elsewhere."""
    real = os.path.join(file_env.tmp, "real-root")
    other = os.path.join(file_env.tmp, "other-real")
    link = os.path.join(file_env.tmp, "link-root")
    os.makedirs(real)
    os.makedirs(other)
    os.symlink(real, link)
    backend = volumelib.Backend("other", "file", file_root=link)
    try:
        assert backend.driver.root == real
        os.unlink(link)
        os.symlink(other, link)
        vol = backend.create_volume(1)
        assert os.path.isfile(os.path.join(real, "volumes", f"volume-{vol.id}"))
        assert os.listdir(other) == []
        vol.delete()
    finally:
        backend.close()
