"""Ember-CSI 0.9.1, unmodified, runs on volumelib's cinderlib compatibility layer.

Ember-CSI (the Kubernetes CSI plugin built on cinderlib) is installed in the
cinderlib-clients virtualenv without cinderlib (``tests/functional/cinderlib_clients.py``;
``import cinderlib`` is volumelib's compat layer there, through the placeholder
distribution of ``volumelib.compat.cinderlib_dist``), started as a process of its own
(CSI spec 1.1.0, ``all`` mode, SQLite persistence, unix socket) and driven over gRPC
with its own generated CSI stubs. Every step checks what reached the storage: the
volume and snapshot files of the ``file`` driver on a real reflink XFS, their sizes and
bytes, the loop devices and mounts on the host, the records in ember's SQLite store;
for ``rbd``, the images in the throwaway Ceph cluster's pool.

Cost: the client venv is built once per set of inputs (about 30 s with a warm pip
cache, a few minutes cold) and reused; a run of this module takes about a minute.
"""

from __future__ import annotations

import dataclasses
import json
import os
import stat
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

import volumelib.persistence
from tests.functional.cinderlib_clients import (ClientVenv, CsiClient, CsiError, EmberPlugin,
                                                client_venv, mounts_under, running_ember)
from tests.helpers import pread, pwrite, requires_root, requires_tool
from volumelib.drivers.file import loop
from volumelib.testing.loopfs import loop_filesystem

pytestmark = pytest.mark.root

GiB = 1024 ** 3
WRITER = {"mode": "SINGLE_NODE_WRITER"}
BLOCK = {"block": {}, "access_mode": WRITER}
MOUNT = {"mount": {"fs_type": "ext4"}, "access_mode": WRITER}
POD_UID = "0b3f6a80-3c1d-4d39-9c64-2a4f8f0d7e11"
DATA = b"ember-csi on volumelib ".ljust(4096, b"#")  # one 4 KiB block (direct I/O)


def _size(n_gib: float) -> dict[str, str]:
    return {"required_bytes": str(int(n_gib * GiB))}


@dataclasses.dataclass
class Ember:
    """A running plugin, a CSI client to it, and ways to look at the storage."""

    plugin: EmberPlugin
    csi: CsiClient
    store: Any
    workdir: str
    root: str | None = None

    def identity(self, method: str, **request: Any) -> dict[str, Any]:
        return self.csi.call("Identity", method, **request)

    def controller(self, method: str, **request: Any) -> dict[str, Any]:
        return self.csi.call("Controller", method, **request)

    def node(self, method: str, **request: Any) -> dict[str, Any]:
        return self.csi.call("Node", method, **request)

    # -- the store ember writes (its SQLite file) --------------------------------------

    def volume_row(self, volume_id: str) -> Any:
        rows = self.store.get_volumes(volume_id=volume_id)
        return rows[0] if rows else None

    def connections(self, volume_id: str) -> list[Any]:
        return self.store.get_connections(volume_id=volume_id)

    def cinderlib_fields(self, kind: str, obj_id: str) -> dict[str, Any] | None:
        """The compat layer's cinderlib-only fields of a resource (key-value store)."""
        found = self.store.get_key_values(f"cinderlib:{kind}:{obj_id}")
        return json.loads(found[0].value) if found else None

    # -- the file driver's files -----------------------------------------------------------

    def volume_file(self, volume_id: str) -> str:
        assert self.root is not None
        return os.path.join(self.root, "volumes", f"volume-{volume_id}")

    def snapshot_file(self, snapshot_id: str) -> str:
        assert self.root is not None
        return os.path.join(self.root, "snapshots", f"snapshot-{snapshot_id}")

    def files(self) -> set[str]:
        assert self.root is not None
        return {os.path.relpath(os.path.join(d, n), self.root)
                for d, _, names in os.walk(self.root) for n in names}


@pytest.fixture(scope="module")
def clients() -> ClientVenv:
    return client_venv()


def _store(db: str) -> Any:
    return volumelib.persistence.setup({"storage": "dbms", "connection": f"sqlite:///{db}"})


