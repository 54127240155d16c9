"""Claims on events, Zaqar's way: several workers of one consumer group share the
event log, each event handled by one of them.

``volumelib.claim(group, ttl=30)`` returns up to ``limit`` events nobody in
``group`` has acknowledged or holds a live claim on, claimed by this call for ``ttl``
seconds. The worker handles each and calls ``event.ack()``. A claim that runs out
unacknowledged (the worker died, or was too slow) is offered again by a later
``claim()`` of any worker of the group. Groups are independent: every group sees
every event.

Built on the lease machinery (:mod:`volumelib.control.leases`), not beside it. A claim
on event ``n`` for group ``g`` is the lease on ``claim:<g>:<n>`` (``resource_kind``
``event_claim``, ``operation`` ``claims:<g>``), held by the claim's own holder for
``ttl`` with ``grace``: taking it is a lease acquire (a compare-and-set, so two
workers never both get it; an expired claim is taken over like an expired lease).
Acknowledging keeps the row, held by its claimer "forever" (``resource_kind``
``event_acked``), so nobody takes the event again. The group's cursor (the key-value
``volumelib:claims:<g>:cursor``) is the id below which every event is acknowledged;
``claim()`` moves it over acknowledged events and then drops their rows, so the rows
of a group stay as many as its events in flight.

Delivery is at least once: a worker that handled an event and died before ``ack()``
leaves it to another worker, which handles it again. Handlers should be idempotent
(the event ``id`` is a good key).
"""

from __future__ import annotations

import datetime
import logging
import uuid
from typing import Any

from volumelib import exceptions as exc
from volumelib import runtime
from volumelib.control.leases import LeaseManager, process_holder
from volumelib.persistence.events import Event
from volumelib.records.key_value import KeyValue

__all__ = ["claim", "ClaimedEvent", "CLAIM_KIND", "ACKED_KIND", "collect", "MAX_GROUP"]

LOG = logging.getLogger(__name__)

#: ``resource_kind`` of a claim's lease, and of an acknowledged one.
CLAIM_KIND = "event_claim"
ACKED_KIND = "event_acked"
#: Longest consumer group name.
MAX_GROUP = 180
#: When an acknowledged claim "expires": never, in practice.
_ACKED_UNTIL = datetime.datetime(9999, 1, 1, tzinfo=datetime.timezone.utc)
#: Compare-and-set attempts on a row that keeps changing.
_ATTEMPTS = 20


def _check_group(group: Any) -> str:
    if not isinstance(group, str) or not group or len(group) > MAX_GROUP \
            or not group.isprintable():
        raise exc.InvalidArgument(reason=f"a consumer group is a printable string of 1 to "
                                         f"{MAX_GROUP} characters, not {group!r:.80}")
    return group


def _check_ttl(ttl: Any, what: str = "ttl", positive: bool = True) -> float:
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) \
            or not (0 < ttl if positive else 0 <= ttl) or ttl == float("inf"):
        raise exc.InvalidTTL(ttl=ttl, reason=f"{what} must be a number of seconds "
                                             f"{'> 0' if positive else '>= 0'}")
    return float(ttl)


def _tag(group: str) -> str:
    return f"claims:{group}"


def _rid(group: str, event_id: int) -> str:
    return f"claim:{group}:{event_id}"


def _event_id(rid: str) -> int:
    return int(rid.rsplit(":", 1)[1])


def _cursor_key(group: str) -> str:
    return f"volumelib:claims:{group}:cursor"


def _cursor_record(store: Any, group: str) -> KeyValue:
    """The group's cursor record (made at 0 the first time)."""
    key = _cursor_key(group)
    found = store.get_key_values(key)
    if not found:
        store.insert_record(KeyValue(key=key, value="0"))
        found = store.get_key_values(key)
    return found[0]


def _cursor(store: Any, group: str) -> int:
    found = store.get_key_values(_cursor_key(group))
    return int(found[0].value or 0) if found else 0


