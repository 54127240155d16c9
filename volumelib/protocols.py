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

__all__ = ["BackendLike", "PoolDirectory"]


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


@runtime_checkable
class PoolDirectory(Protocol):
    """Where pool names lead: what a volume needs of the control plane it came from
    to migrate to a pool by name, or to place itself on another pool (a retype that
    migrates). :class:`volumelib.ControlPlane` satisfies it; the objects never import it.
    """

    def backend(self, pool_name: str) -> BackendLike:
        """The live backend of a registered pool (``PoolNotFound`` if none)."""

    def place(self, size: int, volume_type: Any = None) -> list[Any]:
        """The pools that could take such a volume, best first: placement
        ``Candidate`` objects with a ``name`` (``NoValidBackend`` if none)."""