@pytest.fixture(scope="module")
def file_ember(clients: ClientVenv) -> Iterator[Ember]:
    """Ember on the file driver, its own reflink XFS holding the volumes, the SQLite
    file, ember's state and the kubelet-like staging and publish directories."""
    requires_root()
    requires_tool("losetup", "mkfs.xfs", "mkfs.ext4", "mount", "umount", "lsblk", "debugfs")
    with loop_filesystem("xfs", size_bytes=20 * GiB) as fs:
        workdir = fs.mountpoint
        root = os.path.join(workdir, "root")
        db = os.path.join(workdir, "ember.sqlite")
        with running_ember(clients, workdir, {"driver": "file", "name": "xfs",
                                              "file_root": root},
                           {"storage": "db", "connection": f"sqlite:///{db}"}) as (plugin, csi):
            store = _store(db)
            try:
                yield Ember(plugin, csi, store, workdir, root)
            finally:
                store.close()
        assert mounts_under(workdir) == []


# -- Identity ------------------------------------------------------------------------------

@pytest.mark.xfs
def test_identity(file_ember: Ember) -> None:
    from volumelib.compat.cinderlib_dist import distribution_versions
    from volumelib.drivers.file import FileDriver

    info = file_ember.identity("GetPluginInfo")
    assert info["name"] == "volumelib-test.ember-csi.io" and info["vendor_version"] == "0.9.1"
    versions = distribution_versions()
    assert info["manifest"] == {
        "cinder-driver": "FileDriver", "cinder-driver-version": FileDriver.version,
        "cinder-driver-supported": "True", "cinderlib-version": versions["cinderlib"],
        "cinder-version": versions["cinder"], "mode": "all",
        "persistence": "CompatPersistence"}
    caps = file_ember.identity("GetPluginCapabilities")["capabilities"]
    assert {"service": {"type": "CONTROLLER_SERVICE"}} in caps
    assert {"volume_expansion": {"type": "ONLINE"}} in caps
    # the probe writes a key-value through cinderlib's persistence and reads it back
    assert file_ember.identity("Probe") == {"ready": True}
    probes = [kv for kv in file_ember.store.get_key_values()
              if kv.key.endswith(".probe") and kv.key.startswith(info["name"] + ".all.")]
    assert len(probes) == 1 and probes[0].value == "1"
    assert file_ember.identity("Probe") == {"ready": True}
    assert file_ember.store.get_key_values(probes[0].key)[0].value == "2"
    rpcs = {c["rpc"]["type"] for c in
            file_ember.controller("ControllerGetCapabilities")["capabilities"]}
    assert {"CREATE_DELETE_VOLUME", "PUBLISH_UNPUBLISH_VOLUME", "LIST_VOLUMES",
            "CREATE_DELETE_SNAPSHOT", "LIST_SNAPSHOTS", "CLONE_VOLUME",
            "EXPAND_VOLUME"} <= rpcs
    rpcs = {c["rpc"]["type"] for c in file_ember.node("NodeGetCapabilities")["capabilities"]}
    assert {"STAGE_UNSTAGE_VOLUME", "GET_VOLUME_STATS"} <= rpcs
    # the capacity is the file driver's free space on the XFS, from the backend's stats
    capacity = int(file_ember.controller("GetCapacity")["available_capacity"])
    fs = os.statvfs(file_ember.root)
    assert abs(capacity - fs.f_bavail * fs.f_frsize) < 64 * 1024 ** 2


# -- Controller ------------------------------------------------------------------------------

def _create(ember: Ember, name: str, gib: float, capability: dict[str, Any],
            **extra: Any) -> dict[str, Any]:
    return ember.controller("CreateVolume", name=name, capacity_range=_size(gib),
                            volume_capabilities=[capability], **extra)["volume"]


