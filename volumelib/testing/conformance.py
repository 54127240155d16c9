"""``volumelib-conformance``: the vendor conformance kit.

Runs the shipped driver suite (:mod:`volumelib.testing.drivers`) against every
backend of a configuration file, once per persistence store the file names, by
calling pytest in this process, then writes a human summary and a JUnit XML file
listing, per backend and store, each capability the driver declares and whether its
tests passed::

    volumelib-conformance --config vendor.yaml [--junit-xml F] [--report F]
                          [--backend NAME]... [-k EXPR] [-x]

The configuration is the CLI's (``docs/cli.md``) plus an optional ``persistence``
list; without it, ``persistence_config`` or else the memory store is used::

    persistence:
      - memory
      - {storage: db, connection: "sqlite:////tmp/conformance.sqlite"}
    backends:
      - volume_backend_name: acme
        volume_driver: acme_volumelib.driver:AcmeDriver
        acme_san_ip: 192.0.2.10

The suite reaches a volume's bytes through a local attach (root and the
``local_attach`` capability), or through the driver's ``write(volume_id, offset,
data)`` / ``read(volume_id, offset, length)`` / ``size(volume_id)`` when it has them
(the fake driver). After each test it checks that the storage holds nothing no record
knows of, through the driver's ``gc(is_known, dry_run=True)``.

A Cinder driver is given by its class path, as in Cinder's configuration
(``volume_driver: cinder.volume.drivers.rbd.RBDDriver`` plus its options); it runs
through :mod:`volumelib.drivers.cinder` (extra ``volumelib[cinder]``).

Exit codes: 0 every test passed or was not applicable; 1 a test failed, erred or was
skipped for another reason than "not applicable" (the suite could not check
something the driver declares); 2 bad usage or configuration.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TextIO

import pytest

import volumelib
from volumelib import __version__
from volumelib import exceptions as exc
from volumelib.cli import config as cli_config
from volumelib.cli.config import backend_kwargs
from volumelib.drivers.types import Capability
from volumelib.testing import NOT_APPLICABLE_PREFIX
from volumelib.testing import drivers as suite

__all__ = ["main", "run", "Target", "CAPABILITY_TESTS", "CORE_AREAS", "KitFixtures"]

#: Suite classes that every driver must pass, whatever it declares.
CORE_AREAS: dict[str, str] = {
    "VolumeTests": "volumes",
    "BadInputTests": "bad input",
    "SnapshotTests": "snapshots",
    "SizeTests": "sizes",
    "ConnectionTests": "connections",
    "StatsTests": "stats and health",
    "GcTests": "gc",
    "SerializationTests": "serialization",
    "GroupTests": "groups",
}
#: Which tests check a declared capability (``Class`` or ``Class.test``); the tests
#: call ``require_capabilities`` for it, so they are "not applicable" without it.
CAPABILITY_TESTS: dict[Capability, tuple[str, ...]] = {
    Capability.CLONE: ("CloneTests", "SizeTests.test_clone_larger_has_the_size_asked"),
    Capability.REVERT_TO_SNAPSHOT: ("RevertTests",),
    Capability.LOCAL_ATTACH: ("LocalAttachTests",),
    Capability.ONLINE_EXTEND: ("LocalAttachTests.test_extend_while_attached",),
    Capability.CONSISTENT_GROUP_SNAPSHOT: (
        "GroupTests.test_group_lifecycle",
        "GroupTests.test_group_snapshot_is_point_in_time_and_sources_line_up"),
    Capability.THIN: (),
    Capability.REFLINK: (),
    Capability.COW_SNAPSHOT: (),
    Capability.MULTIATTACH: (),
}

_TARGETS = pytest.StashKey[dict[str, "Target"]]()


# -- what to run ------------------------------------------------------------------------

@dataclasses.dataclass
class Target:
    """One backend on one persistence store."""

    # backend and store stay out of repr: driver options and database URLs may hold
    # passwords; id and store_label name the target.
    id: str
    backend: dict[str, Any] = dataclasses.field(repr=False)
    store_label: str
    store: Any = dataclasses.field(repr=False)
    capabilities: list[str] = dataclasses.field(default_factory=list)
    setup_error: str | None = None


def _store_label(store: Any) -> str:
    if isinstance(store, str):
        return store
    name = str(store.get("storage", "memory"))
    url = str(store.get("connection", ""))
    if url:
        dialect = url.split(":", 1)[0].split("+", 1)[0]
        return f"{name}-{dialect}"
    return name


def _stores(raw: Mapping[str, Any], persistence_config: Any) -> list[Any]:
    stores = raw.get("persistence")
    if stores is None:
        return [persistence_config or "memory"]
    if not isinstance(stores, list) or not stores:
        raise exc.InvalidConfig(reason="persistence must be a non-empty list of stores "
                                       "(memory, or {storage: db, connection: URL})")
    for store in stores:
        if not isinstance(store, (str, Mapping)):
            raise exc.InvalidConfig(reason=f"a persistence entry must be a name or a "
                                           f"mapping, not {store!r:.60}")
    return list(stores)


def targets_from_config(path: str, only: Sequence[str] = ()) -> list[Target]:
    """Every (backend, store) pair of the file at ``path``.

    Raises:
        InvalidConfig: a bad file, no backend, or ``only`` names a missing backend.
    """

    cfg = cli_config.load(path, environ={})
    if not cfg.backends:
        raise exc.InvalidConfig(reason=f"{path} defines no backends")
    missing = [n for n in only if n not in cfg.backend_names]
    if missing:
        raise exc.InvalidConfig(reason=f"no backend {', '.join(missing)} in {path} "
                                       f"(it has {', '.join(cfg.backend_names)})")
    stores = _stores(cfg.raw, cfg.persistence_config)
    labels = [_store_label(s) for s in stores]
    out = []
    for backend in cfg.backends:
        name = backend["volume_backend_name"]
        if only and name not in only:
            continue
        for i, (store, label) in enumerate(zip(stores, labels)):
            if labels.count(label) > 1:
                label = f"{label}{i + 1}"
            out.append(Target(id=f"{name}-{label}", backend=backend, store_label=label,
                              store=store))
    return out


def _persistence_config(store: Any) -> Any:
    return {"storage": store} if isinstance(store, str) else dict(store)


# -- the pytest side ------------------------------------------------------------------

def _cleanup(backend: Any) -> None:
    """Remove what a failed test left on the backend and in the store (best effort)."""
    store = backend.persistence
    for gs in store.get_group_snapshots():
        if gs.backend_name == backend.id:
            gs._bind(backend)
            _quietly(gs.delete)
    for group in store.get_groups(backend_name=backend.id):
        group._bind(backend)
        _quietly(lambda g=group: g.update(remove_volumes=[v.id for v in g.volumes]))
        _quietly(group.delete)
    for vol in store.get_volumes(backend_name=backend.id):
        vol._bind(backend)
        for conn in vol.connections:
            _quietly(lambda c=conn: c.detach(force=True))
            _quietly(lambda c=conn: c.disconnect(force=True))
        for snap in vol.snapshots:
            _quietly(snap.delete)
        if vol.status != "available":
            _quietly(lambda v=vol: (setattr(v, "status", "error"), v.save()))
        _quietly(vol.delete)
    for kind in ("snapshot", "volume"):  # records whose storage is already gone
        for obj in getattr(store, f"get_{kind}s")():
            if getattr(obj, "backend_name", None) == backend.id:
                _quietly(lambda o=obj, k=kind: getattr(store, f"delete_{k}")(o))


def _quietly(func: Any) -> None:
    try:
        func()
    except Exception:  # noqa: BLE001 - cleanup after a failed test must go on
        pass


class KitFixtures(suite.DriverFixtures):
    """The suite's fixtures for a (backend, store) target chosen by the kit."""

    @pytest.fixture
    def backend(self, request: pytest.FixtureRequest, volumelib_target: str) -> Iterator[Any]:
        target = request.config.stash[_TARGETS][volumelib_target]
        volumelib.setup(persistence_config=_persistence_config(target.store))
        backend = volumelib.Backend(**backend_kwargs(target.backend))
        _cleanup(backend)  # a store shared across runs starts clean for this backend
        try:
            yield backend
        finally:
            _cleanup(backend)
            backend.close()
            volumelib.setup()

    @staticmethod
    def _hooks(backend: Any) -> bool:
        drv = backend.driver
        return callable(getattr(drv, "write", None)) and callable(getattr(drv, "read", None))

    def write_data(self, backend: Any, volume: Any, offset: int, data: bytes) -> None:
        if self._hooks(backend):
            backend.driver.write(volume.id, offset, data)
        else:
            super().write_data(backend, volume, offset, data)

    def read_data(self, backend: Any, volume: Any, offset: int, length: int) -> bytes:
        if self._hooks(backend):
            return backend.driver.read(volume.id, offset, length)
        return super().read_data(backend, volume, offset, length)

    def data_size(self, backend: Any, volume: Any) -> int:
        if self._hooks(backend) and callable(getattr(backend.driver, "size", None)):
            return int(backend.driver.size(volume.id))
        return super().data_size(backend, volume)


