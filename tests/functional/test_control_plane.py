"""The control plane on real components: two file-driver pools on separate real
filesystems (a reflink XFS on a loop device and the ext4 root filesystem), stored in a
SQLite file and in a real PostgreSQL; volumes found again from other processes."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap

import pytest

from tests.functional.conftest import fstype_of
from tests.functional.dbfixtures import fresh_database, pg_server  # noqa: F401
from volumelib import exceptions as exc
from volumelib.control.health import PROBE_STEPS
from volumelib.control.plane import ControlPlane
from volumelib.persistence.dbms.store import DBPersistence


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'control.sqlite'}"
    return fresh_database(request.getfixturevalue("pg_server"))


@pytest.fixture
def store(db_url):
    s = DBPersistence(db_url)
    yield s
    s.close()


@pytest.fixture
def roots(xfs_dir, ext4_dir):
    """``{"xfs": root, "ext4": root}`` on two separate real filesystems."""
    found = {"xfs": os.path.join(xfs_dir, "root"), "ext4": os.path.join(ext4_dir, "root")}
    assert fstype_of(xfs_dir) == "xfs" and fstype_of(ext4_dir) == "ext4"
    return found


@pytest.fixture
def cp(store, roots):
    plane = ControlPlane(persistence=store)
    plane.add_pool("xfs", "file", file_root=roots["xfs"], weight=2)
    plane.add_pool("ext4", "file", file_root=roots["ext4"], weight=1)
    yield plane
    plane.close()


def volume_file(cp, vol):
    return cp.backend(vol.backend_name).driver.volume_path(vol.id)


def files_under(root, sub):
    path = os.path.join(root, sub)
    return sorted(os.listdir(path)) if os.path.isdir(path) else []


def test_capabilities_read_from_the_real_filesystems(cp):
    caps = {p.name: set(p.capabilities) for p in cp.pools()}
    assert "reflink" in caps["xfs"] and "cow_snapshot" in caps["xfs"]
    assert "reflink" not in caps["ext4"]
    assert {"thin", "clone"} <= caps["xfs"] & caps["ext4"]


def test_placement_by_capability(cp):
    cp.create_volume_type("cow", {"reflink": "<is> True"})
    cp.create_volume_type("copy", {"reflink": "<is> False",
                                   "thin_provisioning_support": "<is> True"})
    cow = cp.create_volume(1, name="cow", volume_type="cow")
    copy = cp.create_volume(1, name="copy", volume_type="copy")
    assert (cow.backend_name, copy.backend_name) == ("xfs", "ext4")
    assert fstype_of(volume_file(cp, cow)) == "xfs"
    assert fstype_of(volume_file(cp, copy)) == "ext4"
    # The type's pools must match it: ext4 cannot serve "reflink".
    with pytest.raises(exc.InvalidArgument, match="'ext4'.*reflink"):
        cp.create_volume_type("cow-pinned", {"reflink": "<is> True"}, pools=["ext4"])
    # The clone of a volume stays on its pool and shares extents there.
    clone = cp.get_volume(cow.id).clone(name="cow-clone")
    assert clone.backend_name == "xfs" and os.path.exists(volume_file(cp, clone))


def test_placement_by_capacity_fills_one_pool(cp):
    stats = cp.stats()["pools"]["xfs"]
    total = stats["total_capacity_gb"]
    first = int(math.floor(total)) - 1     # thin, ratio 1.0: provisioned may reach total
    big = cp.create_volume(first, name="big")
    assert big.backend_name == "xfs"       # the heavier pool while it has room
    assert os.path.getsize(volume_file(cp, big)) == first * 1024 ** 3
    spill = cp.create_volume(2, name="spill")
    assert spill.backend_name == "ext4"
    ranking = [c.name for c in cp.place(1)]
    assert ranking == ["xfs", "ext4"]      # 1 GiB still fits on xfs
    with pytest.raises(exc.NoValidBackend) as info:
        cp.create_volume(1024 * 1024, name="huge")
    reasons = info.value.reasons
    assert set(reasons) == {"xfs", "ext4"}
    assert all(r.startswith("capacity: thin:") for r in reasons.values()), reasons
    assert "huge" not in {v.name for v in cp.volumes}


def test_weight_zero_drains_but_a_pinned_type_still_reaches(cp):
    cp.create_volume_type("xfs-only", pools=["xfs"])
    cp.set_pool_weight("xfs", 0)
    assert cp.create_volume(1).backend_name == "ext4"
    assert cp.create_volume(1, volume_type="xfs-only").backend_name == "xfs"
    cp.set_pool_enabled("xfs", False)
    with pytest.raises(exc.NoValidBackend) as info:
        cp.create_volume(1, volume_type="xfs-only")
    assert info.value.reasons["xfs"].startswith("enabled:")
    assert info.value.reasons["ext4"].startswith("backend_name:")


def test_no_valid_backend_names_each_filter(cp):
    with pytest.raises(exc.NoValidBackend) as info:
        cp.create_volume(1, volume_type={"reflink": "<is> True",
                                         "pool_name_pattern": "ext*"})
    reasons = info.value.reasons
    assert reasons["xfs"].startswith("pool_name: 'xfs' does not match the glob 'ext*'")
    assert reasons["ext4"].startswith("capabilities: reflink is False")
    assert "reflink" in str(info.value) and cp.volumes == []


CHILD = textwrap.dedent("""
    import json, os, sys
    from volumelib.control.plane import ControlPlane
    url, action, arg = sys.argv[1:4]
    cp = ControlPlane(persistence={"storage": "dbms", "connection": url})
    if action == "create":
        vol = cp.create_volume(1, name="shared", volume_type=arg)
        print(json.dumps({"id": vol.id, "pool": vol.backend_name}))
    else:
        vol = cp.get_volume(arg)
        path = cp.backend(vol.backend_name).driver.volume_path(vol.id)
        found = {"pool": vol.backend_name, "name": vol.name, "exists": os.path.exists(path)}
        snap = vol.create_snapshot(name="from-child")
        snap.delete()
        vol.delete()
        found["gone"] = not os.path.exists(path)
        print(json.dumps(found))
    cp.close()
