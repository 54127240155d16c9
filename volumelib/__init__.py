"""volumelib: block volumes on real storage backends, with no control plane.

::

    import volumelib
    backend = volumelib.Backend(volume_backend_name="local", volume_driver="file",
                                file_root="/var/lib/volumelib/local")
    vol = backend.create_volume(size=1, name="data")
    snap = vol.create_snapshot(name="s1")
    clone = snap.create_volume(name="from-snap")

Importing volumelib has no side effects: no logging configuration (only a
``NullHandler`` on the ``volumelib`` logger), no global options, no threads.
"""

from __future__ import annotations

import logging
from typing import Any

from volumelib import brick, exceptions, runtime
from volumelib._version import __version__
from volumelib.backend import Backend
from volumelib.control.claims import ClaimedEvent, claim
from volumelib.control.events import events, watch
from volumelib.control.leases import LeaseManager
from volumelib.control.plane import ControlPlane
from volumelib.control.quotas import QuotaManager
from volumelib.control.subscriptions import (
    LocalSubscription,
    get_subscription,
    list_subscriptions,
    subscribe,
    unsubscribe,
)
from volumelib.exceptions import *  # noqa: F403 - the exception tree is public API
from volumelib.image_cache.exceptions import (
    ChecksumMismatch,
    CorruptImage,
    ImageCacheFull,
    ImageError,
    ImageFetchError,
    ImageInUse,
    ImageNotCached,
    ImageNotFound,
    ImageTooLarge,
)
from volumelib.objects import (
    Connection,
    Group,
    GroupSnapshot,
    KeyValue,
    Lease,
    Pool,
    Quota,
    Snapshot,
    Status,
    Subscription,
    Volume,
    VolumeType,
)
from volumelib.persistence.base import PersistenceDriverBase
from volumelib.persistence.events import Event, EventPage
from volumelib.runtime import setup
from volumelib.serialization import dump, dumps, load

logging.getLogger(__name__).addHandler(logging.NullHandler())


def get_connector_properties(multipath: bool = False, enforce_multipath: bool = False,
                             my_ip: str | None = None) -> dict:
    """This host's os-brick connector properties (what a node hands a controller)."""
    return brick.get_connector_properties(multipath, enforce_multipath, my_ip)


def leases(persistence: Any = None) -> LeaseManager:
    """A :class:`~volumelib.control.leases.LeaseManager` on the current store (or on
    ``persistence``): ``acquire``, ``renew``, ``release``, ``get``."""
    return LeaseManager(persistence)


def quotas(persistence: Any = None) -> QuotaManager:
    """A :class:`~volumelib.control.quotas.QuotaManager` on the current store (or on
    ``persistence``): ``set_limit``, ``get``, ``remove_limit``, ``sync``."""
    return QuotaManager(persistence)


def get_persistence() -> PersistenceDriverBase:
    """The store ``setup()`` chose (memory by default).

    (``volumelib.persistence`` is the persistence package, with ``setup()`` and the
    store classes; this function returns the store in use.)
    """
    return runtime.persistence()


__all__ = [
    "__version__",
    "setup",
    "Backend",
    "ControlPlane",
    "Volume",
    "Snapshot",
    "Connection",
    "Group",
    "GroupSnapshot",
    "KeyValue",
    "VolumeType",
    "Pool",
    "Lease",
    "Quota",
    "Status",
    "load",
    "dump",
    "dumps",
    "get_connector_properties",
    "get_persistence",
    "leases",
    "quotas",
    "events",
    "watch",
    "claim",
    "subscribe",
    "unsubscribe",
    "get_subscription",
    "list_subscriptions",
    "Event",
    "EventPage",
    "ClaimedEvent",
    "Subscription",
    "LocalSubscription",
    "exceptions",
    *exceptions.__all__,
    "ImageError", "ImageNotFound", "ImageNotCached", "CorruptImage", "ChecksumMismatch",
    "ImageTooLarge", "ImageInUse", "ImageFetchError", "ImageCacheFull",
]