class TestConformance(KitFixtures, suite.DriverSuite):
    """The whole driver suite, parametrized over the kit's targets."""


@dataclasses.dataclass
class Result:
    target: str
    suite_class: str
    test: str
    #: passed | failed | error | not applicable | skipped | not run (-x stopped first)
    outcome: str = "not run"
    message: str = ""
    details: str = ""
    seconds: float = 0.0


class _Plugin:
    """Parametrizes the suite over the targets and records every outcome."""

    def __init__(self, targets: list[Target]) -> None:
        self.targets = {t.id: t for t in targets}
        self.results: dict[str, Result] = {}

    def pytest_configure(self, config: pytest.Config) -> None:
        config.stash[_TARGETS] = self.targets

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "volumelib_target" in metafunc.fixturenames:
            metafunc.parametrize("volumelib_target", list(self.targets),
                                 ids=list(self.targets))

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        # Before -k deselects: let "-k CloneTests" select the suite class a test
        # comes from (the collected class is TestConformance).
        for item in items:
            item.extra_keyword_matches.add(self._origin(item))

    @staticmethod
    def _origin(item: pytest.Item) -> str:
        func = getattr(item, "function", None)
        return func.__qualname__.split(".")[0] if func else "?"

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        for item in session.items:
            params = dict(getattr(getattr(item, "callspec", None), "params", {}))
            target = params.pop("volumelib_target", "?")
            name = getattr(item, "originalname", item.name)
            if params:
                ids = item.callspec.id.split("-")  # type: ignore[attr-defined]
                extra = [i for i in ids if i not in target.split("-")] or list(map(str, params))
                name = f"{name}[{'-'.join(extra)}]"
            self.results[item.nodeid] = Result(target=target, suite_class=self._origin(item),
                                               test=name, outcome="not run")

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        result = self.results.get(report.nodeid)
        if result is None:
            return
        result.seconds += report.duration
        if report.when == "call" and report.passed:
            result.outcome = "passed"
        if report.skipped and result.outcome in ("passed", "not run"):
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else ""
            reason = reason.removeprefix("Skipped: ")
            na = reason.startswith(NOT_APPLICABLE_PREFIX)
            result.outcome = "not applicable" if na else "skipped"
            result.message = reason
        elif report.failed:
            result.outcome = "failed" if report.when == "call" else "error"
            crash = getattr(report.longrepr, "reprcrash", None)
            result.message = crash.message if crash else str(report.longrepr).splitlines()[-1]
            result.details = str(report.longrepr)


