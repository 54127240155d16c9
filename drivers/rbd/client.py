"""Connection handling and error mapping of the RBD driver.

One :class:`RadosClient` per driver holds one ``rados.Rados`` cluster handle (opened
in ``do_setup``, shared by every operation, closed in ``close``) and one ``Ioctx`` on
the pool. Every blocking call is bounded: ``client_mount_timeout`` for the connect,
``rados_mon_op_timeout`` and ``rados_osd_op_timeout`` for monitor and OSD requests,
all set from the driver's ``rados_connect_timeout`` option, so an unreachable
monitor or a stopped OSD gives an error within seconds instead of a hang.

:func:`translate` turns librados/librbd exceptions into volumelib's: a timeout or a
lost connection is a :class:`~volumelib.exceptions.BackendError` (and the handle is
reopened on the next call), a permission error is ``BackendError`` naming the user
and pool, a missing image a ``VolumeNotFound``...
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import rados
import rbd

from volumelib import exceptions as exc
from volumelib.drivers.boundary import driver_operation

__all__ = ["RadosClient", "operation", "translate", "is_connection_error", "rados", "rbd",
           "TIMEOUT_ERRNOS"]

LOG = logging.getLogger(__name__)

_F = TypeVar("_F", bound=Callable[..., Any])

#: errnos that mean "the cluster did not answer in time / the link is gone".
TIMEOUT_ERRNOS = frozenset({errno.ETIMEDOUT, errno.ESHUTDOWN, errno.ENOTCONN,
                            errno.ECONNREFUSED, errno.EINTR, errno.EIO})

_CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    rados.TimedOut, rados.ConnectionShutdown, rados.NotConnected,
    rados.InterruptedOrTimeoutError, rbd.ConnectionShutdown)


def _errno(e: BaseException) -> int | None:
    value = getattr(e, "errno", None)
    return abs(value) if isinstance(value, int) else None


class RadosClient:
    """The driver's cluster handle and pool context, reconnected on demand.

    Args:
        backend_name: for error messages.
        conf_path: ``ceph.conf`` (``None``: librados' default search).
        user: the client name without ``client.``.
        keyring: a keyring file path (``None``: the conf's ``keyring``).
        cluster_name: the cluster name (``ceph``).
        pool: the RBD pool.
        timeout: seconds for the connect and each monitor or OSD request.
    """

    def __init__(self, *, backend_name: str, conf_path: str | None, user: str,
                 keyring: str | None, cluster_name: str, pool: str, timeout: int) -> None:
        self.backend_name = backend_name
        self.conf_path = conf_path
        self.user = user
        self.keyring = keyring
        self.cluster_name = cluster_name
        self.pool = pool
        self.timeout = timeout
        self._lock = threading.RLock()
        self._cluster: rados.Rados | None = None
        self._ioctx: rados.Ioctx | None = None

    # -- connection ----------------------------------------------------------------------

    def _conf(self) -> dict[str, str]:
        t = str(self.timeout)
        conf = {"client_mount_timeout": t, "rados_mon_op_timeout": t,
                "rados_osd_op_timeout": t, "log_to_stderr": "false",
                "err_to_stderr": "false"}
        if self.keyring:
            conf["keyring"] = self.keyring
        return conf

    def connect(self) -> None:
        """Open the cluster handle and the pool context (no-op when open).

        Raises:
            BackendError: the monitors do not answer within the timeout, the key is
                refused, or the pool does not exist (``reason`` says which).
        """
        with self._lock:
            if self._ioctx is not None:
                return
            started = time.monotonic()
            cluster = rados.Rados(rados_id=self.user, clustername=self.cluster_name,
                                  conffile=self.conf_path or "", conf=self._conf())
            try:
                cluster.connect(timeout=self.timeout)
            except Exception as e:
                _shutdown(cluster)
                raise self.error("connect", _connect_reason(e, self)) from e
            try:
                ioctx = cluster.open_ioctx(self.pool)
            except rados.ObjectNotFound as e:
                _shutdown(cluster)
                raise exc.InvalidConfig(
                    reason=f"rbd_pool={self.pool!r} of backend {self.backend_name}: no such "
                           f"pool in the cluster") from e
            except Exception as e:
                _shutdown(cluster)
                raise self.error("open pool", f"pool {self.pool!r}: {_describe(e)}") from e
            self._cluster, self._ioctx = cluster, ioctx
            LOG.debug("rbd backend %s: connected as client.%s to pool %s in %.3f s",
                      self.backend_name, self.user, self.pool, time.monotonic() - started)

    def close(self) -> None:
        """Close the pool context and the cluster handle. Idempotent."""
        with self._lock:
            ioctx, cluster = self._ioctx, self._cluster
            self._ioctx = self._cluster = None
        if ioctx is not None:
            with contextlib.suppress(Exception):
                ioctx.close()
        if cluster is not None:
            _shutdown(cluster)

    @property
    def connected(self) -> bool:
        """Whether the handles are open (no connection attempt)."""
        return self._ioctx is not None

    @property
    def ioctx(self) -> rados.Ioctx:
        """The pool context, connecting first if needed."""
        if self._ioctx is None:
            self.connect()
        assert self._ioctx is not None
        return self._ioctx

    @property
    def cluster(self) -> rados.Rados:
        """The cluster handle, connecting first if needed."""
        if self._cluster is None:
            self.connect()
        assert self._cluster is not None
        return self._cluster

    def reset(self) -> None:
        """Drop the handles after a connection failure; the next call reconnects."""
        LOG.debug("rbd backend %s: dropping the cluster handle", self.backend_name)
        self.close()

    # -- helpers ---------------------------------------------------------------------------

    def error(self, operation: str, reason: str) -> exc.BackendError:
        """A ``BackendError`` of this backend for ``operation`` (to raise)."""
        return exc.BackendError(backend_name=self.backend_name, operation=operation,
                                reason=reason)

    def mon_command(self, prefix: str, **args: Any) -> Any:
        """A monitor command (JSON output), e.g. ``mon_command("df")``.

        Raises:
            BackendError: the monitors refused it or did not answer in time.
        """
        cmd = json.dumps({"prefix": prefix, "format": "json", **args})
        ret, out, err = self.cluster.mon_command(cmd, b"", timeout=self.timeout)
        if ret != 0:
            raise self.error(prefix, f"monitor command failed ({ret}): {err}")
        return json.loads(out) if out else None

    @contextlib.contextmanager
    def image(self, name: str, *, snapshot: str | None = None,
              read_only: bool = False) -> Iterator[rbd.Image]:
        """Open image ``name`` (at ``snapshot``) and close it afterwards."""
        img = rbd.Image(self.ioctx, name, snapshot=snapshot, read_only=read_only)
        try:
            yield img
        finally:
            img.close()


def _shutdown(cluster: rados.Rados) -> None:
    with contextlib.suppress(Exception):
        cluster.shutdown()


def _describe(e: BaseException) -> str:
    number = _errno(e)
    text = str(e) or type(e).__name__
    return f"{type(e).__name__} (errno {number}): {text}" if number else \
        f"{type(e).__name__}: {text}"


def _connect_reason(e: BaseException, client: RadosClient) -> str:
    number = _errno(e)
    where = f"the monitors of {client.conf_path or 'the default ceph.conf'}"
    if isinstance(e, (rados.PermissionError, rados.PermissionDeniedError)) or \
            number in (errno.EACCES, errno.EPERM):
        return (f"client.{client.user} was refused by {where} (wrong key or keyring "
                f"{client.keyring!r}?): {_describe(e)}")
    if isinstance(e, (rados.TimedOut, rados.InterruptedOrTimeoutError)) or \
            number in (errno.ETIMEDOUT, errno.EINTR):
        return f"{where} did not answer within {client.timeout} s: {_describe(e)}"
    if isinstance(e, rados.ObjectNotFound) or number == errno.ENOENT:
        return (f"no keyring or configuration for client.{client.user} "
                f"(keyring {client.keyring!r}, conf {client.conf_path!r}): {_describe(e)}")
    return f"cannot connect to {where} as client.{client.user}: {_describe(e)}"


def is_connection_error(e: BaseException) -> bool:
    """Whether ``e`` means the cluster did not answer in time or the link is gone."""
    return isinstance(e, _CONNECTION_ERRORS) or _errno(e) in TIMEOUT_ERRNOS


def translate(client: RadosClient, operation: str, e: BaseException) -> exc.VolumelibError:
    """A volumelib exception for a librados/librbd failure of ``operation``."""
    number = _errno(e)
    if is_connection_error(e):
        client.reset()
        return client.error(operation, f"the cluster did not answer within {client.timeout} "
                                       f"s or the connection was lost: {_describe(e)}")
    if isinstance(e, (rbd.PermissionError, rados.PermissionError)) or \
            number in (errno.EACCES, errno.EPERM):
        return client.error(operation, f"client.{client.user} is not allowed to do this on "
                                       f"pool {client.pool} (check its caps): {_describe(e)}")
    if isinstance(e, (rbd.NoSpace, rados.NoSpace)) or number == errno.ENOSPC:
        return client.error(operation, f"the cluster is full: {_describe(e)}")
    return client.error(operation, _describe(e))


def _translate_for(driver: Any, name: str, e: BaseException) -> exc.VolumelibError:
    return translate(driver.client, name, e)


def operation(name: str) -> Callable[[_F], _F]:
    """Log a driver method at DEBUG with its ids; turn librados/librbd failures into
    volumelib exceptions (:func:`translate`); volumelib's pass through unchanged, and
    so does ``NotImplementedError`` (the library's per-volume group fallback)."""
    return driver_operation(name, errors=(rados.Error, rbd.Error, OSError),
                            translate=_translate_for, logger=LOG,
                            passthrough=(NotImplementedError,))