class ClaimedEvent(Event):
    """An :class:`~volumelib.persistence.events.Event` claimed by a worker of
    ``group``: handle it, then :meth:`ack`.

    Attributes:
        group: the consumer group.
        claim_id: the holder of this claim (one per ``claim()`` call).
        expires_at: when the claim runs out unless renewed or acknowledged.
    """

    __slots__ = ("group", "claim_id", "expires_at", "_store")

    def __init__(self, event: Event, *, group: str, claim_id: str,
                 expires_at: datetime.datetime | None, store: Any) -> None:
        super().__init__(**event.values())
        setter = object.__setattr__
        setter(self, "group", group)
        setter(self, "claim_id", claim_id)
        setter(self, "expires_at", expires_at)
        setter(self, "_store", store)

    @property
    def _lease_id(self) -> str:
        return _rid(self.group, self.id)

    def ack(self) -> None:
        """Acknowledge it: no worker of the group gets it again. A second ``ack`` is a
        no-op. A claim that ran out can still be acknowledged as long as nobody took
        it over.

        Raises:
            ClaimLost: another worker of the group took the event over (it handles
                the event now); nothing changed.
        """
        store = self._store
        rid = self._lease_id
        for _ in range(_ATTEMPTS):
            rows = store.get_leases(resource_id=rid)
            if not rows:
                if _cursor(store, self.group) >= self.id:
                    return  # acknowledged, and the cursor has passed it since
                raise exc.ClaimLost(resource_id=rid, holder=None)
            lease = rows[0]
            if lease.holder != self.claim_id:
                raise exc.ClaimLost(resource_id=rid, holder=lease.holder)
            if lease.resource_kind == ACKED_KIND:
                return
            lease.resource_kind = ACKED_KIND
            lease.expires_at = _ACKED_UNTIL
            lease.grace = 0.0
            try:
                store.set_lease(lease)
            except exc.ConcurrentModification:
                continue  # renewed or taken over meanwhile: look again
            LOG.debug("event %s acknowledged in group %s", self.id, self.group)
            return
        raise exc.ConcurrentModification(resource="Lease", id=rid, expected="a quiet row")

    def renew(self, ttl: float | None = None) -> None:
        """Extend the claim by ``ttl`` seconds from now (default: its ttl), for a
        handler that needs longer.

        Raises:
            ClaimLost: another worker took it over. LeaseExpired: it ran out (claim
                again).
        """
        try:
            LeaseManager(self._store, retry_budget=0).renew(self._lease_id, ttl,
                                                            holder=self.claim_id)
        except exc.LeaseHeld as e:
            raise exc.ClaimLost(resource_id=self._lease_id, holder=e.holder) from None
        except exc.NotLeased:
            raise exc.ClaimLost(resource_id=self._lease_id, holder=None) from None

    def release(self) -> None:
        """Give the event back unhandled: the next ``claim()`` offers it at once.
        Nothing happens when the claim is no longer this worker's."""
        try:
            LeaseManager(self._store, retry_budget=0).release(self._lease_id,
                                                              holder=self.claim_id)
        except exc.LeaseError:
            pass

    def __repr__(self) -> str:
        return (f"<ClaimedEvent {self.id} {self.kind} {self.resource_id} "
                f"{self.old_status}->{self.new_status} group={self.group!r}>")


