"""A connection is made for a host: ``vol.connect({})`` is refused before anything
happens (issue 15, finding 3).

Real ``file`` backend on ext4 with real loop devices (root) and a SQLite store: the
refused connect leaves no connection row, the volume ``available`` and no loop device
on the volume's file, while the same volume connects fine once the host is named (so
the checks are not vacuous: that path does export a loop device).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

import volumelib
from tests.helpers import requires_root, requires_tool
from volumelib import exceptions as exc
from volumelib.drivers.types import ConnectorProperties


def loop_devices_for(path: str) -> list[str]:
    out = subprocess.run(["losetup", "-j", path], capture_output=True, text=True,
                         check=True, timeout=30).stdout
    return [line.split(":")[0] for line in out.splitlines() if line.strip()]


@pytest.fixture
def backend(ext4_dir: str) -> Iterator[Any]:
    requires_root()
    requires_tool("losetup", "blockdev")
    db = os.path.join(ext4_dir, "store.sqlite")
    volumelib.setup(persistence_config={"storage": "dbms", "connection": f"sqlite:///{db}"})
    b = volumelib.Backend("hostless", "file", file_root=os.path.join(ext4_dir, "root"))
    try:
        yield b
    finally:
        for conn in b.persistence.get_connections():
            conn._bind(b)
            conn.disconnect(force=True)
        b.close()
        volumelib.get_persistence().close()
        volumelib.setup()


@pytest.mark.parametrize("connector", [
    {}, {"ip": "127.0.0.1", "do_local_attach": True}, {"host": ""},
    ConnectorProperties(do_local_attach=True)], ids=["empty", "no-host", "blank", "typed"])
def test_connect_without_host_changes_nothing(backend: Any, connector: Any) -> None:
    vol = backend.create_volume(1, name="hostless")
    path = backend.driver.volume_path(vol.id)

    with pytest.raises(exc.InvalidArgument, match="'host'"):
        vol.connect(connector)

    assert backend.persistence.get_connections() == []
    assert backend.get_volume(vol.id).status == "available"
    assert vol.connections == []
    assert loop_devices_for(path) == []
    with pytest.raises(exc.InvalidArgument, match="'host'"):
        backend.validate_connector(connector)

    # The same volume, with the host named: exported and recorded.
    conn = vol.connect({"host": "node-1", "do_local_attach": True})
    assert [c.id for c in backend.persistence.get_connections()] == [conn.id]
    assert backend.get_volume(vol.id).status == "in-use"
    assert len(loop_devices_for(path)) == 1
    conn.disconnect()
    assert loop_devices_for(path) == []
    vol.delete()
