"""The control plane's stored kinds: pools, leases and quotas.

They live in the same store as volumes (one row each, compare-and-set on the row's
version like every other kind) so that several processes and hosts sharing the
store share the control plane too:

* :class:`Pool`: a backend registered by name with its driver configuration, weight
  and capabilities (:mod:`volumelib.control.plane` builds and places on them).
* :class:`Lease`: who holds a resource until when (:mod:`volumelib.control.leases`).
* :class:`Quota`: one project's limit and usage of one resource
  (:mod:`volumelib.control.quotas`).

None of them is soft-deleted: a removed row is gone.
"""

from __future__ import annotations

import datetime
from typing import Any

from volumelib.records.stored import StoredObject
from volumelib.versioned import fields, utcnow

__all__ = ["Pool", "Lease", "Quota", "QUOTA_RESOURCES", "UNLIMITED"]

#: What a project's quota can limit.
QUOTA_RESOURCES = ("volumes", "gigabytes", "snapshots")
#: ``Quota.limit`` meaning "no limit".
UNLIMITED = -1

_CONTROL_TIMESTAMPS = {
    "created_at": fields.DateTime(nullable=True),
    "updated_at": fields.DateTime(nullable=True),
}


class Pool(StoredObject):
    """A backend registered in the store, keyed by its name.

    The name is the ``volume_backend_name`` of the :class:`volumelib.Backend` built
    from ``volume_driver`` and ``driver_config`` (the Backend's keyword options), and
    the ``backend_name`` of the volumes living on it. ``weight`` 0 drains the pool.
    """

    VERSION = "1.0"
    fields = {
        "name": fields.String(),
        "volume_driver": fields.String(),
        "driver_config": fields.JsonDict(default={}),
        "weight": fields.Float(default=1.0),
        "capabilities": fields.ListOfStrings(default=[]),
        "description": fields.String(nullable=True),
        "enabled": fields.Boolean(default=True),
        **_CONTROL_TIMESTAMPS,
    }

    def _repr_fields(self) -> list[str]:
        return ["name", "volume_driver", "weight", "enabled"]


class Lease(StoredObject):
    """A lease on a resource: ``holder`` has it until ``expires_at``.

    ``id`` is the leased resource's id (any string up to 255 characters: a volume id,
    or a key such as ``"name:<project>:<name>"``). After ``expires_at`` the lease is
    expired (anyone may acquire it); until ``expires_at + grace`` the resource is
    still kept alive (``gc()`` leaves it and its lease row alone). ``expired_count``
    counts the leases on the resource that ran out without being released (the
    retry budget). See :mod:`volumelib.control.leases`.
    """

    VERSION = "1.0"
    fields = {
        "id": fields.String(),
        "resource_kind": fields.String(nullable=True),
        "holder": fields.String(nullable=True),
        "operation": fields.String(nullable=True),
        "ttl": fields.Float(default=0.0),
        "grace": fields.Float(default=0.0),
        "expires_at": fields.DateTime(nullable=True),
        "expired_count": fields.Integer(default=0),
        **_CONTROL_TIMESTAMPS,
    }

    # -- state at a given time (the UTC wall clock unless ``now`` is given) ----------

    def is_held(self, now: datetime.datetime | None = None) -> bool:
        """A holder has it and its ttl has not run out."""
        return (self.holder is not None and self.expires_at is not None
                and (now or utcnow()) < self.expires_at)

    def is_expired(self, now: datetime.datetime | None = None) -> bool:
        """A holder had it and its ttl ran out (grace or not)."""
        return (self.holder is not None and self.expires_at is not None
                and (now or utcnow()) >= self.expires_at)

    def in_grace(self, now: datetime.datetime | None = None) -> bool:
        """Expired, but still keeping the resource alive (``expires_at + grace``)."""
        now = now or utcnow()
        return self.is_expired(now) and now < self.keep_until

    @property
    def keep_until(self) -> datetime.datetime | None:
        """When the resource stops being kept alive: ``expires_at + grace``."""
        if self.expires_at is None:
            return None
        return self.expires_at + datetime.timedelta(seconds=self.grace or 0.0)

    def _repr_fields(self) -> list[str]:
        return ["id", "holder", "operation", "expires_at", "expired_count"]


class Quota(StoredObject):
    """One project's limit and usage of one resource (``volumes``, ``gigabytes`` or
    ``snapshots``). ``id`` is ``f"{project_id}/{resource}"``; ``limit`` -1 means
    unlimited; ``in_use`` is kept by the library with compare-and-set."""

    VERSION = "1.0"
    fields = {
        "id": fields.String(),
        "project_id": fields.String(nullable=True),
        "resource": fields.String(),
        "limit": fields.Integer(default=UNLIMITED),
        "in_use": fields.Integer(default=0),
        **_CONTROL_TIMESTAMPS,
    }

    def __init__(self, **values: Any) -> None:
        if "id" not in values and "resource" in values:
            values["id"] = self.make_id(values.get("project_id"), values["resource"])
        super().__init__(**values)

    @staticmethod
    def make_id(project_id: str | None, resource: str) -> str:
        """The row key of a project's quota on ``resource``."""
        return f"{project_id or ''}/{resource}"

    def _repr_fields(self) -> list[str]:
        return ["id", "limit", "in_use"]
