"""The resources: stored objects with a life cycle, one module each.

* :mod:`.resource`: what they share: operations under leases, the one delete path;
  :mod:`.driver_calls`: the library side of every driver call.
* :mod:`.connection`, :mod:`.snapshot`, :mod:`.volume` (with the one create flow),
  :mod:`.group_snapshot`, :mod:`.group` (with :mod:`.group_calls` and the status
  rules of :mod:`.group_status`).

The records they build on (:class:`StoredObject`, key-values, volume types, pools,
leases, quotas) are in :mod:`volumelib.records`, and re-exported here.
"""

from volumelib.objects.connection import Connection, ConnectionStatus
from volumelib.objects.group import Group
from volumelib.objects.group_snapshot import GroupSnapshot
from volumelib.objects.snapshot import Snapshot
from volumelib.objects.volume import Volume
from volumelib.records import (
                               KeyValue,
                               Lease,
                               Pool,
                               Quota,
                               Status,
                               StoredObject,
                               Subscription,
                               VolumeType,
)
from volumelib.versioned import VersionedObject

__all__ = ["VersionedObject", "StoredObject", "Status", "Volume", "Snapshot",
           "Connection", "ConnectionStatus", "Group", "GroupSnapshot", "KeyValue",
           "VolumeType", "Pool", "Lease", "Quota", "Subscription"]
