#!/usr/bin/env python3
"""Throwaway PostgreSQL and MariaDB servers for tests and benchmarks.

Each server lives entirely in a fresh temporary directory (data dir, unix
socket, log), listens on a free port on 127.0.0.1 only, and is stopped by
signalling exactly the PID this module started (never by process name)::

    from tools.dbservers import PostgresServer

    with PostgresServer() as pg:
        engine = sqlalchemy.create_engine(pg.url)
        ...
        pg.restart()                 # same data dir and port, new PID
        url = pg.new_database("t_mymodule")

Command line (run it with the venv interpreter so SQLAlchemy is importable)::

    /tmp/venv/bin/python tools/dbservers.py check   # start both, SELECT 1, JSON
    /tmp/venv/bin/python tools/dbservers.py serve   # start, print URLs, wait for ^C

Only the standard library is used here; SQLAlchemy is needed by ``check`` only.
Readiness and ``CREATE DATABASE`` go through the servers' own command-line
clients (``psql``, ``mariadb``), which come with the server packages.

Run as root, the servers (and ``initdb``, which refuses to run as root) run as
the ``postgres`` / ``mysql`` system user (falling back to ``nobody``); run as
an ordinary user, they run as that user.
"""

from __future__ import annotations

import atexit
import ctypes
import glob
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import weakref

__all__ = [
    "DBServerError",
    "MariaDBServer",
    "PostgresServer",
    "find_binary",
    "free_port",
]

HOST = "127.0.0.1"
DEFAULT_DBNAME = "volumelib_test"
_SEARCH_DIRS_GLOBS = ("/usr/lib/postgresql/*/bin", "/usr/sbin", "/usr/bin")
_DBNAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
# Environment variables that would silently redirect/alter the clients.
_CLIENT_ENV_PREFIXES = ("PG", "MYSQL", "MARIADB")


class DBServerError(RuntimeError):
    """A throwaway server could not be initialised, started or queried."""


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

def _version_key(path: str) -> tuple:
    return tuple(int(p) if p.isdigit() else -1 for p in re.findall(r"\d+|[^\d/]+", path))


def find_binary(name: str, required: bool = True) -> str | None:
    """Absolute path of program ``name``.

    Looks on ``PATH`` first, then in ``/usr/lib/postgresql/*/bin`` (newest
    version first), ``/usr/sbin`` and ``/usr/bin``.  Returns ``None`` when not
    found and ``required`` is false, otherwise raises ``DBServerError``.
    """
    found = shutil.which(name)
    if found:
        return os.path.abspath(found)
    dirs: list[str] = []
    for pattern in _SEARCH_DIRS_GLOBS:
        dirs.extend(sorted(glob.glob(pattern), key=_version_key, reverse=True))
    for d in dirs:
        cand = os.path.join(d, name)
        if os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    if required:
        raise DBServerError(
            f"program {name!r} not found on PATH nor in {', '.join(_SEARCH_DIRS_GLOBS)}")
    return None


def _sibling_or_find(anchor: str, name: str) -> str:
    """``name`` from the same directory as (the resolved) ``anchor`` if there,
    else via ``find_binary``.  Keeps initdb/psql at the server's version (the
    Debian ``/usr/bin/psql`` is a perl wrapper that may pick another one)."""
    cand = os.path.join(os.path.dirname(os.path.realpath(anchor)), name)
    if os.path.isfile(cand) and os.access(cand, os.X_OK):
        return cand
    return find_binary(name)