def claim(group: str, *, ttl: float, grace: float = 0, limit: int = 10,
          persistence: Any = None) -> list[ClaimedEvent]:
    """Claim up to ``limit`` events for a worker of consumer group ``group``.

    The events returned are the oldest that no worker of the group acknowledged or
    holds a live claim on; this call holds each for ``ttl`` seconds (then it is
    offered again unless acknowledged), plus ``grace`` seconds during which
    ``gc()`` keeps the claim's row.

    Args:
        group: the consumer group (1 to :data:`MAX_GROUP` printable characters).
        ttl: seconds the claim lasts (> 0).
        grace: seconds after ``ttl`` before ``gc()`` may expire the claim (>= 0).
        limit: most events returned (>= 1).
        persistence: the store (default: the current one).

    Returns:
        :class:`ClaimedEvent` objects, oldest first (empty: nothing to do now).

    Raises:
        InvalidArgument: bad group or limit. InvalidTTL: bad ``ttl`` or ``grace``.
        NotSupported: the store keeps no event log.
    """
    group = _check_group(group)
    ttl = _check_ttl(ttl)
    grace = _check_ttl(grace, "grace", positive=False)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise exc.InvalidArgument(reason=f"limit must be a positive integer: {limit!r:.60}")
    store = runtime.persistence(persistence)
    store.last_event_id()  # NotSupported without an event log
    manager = LeaseManager(store, retry_budget=0)
    tag = _tag(group)
    holder = f"{process_holder()}:claim-{uuid.uuid4().hex[:12]}"
    _advance(store, group)
    # Rows first, then the cursor: a row missing because the cursor passed its
    # event and dropped it is then seen as below the cursor.
    rows = {lease.id: lease for lease in store.find("lease", operation=tag)}
    since = _cursor(store, group)
    now = manager.now()
    claimed: list[ClaimedEvent] = []
    while len(claimed) < limit:
        page = store.list_events(since=since, limit=max(2 * limit, 50))
        for event in page:
            rid = _rid(group, event.id)
            row = rows.get(rid)
            if row is not None and (row.resource_kind == ACKED_KIND or row.is_held(now)):
                continue
            try:
                lease = manager.acquire(rid, ttl, grace, holder=holder, operation=tag,
                                        kind=CLAIM_KIND)
            except exc.LeaseHeld:
                continue  # another worker claimed it since the rows were read
            claimed.append(ClaimedEvent(event, group=group, claim_id=holder,
                                        expires_at=lease.expires_at, store=store))
            if len(claimed) >= limit:
                break
        since = page.marker
        if not page.more:
            break
    if claimed:
        # An event the cursor passed meanwhile was acknowledged (and its row dropped
        # just before this call's acquire made a new one): not to be handled again.
        cursor = _cursor(store, group)
        for event in [e for e in claimed if e.id <= cursor]:
            claimed.remove(event)
            event.release()
    LOG.debug("group %s: claimed %d event(s) for %s", group, len(claimed), holder)
    return claimed


def _advance(store: Any, group: str) -> int:
    """Move the group's cursor over the acknowledged events right after it, then drop
    their claim rows. Returns the cursor (losing a race to another worker is fine:
    it moved the cursor)."""
    record = _cursor_record(store, group)
    cursor = int(record.value or 0)
    acked = {_event_id(lease.id): lease
             for lease in store.find("lease", operation=_tag(group))
             if lease.resource_kind == ACKED_KIND}
    if not acked:
        return cursor
    new = cursor
    since = cursor
    done = False
    while not done:
        page = store.list_events(since=since, limit=200)
        for event in page:
            if event.id not in acked:
                done = True
                break
            new = event.id
        since = page.marker
        done = done or not page.more
    if new == cursor:
        return cursor
    record.value = str(new)
    try:
        store.set_key_value(record)
    except exc.ConcurrentModification:
        return _cursor(store, group)
    for event_id, lease in acked.items():
        if event_id <= new:
            try:
                store.delete_lease(lease)
            except exc.ConcurrentModification:
                pass
    return new


def collect(persistence: Any = None) -> int:
    """Drop the claim rows of events no longer in the log (trimmed by ``gc()``).
    Returns how many."""
    store = runtime.persistence(persistence)
    if not store.events_enabled:
        return 0
    first = store.list_events(limit=1)
    oldest = first[0].id if first else store.last_event_id() + 1
    dropped = 0
    for kind in (CLAIM_KIND, ACKED_KIND):
        for lease in store.find("lease", resource_kind=kind):
            try:
                if _event_id(lease.id) < oldest:
                    store.delete_lease(lease)
                    dropped += 1
            except (ValueError, exc.ConcurrentModification):
                continue
    return dropped
