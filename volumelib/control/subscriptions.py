"""Subscriptions: events pushed to a subscriber instead of read by it.

``volumelib.subscribe(subscriber, kinds=..., ttl=..., options=...)`` takes either

* an ``http://`` or ``https://`` URL: a :class:`~volumelib.records.subscription.
  Subscription` is stored; a delivery worker (``volumelib events deliver``, any
  process or host sharing the store, :mod:`volumelib.control.delivery`) first posts a
  confirmation message with a token, and once :meth:`Subscription.confirm` was called
  with it, posts each event as signed JSON; or
* a Python callable: it is called with each new event in this process, by a thread
  of its own (started by ``subscribe``), until ``unsubscribe`` or the process ends. It
  is not stored (another process could not call it) and needs no confirmation.

Both retry a failed delivery with exponential backoff (``min_delay`` doubling up to
``max_delay``), ``max_attempts`` times in all, then give up on that event: it is
counted in ``dead_letters`` and delivery goes on with the next. A failed delivery
never blocks the operation that made the event: events are delivered after their
commit, by another thread or process.
"""

from __future__ import annotations

import datetime
import itertools
import logging
import re
import secrets
import threading
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from volumelib import exceptions as exc
from volumelib import runtime
from volumelib.persistence.events import Event, check_kinds
from volumelib.records.subscription import Subscription, shown_url
from volumelib.versioned import utcnow

__all__ = ["subscribe", "unsubscribe", "get_subscription", "list_subscriptions",
           "LocalSubscription", "OPTIONS", "DEFAULTS", "check_options", "backoff",
           "collect"]

LOG = logging.getLogger(__name__)

#: Delivery options and what they are (``options=`` of :func:`subscribe`).
OPTIONS = {
    "max_attempts": "deliveries of one event before it is given up (dead letter)",
    "min_delay": "seconds before the first retry (doubling at each retry)",
    "max_delay": "longest pause between two retries (seconds)",
    "timeout": "seconds a webhook may take to answer (URL subscribers)",
    "verify_tls": "check an https subscriber's certificate (default true)",
    "ca_file": "CA bundle to check an https subscriber's certificate with",
    "project_id": "deliver only the events of this project",
    "secret": "the signing key (default: a random one); kept apart, never shown",
}
#: Defaults of the numeric options.
DEFAULTS: dict[str, Any] = {"max_attempts": 8, "min_delay": 1.0, "max_delay": 300.0,
                            "timeout": 10.0, "verify_tls": True}

#: What a subscriber URL looks like (compiled on first use, not at import).
_URL = r"^https?://[^/?#\s]+(?:[/?#]\S*)?$"
_MAX_URL = 2000


def _check_subscriber_url(url: str) -> str:
    if len(url) > _MAX_URL or not re.match(_URL, url, re.IGNORECASE):
        raise exc.InvalidSubscriber(
            subscriber=repr(shown_url(url)[:80]),
            reason="a subscriber is a callable or an http:// or https:// URL with a host")
    return url


def _check_ttl(ttl: Any) -> float | None:
    if ttl is None:
        return None
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or ttl != ttl \
            or ttl <= 0 or ttl == float("inf"):
        raise exc.InvalidTTL(ttl=ttl, reason="a subscription's ttl is a number of "
                                             "seconds > 0 (or None: no end)")
    return float(ttl)


def check_options(options: Any) -> dict[str, Any]:
    """``options`` checked, with the defaults filled in (``secret`` left out: the
    caller keeps it apart).

    Raises:
        InvalidArgument: not a mapping, an unknown option or a bad value.
    """
    if options is None:
        options = {}
    if not isinstance(options, Mapping):
        raise exc.InvalidArgument(reason=f"options must be a mapping: {options!r:.60}")
    unknown = set(options) - set(OPTIONS)
    if unknown:
        raise exc.InvalidArgument(reason=f"unknown subscription option(s) "
                                         f"{', '.join(sorted(map(str, unknown)))}; known: "
                                         f"{', '.join(sorted(OPTIONS))}")
    out = dict(DEFAULTS)
    for key, value in options.items():
        if key == "secret":
            continue
        if key == "max_attempts":
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise exc.InvalidArgument(reason=f"max_attempts must be an integer >= 1: "
                                                 f"{value!r:.40}")
        elif key in ("min_delay", "max_delay", "timeout"):
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not 0 < value < float("inf"):
                raise exc.InvalidArgument(reason=f"{key} must be seconds > 0: {value!r:.40}")
            value = float(value)
        elif key == "verify_tls":
            if not isinstance(value, bool):
                raise exc.InvalidArgument(reason=f"verify_tls must be true or false: "
                                                 f"{value!r:.40}")
        elif not isinstance(value, str) or not value:
            raise exc.InvalidArgument(reason=f"{key} must be a non-empty string: "
                                             f"{value!r:.40}")
        out[key] = value
    if out["max_delay"] < out["min_delay"]:
        raise exc.InvalidArgument(reason="max_delay must be >= min_delay")
    return out


