"""Cinder's stats dict to volumelib's :class:`BackendStats`, and the capabilities a
Cinder driver declares through what its class implements and what it reports.

Cinder drivers report either one pool's figures at the top level or a ``pools`` list.
Cinder's volume manager, not the driver, adds ``allocated_capacity_gb`` and the
scheduler counts the volumes; here the adapter fills ``total_volumes`` and (when the
driver does not report it) ``provisioned_capacity_gb`` from the driver's own listing
of volumelib's volumes on the storage, when it can list them.

=============================  ===========================================================
capability                     declared when
=============================  ===========================================================
``thin``                       a pool reports ``thin_provisioning_support``
``clone``                      the class implements ``create_cloned_volume``
``revert_to_snapshot``         the class implements ``revert_to_snapshot``
``online_extend``              no pool reports ``online_extend_support: False``
``multiattach``                a pool reports ``multiattach``
``consistent_group_snapshot``  the class implements ``create_group_snapshot`` and a pool
                               reports ``consistent_group_snapshot_enabled``
``local_attach``               root, and os-brick attaches the protocol on this host
                               without a kernel client it may lack: Ceph (userspace RBD)
=============================  ===========================================================
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from volumelib.drivers.types import BackendStats, Capability, PoolStats

__all__ = ["to_backend_stats", "capabilities", "implements", "LOCAL_ATTACH_PROTOCOLS"]

#: Storage protocols (Cinder's names, lower case) whose os-brick connector attaches
#: here with no kernel client: the RBD connector's userspace handle.
LOCAL_ATTACH_PROTOCOLS = frozenset({"ceph", "rbd"})

_POOL_FIELDS = {"pool_name", "total_capacity_gb", "free_capacity_gb",
                "provisioned_capacity_gb", "allocated_capacity_gb", "total_volumes",
                "thin_provisioning_support", "thick_provisioning_support",
                "max_over_subscription_ratio", "reserved_percentage", "multiattach"}
_TOP_ONLY = {"vendor_name", "driver_version", "storage_protocol", "volume_backend_name",
             "pools"}


def implements(cinder_cls: type, name: str) -> bool:
    """Whether ``cinder_cls`` overrides Cinder's base implementation of ``name``."""
    # Cinder's driver base (imported already: ``cinder_cls`` is one of its drivers).
    from cinder.volume import driver as cinder_driver
    method = getattr(cinder_cls, name, None)
    if method is None:
        return False
    return not any(method is getattr(base, name, None)
                   for base in (cinder_driver.BaseVD, cinder_driver.VolumeDriver))


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        value = value.strip()
        if value.lower().startswith("<is>"):
            value = value[4:].strip()
        return value.lower() in ("true", "1", "yes")
    return bool(value)


def raw_pools(stats: Mapping[str, Any], default_name: str) -> list[dict[str, Any]]:
    """The pools of a Cinder stats dict (one built from the top level if none)."""
    pools = stats.get("pools")
    if pools:
        return [dict(p) for p in pools]
    pool = {k: v for k, v in stats.items() if k not in _TOP_ONLY}
    pool.setdefault("pool_name", default_name)
    return [pool]


def _number(value: Any, default: float = 0.0) -> float | str:
    if isinstance(value, str) and value.lower() in ("unknown", "infinite"):
        return value.lower()
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def _gb(value: Any) -> float:
    number = _number(value, 0.0)
    return number if isinstance(number, float) else 0.0


def to_backend_stats(stats: Mapping[str, Any], *, backend_name: str, vendor: str,
                     version: str, protocol: str, volumes: int | None = None,
                     provisioned_gb: float | None = None) -> BackendStats:
    """Map Cinder's stats dict to :class:`BackendStats`.

    Args:
        volumes, provisioned_gb: the adapter's count and sum of sizes of volumelib's
            volumes on the storage (``None``: unknown), put in the first pool.
    """
    pools = []
    for i, raw in enumerate(raw_pools(stats, backend_name)):
        extra = {k: v for k, v in raw.items() if k not in _POOL_FIELDS}
        provisioned = raw.get("provisioned_capacity_gb")
        if provisioned is None and i == 0 and provisioned_gb is not None:
            provisioned = provisioned_gb
        count = raw.get("total_volumes")
        if count is None and i == 0 and volumes is not None:
            count = volumes
        ratio = _number(raw.get("max_over_subscription_ratio"), 1.0)
        pools.append(PoolStats(
            pool_name=str(raw.get("pool_name") or backend_name),
            total_capacity_gb=_number(raw.get("total_capacity_gb"), 0.0),
            free_capacity_gb=_number(raw.get("free_capacity_gb"), 0.0),
            provisioned_capacity_gb=_gb(provisioned),
            allocated_capacity_gb=float(raw.get("allocated_capacity_gb") or 0.0),
            total_volumes=int(count or 0),
            thin_provisioning_support=_truthy(raw.get("thin_provisioning_support", False)),
            thick_provisioning_support=_truthy(raw.get("thick_provisioning_support",
                                                       not raw.get(
                                                           "thin_provisioning_support"))),
            max_over_subscription_ratio=ratio if isinstance(ratio, float) else 1.0,
            reserved_percentage=int(raw.get("reserved_percentage") or 0),
            multiattach=_truthy(raw.get("multiattach", False)),
            extra=extra))
    # Top-level keys went into the pool when there is no pools list.
    top_extra = {k: v for k, v in stats.items() if k not in _TOP_ONLY} \
        if stats.get("pools") else {}
    return BackendStats(volume_backend_name=backend_name,
                        vendor_name=str(stats.get("vendor_name") or vendor),
                        driver_version=str(stats.get("driver_version") or version),
                        storage_protocol=str(stats.get("storage_protocol") or protocol),
                        pools=pools, extra=top_extra)


def capabilities(cinder_cls: type, stats: Mapping[str, Any] | None, protocol: str,
                 is_root: bool) -> frozenset[Capability]:
    """What a Cinder driver declares: see the module docstring's table."""
    pools: Iterable[Mapping[str, Any]] = raw_pools(stats or {}, "pool")
    pools = list(pools)
    caps: set[Capability] = set()
    if implements(cinder_cls, "create_cloned_volume"):
        caps.add(Capability.CLONE)
    if implements(cinder_cls, "revert_to_snapshot"):
        caps.add(Capability.REVERT_TO_SNAPSHOT)
    if stats is not None:
        if any(_truthy(p.get("thin_provisioning_support")) for p in pools):
            caps.add(Capability.THIN)
        if not any(p.get("online_extend_support") is False or
                   (isinstance(p.get("online_extend_support"), str) and
                    not _truthy(p["online_extend_support"])) for p in pools):
            caps.add(Capability.ONLINE_EXTEND)
        if any(_truthy(p.get("multiattach")) for p in pools):
            caps.add(Capability.MULTIATTACH)
        if implements(cinder_cls, "create_group_snapshot") and any(
                _truthy(p.get("consistent_group_snapshot_enabled")) for p in pools):
            caps.add(Capability.CONSISTENT_GROUP_SNAPSHOT)
    if is_root and protocol.lower() in LOCAL_ATTACH_PROTOCOLS:
        caps.add(Capability.LOCAL_ATTACH)
    return frozenset(caps)
