"""What keeps an operation's lease alive and its steps committed: the process's
heartbeat thread (:class:`Heartbeats`) and the two-transaction steps of an
operation (:class:`OperationSteps`), both driven by
:class:`~volumelib.control.leases.LeaseManager`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any, Protocol

from volumelib import checkpoints
from volumelib import exceptions as exc

__all__ = ["Heartbeats", "OperationSteps", "Renewer", "heartbeats"]

LOG = logging.getLogger(__name__)


class Renewer(Protocol):
    """What renews a lease (a :class:`~volumelib.control.leases.LeaseManager`)."""

    def renew(self, resource: Any, ttl: float | None = None,
              holder: str | None = None) -> Any: ...


class OperationSteps:
    """The steps of an operation run by :meth:`LeaseManager.steps`: its intent is
    stored with its lease, its outcome with the lease's release.

    Without a lease of its own (re-entered, or taken the slow way) each step is
    committed on its own and these methods only mark the checkpoints.
    """

    def __init__(self, store: Any, tx: Any, manager: Renewer | None = None,
                 rid: str | None = None, holder: str | None = None,
                 ttl: float = 0.0) -> None:
        self._store, self._tx, self._manager = store, tx, manager
        self._rid, self._holder, self._ttl = rid, holder, ttl
        self._stored = tx is None  # nothing to lose on an error once committed
        self._beat: int | None = None

    def intent_stored(self, checkpoint: str) -> None:
        """Commit the lease with everything the block wrote so far (its intent),
        start renewing the lease, and mark ``checkpoint``. Call it before the
        driver."""
        tx, self._tx = self._tx, None
        if tx is not None and not self._stored:
            tx.__exit__(None, None, None)  # commit
            self._stored = True
            self._beat = heartbeats.add(self._manager, self._rid, self._holder,
                                         self._ttl)
        checkpoints.checkpoint(checkpoint)

    def finishing(self) -> None:
        """Open the transaction of the outcome (the driver is done); the lease's
        release joins it."""
        if self._store is not None and self._tx is None and self._stored:
            self._tx = self._store.transaction()
            self._tx.__enter__()

    def _abort(self, error: BaseException) -> bool:
        """Roll back the open transaction; whether the lease is stored (so it must
        be released)."""
        tx, self._tx = self._tx, None
        if tx is not None:
            try:
                tx.__exit__(type(error), error, error.__traceback__)
            except BaseException:  # noqa: BLE001 - the block's own error is raised
                LOG.debug("rollback after %r failed", error, exc_info=True)
        return self._stored

    def _close(self) -> None:
        tx, self._tx = self._tx, None
        if tx is not None:
            tx.__exit__(None, None, None)

    def _stop_heartbeat(self) -> None:
        if self._beat is not None:
            heartbeats.remove(self._beat)
            self._beat = None


class Heartbeats:
    """Renews the operation leases of this process, each every third of its ttl.

    One daemon thread per process, started by the first operation (not at import) and
    restarted in a forked child; starting a thread per operation costs more than the
    operation's own store round trips on a busy machine. Adding an operation wakes the
    thread only when it is due before the thread's next wake-up (every operation has
    the same ttl in the common case, so the thread sleeps through short operations
    instead of waking, and taking the GIL, once per operation).
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._entries: dict[int, list[Any]] = {}
        self._next = 0
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._fork_hook = False
        #: When the thread wakes up next (monotonic; 0: it is awake, renewing).
        self._wake_at = 0.0

    def _after_fork(self) -> None:
        """In a forked child: the parent's thread and operations are not ours."""
        self._cond = threading.Condition()
        self._entries = {}
        self._thread = None
        self._wake_at = 0.0

    def add(self, manager: Renewer, rid: str, holder: str, ttl: float) -> int:
        interval = ttl / 3.0
        if not self._fork_hook:
            self._fork_hook = True
            os.register_at_fork(after_in_child=self._after_fork)
        with self._cond:
            self._next += 1
            key = self._next
            due = time.monotonic() + interval
            self._entries[key] = [manager, rid, holder, interval, due]
            if self._thread is None or self._pid != os.getpid() \
                    or not self._thread.is_alive():
                self._pid = os.getpid()
                self._wake_at = 0.0
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="volumelib-lease-heartbeat")
                self._thread.start()
            elif due < self._wake_at:
                self._cond.notify()  # due before the thread's next wake-up
        return key

    def remove(self, key: int) -> None:
        with self._cond:
            self._entries.pop(key, None)

    def _run(self) -> None:
        while True:
            with self._cond:
                now = time.monotonic()
                due = [(k, e) for k, e in self._entries.items() if e[4] <= now]
                if not due:
                    wait = min((e[4] for e in self._entries.values()), default=now + 60)
                    self._wake_at = wait
                    self._cond.wait(max(0.001, wait - now))
                    self._wake_at = 0.0
                    continue
                for _, entry in due:
                    entry[4] = now + entry[3]
            for key, (manager, rid, holder, _, _) in due:
                try:
                    manager.renew(rid, holder=holder)
                except Exception as e:  # noqa: BLE001 - the operation goes on regardless
                    with self._cond:
                        current = key in self._entries
                        if current and isinstance(e, exc.LeaseError):
                            self._entries.pop(key, None)  # lost: stop renewing it
                    if current:
                        LOG.warning("could not renew the operation lease on %s: %s",
                                    rid, e)


heartbeats = Heartbeats()
