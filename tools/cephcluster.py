#!/usr/bin/env python3
"""A throwaway single-node Ceph (Pacific) cluster on loopback, all state in one folder.

One monitor on ``127.0.0.1`` and a free port (messenger v2 only), a manager when
``ceph-mgr`` is installed, one OSD (bluestore on a sparse file in the folder), pool
size 1, cephx on, a ``client.<user>`` key with ``profile rbd`` caps on an initialised
RBD pool, and ``require-min-compat-client mimic`` so RBD clone v2 (clones of
unprotected snapshots) is available.

Every daemon runs in the foreground (``-f``) as a child of this tool in its own
session, its PID is written to ``<dir>/pids.json``, and it is stopped by that PID
(SIGTERM, then SIGKILL after a timeout), never by name; a PID is only signalled if
``/proc/<pid>/cmdline`` still names this folder's ``ceph.conf``.

As a library::

    with CephCluster("/var/tmp/ceph") as cluster:     # start(); stop() at exit
        cluster.conf_path, cluster.keyring_path, cluster.user, cluster.pool,
        cluster.mon_host, cluster.backend_config()     # Backend(...) keywords for rbd

As a command::

    python tools/cephcluster.py start DIR     # prints the settings as JSON
    python tools/cephcluster.py status DIR
    python tools/cephcluster.py stop DIR [--purge]

``start`` on a folder holding a stopped cluster restarts it with its data.

Why bluestore: memstore keeps everything in memory and an OSD stopped with SIGTERM
(``osd_fast_shutdown``) or SIGKILL loses it, so the "stop the OSD mid-operation,
restart it" tests need a real object store; bluestore on a sparse file costs ~1 s at
mkfs. Why a manager: RBD works without one, but the cluster's capacity figures
(``ceph df``, which the RBD driver's stats report) come from it; ``with_mgr=False``
(or no ``ceph-mgr`` installed) leaves it out and ``start`` is ~3 s faster.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from typing import Any

__all__ = ["CephCluster", "CephClusterError", "ceph_available"]

LOG = logging.getLogger("volumelib.tools.cephcluster")

DAEMONS = ("ceph-mon", "ceph-osd", "ceph-authtool", "monmaptool", "ceph", "rbd")
STOP_TIMEOUT = 20.0
START_TIMEOUT = 90.0
CMD_TIMEOUT = 60


class CephClusterError(RuntimeError):
    """The cluster could not be started, queried or stopped; says which step and why."""


def ceph_available() -> list[str]:
    """The programs this tool needs that are missing (empty: all there)."""
    return [name for name in DAEMONS if shutil.which(name) is None]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except (FileNotFoundError, IndexError, ProcessLookupError):
        return False


def _cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


class CephCluster:
    """A single-node cluster whose whole state lives in ``workdir``.

    Args:
        workdir: the folder (created if missing).
        pool: the RBD pool to create and initialise.
        user: the client name (without ``client.``) that gets ``profile rbd`` on ``pool``.
        osd_size_gb: apparent size of the OSD's sparse block file.
    """

    def __init__(self, workdir: str, *, pool: str = "volumelib", user: str = "volumelib",
                 osd_size_gb: int = 100, with_mgr: bool = True) -> None:
        self.workdir = os.path.abspath(workdir)
        self.pool = pool
        self.user = user
        self.osd_size_gb = osd_size_gb
        self.cluster_name = "ceph"
        self.conf_path = os.path.join(self.workdir, "ceph.conf")
        self.admin_keyring_path = os.path.join(self.workdir, "ceph.client.admin.keyring")
        self._state_path = os.path.join(self.workdir, "cluster.json")
        self._pids_path = os.path.join(self.workdir, "pids.json")
        self._state: dict[str, Any] = self._load(self._state_path) or {}
        #: Run a manager (``ceph-mgr``, when installed): it is what reports capacity
        #: (``ceph df``); RBD works without it.
        self.with_mgr = bool(self._state.get("with_mgr", with_mgr and shutil.which("ceph-mgr")))

    # -- what users need ---------------------------------------------------------------

    @property
    def keyring_path(self) -> str:
        """The keyring file of ``client.<user>``."""
        return os.path.join(self.workdir, f"ceph.client.{self.user}.keyring")

    @property
    def port(self) -> int:
        return int(self._state["port"])

    @property
    def mon_host(self) -> str:
        """``127.0.0.1:<port>`` (messenger v2 only)."""
        return f"127.0.0.1:{self.port}"

    @property
    def fsid(self) -> str:
        return str(self._state["fsid"])

    def key(self, user: str | None = None) -> str:
        """The secret key of ``client.<user>`` (default: the RBD user)."""
        path = self.keyring_path if user in (None, self.user) else self.admin_keyring_path
        with open(path, encoding="utf-8") as f:
            for line in f:
                name, _, value = line.partition("=")
                if name.strip() == "key":
                    return value.strip()
        raise CephClusterError(f"no key in {path}")

    def backend_config(self) -> dict[str, Any]:
        """Keyword arguments of ``volumelib.Backend`` for the ``rbd`` driver on this cluster."""
        return {"volume_driver": "rbd", "rbd_pool": self.pool, "rbd_user": self.user,
                "rbd_ceph_conf": self.conf_path, "rbd_keyring": self.keyring_path,
                "rados_connect_timeout": 10}

    def settings(self) -> dict[str, Any]:
        """Everything a user needs, as printed by ``start``/``status``."""
        return {"workdir": self.workdir, "conf_path": self.conf_path,
                "keyring_path": self.keyring_path, "admin_keyring_path": self.admin_keyring_path,
                "user": self.user, "pool": self.pool, "mon_host": self.mon_host,
                "fsid": self.fsid, "pids": self.pids(), "running": self.running(),
                "backend_config": self.backend_config()}

    # -- state files ---------------------------------------------------------------------

    @staticmethod
    def _load(path: str) -> dict[str, Any] | None:
        try:
            with open(path, encoding="utf-8") as f:
                return json.load(f)
        except FileNotFoundError:
            return None

    @staticmethod
    def _save(path: str, data: dict[str, Any]) -> None:
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1)
        os.replace(tmp, path)

    def pids(self) -> dict[str, int]:
        """``{"mon.a": pid, "osd.0": pid}`` of the daemons started (alive or not)."""
        return {k: int(v) for k, v in (self._load(self._pids_path) or {}).items()}

    def _set_pid(self, name: str, pid: int | None) -> None:
        pids = self.pids()
        if pid is None:
            pids.pop(name, None)
        else:
            pids[name] = pid
        self._save(self._pids_path, pids)

    def _ours(self, pid: int) -> bool:
        """Whether ``pid`` is a live daemon started with this folder's ``ceph.conf``."""
        return _pid_alive(pid) and self.conf_path in _cmdline(pid)

    def running(self) -> dict[str, bool]:
        return {name: self._ours(pid) for name, pid in self.pids().items()}

    # -- commands ------------------------------------------------------------------------

    def _run(self, *cmd: str, input: str | None = None, timeout: float = CMD_TIMEOUT,
             check: bool = True) -> subprocess.CompletedProcess[str]:
        LOG.debug("cephcluster: %s", " ".join(cmd))
        try:
            result = subprocess.run(cmd, input=input, capture_output=True, text=True,
                                    timeout=timeout, check=False)
        except subprocess.TimeoutExpired as e:
            raise CephClusterError(f"{' '.join(cmd)} did not finish within {timeout} s") from e
        if check and result.returncode != 0:
            raise CephClusterError(f"{' '.join(cmd)} exited with {result.returncode}: "
                                   f"{(result.stderr or result.stdout).strip()}")
        return result

    def ceph(self, *args: str, input: str | None = None, timeout: float = CMD_TIMEOUT,
             check: bool = True) -> str:
        """Run ``ceph`` as ``client.admin`` on this cluster; returns its stdout."""
        return self._run("ceph", "-c", self.conf_path, "-n", "client.admin",
                         "--keyring", self.admin_keyring_path,
                         "--connect-timeout", str(int(timeout)), *args,
                         input=input, timeout=timeout + 5, check=check).stdout

    # -- creation ------------------------------------------------------------------------

    def _write_conf(self) -> None:
        d = self.workdir
        conf = f"""[global]
fsid = {self.fsid}
mon_host = v2:127.0.0.1:{self.port}
mon_initial_members = a
public_addr = 127.0.0.1
ms_bind_msgr1 = false
ms_bind_msgr2 = true
auth_cluster_required = cephx
auth_service_required = cephx
auth_client_required = cephx
auth_allow_insecure_global_id_reclaim = false
keyring = {d}/$cluster.$name.keyring
run_dir = {d}/run
admin_socket = {d}/run/$cluster-$name.$pid.asok
log_file = {d}/log/$cluster-$name.log
log_to_stderr = false
err_to_stderr = true
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
osd_crush_chooseleaf_type = 0
mon_allow_pool_size_one = true
mon_allow_pool_delete = true
mon_warn_on_pool_no_redundancy = false
mon_warn_on_insecure_global_id_reclaim_allowed = false
mon_data_avail_warn = 2
mon_data_avail_crit = 1
mgr_initial_modules = iostat

[mon]
mon_data = {d}/mon/$cluster-$id
keyring = {d}/mon/$cluster-$id/keyring
mon_cluster_log_file = {d}/log/$cluster.log
# Propose map changes (a snapshot's new snap id is one) every 0.1 s instead of 1 s:
# on a one-monitor test cluster nothing is gained by batching them.
paxos_propose_interval = 0.1

[mgr]
mgr_data = {d}/mgr/$cluster-$id
keyring = {d}/mgr/$cluster-$id/keyring

[osd]
osd_data = {d}/osd/$cluster-$id
keyring = {d}/osd/$cluster-$id/keyring
osd_objectstore = bluestore
bluestore_block_create = true
bluestore_block_size = {self.osd_size_gb * 1024 ** 3}
bluestore_fsck_on_mkfs = false
bluestore_fsck_on_mount = false
osd_memory_target = 1073741824
bluestore_cache_autotune = false
bluestore_cache_size = 134217728
osd_op_num_shards = 2
osd_op_num_threads_per_shard = 1
osd_class_update_on_start = false
osd_crush_update_on_start = true
"""
        with open(self.conf_path, "w", encoding="utf-8") as f:
            f.write(conf)

    def _create(self) -> None:
        """Make a new cluster in ``workdir`` (mon mkfs, OSD mkfs, keys, pool)."""
        d = self.workdir
        for sub in ("mon", "mgr", "osd", "run", "log"):
            os.makedirs(os.path.join(d, sub), mode=0o700, exist_ok=True)
        self._state = {"fsid": str(uuid.uuid4()), "port": _free_port(), "created": False,
                       "pool": self.pool, "user": self.user, "with_mgr": self.with_mgr}
        self._save(self._state_path, self._state)
        self._write_conf()
        mon_keyring = os.path.join(d, "mon.keyring")
        self._run("ceph-authtool", "--create-keyring", mon_keyring, "--gen-key", "-n", "mon.",
                  "--cap", "mon", "allow *")
        self._run("ceph-authtool", "--create-keyring", self.admin_keyring_path, "--gen-key",
                  "-n", "client.admin", "--cap", "mon", "allow *", "--cap", "osd", "allow *",
                  "--cap", "mgr", "allow *", "--cap", "mds", "allow *")
        self._run("ceph-authtool", mon_keyring, "--import-keyring", self.admin_keyring_path)
        monmap = os.path.join(d, "monmap")
        self._run("monmaptool", "--create", "--addv", "a", f"[v2:127.0.0.1:{self.port}]",
                  "--fsid", self.fsid, monmap)
        self._run("ceph-mon", "-c", self.conf_path, "--mkfs", "-i", "a", "--monmap", monmap,
                  "--keyring", mon_keyring)
        os.unlink(monmap)
        os.unlink(mon_keyring)
        self._start_daemon("mon.a", "ceph-mon", "-i", "a")
        self._wait_mon()
        self.ceph("osd", "set-require-min-compat-client", "mimic")
        if self.with_mgr:
            mgr_dir = os.path.join(d, "mgr", "ceph-x")
            os.makedirs(mgr_dir, mode=0o700, exist_ok=True)
            key = self.ceph("auth", "get-or-create", "mgr.x", "mon", "allow profile mgr",
                            "osd", "allow *", "mds", "allow *")
            with open(os.open(os.path.join(mgr_dir, "keyring"),
                              os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
                      "w", encoding="utf-8") as f:
                f.write(key)
            self._start_daemon("mgr.x", "ceph-mgr", "-i", "x")
        # The OSD: an id and a key from the monitors, then a bluestore mkfs.
        osd_uuid = str(uuid.uuid4())
        secret = self._run("ceph-authtool", "--gen-print-key").stdout.strip()
        osd_id = self.ceph("osd", "new", osd_uuid, "-i", "-",
                           input=json.dumps({"cephx_secret": secret})).strip()
        if osd_id != "0":
            raise CephClusterError(f"expected osd id 0, the monitors gave {osd_id!r}")
        osd_dir = os.path.join(d, "osd", "ceph-0")
        os.makedirs(osd_dir, mode=0o700, exist_ok=True)
        self._run("ceph-authtool", "--create-keyring", os.path.join(osd_dir, "keyring"),
                  "--name", "osd.0", "--add-key", secret)
        self._run("ceph-osd", "-c", self.conf_path, "-i", "0", "--mkfs",
                  "--osd-uuid", osd_uuid, timeout=120)
        self._start_daemon("osd.0", "ceph-osd", "-i", "0")
        self._wait_osd_up()
        self.add_pool_for(self.pool, self.user)
        self._state["created"] = True
        self._save(self._state_path, self._state)
        self._wait_capacity()

    def add_pool_for(self, pool: str, user: str) -> str:
        """Create (if missing) and initialise an RBD pool of size 1, and a
        ``client.<user>`` with ``profile rbd`` on it whose keyring goes to
        ``<folder>/ceph.client.<user>.keyring`` (0600, where ``ceph.conf``'s ``keyring``
        setting finds it). Idempotent.

        Args:
            pool: the pool's name.
            user: the client name without ``client.``; if it exists already it must
                have exactly these caps (``ceph auth get-or-create`` refuses otherwise).

        Returns:
            The keyring file's path.

        Raises:
            CephClusterError: a ``ceph``/``rbd`` command failed.
        """
        pools = json.loads(self.ceph("osd", "pool", "ls", "-f", "json") or "[]")
        if pool not in pools:
            self.ceph("osd", "pool", "create", pool, "8", "8", "replicated")
            self.ceph("osd", "pool", "set", pool, "size", "1", "--yes-i-really-mean-it")
            self._run("rbd", "-c", self.conf_path, "-n", "client.admin", "--keyring",
                      self.admin_keyring_path, "pool", "init", pool, timeout=120)
        key = self.ceph("auth", "get-or-create", f"client.{user}", "mon", "profile rbd",
                        "osd", f"profile rbd pool={pool}", "mgr", f"profile rbd pool={pool}")
        path = os.path.join(self.workdir, f"ceph.client.{user}.keyring")
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
                  "w", encoding="utf-8") as f:
            f.write(key)
        return path

    # -- daemons -------------------------------------------------------------------------

    def _start_daemon(self, name: str, program: str, *args: str) -> int:
        """Start ``program`` in the foreground as a child in its own session."""
        log = os.path.join(self.workdir, "log", f"{name}.out")
        with open(log, "ab") as out:
            proc = subprocess.Popen([program, "-f", "-c", self.conf_path, *args],
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                    start_new_session=True, close_fds=True)
        self._set_pid(name, proc.pid)
        LOG.debug("cephcluster: started %s as pid %d", name, proc.pid)
        return proc.pid

    def _wait_mon(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            self._check_alive("mon.a")
            result = self._run("ceph", "-c", self.conf_path, "-n", "client.admin",
                               "--keyring", self.admin_keyring_path, "--connect-timeout", "5",
                               "mon", "stat", timeout=15, check=False)
            if result.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise CephClusterError(f"the monitor did not answer within {START_TIMEOUT} s: "
                                       f"{result.stderr.strip()}")
            time.sleep(0.2)

    def _check_alive(self, name: str) -> None:
        pid = self.pids().get(name)
        if pid is None or not _pid_alive(pid):
            log = os.path.join(self.workdir, "log", f"{name}.out")
            tail = ""
            with contextlib.suppress(OSError), open(log, encoding="utf-8",
                                                    errors="replace") as f:
                tail = f.read()[-2000:]
            raise CephClusterError(f"{name} (pid {pid}) exited: {tail.strip()}")

    def _wait_osd_up(self, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self._check_alive("osd.0")
            stat = json.loads(self.ceph("osd", "stat", "-f", "json"))
            if stat.get("num_up_osds") == 1 and stat.get("num_in_osds") == 1:
                return
            if time.monotonic() > deadline:
                raise CephClusterError(f"the OSD did not come up within {timeout} s: {stat}")
            time.sleep(0.2)

    def _wait_capacity(self, timeout: float = START_TIMEOUT) -> None:
        """With a manager, wait until it reports the OSD's capacity (``ceph df``)."""
        if not self.with_mgr:
            return
        deadline = time.monotonic() + timeout
        while True:
            self._check_alive("mgr.x")
            df = json.loads(self.ceph("df", "-f", "json"))
            if df.get("stats", {}).get("total_bytes", 0) > 0:
                return
            if time.monotonic() > deadline:
                raise CephClusterError(f"the manager reported no capacity within {timeout} s")
            time.sleep(0.25)

    def _stop_pid(self, name: str, timeout: float = STOP_TIMEOUT) -> None:
        pid = self.pids().get(name)
        if pid is None:
            return
        if not self._ours(pid):
            self._set_pid(name, None)
            return
        LOG.debug("cephcluster: stopping %s (pid %d)", name, pid)
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)  # reap it if it is our child
                if not _pid_alive(pid):
                    self._set_pid(name, None)
                    return
                time.sleep(0.05)
        raise CephClusterError(f"{name} (pid {pid}) survived SIGKILL")

    # -- life cycle ----------------------------------------------------------------------

    def start(self) -> CephCluster:
        """Create the cluster if the folder has none, else restart its daemons; returns
        when the pool takes I/O. Idempotent for running daemons."""
        missing = ceph_available()
        if missing:
            raise CephClusterError(f"missing programs: {', '.join(missing)} (Debian packages "
                                   f"ceph-mon ceph-osd ceph-common)")
        os.makedirs(self.workdir, mode=0o700, exist_ok=True)
        started = time.monotonic()
        try:
            if not self._state.get("created"):
                if self._state:  # a half-made cluster: start again from scratch
                    self.stop()
                    self._wipe()
                self._create()
            else:
                self.pool = self._state.get("pool", self.pool)
                self.user = self._state.get("user", self.user)
                if not self.running().get("mon.a"):
                    self._start_daemon("mon.a", "ceph-mon", "-i", "a")
                self._wait_mon()
                if self.with_mgr and not self.running().get("mgr.x"):
                    self._start_daemon("mgr.x", "ceph-mgr", "-i", "x")
                self.start_osd()
                self._wait_capacity()
        except BaseException:
            with contextlib.suppress(Exception):
                self.stop()
            raise
        LOG.info("cephcluster: %s ready in %.1f s", self.workdir, time.monotonic() - started)
        return self

    def add_pool(self, name: str) -> dict[str, Any]:
        """Create and initialise another RBD pool (size 1), extend ``client.<user>``'s
        caps to it, and return the ``Backend`` keywords for it. Idempotent.

        Raises:
            CephClusterError: a command failed.
        """
        pools = set(self._state.get("pools", [self.pool]))
        if name not in pools:
            self.ceph("osd", "pool", "create", name, "8", "8", "replicated")
            self.ceph("osd", "pool", "set", name, "size", "1", "--yes-i-really-mean-it")
            self._run("rbd", "-c", self.conf_path, "-n", "client.admin", "--keyring",
                      self.admin_keyring_path, "pool", "init", name, timeout=120)
            pools.add(name)
            profile = ", ".join(f"profile rbd pool={p}" for p in sorted(pools))
            self.ceph("auth", "caps", f"client.{self.user}", "mon", "profile rbd",
                      "osd", profile, "mgr", profile)
            self._state["pools"] = sorted(pools)
            self._save(self._state_path, self._state)
        return dict(self.backend_config(), rbd_pool=name)

    def start_osd(self, timeout: float = START_TIMEOUT) -> None:
        """(Re)start the OSD and wait until it is up."""
        if not self.running().get("osd.0"):
            self._start_daemon("osd.0", "ceph-osd", "-i", "0")
        self._wait_osd_up(timeout)

    def stop_osd(self, kill: bool = False) -> None:
        """Stop the OSD by PID (SIGKILL at once with ``kill``) and tell the monitors it
        is down, so clients stop waiting for it right away."""
        if kill:
            pid = self.pids().get("osd.0")
            if pid is not None and self._ours(pid):
                os.kill(pid, signal.SIGKILL)
        self._stop_pid("osd.0")
        self.ceph("osd", "down", "0", check=False)

    def stop_daemon(self, name: str, timeout: float = STOP_TIMEOUT) -> None:
        """Stop one daemon (``mon.a``, ``mgr.x``, ``osd.0``) by PID; ``start()``
        brings it back."""
        self._stop_pid(name, timeout)

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop every daemon by PID (SIGTERM, SIGKILL after ``timeout``). Idempotent."""
        for name in ("osd.0", "mgr.x", "mon.a"):
            self._stop_pid(name, timeout)

    def _wipe(self) -> None:
        for entry in os.listdir(self.workdir):
            path = os.path.join(self.workdir, entry)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)
        self._state = {}

    def purge(self) -> None:
        """Stop the daemons and remove the folder."""
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)
        self._state = {}

    def status(self) -> dict[str, Any]:
        """Settings, daemon liveness and ``ceph status`` (when the monitor answers)."""
        if not self._state:
            return {"workdir": self.workdir, "created": False}
        report = self.settings()
        if report["running"].get("mon.a"):
            try:
                report["ceph"] = json.loads(self.ceph("status", "-f", "json", timeout=10))
            except (CephClusterError, ValueError) as e:
                report["ceph"] = {"error": str(e)}
        return report

    def __enter__(self) -> CephCluster:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("start", "stop", "status"))
    parser.add_argument("workdir")
    parser.add_argument("--pool", default="volumelib")
    parser.add_argument("--user", default="volumelib")
    parser.add_argument("--purge", action="store_true", help="stop: also remove the folder")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(message)s", stream=sys.stderr)
    cluster = CephCluster(args.workdir, pool=args.pool, user=args.user)
    try:
        if args.command == "start":
            cluster.start()
            print(json.dumps(cluster.settings(), indent=2))
        elif args.command == "stop":
            cluster.purge() if args.purge else cluster.stop()
        else:
            print(json.dumps(cluster.status(), indent=2))
    except CephClusterError as e:
        print(f"cephcluster: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
