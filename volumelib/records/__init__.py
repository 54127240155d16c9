"""Stored records: what every kind a store keeps shares, and the kinds without a
life cycle of their own.

* :mod:`.stored`: :class:`StoredObject` (its store, its backend, saving with
  compare-and-set, JSON) and :class:`Status`;
* :mod:`.key_value`: :class:`KeyValue`;
* :mod:`.volume_type`: :class:`VolumeType` and the one resolver of a ``volume_type``
  argument;
* :mod:`.control`: the control plane's :class:`Pool`, :class:`Lease` and
  :class:`Quota`;
* :mod:`.subscription`: :class:`Subscription`, where events are delivered.

The resources with life cycles (volumes, snapshots...) are in :mod:`volumelib.objects`;
leases and quotas (:mod:`volumelib.control`) sit between the two.
"""

from volumelib.records.control import Lease, Pool, Quota
from volumelib.records.key_value import KeyValue
from volumelib.records.stored import Status, StoredObject
from volumelib.records.subscription import Subscription
from volumelib.records.volume_type import VolumeType

__all__ = ["StoredObject", "Status", "KeyValue", "VolumeType", "Pool", "Lease", "Quota",
           "Subscription"]
