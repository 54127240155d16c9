"""What Cinder's code needs around a driver in this process, set up once, on first use.

A Cinder driver expects a Cinder service around it: registered versioned objects, a
database behind ``cinder.db``, a lock coordinator, a root helper. This module
provides each, without touching the host application's global state:

* **Import.** ``cinder`` is imported on the first use of a Cinder driver (never by
  ``import volumelib``), by :func:`volumelib.drivers.cinder.extra.import_cinder`,
  which records what it cost.
* **No eventlet monkeypatching.** Cinder 29 runs on native threads unless the
  process is patched; nothing here patches it.
* **A private database.** Cinder's objects (``volume.save()``, ``Snapshot.create()``
  in the NFS driver) write through the module-level ``cinder.db`` API. It is pointed
  at a private SQLite file made by Cinder's own alembic migrations, in a temporary
  folder owned by this process and removed at exit. volumelib's store stays the
  source of truth: the adapter writes the rows of a call's volumes and snapshots
  before the call and reads the driver's changes back after it
  (:mod:`volumelib.drivers.cinder.records`).
* **Locks.** ``@coordination.synchronized`` needs a started coordinator: a tooz
  ``file://`` coordinator in that private folder (Cinder's default kind), created
  without reading the global ``cfg.CONF``. External ``utils.synchronized`` locks get
  oslo.concurrency's ``lock_path`` default set to the same folder, only if unset.
* **Root.** As root, os-brick's and Cinder's privsep contexts run in-process
  (``set_client_mode(False)``, as os-brick documents), so no privsep daemon is
  started; oslo's ``processutils`` already skips the root helper for root.

The driver's own options never reach the global ``cfg.CONF``: see
:mod:`volumelib.drivers.cinder.config`.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
import warnings
from typing import Any

# Cinder's own dependencies: this module is imported with the adapter, after Cinder.
from oslo_concurrency import lockutils
from oslo_config import cfg
from tooz import coordination as tooz_coordination

from volumelib import exceptions as exc
from volumelib.drivers.cinder import extra

__all__ = ["ensure", "admin_context", "engine", "state_dir"]

LOG = logging.getLogger(__name__)

_lock = threading.RLock()
_ready = False
_state_dir: str | None = None
_engine: Any = None


def state_dir() -> str:
    """The private folder of this process's Cinder database and locks."""
    ensure()
    assert _state_dir is not None
    return _state_dir


def engine() -> Any:
    """The SQLAlchemy engine of the private Cinder database."""
    ensure()
    return _engine


def ensure() -> None:
    """Set up the process-wide pieces once (idempotent, thread-safe).

    Raises:
        BackendError: Cinder's database is already configured elsewhere in this
            process (a Cinder service runs here), so a private one cannot be used.
    """
    global _ready
    if _ready:
        return
    with _lock:
        if _ready:
            return
        extra.import_cinder("cinder")
        started = time.perf_counter()
        _check_not_patched()
        _make_state_dir()
        _setup_database()
        _setup_locks()
        _setup_privsep()
        _ready = True
        LOG.debug("cinder runtime ready in %.3f s (state in %s)",
                  time.perf_counter() - started, _state_dir)


def _check_not_patched() -> None:
    # Only a process that imported eventlet can be patched by it (Cinder imports it).
    patcher = sys.modules.get("eventlet.patcher")
    if patcher is not None and patcher.is_monkey_patched("thread"):
        LOG.warning("this process is eventlet monkey-patched; volumelib runs Cinder "
                    "drivers on native threads and does not support that")


def _make_state_dir() -> None:
    global _state_dir
    _state_dir = tempfile.mkdtemp(prefix="volumelib-cinder-")
    atexit.register(_cleanup)


def _cleanup() -> None:
    global _state_dir
    try:
        # Cinder's lock coordinator, started by _setup_locks.
        from cinder import coordination
        coordination.COORDINATOR.stop()
    except Exception:  # noqa: BLE001 - best effort at exit
        pass
    if _engine is not None:
        _engine.dispose()
    if _state_dir:
        shutil.rmtree(_state_dir, ignore_errors=True)
        _state_dir = None


def _setup_database() -> None:
    """Point ``cinder.db`` at a private SQLite made by Cinder's migrations."""
    global _engine
    # Cinder's database API and its migrations (Cinder stays lazy).
    from cinder.db import api as db_api
    from cinder.db import migration

    assert _state_dir is not None
    url = f"sqlite:///{os.path.join(_state_dir, 'cinder.sqlite')}"
    factory = db_api.main_context_manager._factory
    if getattr(factory, "_started", False):
        raise exc.BackendError(backend_name="cinder", operation="set up",
                               reason="Cinder's database is already configured in this "
                                      "process; volumelib needs its own private one")
    db_api.main_context_manager.configure(connection=url, sqlite_synchronous=False)
    started = time.perf_counter()
    _engine = db_api.get_engine()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # alembic's notes on Cinder's own migrations
        migration.db_sync(engine=_engine)
    LOG.debug("private cinder database %s migrated in %.3f s", url,
              time.perf_counter() - started)


def _setup_locks() -> None:
    # Cinder's lock coordinator (Cinder stays lazy).
    from cinder import coordination

    assert _state_dir is not None
    locks = os.path.join(_state_dir, "locks")
    os.makedirs(locks, exist_ok=True)
    coord = coordination.COORDINATOR
    if not coord.started:
        member = (coord.prefix + coord.agent_id).encode("ascii")
        coord.coordinator = tooz_coordination.get_coordinator(f"file://{locks}", member)
        coord.coordinator.start(start_heart=False)
        coord._file_path = os.path.join(locks, coord.prefix)
        coord.started = True
    try:
        unset = cfg.CONF.oslo_concurrency.lock_path is None
    except cfg.NoSuchOptError:
        unset = True
    if unset:
        lockutils.set_defaults(lock_path=locks)


def _setup_privsep() -> None:
    if os.geteuid() != 0:
        return
    # os-brick's and Cinder's privsep contexts, run in-process as root.
    import os_brick.privileged
    os_brick.privileged.default.set_client_mode(False)
    try:
        # Cinder's own privsep context, in-process too.
        import cinder.privsep
        cinder.privsep.sys_admin_pctxt.set_client_mode(False)
    except ImportError:  # pragma: no cover - part of cinder
        pass


def admin_context(user_id: str | None = None, project_id: str | None = None) -> Any:
    """A Cinder admin ``RequestContext`` (a driver call's ``context``) for the user and
    project volumelib acts for (``volumelib`` when it does not say): Cinder's objects
    need both (a ``Group``'s ``user_id`` is not nullable)."""
    # Cinder's request context (Cinder stays lazy).
    from cinder import context
    return context.RequestContext(user_id=user_id or "volumelib",
                                  project_id=project_id or "volumelib", is_admin=True,
                                  overwrite=False)
