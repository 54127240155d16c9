"""``Group`` and ``GroupSnapshot``: volumes snapshotted together.

The operations live in :mod:`volumelib.groups.operations`; these classes are the
user's handle on them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from volumelib import exceptions as exc
from volumelib.objects.base import fields
from volumelib.objects.common import TIMESTAMP_FIELDS, Status, StoredObject

if TYPE_CHECKING:
    from volumelib.objects.snapshot import Snapshot
    from volumelib.objects.volume import Volume

__all__ = ["Group", "GroupSnapshot"]


class Group(StoredObject):
    """A group of volumes of one backend."""

    VERSION = "1.0"
    fields = {
        "id": fields.UUID(),
        "name": fields.String(nullable=True),
        "description": fields.String(nullable=True),
        "status": fields.String(default=Status.CREATING),
        "group_type": fields.DictOfNullableStrings(default={}),
        "project_id": fields.String(nullable=True),
        "user_id": fields.String(nullable=True),
        "backend_name": fields.String(),
        "source_group_id": fields.String(nullable=True),
        "group_snapshot_id": fields.String(nullable=True),
        **TIMESTAMP_FIELDS,
    }

    def _backend_name(self) -> str | None:
        return self.backend_name

    @property
    def volumes(self) -> list[Volume]:
        """The group's volumes, from the store."""
        return self._bound(self.persistence.get_volumes(group_id=self.id))

    @property
    def group_snapshots(self) -> list[GroupSnapshot]:
        return self._bound(self.persistence.get_group_snapshots(group_id=self.id))

    @property
    def consistent(self) -> bool:
        """Whether its type asks for consistent group snapshots."""
        from volumelib.backend import spec_is_true
        return spec_is_true(self.group_type, "consistent_group_snapshot_enabled")

    def info(self) -> dict[str, Any]:
        """The ``group`` dictionary handed to the driver's CG interface."""
        return {"id": self.id, "name": self.name, "status": self.status,
                "group_type": dict(self.group_type), "backend_name": self.backend_name}

    def _require(self, status: str, action: str) -> None:
        if self.status == Status.DELETED or self.deleted:
            raise exc.GroupNotFound(group_id=self.id)
        if self.status != status:
            raise exc.InvalidState(resource=f"Group {self.id}", status=self.status,
                                   reason=f"{action} needs {status}")

    def update(self, add_volumes: Any = (), remove_volumes: Any = ()) -> None:
        """Add and remove volumes (objects or ids). A volume is in one group at most."""
        from volumelib.groups import operations
        operations.update_group(self, add_volumes=add_volumes, remove_volumes=remove_volumes)

    def create_snapshot(self, name: str | None = None, description: str | None = None,
                        id: str | None = None) -> GroupSnapshot:
        """Snapshot every volume of the group; atomically when the driver can
        (``GroupSnapshot.consistent`` tells)."""
        from volumelib.groups import operations
        return operations.create_group_snapshot(self, name=name, description=description,
                                                id=id)

    def delete(self, delete_volumes: bool = False) -> None:
        """Delete the group (and its volumes with ``delete_volumes=True``).

        Raises:
            GroupNotFound: already deleted.
            InvalidState: it has group snapshots, or volumes and not ``delete_volumes``.
            VolumeInUse: a volume is connected.
        """
        from volumelib.groups import operations
        operations.delete_group(self, delete_volumes=delete_volumes)


class GroupSnapshot(StoredObject):
    """Snapshots of every volume of a group, taken together."""

    VERSION = "1.0"
    fields = {
        "id": fields.UUID(),
        "name": fields.String(nullable=True),
        "description": fields.String(nullable=True),
        "status": fields.String(default=Status.CREATING),
        "group_id": fields.String(),
        "group_type": fields.DictOfNullableStrings(default={}),
        "project_id": fields.String(nullable=True),
        "user_id": fields.String(nullable=True),
        "backend_name": fields.String(nullable=True),
        #: Taken atomically by the driver (True) or volume by volume by the library's
        #: fallback (False).
        "consistent": fields.Boolean(default=False),
        **TIMESTAMP_FIELDS,
    }

    def _backend_name(self) -> str | None:
        return self.backend_name

    @property
    def snapshots(self) -> list[Snapshot]:
        """The member snapshots, one per volume, from the store."""
        return self._bound(self.persistence.get_snapshots(group_snapshot_id=self.id))

    @property
    def group(self) -> Group:
        found = self.persistence.get_groups(group_id=self.group_id)
        if not found:
            raise exc.GroupNotFound(group_id=self.group_id)
        found[0]._bind(self.__dict__.get("_backend"))
        return found[0]

    def info(self) -> dict[str, Any]:
        """The ``cgsnapshot`` dictionary handed to the driver's CG interface."""
        return {"id": self.id, "name": self.name, "status": self.status,
                "group_id": self.group_id, "backend_name": self.backend_name}

    def delete(self) -> None:
        """Delete the group snapshot and its member snapshots.

        Raises:
            GroupSnapshotNotFound: already deleted.
        """
        from volumelib.groups import operations
        operations.delete_group_snapshot(self)
