"""Conformance suites that ship with volumelib, for its own stores and drivers and
for third-party ones: ``volumelib.testing.drivers`` and ``volumelib.testing.persistence``.

A suite is a fixtures class whose fixture raises until a subclass provides it, plus
plain test mixins. A backend joins with a few lines::

    from volumelib.testing import drivers as suite

    class MyFixtures(suite.DriverFixtures):
        @pytest.fixture
        def backend(self, tmp_path):
            b = volumelib.Backend("mine", "my_driver", ...)
            yield b
            b.close()

    class TestMine(MyFixtures, suite.DriverSuite):
        pass

Tests that need a capability the driver does not declare are skipped with a reason
starting ``N/A:`` (see :func:`not_applicable`), which volumelib's own CI accepts while
it turns every other skip into a failure.
"""

from __future__ import annotations

from typing import Any

import pytest

__all__ = ["not_applicable", "require_capabilities", "NOT_APPLICABLE_PREFIX"]

NOT_APPLICABLE_PREFIX = "N/A:"


def not_applicable(reason: str) -> None:
    """Skip: this test does not apply to this backend (not missing work)."""

    pytest.skip(f"{NOT_APPLICABLE_PREFIX} {reason}")


def require_capabilities(backend: Any, *capabilities: Any) -> None:
    """Skip as not applicable unless ``backend`` declares every capability."""
    missing = [str(c) for c in capabilities if c not in backend.capabilities]
    if missing:
        not_applicable(f"{backend.driver_name} does not declare {', '.join(missing)}")
