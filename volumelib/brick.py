"""The host side of a connection, through os-brick (imported only when needed).

os-brick normally reaches root through a privsep helper daemon. volumelib runs its
connectors in-process instead when it is root (``set_client_mode(False)``, as
os-brick documents for such callers); without root, attaching raises ``NotSupported``
saying why, instead of failing deep inside a helper.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Mapping
from typing import Any

from volumelib import exceptions as exc
from volumelib.drivers.types import ConnectionInfo, redact

__all__ = ["get_connector_properties", "connect_volume", "disconnect_volume",
           "extend_volume"]

LOG = logging.getLogger(__name__)

_ROOT_HELPER = "sudo"
_init_lock = threading.Lock()
_initialised = False


def _brick() -> Any:
    """Import os-brick and put its privileged calls in-process when we are root."""
    global _initialised
    try:
        # os-brick (and its privsep stack) loads on the first attach, not at import.
        from os_brick.initiator import connector
    except ImportError as e:  # pragma: no cover - os-brick is a hard dependency
        raise exc.NotSupported(operation="attach", driver=f"os-brick ({e})") from e
    with _init_lock:
        if not _initialised:
            if os.geteuid() == 0:
                # os-brick's privileged calls run in-process as root (no privsep daemon).
                import os_brick.privileged

                os_brick.privileged.default.set_client_mode(False)
            _initialised = True
    return connector


def get_connector_properties(multipath: bool = False, enforce_multipath: bool = False,
                             my_ip: str | None = None) -> dict[str, Any]:
    """This host's connector properties, os-brick's (``host``, ``ip``, ``initiator``...).

    This is what a node publishes so a controller can ``vol.connect(props)``.
    """
    connector = _brick()
    ip = my_ip or _local_ip()
    props = connector.get_connector_properties(_ROOT_HELPER, ip, multipath,
                                               enforce_multipath)
    props.setdefault("host", socket.gethostname())
    return dict(props)


def _local_ip() -> str:
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"


def _connector_for(info: ConnectionInfo, use_multipath: bool = False) -> Any:
    if os.geteuid() != 0:
        raise exc.NotSupported(
            f"attaching a {info.driver_volume_type} volume needs root (os-brick must "
            f"run privileged commands and this process is uid {os.geteuid()})",
            operation="attach", driver=info.driver_volume_type)
    connector = _brick()
    try:
        return connector.InitiatorConnector.factory(
            info.driver_volume_type.upper(), _ROOT_HELPER, use_multipath=use_multipath,
            device_scan_attempts=3)
    except Exception as e:  # noqa: BLE001 - os-brick raises ValueError and its own
        raise exc.NotSupported(
            f"os-brick has no connector for protocol {info.driver_volume_type!r}: {e}",
            operation="attach", driver=info.driver_volume_type) from e


def connect_volume(connection_info: Mapping[str, Any] | ConnectionInfo,
                   use_multipath: bool = False) -> dict[str, Any]:
    """Attach on this host; returns os-brick's device info (``{"path": ...}``)."""
    info = ConnectionInfo.from_dict(connection_info)
    conn = _connector_for(info, use_multipath)
    LOG.debug("os-brick connect_volume %s", redact(info.data))
    try:
        device = conn.connect_volume(dict(info.data))
    except Exception as e:  # noqa: BLE001
        raise exc.BackendError(backend_name=info.driver_volume_type, operation="attach",
                               reason=f"os-brick connect_volume: {e}") from e
    return dict(device or {})


def disconnect_volume(connection_info: Mapping[str, Any] | ConnectionInfo,
                      device: Mapping[str, Any] | None, force: bool = False,
                      use_multipath: bool = False) -> None:
    """Detach from this host (undo :func:`connect_volume`)."""
    info = ConnectionInfo.from_dict(connection_info)
    conn = _connector_for(info, use_multipath)
    LOG.debug("os-brick disconnect_volume %s", redact(info.data))
    try:
        conn.disconnect_volume(dict(info.data), dict(device or {}), force=force)
    except Exception as e:  # noqa: BLE001
        raise exc.BackendError(backend_name=info.driver_volume_type, operation="detach",
                               reason=f"os-brick disconnect_volume: {e}") from e


def extend_volume(connection_info: Mapping[str, Any] | ConnectionInfo,
                  use_multipath: bool = False) -> int:
    """Make this host see a volume the controller grew; returns the new size in bytes."""
    info = ConnectionInfo.from_dict(connection_info)
    conn = _connector_for(info, use_multipath)
    try:
        size = conn.extend_volume(dict(info.data))
    except Exception as e:  # noqa: BLE001
        raise exc.BackendError(backend_name=info.driver_volume_type, operation="extend",
                               reason=f"os-brick extend_volume: {e}") from e
    return int(size)
