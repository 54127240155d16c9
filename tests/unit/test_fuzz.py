"""Property-based fuzzing (hypothesis) of what reads untrusted data.

* ``volumelib.load()`` on arbitrary JSON-like data and on mutated valid dumps either
  returns objects or raises a ``VolumelibError`` subclass; with ``save=True`` a
  failure leaves the store exactly as it was (on the memory store and on SQL in
  memory).
* Driver option resolution (``drivers/options.py``) and driver construction,
  ``volumelib.persistence.setup`` and the database URL parsing of the SQL store
  either succeed or raise ``VolumelibError``.

Bounded for CI: every test has ``max_examples`` and no deadline; the whole module
takes well under 30 s on this machine kind. No database server and no network address
is ever contacted: server URLs are only parsed (SQLAlchemy connects lazily), and SQLite
files go to a temporary directory only.
"""

from __future__ import annotations

import copy
import json
import math
import string
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import volumelib
from volumelib import exceptions as exc
from volumelib.drivers.base import COMMON_OPTIONS
from volumelib.drivers.fake import FakeDriver
from volumelib.drivers.file import FileDriver
from volumelib.drivers.options import Option, resolve_options

FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.data_too_large])

SCALARS = (st.none() | st.booleans() | st.integers(min_value=-2 ** 70, max_value=2 ** 70)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20))
JSONISH = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                       | st.dictionaries(st.text(max_size=12), inner, max_size=4),
                       max_leaves=16)
CLASS_NAMES = ["Volume", "Snapshot", "Connection", "Group", "GroupSnapshot", "KeyValue",
               "VolumeType", "Backend", "", "object"]


# -- a store with real objects, and its dumps ----------------------------------------

class World:
    """A memory or SQL-in-memory store holding a volume with a snapshot and a
    connection, a group with a group snapshot; ``dumps`` are their JSON."""

    def __init__(self, storage: str) -> None:
        volumelib.setup(persistence_config={"storage": storage})
        self.store = volumelib.get_persistence()
        self.backend = volumelib.Backend("fuzz", "fake")
        vol = self.backend.create_volume(1, name="v", metadata={"a": "b"})
        vol.create_snapshot(name="s")
        vol.connect({"host": "h", "initiator": "iqn.x"})
        other = self.backend.create_volume(2, name="w")
        group = self.backend.create_group("g", volumes=[other])
        gsnap = group.create_snapshot("gs")
        self.dumps = [vol.dump, other.json, group.json, gsnap.json,
                      vol.snapshots[0].json, vol.connections[0].json]

    def state(self) -> Any:
        """Every stored row of every kind, with versions."""
        from volumelib.persistence.base import KINDS
        return {name: sorted(((v, json.dumps(vals, sort_keys=True, default=str))
                              for v, vals in self.store._fetch(kind, {})), key=repr)
                for name, kind in KINDS.items()}


@pytest.fixture(scope="module", params=["memory", "memory_dbms"])
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    w = World(request.param)
    yield w
    w.backend.close()
    volumelib.setup()


def _load_checked(world: World, data: Any, save: bool) -> None:
    before = world.state() if save else None
    try:
        result = volumelib.load(data, save=save)
    except exc.VolumelibError:
        if save:
            assert world.state() == before, "a failed load(save=True) stored something"
        return
    objs = result if isinstance(result, list) else [result]
    for obj in objs:
        assert isinstance(obj, volumelib.records.stored.StoredObject)
        if save:
            from volumelib.persistence.base import KINDS
            kind = KINDS[obj._kind()]
            assert world.store._get(kind, id=obj.id), f"{obj!r} was not stored"


@FUZZ
@given(data=JSONISH, save=st.booleans())
def test_load_arbitrary_json(world: World, data: Any, save: bool) -> None:
    _load_checked(world, data, save)


@FUZZ
@given(data=JSONISH)
def test_load_arbitrary_json_text(world: World, data: Any) -> None:
    try:
        text = json.dumps(data)
    except ValueError:
        return
    _load_checked(world, text, save=False)


@FUZZ
@given(st.text(max_size=200) | st.binary(max_size=200))
def test_load_arbitrary_text(world: World, text: Any) -> None:
    _load_checked(world, text, save=False)


