"""``volumelib-conformance``, run as a vendor's CI runs it: in a subprocess, against
the fake driver (memory and a SQLite file), the file driver on a real XFS, and a
deliberately broken driver that must be reported as failing."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET

import pytest

from tests.helpers import requires_root

pytest_plugins = ["tests.functional.ceph_fixtures"]

KIT = [sys.executable, "-m", "volumelib.testing.conformance"]


def kit(*args: str, pythonpath: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (pythonpath, env.get("PYTHONPATH"))
                                            if p)
    return subprocess.run([*KIT, *args], capture_output=True, text=True, timeout=1800,
                          env=env, check=False)


def verdicts(report: str, target_header: str) -> dict[str, str]:
    """``{"volumes": "passed", "capability clone": "FAILED", ...}`` of one target."""
    lines = report.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith(target_header))
    out = {}
    for line in lines[start + 1:]:
        if line.startswith("==") or not line.strip() or line.strip() == "problems:":
            break
        name, _, rest = line.strip().partition("  ")
        if rest:
            out[name] = rest.strip().split(" (")[0]
    return out


def junit_cases(path: str) -> dict[tuple[str, str, str], str]:
    """``{(suite, classname, name): outcome}`` with outcome passed/failure/error/skipped."""
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    out = {}
    for suite in root.findall("testsuite"):
        for case in suite.findall("testcase"):
            child = next(iter(case), None)
            out[(suite.get("name"), case.get("classname"), case.get("name"))] = \
                child.tag if child is not None else "passed"
    return out


def write(path, text: str) -> str:
    path.write_text(textwrap.dedent(text))
    return str(path)


def test_fake_driver_on_memory_and_sqlite(tmp_path):
    db = tmp_path / "kit.sqlite"
    config = write(tmp_path / "vendor.yaml", f"""\
        persistence:
          - memory
          - {{storage: db, connection: "sqlite:///{db}"}}
        backends:
          - volume_backend_name: fake-conf
            volume_driver: fake
        """)
    junit, report = str(tmp_path / "junit.xml"), str(tmp_path / "report.txt")
    proc = kit("--config", config, "--junit-xml", junit, "--report", report)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    text = open(report).read()
    assert "== fake-conf (driver fake) on memory: PASSED" in text
    assert "== fake-conf (driver fake) on db-sqlite: PASSED" in text
    assert text.rstrip().splitlines()[-2] == "overall: PASSED"
    for header in ("== fake-conf (driver fake) on memory",
                   "== fake-conf (driver fake) on db-sqlite"):
        got = verdicts(text, header)
        for area in ("volumes", "bad input", "snapshots", "connections", "stats and health",
                     "gc", "serialization", "groups"):
            assert got[area] == "passed", (header, area, got)
        for cap in ("clone", "revert_to_snapshot", "consistent_group_snapshot"):
            assert got[f"capability {cap}"] == "passed", (header, cap)
        # Declared, but its test needs a local attach, which the fake driver lacks.
        assert got["capability online_extend"] == "not exercised"
        assert got["capability thin"] == "declared, no conformance test"
        assert "capability local_attach" not in got  # not declared: not listed
    assert "overall: PASSED" in proc.stdout  # the summary is printed too

    cases = junit_cases(junit)
    suites = {s for s, _, _ in cases}
    assert suites == {"fake-conf-memory", "fake-conf-db-sqlite"}
    for suite in suites:
        assert cases[(suite, f"{suite}.VolumeTests", "test_extend")] == "passed"
        assert cases[(suite, f"{suite}.capabilities", "capability: clone")] == "passed"
        assert cases[(suite, f"{suite}.LocalAttachTests", "test_attach_detach")] == "skipped"
        assert cases[(suite, f"{suite}.BadInputTests", "test_bad_size[0]")] == "passed"
    assert not [c for c, outcome in cases.items() if outcome in ("failure", "error")]
    root = ET.parse(junit).getroot()
    props = {p.get("name"): p.get("value")
             for p in root.find("testsuite").find("properties")}
    assert props["volume_driver"] == "fake" and "clone" in props["capabilities"].split(",")

    # The SQLite store the kit used is left without this backend's records.
    import volumelib.persistence
    store = volumelib.persistence.setup({"storage": "db", "connection": f"sqlite:///{db}"})
    assert store.get_volumes(backend_name="fake-conf") == []
    assert store.get_snapshots() == []


def test_file_driver_on_xfs(xfs_dir, tmp_path):
    requires_root()
    config = write(tmp_path / "vendor.yaml", f"""\
        persistence:
          - {{storage: db, connection: "sqlite:///{tmp_path / 'kit.sqlite'}"}}
        backends:
          - volume_backend_name: file-xfs
            volume_driver: file
            file_root: {xfs_dir}/root
        """)
    junit, report = str(tmp_path / "junit.xml"), str(tmp_path / "report.txt")
    proc = kit("--config", config, "--junit-xml", junit, "--report", report)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    text = open(report).read()
    got = verdicts(text, "== file-xfs (driver file) on db-sqlite: PASSED")
    for cap in ("clone", "local_attach", "online_extend", "revert_to_snapshot"):
        assert got[f"capability {cap}"] == "passed", (cap, got)
    assert got["capability reflink"] == "declared, no conformance test"
    assert got["snapshots"] == "passed" and got["groups"] == "passed"
    cases = junit_cases(junit)
    assert cases[("file-xfs-db-sqlite", "file-xfs-db-sqlite.LocalAttachTests",
                  "test_extend_while_attached")] == "passed"
    assert os.listdir(os.path.join(xfs_dir, "root", "volumes")) == []


def test_rbd_driver_on_a_ceph_cluster(rbd_backend_config, tmp_path):
    import yaml
    backend = {"volume_backend_name": "rbd-kit", **rbd_backend_config}
    config = tmp_path / "vendor.yaml"
    config.write_text(yaml.safe_dump({
        "persistence": ["memory", {"storage": "db",
                                   "connection": f"sqlite:///{tmp_path / 'kit.sqlite'}"}],
        "backends": [backend]}))
    junit, report = str(tmp_path / "junit.xml"), str(tmp_path / "report.txt")
    proc = kit("--config", str(config), "--junit-xml", junit, "--report", report)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    text = open(report).read()
    for store in ("memory", "db-sqlite"):
        got = verdicts(text, f"== rbd-kit (driver rbd) on {store}: PASSED")
        for cap in ("clone", "revert_to_snapshot", "consistent_group_snapshot",
                    "local_attach", "online_extend"):
            assert got[f"capability {cap}"] == "passed", (store, cap, got)
        assert got["groups"] == "passed" and got["snapshots"] == "passed"
    cases = junit_cases(junit)
    assert cases[("rbd-kit-memory", "rbd-kit-memory.LocalAttachTests",
                  "test_attach_detach")] == "passed"


BROKEN_DRIVER = """\
    '''A fake driver whose copies lose data: clones and volumes from snapshots get
    their first 8 MiB overwritten. The kit must report it as failing.'''
    from volumelib.drivers.fake import FakeDriver

    MiB = 1024 ** 2


    class CorruptingDriver(FakeDriver):
        name = "corrupting"

        def _corrupt(self, volume_id):
            self.write(volume_id, 0, b"\\xde\\xad" * (4 * MiB))

        def create_cloned_volume(self, volume, src_vref):
            update = super().create_cloned_volume(volume, src_vref)
            self._corrupt(volume.id)
            return update

        def create_volume_from_snapshot(self, volume, snapshot):
            update = super().create_volume_from_snapshot(volume, snapshot)
            self._corrupt(volume.id)
            return update
    """


def test_broken_driver_is_reported_failing(tmp_path):
    write(tmp_path / "broken_driver.py", BROKEN_DRIVER)
    config = write(tmp_path / "vendor.yaml", """\
        persistence: [memory]
        backends:
          - volume_backend_name: broken
            volume_driver: broken_driver.CorruptingDriver
          - volume_backend_name: good
            volume_driver: fake
        """)
    junit, report = str(tmp_path / "junit.xml"), str(tmp_path / "report.txt")
    proc = kit("--config", config, "--junit-xml", junit, "--report", report,
               pythonpath=str(tmp_path))
    assert proc.returncode == 1, proc.stdout[-4000:] + proc.stderr[-2000:]
    text = open(report).read()
    assert "== broken (driver broken_driver.CorruptingDriver) on memory: FAILED" in text
    assert "== good (driver fake) on memory: PASSED" in text
    assert text.rstrip().splitlines()[-2] == "overall: FAILED"
    got = verdicts(text, "== broken ")
    assert got["capability clone"] == "FAILED"
    assert got["snapshots"] == "FAILED"
    assert got["volumes"] == "passed" and got["bad input"] == "passed"
    assert "failed: CloneTests::test_clone_keeps_data" in text
    cases = junit_cases(junit)
    assert cases[("broken-memory", "broken-memory.CloneTests",
                  "test_clone_keeps_data")] == "failure"
    assert cases[("broken-memory", "broken-memory.capabilities", "capability: clone")] == \
        "failure"
    assert cases[("good-memory", "good-memory.capabilities", "capability: clone")] == "passed"
    root = ET.parse(junit).getroot()
    assert int(root.get("failures")) >= 3
    assert {s.get("name"): int(s.get("failures")) for s in root}["good-memory"] == 0


def test_only_one_backend_and_a_keyword(tmp_path):
    config = write(tmp_path / "vendor.yaml", """\
        backends:
          - {volume_backend_name: one, volume_driver: fake}
          - {volume_backend_name: two, volume_driver: fake}
        """)
    junit = str(tmp_path / "junit.xml")
    proc = kit("--config", config, "--backend", "two", "-k", "VolumeTests",
               "--junit-xml", junit)
    assert proc.returncode == 0, proc.stdout[-3000:]
    cases = junit_cases(junit)
    assert {s for s, _, _ in cases} == {"two-memory"}
    ran = {c for _, c, _ in cases if not c.endswith(".capabilities")}
    assert ran == {"two-memory.VolumeTests"}


def test_as_a_pytest_plugin(tmp_path):
    config = write(tmp_path / "vendor.yaml", """\
        backends:
          - {volume_backend_name: plug, volume_driver: fake}
        """)
    junit = tmp_path / "pytest.xml"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "volumelib.testing.conformance",
         "--volumelib-config", config, "--pyargs", "volumelib.testing.conformance",
         "-k", "VolumeTests or CloneTests", f"--junit-xml={junit}", "-p", "no:cacheprovider",
         "-q"], cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "8 passed" in proc.stdout
    names = {c.get("name") for c in ET.parse(junit).getroot().iter("testcase")}
    assert "test_clone_keeps_data[plug-memory]" in names and len(names) == 8
    bad = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "volumelib.testing.conformance",
         "--volumelib-config", str(tmp_path / "missing.yaml"), "--pyargs",
         "volumelib.testing.conformance", "-p", "no:cacheprovider"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False)
    assert bad.returncode == 4 and "does not exist" in bad.stderr  # pytest's usage error


@pytest.mark.parametrize("content, needle", [
    (None, "does not exist"),
    ("backends: [\n", "not valid YAML"),
    ("persistence: [memory]\n", "defines no backends"),
    ("backends:\n  - volume_driver: fake\n", "volume_backend_name"),
    ("persistence: []\nbackends:\n  - {volume_backend_name: x, volume_driver: fake}\n",
     "non-empty list"),
])
def test_bad_configuration_is_one_line_and_exit_2(tmp_path, content, needle):
    path = tmp_path / "vendor.yaml"
    if content is not None:
        path.write_text(content)
    junit = tmp_path / "junit.xml"
    proc = kit("--config", str(path), "--junit-xml", str(junit))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert needle in proc.stderr and proc.stderr.count("\n") == 1
    assert not junit.exists()


def test_a_backend_that_cannot_be_set_up_fails_the_run(tmp_path):
    config = write(tmp_path / "vendor.yaml", """\
        backends:
          - {volume_backend_name: typo, volume_driver: fake, fake_capacity_gb: lots}
          - {volume_backend_name: ok, volume_driver: fake}
        """)
    report = str(tmp_path / "report.txt")
    proc = kit("--config", config, "--report", report, "-k", "StatsTests")
    assert proc.returncode == 1
    text = open(report).read()
    assert "== typo (driver fake) on memory: FAILED" in text
    assert "could not be set up" in text and "lots" in text
    assert "== ok (driver fake) on memory: PASSED" in text
