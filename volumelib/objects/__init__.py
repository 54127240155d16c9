"""The user-facing objects, one module each."""

from volumelib.objects.base import VersionedObject
from volumelib.objects.common import Status, StoredObject
from volumelib.objects.connection import Connection, ConnectionStatus
from volumelib.objects.control import Lease, Pool, Quota
from volumelib.objects.group import Group, GroupSnapshot
from volumelib.objects.misc import KeyValue, VolumeType
from volumelib.objects.snapshot import Snapshot
from volumelib.objects.volume import Volume

__all__ = ["VersionedObject", "StoredObject", "Status", "Volume", "Snapshot",
           "Connection", "ConnectionStatus", "Group", "GroupSnapshot", "KeyValue",
           "VolumeType", "Pool", "Lease", "Quota"]
