"""The docs that are generated from code are current."""

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_driver_options_doc_is_current():
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_driver_docs.py"),
                           "--check"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
