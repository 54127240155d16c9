"""The library side of a driver call: errors translated at the boundary, secrets
scrubbed from them, and model updates applied.

Every call into a driver goes through :func:`call_driver`, so a driver's own
exception becomes a :class:`~volumelib.exceptions.BackendError` naming the backend
and the operation, with the values of secret options and ``provider_auth`` scrubbed
from its text.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from volumelib import exceptions as exc
from volumelib.protocols import BackendLike
from volumelib.records.stored import StoredObject

__all__ = ["call_driver", "scrub_secrets", "apply_model_update", "MIN_SCRUBBED"]

LOG = logging.getLogger(__name__)

T = TypeVar("T")


def call_driver(backend: BackendLike, operation: str, func: Callable[..., T], *args: Any,
                resource_id: str | None = None) -> T:
    """Call a driver method; turn a non-volumelib failure into ``BackendError``.

    The driver's error text is scrubbed first (:func:`scrub_secrets`): values of the
    driver's options marked ``secret`` and the ``provider_auth`` of the volumes in
    ``args`` become ``***``. When something was scrubbed the original exception is
    not chained (its text has the secret); otherwise it is the ``__cause__``.
    """
    LOG.debug("%s: %s %s", backend.id, operation, resource_id or "")
    try:
        result = func(*args)
    except exc.VolumelibError:
        raise
    except NotImplementedError:
        raise
    except Exception as e:  # noqa: BLE001 - translated at the boundary, cause kept
        text = f"{type(e).__name__}: {e}"
        clean = scrub_secrets(text, _secrets_of(backend, args))
        LOG.debug("%s: %s %s failed: %s", backend.id, operation, resource_id or "", clean)
        error = exc.BackendError(backend_name=backend.id, operation=operation, reason=clean)
        if clean != text:
            raise error from None
        raise error from e
    LOG.debug("%s: %s %s done", backend.id, operation, resource_id or "")
    return result


#: Shorter secret values are not scrubbed from error text (replacing every ``a`` of a
#: message would make it unreadable and hide nothing worth hiding).
MIN_SCRUBBED = 4


def scrub_secrets(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of each secret (of at least
    :data:`MIN_SCRUBBED` characters) replaced by ``***``, longest first."""
    for secret in sorted({s for s in secrets if len(s) >= MIN_SCRUBBED}, key=len,
                         reverse=True):
        text = text.replace(secret, "***")
    return text


def _secrets_of(backend: BackendLike, args: Iterable[Any]) -> list[str]:
    """The values a driver error must not show: the driver's secret options (those
    :meth:`VolumeDriver.redacted_config` hides) and ``provider_auth`` of the volumes
    in ``args`` (whole, and its parts after the method: ``CHAP user password``)."""
    found: list[str] = []
    try:
        driver = backend.driver
        for key, shown in driver.redacted_config().items():
            value = getattr(driver.config, key, None)
            if shown == "***" and value is not None:
                values = value if isinstance(value, (list, tuple, set)) else [value]
                found.extend(str(v) for v in values)
    except Exception:  # noqa: BLE001 - never hide the driver's error behind this
        LOG.debug("could not read the secret options of %s", backend.id, exc_info=True)
    for arg in args:
        for holder in (arg, getattr(arg, "volume", None)):
            auth = getattr(holder, "provider_auth", None)
            if isinstance(auth, str) and auth:
                found.append(auth)
                found.extend(auth.split()[1:])
    return found


def apply_model_update(obj: StoredObject, update: Any) -> None:
    """Copy a driver's model update (provider_* fields) onto ``obj``."""
    if not update:
        return
    for key in ("provider_location", "provider_id", "provider_auth"):
        if key in update and key in obj.fields:
            setattr(obj, key, update[key])