def backoff(options: Mapping[str, Any], attempt: int) -> float:
    """Seconds to wait before retry number ``attempt`` (1: the first retry)."""
    min_delay = float(options.get("min_delay", DEFAULTS["min_delay"]))
    max_delay = float(options.get("max_delay", DEFAULTS["max_delay"]))
    return min(max_delay, min_delay * 2 ** max(0, attempt - 1))


def _secret(options: Mapping[str, Any] | None) -> str:
    given = (options or {}).get("secret")
    if given is None:
        return secrets.token_hex(32)
    if not isinstance(given, str) or len(given) < 16:
        raise exc.InvalidArgument(reason="a subscription secret must be a string of at "
                                         "least 16 characters")
    return given


# -- the API ---------------------------------------------------------------------------

def subscribe(subscriber: Any, *, kinds: Any = None, ttl: float | None = None,
              options: Mapping[str, Any] | None = None,
              persistence: Any = None) -> Subscription | LocalSubscription:
    """Subscribe ``subscriber`` to the store's events (see the module docstring).

    Args:
        subscriber: an ``http(s)://`` URL, or a callable taking an
            :class:`~volumelib.persistence.events.Event`.
        kinds: only these event kinds (default: every kind).
        ttl: seconds until the subscription ends by itself (default: never).
        options: delivery options (:data:`OPTIONS`); ``secret`` sets the signing key
            of a URL subscriber (default: a random one, on the returned object's
            ``secret``).
        persistence: the store (default: the current one).

    Returns:
        A stored :class:`~volumelib.records.subscription.Subscription` (URL: not
        confirmed yet), or a :class:`LocalSubscription` (callable).

    Raises:
        InvalidSubscriber: neither a callable nor an http(s) URL.
        InvalidTTL: ``ttl`` <= 0 or no number. InvalidEventKind: an unknown kind.
        InvalidArgument: a bad option. NotSupported: the store keeps no event log.
        Nothing is stored when any of these is raised.
    """
    kinds = check_kinds(kinds)
    ttl = _check_ttl(ttl)
    checked = check_options(options)
    store = runtime.persistence(persistence)
    if callable(subscriber):
        store.last_event_id()  # NotSupported without an event log
        return LocalSubscription(store, subscriber, kinds=kinds, ttl=ttl, options=checked)
    if not isinstance(subscriber, str):
        raise exc.InvalidSubscriber(subscriber=type(subscriber).__name__,
                                    reason="a subscriber is a callable or an http:// or "
                                           "https:// URL")
    url = _check_subscriber_url(subscriber.strip())
    secret = _secret(options)
    last = store.last_event_id()  # NotSupported without an event log
    sub = Subscription(id=str(uuid.uuid4()), subscriber=url, kinds=list(kinds or []),
                       options=checked, project_id=runtime.settings().project_id,
                       ttl=ttl, secret=secret, confirmation_token=secrets.token_urlsafe(24),
                       confirmed=False, position=last,
                       expires_at=None if ttl is None else
                       utcnow() + datetime.timedelta(seconds=ttl))
    store.set_subscription(sub)
    LOG.info("subscription %s to %s stored; waiting for its confirmation", sub.id,
             shown_url(url))
    return sub


def get_subscription(subscription_id: str, persistence: Any = None
                     ) -> Subscription | LocalSubscription:
    """The subscription with this id (a callable one of this process, or stored).

    Raises:
        SubscriptionNotFound: there is none.
    """
    local = _local.get(subscription_id) if isinstance(subscription_id, str) else None
    if local is not None:
        return local
    if isinstance(subscription_id, str):
        found = runtime.persistence(persistence).get_subscriptions(subscription_id)
        if found:
            return found[0]
    raise exc.SubscriptionNotFound(subscription_id=subscription_id)


def list_subscriptions(persistence: Any = None) -> list[Subscription | LocalSubscription]:
    """The stored subscriptions, then this process's callable ones."""
    stored = runtime.persistence(persistence).get_subscriptions()
    stored.sort(key=lambda s: (s.created_at is None, s.created_at, s.id))
    return [*stored, *_local.values()]


def unsubscribe(subscription: Any, persistence: Any = None) -> None:
    """End a subscription (an object or its id): nothing more is delivered to it.

    Raises:
        SubscriptionNotFound: no such subscription.
    """
    sid = subscription if isinstance(subscription, str) else getattr(subscription, "id", None)
    local = _local.get(sid) if isinstance(sid, str) else None
    if local is not None:
        local.stop()
        return
    store = runtime.persistence(
        persistence if persistence is not None
        else getattr(subscription, "__dict__", {}).get("_store"))
    if not isinstance(sid, str) or not store.get_subscriptions(sid):
        raise exc.SubscriptionNotFound(subscription_id=sid)
    store.delete_subscription(sid)
    LOG.info("subscription %s deleted", sid)


