"""Shared by the ``test_cli_*`` modules (no tests here): run ``volumelib`` in a
subprocess against a config with a SQLite file and the file driver on a real
filesystem, and take a snapshot of everything the CLI could change."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest

from volumelib.testing.loopfs import detach_loop_devices_under

VOLUMELIB = [sys.executable, "-m", "volumelib.cli.main"]
#: Variables of the caller's environment that would change what the CLI reads.
_CLEAN = ("VOLUMELIB_CONFIG", "VOLUMELIB_DB_URL", "VOLUMELIB_BACKEND",
          "VOLUMELIB_IMAGE_CACHE_DIR")


def run_cli(*args: str, env: dict[str, str] | None = None,
            timeout: int = 300) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k not in _CLEAN}
    full_env.update(env or {})
    return subprocess.run([*VOLUMELIB, *args], capture_output=True, text=True,
                          timeout=timeout, env=full_env, check=False)


@dataclasses.dataclass
class CliEnv:
    """A config file (SQLite + one file backend), and helpers to run commands on it."""

    directory: str
    config: str
    db: str
    file_root: str

    def run(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return run_cli("--config", self.config, *args, env=env)

    def ok(self, *args: str) -> str:
        """Run; assert exit 0 and a quiet stderr; return stdout."""
        proc = self.run(*args)
        assert proc.returncode == 0, (args, proc.returncode, proc.stderr)
        return proc.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "-f", "json"))

    def state(self) -> dict[str, Any]:
        """Everything a command could change: every record (read from the SQLite file
        with a store of its own) and the storage files."""
        import volumelib.persistence
        store = volumelib.persistence.setup({"storage": "db",
                                             "connection": f"sqlite:///{self.db}"})
        try:
            records = {kind: sorted(json.dumps(o.json, sort_keys=True, default=str)
                                    for o in getattr(store, f"get_{kind}")())
                       for kind in ("volumes", "snapshots", "connections", "groups",
                                    "group_snapshots")}
        finally:
            store.close()
        volumes_dir = os.path.join(self.file_root, "volumes")
        records["files"] = sorted(os.listdir(volumes_dir)) if os.path.isdir(volumes_dir) \
            else []
        return records


def write_config(path: str, db: str, backends: list[dict[str, Any]]) -> str:
    lines = ["persistence_config:", "  storage: db", f"  connection: sqlite:///{db}",
             "backends:"]
    for backend in backends:
        first = True
        for key, value in backend.items():
            lines.append(f"  {'- ' if first else '  '}{key}: {value}")
            first = False
    with open(path, "w", encoding="utf-8") as f:
        f.write(textwrap.dedent("\n".join(lines)) + "\n")
    return path


def make_env(directory: str, tmp_path: Any) -> Iterator[CliEnv]:
    db = str(tmp_path / "cli.sqlite")
    root = os.path.join(directory, "root")
    config = write_config(str(tmp_path / "volumelib.yaml"), db, [
        {"volume_backend_name": "local", "volume_driver": "file", "file_root": root}])
    env = CliEnv(directory=directory, config=config, db=db, file_root=root)
    try:
        yield env
    finally:
        # A failed test must not leave loop devices behind (xfs_dir also checks).
        if os.geteuid() == 0:
            detach_loop_devices_under(directory)


@pytest.fixture
def cli_env(xfs_dir: str, tmp_path: Any) -> Iterator[CliEnv]:
    """The CLI on a SQLite file and the file driver on the reflink XFS."""
    yield from make_env(xfs_dir, tmp_path)


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    """Assert the failure was reported as one line, no traceback; return it."""
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("volumelib: error: "), lines[0]
    return lines[0]