# -- capability summary ---------------------------------------------------------------------

def _applies(key: str, result: Result) -> bool:
    cls, _, test = key.partition(".")
    return result.suite_class == cls and (not test or result.test.split("[")[0] == test)


def _verdict(results: list[Result]) -> str:
    ran = [r for r in results if r.outcome != "not applicable"]
    if any(r.outcome in ("failed", "error") for r in ran):
        return "FAILED"
    if any(r.outcome in ("skipped", "not run") for r in ran):
        return "NOT RUN"
    if not ran:
        return "not exercised"
    return "passed"


def summarize(target: Target, results: list[Result]) -> list[dict[str, Any]]:
    """One row per core area and per declared capability: ``name``, ``kind``
    (``core``/``capability``), ``verdict`` and the counts."""
    rows = []
    for cls, area in CORE_AREAS.items():
        mine = [r for r in results if r.suite_class == cls]
        rows.append({"name": area, "kind": "core", "verdict": _verdict(mine),
                     "tests": len(mine), "note": "",
                     "failed": sum(r.outcome in ("failed", "error") for r in mine)})
    for cap in sorted(target.capabilities):
        keys = CAPABILITY_TESTS.get(Capability(cap), ()) if cap in Capability._value2member_map_ \
            else ()
        mine = [r for r in results if any(_applies(k, r) for k in keys)]
        verdict = _verdict(mine) if keys else "declared, no conformance test"
        note = next((r.message for r in mine if r.outcome == "not applicable"), "") \
            if verdict == "not exercised" else ""
        rows.append({"name": cap, "kind": "capability", "verdict": verdict,
                     "tests": len(mine), "note": note,
                     "failed": sum(r.outcome in ("failed", "error") for r in mine)})
    return rows


