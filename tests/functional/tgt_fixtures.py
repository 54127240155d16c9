"""iSCSI fixtures: a private tgtd and a userspace initiator (load this module with
``pytest_plugins = ["tests.functional.tgt_fixtures"]``).

* ``tgtd`` (session): one throwaway :class:`tools.tgtd.Tgtd` on a private control port
  and portal on 127.0.0.1; stopped by PID at the end. Needs root, ``tgtd``, ``tgtadm``
  and ``qemu-io`` with its iSCSI block driver (skips, failing under ``CI=true``).
* ``make_iscsi_driver``: like ``make_driver``, with ``target_helper=tgtadm`` on that
  tgtd. At teardown every target and CHAP account still there is deleted, also when
  the test failed, and then the loop devices under the drivers' roots are detached.
* ``initiator``: the :class:`Initiator` class, which reads and writes a LUN from
  ``iscsi`` connection info with ``qemu-io``/``qemu-img`` (libiscsi inside qemu's block
  driver), the password passed in a 0600 file, never on the command line, and runs
  libiscsi's own tools (``iscsi-inq``...; password in ``LIBISCSI_CHAP_PASSWORD``).

Test modules use the fixtures only (importing this module from one would defeat
pytest's assertion rewriting of it).
"""

from __future__ import annotations

import contextlib
import glob
import os
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.helpers import requires_root, requires_tool
from tools.tgtd import Tgtd
from volumelib.drivers.file import FileDriver
from volumelib.drivers.types import ConnectionInfo

#: The initiator name the tests' connectors and qemu use.
INITIATOR = "iqn.1993-08.org.debian:01:volumelib-test"


def requires_qemu_iscsi() -> None:
    requires_tool("qemu-io", "qemu-img")
    if not glob.glob("/usr/lib/*/qemu/block-iscsi.so"):
        pytest.skip("needs qemu's iSCSI block driver (Debian package qemu-block-extra)")


@pytest.fixture(scope="session")
def tgtd() -> Iterator[Tgtd]:
    requires_root()
    requires_tool("tgtd", "tgtadm", "iscsi-inq", "iscsi-readcapacity16")
    requires_qemu_iscsi()
    with Tgtd() as daemon:
        yield daemon


@pytest.fixture
def make_iscsi_driver(tgtd: Tgtd, make_driver: Callable[..., FileDriver]
                      ) -> Iterator[Callable[..., FileDriver]]:
    """``make_iscsi_driver(directory, **options)``: a set-up iSCSI FileDriver."""

    def make(directory: str, **options: Any) -> FileDriver:
        options.setdefault("target_helper", "tgtadm")
        options.setdefault("tgtadm_control_port", tgtd.control_port)
        options.setdefault("target_port", tgtd.portal_port)
        return make_driver(directory, **options)

    yield make
    tgtd.clear()  # make_driver's own teardown then detaches loop devices


