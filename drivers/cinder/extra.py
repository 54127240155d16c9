"""The extra ``volumelib[cinder]``: whether Cinder is installed, imported once on first use.

The light bottom of :mod:`volumelib.drivers.cinder`: it is imported with
``import volumelib`` (through :mod:`~volumelib.drivers.cinder.loading`), so it holds
no Cinder, oslo.config or SQLAlchemy import at its top. :func:`import_cinder` imports
Cinder's driver base when a Cinder driver is first asked for, or says which extra to
install; :data:`IMPORT_SECONDS` records what that import cost.
"""

from __future__ import annotations

import logging
import time
import warnings

from volumelib import exceptions as exc

__all__ = ["EXTRA", "import_cinder", "IMPORT_SECONDS"]

LOG = logging.getLogger(__name__)

#: The extra that installs Cinder beside volumelib.
EXTRA = "volumelib[cinder]"

#: Seconds the first ``import cinder...`` took in this process (``None``: not yet).
IMPORT_SECONDS: float | None = None


def import_cinder(what: str) -> None:
    """Import Cinder's driver base, or raise ``DriverNotFound`` naming the extra.

    Raises:
        DriverNotFound: Cinder is not installed (or broken); says to install
            ``volumelib[cinder]``.
    """
    global IMPORT_SECONDS
    if IMPORT_SECONDS is not None:
        return
    started = time.perf_counter()
    try:
        with warnings.catch_warnings():
            # eventlet warns about itself at import; Cinder imports it, nothing patches.
            warnings.simplefilter("ignore")
            # Cinder is the optional, heavy dependency: loaded with the first Cinder driver.
            import cinder.volume.driver  # noqa: F401
    except ImportError as e:
        raise exc.DriverNotFound(
            f"Cinder driver {what!r} needs OpenStack Cinder, which is not installed "
            f"({e}); install the extra: pip install '{EXTRA}'",
            driver=what, available=EXTRA) from e
    # Cinder's objects, registered once: driver modules use cinder.objects.<Class>
    # at their import.
    from cinder import objects
    objects.register_all()
    IMPORT_SECONDS = time.perf_counter() - started
    LOG.debug("imported cinder in %.3f s", IMPORT_SECONDS)
