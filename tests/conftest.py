"""Test-wide conventions.

* Under ``CI=true`` a test that would *skip* for lack of root, a tool or a server
  **fails** instead, so a skip can never hide work. Only skips whose reason starts
  with ``N/A:`` survive: those mean "this driver does not declare the capability",
  which is a correct answer, not missing work (see ``volumelib.testing.not_applicable``).
* ``requires_root()`` skips (or, in CI, fails) a test that needs root.
* Test modules that load OpenStack Cinder into the test process (``test_cinder*``)
  run after all the others. Cinder brings eventlet, and once it is loaded a
  process's own threads misbehave at random (an in-process HTTP server stops
  answering; waits end up in eventlet's hub and never return): the event tests'
  webhook servers hung a CI run for an hour that way. volumelib itself warns when
  it finds a process eventlet-patched (``volumelib.drivers.cinder.runtime``).
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
NOT_APPLICABLE_PREFIX = "N/A:"


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


#: Test modules that load Cinder (and eventlet) in process: every ``test_cinder*``
#: module and these.
CINDER_IN_PROCESS_PREFIX = "test_cinder"
CINDER_IN_PROCESS = frozenset({"test_cli_config.py"})


def _loads_cinder(item: pytest.Item) -> bool:
    """Whether ``item``'s module is one of those that load Cinder."""
    name = item.path.name
    return name.startswith(CINDER_IN_PROCESS_PREFIX) or name in CINDER_IN_PROCESS


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    """Move the tests that load Cinder in process after all the others (their
    order among themselves and the others' order kept)."""
    items[:] = ([i for i in items if not _loads_cinder(i)]
                + [i for i in items if _loads_cinder(i)])


#: The first test after which Cinder was loaded, if its module is not listed above.
_UNLISTED_LOADER = pytest.StashKey[str | None]()


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    if "cinder.volume" in sys.modules and _UNLISTED_LOADER not in item.config.stash:
        item.config.stash[_UNLISTED_LOADER] = None if _loads_cinder(item) else item.nodeid


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int,
                            config: pytest.Config) -> None:
    loader = config.stash.get(_UNLISTED_LOADER, None)
    if loader:
        terminalreporter.write_line(
            f"note: {loader} loaded Cinder into the test process; add its module to "
            f"CINDER_IN_PROCESS in tests/conftest.py so that it runs last")


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
