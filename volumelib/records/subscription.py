"""``Subscription``: where a store's events are pushed, kept in the store itself.

A subscription names a subscriber URL (``http://`` or ``https://``), the event kinds
it wants, a ttl and delivery options. It is a stored kind like a lease or a pool (one
row, compare-and-set saves), so any process sharing the store can serve it: the
delivery worker (``volumelib events deliver``, :mod:`volumelib.control.delivery`)
posts each event to the URL, signed with the subscription's ``secret``, and moves
``position`` (the id of the last event it is done with) forward.

Before the first event, the worker posts a confirmation message carrying a token;
whoever receives it confirms the subscription with :meth:`Subscription.confirm`
(the Zaqar confirmation flow). An unconfirmed subscription gets no events.

The ``secret`` and the confirmation token are secret fields: never in ``repr``, in
JSON (``json``/``dump``) or in log lines. The subscriber URL is shown without its
user information and query string in ``repr`` and logs.
"""

from __future__ import annotations

import datetime
import hmac
import logging
import re

from volumelib import exceptions as exc
from volumelib.persistence.events import Event
from volumelib.records.stored import StoredObject
from volumelib.versioned import fields, utcnow

__all__ = ["Subscription", "shown_url"]

LOG = logging.getLogger(__name__)

#: A URL's user information (compiled on first use, not at import).
_USERINFO = r"^([a-zA-Z][a-zA-Z0-9+.-]*://)[^/?#@]*@"


def shown_url(url: str | None) -> str | None:
    """``url`` as logs and ``repr`` show it: without user information, query string
    or fragment (where webhook URLs often carry credentials)."""
    if url is None:
        return None
    url = re.sub(_USERINFO, r"\1***@", url)
    for mark in ("?", "#"):
        if mark in url:
            url = url.split(mark, 1)[0] + mark + "***"
    return url


class Subscription(StoredObject):
    """A subscriber URL and the events it gets (see the module docstring).

    Make one with :func:`volumelib.subscribe`; the fields below are kept by the
    library (``position``, ``delivered``, ``dead_letters``, ``last_error`` by the
    delivery worker).

    Attributes:
        kinds: the event kinds delivered (empty: every kind).
        options: delivery options (:data:`volumelib.control.subscriptions.OPTIONS`).
        secret: the HMAC-SHA256 key of the ``X-Volumelib-Signature`` header.
        confirmed: the subscriber confirmed it; only then are events delivered.
        position: the id of the last event the worker is done with.
        dead_letters: events given up on after the last retry.
    """

    VERSION = "1.0"
    SECRET_FIELDS = frozenset({"secret", "confirmation_token"})
    fields = {
        "id": fields.UUID(),
        "subscriber": fields.String(),
        "kinds": fields.ListOfStrings(default=[]),
        "options": fields.JsonDict(default={}),
        "project_id": fields.String(nullable=True),
        "ttl": fields.Float(nullable=True),
        "expires_at": fields.DateTime(nullable=True),
        "secret": fields.SensitiveString(nullable=True),
        "confirmation_token": fields.SensitiveString(nullable=True),
        "confirmed": fields.Boolean(default=False),
        "confirmation_sent_at": fields.DateTime(nullable=True),
        "position": fields.Integer(default=0),
        "delivered": fields.Integer(default=0),
        "dead_letters": fields.Integer(default=0),
        "last_error": fields.String(nullable=True),
        "created_at": fields.DateTime(nullable=True),
        "updated_at": fields.DateTime(nullable=True),
    }

    # -- state ------------------------------------------------------------------------

    def is_expired(self, now: datetime.datetime | None = None) -> bool:
        """Its ttl ran out (it gets nothing more; ``gc()`` removes it)."""
        return self.expires_at is not None and (now or utcnow()) >= self.expires_at

    def matches(self, event: Event) -> bool:
        """Whether ``event`` is one this subscription wants (kind, project filter)."""
        if self.kinds and event.kind not in self.kinds:
            return False
        project = (self.options or {}).get("project_id")
        return project is None or event.project_id == project

    # -- confirmation -------------------------------------------------------------------

    def confirm(self, token: str) -> None:
        """Confirm the subscription with the ``token`` its confirmation message
        carried. Events committed from now on are delivered to it. Confirming a
        confirmed subscription again does nothing.

        Raises:
            InvalidConfirmationToken: ``token`` is not the subscription's; nothing
                changed.
            SubscriptionNotFound: it was deleted.
        """
        if not isinstance(token, str):
            raise exc.InvalidConfirmationToken(subscription_id=self.id)
        for _ in range(10):
            self._reload()
            if self.confirmed:
                return
            expected = self.confirmation_token
            if not expected or not hmac.compare_digest(expected.encode(), token.encode()):
                raise exc.InvalidConfirmationToken(subscription_id=self.id)
            self.confirmed = True
            self.confirmation_token = None
            self.position = self.persistence.last_event_id()
            try:
                self.save()
            except exc.ConcurrentModification:
                continue  # a delivery worker wrote to it meanwhile: read it again
            LOG.info("subscription %s confirmed", self.id)
            return
        raise exc.ConcurrentModification(resource="Subscription", id=self.id,
                                         expected="a quiet row")

    def _repr_fields(self) -> list[str]:
        return ["id", "subscriber", "kinds", "confirmed"]

    def __repr__(self) -> str:
        return (f"<Subscription id={self.id!r} subscriber={shown_url(self.subscriber)!r} "
                f"kinds={list(self.kinds or [])!r} confirmed={self.confirmed!r}>")
