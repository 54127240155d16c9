"""The one exception tree of volumelib.

Everything volumelib raises on purpose derives from :class:`VolumelibError`::

    VolumelibError
     ├── NotFound
     │    ├── VolumeNotFound
     │    ├── SnapshotNotFound
     │    ├── ConnectionNotFound
     │    ├── GroupNotFound
     │    ├── GroupSnapshotNotFound
     │    ├── BackendNotFound
     │    ├── PoolNotFound
     │    ├── KeyValueNotFound
     │    ├── VolumeTypeNotFound
     │    ├── ReferenceNotFound     no storage object answers a manage reference
     │    └── SubscriptionNotFound
     ├── InvalidArgument            bad size, name, id, metadata, config, JSON
     │    ├── InvalidSize
     │    ├── InvalidName
     │    ├── InvalidId
     │    ├── InvalidConfig
     │    │    └── UnknownOption
     │    ├── InvalidPayload        what load() cannot turn into objects
     │    ├── InvalidReference      a manage reference of the wrong shape
     │    ├── MigrationRequired     a retype needs a migration that the policy forbids
     │    ├── InvalidEventKind      an event kind that is not logged (events, subscriptions)
     │    ├── InvalidSubscriber     a subscriber that is no callable nor http(s) URL
     │    ├── InvalidTTL            a ttl that is no number of seconds > 0
     │    ├── InvalidConfirmationToken  a subscription's confirmation token is wrong
     │    └── InsufficientCapacity  the backend has not the room for it
     ├── InvalidState              the resource is not in a state that allows it
     │    ├── VolumeInUse
     │    ├── HasSnapshots
     │    └── NotManageable         the storage object exists but is unsafe to adopt
     ├── AlreadyExists
     │    ├── NameConflict          same name, different parameters (idempotent create)
     │    └── AlreadyManaged        the storage object is a volume (snapshot) already
     ├── NoValidBackend            no pool passes placement; ``reasons`` says why per pool
     ├── QuotaExceeded             a project's limit would be passed
     ├── NotSupported              the driver does not declare the capability
     ├── BackendError              a driver failed; carries ``backend_name``
     ├── DriverNotFound            no such driver entry point or class path
     ├── PersistenceError
     │    ├── InvalidPersistence    a persistence config that names no store
     │    ├── ConcurrentModification  compare-and-set lost against another writer
     │    └── SchemaError           the database schema is missing, newer or broken
     ├── LeaseError
     │    ├── NotLeased
     │    ├── LeaseExpired
     │    ├── ClaimLost             an event claim another worker took over
     │    └── LeaseHeld
     │         └── ResourceBusy     another caller is operating on it (retryable)
     └── ImageError               (volumelib.image_cache.exceptions; each also derives
                                   from the family above that fits: ImageNotFound is a
                                   NotFound, ImageTooLarge an InvalidSize...)

Each exception has a ``msg_fmt`` template filled from keyword arguments, and keeps
those keyword arguments as attributes (``exc.volume_id``), so callers can react to
the structured data instead of parsing the message.

Errors a caller may simply retry (after a short wait) have ``retryable = True``:
:class:`ConcurrentModification`, :class:`LeaseHeld` and :class:`ResourceBusy`.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "VolumelibError",
    "NotFound",
    "VolumeNotFound",
    "SnapshotNotFound",
    "ConnectionNotFound",
    "GroupNotFound",
    "GroupSnapshotNotFound",
    "BackendNotFound",
    "PoolNotFound",
    "KeyValueNotFound",
    "VolumeTypeNotFound",
    "ReferenceNotFound",
    "SubscriptionNotFound",
    "InvalidArgument",
    "InvalidSize",
    "InvalidName",
    "InvalidId",
    "InvalidConfig",
    "UnknownOption",
    "InvalidPayload",
    "InvalidEventKind",
    "InvalidSubscriber",
    "InvalidTTL",
    "InvalidConfirmationToken",
    "InsufficientCapacity",
    "InvalidReference",
    "MigrationRequired",
    "InvalidState",
    "VolumeInUse",
    "HasSnapshots",
    "NotManageable",
    "AlreadyExists",
    "NameConflict",
    "AlreadyManaged",
    "NoValidBackend",
    "QuotaExceeded",
    "NotSupported",
    "BackendError",
    "DriverNotFound",
    "PersistenceError",
    "InvalidPersistence",
    "ConcurrentModification",
    "SchemaError",
    "LeaseError",
    "NotLeased",
    "LeaseExpired",
    "ClaimLost",
    "LeaseHeld",
    "ResourceBusy",
]


class VolumelibError(Exception):
    """Root of every exception volumelib raises on purpose.

    Subclasses set ``msg_fmt``; keyword arguments fill it and become attributes.
    A positional message, when given, is used as is.
    """

    msg_fmt = "An unknown volumelib error occurred."
    #: True when the same call may succeed if simply retried a little later.
    retryable: bool = False

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        self.kwargs = kwargs
        for key, value in kwargs.items():
            setattr(self, key, value)
        if message is None:
            try:
                message = self.msg_fmt % kwargs
            except (KeyError, TypeError, ValueError):
                # A template that does not match its arguments must not hide the
                # real error: fall back to the template plus the raw arguments.
                message = f"{self.msg_fmt} {kwargs!r}"
        self.msg = message
        super().__init__(message)

    def __str__(self) -> str:
        return self.msg


# --- NotFound -----------------------------------------------------------------------

class NotFound(VolumelibError):
    msg_fmt = "Resource could not be found: %(resource)s"


class VolumeNotFound(NotFound):
    msg_fmt = "Volume %(volume_id)s could not be found."


class SnapshotNotFound(NotFound):
    msg_fmt = "Snapshot %(snapshot_id)s could not be found."


class ConnectionNotFound(NotFound):
    msg_fmt = "Connection %(connection_id)s could not be found."


class GroupNotFound(NotFound):
    msg_fmt = "Group %(group_id)s could not be found."


class GroupSnapshotNotFound(NotFound):
    msg_fmt = "Group snapshot %(group_snapshot_id)s could not be found."


class BackendNotFound(NotFound):
    msg_fmt = "Backend %(backend_name)s is not set up in this process."


class PoolNotFound(NotFound):
    msg_fmt = "Pool %(pool_name)s is not registered."


class KeyValueNotFound(NotFound):
    msg_fmt = "Key %(key)s could not be found."


class VolumeTypeNotFound(NotFound):
    msg_fmt = "Volume type %(volume_type)r could not be found."


class ReferenceNotFound(NotFound):
    """``backend.manage(reference)``: the backend has no such storage object."""

    msg_fmt = "Backend %(backend_name)s has no storage object %(reference)s to manage"
class SubscriptionNotFound(NotFound):
    msg_fmt = "Subscription %(subscription_id)s could not be found."


# --- InvalidArgument ----------------------------------------------------------------

class InvalidArgument(VolumelibError):
    msg_fmt = "Invalid argument: %(reason)s"


class InvalidSize(InvalidArgument):
    msg_fmt = "Invalid size %(size)r: %(reason)s"


class InvalidName(InvalidArgument):
    msg_fmt = "Invalid name %(name)r: %(reason)s"


class InvalidId(InvalidArgument):
    msg_fmt = "Invalid id %(id)r: %(reason)s"


class InvalidConfig(InvalidArgument):
    msg_fmt = "Invalid configuration: %(reason)s"


class UnknownOption(InvalidConfig):
    msg_fmt = "Unknown option %(option)r for driver %(driver)s; known options: %(known)s"


class InvalidPayload(InvalidArgument):
    msg_fmt = "Cannot load this data: %(reason)s"


class InvalidEventKind(InvalidArgument):
    msg_fmt = "%(kind)r is not a kind of event; known kinds: %(known)s"


class InvalidSubscriber(InvalidArgument):
    msg_fmt = "Invalid subscriber %(subscriber)s: %(reason)s"


class InvalidTTL(InvalidArgument):
    msg_fmt = "Invalid ttl %(ttl)r: %(reason)s"


class InvalidConfirmationToken(InvalidArgument):
    msg_fmt = "Wrong confirmation token for subscription %(subscription_id)s"


class InsufficientCapacity(InvalidArgument):
    msg_fmt = ("Backend %(backend_name)s cannot hold %(requested_gb)s GiB: "
               "%(available_gb)s GiB available")


class InvalidReference(InvalidArgument):
    """A manage reference that is not ``{"source-name": ...}`` or ``{"source-id": ...}``
    (or not one this driver takes)."""

    msg_fmt = "Invalid manage reference %(reference)r: %(reason)s"


class MigrationRequired(InvalidArgument):
    """``vol.retype(new_type)``: the volume's backend cannot serve the new type and
    ``migration_policy`` is ``"never"``."""

    msg_fmt = ("Retype of volume %(volume_id)s to %(volume_type)s needs a migration "
               "(%(reason)s) and migration_policy is %(policy)r")


# --- InvalidState -------------------------------------------------------------------

class InvalidState(VolumelibError):
    msg_fmt = "%(resource)s is %(status)s; %(reason)s"


class VolumeInUse(InvalidState):
    msg_fmt = "Volume %(volume_id)s is in use: %(reason)s"


class HasSnapshots(InvalidState):
    msg_fmt = "Volume %(volume_id)s has %(count)s snapshot(s); delete them first"


class NotManageable(InvalidState):
    """The storage object a manage reference names is not safe to adopt (in use,
    wrong format...)."""

    msg_fmt = ("Storage object %(reference)s of backend %(backend_name)s cannot be "
               "managed: %(reason)s")


# --- the rest -----------------------------------------------------------------------

class AlreadyExists(VolumelibError):
    msg_fmt = "%(resource)s %(id)s already exists"


class NameConflict(AlreadyExists):
    """Create-by-name found an existing resource with different parameters."""

    msg_fmt = ("%(resource)s named %(name)r already exists in project %(project_id)s "
               "with different parameters: %(differences)s")


class AlreadyManaged(AlreadyExists):
    """The storage object a manage reference names is already a volume (snapshot)."""

    msg_fmt = "Storage object %(reference)s is already managed as %(resource)s %(id)s"


class NoValidBackend(VolumelibError):
    """Placement found no pool; ``reasons`` maps each pool to the filter that rejected it."""

    msg_fmt = "No valid pool for %(request)s: %(reasons)s"


class QuotaExceeded(VolumelibError):
    msg_fmt = ("Project %(project_id)s would exceed its %(resource)s quota: "
               "%(in_use)s in use + %(requested)s requested > limit %(limit)s")


class NotSupported(VolumelibError):
    msg_fmt = "%(operation)s is not supported by %(driver)s"


class BackendError(VolumelibError):
    """A driver failed. ``backend_name`` says which backend; ``__cause__`` has the original."""

    msg_fmt = "Backend %(backend_name)s failed to %(operation)s: %(reason)s"


class DriverNotFound(VolumelibError):
    msg_fmt = "No volume driver %(driver)r; available: %(available)s"


class PersistenceError(VolumelibError):
    msg_fmt = "Persistence failed: %(reason)s"


class InvalidPersistence(PersistenceError):
    msg_fmt = "Invalid persistence %(storage)r; available plugins: %(available)s"


class ConcurrentModification(PersistenceError):
    retryable = True
    msg_fmt = ("%(resource)s %(id)s was modified by another writer "
               "(expected version %(expected)s); reload it and retry")


class SchemaError(PersistenceError):
    msg_fmt = "Database schema problem: %(reason)s"


class LeaseError(VolumelibError):
    msg_fmt = "Lease error on %(resource_id)s: %(reason)s"


class NotLeased(LeaseError):
    msg_fmt = "%(resource_id)s is not leased"


class LeaseExpired(LeaseError):
    msg_fmt = "The lease on %(resource_id)s expired at %(expires_at)s"


class ClaimLost(LeaseError):
    """The claim on an event ran out and another worker of the group took it over:
    that worker handles the event now, so this one must not acknowledge it."""

    msg_fmt = "The claim on %(resource_id)s was taken over by %(holder)s"


class LeaseHeld(LeaseError):
    retryable = True
    msg_fmt = "%(resource_id)s is leased by %(holder)s until %(expires_at)s"


class ResourceBusy(LeaseHeld):
    """Another caller (process or host) is operating on the resource right now."""

    msg_fmt = ("%(resource_id)s is busy: %(operation)s by %(holder)s is in progress "
               "until %(expires_at)s; retry later")
