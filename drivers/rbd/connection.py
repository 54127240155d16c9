"""The ``rbd`` connection info that os-brick's ``RBDConnector`` expects.

``{"driver_volume_type": "rbd", "data": {...}}`` with Cinder's keys: ``name``
(``pool/image``), ``hosts`` and ``ports`` (the monitors), ``auth_enabled``,
``auth_username``, ``secret_type``/``secret_uuid`` (for libvirt), ``keyring`` (the
keyring file's *content*: os-brick writes it into the ceph.conf it makes for the
attach; a secret, redacted by :func:`volumelib.drivers.types.redact` in ``repr``,
logs and dumps), ``cluster_name``, ``volume_id``, ``discard``, ``access_mode`` and
``do_local_attach`` (``False``: attach in userspace through librbd, no krbd).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from volumelib import exceptions as exc
from volumelib.drivers.types import ConnectionInfo, ConnectorProperties

__all__ = ["monitors_from_monmap", "parse_addr", "build_connection_info"]

LOG = logging.getLogger(__name__)

_ADDR = re.compile(r"^(?:v[12]:)?\[?(?P<host>[0-9A-Za-z.:-]+?)\]?:(?P<port>\d+)(?:/\d+)?$")


def parse_addr(addr: str) -> tuple[str, str] | None:
    """``("127.0.0.1", "3300")`` from ``v2:127.0.0.1:3300/0`` or ``[::1]:6789``."""
    m = _ADDR.match(addr.strip())
    return (m.group("host"), m.group("port")) if m else None


def monitors_from_monmap(monmap: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The monitors' hosts and ports from ``mon dump`` (JSON), one entry per monitor,
    preferring the messenger v2 address."""
    hosts: list[str] = []
    ports: list[str] = []
    for mon in monmap.get("mons", []):
        addrvec = mon.get("public_addrs", {}).get("addrvec", [])
        chosen = sorted(addrvec, key=lambda a: a.get("type") != "v2")
        addr = chosen[0]["addr"] if chosen else mon.get("public_addr", mon.get("addr", ""))
        parsed = parse_addr(addr)
        if parsed:
            hosts.append(parsed[0])
            ports.append(parsed[1])
    return hosts, ports


def read_keyring(path: str | None, user: str) -> str | None:
    """The content of the keyring file ``path`` (``None`` when there is none).

    Raises:
        InvalidConfig: the file cannot be read or has no key for ``client.<user>``.
    """
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as f:
            content = f.read()
    except OSError as e:
        raise exc.InvalidConfig(reason=f"rbd_keyring={path!r}: cannot read it: "
                                       f"{e.strerror}") from e
    if f"[client.{user}]" not in content:
        raise exc.InvalidConfig(reason=f"rbd_keyring={path!r} holds no key for "
                                       f"client.{user}")
    return content


def build_connection_info(*, pool: str, image: str, volume_id: str, hosts: list[str],
                          ports: list[str], user: str, keyring: str | None,
                          secret_uuid: str | None, cluster_name: str, discard: bool,
                          connector: ConnectorProperties) -> ConnectionInfo:
    """The connection info of ``pool/image`` for ``connector``."""
    data: dict[str, Any] = {
        "name": f"{pool}/{image}",
        "hosts": hosts,
        "ports": ports,
        "cluster_name": cluster_name,
        "auth_enabled": True,
        "auth_username": user,
        "secret_type": "ceph",
        "secret_uuid": secret_uuid,
        "volume_id": volume_id,
        "discard": discard,
        "access_mode": connector.attach_mode,
        "do_local_attach": False,
    }
    if keyring is not None:
        data["keyring"] = keyring
    return ConnectionInfo(driver_volume_type="rbd", data=data)
