"""The one plugin loader: drivers, stores and image-cache drivers load the same way.

A real distribution (a ``.dist-info`` with ``entry_points.txt``, on ``sys.path`` in a
child process) registers plugins in each namespace: one whose module cannot be
imported, one that is not a subclass of the expected base, one that works.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

NAMESPACES = {
    "volumelib.drivers": "from volumelib.drivers import load_driver_class as load",
    "volumelib.persistence.storage": (
        "from volumelib.persistence import setup\n"
        "load = lambda name: setup({'storage': name})"),
    "volumelib.image_cache.drivers": (
        "from volumelib.image_cache import load_driver\n"
        "load = lambda name: load_driver(name, sys.argv[1] + '/cache')"),
}

CHILD = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, sys.argv[1])
    {importer}
    out = {{}}
    for name in ("broken", "notaplugin", "nosuchname"):
        try:
            load(name)
            out[name] = {{"loaded": True}}
        except Exception as e:
            cause = e.__cause__
            out[name] = {{"error": type(e).__name__, "message": str(e),
                          "volumelib": type(e).__module__ == "volumelib.exceptions",
                          "cause": type(cause).__name__ if cause else None}}
    print(json.dumps(out))
""")


@pytest.fixture
def plugin_dist(tmp_path):
    (tmp_path / "brokenplugin.py").write_text("import no_such_module_anywhere\n")
    (tmp_path / "notaplugin.py").write_text("class Thing:\n    pass\n")
    dist = tmp_path / "volumelib_test_plugins-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: volumelib-test-plugins\n"
                                   "Version: 1.0\n")
    sections = "".join(f"[{ns}]\nbroken = brokenplugin:Driver\n"
                       f"notaplugin = notaplugin:Thing\n\n" for ns in NAMESPACES)
    (dist / "entry_points.txt").write_text(sections)
    return tmp_path


@pytest.mark.parametrize("namespace", sorted(NAMESPACES))
def test_every_namespace_fails_loudly_the_same_way(plugin_dist, namespace):
    code = CHILD.format(importer=NAMESPACES[namespace])
    proc = subprocess.run([sys.executable, "-c", code, str(plugin_dist)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    broken = out["broken"]
    assert broken["volumelib"] and broken["cause"] == "ModuleNotFoundError", broken
    assert "no_such_module_anywhere" in broken["message"]      # the cause, not swallowed
    wrong = out["notaplugin"]
    assert wrong["volumelib"] and "subclass" in wrong["message"], wrong
    unknown = out["nosuchname"]
    assert unknown["volumelib"] and "broken" in unknown["message"] \
        and "notaplugin" in unknown["message"], unknown            # lists what is there
