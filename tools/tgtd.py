#!/usr/bin/env python3
"""A throwaway ``tgtd`` (the Linux SCSI target daemon) for tests and demos.

It runs in the foreground (``tgtd -f``) on a private management port (``tgtadm -C N``,
socket ``/run/tgtd/socket.N``) and a private iSCSI portal on 127.0.0.1, so it never
meets a system ``tgtd`` (management port 0, portal 3260), which is left alone::

    from tools.tgtd import Tgtd

    with Tgtd() as tgtd:
        tgtd.control_port, tgtd.portal_port      # for the driver's options
        tgtd.tgtadm("--mode", "target", "--op", "show")

``tgtd`` ignores SIGTERM, so it is stopped the way it wants: every target is deleted
(``--force``, sessions and all), every account too, then ``tgtadm --mode system --op
delete``, and exactly its PID is waited for (SIGKILL to that PID only if it does not
exit in time; never a kill by name). Stopping is idempotent and also runs at exit.

Command line (root)::

    python3 tools/tgtd.py check                  # start, show, stop; JSON with timings
    python3 tools/tgtd.py start --state FILE     # leave one running; JSON to stdout
    python3 tools/tgtd.py stop --state FILE      # stop the one FILE describes

Only the standard library is used.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from typing import Any

__all__ = ["Tgtd", "TgtdError", "find_program"]

HOST = "127.0.0.1"
SOCKET_DIR = "/run/tgtd"
#: Management ports are picked at random from here (a system tgtd uses 0).
CONTROL_PORTS = range(20000, 32768)  # tgtd accepts at most 32767


class TgtdError(RuntimeError):
    """The daemon could not be started, queried or stopped."""


def find_program(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if not found:
        raise TgtdError(f"{name} not found (Debian package tgt)")
    return found


def _free_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def _socket_paths(control_port: int) -> list[str]:
    base = os.path.join(SOCKET_DIR, f"socket.{control_port}")
    return [base, base + ".lock"]


def _pdeathsig() -> None:
    """preexec_fn: the kernel kills tgtd if the thread that started it dies."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)