@st.composite
def envelopes(draw: Any) -> dict[str, Any]:
    """Things that look like our JSON: the right keys with wrong or random values."""
    data = draw(st.dictionaries(st.sampled_from(
        ["id", "name", "size", "status", "volume_id", "metadata", "backend_name",
         "multiattach", "created_at", "connection_info", "group_id", "junk"]),
        JSONISH, max_size=6))
    ovo = {"versioned_object.name": draw(st.sampled_from(CLASS_NAMES) | st.text(max_size=8)),
           "versioned_object.namespace": draw(st.sampled_from(["volumelib", "nova", ""])),
           "versioned_object.version": draw(st.sampled_from(["1.0", "1.9", "2.0", "x", ""])),
           "versioned_object.data": data}
    if draw(st.booleans()):
        ovo["versioned_object.changes"] = draw(JSONISH)
    out: dict[str, Any] = {"class": draw(st.sampled_from(CLASS_NAMES)), "ovo": ovo}
    for key in ("snapshots", "connections", "backend"):
        if draw(st.booleans()):
            out[key] = draw(JSONISH)
    return out


@FUZZ
@given(data=envelopes() | st.lists(envelopes(), max_size=3), save=st.booleans())
def test_load_envelopes(world: World, data: Any, save: bool) -> None:
    _load_checked(world, data, save)


def _paths(value: Any, prefix: tuple = ()) -> Iterator[tuple]:
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, prefix + (i,))


@st.composite
def mutated_dumps(draw: Any, dumps: list[dict[str, Any]]) -> Any:
    """A valid dump with 1-3 mutations: a value replaced, a key removed or added."""
    data = copy.deepcopy(draw(st.sampled_from(dumps)))
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(data) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = data
        for key in path[:-1]:
            parent = parent[key]
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "replace":
            parent[path[-1]] = draw(JSONISH)
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=10))] = draw(JSONISH)
        else:
            parent.append(draw(JSONISH))
    if draw(st.booleans()):
        data = [data, copy.deepcopy(draw(st.sampled_from(dumps)))]
    return data


@FUZZ
@given(data=st.data(), save=st.booleans())
def test_load_mutated_dumps(world: World, data: st.DataObject, save: bool) -> None:
    payload = data.draw(mutated_dumps(world.dumps))
    _load_checked(world, payload, save)
    if not save:
        try:
            text = json.dumps(payload)
        except ValueError:  # NaN is not JSON
            return
        _load_checked(world, text, save=False)


def test_unmutated_dumps_load_and_save(world: World) -> None:
    """The baseline of the mutations: every dump loads and saves (overwriting)."""
    before = world.state()
    loaded = volumelib.load(world.dumps, save=True)
    assert [o.id for o in loaded] == [d["ovo"]["versioned_object.data"]["id"]
                                      for d in world.dumps]
    after = world.state()
    assert {k: len(v) for k, v in after.items()} == {k: len(v) for k, v in before.items()}


# -- configuration ---------------------------------------------------------------------

def _option_values() -> st.SearchStrategy[Any]:
    return (SCALARS | st.lists(SCALARS, max_size=3) | st.dictionaries(st.text(max_size=5),
                                                                       SCALARS, max_size=2)
            | st.sampled_from(["auto", "always", "never", "none", "tgtadm", "true", "0",
                               "3260", "1e400", "nan", "-inf", " 12 ", "/abs/path",
                               "relative", "iqn.2010-10.org.x:"]))


def _options_for(declared: tuple[Option, ...]) -> st.SearchStrategy[dict[Any, Any]]:
    names = [o.name for o in declared]
    keys = st.sampled_from(names) | st.text(max_size=12) | st.integers(0, 3)
    return st.dictionaries(keys, _option_values(), max_size=5)


ALL_DRIVER_OPTIONS = {
    "fake": COMMON_OPTIONS + tuple(FakeDriver.options),
    "file": COMMON_OPTIONS + tuple(FileDriver.options),
}


@FUZZ
@given(driver=st.sampled_from(sorted(ALL_DRIVER_OPTIONS)), data=st.data())
def test_resolve_options(driver: str, data: st.DataObject) -> None:
    declared = ALL_DRIVER_OPTIONS[driver]
    given_options = data.draw(_options_for(declared))
    try:
        config = resolve_options(declared, given_options, driver=driver)
    except exc.InvalidConfig:
        return
    for opt in declared:  # what resolves is of the declared type, finite, in range
        value = getattr(config, opt.name)
        if value is None:
            continue
        expected = {"str": str, "int": int, "float": float, "bool": bool,
                    "list": list}[opt.type]
        assert isinstance(value, expected) and not (
            opt.type in ("int", "float") and isinstance(value, bool)), (opt.name, value)
        if opt.type == "float":
            assert math.isfinite(value)
        if opt.choices:
            assert value in opt.choices
        if opt.min is not None and opt.type in ("int", "float"):
            assert value >= opt.min


