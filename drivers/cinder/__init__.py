"""Every Cinder volume driver, unmodified, behind volumelib's driver SPI.

``volumelib.Backend(volume_driver="cinder.volume.drivers.rbd.RBDDriver", **options)``
runs OpenStack Cinder's own driver class through :class:`~.driver.CinderDriver`:
``loading`` finds the class, ``config`` builds its private oslo.config options,
``runtime`` sets up what Cinder's code needs in this process (objects, a private
database made by Cinder's migrations, locks, in-process privsep as root),
``records`` builds Cinder's objects for each call, ``dbfacade`` is the driver's
``self.db``, ``stats`` maps stats and capabilities and ``quirks`` holds the
per-driver workarounds and listings.

Needs the extra ``volumelib[cinder]``. Importing this package does not import Cinder:
only asking for a Cinder driver does (see ``docs/drivers.md`` for the cost).
"""

from __future__ import annotations

from volumelib.drivers.cinder.extra import EXTRA
from volumelib.drivers.cinder.loading import driver_class, is_cinder_path

__all__ = ["driver_class", "is_cinder_path", "EXTRA"]