def collect(persistence: Any = None) -> list[str]:
    """Delete the stored subscriptions whose ttl ran out (what ``gc()`` does).
    Returns their ids."""
    store = runtime.persistence(persistence)
    now = utcnow()
    gone = []
    for sub in store.get_subscriptions():
        if sub.is_expired(now):
            store.delete_subscription(sub.id)
            gone.append(sub.id)
    return gone


# -- callables in this process ------------------------------------------------------------

_local: dict[str, LocalSubscription] = {}
_local_lock = threading.Lock()
_numbers = itertools.count(1)


class LocalSubscription:
    """A callable subscribed in this process, served by a thread of its own.

    Attributes:
        id: ``local-<n>``. subscriber: the callable. kinds, options, ttl, expires_at:
        as given. confirmed: always ``True``. position: the last event id handled.
        delivered, dead_letters, last_error: delivery counts and the last failure.
    """

    confirmed = True
    secret = None

    def __init__(self, store: Any, subscriber: Callable[[Event], Any], *,
                 kinds: tuple[str, ...] | None, ttl: float | None,
                 options: dict[str, Any]) -> None:
        self.id = f"local-{next(_numbers)}"
        self.subscriber = subscriber
        self.kinds = list(kinds or [])
        self.options = options
        self.ttl = ttl
        self.expires_at = None if ttl is None else \
            utcnow() + datetime.timedelta(seconds=ttl)
        self.position = store.last_event_id()
        self.delivered = 0
        self.dead_letters = 0
        self.last_error: str | None = None
        self._store = store
        self._stop = threading.Event()
        with _local_lock:
            _local[self.id] = self
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"volumelib-subscription-{self.id}")
        self._thread.start()

    def matches(self, event: Event) -> bool:
        """Whether ``event`` is one this subscription wants."""
        if self.kinds and event.kind not in self.kinds:
            return False
        project = self.options.get("project_id")
        return project is None or event.project_id == project

    def is_expired(self, now: datetime.datetime | None = None) -> bool:
        return self.expires_at is not None and (now or utcnow()) >= self.expires_at

    def stop(self, wait: float = 5.0) -> None:
        """End it: the thread stops after the call in progress, if any."""
        with _local_lock:
            _local.pop(self.id, None)
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(wait)

    def confirm(self, token: str) -> None:
        """Nothing to confirm: a callable is trusted."""

    def _run(self) -> None:
        store = self._store
        project = self.options.get("project_id")
        try:
            with store.event_waiter() as waiter:
                while not self._stop.is_set() and not self.is_expired():
                    page = store.list_events(since=self.position, limit=100,
                                             kinds=self.kinds or None, project_id=project)
                    for event in page:
                        if self._stop.is_set():
                            return
                        self._deliver(event)
                        self.position = event.id
                    self.position = max(self.position, page.marker or 0)
                    if not page.more:
                        waiter.wait(self.position, 0.5)  # then look at the stop flag
        except Exception:  # noqa: BLE001 - a dead thread must say why
            LOG.exception("subscription %s stopped", self.id)
        finally:
            with _local_lock:
                _local.pop(self.id, None)

    def _deliver(self, event: Event) -> None:
        attempts = int(self.options["max_attempts"])
        for attempt in range(1, attempts + 1):
            try:
                self.subscriber(event)
            except Exception as e:  # noqa: BLE001 - the subscriber's failure is counted
                self.last_error = f"{type(e).__name__}: {e}"
                LOG.warning("subscription %s: event %s, attempt %d of %d failed: %s",
                            self.id, event.id, attempt, attempts, self.last_error)
                if attempt == attempts or self._stop.wait(backoff(self.options, attempt)):
                    break
                continue
            self.delivered += 1
            return
        self.dead_letters += 1
        LOG.error("subscription %s: gave up on event %s (dead letter %d)", self.id,
                  event.id, self.dead_letters)

    @property
    def json(self) -> dict[str, Any]:
        return {"id": self.id, "subscriber": getattr(self.subscriber, "__qualname__",
                                                     repr(self.subscriber)),
                "kinds": self.kinds, "confirmed": True, "ttl": self.ttl,
                "position": self.position, "delivered": self.delivered,
                "dead_letters": self.dead_letters, "last_error": self.last_error}

    def __repr__(self) -> str:
        return (f"<LocalSubscription id={self.id!r} subscriber="
                f"{getattr(self.subscriber, '__qualname__', self.subscriber)!r} "
                f"kinds={self.kinds!r}>")