@FUZZ
@given(data=st.data())
def test_driver_construction(data: st.DataObject) -> None:
    """Building a driver (no set-up: nothing is created on disk) from fuzzed options."""
    cls = data.draw(st.sampled_from([FakeDriver, FileDriver]))
    options = data.draw(_options_for(tuple(cls.options)))
    options = {k: v for k, v in options.items() if isinstance(k, str)}
    try:
        cls(**options)
    except exc.VolumelibError:
        pass


@pytest.fixture(scope="module")
def sqlite_dir() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="volumelib-fuzz-") as d:
        yield d


SAFE_NAME = st.text(alphabet=string.ascii_letters + string.digits + "_-.", min_size=1,
                    max_size=12).filter(lambda n: n not in (".", ".."))


def _urls(directory: str) -> st.SearchStrategy[Any]:
    """Database URLs that cannot reach the network: SQLite ones, in ``directory`` only
    (or in a missing sub-directory), and garbage with no host in it."""
    sqlite = st.builds(lambda n, q: f"sqlite:///{directory}/{n}{q}", SAFE_NAME,
                       st.sampled_from(["", "?mode=ro", "?timeout=x", "?junk=1"]))
    missing = st.builds(lambda n: f"sqlite:///{directory}/missing/{n}", SAFE_NAME)
    garbage = st.text(alphabet=string.ascii_letters + ":/?=@[]%", max_size=20).filter(
        lambda t: "://" not in t)
    return (sqlite | missing | garbage | st.sampled_from(["sqlite://", "sqlite:///:memory:"])
            | SCALARS.filter(lambda v: not (isinstance(v, str) and "://" in v)))


@FUZZ
@given(data=st.data())
def test_persistence_setup(sqlite_dir: str, data: st.DataObject) -> None:
    storage = data.draw(st.sampled_from(["memory", "dbms", "db", "memory_dbms",
                                         "memory_db"]) | st.text(max_size=8) | SCALARS)
    config: Any = {"storage": storage}
    if data.draw(st.booleans()):
        config["connection"] = data.draw(_urls(sqlite_dir))
    extra = data.draw(st.dictionaries(
        st.sampled_from(["sqlite_synchronous", "soft_deletes", "auto_upgrade", "junk",
                         "pool_size", "echo"]), _option_values(), max_size=2))
    config.update(extra)
    if data.draw(st.integers(0, 9)) == 0:
        config = data.draw(JSONISH)
    try:
        store = volumelib.persistence.setup(config)
    except exc.VolumelibError:
        return
    try:
        assert store.get_volumes() == []
    finally:
        store.close()


@FUZZ
@given(text=st.text(max_size=60)
       | st.builds(lambda scheme, rest: scheme + rest,
                   st.sampled_from(["postgresql://", "mysql://", "mariadb://", "sqlite://",
                                    "postgresql+psycopg://", "mysql+pymysql://", "x://",
                                    "postgresql://u:pw@"]),
                   st.text(max_size=40)))
def test_parse_url_and_engine(text: str) -> None:
    """URL parsing and engine building (lazy: no connection) never raise anything but
    ``VolumelibError``. An engine is built only for URLs without a network host."""
    from volumelib.persistence.dbms.engine import create_engine, parse_url, redact_url
    try:
        url = parse_url(text)
    except exc.VolumelibError:
        return
    assert isinstance(redact_url(url), str)
    if url.get_backend_name() != "sqlite" or (url.database or "").startswith("/"):
        return  # servers: not contacted here; absolute SQLite paths: could be anywhere
    assume(url.host in (None, ""))
    try:
        engine = create_engine(url)
    except exc.VolumelibError:
        return
    engine.dispose()


@FUZZ
@given(value=JSONISH)
def test_validation_functions(value: Any) -> None:
    from volumelib import validation
    for check in (validation.check_size, validation.check_name, validation.check_id,
                  validation.check_description, validation.check_metadata):
        try:
            check(value)
        except exc.InvalidArgument:
            pass

