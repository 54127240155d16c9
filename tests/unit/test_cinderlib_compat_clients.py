"""What cinderlib's real clients (Ember-CSI 0.9.1, cinderlib's own tests) need from the
compatibility layer, on the ``fake`` driver: each behaviour, and the bad input to it.

The end-to-end proof is ``tests/functional/test_ember_csi.py``; these pin each shim
down, with its refusals (a specific volumelib exception naming the value, and nothing
changed). The native API's strictness is checked alongside: the leniency is the
compat layer's only.
"""

from __future__ import annotations

import os

import pytest

import volumelib
import volumelib.compat.cinderlib as cinderlib
from tests.unit.test_cinderlib_compat import FAKE, cl  # noqa: F401  (the fixture)
from volumelib import exceptions as exc
from volumelib.drivers.fake import FakeDriver

GiB = 1024 ** 3


@pytest.fixture
def backend(cl):  # noqa: F811
    cl.setup(persistence_config={"storage": "memory_db"})
    return cl.Backend(**FAKE)


# -- Backend -------------------------------------------------------------------------------

def test_backend_passes_unknown_attributes_to_its_driver(backend):
    assert backend.get_version() == FakeDriver.version == backend.driver.version
    assert backend.supported is True
    assert backend.check_for_setup_error() is None  # a driver method, through the backend
    with pytest.raises(AttributeError, match="'no_such_thing'"):
        backend.no_such_thing
    with pytest.raises(AttributeError):
        backend._private_of_the_driver  # private names are never forwarded


def test_setup_puts_os_brick_in_process_as_root(cl):  # noqa: F811
    import os_brick.privileged
    context = os_brick.privileged.default
    before = context.client_mode
    context.set_client_mode(True)
    try:
        cl.setup()
        assert context.client_mode is (os.geteuid() != 0)
    finally:
        context.set_client_mode(before)
