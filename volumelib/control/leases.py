"""Leases on resources, modelled on Zaqar's claims, kept in the store.

A lease says "``holder`` has this resource until ``expires_at``". It is one
:class:`~volumelib.objects.Lease` row per resource (keyed by the resource's id), and
every change to it is a compare-and-set on the row's version, so two processes (or
hosts) sharing the store can never both hold it: of several racing ``acquire``
calls exactly one wins, the others get :class:`~volumelib.exceptions.LeaseHeld`.

States of a lease at time ``now`` (the lease's ``ttl`` counted from the last acquire
or renew; ``grace`` after it):

* **held** (``now < expires_at``): the holder may ``renew`` and ``release`` it; anyone
  else's ``acquire`` raises ``LeaseHeld`` (retryable).
* **expired** (``expires_at <= now``): expiry is implicit, nothing has to run. Like a
  Zaqar claim past its ttl, the lease no longer protects the resource from other
  holders: anyone may ``acquire`` it (a takeover). Its former holder's ``renew`` and
  ``release`` raise ``LeaseExpired`` and change nothing (it must acquire again).
* **in grace** (``expires_at <= now < expires_at + grace``): still expired for the
  above, but, as Zaqar's claim grace extends the claimed messages' lifetime, the
  resource is kept alive: ``gc()`` neither expires the lease row nor removes the
  resource. Grace is for temporary resources that must outlive a crashed worker a
  little (so another worker can take them over) before they are cleaned up.

Errors: ``NotLeased`` (nobody holds it, or you never did), ``LeaseExpired`` (yours
ran out), ``LeaseHeld`` (someone else holds it; ``retryable``), and for library
operations ``ResourceBusy`` (a ``LeaseHeld``: another caller is operating on it).

**Retry budget.** A lease that runs out without being released (its holder crashed
or hung) is counted in ``expired_count`` when it is taken over or expired by
``gc()``. When the count reaches the manager's ``retry_budget``, the resource is
moved to ``error`` (volumes, snapshots, groups: their ``status``; other resources:
the ``on_exhausted`` callback) and the count starts again. A release keeps the count
(the row stays, free) so that crashes add up across holders; :meth:`LeaseManager.reset`
clears it.

**Clock.** Expiry uses each process's UTC wall clock (``datetime.now(timezone.utc)``),
never the database's, so it works the same on every store. Processes on different
hosts must have clocks synchronised (NTP) to well within the ttls used: a host whose
clock is ``s`` seconds ahead sees leases expire ``s`` seconds early. Library
operations use ttls of tens of seconds renewed by a heartbeat (see
:meth:`LeaseManager.operation`), so a skew of a second or two is harmless.

**Library operations.** ``delete``, ``extend``, ``clone``, ``create_snapshot``,
``revert_to_snapshot``, ``connect``/``disconnect``, ``attach``/``detach`` of a volume
and ``delete``/``create_volume`` of a snapshot run inside
:meth:`LeaseManager.operation`: a short lease on the resource (holder
``host:pid:uuid`` of the call), renewed by a heartbeat thread while the driver works
and released in ``finally``. A concurrent call from another thread, process or host
gets ``ResourceBusy`` before anything is changed. If the resource is leased by the
caller's own holder (a user's ``acquire`` in this process, holder
:attr:`LeaseManager.holder` or one set with :meth:`LeaseManager.as_holder`), the
operation runs under that lease; if that lease expired it raises ``LeaseExpired``.
Group operations take their group's lease and their members' (see
:mod:`volumelib.objects.group`).
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime
import itertools
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from volumelib import exceptions as exc
from volumelib import runtime
from volumelib.control.heartbeat import OperationSteps, heartbeats
from volumelib.persistence.base import PersistenceDriverBase
from volumelib.records.control import Lease
from volumelib.versioned import utcnow

__all__ = ["LeaseManager", "OperationSteps", "process_holder", "new_holder", "is_operation_holder",
           "DEFAULT_OPERATION_TTL",
           "DEFAULT_RETRY_BUDGET", "MAX_ID"]

LOG = logging.getLogger(__name__)

#: Seconds an operation lease lasts between heartbeats (renewed every third of it).
DEFAULT_OPERATION_TTL = 30.0
#: Expired leases on one resource before it is moved to ``error``.
DEFAULT_RETRY_BUDGET = 3
#: Longest resource id (the ``leases.id`` column).
MAX_ID = 255
#: Compare-and-set attempts before giving up on a row that keeps changing.
_ATTEMPTS = 20

_ERROR_STATUS_KINDS = ("volume", "snapshot", "group", "group_snapshot")
_OP_MARK = "op-"

_process: tuple[int, str, str] | None = None
_process_lock = threading.Lock()

#: Resource ids the current call stack holds an operation lease on (re-entrancy).
_held: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar(
    "volumelib_leases_held", default=frozenset())
#: The user holder set with ``as_holder`` for this context.
_user_holder: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "volumelib_lease_holder", default=None)


def _process_ids() -> tuple[int, str, str]:
    """``(pid, process holder, "host:pid:op-<token>-")`` of this process (new ones after
    ``fork``; the host name and the token are made once per process, not per
    operation)."""
    global _process
    pid = os.getpid()
    current = _process
    if current is None or current[0] != pid:
        with _process_lock:
            if _process is None or _process[0] != pid:
                prefix = f"{socket.gethostname()}:{pid}:"
                _process = (pid, f"{prefix}{uuid.uuid4().hex[:12]}",
                            f"{prefix}{_OP_MARK}{uuid.uuid4().hex[:12]}-")
            current = _process
    return current


def process_holder() -> str:
    """This process's default holder, ``host:pid:uuid`` (a new one after ``fork``)."""
    return _process_ids()[1]


