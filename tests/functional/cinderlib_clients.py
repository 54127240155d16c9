"""Test tooling for cinderlib's real clients: a virtualenv of their own, the Ember-CSI
process, a CSI client, and cleanup of what they leave on the host.

* :func:`client_venv` builds (once) a virtualenv outside the project's dependencies
  with ``ember-csi==0.9.1`` (without its dependencies: it requires the real cinderlib)
  plus what it needs (:data:`CLIENT_PINS`: grpcio, protobuf 3.20.x for its generated
  code, kubernetes < 12 which it imports at start), ``ddt`` for cinderlib's own tests,
  volumelib installed editable from this tree, and the placeholder ``cinderlib`` and
  ``cinder`` distributions of :mod:`volumelib.compat.cinderlib_dist` (the documented
  way to run cinderlib's clients on volumelib). cinderlib 5.2.0's wheel is downloaded
  next to it (its functional tests are run from it; it is never installed).
  The venv lives in ``$VOLUMELIB_TEST_CACHE`` (default ``~/.cache/volumelib-tests``)
  under a name made from a digest of its inputs (the pins, the Python version, this
  tree's path and packaging files, this module and ``cinderlib_dist``); it is reused
  while they do not change, rebuilt otherwise, built under a lock, and older venvs of
  the same tree are removed.
* :class:`EmberPlugin` runs Ember-CSI as a process of its own on a unix socket,
  stopped by its PID (SIGTERM, then SIGKILL).
* :class:`CsiClient` calls it over gRPC with Ember-CSI's own generated stubs, through
  ``tests/cinderlib_clients/csi_bridge.py`` running in the client venv.
* :func:`unmount_under` unmounts, by exact path, every mount below a directory
  (Ember-CSI's bind mounts and filesystems), deepest first.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

LOG = logging.getLogger(__name__)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLIENT_SCRIPTS = os.path.join(ROOT, "tests", "cinderlib_clients")

#: Ember-CSI itself, installed without dependencies (it requires the real cinderlib).
EMBER = "ember-csi==0.9.1"
#: What Ember-CSI imports besides cinderlib and volumelib's own dependencies (its
#: generated CSI code needs protobuf 3.x; it imports kubernetes at start), and ddt
#: for cinderlib's functional tests. grpcio 1.81 and later (to 1.85 at least) make
#: the children Ember-CSI forks for mount/mkfs abort now and then ("epoll_wait error:
#: Bad file descriptor", grpc/grpc#43055); 1.78 does not.
CLIENT_PINS = ("grpcio==1.78.0", "protobuf==3.20.3", "kubernetes==11.0.0",
               "pytz==2026.6", "ddt==1.7.2")
#: Downloaded, never installed: its functional tests are run from the wheel.
CINDERLIB = "cinderlib==5.2.0"

CACHE_ROOT = os.environ.get("VOLUMELIB_TEST_CACHE") or os.path.join(
    os.path.expanduser("~"), ".cache", "volumelib-tests")
_READY = ".complete.json"
_PIP_TIMEOUT = 1200


@dataclasses.dataclass(frozen=True)
class ClientVenv:
    """A ready client virtualenv."""

    path: str
    python: str
    cinderlib_wheel: str
    #: Seconds the build took (0.0 when an existing venv was reused).
    built_in: float


def _digest() -> str:
    h = hashlib.sha256()
    h.update(sys.version.encode())
    h.update("\n".join((EMBER, CINDERLIB, *CLIENT_PINS)).encode())
    h.update(ROOT.encode())
    for rel in ("setup.cfg", "setup.py", "pyproject.toml", "volumelib/compat/cinderlib_dist.py",
                "tests/functional/cinderlib_clients.py"):
        with open(os.path.join(ROOT, rel), "rb") as f:
            h.update(f.read())
    return h.hexdigest()[:16]


def _run(cmd: list[str], timeout: float = _PIP_TIMEOUT) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n"
                           f"{(proc.stdout + proc.stderr)[-4000:]}")
    return proc.stdout


def _link_ceph_bindings(path: str, python: str) -> None:
    """Make rados and rbd (Debian's python3-rados/python3-rbd) importable, as
    tools/setup-env does for the project venv: only those two modules."""
    src = "/usr/lib/python3/dist-packages"
    found = [os.path.join(src, n) for n in sorted(os.listdir(src))
             if n.startswith(("rados.cpython-", "rbd.cpython-"))] if os.path.isdir(src) else []
    if not found:
        return
    target = os.path.join(path, "ceph-bindings")
    os.makedirs(target, exist_ok=True)
    for so in found:
        link = os.path.join(target, os.path.basename(so))
        if not os.path.lexists(link):
            os.symlink(so, link)
    site = _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
    with open(os.path.join(site.strip(), "volumelib-ceph.pth"), "w") as f:
        f.write(target + "\n")


def _build(path: str) -> str:
    """Build the venv at ``path`` (in place: a venv cannot be moved); returns the
    cinderlib wheel's path."""
    _run([sys.executable, "-m", "venv", path], timeout=300)
    python = os.path.join(path, "bin", "python")
    pip = [python, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    _run([*pip, "--no-deps", EMBER])
    _run([*pip, *CLIENT_PINS])
    _run([*pip, "-e", ROOT])
    _run([python, "-m", "volumelib.compat.cinderlib_dist", "install"])
    wheels = os.path.join(path, "wheels")
    _run([python, "-m", "pip", "download", "-q", "--no-deps", "-d", wheels, CINDERLIB])
    _link_ceph_bindings(path, python)
    _run([python, "-m", "pip", "check"])
    check = ("import cinderlib, ember_csi.v1_1_0.csi_pb2, google.protobuf, grpc;"
             "assert cinderlib.__name__ == 'volumelib.compat.cinderlib', cinderlib;"
             "assert google.protobuf.__version__.startswith('3.20.')")
    _run([python, "-c", check], timeout=300)
    [wheel] = [os.path.join(wheels, n) for n in os.listdir(wheels) if n.endswith(".whl")]
    return wheel


def _prune(keep: str) -> None:
    """Remove the other client venvs built for this tree (older inputs)."""
    for entry in os.listdir(CACHE_ROOT):
        other = os.path.join(CACHE_ROOT, entry)
        if other == keep or not entry.startswith("cinderlib-clients-"):
            continue
        try:
            with open(os.path.join(other, _READY)) as f:
                if json.load(f).get("root") != ROOT:
                    continue
        except (OSError, ValueError):
            continue
        LOG.info("removing the outdated client venv %s", other)
        shutil.rmtree(other, ignore_errors=True)


def client_venv() -> ClientVenv:
    """The client virtualenv for this tree, built if needed (a few minutes cold)."""
    os.makedirs(CACHE_ROOT, exist_ok=True)
    digest = _digest()
    path = os.path.join(CACHE_ROOT, f"cinderlib-clients-{digest}")
    ready = os.path.join(path, _READY)
    with open(os.path.join(CACHE_ROOT, f".lock-{digest}"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.isfile(ready):
            with open(ready) as f:
                info = json.load(f)
            return ClientVenv(path, os.path.join(path, "bin", "python"), info["wheel"], 0.0)
        shutil.rmtree(path, ignore_errors=True)
        start = time.monotonic()
        try:
            wheel = _build(path)
        except BaseException:
            shutil.rmtree(path, ignore_errors=True)
            raise
        took = time.monotonic() - start
        with open(ready, "w") as f:
            json.dump({"root": ROOT, "wheel": wheel, "built_in": took}, f)
        _prune(path)
        LOG.info("client venv %s built in %.0f s", path, took)
        return ClientVenv(path, os.path.join(path, "bin", "python"), wheel, took)


# -- the Ember-CSI process ------------------------------------------------------------------

class EmberPlugin:
    """Ember-CSI 0.9.1 as a process of its own (``python -m ember_csi.ember_csi``),
    CSI spec 1.1.0, ``all`` mode, serving ``unix://<workdir>/csi.sock``.

    Args:
        venv: the client venv.
        workdir: its socket, log and ``state_path`` go here.
        backend_config: ``X_CSI_BACKEND_CONFIG`` (ember's own syntax: ``driver``...).
        persistence_config: ``X_CSI_PERSISTENCE_CONFIG``.
        node_id: ``X_CSI_NODE_ID``.
    """

    START_TIMEOUT = 120.0
    STOP_TIMEOUT = 60.0
    PLUGIN_NAME = "volumelib-test"

    def __init__(self, venv: ClientVenv, workdir: str, backend_config: dict[str, Any],
                 persistence_config: dict[str, Any], node_id: str = "node-1") -> None:
        self.venv = venv
        self.workdir = workdir
        self.socket = os.path.join(workdir, "csi.sock")
        self.endpoint = "unix://" + self.socket
        self.log_path = os.path.join(workdir, "ember.log")
        self.state_path = os.path.join(workdir, "state")
        self.node_id = node_id
        self.env = dict(
            os.environ, CSI_ENDPOINT=self.endpoint, CSI_MODE="all",
            X_CSI_SPEC_VERSION="1.1.0", X_CSI_NODE_ID=node_id,
            X_CSI_BACKEND_CONFIG=json.dumps(backend_config),
            X_CSI_PERSISTENCE_CONFIG=json.dumps(persistence_config),
            X_CSI_EMBER_CONFIG=json.dumps({
                "plugin_name": self.PLUGIN_NAME, "state_path": self.state_path,
                "file_locks_path": os.path.join(workdir, "locks"), "grpc_workers": 4,
                "enable_probe": True}))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def csi_node_id(self) -> str:
        """The node id ember reports (``<plugin name>.<X_CSI_NODE_ID>``)."""
        return f"{self.PLUGIN_NAME}.ember-csi.io.{self.node_id}"

    def start(self) -> None:
        """Start it and wait for its socket.

        Raises:
            RuntimeError: it exited or did not listen in time (its log in the message).
        """
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [self.venv.python, "-m", "ember_csi.ember_csi"], env=self.env,
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                cwd=self.workdir, start_new_session=True)
        deadline = time.monotonic() + self.START_TIMEOUT
        while not os.path.exists(self.socket):
            if self.proc.poll() is not None:
                raise RuntimeError(f"ember-csi exited with {self.proc.returncode}:\n"
                                   f"{self.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"ember-csi did not listen on {self.socket} in "
                                   f"{self.START_TIMEOUT:.0f} s:\n{self.log_tail()}")
            time.sleep(0.2)

    def stop(self) -> int | None:
        """Stop it by PID: SIGTERM (ember stops gracefully), SIGKILL after
        :attr:`STOP_TIMEOUT`. Returns its exit status (None if never started)."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(self.STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                LOG.warning("ember-csi (pid %d) ignored SIGTERM; killing it", proc.pid)
                proc.kill()
                proc.wait(30)
        return proc.returncode

    def log_tail(self, size: int = 6000) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - size))
                return f.read().decode(errors="replace")
        except OSError:
            return "(no log)"


# -- the CSI client -------------------------------------------------------------------------

class CsiError(Exception):
    """A CSI call failed: ``code`` is the gRPC status name (``NOT_FOUND``...)."""

    def __init__(self, method: str, code: str, details: str) -> None:
        super().__init__(f"{method}: {code}: {details}")
        self.code = code
        self.details = details


class CsiClient:
    """Calls a CSI plugin through ``csi_bridge.py`` in the client venv."""

    def __init__(self, venv: ClientVenv, endpoint: str) -> None:
        self.proc = subprocess.Popen(
            [venv.python, os.path.join(CLIENT_SCRIPTS, "csi_bridge.py"), endpoint],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)

    def call(self, service: str, method: str, **request: Any) -> dict[str, Any]:
        """The response as protobuf's JSON mapping (int64 values are strings).

        Raises:
            CsiError: the plugin answered with an error status.
        """
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"service": service, "method": method,
                                          "request": request}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the CSI bridge ended (status {self.proc.wait(30)})")
        out = json.loads(line)
        if not out["ok"]:
            raise CsiError(method, out["code"], out["details"])
        return out["response"]

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)


# -- host cleanup -----------------------------------------------------------------------------

def mounts_under(directory: str) -> list[str]:
    """Mount points below ``directory`` (from /proc/self/mountinfo), deepest first."""
    prefix = os.path.realpath(directory).rstrip("/") + "/"
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].encode().decode("unicode_escape")
            if point.startswith(prefix):
                found.append(point)
    return sorted(set(found), key=lambda p: p.count("/"), reverse=True)


def unmount_under(directory: str) -> list[str]:
    """Unmount, by exact path, every mount below ``directory`` (stacked ones too).
    Returns what was unmounted."""
    done = []
    for _ in range(5):
        points = mounts_under(directory)
        if not points:
            break
        for point in points:
            result = subprocess.run(["umount", point], capture_output=True, text=True,
                                    timeout=60, check=False)
            if result.returncode != 0:
                LOG.warning("umount %s: %s; detaching it lazily", point, result.stderr)
                subprocess.run(["umount", "--lazy", point], capture_output=True,
                               timeout=60, check=False)
            done.append(point)
    return done


@contextlib.contextmanager
def running_ember(venv: ClientVenv, workdir: str, backend_config: dict[str, Any],
                  persistence_config: dict[str, Any]) -> Iterator[tuple[EmberPlugin,
                                                                          CsiClient]]:
    """Ember-CSI and a client to it; at exit (also on failure) the client and the
    plugin are stopped and everything mounted under ``workdir`` is unmounted."""
    plugin = EmberPlugin(venv, workdir, backend_config, persistence_config)
    client = None
    try:
        plugin.start()
        client = CsiClient(venv, plugin.endpoint)
        yield plugin, client
    finally:
        if client is not None:
            client.close()
        status = plugin.stop()
        unmounted = unmount_under(workdir)
        if unmounted:
            LOG.warning("unmounted what ember left: %s", ", ".join(unmounted))
        log = plugin.log_tail(size=20000)
        if status not in (0, -signal.SIGKILL) or \
                os.environ.get("VOLUMELIB_SHOW_EMBER_LOG"):
            LOG.warning("ember-csi stopped with status %s; its log ends with:\n%s",
                        status, log)