def _target_ok(target: Target, results: list[Result]) -> bool:
    return target.setup_error is None and bool(results) and all(
        r.outcome in ("passed", "not applicable") for r in results)


def _probe(target: Target) -> None:
    """Build the backend once to learn its capabilities (and fail early)."""
    try:
        volumelib.setup(persistence_config=_persistence_config(target.store))
        backend = volumelib.Backend(**backend_kwargs(target.backend))
        try:
            target.capabilities = sorted(str(c) for c in backend.capabilities)
        finally:
            backend.close()
    except Exception as e:  # noqa: BLE001 - reported per target
        target.setup_error = f"{type(e).__name__}: {' '.join(str(e).split())}"
    finally:
        volumelib.setup()


def render_report(targets: list[Target], results: list[Result], config_path: str) -> str:
    """The human summary."""
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")  # noqa: UP017
    lines = [f"volumelib conformance report (volumelib {__version__}, {now})",
             f"configuration: {config_path}", ""]
    all_ok = True
    for target in targets:
        mine = [r for r in results if r.target == target.id]
        ok = _target_ok(target, mine)
        all_ok &= ok
        driver = target.backend.get("volume_driver", "file")
        counts = {k: sum(r.outcome == k for r in mine)
                  for k in ("passed", "failed", "error", "not applicable", "skipped",
                            "not run")}
        if not counts["not run"]:
            del counts["not run"]
        lines.append(f"== {target.backend['volume_backend_name']} (driver {driver}) on "
                     f"{target.store_label}: {'PASSED' if ok else 'FAILED'}")
        if target.setup_error:
            lines += [f"   the backend could not be set up: {target.setup_error}", ""]
            continue
        lines.append("   " + ", ".join(f"{n} {k}" for k, n in counts.items()))
        lines.append(f"   declared capabilities: {', '.join(target.capabilities) or 'none'}")
        for row in summarize(target, mine):
            label = row["name"] if row["kind"] == "core" else f"capability {row['name']}"
            detail = f" ({row['note']})" if row["note"] else \
                f" ({row['tests']} tests)" if row["tests"] else ""
            lines.append(f"   {label:<42} {row['verdict']}{detail}")
        bad = [r for r in mine if r.outcome in ("failed", "error", "skipped", "not run")]
        if bad:
            lines.append("   problems:")
            for r in bad:
                lines.append(f"     {r.outcome}: {r.suite_class}::{r.test}: "
                             f"{' '.join(r.message.split())[:300]}")
        lines.append("")
    lines.append(f"overall: {'PASSED' if all_ok and targets else 'FAILED'}")
    return "\n".join(lines) + "\n"