#: Numbers the operations of this process (their holders are unique with the
#: process's random token).
_op_numbers = itertools.count(1)


def new_holder() -> str:
    """A holder for one library operation: ``host:pid:op-<process token>-<n>``."""
    return f"{_process_ids()[2]}{next(_op_numbers)}"


def is_operation_holder(holder: str | None) -> bool:
    """Whether ``holder`` is a library operation's (renewed by a heartbeat)."""
    return bool(holder) and holder.rsplit(":", 1)[-1].startswith(_OP_MARK)  # type: ignore[union-attr]


def _seconds(value: Any, what: str, *, positive: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or value != value or value in (float("inf"), float("-inf")):
        raise exc.InvalidArgument(reason=f"{what} must be a number of seconds: {value!r}")
    if value < 0 or (positive and value == 0):
        raise exc.InvalidArgument(
            reason=f"{what} must be {'> 0' if positive else '>= 0'} seconds: {value!r}")
    return float(value)


def _resource(resource: Any) -> tuple[str, str | None]:
    """``(id, kind)`` of an object or an id."""
    if isinstance(resource, str):
        rid, kind = resource, None
    else:
        rid = getattr(resource, "id", None)
        if rid is None:
            rid = getattr(resource, "name", None)
        kind = None
        kind_of = getattr(type(resource), "_kind", None)
        if callable(kind_of):
            try:
                kind = kind_of()
            except exc.VolumelibError:
                kind = None
    if not isinstance(rid, str) or not rid or len(rid) > MAX_ID:
        raise exc.InvalidArgument(
            reason=f"a lease needs a resource or an id of 1 to {MAX_ID} characters, "
                   f"not {resource!r:.80}")
    return rid, kind


class LeaseManager:
    """Acquire, renew, release and inspect leases in a store.

    Args:
        persistence: the store, or a callable returning it at each call (what
            ``backend.leases`` passes, so it follows the backend's store); default:
            the current store of :func:`volumelib.setup`.
        holder: default holder of ``acquire``/``renew``/``release`` (default:
            :func:`process_holder`).
        retry_budget: expired leases on one resource before it is moved to
            ``error`` (default: ``volumelib.setup(lease_retry_budget=...)``, 3).
            ``0`` disables it.
        on_exhausted: ``on_exhausted(lease)`` when the budget of a resource that is not
            a volume, snapshot, group or group snapshot runs out.
        clock: returns the aware UTC now (tests inject one; default the wall clock).
    """

    def __init__(self, persistence: Any = None, *, holder: str | None = None,
                 retry_budget: int | None = None,
                 on_exhausted: Callable[[Lease], None] | None = None,
                 clock: Callable[[], datetime.datetime] | None = None) -> None:
        if holder is not None:
            _check_holder(holder)
        if retry_budget is not None and (isinstance(retry_budget, bool)
                                         or not isinstance(retry_budget, int)
                                         or retry_budget < 0):
            raise exc.InvalidArgument(
                reason=f"retry_budget must be an integer >= 0: {retry_budget!r}")
        self._persistence = persistence
        self._holder = holder
        self._retry_budget = retry_budget
        self._on_exhausted = on_exhausted
        self._clock = clock or utcnow

    # -- configuration -----------------------------------------------------------------

    @property
    def persistence(self) -> PersistenceDriverBase:
        return runtime.persistence(self._persistence)

    @property
    def holder(self) -> str:
        """The holder used when none is given (an ``as_holder`` block's, else this
        manager's, else the process's)."""
        return _user_holder.get() or self._holder or process_holder()

    @property
    def retry_budget(self) -> int:
        if self._retry_budget is not None:
            return self._retry_budget
        return runtime.settings().lease_retry_budget

    def now(self) -> datetime.datetime:
        return self._clock()

    @contextlib.contextmanager
    def as_holder(self, holder: str) -> Iterator[None]:
        """Within the block, ``holder`` is the default holder of this context, and
        library operations on resources it leases run under its lease."""
        _check_holder(holder)
        token = _user_holder.set(holder)
        try:
            yield
        finally:
            _user_holder.reset(token)

    # -- the lease API -------------------------------------------------------------------

    def get(self, resource: Any, include_expired: bool = False) -> Lease | None:
        """The lease on ``resource`` while it is held (``None`` once it expired, or
        when nobody holds it). ``include_expired``: also an expired lease nobody took
        over yet (see ``is_expired``/``in_grace`` on it)."""
        rid, _ = _resource(resource)
        rows = self.persistence.get_leases(resource_id=rid)
        if not rows or rows[0].holder is None:
            return None
        lease = rows[0]
        if include_expired or lease.is_held(self.now()):
            return lease
        return None

    def acquire(self, resource: Any, ttl: float, grace: float = 0, holder: str | None = None,
                operation: str | None = None, kind: str | None = None) -> Lease:
        """Lease ``resource`` to ``holder`` for ``ttl`` seconds.

        Acquiring a lease one already holds renews it (with the new ttl, grace and
        operation). Taking over an expired lease counts it in ``expired_count``.
        ``kind``: what the resource is when it is given as an id (recorded in the
        lease's ``resource_kind`` when the lease row is made).

        Raises:
            LeaseHeld: another holder has it (``retryable``); nothing changed.
            InvalidArgument: bad ttl, grace, holder or resource.
        """
        ttl = _seconds(ttl, "ttl", positive=True)
        grace = _seconds(grace, "grace", positive=False)
        holder = self.holder if holder is None else _check_holder(holder)
        if operation is not None and (not isinstance(operation, str) or len(operation) > 255):
            raise exc.InvalidArgument(reason=f"operation must be a short string: "
                                             f"{operation!r:.80}")
        if kind is not None and (not isinstance(kind, str) or len(kind) > 36):
            raise exc.InvalidArgument(reason=f"kind must be a string of up to 36 "
                                             f"characters: {kind!r:.80}")
        return self._acquire(resource, ttl, grace, holder, operation, stale_before=None,
                             kind=kind)

    def renew(self, resource: Any, ttl: float | None = None,
              holder: str | None = None) -> Lease:
        """Extend the holder's lease by ``ttl`` seconds from now (default: its ttl).

        Raises:
            NotLeased: nobody holds it, or someone else's lease on it ran out.
            LeaseExpired: the holder's lease ran out; acquire again.
            LeaseHeld: another holder has it.
        """
        if ttl is not None:
            ttl = _seconds(ttl, "ttl", positive=True)
        holder = self.holder if holder is None else _check_holder(holder)
        rid, _ = _resource(resource)
        store = self.persistence
        for _ in range(_ATTEMPTS):
            lease = self._mine(store, rid, holder)
            now = self.now()
            if ttl is not None:
                lease.ttl = ttl
            lease.expires_at = now + datetime.timedelta(seconds=lease.ttl)
            try:
                store.set_lease(lease)
            except exc.ConcurrentModification:
                continue
            return lease
        raise self._busy_error(store, rid)

    def release(self, resource: Any, holder: str | None = None) -> None:
        """End the holder's lease now.

        Raises:
            NotLeased, LeaseExpired, LeaseHeld: as :meth:`renew`; nothing changed.
        """
        holder = self.holder if holder is None else _check_holder(holder)
        rid, _ = _resource(resource)
        store = self.persistence
        for _ in range(_ATTEMPTS):
            lease = self._mine(store, rid, holder)
            try:
                self._free(store, lease)
            except exc.ConcurrentModification:
                continue
            return
        raise self._busy_error(store, rid)

    def reset(self, resource: Any) -> None:
        """Forget a resource's expired-lease count (and a lease nobody holds)."""
        rid, _ = _resource(resource)
        store = self.persistence
        for lease in store.get_leases(resource_id=rid):
            if lease.holder is None:
                store.delete_lease(lease)
            elif lease.expired_count:
                lease.expired_count = 0
                store.set_lease(lease)

    def expire(self, older_than: float | None = None) -> dict[str, list[str]]:
        """Expire every lease past its grace (what ``gc()`` does): count it in the
        resource's retry budget (moving the resource to ``error`` when exhausted), free
        the row, and drop free rows whose resource no longer exists.

        Args:
            older_than: also treat as dead a library operation's lease not renewed
                for this many seconds (its heartbeat renews it every few seconds while
                the process lives; ``0``: every operation lease, when the caller knows
                no operation is running). Users' leases end with their ttl only.

        Returns:
            ``{"expired": [...], "exhausted": [...], "dropped": [...]}`` resource ids.
        """
        store = self.persistence
        now = self.now()
        cutoff = None if older_than is None else \
            now - datetime.timedelta(seconds=_seconds(older_than, "older_than",
                                                      positive=False))
        report: dict[str, list[str]] = {"expired": [], "exhausted": [], "dropped": []}
        mine = _held.get()
        for lease in store.get_leases():
            if lease.id in mine:
                continue  # this call stack's own operation (gc's lease)
            try:
                if lease.holder is None:
                    if not self._resource_exists(store, lease):
                        store.delete_lease(lease)
                        report["dropped"].append(lease.id)
                    continue
                keep = lease.keep_until
                if not (keep is None or now >= keep or _stale(lease, cutoff)):
                    continue
                exhausted = self._count_expiry(lease)
                lease.holder = None
                lease.operation = None
                lease.expires_at = None
                if exhausted or not self._resource_exists(store, lease):
                    store.delete_lease(lease)
                else:
                    store.set_lease(lease)  # free, keeping the expiry count
            except exc.ConcurrentModification:
                continue  # renewed or taken over meanwhile: not ours to expire
            report["expired"].append(lease.id)
            if exhausted:
                report["exhausted"].append(lease.id)
                self._exhausted(store, lease)
        return report

    # -- library operations ------------------------------------------------------------

    @contextlib.contextmanager
    def operation(self, resource: Any, operation: str, ttl: float | None = None,
                  stale_before: datetime.datetime | None = None,
                  kind: str | None = None) -> Iterator[Lease | None]:
        """Run a block as ``operation`` on ``resource`` with nobody else operating on it.

        Takes a lease with a holder of its own (``host:pid:uuid``), renewed every third
        of ``ttl`` (default ``volumelib.setup(operation_lease_ttl=...)``, 30 s) by a
        heartbeat thread while the block runs, released when it ends. Re-entrant
        within one call stack. Runs under the caller's own lease instead when the
        resource is leased to :attr:`holder`.

        Args:
            stale_before: (``gc``) also take over another operation's lease not
                renewed since then (its process is gone: the heartbeat stopped).
            kind: the resource's kind when ``resource`` is an id (``"volume"``...).

        Yields:
            The operation lease (``None`` when running under an outer or the caller's
            lease).

        Raises:
            ResourceBusy: another caller is operating on it or holds it (retryable);
                the block did not run.
            LeaseExpired: the caller's own lease on it expired.
        """
        rid, found_kind = _resource(resource)
        held = _held.get()
        if rid in held:
            yield None
            return
        store = self.persistence
        if ttl is None:
            ttl = runtime.settings().operation_lease_ttl
        holder = new_holder()
        # Most resources have no lease row: then one insert takes the lease (no read
        # first). The row exists (held, free with an expiry count, or the caller's own
        # lease) when the insert fails: read it and decide.
        lease = self._insert_new(store, rid, kind or found_kind, holder, operation, ttl)
        rows = None if lease is not None else store.get_leases(resource_id=rid)
        mine = self.holder
        if rows and rows[0].holder == mine:
            lease = rows[0]
            if not lease.is_held(self.now()):
                raise exc.LeaseExpired(resource_id=rid, expires_at=lease.expires_at,
                                       holder=mine)
            token = _held.set(held | {rid})
            try:
                yield None
            finally:
                _held.reset(token)
            return
        try:
            if lease is None:
                lease = self._acquire(resource, ttl, 0.0, holder, operation,
                                      stale_before=stale_before, kind=kind, rows=rows)
        except exc.LeaseHeld as e:
            raise exc.ResourceBusy(resource_id=rid, holder=e.holder,
                                   expires_at=e.expires_at,
                                   operation=getattr(e, "operation", None) or "a lease",
                                   requested=operation) from None
        beat = heartbeats.add(self, rid, holder, ttl)
        token = _held.set(held | {rid})
        try:
            yield lease
        finally:
            _held.reset(token)
            heartbeats.remove(beat)
            self._release_operation(store, lease, rid, holder, operation)

    @contextlib.contextmanager
    def steps(self, resource: Any, operation: str, *, kind: str | None = None,
              ttl: float | None = None) -> Iterator[OperationSteps]:
        """:meth:`operation`, in as few commits as the operation's steps allow.

        The lease is inserted in a transaction that the block goes on using: what it
        reads and writes before :meth:`OperationSteps.intent_stored` (the object
        caught up with the store, its preconditions, quota, the transitional status)
        commits together with the lease, in one commit, before the driver is called;
        :meth:`OperationSteps.finishing` opens a second transaction for the outcome,
        which the lease's release joins. If the block raises before its intent is
        stored, nothing it did is kept, the lease included.

        The block must call ``intent_stored`` before any driver call (the first
        transaction holds the store's write lock). Where the lease cannot be taken by
        a plain insert (a row exists: held, free with an expiry count, or the
        caller's own), this is :meth:`operation`, with each step committed on its own.

        Raises:
            ResourceBusy: as :meth:`operation`; the block did not run.
        """
        rid, found_kind = _resource(resource)
        if rid in _held.get():
            yield OperationSteps(None, None)
            return
        store = self.persistence
        if ttl is None:
            ttl = runtime.settings().operation_lease_ttl
        holder = new_holder()
        lease = Lease._from_values({  # the values are of their fields' types already
            "id": rid, "resource_kind": kind or found_kind, "holder": holder,
            "operation": operation, "ttl": float(ttl), "grace": 0.0,
            "expires_at": self.now() + datetime.timedelta(seconds=ttl),
            "expired_count": 0})
        first = store.transaction()
        first.__enter__()
        try:
            inserted = store.insert_record(lease)
        except BaseException as e:
            first.__exit__(type(e), e, e.__traceback__)
            raise
        if not inserted:
            first.__exit__(None, None, None)  # nothing written
            with self.operation(resource, operation, ttl=ttl, kind=kind):
                yield OperationSteps(None, None)
            return
        steps = OperationSteps(store, first, self, rid, holder, ttl)
        token = _held.set(_held.get() | {rid})
        try:
            yield steps
        except BaseException as e:
            kept = steps._abort(e)
            if kept:
                self._release_operation(store, lease, rid, holder, operation)
            raise
        else:
            if steps._tx is None:  # intent stored, no outcome transaction: on its own
                self._release_operation(store, lease, rid, holder, operation)
            else:  # in the first (nothing kept: net nothing) or the outcome transaction
                try:
                    self._release_operation(store, lease, rid, holder, operation)
                finally:
                    steps._close()
        finally:
            _held.reset(token)
            steps._stop_heartbeat()

    def _release_operation(self, store: Any, lease: Lease, rid: str, holder: str,
                           operation: str) -> None:
        """Release an operation's lease (never raises: the outcome matters more)."""
        try:
            try:
                if lease.expired_count:
                    raise exc.ConcurrentModification(resource="Lease", id=rid,
                                                     expected="a free row")
                store.delete_lease(lease)  # not renewed since: one statement
            except exc.ConcurrentModification:
                self.release(rid, holder=holder)  # renewed (or taken over) since
        except exc.LeaseError as e:
            LOG.warning("%s of %s ran past its lease: %s", operation, rid, e)
        except Exception:  # noqa: BLE001 - never hide the operation's own outcome
            LOG.exception("could not release the %s lease on %s", operation, rid)

    # -- internals ---------------------------------------------------------------------

    def _acquire(self, resource: Any, ttl: float, grace: float, holder: str,
                 operation: str | None, stale_before: datetime.datetime | None,
                 kind: str | None = None, rows: list[Lease] | None = None) -> Lease:
        """Acquire; ``rows``: the lease rows of the resource just read (saves a read)."""
        rid, found_kind = _resource(resource)
        kind = kind or found_kind
        store = self.persistence
        for _ in range(_ATTEMPTS):
            now = self.now()
            expires_at = now + datetime.timedelta(seconds=ttl)
            if rows is None:
                rows = store.get_leases(resource_id=rid)
            if not rows:
                lease = Lease(id=rid, resource_kind=kind, holder=holder, operation=operation,
                              ttl=ttl, grace=grace, expires_at=expires_at, expired_count=0)
                try:
                    store.set_lease(lease)
                except exc.AlreadyExists:
                    rows = None
                    continue
                return lease
            lease = rows[0]
            exhausted = False
            if lease.holder is not None:
                live = lease.is_held(now) and not _stale(lease, stale_before)
                if live and lease.holder != holder:
                    raise exc.LeaseHeld(resource_id=rid, holder=lease.holder,
                                        expires_at=lease.expires_at,
                                        operation=lease.operation)
                if not live:
                    exhausted = self._count_expiry(lease)
            lease.holder = holder
            lease.operation = operation
            lease.ttl = ttl
            lease.grace = grace
            lease.expires_at = expires_at
            if kind is not None and lease.resource_kind is None:
                lease.resource_kind = kind
            try:
                store.set_lease(lease)
            except exc.ConcurrentModification:
                rows = None
                continue
            if exhausted:
                self._exhausted(store, lease)
            return lease
        raise self._busy_error(store, rid)

    def _insert_new(self, store: Any, rid: str, kind: str | None, holder: str,
                    operation: str | None, ttl: float) -> Lease | None:
        """Take a lease on a resource without a lease row by inserting one; ``None``
        when a row exists (nothing changed)."""
        lease = Lease._from_values({  # the values are of their fields' types already
            "id": rid, "resource_kind": kind, "holder": holder, "operation": operation,
            "ttl": float(ttl), "grace": 0.0,
            "expires_at": self.now() + datetime.timedelta(seconds=ttl),
            "expired_count": 0})
        try:
            store.set_lease(lease)
        except exc.AlreadyExists:
            return None
        return lease

    def _count_expiry(self, lease: Lease) -> bool:
        """Count one expired lease; ``True`` (and the count restarted) when that
        exhausts the retry budget."""
        lease.expired_count = (lease.expired_count or 0) + 1
        budget = self.retry_budget
        if budget and lease.expired_count >= budget:
            lease.expired_count = 0
            return True
        return False

    def _mine(self, store: Any, rid: str, holder: str) -> Lease:
        rows = store.get_leases(resource_id=rid)
        lease = rows[0] if rows else None
        if lease is None or lease.holder is None:
            raise exc.NotLeased(resource_id=rid)
        now = self.now()
        if lease.holder != holder:
            if lease.is_held(now):
                raise exc.LeaseHeld(resource_id=rid, holder=lease.holder,
                                    expires_at=lease.expires_at, operation=lease.operation)
            raise exc.NotLeased(f"{rid} is not leased by {holder} (the lease of "
                                f"{lease.holder} expired at {lease.expires_at})",
                                resource_id=rid)
        if not lease.is_held(now):
            raise exc.LeaseExpired(resource_id=rid, expires_at=lease.expires_at,
                                   holder=holder)
        return lease

    def _free(self, store: Any, lease: Lease) -> None:
        """Release: drop the row, or keep it free when it carries an expiry count."""
        if lease.expired_count:
            lease.holder = None
            lease.operation = None
            lease.expires_at = None
            store.set_lease(lease)
        else:
            store.delete_lease(lease)

    def _busy_error(self, store: Any, rid: str) -> exc.LeaseHeld:
        rows = store.get_leases(resource_id=rid)
        lease = rows[0] if rows else None
        return exc.LeaseHeld(resource_id=rid, holder=lease.holder if lease else None,
                             expires_at=lease.expires_at if lease else None,
                             operation=lease.operation if lease else None)

    def _resource_exists(self, store: Any, lease: Lease) -> bool:
        getter = {"volume": lambda i: store.get_volumes(volume_id=i),
                  "snapshot": lambda i: store.get_snapshots(snapshot_id=i),
                  "group": lambda i: store.get_groups(group_id=i),
                  "group_snapshot": lambda i: store.get_group_snapshots(group_snapshot_id=i),
                  }.get(lease.resource_kind or "")
        return True if getter is None else bool(getter(lease.id))

    def _exhausted(self, store: Any, lease: Lease) -> None:
        """The retry budget of ``lease``'s resource ran out: move it to ``error``."""
        budget = self.retry_budget
        kind = lease.resource_kind
        LOG.warning("%s %s: %d leases expired without release; moving it to error",
                    kind or "resource", lease.id, budget)
        if kind in _ERROR_STATUS_KINDS:
            for _ in range(_ATTEMPTS):
                obj = store.get_record(kind, lease.id)
                if obj is None:
                    return
                failed = "error_deleting" if obj.status in ("deleting", "error_deleting") \
                    else "error"
                if obj.status == failed:
                    return
                obj.status = failed
                try:
                    getattr(store, f"set_{kind}")(obj)
                except exc.ConcurrentModification:
                    continue
                return
            LOG.error("could not move %s %s to error", kind, lease.id)
        elif self._on_exhausted is not None:
            try:
                self._on_exhausted(lease)
            except Exception:  # noqa: BLE001
                LOG.exception("on_exhausted(%s) failed", lease.id)

    def __repr__(self) -> str:
        return f"<LeaseManager holder={self.holder!r}>"


def _check_holder(holder: Any) -> str:
    if not isinstance(holder, str) or not holder or len(holder) > 255:
        raise exc.InvalidArgument(reason=f"holder must be a string of 1 to 255 "
                                         f"characters: {holder!r:.80}")
    return holder


def _stale(lease: Lease, cutoff: datetime.datetime | None) -> bool:
    """An operation's lease not renewed (nor acquired) since ``cutoff``. A user's
    lease is never stale: only its ttl ends it."""
    if cutoff is None or not is_operation_holder(lease.holder):
        return False
    stamp = lease.updated_at or lease.created_at
    return stamp is None or stamp <= cutoff
