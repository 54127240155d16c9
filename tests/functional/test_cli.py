"""The volumelib command, run as a user would: in subprocesses."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import volumelib

VOLUMELIB = [sys.executable, "-m", "volumelib.cli.main"]


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k != "VOLUMELIB_DB_URL"}
    full_env.update(env or {})
    return subprocess.run([*VOLUMELIB, *args], capture_output=True, text=True, timeout=300,
                          env=full_env)


def test_version():
    proc = run("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"volumelib {volumelib.__version__}"


def test_demo_json_passes_every_step(tmp_path):
    proc = run("demo", "-f", "json", "--workdir", str(tmp_path / "demo"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    assert result["ok"] is True
    titles = [s["title"] for s in result["steps"]]
    assert "verify the clone's bytes" in titles and "check nothing is left" in titles
    if os.geteuid() == 0 and shutil.which("losetup"):
        assert "attach again and read the device size" in titles
    assert os.listdir(tmp_path / "demo" / "volumes" / "volumes") == []


def test_db_upgrade_current_downgrade(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    before = json.loads(run("db", "current", "--url", url, "-f", "json").stdout)
    assert before["revision"] is None and before["up_to_date"] is False
    up = run("db", "upgrade", "--url", url, "-f", "json")
    assert up.returncode == 0, up.stderr
    head = json.loads(up.stdout)["revision"]
    now = json.loads(run("db", "current", "--url", url, "-f", "json").stdout)
    assert now == {"revision": head, "head": head, "up_to_date": True}
    refused = run("db", "downgrade", "base", "--url", url)
    assert refused.returncode == 2 and "--yes" in refused.stderr  # bad usage
    assert json.loads(run("db", "current", "--url", url, "-f", "json").stdout)["revision"] == head
    down = run("db", "downgrade", "base", "--yes", "--url", url, "-f", "json")
    assert down.returncode == 0 and json.loads(down.stdout)["revision"] is None


def test_db_pre_cliff_argument_order_still_works(tmp_path):
    """``volumelib db --url URL [-f json] ACTION``, as docs/persistence.md shows it."""
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    assert run("db", "--url", url, "upgrade").returncode == 0
    now = json.loads(run("db", "--url", url, "-f", "json", "current").stdout)
    assert now["up_to_date"] is True


def test_db_url_from_config_file(tmp_path):
    db = tmp_path / "from-config.sqlite"
    config = tmp_path / "vl.yaml"
    config.write_text(f"persistence_config:\n  storage: db\n  connection: sqlite:///{db}\n")
    proc = run("--config", str(config), "db", "upgrade", "-f", "value", "-c", "revision")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() and db.exists()


def test_db_url_from_environment(tmp_path):
    url = f"sqlite:///{tmp_path / 'env.sqlite'}"
    proc = run("db", "upgrade", env={"VOLUMELIB_DB_URL": url})
    assert proc.returncode == 0, proc.stderr
    assert "| revision |" in proc.stdout  # cliff's table, the default output


def test_errors_are_one_line_without_secrets():
    proc = run("db", "current", "--url", "nosuch://admin:hunter2@db/x")
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "hunter2" not in proc.stderr and "nosuch" in proc.stderr
    proc = run("db", "current")
    assert proc.returncode == 2 and "VOLUMELIB_DB_URL" in proc.stderr  # missing config
    assert proc.stderr.count("\n") == 1
    proc = run("no-such-command")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "no-such-command" in proc.stderr


def test_debug_shows_the_traceback():
    proc = run("--debug", "db", "current", "--url", "nosuch://x")
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr and proc.stderr.rstrip().splitlines()[-1].startswith(
        "volumelib: error: ")
