"""Webhooks: the JSON bodies posted to URL subscribers, their signature, and the POST.

Every body is JSON (``Content-Type: application/json``), signed with HMAC-SHA256 over
the raw body bytes keyed by the subscription's ``secret``, sent as::

    X-Volumelib-Signature: sha256=<hex digest>

A receiver checks it with :func:`verify` (or the same three lines of ``hmac``) on the
body exactly as received, before parsing it. Two kinds of bodies, told apart by
``type`` (also in the ``X-Volumelib-Message-Type`` header):

* ``{"type": "confirmation", "subscription_id": ..., "token": ..., "message": ...}``:
  the first message of a subscription; ``subscription.confirm(token)`` (or
  ``volumelib subscription confirm ID TOKEN``) confirms it.
* ``{"type": "event", "subscription_id": ..., "event": {"id": ..., "time": ...,
  "kind": ..., "resource_id": ..., "action": ..., "old_status": ...,
  "new_status": ..., "project_id": ..., "payload": {...}}}``: one event. Delivery is
  at least once: an event may come twice (after a worker died mid-delivery); its
  ``id`` tells.

Any 2xx answer is a success; anything else (another status, a redirect, a timeout,
a refused or reset connection, a TLS failure) is a failure to retry. Redirects are
not followed and proxies are not used.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import logging
import ssl
import urllib.parse
from collections.abc import Mapping
from typing import Any

from volumelib._version import __version__
from volumelib.persistence.events import Event

__all__ = ["SIGNATURE_HEADER", "sign", "verify", "event_body", "confirmation_body",
           "post", "Delivery"]

LOG = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Volumelib-Signature"
#: Most bytes of a webhook's answer read (the rest is ignored).
_ANSWER_LIMIT = 64 * 1024


def sign(secret: str, body: bytes) -> str:
    """The ``X-Volumelib-Signature`` value of ``body``: ``sha256=<hex>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, signature: str | None) -> bool:
    """Whether ``signature`` (the header's value) signs ``body`` with ``secret``
    (constant-time comparison)."""
    if not isinstance(signature, str):
        return False
    return hmac.compare_digest(sign(secret, body), signature.strip())


def _dumps(data: Mapping[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def event_body(subscription_id: str, event: Event) -> bytes:
    """The body of an event's delivery."""
    return _dumps({"type": "event", "subscription_id": subscription_id,
                   "event": event.json})


def confirmation_body(subscription_id: str, token: str, subscriber: str) -> bytes:
    """The body of a subscription's confirmation message."""
    return _dumps({"type": "confirmation", "subscription_id": subscription_id,
                   "token": token, "subscriber": subscriber,
                   "message": "Confirm this subscription to volumelib events with "
                              "subscription.confirm(token) or `volumelib subscription "
                              "confirm ID TOKEN`."})


class Delivery:
    """The outcome of one POST.

    Attributes:
        ok: the subscriber answered 2xx.
        status: its HTTP status (``None``: no answer).
        error: what went wrong, for logs and ``last_error`` (no secret in it).
    """

    def __init__(self, ok: bool, status: int | None, error: str | None = None) -> None:
        self.ok = ok
        self.status = status
        self.error = error

    def __repr__(self) -> str:
        return f"<Delivery ok={self.ok} status={self.status} error={self.error!r}>"


def post(url: str, body: bytes, *, secret: str, headers: Mapping[str, str] | None = None,
         timeout: float = 10.0, verify_tls: bool = True,
         ca_file: str | None = None) -> Delivery:
    """POST ``body`` to ``url``, signed with ``secret``. Never raises for a failed
    delivery: the :class:`Delivery` says what happened."""
    parts = urllib.parse.urlsplit(url)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    host = parts.hostname or ""
    all_headers = {"Content-Type": "application/json",
                   "User-Agent": f"volumelib/{__version__}",
                   SIGNATURE_HEADER: sign(secret, body), **(headers or {})}
    if parts.username is not None:  # user:password@host: HTTP basic authentication
        credentials = f"{urllib.parse.unquote(parts.username)}:" \
                      f"{urllib.parse.unquote(parts.password or '')}"
        all_headers["Authorization"] = "Basic " + base64.b64encode(
            credentials.encode()).decode()
    conn: http.client.HTTPConnection
    try:
        if parts.scheme.lower() == "https":
            context = ssl.create_default_context(cafile=ca_file)
            if not verify_tls:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            conn = http.client.HTTPSConnection(host, parts.port, timeout=timeout,
                                               context=context)
        else:
            conn = http.client.HTTPConnection(host, parts.port, timeout=timeout)
    except (ValueError, OSError) as e:  # a bad port, an unreadable CA file
        return Delivery(False, None, f"{type(e).__name__}: {e}")
    try:
        conn.request("POST", target, body=body, headers=all_headers)
        answer = conn.getresponse()
        answer.read(_ANSWER_LIMIT)
        status = answer.status
    except (OSError, http.client.HTTPException) as e:
        return Delivery(False, None, f"{type(e).__name__}: {e}" if str(e)
                        else type(e).__name__)
    finally:
        conn.close()
    if 200 <= status < 300:
        return Delivery(True, status)
    return Delivery(False, status, f"HTTP {status}")
