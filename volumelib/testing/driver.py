"""Alias of :mod:`volumelib.testing.drivers` (the driver conformance suite)."""

from volumelib.testing.drivers import *  # noqa: F401,F403
from volumelib.testing.drivers import __all__  # noqa: F401