def _proc_start_time(pid: int) -> str | None:
    """Field 22 of ``/proc/PID/stat``: tells a PID from a recycled one."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _tail(path: str | None, lines: int = 30) -> str:
    if not path:
        return "(no log)"
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return "\n".join(f.read().splitlines()[-lines:]) or "(empty log)"
    except OSError as e:
        return f"(cannot read {path}: {e})"


_LIVE: weakref.WeakSet[Tgtd] = weakref.WeakSet()


@atexit.register
def _stop_leftovers() -> None:  # pragma: no cover - safety net
    for daemon in list(_LIVE):
        with contextlib.suppress(Exception):
            daemon.stop()


class Tgtd:
    """One private ``tgtd``.

    Args:
        control_port: management port (default: a random unused one).
        portal_port: iSCSI TCP port on 127.0.0.1 (default: a free one).
        startup_timeout, stop_timeout: seconds.
    """

    def __init__(self, *, control_port: int | None = None, portal_port: int | None = None,
                 startup_timeout: float = 20.0, stop_timeout: float = 15.0) -> None:
        self._requested = (control_port, portal_port)
        self.control_port: int | None = control_port
        self.portal_port: int | None = portal_port
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        #: PID and start time of a daemon this object did not start (``from_state``).
        self._adopted: tuple[int, str | None] | None = None
        self.tmpdir: str | None = None
        self.logfile: str | None = None
        self.startup_seconds: float | None = None
        self._lock = threading.RLock()

    # -- identity ------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        if self.proc is not None:
            return self.proc.pid
        return self._adopted[0] if self._adopted else None

    @property
    def running(self) -> bool:
        if self.proc is not None:
            return self.proc.poll() is None
        if self._adopted is not None:
            pid, started = self._adopted
            return started is not None and _proc_start_time(pid) == started
        return False

    @property
    def portal(self) -> str:
        return f"{HOST}:{self.portal_port}"

    def __repr__(self) -> str:
        return (f"<Tgtd pid={self.pid} control_port={self.control_port} "
                f"portal={self.portal} running={self.running}>")

    def state(self) -> dict[str, Any]:
        """What ``from_state`` needs to stop it from another process."""
        pid = self.pid
        return {"pid": pid, "start_time": _proc_start_time(pid) if pid else None,
                "control_port": self.control_port, "portal_port": self.portal_port,
                "portal": self.portal, "log": self.logfile, "tmpdir": self.tmpdir}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Tgtd:
        """The daemon a ``start --state`` left running, to stop it from here."""
        daemon = cls(control_port=int(state["control_port"]),
                     portal_port=int(state["portal_port"]))
        daemon._adopted = (int(state["pid"]), state.get("start_time"))
        daemon.logfile = state.get("log")
        daemon.tmpdir = state.get("tmpdir")
        return daemon

    # -- context manager -----------------------------------------------------------

    def __enter__(self) -> Tgtd:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- tgtadm ----------------------------------------------------------------------

    def tgtadm(self, *args: str, check: bool = True,
               timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        """``tgtadm -C <port> --lld iscsi ARGS`` on this daemon."""
        argv = [find_program("tgtadm"), "-C", str(self.control_port), "--lld", "iscsi",
                *args]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                                stdin=subprocess.DEVNULL)
        if check and result.returncode != 0:
            raise TgtdError(f"tgtadm {' '.join(args)} exited with {result.returncode}: "
                            f"{result.stderr.strip()}")
        return result

    def target_ids(self) -> list[int]:
        out = self.tgtadm("--mode", "target", "--op", "show").stdout
        return [int(line.split(":", 1)[0].split()[1]) for line in out.splitlines()
                if line.startswith("Target ")]

    def accounts(self) -> list[str]:
        out = self.tgtadm("--mode", "account", "--op", "show").stdout
        return [line.split()[0] for line in out.splitlines()[1:] if line.strip()]

    def clear(self) -> None:
        """Delete every target (with its sessions) and every account."""
        for tid in self.target_ids():
            self.tgtadm("--mode", "target", "--op", "delete", "--force", "--tid", str(tid))
        for user in self.accounts():
            self.tgtadm("--mode", "account", "--op", "delete", "--user", user)

    # -- life cycle ------------------------------------------------------------------

    def start(self, *, detach: bool = False) -> Tgtd:
        """Start the daemon and wait until it answers on both ports. Returns ``self``.

        Args:
            detach: let it outlive this process (command line ``start``): no
                parent-death signal, and no stop at exit.
        """
        with self._lock:
            if self.running:
                return self
            tgtd = find_program("tgtd")
            find_program("tgtadm")
            self.tmpdir = tempfile.mkdtemp(prefix="volumelib-tgtd-")
            self.logfile = os.path.join(self.tmpdir, "tgtd.log")
            started = time.monotonic()
            for attempt in range(3):
                self._pick_ports()
                try:
                    self._launch(tgtd, detach)
                    self._wait_ready()
                    break
                except TgtdError:
                    self._kill()
                    if attempt == 2 or any(self._requested):
                        self._remove_tmpdir()
                        raise
            self.startup_seconds = time.monotonic() - started
            if not detach:
                _LIVE.add(self)
            return self

    def _pick_ports(self) -> None:
        control, portal = self._requested
        if control is None:
            while True:
                control = random.choice(CONTROL_PORTS)
                if not any(os.path.exists(p) for p in _socket_paths(control)):
                    break
        self.control_port = control
        self.portal_port = portal or _free_tcp_port()

    def _launch(self, tgtd: str, detach: bool) -> None:
        argv = [tgtd, "-f", "-C", str(self.control_port),
                "--iscsi", f"portal={HOST}:{self.portal_port}"]
        with open(self.logfile or os.devnull, "ab") as log:
            log.write(f"=== {' '.join(argv)}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                cwd=self.tmpdir, start_new_session=True, close_fds=True,
                preexec_fn=None if detach else _pdeathsig)

    def _wait_ready(self) -> None:
        assert self.proc is not None and self.portal_port is not None
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self.proc.poll() is not None:
                raise TgtdError(f"tgtd (pid {self.proc.pid}) exited with "
                                f"{self.proc.returncode} at startup:\n{_tail(self.logfile)}")
            if (self.tgtadm("--mode", "system", "--op", "show", check=False).returncode == 0
                    and _port_open(self.portal_port)):
                return
            if time.monotonic() > deadline:
                raise TgtdError(f"tgtd (pid {self.proc.pid}) not ready on control port "
                                f"{self.control_port} / {self.portal} after "
                                f"{self.startup_timeout} s:\n{_tail(self.logfile)}")
            time.sleep(0.05)

    def stop(self) -> None:
        """Delete all targets and accounts, ask tgtd to exit, wait for its PID, clean
        its socket files. Idempotent; not running: only the cleanup."""
        with self._lock:
            try:
                if self.running:
                    try:
                        self.clear()
                        self.tgtadm("--mode", "system", "--op", "delete")
                    except (TgtdError, subprocess.SubprocessError, OSError) as e:
                        sys.stderr.write(f"tgtd.py: orderly stop of pid {self.pid} "
                                         f"failed ({e}); killing that pid\n")
                    self._wait_exit()
            finally:
                self._kill()
                if self.control_port is not None and not self.running:
                    for path in _socket_paths(self.control_port):
                        with contextlib.suppress(FileNotFoundError):
                            os.unlink(path)
                self._remove_tmpdir()
                _LIVE.discard(self)

    def _wait_exit(self) -> None:
        deadline = time.monotonic() + self.stop_timeout
        while self.running and time.monotonic() < deadline:
            if self.proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(timeout=0.1)
            else:
                time.sleep(0.1)

    def _kill(self) -> None:
        """SIGKILL exactly our PID if it still runs; reap it."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()  # a no-op once reaped: never a recycled PID
            self.proc.wait()
            self.proc = None
        elif self._adopted is not None:
            if self.running:  # same PID and start time: still that tgtd
                os.kill(self._adopted[0], signal.SIGKILL)
                while _proc_start_time(self._adopted[0]) == self._adopted[1]:
                    time.sleep(0.05)
            self._adopted = None

    def _remove_tmpdir(self) -> None:
        if self.tmpdir is not None:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None