@pytest.mark.xfs
def test_controller_volumes_snapshots_clones_expand_delete(file_ember: Ember) -> None:
    ember = file_ember
    before = ember.files()
    vol = _create(ember, "pvc-data", 1, BLOCK)
    vid = vol["volume_id"]
    assert vol["capacity_bytes"] == str(GiB)
    assert os.stat(ember.volume_file(vid)).st_size == GiB
    row = ember.volume_row(vid)
    assert (row.name, row.size, row.status) == ("pvc-data", 1, "available")
    assert json.loads(row.metadata["_capabilities"])[0]["is_block"] is True
    # the same name again: the same volume, nothing new on the storage
    assert _create(ember, "pvc-data", 1, BLOCK)["volume_id"] == vid
    assert ember.files() == before | {f"volumes/volume-{vid}"}
    # sizes come as floats of GiB; a size that is not whole GiB is refused, nothing made
    with pytest.raises(CsiError) as err:
        _create(ember, "pvc-odd", 1.5, BLOCK)
    assert "1.5" in err.value.details
    assert ember.store.get_volumes(volume_name="pvc-odd") == []
    assert ember.files() == before | {f"volumes/volume-{vid}"}

    listed = ember.controller("ListVolumes")["entries"]
    assert {"volume_id": vid, "capacity_bytes": str(GiB)} in [e["volume"] for e in listed]
    # what the volume was made for, from the metadata ember stored with it
    checked = ember.controller("ValidateVolumeCapabilities", volume_id=vid,
                               volume_capabilities=[BLOCK])
    assert checked["confirmed"]["volume_capabilities"] == [BLOCK]
    assert "confirmed" not in ember.controller("ValidateVolumeCapabilities", volume_id=vid,
                                               volume_capabilities=[MOUNT])

    pwrite(ember.volume_file(vid), 0, DATA)  # what the snapshot must keep
    snap = ember.controller("CreateSnapshot", name="snap-1",
                            source_volume_id=vid)["snapshot"]
    sid = snap["snapshot_id"]
    assert snap["source_volume_id"] == vid and snap["ready_to_use"] is True
    assert pread(ember.snapshot_file(sid), 0, len(DATA)) == DATA
    assert ember.controller("CreateSnapshot", name="snap-1",
                            source_volume_id=vid)["snapshot"]["snapshot_id"] == sid
    changed = DATA[::-1]
    pwrite(ember.volume_file(vid), 0, changed)
    assert pread(ember.snapshot_file(sid), 0, len(DATA)) == DATA

    for request in ({}, {"source_volume_id": vid}, {"snapshot_id": sid}):
        entries = ember.controller("ListSnapshots", **request)["entries"]
        assert [e["snapshot"]["snapshot_id"] for e in entries] == [sid], request
    assert ember.controller("ListSnapshots", source_volume_id=str(uuid.uuid4())) == {}

    from_snap = _create(ember, "pvc-from-snap", 2, BLOCK,
                        volume_content_source={"snapshot": {"snapshot_id": sid}})
    fsid = from_snap["volume_id"]
    assert from_snap["content_source"] == {"snapshot": {"snapshot_id": sid}}
    assert os.stat(ember.volume_file(fsid)).st_size == 2 * GiB
    assert pread(ember.volume_file(fsid), 0, len(DATA)) == DATA
    assert ember.volume_row(fsid).snapshot_id == sid

    clone = _create(ember, "pvc-clone", 1, BLOCK,
                    volume_content_source={"volume": {"volume_id": vid}})
    cid = clone["volume_id"]
    assert pread(ember.volume_file(cid), 0, len(DATA)) == changed
    assert ember.volume_row(cid).source_volid == vid

    grown = ember.controller("ControllerExpandVolume", volume_id=cid,
                             capacity_range=_size(3))
    assert grown == {"capacity_bytes": str(3 * GiB)}  # not in use, no filesystem
    assert os.stat(ember.volume_file(cid)).st_size == 3 * GiB
    assert ember.volume_row(cid).size == 3
    assert pread(ember.volume_file(cid), 0, len(DATA)) == changed

    for volume_id in (fsid, cid):
        ember.controller("DeleteVolume", volume_id=volume_id)
        assert not os.path.exists(ember.volume_file(volume_id))
        assert ember.volume_row(volume_id) is None
    # a volume with snapshots: ember marks it deleted and keeps it until its last
    # snapshot goes; then both go from the storage
    ember.controller("DeleteVolume", volume_id=vid)
    assert ember.volume_row(vid).status == "deleted"
    assert os.path.exists(ember.volume_file(vid))
    assert vid not in [e["volume"]["volume_id"]
                       for e in ember.controller("ListVolumes").get("entries", [])]
    ember.controller("DeleteSnapshot", snapshot_id=sid)
    assert not os.path.exists(ember.snapshot_file(sid))
    assert not os.path.exists(ember.volume_file(vid)) and ember.volume_row(vid) is None
    # deleting what is gone succeeds (CSI's idempotency)
    ember.controller("DeleteVolume", volume_id=vid)
    ember.controller("DeleteSnapshot", snapshot_id=sid)
    assert ember.files() == before


# -- Node: publish, stage, write, read, unpublish ---------------------------------------------

def _kubelet_dirs(ember: Ember, name: str, block: bool) -> tuple[str, str]:
    """A staging directory and a publish target path whose parent exists, as the
    kubelet makes them."""
    staging = os.path.join(ember.workdir, "kubelet", "staging", name)
    pods = os.path.join(ember.workdir, "kubelet", "pods", name)
    os.makedirs(staging, exist_ok=True)
    os.makedirs(pods, exist_ok=True)
    return staging, os.path.join(pods, "volume")