""")


def run_child(db_url, *args):
    result = subprocess.run([sys.executable, "-c", CHILD, db_url, *args],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_catalogue_across_processes(cp, db_url, store):
    cp.create_volume_type("copy", {"reflink": "<is> False"})
    created = run_child(db_url, "create", "copy")
    assert created["pool"] == "ext4"
    assert store.get_volumes(volume_id=created["id"])[0].backend_name == "ext4"
    found = run_child(db_url, "find", created["id"])
    assert found == {"pool": "ext4", "name": "shared", "exists": True, "gone": True}
    assert store.get_volumes(volume_id=created["id"]) == []
    # The parent's catalogue lookup of a volume on an unregistered pool names it.
    vol = cp.create_volume(1)
    cp.remove_pool(vol.backend_name, force=True)
    with pytest.raises(exc.PoolNotFound, match=vol.backend_name):
        ControlPlane(persistence=store).get_volume(vol.id)


def test_health_and_probe_on_both_filesystems(cp, roots, store):
    keep = cp.create_volume(1, name="keep")
    report = cp.health(probe=True)
    assert report["ok"], report
    for name in ("xfs", "ext4"):
        pool = report["pools"][name]
        assert pool["alive"] and pool["capacity"]["total_capacity_gb"] > 0
        assert [s["step"] for s in pool["probe"]["steps"]] == list(PROBE_STEPS)
        assert pool["probe"]["cleanup"] == []
    assert report["pools"][keep.backend_name]["volumes_by_status"] == {"available": 1}
    # Nothing of the probes is left: records or files.
    assert [v.id for v in store.get_volumes()] == [keep.id]
    assert store.get_snapshots() == []
    assert files_under(roots["xfs"], "snapshots") == []
    assert files_under(roots["ext4"], "snapshots") == []
    assert files_under(roots["xfs"], "volumes") + files_under(roots["ext4"], "volumes") \
        == [f"volume-{keep.id}"]


def test_probe_reports_an_unreachable_pool(cp, roots):
    # The storage goes away under a set-up backend (root ignores permissions, so
    # the directory is moved rather than made read-only).
    os.rename(roots["ext4"], roots["ext4"] + ".moved")
    try:
        report = cp.health(probe=True)
        assert not report["ok"]
        assert report["pools"]["ext4"]["alive"] is False
        assert "probe" not in report["pools"]["ext4"]
        assert report["pools"]["xfs"]["probe"]["ok"]
    finally:
        os.rename(roots["ext4"] + ".moved", roots["ext4"])


def test_gc_finds_orphans_on_either_side(cp, roots, store):
    kept = cp.create_volume(1, volume_type={"volume_backend_name": "xfs"})
    lost = cp.create_volume(1, volume_type={"volume_backend_name": "ext4"})
    path = volume_file(cp, lost)
    store.delete_volume(store.get_volumes(volume_id=lost.id)[0])   # the record is lost
    report = cp.gc(dry_run=True)
    assert list(report["storage_orphans"]) == ["ext4"]
    assert lost.id in report["storage_orphans"]["ext4"][0] and os.path.exists(path)
    report = cp.gc()
    assert not os.path.exists(path) and os.path.exists(volume_file(cp, kept))
    assert cp.gc()["storage_orphans"] == {}
    # A record whose pool is gone is reported, never touched.
    cp.remove_pool("xfs", force=True)
    report = cp.gc()
    assert report["unknown_pool_records"] == [
        {"kind": "volume", "id": kept.id, "pool": "xfs", "status": "available"}]
    assert store.get_volumes(volume_id=kept.id)
