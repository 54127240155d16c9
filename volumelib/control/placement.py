"""Placement: which pool gets a new volume. Pure functions over plain data.

The control plane hands this module a :class:`PlacementRequest` (size and the volume
type's extra specs) and one :class:`PoolState` per registered pool (its stored
weight, ``enabled`` flag, declared capabilities and the Cinder stats its backend
reported). Nothing here touches a store or a driver, so every rule is tested by a
table (``tests/unit/test_placement.py``).

Filters, in this order; the first that rejects a pool gives its reason:

==================  ===================================================================
filter              a pool passes when
==================  ===================================================================
``enabled``         the pool is enabled (a disabled pool is never chosen, pinned or not)
``alive``           its backend answered (stats could be read)
``backend_name``    the type's ``volume_backend_name`` spec, if any, names it (a plain
                    name, or ``"<or> a <or> b"``); such a type *pins* the pool
``weight``          its weight is above 0 -- unless the type pins it: weight 0 drains a
                    pool of new volumes, but a type that names it still reaches it
``pool_name``       its name matches the ``pool_name_pattern`` spec, a shell-style glob
                    (``fnmatch``, case-sensitive: ``ssd-*``, ``rack[12]-?``). Globs, not
                    regular expressions: pool names are short identifiers, globs are
                    what operators already write for them and cannot backtrack badly
``capabilities``    every other extra spec matches the pool's capabilities, in Cinder's
                    syntax (below)
``capacity``        the size fits the free capacity of one of the backend's Cinder pools
                    (reserved percentage kept back; thin pools may over-subscribe up to
                    ``max_over_subscription_ratio``)
==================  ===================================================================

Weighing (of the pools that passed): higher weight first, then more free capacity
(virtual free capacity for thin pools), then the name, so equal pools are always
ranked the same way.

**Extra specs.** Keys are matched against the pool's capabilities: every
:class:`~volumelib.drivers.types.Capability` the driver declares is ``True`` under
its own name (``thin``, ``reflink``, ``multiattach``...) and under Cinder's names
(``thin_provisioning_support``, ``multiattach``, ``consistent_group_snapshot_enabled``,
``online_extend_support``, ``revert_to_snapshot_support``); an undeclared one is
``False``; the keys of the backend's Cinder stats (``storage_protocol``,
``vendor_name``, ``total_capacity_gb``...) are there too. Values are Cinder's spec
syntax, parsed by :mod:`volumelib.specs` (``"<is> True"``, ``"<or> a <or> b"``,
``">= 10"``...).

A key scoped ``capabilities:`` is matched without its scope; other scopes
(``qos:``, ``provisioning:``, ``volumelib:``...) are not capabilities and are not
matched (``provisioning:type`` = ``thick`` asks the capacity filter for thick
provisioning). An unscoped key the pool does not report rejects the pool, as in
Cinder.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from volumelib import exceptions as exc
from volumelib.drivers.types import Capability
from volumelib.specs import POOL_NAME_PATTERN, as_number, match_spec

__all__ = ["PoolState", "PlacementRequest", "Candidate", "place", "evaluate", "select",
           "no_valid_backend",
           "pool_capabilities", "pinned_pools", "check_capabilities", "type_mismatch",
           "capacity_check", "FILTERS", "POOL_NAME_PATTERN"]

LOG = logging.getLogger(__name__)

#: Cinder's names for the capabilities volumelib declares.
CINDER_NAMES: dict[str, str] = {
    "thin_provisioning_support": "thin",
    "multiattach": "multiattach",
    "consistent_group_snapshot_enabled": "consistent_group_snapshot",
    "online_extend_support": "online_extend",
    "revert_to_snapshot_support": "revert_to_snapshot",
}

#: Spec keys that are not capabilities (handled by their own filters or by drivers).
_NOT_CAPABILITIES = frozenset({"volume_backend_name", POOL_NAME_PATTERN})

#: Scopes that name capabilities; any other ``scope:key`` is skipped.
_CAPABILITY_SCOPE = "capabilities"

@dataclasses.dataclass(frozen=True)
class PoolState:
    """What placement knows of one pool.

    Attributes:
        name: the pool's name (its backend's ``volume_backend_name``).
        weight: the stored weight (0 drains the pool).
        enabled: disabled pools are never chosen.
        capabilities: the capabilities its driver declared (``Capability`` values).
        stats: the backend's stats in Cinder's format (a dict with ``pools``, or one
            pool's dict); ``None`` when the backend did not answer.
        error: why there are no stats (for the ``alive`` filter's reason).
    """

    name: str
    weight: float = 1.0
    enabled: bool = True
    capabilities: frozenset[str] = frozenset()
    stats: Mapping[str, Any] | None = None
    error: str | None = None

    def __post_init__(self) -> None:
        # Capability members or plain strings: compare as their string values.
        object.__setattr__(self, "capabilities",
                           frozenset(str(c) for c in self.capabilities))


@dataclasses.dataclass(frozen=True)
class PlacementRequest:
    """A volume to place.

    Attributes:
        size: GiB.
        extra_specs: the volume type's extra specs (Cinder syntax).
        volume_type: the type's name, for messages.
    """

    size: int
    extra_specs: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    volume_type: str | None = None

    def describe(self) -> str:
        kind = f" of type {self.volume_type!r}" if self.volume_type else ""
        specs = f" with specs {dict(self.extra_specs)!r}" if self.extra_specs else ""
        return f"a {self.size} GiB volume{kind}{specs}"


@dataclasses.dataclass(frozen=True)
class Candidate:
    """A pool that passed every filter, with what it was weighed by.

    Attributes:
        name: the pool.
        weight: its weight.
        free_gb: free capacity in GiB as the capacity filter computed it (virtual for
            thin pools; ``math.inf`` for an infinite or unknown capacity).
        stats_pool: the name of the backend's Cinder pool that fits.
    """

    name: str
    weight: float
    free_gb: float
    stats_pool: str | None = None


# -- capabilities ---------------------------------------------------------------------

def _stats_pools(stats: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The Cinder pools of a backend's stats (a single pool's dict is its own pool)."""
    pools = stats.get("pools")
    if isinstance(pools, list) and pools:
        return [p for p in pools if isinstance(p, Mapping)]
    return [stats]


_CAPABILITY_NAMES = tuple(c.value for c in Capability)


def pool_capabilities(pool: PoolState) -> dict[str, Any]:
    """The mapping extra specs are matched against (see the module docstring)."""
    caps: dict[str, Any] = {}
    if pool.stats is not None:
        backend_level = {k: v for k, v in pool.stats.items() if k != "pools"}
        caps.update(backend_level)
        # Pool-level stats of the first Cinder pool (file and fake backends have one).
        caps.update(_stats_pools(pool.stats)[0])
    declared = pool.capabilities
    for name in _CAPABILITY_NAMES:
        caps[name] = name in declared
    for cinder_name, ours in CINDER_NAMES.items():
        caps[cinder_name] = ours in declared
    caps["volume_backend_name"] = pool.name
    caps.pop("pool_name", None)
    return caps


def _capability_specs(extra_specs: Mapping[str, Any]) -> dict[str, Any]:
    """The specs the capabilities filter checks, with ``capabilities:`` scopes removed."""
    out: dict[str, Any] = {}
    for key, value in extra_specs.items():
        if key in _NOT_CAPABILITIES:
            continue
        if ":" in key:
            scope, _, name = key.partition(":")
            if scope != _CAPABILITY_SCOPE:
                continue
            key = name
        out[key] = value
    return out


def check_capabilities(pool: PoolState, extra_specs: Mapping[str, Any]) -> str | None:
    """The capabilities filter: ``None`` if every spec matches, else why not."""
    caps = pool_capabilities(pool)
    for key, spec in sorted(_capability_specs(extra_specs).items()):
        if key not in caps:
            return f"capabilities: does not report {key!r} (type wants {spec!r})"
        if not match_spec(caps[key], spec):
            return f"capabilities: {key} is {caps[key]!r}, type wants {spec!r}"
    return None


def pinned_pools(extra_specs: Mapping[str, Any]) -> frozenset[str] | None:
    """The pools a type's ``volume_backend_name`` spec names, or ``None`` if it names none."""
    value = extra_specs.get("volume_backend_name")
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    if text.startswith("<or>"):
        return frozenset(p.strip() for p in text.split("<or>") if p.strip())
    if text.startswith("s=="):
        text = text[3:].strip()
    return frozenset({text})


# -- capacity -------------------------------------------------------------------------

def _capacity_of(stats_pool: Mapping[str, Any], size: int, thick: bool
                 ) -> tuple[float | None, str]:
    """``(free GiB after the request, detail)`` if ``size`` fits, else ``(None, why)``."""
    total = stats_pool.get("total_capacity_gb")
    free = stats_pool.get("free_capacity_gb")
    if isinstance(free, str) and free.lower() in ("infinite", "unknown"):
        return math.inf, f"free capacity is {free}"
    if isinstance(total, str) and total.lower() in ("infinite", "unknown"):
        return math.inf, f"total capacity is {total}"
    free_gb = as_number(free)
    total_gb = as_number(total)
    if free_gb is None or total_gb is None:
        return None, f"reports no capacity (total {total!r}, free {free!r})"
    reserved_pct = as_number(stats_pool.get("reserved_percentage")) or 0.0
    reserved = math.floor(total_gb * reserved_pct / 100.0)
    available = free_gb - reserved
    thin = bool(stats_pool.get("thin_provisioning_support")) and not thick
    ratio = as_number(stats_pool.get("max_over_subscription_ratio")) or 1.0
    if thin and ratio >= 1.0:
        provisioned = as_number(stats_pool.get("provisioned_capacity_gb")) or 0.0
        if total_gb <= 0:
            return None, "total capacity is 0 GiB"
        provisioned_ratio = (provisioned + size) / total_gb
        if provisioned_ratio > ratio:
            return None, (f"thin: {provisioned:g} GiB provisioned + {size} GiB would be "
                          f"{provisioned_ratio:.2f} times the {total_gb:g} GiB total, over "
                          f"max_over_subscription_ratio {ratio:g}")
        virtual_free = available * ratio
        if virtual_free < size:
            return None, (f"thin: {available:g} GiB free after {reserved:g} GiB reserved, "
                          f"times ratio {ratio:g} is {virtual_free:g} GiB < {size} GiB")
        return virtual_free, "thin"
    if available < size:
        return None, (f"{available:g} GiB free after {reserved:g} GiB reserved "
                      f"({reserved_pct:g}%) < {size} GiB")
    return available, "thick"


def capacity_check(pool: PoolState, size: int, thick: bool = False
                   ) -> tuple[float, str | None] | str:
    """The capacity filter: ``(free GiB, Cinder pool name)`` of the roomiest Cinder pool
    of the backend that fits, or the reason none does (a string)."""
    if pool.stats is None:
        return "capacity: no stats"
    best: tuple[float, str | None] | None = None
    why: list[str] = []
    for stats_pool in _stats_pools(pool.stats):
        if thick and stats_pool.get("thick_provisioning_support") is False:
            why.append("thick provisioning requested, pool is thin only")
            continue
        free, detail = _capacity_of(stats_pool, size, thick)
        if free is None:
            why.append(detail)
        elif best is None or free > best[0]:
            best = (free, stats_pool.get("pool_name"))
    if best is None:
        return "capacity: " + "; ".join(why or ["no pools in the stats"])
    return best


# -- the filters ------------------------------------------------------------------------

def _filter_enabled(pool: PoolState, request: PlacementRequest, pinned: Any) -> str | None:
    return None if pool.enabled else "enabled: the pool is disabled"


def _filter_alive(pool: PoolState, request: PlacementRequest, pinned: Any) -> str | None:
    if pool.stats is not None:
        return None
    return f"alive: the backend did not report stats ({pool.error or 'no reason given'})"


def _filter_backend_name(pool: PoolState, request: PlacementRequest,
                         pinned: frozenset[str] | None) -> str | None:
    if pinned is None or pool.name in pinned:
        return None
    return (f"backend_name: the type's volume_backend_name "
            f"{request.extra_specs.get('volume_backend_name')!r} does not name it")


def _filter_weight(pool: PoolState, request: PlacementRequest,
                   pinned: frozenset[str] | None) -> str | None:
    if pool.weight > 0 or (pinned is not None and pool.name in pinned):
        return None
    return f"weight: {pool.weight:g} (the pool is drained; only a type naming it reaches it)"


def _filter_pool_name(pool: PoolState, request: PlacementRequest, pinned: Any) -> str | None:
    pattern = request.extra_specs.get(POOL_NAME_PATTERN)
    if pattern is None or fnmatch.fnmatchcase(pool.name, str(pattern)):
        return None
    return f"pool_name: {pool.name!r} does not match the glob {str(pattern)!r}"


def _filter_capabilities(pool: PoolState, request: PlacementRequest,
                         pinned: Any) -> str | None:
    return check_capabilities(pool, request.extra_specs)


def type_mismatch(pool: PoolState, extra_specs: Mapping[str, Any]) -> str | None:
    """Why ``pool`` cannot serve a type with ``extra_specs`` (its name pattern and
    capabilities; not its capacity, weight or state), or ``None`` if it can."""
    request = PlacementRequest(size=1, extra_specs=extra_specs)
    return (_filter_pool_name(pool, request, None)
            or _filter_capabilities(pool, request, None))


#: The filters in the order they run: ``(name, function)``; a function returns the
#: reason it rejects a pool, or ``None``. The capacity filter runs last, in :func:`place`.
FILTERS = (
    ("enabled", _filter_enabled),
    ("alive", _filter_alive),
    ("backend_name", _filter_backend_name),
    ("weight", _filter_weight),
    ("pool_name", _filter_pool_name),
    ("capabilities", _filter_capabilities),
)


def _thick(extra_specs: Mapping[str, Any]) -> bool:
    return str(extra_specs.get("provisioning:type", "")).strip().lower() == "thick"


def place(request: PlacementRequest, pools: Iterable[PoolState]) -> list[Candidate]:
    """Every pool that can take ``request``, best first.

    Raises:
        InvalidSize: ``size`` is not a positive integer.
        InvalidArgument: a malformed spec (``"<is> maybe"``).
        NoValidBackend: no pool passes; ``reasons`` maps every pool to the filter
            that rejected it and why (``{}`` when there is no pool at all).
    """
    passed, reasons = evaluate(request, pools)
    if not passed:
        raise no_valid_backend(request, reasons)
    return passed


def no_valid_backend(request: PlacementRequest,
                     reasons: Mapping[str, str]) -> exc.NoValidBackend:
    """The error for a request no pool takes (``reasons``: pool -> why)."""
    if not reasons:
        return exc.NoValidBackend(f"No valid pool for {request.describe()}: no pool is "
                                  f"registered", request=request.describe(), reasons={})
    return exc.NoValidBackend(request=request.describe(), reasons=dict(reasons))


def evaluate(request: PlacementRequest, pools: Iterable[PoolState]
             ) -> tuple[list[Candidate], dict[str, str]]:
    """``(pools that passed, best first; {rejected pool: reason})``. Never raises
    ``NoValidBackend`` (see :func:`place`)."""
    size = request.size
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise exc.InvalidSize(size=size, reason="must be a positive integer (GiB)")
    pinned = pinned_pools(request.extra_specs)
    thick = _thick(request.extra_specs)
    passed: list[Candidate] = []
    reasons: dict[str, str] = {}
    for pool in pools:
        reason = None
        for _, func in FILTERS:
            reason = func(pool, request, pinned)
            if reason is not None:
                break
        if reason is None:
            fit = capacity_check(pool, size, thick)
            if isinstance(fit, str):
                reason = fit
            else:
                passed.append(Candidate(pool.name, pool.weight, fit[0], fit[1]))
        if reason is not None:
            reasons[pool.name] = reason
    passed.sort(key=lambda c: (-c.weight, -c.free_gb, c.name))
    LOG.debug("placement of %s: %s (rejected: %s)", request.describe(),
              [c.name for c in passed], reasons)
    return passed, reasons


def select(request: PlacementRequest, pools: Sequence[PoolState]) -> Candidate:
    """The best pool for ``request`` (see :func:`place`)."""
    return place(request, pools)[0]