def _is_mountpoint(path: str) -> bool:
    return os.path.realpath(path) in mounts_under(os.path.dirname(path))


def _publish_and_stage(ember: Ember, vid: str, capability: dict[str, Any],
                       staging: str) -> Any:
    node_id = ember.node("NodeGetInfo")["node_id"]
    assert node_id == ember.plugin.csi_node_id
    ember.controller("ControllerPublishVolume", volume_id=vid, node_id=node_id,
                     volume_capability=capability)
    [conn] = ember.connections(vid)
    assert ember.volume_row(vid).status == "in-use"
    assert conn.connection_info["driver_volume_type"] == "local"
    device = conn.connection_info["data"]["device_path"]
    assert loop.devices_for_file(ember.volume_file(vid)) == [device]
    fields = ember.cinderlib_fields("connection", conn.id)
    assert fields["attached_host"] == node_id and fields["mountpoint"] == ""
    ember.node("NodeStageVolume", volume_id=vid, staging_target_path=staging,
               volume_capability=capability)
    stage = os.path.join(staging, "stage")
    assert _is_mountpoint(stage)
    [conn] = ember.connections(vid)
    assert conn.attached and conn.device["path"] == device
    assert ember.cinderlib_fields("connection", conn.id)["mountpoint"] == stage
    return conn


def _unstage_and_unpublish(ember: Ember, vid: str, staging: str, conn: Any) -> None:
    ember.node("NodeUnstageVolume", volume_id=vid, staging_target_path=staging)
    assert mounts_under(staging) == [] and os.listdir(staging) == []
    [after] = ember.connections(vid)
    assert after.id == conn.id and not after.attached
    assert ember.cinderlib_fields("connection", conn.id)["mountpoint"] == ""
    node_id = ember.plugin.csi_node_id
    ember.controller("ControllerUnpublishVolume", volume_id=vid, node_id=node_id)
    assert ember.connections(vid) == [] and ember.volume_row(vid).status == "available"
    assert ember.cinderlib_fields("connection", conn.id) is None
    assert loop.devices_for_file(ember.volume_file(vid)) == []


@pytest.mark.xfs
def test_block_volume_published_written_and_read(file_ember: Ember) -> None:
    ember = file_ember
    vid = _create(ember, "pvc-block", 1, BLOCK)["volume_id"]
    staging, target = _kubelet_dirs(ember, "block", block=True)
    conn = _publish_and_stage(ember, vid, BLOCK, staging)

    ember.node("NodePublishVolume", volume_id=vid, staging_target_path=staging,
               target_path=target, volume_capability=BLOCK,
               volume_context={"csi.storage.k8s.io/pod.uid": POD_UID})
    assert stat.S_ISBLK(os.stat(target).st_mode) and _is_mountpoint(target)
    # ember recorded this publish as a second connection (cinderlib.Connection(...))
    publish = [c for c in ember.connections(vid) if c.id != conn.id]
    assert len(publish) == 1 and publish[0].device == conn.device
    fields = ember.cinderlib_fields("connection", publish[0].id)
    assert fields == {"attached_host": ember.plugin.csi_node_id, "mountpoint": target,
                      "instance_uuid": POD_UID}
    assert "_capability" in publish[0].connector

    pwrite(target, GiB - len(DATA), DATA)  # through the published device...
    assert pread(ember.volume_file(vid), GiB - len(DATA), len(DATA)) == DATA  # ...to the file
    pwrite(ember.volume_file(vid), 0, DATA[::-1])  # and the other way round
    assert pread(target, 0, len(DATA)) == DATA[::-1]

    stats = ember.node("NodeGetVolumeStats", volume_id=vid, volume_path=target)
    assert stats["usage"] == [{"unit": "BYTES", "total": str(GiB)}]

    ember.node("NodeUnpublishVolume", volume_id=vid, target_path=target)
    assert not os.path.exists(target)
    assert [c.id for c in ember.connections(vid)] == [conn.id]
    assert ember.cinderlib_fields("connection", publish[0].id) is None
    _unstage_and_unpublish(ember, vid, staging, conn)
    assert pread(ember.volume_file(vid), GiB - len(DATA), len(DATA)) == DATA
    ember.controller("DeleteVolume", volume_id=vid)
    assert not os.path.exists(ember.volume_file(vid))


