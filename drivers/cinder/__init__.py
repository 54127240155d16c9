"""Every Cinder volume driver, unmodified, behind volumelib's driver SPI.

``volumelib.Backend(volume_driver="cinder.volume.drivers.rbd.RBDDriver", **options)``
runs OpenStack Cinder's own driver class through :class:`~.driver.CinderDriver`:
``loading`` finds the class, ``config`` builds its private oslo.config options,
``runtime`` sets up what Cinder's code needs in this process (a private database
made by Cinder's migrations, locks, in-process privsep as root), ``records`` builds
Cinder's objects for each call, ``dbfacade`` is the driver's ``self.db``, ``stats``
maps stats and capabilities, ``quirks`` holds the per-driver workarounds and
listings, ``catalogue`` describes Cinder's driver classes and ``extra`` imports
Cinder (or names the extra to install).

The modules point one way, top to bottom: ``loading`` -> ``driver`` ->
``catalogue``, ``dbfacade`` -> ``records`` -> ``runtime`` -> ``config``, ``quirks``,
``stats``, ``extra`` (``tests/unit/test_cinder_adapter_layers.py`` holds it).
``import volumelib`` reaches ``loading`` and ``extra`` only, which import nothing of
Cinder, oslo.config or SQLAlchemy; ``loading`` loads the adapter module ``driver``,
and with it the rest, through one lazy import once Cinder is imported. So
``config``, ``records`` and ``runtime`` import oslo.config, SQLAlchemy and Cinder's
other dependencies at their top (they load with Cinder); Cinder itself is imported
inside functions everywhere.

Needs the extra ``volumelib[cinder]``. Importing this package does not import Cinder:
only asking for a Cinder driver does (see ``docs/drivers.md`` for the cost).
"""

from __future__ import annotations

from volumelib.drivers.cinder.extra import EXTRA
from volumelib.drivers.cinder.loading import driver_class, is_cinder_path

__all__ = ["driver_class", "is_cinder_path", "EXTRA"]
