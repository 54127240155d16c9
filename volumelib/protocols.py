"""What the layers below the facade need of a backend, as a typing protocol.

Objects, leases, reconciliation and provisioning are served by a
:class:`volumelib.Backend`, but they sit below it and never import it: they are
written against :class:`BackendLike`, which ``Backend`` satisfies. (The facade
depends on the objects, not the other way round.)
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from volumelib.drivers.base import VolumeDriver
from volumelib.drivers.types import Capability
from volumelib.persistence.base import PersistenceDriverBase

__all__ = ["BackendLike"]


@runtime_checkable
class BackendLike(Protocol):
    """A storage backend: a name, a driver, and the store its records live in."""

    #: The backend's driver (a :class:`~volumelib.drivers.base.VolumeDriver`).
    driver: VolumeDriver
    #: How the driver was named (entry point or class path).
    driver_name: str

    @property
    def id(self) -> str:
        """The backend's name (``volume_backend_name``)."""

    @property
    def persistence(self) -> PersistenceDriverBase:
        """The store holding this backend's records."""

    @property
    def capabilities(self) -> frozenset[Capability]:
        """What the driver declares."""

    @property
    def config(self) -> dict[str, Any]:
        """The backend's configuration without secrets (what JSON carries)."""