def _debugfs(path: str, request: str) -> str:
    result = subprocess.run(["debugfs", "-R", request, path], capture_output=True,
                            text=True, timeout=60, check=True)
    return result.stdout


@pytest.mark.xfs
def test_mount_volume_formatted_published_written_and_read(file_ember: Ember) -> None:
    ember = file_ember
    vid = _create(ember, "pvc-mount", 1, MOUNT)["volume_id"]
    staging, target = _kubelet_dirs(ember, "mount", block=False)
    conn = _publish_and_stage(ember, vid, MOUNT, staging)
    # ember made an ext4 through the loop device: its superblock is in the file
    assert pread(ember.volume_file(vid), 1024 + 56, 2) == b"\x53\xef"
    assert ember.cinderlib_fields("volume", vid) == {"admin_metadata": {"fs_type": "ext4"}}

    ember.node("NodePublishVolume", volume_id=vid, staging_target_path=staging,
               target_path=target, volume_capability=MOUNT,
               volume_context={"csi.storage.k8s.io/pod.uid": POD_UID})
    assert _is_mountpoint(target)
    with open(os.path.join(target, "hello.txt"), "wb") as f:
        f.write(DATA)
    with open(os.path.join(os.path.join(staging, "stage"), "hello.txt"), "rb") as f:
        assert f.read() == DATA  # the same filesystem under the staging path
    stats = ember.node("NodeGetVolumeStats", volume_id=vid, volume_path=target)
    [usage] = stats["usage"]
    assert usage["unit"] == "BYTES" and 0.8 * GiB < int(usage["total"]) <= GiB
    assert int(usage["used"]) + int(usage["available"]) == int(usage["total"])

    ember.node("NodeUnpublishVolume", volume_id=vid, target_path=target)
    assert not os.path.exists(target)
    _unstage_and_unpublish(ember, vid, staging, conn)
    # the file reached the storage: read it from the volume file, not through a mount
    assert _debugfs(ember.volume_file(vid), "cat /hello.txt").encode() == DATA

    # expanding a volume with a filesystem needs the node: ember knows from the
    # admin metadata it stored when it formatted the volume
    grown = ember.controller("ControllerExpandVolume", volume_id=vid,
                             capacity_range=_size(2))
    assert grown == {"capacity_bytes": str(2 * GiB), "node_expansion_required": True}
    assert os.stat(ember.volume_file(vid)).st_size == 2 * GiB
    ember.controller("DeleteVolume", volume_id=vid)
    assert not os.path.exists(ember.volume_file(vid))
    assert ember.cinderlib_fields("volume", vid) is None


# -- the controller side on RBD (the throwaway Ceph cluster) ---------------------------------

from tests.functional.ceph_fixtures import ceph_cluster, rbd_backend_config  # noqa: E402,F401


class _Pool:
    """The cluster's pool, read with the rados/rbd bindings (what reached Ceph)."""

    def __init__(self, config: dict[str, Any]) -> None:
        import rados
        self.cluster = rados.Rados(conffile=config["rbd_ceph_conf"],
                                   rados_id=config["rbd_user"],
                                   conf={"keyring": config["rbd_keyring"]})
        self.cluster.connect(timeout=30)
        self.ioctx = self.cluster.open_ioctx(config["rbd_pool"])

    def images(self) -> set[str]:
        import rbd
        return set(rbd.RBD().list(self.ioctx))

    def image(self, name: str, snapshot: str | None = None, read_only: bool = True) -> Any:
        import rbd
        return rbd.Image(self.ioctx, name, snapshot=snapshot, read_only=read_only)

    def size(self, name: str) -> int:
        with self.image(name) as image:
            return image.size()

    def snapshots(self, name: str) -> set[str]:
        with self.image(name) as image:
            return {s["name"] for s in image.list_snaps()}

    def read(self, name: str, length: int, snapshot: str | None = None) -> bytes:
        with self.image(name, snapshot=snapshot) as image:
            return image.read(0, length)

    def write(self, name: str, data: bytes) -> None:
        with self.image(name, read_only=False) as image:
            image.write(data, 0)
            image.flush()

    def close(self) -> None:
        self.ioctx.close()
        self.cluster.shutdown()


