"""Bad arguments and bad configuration: one clear line on stderr, the documented exit
code, and nothing changed (records in the SQLite file and files on the XFS)."""

from __future__ import annotations

import uuid

import pytest

from tests.functional.test_cli_support import (cli_env, one_error_line,  # noqa: F401
                                               run_cli, write_config)

MISSING = str(uuid.uuid4())

#: (arguments, exit code, a piece of the error line). "data" is a 1 GiB volume with
#: snapshot "s1"; "other" a volume with snapshot "o1".
BAD_COMMANDS = [
    (("volume", "show", MISSING), 3, f"Volume {MISSING} could not be found"),
    (("volume", "show", "no-such-name"), 3, "no-such-name could not be found"),
    (("volume", "delete", "other", MISSING), 3, MISSING),
    (("volume", "extend", MISSING, "--size", "5"), 3, MISSING),
    (("volume", "attach", "no-such-name"), 3, "no-such-name"),
    (("volume", "revert", "data", MISSING), 3, MISSING),
    (("snapshot", "delete", "s1", "no-such-snap"), 3, "no-such-snap"),
    (("snapshot", "create", "--volume", MISSING), 3, MISSING),
    (("group", "show", "no-such-group"), 3, "no-such-group"),
    (("--backend", "nope", "volume", "list"), 3, "'nope'"),
    (("volume", "create", "--size", "abc", "x"), 2, "'abc'"),
    (("volume", "create", "--size", "1.5", "x"), 2, "'1.5'"),
    (("volume", "create", "--size", "0", "x"), 2, "--size"),
    (("volume", "create", "--size", "-3", "x"), 2, "--size"),
    (("volume", "create", "x"), 2, "--size is required"),
    (("volume", "create", "--size", "1", "a/b"), 2, "'a/b'"),
    (("volume", "create", "--size", "1", "--id", "not-a-uuid"), 2, "'not-a-uuid'"),
    (("volume", "create", "--size", "1", "--property", "novalue"), 2, "'novalue'"),
    (("volume", "create", "--size", "1", "--image", "/no/such.img", "--snapshot", "s1"),
     2, "not allowed with"),
    (("volume", "extend", "data", "--size", "1"), 2, "larger than the current 1 GiB"),
    (("volume", "extend", "data"), 2, "--size"),
    (("volume", "clone", "data", "--size", "0"), 2, "--size"),
    (("volume", "revert", "data", "o1"), 2, "is of volume"),
    (("volume", "create", "--size", "100000", "huge"), 1, "100000"),
    (("volume", "list", "-c", "nosuch"), 2, "nosuch"),
    (("volume", "list", "-f", "xml"), 2, "'xml'"),
    (("volume", "list", "--limit", "0"), 2, "--limit"),
    (("volume", "list", "--marker", MISSING), 2, MISSING),
    (("volume", "frobnicate"), 2, "frobnicate"),
    (("volume", "show"), 2, "required"),
    (("volume", "show", "data", "--no-such-option"), 2, "--no-such-option"),
    (("volume", "delete", "data"), 5, "snapshot"),
    (("volume", "detach", "data"), 5, "not attached"),
    (("group", "update", "no-such-group", "--add-volume", "data"), 3, "no-such-group"),
    (("backend", "gc", "--older-than", "-1"), 2, "-1"),
    (("db", "downgrade", "base"), 2, "--yes"),
]


def test_bad_commands_change_nothing(cli_env):  # noqa: F811
    env = cli_env
    env.ok("volume", "create", "--size", "1", "data")
    env.ok("snapshot", "create", "--volume", "data", "s1")
    env.ok("volume", "create", "--size", "1", "other")
    env.ok("snapshot", "create", "--volume", "other", "o1")
    before = env.state()
    assert len(before["volumes"]) == 2 and len(before["files"]) >= 2
    problems = []
    for args, code, needle in BAD_COMMANDS:
        proc = env.run(*args)
        try:
            line = one_error_line(proc)
            assert proc.returncode == code, f"exit {proc.returncode}, expected {code}"
            assert needle in line, f"{needle!r} not in the message"
            assert proc.stdout == "", "printed output"
            assert env.state() == before, "changed something"
        except AssertionError as e:
            problems.append(f"{' '.join(args)}: {e} -- {proc.stderr.strip()!r}")
    assert not problems, "\n".join(problems)


def test_debug_adds_the_traceback(cli_env):  # noqa: F811
    proc = cli_env.run("--debug", "volume", "show", MISSING)
    assert proc.returncode == 3
    assert "Traceback" in proc.stderr and "VolumeNotFound" in proc.stderr
    assert proc.stderr.splitlines()[-1] == \
        f"volumelib: error: Volume {MISSING} could not be found."


@pytest.mark.parametrize("content, needle", [
    ("backends: [\n  - {volume_backend_name: x\n", "not valid YAML"),
    ("- just\n- a list\n", "must hold a mapping"),
    ("backends: {volume_backend_name: x}\n", "must be a list"),
    ("backends:\n  - volume_driver: file\n", "needs a volume_backend_name"),
    ("backend:\n  - {volume_backend_name: x}\n", "unknown key(s) backend"),
    ("persistence_config: sqlite:///x\nbackends: []\n", "persistence_config must be a mapping"),
    ("backends:\n  - {volume_backend_name: x, volume_driver: nosuchdriver}\n",
     "nosuchdriver"),
    ("backends:\n  - {volume_backend_name: x, volume_driver: file, frobnicate: 1}\n",
     "frobnicate"),
    ("persistence_config: {storage: nosuchstore}\n"
     "backends:\n  - {volume_backend_name: x, volume_driver: fake}\n", "nosuchstore"),
])
def test_bad_config_file(tmp_path, content, needle):
    config = tmp_path / "bad.yaml"
    config.write_text(content)
    proc = run_cli("--config", str(config), "volume", "create", "--size", "1", "x")
    line = one_error_line(proc)
    assert proc.returncode in (1, 2) and needle in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]


def test_missing_config(tmp_path):
    proc = run_cli("--config", str(tmp_path / "nope.yaml"), "volume", "list")
    assert proc.returncode == 2 and "does not exist" in one_error_line(proc)
    proc = run_cli("volume", "list", env={"VOLUMELIB_CONFIG": str(tmp_path / "env.yaml")})
    assert proc.returncode == 2 and "env.yaml does not exist" in one_error_line(proc)
    proc = run_cli("volume", "create", "--size", "1")  # no config at all
    assert proc.returncode == 2 and "no backend configured" in one_error_line(proc)
    proc = run_cli("--config")
    assert proc.returncode == 2 and "--config" in one_error_line(proc)
    assert list(tmp_path.iterdir()) == []


def test_bad_ini(tmp_path):
    ini = tmp_path / "bad.conf"
    ini.write_text("[DEFAULT]\nenabled_backends = missing\n")
    proc = run_cli("--config", str(ini), "volume", "list")
    assert proc.returncode == 2 and "missing" in one_error_line(proc)
    ini.write_text("[DEFAULT\nx = 1\n")
    proc = run_cli("--config", str(ini), "volume", "list")
    assert proc.returncode == 2 and "not a valid ini" in one_error_line(proc)


def test_two_backends_with_one_name(tmp_path):
    config = write_config(str(tmp_path / "dup.yaml"), str(tmp_path / "x.db"), [
        {"volume_backend_name": "same", "volume_driver": "fake"},
        {"volume_backend_name": "same", "volume_driver": "fake"}])
    proc = run_cli("--config", config, "volume", "list")
    assert proc.returncode == 2 and "two backends named 'same'" in one_error_line(proc)
