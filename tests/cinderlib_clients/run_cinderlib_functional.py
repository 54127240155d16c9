"""Run cinderlib 5.2.0's own functional tests, from its wheel, on volumelib's compat layer.

usage: run_cinderlib_functional.py CINDERLIB_WHEEL CONFIG.yaml WORKDIR

Runs in the cinderlib-clients virtualenv (tests/functional/cinderlib_clients.py),
where ``import cinderlib`` is volumelib's compat layer (the placeholder distribution
of ``volumelib.compat.cinderlib_dist``) and cinderlib itself is not installed. The
wheel's ``cinderlib/tests/`` is extracted unmodified into WORKDIR and mounted as the
package ``cinderlib.tests``; ``cinderlib.tests.functional`` is run with unittest
(cinderlib's own runner was stestr over unittest) with ``CL_FTEST_CFG=CONFIG.yaml``.
Prints one JSON line: the counts and each failure's test id and traceback.
"""

import importlib
import json
import os
import sys
import types
import unittest
import zipfile

wheel, config, workdir = sys.argv[1:4]
with zipfile.ZipFile(wheel) as zf:
    members = [n for n in zf.namelist() if n.startswith("cinderlib/tests/")]
    zf.extractall(workdir, members)
os.environ["CL_FTEST_CFG"] = config

import cinderlib  # noqa: E402  (the compat layer, through the alias)

assert cinderlib.__name__ == "volumelib.compat.cinderlib", cinderlib
tests = types.ModuleType("cinderlib.tests")
tests.__path__ = [os.path.join(workdir, "cinderlib", "tests")]
sys.modules["cinderlib.tests"] = tests

module = importlib.import_module("cinderlib.tests.functional.test_basic")
suite = unittest.defaultTestLoader.loadTestsFromModule(module)


class _Result(unittest.TextTestResult):
    """Also records the tests that passed."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.passed = []

    def addSuccess(self, test):
        super().addSuccess(test)
        self.passed.append(test.id())


runner = unittest.TextTestRunner(stream=sys.stderr, verbosity=2, resultclass=_Result)
result = runner.run(suite)
print(json.dumps({
    "ok": result.wasSuccessful(),
    "run": result.testsRun,
    "passed": result.passed,
    "failures": [[t.id(), tb] for t, tb in result.failures],
    "errors": [[t.id(), tb] for t, tb in result.errors],
    "skipped": [[t.id(), why] for t, why in result.skipped],
}))