def render_junit(targets: list[Target], results: list[Result]) -> bytes:
    """JUnit XML: a ``testsuite`` per target with its tests, plus one ``testcase`` per
    core area and declared capability (classname ``capabilities``) that fails when
    its tests failed, so CI pages show the capability table."""
    root = ET.Element("testsuites", name="volumelib-conformance")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for target in targets:
        mine = [r for r in results if r.target == target.id]
        suite_el = ET.SubElement(root, "testsuite", name=target.id)
        props = ET.SubElement(suite_el, "properties")
        for key, value in (("backend", target.backend["volume_backend_name"]),
                           ("volume_driver", str(target.backend.get("volume_driver", "file"))),
                           ("persistence", target.store_label),
                           ("capabilities", ",".join(target.capabilities))):
            ET.SubElement(props, "property", name=key, value=value)
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}

        def case(classname: str, name: str, outcome: str, message: str = "",
                 details: str = "", seconds: float = 0.0, parent: ET.Element = suite_el,
                 counts: dict[str, int] = counts) -> ET.Element:
            el = ET.SubElement(parent, "testcase", classname=classname, name=name,
                               time=f"{seconds:.3f}")
            counts["tests"] += 1
            if outcome in ("failed", "FAILED"):
                counts["failures"] += 1
                ET.SubElement(el, "failure", message=message[:500]).text = details or message
            elif outcome == "error":
                counts["errors"] += 1
                ET.SubElement(el, "error", message=message[:500]).text = details or message
            elif outcome in ("not applicable", "skipped", "not exercised", "NOT RUN", "not run",
                             "declared, no conformance test"):
                counts["skipped"] += 1
                ET.SubElement(el, "skipped", message=message or outcome)
            return el

        if target.setup_error:
            case("setup", "backend set-up", "error", target.setup_error)
        for r in mine:
            case(f"{target.id}.{r.suite_class}", r.test, r.outcome, r.message, r.details,
                 r.seconds)
        if not target.setup_error:
            for row in summarize(target, mine):
                kind = "core" if row["kind"] == "core" else "capability"
                case(f"{target.id}.capabilities", f"{kind}: {row['name']}", row["verdict"],
                     f"{row['failed']} of {row['tests']} tests failed"
                     if row["verdict"] == "FAILED" else row["verdict"])
        for key, value in counts.items():
            suite_el.set(key, str(value))
            totals[key] += value
    for key, value in totals.items():
        root.set(key, str(value))
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


# -- as a pytest plugin -------------------------------------------------------------------

def pytest_addoption(parser: pytest.Parser) -> None:
    """With ``-p volumelib.testing.conformance``: the kit's options in a plain pytest run
    (``pytest -p volumelib.testing.conformance --volumelib-config vendor.yaml
    --pyargs volumelib.testing.conformance``), which reports through pytest's own
    JUnit XML, without the capability summary."""
    group = parser.getgroup("volumelib", "volumelib driver conformance")
    group.addoption("--volumelib-config", metavar="FILE",
                    help="run the driver suite against the backends of this file")
    group.addoption("--volumelib-backend", action="append", default=[], metavar="NAME",
                    help="only this backend of --volumelib-config (repeatable)")


def pytest_configure(config: pytest.Config) -> None:
    path = config.getoption("--volumelib-config", None)
    if not path or config.pluginmanager.has_plugin("volumelib-conformance-targets"):
        return
    try:
        targets = targets_from_config(path, config.getoption("--volumelib-backend"))
    except exc.InvalidArgument as e:
        raise pytest.UsageError(str(e)) from None
    for target in targets:
        _probe(target)
    broken = [f"{t.id}: {t.setup_error}" for t in targets if t.setup_error]
    if broken:
        raise pytest.UsageError("backend(s) cannot be set up: " + "; ".join(broken))
    config.pluginmanager.register(_Plugin(targets), "volumelib-conformance-targets")