@pytest.fixture(scope="module")
def rbd_ember(clients: ClientVenv, rbd_backend_config: dict[str, Any],
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Ember, _Pool]]:
    """Ember configured as its users configure it for Ceph (``"driver": "RBD"`` and
    Cinder's RBD option names), on the session's cluster."""
    cfg = rbd_backend_config
    workdir = str(tmp_path_factory.mktemp("ember-rbd"))
    db = os.path.join(workdir, "ember.sqlite")
    backend = {"driver": "RBD", "name": "ceph", "rbd_pool": cfg["rbd_pool"],
               "rbd_user": cfg["rbd_user"], "rbd_ceph_conf": cfg["rbd_ceph_conf"],
               "rbd_keyring_conf": cfg["rbd_keyring"]}
    pool = _Pool(cfg)
    try:
        with running_ember(clients, workdir, backend,
                           {"storage": "db", "connection": f"sqlite:///{db}"}) as (plugin, csi):
            store = _store(db)
            try:
                yield Ember(plugin, csi, store, workdir), pool
            finally:
                store.close()
    finally:
        pool.close()


def test_rbd_controller(rbd_ember: tuple[Ember, _Pool]) -> None:
    ember, pool = rbd_ember
    from volumelib.drivers.rbd.driver import RBDDriver
    manifest = ember.identity("GetPluginInfo")["manifest"]
    assert (manifest["cinder-driver"], manifest["cinder-driver-version"]) == \
        ("RBDDriver", RBDDriver.version)
    assert ember.identity("Probe") == {"ready": True}
    before = pool.images()

    vid = _create(ember, "pvc-rbd", 1, BLOCK)["volume_id"]
    image = f"volume-{vid}"
    assert pool.images() == before | {image} and pool.size(image) == GiB
    assert _create(ember, "pvc-rbd", 1, BLOCK)["volume_id"] == vid
    assert pool.images() == before | {image}
    listed = [e["volume"] for e in ember.controller("ListVolumes")["entries"]]
    assert listed == [{"volume_id": vid, "capacity_bytes": str(GiB)}]

    pool.write(image, DATA)
    sid = ember.controller("CreateSnapshot", name="rbd-snap",
                           source_volume_id=vid)["snapshot"]["snapshot_id"]
    assert f"snapshot-{sid}" in pool.snapshots(image)
    pool.write(image, DATA[::-1])
    assert pool.read(image, len(DATA), snapshot=f"snapshot-{sid}") == DATA
    for request in ({}, {"source_volume_id": vid}, {"snapshot_id": sid}):
        entries = ember.controller("ListSnapshots", **request)["entries"]
        assert [e["snapshot"]["snapshot_id"] for e in entries] == [sid], request

    fsid = _create(ember, "pvc-rbd-from-snap", 2, BLOCK,
                   volume_content_source={"snapshot": {"snapshot_id": sid}})["volume_id"]
    assert pool.size(f"volume-{fsid}") == 2 * GiB
    assert pool.read(f"volume-{fsid}", len(DATA)) == DATA
    cid = _create(ember, "pvc-rbd-clone", 1, BLOCK,
                  volume_content_source={"volume": {"volume_id": vid}})["volume_id"]
    assert pool.read(f"volume-{cid}", len(DATA)) == DATA[::-1]
    grown = ember.controller("ControllerExpandVolume", volume_id=cid,
                             capacity_range=_size(3))
    assert grown == {"capacity_bytes": str(3 * GiB)}
    assert pool.size(f"volume-{cid}") == 3 * GiB and ember.volume_row(cid).size == 3

    node_id = ember.node("NodeGetInfo")["node_id"]
    ember.controller("ControllerPublishVolume", volume_id=vid, node_id=node_id,
                     volume_capability=BLOCK)
    [conn] = ember.connections(vid)
    assert conn.connection_info["driver_volume_type"] == "rbd"
    assert conn.connection_info["data"]["name"] == f"{pool.ioctx.name}/{image}"
    assert ember.volume_row(vid).status == "in-use"
    assert ember.cinderlib_fields("connection", conn.id)["attached_host"] == node_id
    ember.controller("ControllerUnpublishVolume", volume_id=vid, node_id=node_id)
    assert ember.connections(vid) == [] and ember.volume_row(vid).status == "available"

    for volume_id in (fsid, cid):
        ember.controller("DeleteVolume", volume_id=volume_id)
        assert f"volume-{volume_id}" not in pool.images()
    ember.controller("DeleteVolume", volume_id=vid)  # kept: it has a snapshot
    assert ember.volume_row(vid).status == "deleted" and image in pool.images()
    ember.controller("DeleteSnapshot", snapshot_id=sid)
    assert pool.images() == before and ember.volume_row(vid) is None
