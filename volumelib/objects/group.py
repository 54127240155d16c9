"""``Group`` and ``GroupSnapshot``: volumes snapshotted together.

(The records and their storage; the operations come with the consistency-group work.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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
        return [v for v in self.persistence.get_volumes(backend_name=self.backend_name)
                if v.group_id == self.id]


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
        **TIMESTAMP_FIELDS,
    }

    def _backend_name(self) -> str | None:
        return self.backend_name

    @property
    def snapshots(self) -> list[Snapshot]:
        return [s for s in self.persistence.get_snapshots()
                if s.group_snapshot_id == self.id]
