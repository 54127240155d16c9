"""Typed value objects that cross the driver boundary.

Drivers never see volumelib's user objects (``Volume``, ``Snapshot``...). They get
frozen snapshots of the data they need (:class:`VolumeInfo`, :class:`SnapshotInfo`)
and return typed results (:class:`ConnectionInfo`, :class:`BackendStats`). Every class
has ``to_dict``/``from_dict`` for the wire; vendor extras go in an explicit ``extra``
mapping instead of stray keys.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from typing import Any

from volumelib.exceptions import InvalidArgument

__all__ = [
    "Capability",
    "VolumeInfo",
    "SnapshotInfo",
    "ConnectorProperties",
    "ConnectionInfo",
    "PoolStats",
    "BackendStats",
    "SECRET_KEYS",
    "redact",
]

#: Keys whose values are secrets wherever they appear in a mapping.
SECRET_KEYS = frozenset({
    "auth_password", "password", "secret", "keyring", "key", "auth_key",
    "discovery_auth_password", "provider_auth", "chap_password", "access_key",
    "secret_key", "token",
})

REDACTED = "***"


def redact(value: Any) -> Any:
    """Return a copy of ``value`` with the values of secret keys replaced by ``***``."""
    if isinstance(value, Mapping):
        return {k: (REDACTED if (isinstance(k, str) and k.lower() in SECRET_KEYS
                                 and v is not None) else redact(v))
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact(v) for v in value)
    return value


class Capability(str, enum.Enum):
    """What a driver declares it can do. The library checks these before calling."""

    THIN = "thin"
    CLONE = "clone"
    REFLINK = "reflink"
    COW_SNAPSHOT = "cow_snapshot"
    ONLINE_EXTEND = "online_extend"
    MULTIATTACH = "multiattach"
    REVERT_TO_SNAPSHOT = "revert_to_snapshot"
    CONSISTENT_GROUP_SNAPSHOT = "consistent_group_snapshot"
    LOCAL_ATTACH = "local_attach"
    #: Adopts storage objects made outside volumelib as volumes (``manage_existing``,
    #: ``get_manageable_volumes``, ``unmanage``).
    MANAGE_EXISTING = "manage_existing"
    #: Adopts snapshots made outside volumelib (``manage_existing_snapshot``...).
    MANAGE_EXISTING_SNAPSHOT = "manage_existing_snapshot"
    #: Moves a volume to another backend itself (``migrate_volume``), for the targets
    #: it says it can reach; the library copies through this host otherwise.
    MIGRATE = "migrate"
    #: Adjusts a volume in place when its type changes (``retype``, QoS...).
    RETYPE = "retype"
    #: Tells which ranges of a volume hold data (``get_allocated_extents``), so a
    #: host-assisted copy reads only those.
    ALLOCATION_MAP = "allocation_map"

    def __str__(self) -> str:
        return self.value


#: A driver's answer to a create or an export: ``provider_location``, ``provider_id``
#: and (volumes only) ``provider_auth`` to save on the resource, or ``None``. Other
#: keys are ignored.
ModelUpdate = Mapping[str, Any] | None


def _plain(obj: Any) -> dict[str, Any]:
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}


@dataclasses.dataclass(frozen=True)
class VolumeInfo:
    """What a driver knows of a volume.

    Attributes:
        id: the volume's UUID; drivers name their storage objects after it.
        size: size in GiB.
        name: the user's display name (never use it for paths).
        provider_location: where the driver said the volume lives (from an earlier update).
        provider_id: the driver's own id for it, if any.
        metadata: user metadata.
        volume_type: the type's extra specs (Cinder syntax, e.g. ``{"multiattach": "<is> True"}``).
        multiattach: whether several connections are allowed.
    """

    id: str
    size: int
    name: str | None = None
    provider_location: str | None = None
    provider_id: str | None = None
    metadata: Mapping[str, str] = dataclasses.field(default_factory=dict)
    volume_type: Mapping[str, str] = dataclasses.field(default_factory=dict)
    multiattach: bool = False
    group_id: str | None = None
    #: Credentials the driver saved at export (``"CHAP user password"``); never shown.
    provider_auth: str | None = dataclasses.field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        d = _plain(self)
        d["metadata"] = dict(self.metadata)
        d["volume_type"] = dict(self.volume_type)
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VolumeInfo:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclasses.dataclass(frozen=True)
class SnapshotInfo:
    """What a driver knows of a snapshot: its own data and its source volume's."""

    id: str
    volume_id: str
    volume_size: int
    volume: VolumeInfo
    name: str | None = None
    provider_location: str | None = None
    provider_id: str | None = None
    group_snapshot_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = _plain(self)
        d["volume"] = self.volume.to_dict()
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SnapshotInfo:
        names = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in data.items() if k in names}
        kw["volume"] = VolumeInfo.from_dict(data["volume"])
        return cls(**kw)


