"""The CLI's configuration reader, exit-code mapping and argument handling."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

from volumelib import exceptions as exc
from volumelib.cli import config
from volumelib.cli.main import (COMMANDS, EXIT_BUSY, EXIT_ERROR, EXIT_NOT_FOUND,
                                EXIT_NOT_SUPPORTED, EXIT_STATE, EXIT_USAGE, UsageError,
                                VolumelibApp, _legacy_argv, exit_code_for)

CINDERLIB_STYLE = """\
logs: false
venv_sudo: false
size_precision: 0
persistence_config:
  storage: db
  connection: sqlite:////var/lib/volumelib/db.sqlite
backends:
  - volume_backend_name: local
    volume_driver: file
    file_root: /var/lib/volumelib/local
  - volume_backend_name: ceph
    volume_driver: rbd
    rbd_pool: volumes
"""


def test_yaml_in_cinderlibs_shape():
    cfg = config.parse_yaml(CINDERLIB_STYLE, "t.yaml")
    assert cfg.persistence_config == {"storage": "db",
                                      "connection": "sqlite:////var/lib/volumelib/db.sqlite"}
    assert cfg.backend_names == ["local", "ceph"]
    assert cfg.backend_config("ceph") == {"volume_backend_name": "ceph",
                                          "volume_driver": "rbd", "rbd_pool": "volumes"}
    with pytest.raises(exc.InvalidConfig, match="pick one with --backend"):
        cfg.backend_config(None)
    with pytest.raises(exc.BackendNotFound, match="'nope'.*local, ceph"):
        cfg.backend_config("nope")


def test_config_repr_hides_urls_and_driver_options():
    cfg = config.parse_yaml(
        "persistence_config: {storage: db, connection: 'postgresql://u:db-pw@h/v'}\n"
        "backends: [{volume_backend_name: a, volume_driver: file, san_password: s3cr3t}]\n",
        "t.yaml")
    assert cfg.backends[0]["san_password"] == "s3cr3t"  # kept for the driver
    assert "db-pw" not in repr(cfg) and "s3cr3t" not in repr(cfg)


@pytest.mark.parametrize("text, needle", [
    ("a: [", "not valid YAML"),
    ("42", "must hold a mapping"),
    ("frobnicate: 1", "unknown key(s) frobnicate"),
    ("backends: 3", "must be a list"),
    ("backends: [3]", "backends[0] must be a mapping"),
    ("backends: [{volume_driver: file}]", "needs a volume_backend_name"),
    ("backends: [{volume_backend_name: a}, {volume_backend_name: a}]", "two backends"),
    ("persistence_config: memory", "must be a mapping"),
    ("image_cache: {driver: sqlite}", "base_dir"),
    ("project_id: 3", "project_id must be a string"),
])
def test_bad_yaml(text, needle):
    with pytest.raises(exc.InvalidConfig) as info:
        config.parse_yaml(text, "t.yaml")
    assert needle in str(info.value) and "t.yaml" in str(info.value)


def test_ini(tmp_path):
    ini = tmp_path / "v.conf"
    ini.write_text("[DEFAULT]\nenabled_backends = one\nproject_id = p1\n"
                   "[database]\nconnection = sqlite:////x.db\n"
                   "[one]\nvolume_driver = fake\nfake_capacity_gb = 50\n"
                   "[unused]\nvolume_driver = fake\n")
    cfg = config.load(str(ini), environ={})
    assert cfg.backends == [{"volume_driver": "fake", "fake_capacity_gb": "50",
                             "volume_backend_name": "one"}]
    assert cfg.persistence_config == {"storage": "dbms", "connection": "sqlite:////x.db"}
    assert cfg.project_id == "p1"
    ini.write_text("[a]\nvolume_driver = fake\n[b]\nvolume_driver = fake\n")
    assert config.load(str(ini), environ={}).backend_names == ["a", "b"]
    ini.write_text("[DEFAULT]\nfrobnicate = 1\n")
    with pytest.raises(exc.InvalidConfig, match="frobnicate"):
        config.load(str(ini), environ={})


def test_sources_and_precedence(tmp_path):
    path = tmp_path / "v.yaml"
    path.write_text(CINDERLIB_STYLE)
    assert config.load(None, environ={}).backends == []
    assert config.load(None, environ={}).persistence_config is None
    from_env = config.load(None, environ={"VOLUMELIB_CONFIG": str(path)})
    assert from_env.source == str(path) and len(from_env.backends) == 2
    url = "sqlite:////other.db"
    overridden = config.load(str(path), environ={"VOLUMELIB_DB_URL": url})
    assert overridden.persistence_config == {"storage": "dbms", "connection": url}
    with pytest.raises(exc.InvalidConfig, match="does not exist"):
        config.load(str(tmp_path / "missing.yaml"), environ={})
    with pytest.raises(exc.InvalidConfig, match="cannot read"):
        config.load(str(tmp_path), environ={})


@pytest.mark.parametrize("error, code", [
    (exc.VolumeNotFound(volume_id="x"), EXIT_NOT_FOUND),
    (exc.BackendNotFound(backend_name="x"), EXIT_NOT_FOUND),
    (exc.InvalidSize(size=0, reason="r"), EXIT_USAGE),
    (exc.InvalidConfig(reason="r"), EXIT_USAGE),
    (UsageError("bad"), EXIT_USAGE),
    (exc.InsufficientCapacity(backend_name="b", requested_gb=1, available_gb=0), EXIT_ERROR),
    (exc.ConcurrentModification(resource="Volume", id="x", expected=1), EXIT_BUSY),
    (exc.ResourceBusy(resource_id="x", operation="o", holder="h", expires_at="t"), EXIT_BUSY),
    (exc.HasSnapshots(volume_id="x", count=1), EXIT_STATE),
    (exc.VolumeInUse(volume_id="x", reason="r"), EXIT_STATE),
    (exc.AlreadyExists(resource="Volume", id="x"), EXIT_STATE),
    (exc.NotSupported(operation="o", driver="d"), EXIT_NOT_SUPPORTED),
    (exc.BackendError(backend_name="b", operation="o", reason="r"), EXIT_ERROR),
    (RuntimeError("boom"), EXIT_ERROR),
])
def test_exit_codes(error, code):
    assert exit_code_for(error) == code


def test_legacy_db_argument_order():
    assert _legacy_argv(["db", "--url", "U", "-f", "json", "current"]) == \
        ["db", "current", "--url", "U", "-f", "json"]
    assert _legacy_argv(["db", "upgrade", "--url", "U"]) == ["db", "upgrade", "--url", "U"]
    assert _legacy_argv(["volume", "list"]) == ["volume", "list"]


def test_in_process_run_writes_to_the_given_streams(tmp_path):
    out, err = io.StringIO(), io.StringIO()
    app = VolumelibApp(stdout=out, stderr=err)
    code = app.run(["db", "current", "--url", f"sqlite:///{tmp_path / 'x.db'}",
                    "-f", "value", "-c", "up_to_date"])
    assert code == 0 and out.getvalue() == "False\n"
    app = VolumelibApp(stdout=out, stderr=err)
    assert app.run(["volume", "show", "nope"]) == EXIT_NOT_FOUND
    assert err.getvalue() == "volumelib: error: Volume nope could not be found.\n"


def test_every_command_loads_and_builds_its_parser():
    app = VolumelibApp(stdout=io.StringIO(), stderr=io.StringIO())
    for name in COMMANDS:
        factory, found, rest = app.command_manager.find_command(name.split())
        assert found == name and rest == []
        parser = factory(app, None, cmd_name=name).get_parser(f"volumelib {name}")
        assert parser.format_help()


def test_help_does_not_import_the_heavy_parts():
    code = ("import sys; from volumelib.cli.main import main; main(['--help']); "
            "heavy = [m for m in ('sqlalchemy', 'os_brick', 'alembic') if m in sys.modules]; "
            "print('HEAVY', heavy)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False)
    assert "HEAVY []" in proc.stdout, proc.stdout[-500:] + proc.stderr[-500:]


def test_the_library_does_not_import_cliff():
    code = "import sys, volumelib; print('CLIFF', 'cliff' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False)
    assert "CLIFF False" in proc.stdout, proc.stderr[-500:]


def test_image_cache_section(tmp_path, monkeypatch):
    assert config.image_cache_options({"base_dir": "/c", "max_size": "20G",
                                       "max_count": "3"}) == (
        "/c", "sqlite", {"max_size": 20 * 1024 ** 3, "max_count": 3})
    for bad, needle in (({"base_dir": "/c", "max_size": "lots"}, "lots"),
                        ({"base_dir": "/c", "colour": "red"}, "colour")):
        with pytest.raises(exc.InvalidConfig, match=needle):
            config.image_cache_options(bad)
    with pytest.raises(exc.InvalidConfig, match="lots"):
        config.parse_yaml("image_cache: {base_dir: /c, max_size: lots}", "t.yaml")
    # `image-cache` commands use the config's section when --cache-dir is not given.
    monkeypatch.delenv("VOLUMELIB_IMAGE_CACHE_DIR", raising=False)
    cfg = tmp_path / "v.yaml"
    cfg.write_text(f"image_cache:\n  base_dir: {tmp_path / 'cache'}\n  driver: xattr\n")
    out, err = io.StringIO(), io.StringIO()
    code = VolumelibApp(stdout=out, stderr=err).run(
        ["--config", str(cfg), "image-cache", "list", "-f", "json"])
    assert code == 0, err.getvalue()
    assert out.getvalue().strip() == "[]" and (tmp_path / "cache").is_dir()


def test_help_of_a_command_and_of_the_app():
    out = io.StringIO()
    assert VolumelibApp(stdout=out, stderr=io.StringIO()).run(
        ["volume", "create", "--help"]) == 0
    assert "usage: volumelib volume create" in out.getvalue() and "--image" in out.getvalue()
    err = io.StringIO()
    assert VolumelibApp(stdout=io.StringIO(), stderr=err).run(["volume"]) == EXIT_USAGE
    assert "volume takes attach, clone, create" in err.getvalue()
    err = io.StringIO()
    assert VolumelibApp(stdout=io.StringIO(), stderr=err).run(["--bogus", "volume", "list"]) \
        == EXIT_USAGE
    assert err.getvalue() == ("volumelib: error: unknown option '--bogus' "
                              "(see 'volumelib --help')\n")


def test_a_cinderlib_yaml_backend_is_served_natively():
    """``cinder.volume.drivers.rbd.RBDDriver`` with Cinder's options, as in a cinderlib
    YAML file, becomes volumelib's rbd driver; Cinder-only options are dropped."""
    cfg = config.parse_yaml(
        "logs: false\nvenv_sudo: true\nbackends:\n"
        "  - volume_backend_name: ceph\n"
        "    volume_driver: cinder.volume.drivers.rbd.RBDDriver\n"
        "    rbd_pool: volumes\n    rbd_keyring_conf: /etc/ceph/k\n"
        "    use_multipath_for_image_xfer: true\n", "cl.yaml")
    kwargs = config.backend_kwargs(cfg.backend_config("ceph"))
    assert kwargs["volume_driver"] == "rbd" and kwargs["rbd_pool"] == "volumes"
    assert kwargs["volume_backend_name"] == "ceph"
    assert "/etc/ceph/k" in kwargs.values()  # rbd_keyring_conf, under the rbd driver's name
    assert "use_multipath_for_image_xfer" not in kwargs  # a Cinder option that means nothing
    # No native equivalent: Cinder's own driver, its options passed to the adapter as is
    # (it checks them against the driver's declarations).
    lvm = {"volume_backend_name": "lvm",
           "volume_driver": "cinder.volume.drivers.lvm.LVMVolumeDriver",
           "volume_group": "vg0"}
    assert config.backend_kwargs(lvm) == lvm
    # The switch: Cinder's own RBD driver, with Cinder's option names.
    cinder_rbd = config.backend_kwargs(dict(cfg.backend_config("ceph"),
                                            use_cinder_driver=True))
    assert cinder_rbd["volume_driver"] == "cinder.volume.drivers.rbd.RBDDriver"
    assert cinder_rbd["rbd_keyring_conf"] == "/etc/ceph/k"
    assert "use_cinder_driver" not in cinder_rbd
    plain = {"volume_backend_name": "f", "volume_driver": "file", "file_root": "/x"}
    assert config.backend_kwargs(plain) == plain
