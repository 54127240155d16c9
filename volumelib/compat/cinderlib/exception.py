"""cinderlib's exception names, as volumelib exceptions.

Everything here derives from ``volumelib.VolumelibError``; the names are those
cinderlib scripts catch (``cinderlib.exception.NotLocal``...).
"""

from __future__ import annotations

from volumelib import exceptions as exc

__all__ = ["NotLocal", "NotFound", "VolumeNotFound", "SnapshotNotFound", "ConnectionNotFound",
           "InvalidVolume", "BackendNotFound"]


class NotLocal(exc.InvalidState):
    """``vol.detach()`` on a volume that is not attached on this host."""

    msg_fmt = "Volume %(volume_id)s doesn't seem to be attached locally."


#: The base of every "not found" (Ember-CSI catches ``cinderlib.exception.NotFound``).
NotFound = exc.NotFound
VolumeNotFound = exc.VolumeNotFound
SnapshotNotFound = exc.SnapshotNotFound
ConnectionNotFound = exc.ConnectionNotFound
BackendNotFound = exc.BackendNotFound
#: cinderlib raised InvalidVolume for "cannot delete a volume with snapshots".
InvalidVolume = exc.InvalidState
