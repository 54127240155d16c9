"""The delivery worker: posts the events of stored subscriptions to their URLs.

``volumelib events deliver`` runs one (:meth:`DeliveryWorker.run`); several may run at
once, on any hosts sharing the store. Each subscription is served by one worker at a
time: the worker holds the lease ``subscription:<id>`` (:mod:`volumelib.control.
leases`) while it serves it, renewing it at every pass. A worker that dies (even by
``SIGKILL``) stops renewing; once its lease runs out (``lease_ttl``), another worker
takes the subscription over.

For each subscription it serves, a pass:

1. not confirmed yet: posts the confirmation message (:mod:`.webhooks`) once, and
   records when (``confirmation_sent_at``); nothing else until it is confirmed;
2. confirmed: reads the events after ``position`` that the subscription wants, and
   posts them one by one, oldest first. After each answered 2xx it stores
   ``position`` (that event's id) and ``delivered``. On a failure it stores
   ``last_error`` and tries the same event again later, after
   :func:`~volumelib.control.subscriptions.backoff`; meanwhile it serves the other
   subscriptions. After ``max_attempts`` failures it counts a dead letter and goes on
   with the next event.

One worker posts to one subscriber at a time: a subscriber that takes its whole
``timeout`` to answer delays the others this worker serves by that long (run more
workers, or give slow subscribers a short ``timeout``).

Nothing is lost by a dying worker: ``position`` moves only after the subscriber
answered, so the next worker posts again the event in flight (delivery is at least
once; the event's ``id`` lets a receiver drop a repeat). The events themselves stay in
the log until the event ttl trims them.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from volumelib import exceptions as exc
from volumelib import runtime
from volumelib.control import webhooks
from volumelib.control.leases import LeaseManager, process_holder
from volumelib.control.subscriptions import backoff
from volumelib.records.subscription import Subscription, shown_url
from volumelib.versioned import utcnow

__all__ = ["DeliveryWorker", "DEFAULT_LEASE_TTL"]

LOG = logging.getLogger(__name__)

#: Seconds a worker's hold on a subscription lasts without renewal.
DEFAULT_LEASE_TTL = 30.0
#: Attempts of a compare-and-set on a subscription row that keeps changing.
_ATTEMPTS = 10


@dataclasses.dataclass
class _Retry:
    """A delivery (an event id, or 0: the confirmation) that failed, and when to try
    it again."""

    target: int
    attempts: int
    next_at: float


class DeliveryWorker:
    """Serves the stored subscriptions of a store (see the module docstring).

    Args:
        persistence: the store (default: the current one).
        lease_ttl: seconds this worker's hold on a subscription lasts unless renewed
            (another worker takes over that long after this one died).
        poll_interval: longest sleep between two passes when no event arrives.
        batch: most events posted to one subscription in one pass.
        holder: this worker's lease holder (default: ``host:pid:deliver-<n>``).
        post: the function that posts a body (:func:`.webhooks.post`; tests of
            faults that cannot be made for real may pass another).
    """

    def __init__(self, persistence: Any = None, *, lease_ttl: float = DEFAULT_LEASE_TTL,
                 poll_interval: float = 1.0, batch: int = 50, holder: str | None = None,
                 post: Callable[..., webhooks.Delivery] = webhooks.post) -> None:
        for name, value in (("lease_ttl", lease_ttl), ("poll_interval", poll_interval)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not 0 < value < float("inf"):
                raise exc.InvalidArgument(reason=f"{name} must be seconds > 0: {value!r}")
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise exc.InvalidArgument(reason=f"batch must be a positive integer: {batch!r}")
        self._persistence = persistence
        self.lease_ttl = float(lease_ttl)
        self.poll_interval = float(poll_interval)
        self.batch = batch
        self.holder = holder or f"{process_holder()}:deliver"
        self._post = post
        self._retries: dict[str, _Retry] = {}
        self._held: set[str] = set()
        #: Totals since the worker started.
        self.stats = {"delivered": 0, "failed": 0, "dead_letters": 0, "confirmations": 0}

    @property
    def persistence(self) -> Any:
        return runtime.persistence(self._persistence)

    def _leases(self) -> LeaseManager:
        return LeaseManager(self.persistence, retry_budget=0)

    # -- running -------------------------------------------------------------------------

    def run(self, stop: threading.Event | None = None,
            duration: float | None = None) -> None:
        """Serve until ``stop`` is set or ``duration`` seconds passed (``None``:
        forever). Woken at once by a new event, else every ``poll_interval``. Gives
        its subscriptions back (releases their leases) when it ends."""
        store = self.persistence
        stop = stop or threading.Event()
        deadline = None if duration is None else time.monotonic() + duration
        try:
            with store.event_waiter() as waiter:
                while not stop.is_set():
                    seen = store.last_event_id()
                    self.run_once()
                    wait = self.poll_interval
                    if self._retries:
                        soonest = min(r.next_at for r in self._retries.values())
                        wait = min(wait, max(0.0, soonest - time.monotonic()))
                    if deadline is not None:
                        left = deadline - time.monotonic()
                        if left <= 0:
                            break
                        wait = min(wait, left)
                    if wait > 0:
                        waiter.wait(seen, wait)
        finally:
            self.release_all()

    def release_all(self) -> None:
        """Give back every subscription this worker holds."""
        leases = self._leases()
        for rid in list(self._held):
            try:
                leases.release(rid, holder=self.holder)
            except exc.VolumelibError:
                pass
            self._held.discard(rid)

    def run_once(self) -> dict[str, int]:
        """One pass over every stored subscription. Returns what it did."""
        done = {"delivered": 0, "failed": 0, "dead_letters": 0, "confirmations": 0}
        store = self.persistence
        live = set()
        for sub in store.get_subscriptions():
            live.add(sub.id)
            if sub.is_expired():
                continue
            retry = self._retries.get(sub.id)
            if retry is not None and retry.next_at > time.monotonic():
                continue
            if not self._hold(sub):
                continue
            try:
                self._serve(sub, done)
            except exc.SubscriptionNotFound:
                self._retries.pop(sub.id, None)
            except exc.PersistenceError as e:
                LOG.warning("subscription %s: %s", sub.id, e)
        for sid in set(self._retries) - live:
            del self._retries[sid]
        for key, value in done.items():
            self.stats[key] += value
        return done

    def _hold(self, sub: Subscription) -> bool:
        """Take (or renew) this worker's lease on ``sub``; ``False``: another worker
        serves it."""
        rid = f"subscription:{sub.id}"
        try:
            self._leases().acquire(rid, self.lease_ttl, holder=self.holder,
                                   operation="deliver", kind="subscription")
        except exc.LeaseHeld:
            self._held.discard(rid)
            return False
        self._held.add(rid)
        return True

    # -- one subscription ----------------------------------------------------------------

    def _serve(self, sub: Subscription, done: dict[str, int]) -> None:
        if not sub.confirmed:
            if sub.confirmation_token and sub.confirmation_sent_at is None:
                self._confirm(sub, done)
            return
        store = self.persistence
        options = sub.options or {}
        started = time.monotonic()
        page = store.list_events(since=sub.position, limit=self.batch,
                                 kinds=list(sub.kinds) or None,
                                 project_id=options.get("project_id"))
        for event in page:
            if time.monotonic() - started > self.lease_ttl / 3:
                if not self._hold(sub):
                    return  # lost it (this worker was too slow): the other one goes on
                started = time.monotonic()
            result = self._send(sub, event.id,
                                webhooks.event_body(sub.id, event), "event")
            if result.ok:
                self._retries.pop(sub.id, None)
                self._save(sub, position=event.id, delivered=sub.delivered + 1)
                done["delivered"] += 1
                continue
            done["failed"] += 1
            if self._failed(sub, event.id, result, options):
                self._save(sub, position=event.id, dead_letters=sub.dead_letters + 1,
                           last_error=result.error)
                done["dead_letters"] += 1
                continue
            self._save(sub, last_error=result.error)
            return
        if page.marker is not None and page.marker > sub.position and not page.more:
            self._save(sub, position=page.marker)  # events it does not want

    def _confirm(self, sub: Subscription, done: dict[str, int]) -> None:
        body = webhooks.confirmation_body(sub.id, sub.confirmation_token, sub.subscriber)
        result = self._send(sub, 0, body, "confirmation")
        if result.ok:
            self._retries.pop(sub.id, None)
            self._save(sub, confirmation_sent_at=utcnow(), last_error=None)
            done["confirmations"] += 1
            LOG.info("subscription %s: confirmation sent to %s", sub.id,
                     shown_url(sub.subscriber))
            return
        done["failed"] += 1
        if self._failed(sub, 0, result, sub.options or {}):
            # Given up: tried again when a worker starts afresh, or the subscription
            # is made again.
            self._retries[sub.id] = _Retry(0, 0, float("inf"))
        self._save(sub, last_error=f"confirmation: {result.error}")

    def _send(self, sub: Subscription, target: int, body: bytes,
              kind: str) -> webhooks.Delivery:
        options = sub.options or {}
        headers = {"X-Volumelib-Subscription": sub.id, "X-Volumelib-Message-Type": kind}
        if target:
            headers["X-Volumelib-Event"] = str(target)
        try:
            return self._post(sub.subscriber, body, secret=sub.secret or "",
                              headers=headers, timeout=float(options.get("timeout", 10.0)),
                              verify_tls=bool(options.get("verify_tls", True)),
                              ca_file=options.get("ca_file"))
        except Exception as e:  # noqa: BLE001 - a delivery failure, never the worker's end
            return webhooks.Delivery(False, None, f"{type(e).__name__}: {e}")

    def _failed(self, sub: Subscription, target: int, result: webhooks.Delivery,
                options: dict[str, Any]) -> bool:
        """Count a failed delivery of ``target``; ``True`` when it is given up."""
        retry = self._retries.get(sub.id)
        if retry is None or retry.target != target:
            retry = _Retry(target, 0, 0.0)
        retry.attempts += 1
        limit = int(options.get("max_attempts", 8))
        what = f"event {target}" if target else "the confirmation"
        if retry.attempts >= limit:
            self._retries.pop(sub.id, None)
            LOG.error("subscription %s: gave up on %s after %d attempts (%s)", sub.id,
                      what, retry.attempts, result.error)
            return True
        delay = backoff(options, retry.attempts)
        retry.next_at = time.monotonic() + delay
        self._retries[sub.id] = retry
        LOG.warning("subscription %s: delivering %s to %s failed (%s); attempt %d of %d, "
                    "next in %.1f s", sub.id, what, shown_url(sub.subscriber), result.error,
                    retry.attempts, limit, delay)
        return False

    def _save(self, sub: Subscription, **changes: Any) -> None:
        """Store ``changes`` on ``sub``; if another writer saved it meanwhile (a
        ``confirm``), apply them to the row as it is now.

        Raises:
            SubscriptionNotFound: it was deleted.
        """
        store = self.persistence
        for _ in range(_ATTEMPTS):
            for name, value in changes.items():
                setattr(sub, name, value)
            try:
                store.set_subscription(sub)
                return
            except exc.ConcurrentModification:
                found = store.get_subscriptions(sub.id)
                if not found:
                    raise exc.SubscriptionNotFound(subscription_id=sub.id) from None
                sub._values.update(found[0]._values)
                object.__setattr__(sub, "_db_version", found[0]._db_version)
                sub.obj_reset_changes()
        raise exc.ConcurrentModification(resource="Subscription", id=sub.id,
                                         expected="a quiet row")

    def __repr__(self) -> str:
        return f"<DeliveryWorker holder={self.holder!r}>"
