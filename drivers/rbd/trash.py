"""Deferred deletion of the RBD driver: which RBD trash entries are volumelib's, when
they may be purged, and the optional background purge thread.

With ``rbd_deferred_deletion`` a deleted volume's image is moved to the pool's RBD
trash (``trash_move`` with ``rbd_deferred_deletion_delay``) instead of being removed;
a *purge* removes the entries whose delay has passed. The purge runs in the driver's
``gc()``, and every ``rbd_deferred_deletion_purge_interval`` seconds in a
:class:`PurgeThread` when that option is set.

An entry is **ours** when its name is ``volume-<uuid>`` and librbd put it there for a
user (``trash_move``) or for an image removal in progress; mirroring and migration
entries are left alone. An entry is **expired** when its deferment has passed on the
driver's clock. librbd reports the deletion and deferment times in whole seconds
(rounded down), so an entry moved with a delay of ``d > 0`` seconds counts as expired
only from ``deferment_end + 1 s``: never before ``d`` seconds have really passed.
An entry moved with no delay is expired at once.
"""

from __future__ import annotations

import calendar
import dataclasses
import datetime
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from volumelib.drivers.rbd import names
from volumelib.drivers.rbd.client import rbd

__all__ = ["TrashEntry", "ours", "list_ours", "PurgeThread"]

LOG = logging.getLogger(__name__)

#: librbd trash sources whose ``volume-*`` entries volumelib purges: a ``trash_move``
#: (``USER``) and an image removal that was interrupted (``REMOVING``).
_OUR_SOURCES = frozenset({"USER", "REMOVING"})


def _epoch(value: Any) -> int:
    """Whole seconds since the epoch of a trash time (the bindings give a naive UTC
    ``datetime``)."""
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None:
            return int(value.timestamp())
        return calendar.timegm(value.utctimetuple())
    return int(value)


@dataclasses.dataclass(frozen=True)
class TrashEntry:
    """One entry of the RBD trash, as ``rbd.RBD().trash_list`` gives it.

    Attributes:
        image_id: librbd's image id (what ``trash_remove`` takes).
        name: the image's name when it was trashed (``volume-<id>``).
        volume_id: the volume id in ``name``, or ``None`` when it is not ours.
        source: librbd's trash source (``USER``, ``REMOVING``, ``MIRRORING``...).
        deleted_at: when it was trashed, seconds since the epoch (rounded down).
        deferment_end: when its delay ends, seconds since the epoch (rounded down).
    """

    image_id: str
    name: str
    volume_id: str | None
    source: str
    deleted_at: int
    deferment_end: int

    @classmethod
    def from_listing(cls, entry: Mapping[str, Any]) -> TrashEntry:
        """Build an entry from one item of ``trash_list``."""
        source = entry.get("source", "USER")
        return cls(image_id=str(entry["id"]), name=str(entry["name"]),
                   volume_id=names.id_after(str(entry["name"]), names.VOLUME),
                   source=source if isinstance(source, str) else str(source),
                   deleted_at=_epoch(entry["deletion_time"]),
                   deferment_end=_epoch(entry["deferment_end_time"]))

    @property
    def delay(self) -> int:
        """The delay it was trashed with, in whole seconds."""
        return max(0, self.deferment_end - self.deleted_at)

    @property
    def purgeable_at(self) -> int:
        """The first instant (epoch seconds) at which it counts as expired."""
        return self.deleted_at if self.delay == 0 else self.deferment_end + 1

    def expired(self, now: float) -> bool:
        """Whether its delay has surely passed at ``now`` (epoch seconds)."""
        return now >= self.purgeable_at


def ours(entry: TrashEntry) -> bool:
    """Whether a purge by volumelib may remove ``entry``: a ``volume-<uuid>`` image
    trashed by a user or by an interrupted removal."""
    return entry.volume_id is not None and entry.source in _OUR_SOURCES


def list_ours(ioctx: Any) -> list[TrashEntry]:
    """The trash entries of the pool that are ours (one listing, no image opened)."""
    found = []
    for raw in rbd.RBD().trash_list(ioctx):
        entry = TrashEntry.from_listing(raw)
        if ours(entry):
            found.append(entry)
    return found


class PurgeThread:
    """Runs ``purge()`` every ``interval`` seconds in a daemon thread until stopped.

    A pass that raises is logged and recorded (:attr:`last_error`); the next pass runs
    as planned. :meth:`stop` wakes the thread and waits for the pass in progress
    (bounded by the driver's request timeout), so no thread is left behind.

    Args:
        name: the thread's name.
        interval: seconds between the end of one pass and the start of the next (> 0).
        purge: one pass; returns how many images it removed.
    """

    def __init__(self, name: str, interval: float, purge: Callable[[], int]) -> None:
        if interval <= 0:
            raise ValueError(f"interval must be positive, got {interval!r}")
        self.name = name
        self.interval = interval
        self._purge = purge
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        #: Passes completed (with or without an error).
        self.passes = 0
        #: Images removed by all passes.
        self.purged = 0
        #: ``"ExceptionType: message"`` of the last pass that failed, ``None`` after one
        #: that succeeded.
        self.last_error: str | None = None
        #: ``time.time()`` of the end of the last pass.
        self.last_pass_at: float | None = None

    @property
    def running(self) -> bool:
        """Whether the thread is alive."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    def start(self) -> None:
        """Start the thread (no-op when it runs or was stopped)."""
        with self._lock:
            if self._thread is not None or self._stop.is_set():
                return
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()
        LOG.debug("%s: started, a purge every %s s", self.name, self.interval)

    def stop(self, timeout: float | None = None) -> None:
        """Stop the thread and wait for it (at most ``timeout`` seconds). Idempotent.

        Args:
            timeout: seconds to wait for a pass in progress; ``None``: until it ends.
        """
        with self._lock:
            self._stop.set()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                LOG.warning("%s: still in a purge pass after %s s", self.name, timeout)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.purged += self._purge()
                self.last_error = None
            except Exception as e:  # noqa: BLE001 - a failed pass must not end the thread
                self.last_error = f"{type(e).__name__}: {e}"
                LOG.warning("%s: purge pass failed: %s", self.name, self.last_error)
            self.passes += 1
            self.last_pass_at = time.time()
        LOG.debug("%s: stopped after %d passes", self.name, self.passes)