# -- running ------------------------------------------------------------------------------

def run(config_path: str, *, junit_xml: str | None = None, report: str | None = None,
        backends: Sequence[str] = (), keyword: str | None = None, exitfirst: bool = False,
        verbose: bool = False, out: TextIO | None = None) -> int:
    """Run the kit; returns the exit code (see the module docstring).

    Raises:
        InvalidConfig: the configuration is unusable.
    """
    out = out or sys.stdout
    targets = targets_from_config(config_path, backends)
    for target in targets:
        _probe(target)
    runnable = [t for t in targets if t.setup_error is None]
    plugin = _Plugin(runnable)  # registered under no name: pytest_configure above skips
    started = time.monotonic()
    if runnable:
        with tempfile.TemporaryDirectory(prefix="volumelib-conformance-") as work:
            ini = os.path.join(work, "pytest.ini")
            with open(ini, "w", encoding="utf-8") as f:
                f.write("[pytest]\n")
            args = ["-c", ini, "--rootdir", work, "-p", "no:cacheprovider",
                    "-o", "console_output_style=classic", "-q" if not verbose else "-v",
                    "--pyargs", "volumelib.testing.conformance"]
            if keyword:
                args += ["-k", keyword]
            if exitfirst:
                args.append("-x")
            code = pytest.main(args, plugins=[plugin])
            if code not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED,
                            pytest.ExitCode.INTERRUPTED, pytest.ExitCode.NO_TESTS_COLLECTED):
                out.write(f"volumelib-conformance: pytest stopped with {code!r}\n")
                return 1
    order = [c.__name__ for c in suite.DriverSuite.__bases__]
    results = sorted(plugin.results.values(), key=lambda r: (
        order.index(r.suite_class) if r.suite_class in order else len(order)))
    text = render_report(targets, results, config_path)
    text += f"({time.monotonic() - started:.1f} s)\n"
    out.write("\n" + text)
    if report:
        with open(report, "w", encoding="utf-8") as f:
            f.write(text)
    if junit_xml:
        with open(junit_xml, "wb") as f:
            f.write(render_junit(targets, results))
    ok = bool(targets) and all(_target_ok(t, [r for r in results if r.target == t.id])
                               for t in targets)
    return 0 if ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    """The ``volumelib-conformance`` console script."""

    parser = argparse.ArgumentParser(
        prog="volumelib-conformance",
        description="Run volumelib's driver conformance suite against every backend of a "
                    "configuration file, once per persistence store it names.")
    parser.add_argument("--config", required=True, metavar="FILE",
                        help="YAML (or ini) with backends and persistence")
    parser.add_argument("--junit-xml", metavar="FILE", help="write a JUnit XML report")
    parser.add_argument("--report", metavar="FILE", help="write the human summary here too")
    parser.add_argument("--backend", action="append", default=[], metavar="NAME",
                        help="only this backend (repeatable)")
    parser.add_argument("-k", dest="keyword", metavar="EXPR",
                        help="only tests matching this pytest -k expression")
    parser.add_argument("-x", "--exitfirst", action="store_true", help="stop at the first "
                                                                        "failure")
    parser.add_argument("-v", "--verbose", action="store_true", help="list every test")
    args = parser.parse_args(argv)
    try:
        return run(args.config, junit_xml=args.junit_xml, report=args.report,
                   backends=args.backend, keyword=args.keyword, exitfirst=args.exitfirst,
                   verbose=args.verbose)
    except exc.InvalidArgument as e:
        print(f"volumelib-conformance: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    # Run the module as imported by its name, so that pytest (which imports it by name
    # to collect TestConformance) and the plugin share the same StashKey.
    from volumelib.testing import conformance as _kit
    sys.exit(_kit.main())
