"""cinderlib 5.2.0's own functional suite passes on volumelib's compat layer.

The 17 tests of ``cinderlib/tests/functional/test_basic.py`` from cinderlib's wheel
(``list_supported_drivers`` in its three forms, stats, create/delete, snapshots,
attach/detach with real loop devices, I/O with ``dd``, extend, clone, volume from
snapshot) run unmodified in the cinderlib-clients virtualenv, where cinderlib is not
installed and ``import cinderlib`` is the compat layer, against the ``file`` driver on
a real reflink XFS. Their own setUpClass/tearDownClass create and remove everything;
this test checks the outcome and that nothing is left on the filesystem.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
import yaml

from tests.functional.cinderlib_clients import CLIENT_SCRIPTS, ClientVenv, client_venv
from tests.helpers import requires_root, requires_tool
from volumelib.drivers.file import loop
from volumelib.testing.loopfs import loop_filesystem

pytestmark = [pytest.mark.root, pytest.mark.xfs]

#: ``test_stats_with_creation`` creates a volume of up to 5 GiB.
FS_SIZE = 16 * 1024 ** 3

EXPECTED = {f"test_list_supported_drivers_{n}" for n in ("1___", "2__1_", "3__2_")} | {
    f"test_{name}_on_xfs" for name in (
        "stats", "stats_with_creation", "create_volume", "create_delete_volume",
        "create_snapshot", "create_delete_snapshot", "attach_volume",
        "attach_detach_volume", "attach_detach_volume_via_attachment", "disk_io",
        "extend", "extend_attached", "clone", "create_volume_from_snapshot")}


@pytest.fixture(scope="module")
def clients() -> ClientVenv:
    return client_venv()


def test_cinderlib_functional_suite_on_the_file_driver(clients: ClientVenv, tmp_path) -> None:
    requires_root()
    requires_tool("losetup", "mkfs.xfs", "lsblk", "dd")
    assert len(EXPECTED) == 17
    with loop_filesystem("xfs", size_bytes=FS_SIZE) as fs:
        root = os.path.join(fs.mountpoint, "root")
        config = tmp_path / "cinderlib-tests.yaml"
        config.write_text(yaml.safe_dump({"logs": False, "backends": [
            {"volume_backend_name": "xfs", "volume_driver": "file", "file_root": root}]}))
        env = dict(os.environ, CL_FTEST_ROOT_HELPER="sudo" if shutil.which("sudo") else "env")
        proc = subprocess.run(
            [clients.python, os.path.join(CLIENT_SCRIPTS, "run_cinderlib_functional.py"),
             clients.cinderlib_wheel, str(config), str(tmp_path / "suite")],
            capture_output=True, text=True, timeout=1200, env=env, cwd=str(tmp_path))
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
        assert lines, f"no result (status {proc.returncode}):\n{proc.stderr[-6000:]}"
        result = json.loads(lines[-1])
        problems = result["failures"] + result["errors"]
        assert not problems, "\n\n".join(f"{name}\n{tb}" for name, tb in problems)
        assert result["skipped"] == []
        assert result["run"] == 17 and result["ok"] and proc.returncode == 0
        assert {name.rsplit(".", 1)[-1] for name in result["passed"]} == EXPECTED
        # its tearDownClass deleted every volume and snapshot and detached them all
        left = [os.path.join(d, n) for d, _, names in os.walk(root) for n in names]
        assert left == []
        assert loop.devices_under(fs.mountpoint) == []
