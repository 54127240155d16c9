"""``volumelib image-cache``, run as a user would: in subprocesses."""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys

import pytest

from volumelib.cli.arguments import parse_size
from volumelib.cli.formatting import ProgressBar
from volumelib.testing.image_cache import image_server

CLI = [sys.executable, "-m", "volumelib.cli.main", "image-cache"]
MiB = 1024 ** 2


def cli(*args: str, cache_dir: str, driver: str = "sqlite") -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args, "--cache-dir", cache_dir, "--driver", driver],
                          capture_output=True, text=True, timeout=120, check=False)


def as_json(proc: subprocess.CompletedProcess) -> dict | list:
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads(proc.stdout)


def by_state(rows: list[dict], state: str) -> list[str]:
    return [r["image_id"] for r in rows if r["state"] == state]


@pytest.mark.parametrize("driver", ["sqlite", "xattr"])
def test_queue_prefetch_list_prune_clean_delete(tmp_path, driver):
    www = tmp_path / "www"
    www.mkdir()
    for name in ("a", "b", "c"):
        (www / f"{name}.img").write_bytes(name.encode() * MiB)
    cache = str(tmp_path / "cache")
    with image_server(str(www)) as server:
        for name in ("a", "b", "c"):
            out = as_json(cli("queue", server.url(f"{name}.img"), "--id", name, "-f", "json",
                              cache_dir=cache, driver=driver))
            assert out == {"image_id": name, "queued": True}
        cli("queue", server.url("missing.img"), "--id", "missing", cache_dir=cache,
            driver=driver)
        queued = as_json(cli("list", "--queued", "-f", "json", cache_dir=cache,
                             driver=driver))
        assert by_state(queued, "queued") == ["a", "b", "c", "missing"]
        assert by_state(queued, "cached") == []
        proc = cli("prefetch", "-f", "json", cache_dir=cache, driver=driver)
        assert proc.returncode == 1  # "missing" failed and stays queued
        results = {r["image_id"]: r for r in json.loads(proc.stdout)}
        assert results["a"]["result"] == "cached" and results["missing"]["result"] == "failed"
        assert "404" in results["missing"]["reason"]
        assert "download" in proc.stderr  # the progress bar
    listed = as_json(cli("list", "-f", "json", cache_dir=cache, driver=driver))
    assert by_state(listed, "cached") == ["a", "b", "c"]
    assert by_state(listed, "queued") == ["missing"]
    assert sum(r["size"] for r in listed if r["state"] == "cached") == 3 * MiB
    text = cli("list", cache_dir=cache, driver=driver).stdout
    assert "| a " in text and "a.img" in text and "cached" in text
    pruned = as_json(cli("prune", "--max-size", "2M", "-f", "json", cache_dir=cache,
                         driver=driver))
    assert pruned == {"bytes": MiB, "files": 1}  # "a", the least recently used
    assert as_json(cli("clean", "-f", "json", cache_dir=cache, driver=driver)) == {
        "removed": 0}
    assert as_json(cli("delete", "--all", "--queued", "-f", "json", cache_dir=cache,
                       driver=driver)) == {"deleted": 1}
    assert as_json(cli("delete", "c", "a", "-f", "json", cache_dir=cache,
                       driver=driver)) == {"deleted": 1}
    assert as_json(cli("delete", "--all", "-f", "json", cache_dir=cache, driver=driver)) == {
        "deleted": 1}
    assert as_json(cli("list", "-f", "json", cache_dir=cache, driver=driver)) == []


def test_errors_and_usage(tmp_path):
    proc = subprocess.run([*CLI, "list"], capture_output=True, text=True, timeout=60, check=False,
                          env={k: v for k, v in os.environ.items()
                               if k != "VOLUMELIB_IMAGE_CACHE_DIR"})
    # Exit 2: bad usage (a missing setting or a bad value); every error is one line.
    assert proc.returncode == 2 and "--cache-dir" in proc.stderr
    assert proc.stderr.count("\n") == 1
    proc = cli("prune", cache_dir=str(tmp_path))
    assert proc.returncode == 2 and "--max-size" in proc.stderr
    proc = cli("delete", cache_dir=str(tmp_path))
    assert proc.returncode == 2 and "image ids or --all" in proc.stderr
    proc = cli("queue", "ftp://host/x", cache_dir=str(tmp_path))
    assert proc.returncode in (1, 2) and "http" in proc.stderr
    assert proc.stderr.count("\n") == 1
    proc = cli("prune", "--max-size", "lots", cache_dir=str(tmp_path))
    assert proc.returncode == 2 and "lots" in proc.stderr and proc.stderr.count("\n") == 1


def test_parse_size():
    assert parse_size("20G") == 20 * 1024 ** 3 and parse_size("512MiB") == 512 * MiB
    assert parse_size("100") == 100
    for bad in ("", "0", "1X", "-5M"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_size(bad)


def test_progress_bar_lines_when_not_a_terminal():
    out = io.StringIO()
    bar = ProgressBar(out, width=10)
    for done in range(101):
        bar("download", done * MiB, 100 * MiB)
    for pct in (0.0, 33.0, 66.0, 100.0):
        bar("convert", pct, 100)
    lines = out.getvalue().splitlines()
    assert len([ln for ln in lines if ln.startswith("download")]) == 11  # one per 10 %
    assert lines[-1] == "convert   [##########] 100%"
    assert "100.0 MiB / 100.0 MiB" in lines[10]