def main(argv: list[str] | None = None) -> int:
    import argparse
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["check", "start", "stop"])
    parser.add_argument("--state", help="JSON file describing the daemon (start/stop)")
    parser.add_argument("--control-port", type=int)
    parser.add_argument("--portal-port", type=int)
    args = parser.parse_args(argv)
    if args.command == "check":
        t0 = time.monotonic()
        with Tgtd(control_port=args.control_port, portal_port=args.portal_port) as daemon:
            report = daemon.state()
            report["startup_s"] = round(daemon.startup_seconds or 0, 3)
            report["targets"] = daemon.target_ids()
            pid = daemon.pid
            t1 = time.monotonic()
        report["stop_s"] = round(time.monotonic() - t1, 3)
        report["total_s"] = round(time.monotonic() - t0, 3)
        report["stopped"] = not os.path.exists(f"/proc/{pid}")
        print(json.dumps(report, indent=2))
        return 0 if report["stopped"] else 1
    if not args.state:
        parser.error(f"{args.command} needs --state FILE")
    if args.command == "start":
        daemon = Tgtd(control_port=args.control_port, portal_port=args.portal_port)
        daemon.start(detach=True)
        try:
            state = daemon.state()
            with open(args.state, "w", encoding="utf-8") as f:
                json.dump(state, f)
        except BaseException:
            daemon.stop()
            raise
        print(json.dumps(state, indent=2))
        return 0  # tgtd runs on; "stop --state" finds it by PID and start time
    with open(args.state, encoding="utf-8") as f:
        daemon = Tgtd.from_state(json.load(f))
    daemon.stop()
    os.unlink(args.state)
    return 0


if __name__ == "__main__":
    sys.exit(main())
