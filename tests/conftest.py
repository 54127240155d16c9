"""Test-wide conventions.

* Under ``CI=true`` a test that would *skip* for lack of root, a tool or a server
  **fails** instead, so a skip can never hide work. Only skips whose reason starts
  with ``N/A:`` survive: those mean "this driver does not declare the capability",
  which is a correct answer, not missing work (see ``volumelib.testing.not_applicable``).
* ``requires_root()`` skips (or, in CI, fails) a test that needs root.
"""

from __future__ import annotations

import os
import signal

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
NOT_APPLICABLE_PREFIX = "N/A:"


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config: pytest.Config) -> None:
    # A CI timeout or a `kill` sends SIGTERM, which would end Python at once and skip
    # every fixture teardown (database servers, the Ceph cluster, tgtd, mounts and
    # loop devices would outlive the run). As an interrupt, pytest tears them down.
    signal.signal(signal.SIGTERM, _interrupt)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if not IN_CI or not rep.skipped or hasattr(rep, "wasxfail"):
        return
    reason = ""
    if isinstance(rep.longrepr, tuple) and len(rep.longrepr) == 3:
        reason = str(rep.longrepr[2])
    if reason.startswith("Skipped: "):
        reason = reason[len("Skipped: "):]
    if reason.startswith(NOT_APPLICABLE_PREFIX):
        return
    rep.outcome = "failed"
    rep.longrepr = f"skipped under CI=true, which must not happen: {reason}"