@dataclasses.dataclass
class ConnectorProperties:
    """The host that wants to attach: os-brick's connector properties, typed.

    Known keys become attributes; the rest (``nqn``, ``wwpns``, ...) stay in ``extra``
    and come back out of :meth:`to_dict`, so nothing os-brick reports is lost.
    :meth:`from_dict`, which every connection request goes through, requires ``host``.
    """

    host: str | None = None
    ip: str | None = None
    initiator: str | None = None
    multipath: bool = False
    platform: str | None = None
    os_type: str | None = None
    do_local_attach: bool = False
    #: ``rw`` or ``ro``: how this connection will use the volume (set by the library
    #: from ``vol.connect(..., attach_mode=)``); a driver honours ``ro`` by exporting
    #: read-only and saying ``access_mode: ro`` in the connection info.
    attach_mode: str = "rw"
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = _plain(self)
        extra = d.pop("extra")
        d = {k: v for k, v in d.items() if v is not None}
        d.update(extra)
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | ConnectorProperties, *,
                  require_host: bool = True) -> ConnectorProperties:
        """Parse (and check) the properties a host sent.

        Args:
            data: os-brick's connector properties (a mapping), or a
                :class:`ConnectorProperties`, which is checked and returned as is.
            require_host: refuse properties without a ``host`` (a non-empty string
                naming the host that will attach). Only for connectors read back from
                a record written before that rule may a caller pass ``False``.

        Returns:
            The typed properties; unknown keys are kept in ``extra``.

        Raises:
            InvalidArgument: not a mapping, a known key with the wrong type, or (with
                ``require_host``) no ``host``; the message names what was given.
        """
        if isinstance(data, ConnectorProperties):
            if require_host:
                _check_host(data.host, data.to_dict())
            return data
        if not isinstance(data, Mapping):
            raise InvalidArgument(
                reason=f"connector properties must be a mapping, not {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        known = {k: v for k, v in data.items() if k in names}
        extra = {k: v for k, v in data.items() if k not in names}
        for key, value in known.items():
            _check_connector_value(key, value)
        if require_host:
            _check_host(known.get("host"), data)
        return cls(extra=extra, **{k: v for k, v in known.items() if v is not None})


#: Types of the connector properties the library reads (``None``: not given). Other
#: keys os-brick reports (``nqn``, ``uuid``, ``wwpns``, ``found_dsc``...) are kept as
#: they are, unchecked.
_CONNECTOR_TYPES: dict[str, type] = {
    "host": str, "ip": str, "initiator": str, "platform": str, "os_type": str,
    "attach_mode": str, "multipath": bool, "do_local_attach": bool,
}


def _check_connector_value(key: str, value: Any) -> None:
    """Raise ``InvalidArgument`` naming ``key`` and ``value`` when it has the wrong type."""
    wanted = _CONNECTOR_TYPES.get(key)
    if wanted is None or value is None or type(value) is wanted:
        return
    what = "true or false" if wanted is bool else "a string"
    raise InvalidArgument(reason=f"connector property {key!r} must be {what}, "
                                 f"not {value!r:.80}")


def _check_host(host: Any, given: Mapping[str, Any]) -> None:
    """Raise ``InvalidArgument`` unless ``host`` is a non-blank string: a connection
    is made for one host (it is recorded, and a node finds its connections by it)."""
    if isinstance(host, str) and host.strip():
        return
    what = "no 'host'" if host is None else f"'host' {host!r:.80}"
    shown = redact(dict(given))
    raise InvalidArgument(
        reason=f"connector properties need a 'host' naming the host that will attach "
               f"(a non-empty string, as volumelib.get_connector_properties() gives); "
               f"got {what} in {shown!r:.300}")


@dataclasses.dataclass
class ConnectionInfo:
    """The Cinder/os-brick connection info: ``{"driver_volume_type": ..., "data": {...}}``.

    ``data`` holds the protocol's usual keys (``local``: ``device_path``; ``iscsi``:
    ``target_iqn``, ``target_portal``, ``target_lun``, ``auth_*``; ``rbd``: ``name``,
    ``hosts``, ``ports``...). ``repr`` redacts secrets.
    """

    driver_volume_type: str
    data: dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"driver_volume_type": self.driver_volume_type, "data": dict(self.data)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ConnectionInfo:
        if isinstance(data, ConnectionInfo):
            return data
        if not isinstance(data, Mapping) or "driver_volume_type" not in data:
            raise InvalidArgument(
                reason=f"connection info needs a driver_volume_type: {redact(data)!r}")
        return cls(driver_volume_type=data["driver_volume_type"],
                   data=dict(data.get("data") or {}))

    def __repr__(self) -> str:
        return (f"ConnectionInfo(driver_volume_type={self.driver_volume_type!r}, "
                f"data={redact(self.data)!r})")


@dataclasses.dataclass
class PoolStats:
    """One pool in Cinder's stats format (sizes in GiB)."""

    pool_name: str
    total_capacity_gb: float | str = 0.0
    free_capacity_gb: float | str = 0.0
    provisioned_capacity_gb: float = 0.0
    allocated_capacity_gb: float = 0.0
    total_volumes: int = 0
    thin_provisioning_support: bool = False
    thick_provisioning_support: bool = True
    max_over_subscription_ratio: float = 1.0
    reserved_percentage: int = 0
    multiattach: bool = False
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = _plain(self)
        d.update(d.pop("extra"))
        return d


@dataclasses.dataclass
class BackendStats:
    """A backend's stats in Cinder's format; ``to_dict`` gives what storage people read."""

    volume_backend_name: str
    vendor_name: str
    driver_version: str
    storage_protocol: str
    pools: list[PoolStats] = dataclasses.field(default_factory=list)
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "volume_backend_name": self.volume_backend_name,
            "vendor_name": self.vendor_name,
            "driver_version": self.driver_version,
            "storage_protocol": self.storage_protocol,
            "pools": [p.to_dict() for p in self.pools],
        }
        d.update(self.extra)
        return d