class Initiator:
    """A userspace iSCSI initiator on 127.0.0.1 (qemu's libiscsi block driver)."""

    def __init__(self, info: ConnectionInfo | dict[str, Any], *,
                 password: str | None = None, initiator: str = INITIATOR) -> None:
        info = ConnectionInfo.from_dict(info)
        assert info.driver_volume_type == "iscsi"
        self.data = info.data
        self.password = self.data.get("auth_password") if password is None else password
        self.initiator = initiator

    @contextlib.contextmanager
    def _command(self, argv: list[str], raw: str = "",
                 after: tuple[str, ...] = ()) -> Iterator[list[str]]:
        """``argv`` with the ``--object`` for the secret after the program (and
        qemu-img's subcommand), then the image options (``raw`` adds options of the
        raw layer, such as ``offset=``), then ``after``; the secret file lives as long
        as the context."""
        data = self.data
        opts = ["driver=raw" + (f",{raw}" if raw else ""), "file.driver=iscsi",
                "file.transport=tcp",
                f"file.portal={data['target_portal']}", f"file.target={data['target_iqn']}",
                f"file.lun={data['target_lun']}", f"file.initiator-name={self.initiator}"]
        with tempfile.TemporaryDirectory(prefix="volumelib-iscsi-") as tmp:
            objects: list[str] = []
            if data.get("auth_method") == "CHAP":
                secret = os.path.join(tmp, "secret")
                fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as f:
                    f.write(self.password or "")
                objects = ["--object", f"secret,id=chap,file={secret}"]
                opts += [f"file.user={data['auth_username']}", "file.password-secret=chap"]
            at = 2 if argv[0] == "qemu-img" else 1  # after qemu-img's subcommand
            yield [*argv[:at], *objects, *argv[at:], ",".join(opts), *after]

    def _run(self, argv: list[str], check: bool, *, raw: str = "",
             after: tuple[str, ...] = (), timeout: float = 300
             ) -> subprocess.CompletedProcess[str]:
        with self._command(argv, raw, after) as cmd:
            result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"{argv[0]} failed ({result.returncode}): "
                                 f"{result.stdout}{result.stderr}")
        return result

    def io(self, *commands: str, check: bool = True,
           timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """``qemu-io -c CMD...`` on the LUN (``write -P 0xab 0 1M``, ``read -P ...``);
        a failed command or pattern check fails with ``check``."""
        argv = ["qemu-io"]
        for command in commands:
            argv += ["-c", command]
        return self._run([*argv, "--image-opts"], check, timeout=timeout)

    @contextlib.contextmanager
    def session(self, *commands: str) -> Iterator[subprocess.Popen[str]]:
        """A ``qemu-io -c CMD...`` running in the background (to hold a session open);
        killed (exactly its PID) when the context ends if it still runs."""
        argv = ["qemu-io"]
        for command in commands:
            argv += ["-c", command]
        with self._command([*argv, "--image-opts"]) as cmd:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True)
            try:
                yield proc
            finally:
                if proc.poll() is None:
                    proc.kill()
                proc.communicate(timeout=60)

    def libiscsi(self, program: str, *args: str) -> subprocess.CompletedProcess[str]:
        """Run libiscsi's ``program`` (``iscsi-inq``, ``iscsi-readcapacity16``) on the
        LUN; the CHAP secret goes in the environment, not on the command line."""
        data = self.data
        user = f"{data['auth_username']}@" if data.get("auth_method") == "CHAP" else ""
        url = f"iscsi://{user}{data['target_portal']}/{data['target_iqn']}/{data['target_lun']}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("LIBISCSI_")}
        if user:
            env["LIBISCSI_CHAP_PASSWORD"] = self.password or ""
        return subprocess.run([program, *args, "-i", self.initiator, url], env=env,
                              capture_output=True, text=True, timeout=60)

    def read(self, offset: int, length: int, scratch: str) -> bytes:
        """``length`` bytes at ``offset`` (multiples of 512), read through iSCSI by
        ``qemu-img convert`` into a file in ``scratch``."""
        out = os.path.join(scratch, "iscsi-read.bin")
        self._run(["qemu-img", "convert", "-O", "raw", "--image-opts"], True,
                  raw=f"offset={offset},size={length}", after=(out,))
        try:
            with open(out, "rb") as f:
                return f.read()
        finally:
            os.unlink(out)

    def write(self, offset: int, source: str) -> None:
        """Write the file ``source`` at ``offset`` of the LUN (``qemu-img convert -n``)."""
        self._run(["qemu-img", "convert", "-n", "-f", "raw", source,
                   "--target-image-opts"], True,
                  raw=f"offset={offset},size={os.path.getsize(source)}")

    def size(self) -> int:
        import json
        out = self._run(["qemu-img", "info", "--output", "json", "--image-opts"], True)
        return int(json.loads(out.stdout)["virtual-size"])


@pytest.fixture
def initiator() -> type[Initiator]:
    """The :class:`Initiator` class: ``initiator(connection_info).io("read 0 512")``."""
    return Initiator