def free_port(host: str = HOST) -> int:
    """A TCP port that is free on ``host`` right now (the usual bind-0 trick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_is_open(port: int, host: str = HOST, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _tail(path: str | None, lines: int = 40) -> str:
    if not path:
        return "(no log)"
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64 * 1024))
            data = f.read().decode("utf-8", "replace")
    except OSError as exc:
        return f"(cannot read {path}: {exc})"
    return "\n".join(data.splitlines()[-lines:]) or "(empty log)"


def _client_env(home: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_CLIENT_ENV_PREFIXES)}
    env["LC_ALL"] = "C"
    if home:
        env["HOME"] = home
    return env


_libc = None


def _set_pdeathsig(sig: int):
    """preexec_fn: have the kernel send ``sig`` to the server if the Python
    thread that started it dies (e.g. the test run is SIGKILLed), so a crashed
    run does not leak servers.  Runs after Popen's setuid, so the setting
    survives the credential change."""
    def _fn():
        global _libc
        try:
            if _libc is None:
                _libc = ctypes.CDLL(None, use_errno=True)
            _libc.prctl(1, sig, 0, 0, 0)  # PR_SET_PDEATHSIG
        except Exception:  # pragma: no cover - best effort only
            pass
    return _fn


_LIVE: "weakref.WeakSet[_DBServer]" = weakref.WeakSet()


@atexit.register
def _stop_leftovers() -> None:  # pragma: no cover - safety net
    for srv in list(_LIVE):
        try:
            srv.stop()
        except Exception:
            pass


# --------------------------------------------------------------------------
# base class
# --------------------------------------------------------------------------

class _DBServer:
    """Common lifecycle: temp dir, init once, launch, wait ready, stop by PID."""

    kind = "?"
    system_user = "nobody"
    # Signals sent in order by stop(); each gets ``stop_timeout`` seconds
    # (the last one, SIGKILL, is always followed by a wait).
    stop_signals: tuple[int, ...] = (signal.SIGTERM, signal.SIGKILL)
    pdeathsig = signal.SIGKILL

    def __init__(self, *, port: int | None = None, dbname: str = DEFAULT_DBNAME,
                 startup_timeout: float = 60.0, stop_timeout: float = 20.0,
                 run_as: str | None = None, base_dir: str | None = None,
                 keep_on_failure: bool = False):
        self.host = HOST
        self.dbname = dbname
        self._requested_port = port
        self.port: int | None = port
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.base_dir = base_dir
        self.keep_on_failure = keep_on_failure
        self.tmpdir: str | None = None
        self.datadir: str | None = None
        self.sockdir: str | None = None
        self.logfile: str | None = None
        self.proc: subprocess.Popen | None = None
        self._initialised = False
        self._lock = threading.RLock()
        # timings of the last start (seconds)
        self.init_seconds: float | None = None
        self.startup_seconds: float | None = None
        self.ready_seconds: float | None = None
        self._uid, self._gid, self._run_user = self._resolve_user(run_as)

    # ---- identity -------------------------------------------------------

    def _resolve_user(self, run_as):
        if os.geteuid() != 0:
            if run_as:
                raise DBServerError("run_as is only possible when running as root")
            return None, None, pwd.getpwuid(os.geteuid()).pw_name
        for name in ([run_as] if run_as else [self.system_user, "nobody"]):
            try:
                pw = pwd.getpwnam(name)
            except KeyError:
                continue
            if pw.pw_uid == 0:
                raise DBServerError(f"refusing to run {self.kind} as root ({name})")
            return pw.pw_uid, pw.pw_gid, name
        raise DBServerError(f"no unprivileged user to run {self.kind} as "
                            f"(tried {run_as or self.system_user}, nobody)")

    @property
    def run_user(self) -> str:
        return self._run_user

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def url(self) -> str:
        return self.url_for(self.dbname)

    def url_for(self, dbname: str) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} pid={self.pid} port={self.port} "
                f"datadir={self.datadir!r} running={self.running}>")

    # ---- context manager --------------------------------------------------

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc):
        self.stop()
        return False

    # ---- lifecycle --------------------------------------------------------

    def start(self):
        """Create + initialise a fresh data dir (first time), start the server,
        wait until it answers, create ``self.dbname``.  Returns ``self``."""
        with self._lock:
            if self.running:
                return self
            t0 = time.monotonic()
            first = not self._initialised
            if first:
                self._make_dirs()
                try:
                    self._initdb()
                except BaseException:
                    self._cleanup_dirs(failed=True)
                    raise
                self._initialised = True
            self.init_seconds = time.monotonic() - t0 if first else 0.0
            auto_port = self._requested_port is None
            attempts = 3 if (first and auto_port) else 1
            for attempt in range(attempts):
                if first:
                    self.port = free_port(self.host) if auto_port else self._requested_port
                t1 = time.monotonic()
                try:
                    self._launch()
                    self._wait_ready()
                    break
                except DBServerError as exc:
                    self._terminate()
                    if attempt + 1 < attempts and "in use" in str(exc).lower():
                        continue  # lost the free-port race: try another port
                    if first:
                        self._initialised = False
                        self._cleanup_dirs(failed=True)
                    raise
            self.ready_seconds = time.monotonic() - t1
            if first:
                self._create_database(self.dbname)
            self.startup_seconds = time.monotonic() - t0
            _LIVE.add(self)
            return self

    def stop(self) -> None:
        """Terminate the server process (exactly our PID) and remove the temp
        dir.  Idempotent."""
        with self._lock:
            try:
                self._terminate()
            finally:
                self._cleanup_dirs()
                self._initialised = False
                _LIVE.discard(self)

    def restart(self) -> None:
        """Stop the server process and start it again on the same data dir and
        port (clients see a dropped connection; data is kept)."""
        with self._lock:
            if not self._initialised:
                raise DBServerError(f"{self.kind} server was never started")
            t0 = time.monotonic()
            self._terminate()
            self._launch()
            try:
                self._wait_ready()
            except BaseException:
                self._terminate()
                raise
            self.ready_seconds = self.startup_seconds = time.monotonic() - t0
            self.init_seconds = 0.0

    def new_database(self, name: str) -> str:
        """Create an empty database ``name`` and return its SQLAlchemy URL."""
        if not self.running:
            raise DBServerError(f"{self.kind} server is not running")
        self._create_database(name)
        return self.url_for(name)

    # ---- internals --------------------------------------------------------

    def _check_dbname(self, name: str) -> str:
        if not _DBNAME_RE.match(name):
            raise DBServerError(f"invalid database name {name!r} (letters, digits, _)")
        return name

    def _make_dirs(self) -> None:
        self.tmpdir = tempfile.mkdtemp(prefix=f"volumelib-{self.kind}-", dir=self.base_dir)
        self.datadir = os.path.join(self.tmpdir, "data")
        self.sockdir = self.tmpdir
        self.logfile = os.path.join(self.tmpdir, "server.log")
        open(self.logfile, "ab").close()
        if self._uid is not None:
            os.chown(self.tmpdir, self._uid, self._gid)
            os.chown(self.logfile, self._uid, self._gid)
        os.chmod(self.tmpdir, 0o700)

    def _cleanup_dirs(self, failed: bool = False) -> None:
        if self.tmpdir is None:
            return
        if failed and self.keep_on_failure:
            sys.stderr.write(f"dbservers: keeping {self.tmpdir} for inspection\n")
        else:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
        self.tmpdir = None

    def _popen_kwargs(self) -> dict:
        kw: dict = {"cwd": self.tmpdir, "stdin": subprocess.DEVNULL, "close_fds": True}
        env = _client_env(self.tmpdir)
        if self._uid is not None:
            kw.update(user=self._uid, group=self._gid, extra_groups=[])
            env["USER"] = env["LOGNAME"] = self._run_user
        kw["env"] = env
        return kw

    def _run_as_server_user(self, argv: list[str], what: str, timeout: float = 300) -> None:
        with open(self.logfile, "ab") as log:
            log.write(f"\n=== {what}: {' '.join(argv)}\n".encode())
            log.flush()
            try:
                rc = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT,
                                    timeout=timeout, **self._popen_kwargs()).returncode
            except subprocess.TimeoutExpired:
                raise DBServerError(f"{what} timed out after {timeout}s\n"
                                    f"--- {self.logfile} (tail) ---\n{_tail(self.logfile)}")
        if rc != 0:
            raise DBServerError(f"{what} failed (exit {rc})\n"
                                f"--- {self.logfile} (tail) ---\n{_tail(self.logfile)}")

    def _launch(self) -> None:
        argv = self._server_argv()
        with open(self.logfile, "ab") as log:
            log.write(f"\n=== start: {' '.join(argv)}\n".encode())
            log.flush()
            # The server is exec'd directly (no runuser/pg_ctl wrapper), so
            # proc.pid is the server itself.  New session: a ^C in the
            # terminal reaches us, not the server; we stop it ourselves.
            self.proc = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=_set_pdeathsig(self.pdeathsig), **self._popen_kwargs())

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        last_err = ""
        delay = 0.02
        while True:
            rc = self.proc.poll()
            if rc is not None:
                log = _tail(self.logfile)
                hint = " (port in use)" if "in use" in log.lower() else ""
                raise DBServerError(
                    f"{self.kind} server (pid {self.proc.pid}) exited with {rc} during "
                    f"startup{hint}\n--- {self.logfile} (tail) ---\n{log}")
            if port_is_open(self.port, self.host):
                ok, last_err = self._ping()
                if ok:
                    return
            if time.monotonic() >= deadline:
                raise DBServerError(
                    f"{self.kind} server (pid {self.proc.pid}) not accepting connections "
                    f"on {self.host}:{self.port} after {self.startup_timeout}s; "
                    f"last client error: {last_err.strip() or '-'}\n"
                    f"--- {self.logfile} (tail) ---\n{_tail(self.logfile)}")
            time.sleep(delay)
            delay = min(delay * 1.5, 0.25)

    def _terminate(self) -> None:
        """Signal exactly the PID we started, escalating; always reap it."""
        proc = self.proc
        if proc is None:
            return
        try:
            for i, sig in enumerate(self.stop_signals):
                if proc.poll() is not None:
                    break
                # Popen.send_signal() does nothing once the child is reaped, so
                # a recycled PID is never signalled.
                proc.send_signal(sig)
                last = i == len(self.stop_signals) - 1
                try:
                    proc.wait(timeout=None if last else self.stop_timeout)
                    break
                except subprocess.TimeoutExpired:
                    with open(self.logfile or os.devnull, "ab") as log:
                        log.write(f"\n=== pid {proc.pid} ignored signal {sig} for "
                                  f"{self.stop_timeout}s, escalating\n".encode())
            proc.wait()
        finally:
            self.proc = None

    def _client_environ(self) -> dict[str, str]:
        return _client_env(self.tmpdir)

    def _run_client(self, argv: list[str], timeout: float = 30) -> subprocess.CompletedProcess:
        return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=timeout, env=self._client_environ(), cwd=self.tmpdir)

    def _sql(self, sql: str, dbname: str | None = None) -> str:
        try:
            res = self._run_client(self._client_argv(sql, dbname))
        except subprocess.TimeoutExpired:
            raise DBServerError(f"{self.kind}: {sql!r} timed out")
        if res.returncode != 0:
            raise DBServerError(f"{self.kind}: {sql!r} failed: {res.stderr.strip()}")
        return res.stdout

    def _ping(self) -> tuple[bool, str]:
        try:
            # short: if something else holds the port, the client may hang on it
            res = self._run_client(self._client_argv("SELECT 1", None), timeout=3)
        except subprocess.TimeoutExpired:
            return False, "client timed out"
        return res.returncode == 0 and res.stdout.strip() == "1", res.stderr

    # subclass hooks
    def _initdb(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _server_argv(self) -> list[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _client_argv(self, sql: str, dbname: str | None) -> list[str]:  # pragma: no cover
        raise NotImplementedError

    def _create_database(self, name: str) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


# --------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------

class PostgresServer(_DBServer):
    """Throwaway PostgreSQL: ``postgresql+psycopg://volumelib@127.0.0.1:PORT/volumelib_test``
    (superuser ``volumelib``, trust authentication, no password)."""

    kind = "postgresql"
    system_user = "postgres"
    user = "volumelib"
    # SIGTERM is PostgreSQL's *smart* shutdown, which waits for every client
    # to disconnect (a forgotten pooled connection hangs it).  SIGINT is the
    # *fast* shutdown (what ``pg_ctl stop`` does by default), SIGQUIT the
    # immediate one (also kills the backends); SIGKILL as the last resort.
    stop_signals = (signal.SIGINT, signal.SIGQUIT, signal.SIGKILL)
    pdeathsig = signal.SIGQUIT

    def __init__(self, **kw):
        self.postgres_bin = find_binary("postgres")
        self.initdb_bin = _sibling_or_find(self.postgres_bin, "initdb")
        self.psql_bin = _sibling_or_find(self.postgres_bin, "psql")
        super().__init__(**kw)

    def url_for(self, dbname: str) -> str:
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{dbname}"

    def _initdb(self) -> None:
        self._run_as_server_user(
            [self.initdb_bin, "-D", self.datadir, "-A", "trust", "-U", self.user,
             "--no-sync", "-E", "UTF8", "--locale=C", "--no-instructions"],
            "initdb")

    def _server_argv(self) -> list[str]:
        settings = {
            "listen_addresses": self.host,
            "port": str(self.port),
            "unix_socket_directories": self.sockdir,
            "logging_collector": "off",
            "log_destination": "stderr",
            # throwaway data: no fsync (a killed *process* still loses nothing)
            "fsync": "off",
            "full_page_writes": "off",
            "max_connections": "200",
        }
        argv = [self.postgres_bin, "-D", self.datadir]
        for k, v in settings.items():
            argv += ["-c", f"{k}={v}"]
        return argv

    def _client_argv(self, sql: str, dbname: str | None) -> list[str]:
        return [self.psql_bin, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                "-h", self.host, "-p", str(self.port), "-U", self.user,
                "-d", dbname or "postgres", "-c", sql]

    def _client_environ(self) -> dict[str, str]:
        env = super()._client_environ()
        env["PGCONNECT_TIMEOUT"] = "5"
        return env

    def _create_database(self, name: str) -> None:
        self._sql(f'CREATE DATABASE "{self._check_dbname(name)}"')


# --------------------------------------------------------------------------
# MariaDB
# --------------------------------------------------------------------------

class MariaDBServer(_DBServer):
    """Throwaway MariaDB: ``mysql+pymysql://root@127.0.0.1:PORT/volumelib_test``
    (``root``, no password: ``--auth-root-authentication-method=normal``
    creates ``root@127.0.0.1`` without one)."""

    kind = "mariadb"
    system_user = "mysql"
    user = "root"
    stop_signals = (signal.SIGTERM, signal.SIGKILL)  # SIGTERM = clean shutdown
    pdeathsig = signal.SIGKILL

    def __init__(self, **kw):
        self.mariadbd_bin = find_binary("mariadbd", required=False) or find_binary("mysqld")
        self.install_db_bin = (find_binary("mariadb-install-db", required=False)
                               or find_binary("mysql_install_db"))
        self.client_bin = find_binary("mariadb", required=False) or find_binary("mysql")
        super().__init__(**kw)

    def url_for(self, dbname: str) -> str:
        return f"mysql+pymysql://{self.user}@{self.host}:{self.port}/{dbname}?charset=utf8mb4"

    # options used both for the bootstrap and the server
    _COMMON = [
        "--skip-name-resolve",
        "--character-set-server=utf8mb4",
        "--collation-server=utf8mb4_unicode_ci",
        "--innodb-log-file-size=16M",
        "--innodb-buffer-pool-size=64M",
    ]

    def _initdb(self) -> None:
        self._run_as_server_user(
            [self.install_db_bin, "--no-defaults", f"--datadir={self.datadir}",
             "--auth-root-authentication-method=normal", "--skip-test-db",
             *self._COMMON],
            "mariadb-install-db")

    def _server_argv(self) -> list[str]:
        return [
            self.mariadbd_bin, "--no-defaults",
            f"--datadir={self.datadir}",
            f"--socket={os.path.join(self.sockdir, 'mysqld.sock')}",
            f"--pid-file={os.path.join(self.tmpdir, 'mysqld.pid')}",
            f"--tmpdir={self.tmpdir}",
            f"--bind-address={self.host}",
            f"--port={self.port}",
            "--skip-log-bin",
            # throwaway data: no fsync per commit (a killed process loses nothing)
            "--innodb-flush-log-at-trx-commit=2",
            "--innodb-doublewrite=0",
            *self._COMMON,
        ]

    def _client_argv(self, sql: str, dbname: str | None) -> list[str]:
        argv = [self.client_bin, "--no-defaults", "--protocol=TCP",
                f"--host={self.host}", f"--port={self.port}", f"--user={self.user}",
                "--connect-timeout=5", "--batch", "--skip-column-names", "-e", sql]
        if dbname:
            argv.append(dbname)
        return argv

    def _create_database(self, name: str) -> None:
        self._sql(f"CREATE DATABASE `{self._check_dbname(name)}` "
                  "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")


SERVERS = {"postgresql": PostgresServer, "mariadb": MariaDBServer}


# --------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------

def _check(kinds: list[str]) -> int:
    try:
        import sqlalchemy
    except ImportError:
        sys.stderr.write("check needs SQLAlchemy (+ psycopg, PyMySQL): run it with "
                         "/tmp/venv/bin/python tools/dbservers.py check\n")
        return 2
    report: dict = {}
    ok = True
    for kind in kinds:
        entry: dict = {}
        report[kind] = entry
        srv = SERVERS[kind]()
        try:
            t0 = time.monotonic()
            with srv:
                entry.update(url=srv.url, pid=srv.pid, port=srv.port, run_as=srv.run_user,
                             datadir=srv.datadir,
                             init_s=round(srv.init_seconds, 3),
                             start_to_ready_s=round(srv.ready_seconds, 3),
                             startup_total_s=round(srv.startup_seconds, 3))
                sys.stderr.write(f"{kind}: started pid {srv.pid} on port {srv.port} in "
                                 f"{srv.startup_seconds:.2f}s (initdb {srv.init_seconds:.2f}s, "
                                 f"server {srv.ready_seconds:.2f}s)\n")
                t1 = time.monotonic()
                engine = sqlalchemy.create_engine(srv.url)
                try:
                    with engine.connect() as conn:
                        entry["select_1"] = conn.execute(sqlalchemy.text("SELECT 1")).scalar()
                        entry["server_version"] = conn.execute(sqlalchemy.text(
                            "SELECT version()")).scalar()
                finally:
                    engine.dispose()
                entry["query_s"] = round(time.monotonic() - t1, 3)
                pid = srv.pid
                t2 = time.monotonic()
            entry["stop_s"] = round(time.monotonic() - t2, 3)
            entry["total_s"] = round(time.monotonic() - t0, 3)
            try:
                os.kill(pid, 0)
                entry["stopped"] = False
            except ProcessLookupError:
                entry["stopped"] = True
            entry["ok"] = entry["select_1"] == 1 and entry["stopped"]
        except Exception as exc:  # report and carry on with the next server
            entry.update(ok=False, error=f"{type(exc).__name__}: {exc}")
        ok = ok and entry["ok"]
    print(json.dumps(report, indent=2))
    return 0 if ok else 1


def _serve(kinds: list[str]) -> int:
    servers = []
    try:
        for kind in kinds:
            srv = SERVERS[kind]().start()
            servers.append(srv)
            print(f"{kind}: {srv.url}  (pid {srv.pid}, datadir {srv.datadir}, "
                  f"started in {srv.startup_seconds:.2f}s)", flush=True)
        print("Ctrl-C to stop", flush=True)
        signal.signal(signal.SIGTERM, lambda *a: (_ for _ in ()).throw(KeyboardInterrupt))
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        for srv in reversed(servers):
            srv.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    import argparse
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("command", choices=["check", "serve"])
    p.add_argument("--only", choices=sorted(SERVERS), action="append",
                   help="restrict to this server (repeatable)")
    args = p.parse_args(argv)
    kinds = args.only or list(SERVERS)
    return _check(kinds) if args.command == "check" else _serve(kinds)


if __name__ == "__main__":
    sys.exit(main())
