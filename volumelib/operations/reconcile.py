"""Reconciliation after crashes: what ``backend.gc()`` does.

Every operation stores its intent before calling the driver, so a crash leaves a
record in a transitional state. Records older than ``older_than`` seconds are
reconciled (younger ones may belong to an operation still running elsewhere):

==========================  ===============================================================
record                      action
==========================  ===============================================================
volume ``creating``         roll back: delete the storage object (idempotent), drop the record
volume ``deleting``,        finish: delete the storage object, drop the record
``error_deleting``
volume ``extending``        back to its previous status (the size is the old one; a
                            partly grown object only has unused space)
volume ``reverting``        ``error`` (the data is the snapshot's or the old, unknown which)
volume ``attaching``,       ``in-use`` if it has connections, else ``available``
``detaching``
snapshot ``creating``       roll back like a volume
snapshot ``deleting``       finish like a volume
connection ``connecting``,  finish the disconnect: terminate, remove the export when it was
``disconnecting``           the last one, drop the record
connection ``attaching``    ``connected`` (the node never got a device)
connection ``detaching``    ``attached`` (the node retries ``detach``)
group ``creating``          ``error``; ``deleting``: ``error_deleting``; ``updating``:
                            ``available`` (the user deletes or retries)
group snapshot ``creating`` it and its members ``error``; ``deleting``: ``error_deleting``
                            (settled as a whole: members may share one storage object)
volume ``migrating`` (or a  before the switch of backends: roll back (remove the copy's
migration record left)      exports, delete the target's object, status back); after it:
                            finish (delete the source's object, status back). Needs both
                            backends set up in this process (else skipped); either
                            backend's gc does it (:mod:`volumelib.objects.volume_moves`)
volume or snapshot          ``manage_existing`` again (a no-op if it was done): then
``managing``                ``available``; the record is dropped if the object is nowhere,
                            ``error_managing`` on another failure. Never deletes data
volume or snapshot          finish: ``unmanage`` again, drop the record
``unmanaging``
volume ``retyping``         back to its previous status, with its old type
==========================  ===============================================================

Then the driver's own ``gc`` removes storage objects no record knows of. Records are
always written before storage objects, so asking the store about each object at the
moment it is found cannot mistake a new object for an orphan.

Another process may touch the same record meanwhile: every write here is a
compare-and-set, and a record that changed under gc is skipped and reported.

Leases (:mod:`volumelib.control.leases`) make it safe to run from several processes
and hosts at once, next to running operations:

* one ``gc()`` per backend at a time: it holds the lease ``gc:<backend>`` while it
  runs; a second one returns at once with ``busy`` in its report and did nothing;
* each record is reconciled under the same operation lease as the library's own
  operations on it: a record another caller is operating on is skipped
  (``busy``), one that changed meanwhile too. A lease of an operation whose heartbeat
  stopped more than ``older_than`` seconds ago (its process died) is taken over,
  which counts in the resource's retry budget;
* finally it expires the leases past their grace (``LeaseManager.expire``), and
  trims the event log: events older than the event ttl
  (``volumelib.setup(event_ttl=...)``), the claims of events no longer in it, and
  the subscriptions whose ttl ran out (``report["events"]``).
"""

from __future__ import annotations

import contextlib
import datetime
import logging
from collections.abc import Callable
from typing import Any

from volumelib import exceptions as exc
from volumelib import runtime
from volumelib.control import claims, quotas, subscriptions
from volumelib.control import events as event_log
from volumelib.control.leases import LeaseManager
from volumelib.drivers.types import ConnectorProperties
from volumelib.objects import intents, manage, volume_moves
from volumelib.objects.connection import ConnectionStatus
from volumelib.objects.driver_calls import call_driver
from volumelib.protocols import BackendLike
from volumelib.records.stored import Status

__all__ = ["collect"]

LOG = logging.getLogger(__name__)


def known_in(store: Any) -> Callable[[str, str], bool]:
    """``is_known(kind, id)`` over ``store``: whether a record of that kind and id
    exists, as a driver's ``gc(is_known)`` asks it. An unknown kind is known (never
    treated as an orphan)."""

    def is_known(kind: str, obj_id: str) -> bool:
        if kind == "volume":
            return bool(store.get_volumes(volume_id=obj_id))
        if kind == "snapshot":
            return bool(store.get_snapshots(snapshot_id=obj_id))
        if kind == "group":
            return bool(store.get_groups(group_id=obj_id))
        if kind == "group_snapshot":
            return bool(store.get_group_snapshots(group_snapshot_id=obj_id))
        return True

    return is_known


def _stale(obj: Any, cutoff: datetime.datetime | None) -> bool:
    if cutoff is None:
        return True
    stamp = obj.updated_at or obj.created_at
    return stamp is None or stamp <= cutoff


def collect(backend: BackendLike, *, older_than: float | None = 600,
            dry_run: bool = False) -> dict[str, Any]:
    """Reconcile ``backend``'s records and storage. Returns a report of every action."""
    if older_than is not None and (isinstance(older_than, bool)
                                   or not isinstance(older_than, (int, float))
                                   or older_than < 0):
        raise exc.InvalidArgument(reason=f"older_than must be seconds >= 0: {older_than!r}")
    cutoff = None
    if older_than is not None:
        cutoff = (datetime.datetime.now(datetime.timezone.utc)
                  - datetime.timedelta(seconds=older_than))
    report: dict[str, Any] = {"backend": backend.id, "dry_run": dry_run, "actions": [],
                              "skipped": [], "orphans": [], "leases": {}}
    if dry_run:
        return _collect(backend, report, cutoff, dry_run)
    try:
        with LeaseManager(backend.persistence).operation(f"gc:{backend.id}", "gc",
                                      stale_before=_lease_cutoff(cutoff)):
            return _collect(backend, report, cutoff, dry_run)
    except exc.ResourceBusy as e:
        LOG.info("gc of %s skipped: %s", backend.id, e)
        report["busy"] = {"holder": e.holder, "expires_at": e.expires_at}
        return report


def _lease_cutoff(cutoff: datetime.datetime | None) -> datetime.datetime:
    """Operation leases not renewed since the records' cutoff belong to dead processes
    (``older_than=None``, like 0: all of them)."""
    return cutoff or datetime.datetime.now(datetime.timezone.utc)


def _collect(backend: BackendLike, report: dict[str, Any], cutoff: datetime.datetime | None,
             dry_run: bool) -> dict[str, Any]:
    store = backend.persistence
    leases = LeaseManager(store)
    lease_cutoff = _lease_cutoff(cutoff)

    def act(kind: str, obj_id: str, action: str, func: Any, record: Any = None,
            leased: tuple[Any, ...] = ()) -> None:
        """Run ``func`` under the operation leases of ``leased``, if ``record`` did not
        change since gc read it."""
        entry = {"kind": kind, "id": obj_id, "action": action}
        if dry_run:
            report["actions"].append(entry)
            return
        try:
            with contextlib.ExitStack() as stack:
                for target in leased:
                    stack.enter_context(leases.operation(target, "gc",
                                                         stale_before=lease_cutoff))
                if record is not None:
                    version = record.__dict__.get("_db_version")
                    record._reload()
                    if record.__dict__.get("_db_version") != version:
                        raise exc.ConcurrentModification(resource=record.OBJ_NAME,
                                                         id=record.id, expected=version)
                func()
        except exc.ResourceBusy as e:
            report["skipped"].append({**entry, "reason": f"busy: {e}"})
            return
        except (exc.ConcurrentModification, exc.NotFound) as e:
            report["skipped"].append({**entry, "reason": str(e)})
            return
        except Exception as e:  # noqa: BLE001 - gc reports and goes on
            LOG.warning("gc of %s %s (%s) failed: %s", kind, obj_id, action, e)
            report["skipped"].append({**entry, "reason": f"{type(e).__name__}: {e}"})
            return
        LOG.info("gc: %s %s: %s", kind, obj_id, action)
        report["actions"].append(entry)

    volumes = {v.id: v for v in store.get_volumes(backend_name=backend.id)}
    for v in volumes.values():
        v._bind(backend)

    _settle_migrations(backend, act, cutoff)
    _forget_stale_manage_records(backend, cutoff, dry_run, report)

    for conn in store.get_connections():
        if conn.volume_id not in volumes or conn.status not in ConnectionStatus.TRANSITIONAL \
                or not _stale(conn, cutoff):
            continue
        conn._bind(backend)
        vol = volumes[conn.volume_id]
        if conn.status in (ConnectionStatus.CONNECTING, ConnectionStatus.DISCONNECTING):
            act("connection", conn.id, "finish disconnect",
                lambda c=conn: _drop_connection(backend, c), conn, (vol,))
        elif conn.status == ConnectionStatus.ATTACHING:
            act("connection", conn.id, "back to connected",
                lambda c=conn: _set_status(c, ConnectionStatus.CONNECTED, device=None),
                conn, (vol,))
        else:
            act("connection", conn.id, "back to attached",
                lambda c=conn: _set_status(c, ConnectionStatus.ATTACHED), conn, (vol,))

    for gs in store.get_group_snapshots():
        if gs.backend_name != backend.id or not _stale(gs, cutoff) \
                or gs.status not in (Status.CREATING, Status.DELETING):
            continue
        gs._bind(backend)
        # A group snapshot is settled as a whole (its members may share one storage
        # object): mark it and its members for the user to delete again.
        failed = Status.ERROR if gs.status == Status.CREATING else Status.ERROR_DELETING
        act("group_snapshot", gs.id, f"mark {failed}",
            lambda g=gs, st=failed: _mark_group_snapshot(g, st))

    for group in store.get_groups(backend_name=backend.id):
        if not _stale(group, cutoff) or group.status not in (
                Status.CREATING, Status.DELETING, "updating"):
            continue
        new_status = {Status.CREATING: Status.ERROR, Status.DELETING: Status.ERROR_DELETING,
                      "updating": Status.AVAILABLE}[group.status]
        act("group", group.id, f"mark {new_status}",
            lambda g=group, st=new_status: _set_status(g, st))

    for snap in store.get_snapshots():
        if snap.volume_id not in volumes or not _stale(snap, cutoff) \
                or snap.group_snapshot_id is not None:
            continue
        snap._bind(backend)
        if snap.status in (Status.CREATING, Status.DELETING):
            action = "roll back create" if snap.status == Status.CREATING else "finish delete"
            act("snapshot", snap.id, action, lambda s=snap: _drop_snapshot(backend, s),
                snap, (volumes[snap.volume_id], snap))
        elif snap.status == Status.MANAGING:
            act("snapshot", snap.id, "finish manage", lambda s=snap: manage.recover(s),
                snap, (volumes[snap.volume_id], snap))
        elif snap.status == Status.UNMANAGING:
            act("snapshot", snap.id, "finish unmanage",
                lambda s=snap: volume_moves.recover_snapshot(s), snap,
                (volumes[snap.volume_id], snap))

    # Re-read: the connection and snapshot steps above may have changed volumes.
    for vol in store.get_volumes(backend_name=backend.id):
        vol._bind(backend)
        if not _stale(vol, cutoff):
            continue
        if vol.status in (Status.CREATING, Status.DELETING, Status.ERROR_DELETING):
            if vol.status != Status.CREATING or not vol.snapshots:
                action = ("roll back create" if vol.status == Status.CREATING
                          else "finish delete")
                act("volume", vol.id, action, lambda v=vol: _drop_volume(backend, v), vol,
                    (vol,))
        elif vol.status == Status.EXTENDING:
            act("volume", vol.id, "back to previous status",
                lambda v=vol: _set_status(v, v.previous_status or Status.AVAILABLE,
                                          previous_status=None), vol, (vol,))
        elif vol.status == Status.REVERTING:
            act("volume", vol.id, "mark error", lambda v=vol: _set_status(v, Status.ERROR),
                vol, (vol,))
        elif vol.status in (Status.ATTACHING, Status.DETACHING):
            act("volume", vol.id, "settle attach status",
                lambda v=vol: _set_status(v, Status.IN_USE if v.connections
                                          else Status.AVAILABLE, previous_status=None),
                vol, (vol,))
        elif vol.status == Status.MANAGING:
            act("volume", vol.id, "finish manage", lambda v=vol: manage.recover(v), vol,
                (vol,))
        elif vol.status in (Status.UNMANAGING, Status.RETYPING):
            act("volume", vol.id, "finish unmanage" if vol.status == Status.UNMANAGING
                else "back to previous status",
                lambda v=vol: volume_moves.recover_volume(v), vol, (vol,))
        elif vol.status == Status.MIGRATING and intents.load(
                store, intents.migration_key(vol.id)) is None:
            act("volume", vol.id, "back to previous status (no migration record)",
                lambda v=vol: _set_status(v, v.previous_status or Status.AVAILABLE,
                                          previous_status=None), vol, (vol,))

    is_known = known_in(store)

    try:
        report["orphans"] = call_driver(
            backend, "gc", lambda: backend.driver.gc(is_known, dry_run=dry_run))
    except exc.VolumelibError as e:
        report["skipped"].append({"kind": "driver", "id": backend.id, "action": "gc",
                                  "reason": str(e)})
    if not dry_run:
        try:
            report["leases"] = leases.expire(
                older_than=(datetime.datetime.now(datetime.timezone.utc)
                            - lease_cutoff).total_seconds())
        except exc.VolumelibError as e:
            report["skipped"].append({"kind": "lease", "id": "*", "action": "expire",
                                      "reason": str(e)})
        try:
            store = backend.persistence
            report["events"] = {"trimmed": event_log.trim(store),
                                "claims_dropped": claims.collect(store),
                                "subscriptions_expired": subscriptions.collect(store)}
        except exc.VolumelibError as e:
            report["skipped"].append({"kind": "event", "id": "*", "action": "trim",
                                      "reason": str(e)})
    return report


def _settle_migrations(backend: BackendLike, act: Any,
                       cutoff: datetime.datetime | None) -> None:
    """Finish or undo the migrations from or to ``backend`` that a crash left
    (their records in :mod:`volumelib.objects.intents`)."""
    store = backend.persistence
    for record in intents.find(store, intents.MIGRATION_PREFIX).values():
        if backend.id not in (record.get("source"), record.get("target")) \
                or not isinstance(record.get("volume_id"), str):
            continue
        found = store.get_volumes(volume_id=record["volume_id"])
        if not found:
            act("migration", record["volume_id"], "forget the record of a deleted volume",
                lambda r=record: volume_moves.recover_migration(None, r))
            continue
        vol = found[0]
        if not _stale(vol, cutoff):
            continue
        other = record["target"] if record["source"] == backend.id else record["source"]
        vol._bind(backend if vol.backend_name == backend.id
                  else runtime.get_backend(vol.backend_name, required=False))

        def settle(v: Any = vol, r: dict[str, Any] = record, o: str = other) -> None:
            if volume_moves.recover_migration(v, r) is None:
                raise exc.BackendNotFound(
                    f"the migration of volume {v.id} between {r['source']} and "
                    f"{r['target']} needs backend {o}, which is not set up in this "
                    f"process", backend_name=o)

        on_target = vol.backend_name == record["target"]
        act("volume", vol.id, f"{'finish' if on_target else 'roll back'} migration "
                              f"{record['source']} -> {record['target']}", settle, vol, (vol,))


def _forget_stale_manage_records(backend: BackendLike, cutoff: datetime.datetime | None,
                                 dry_run: bool, report: dict[str, Any]) -> None:
    """Drop manage references whose record is not ``managing`` (a crash between
    storing the reference and the record, or after the manage finished)."""
    store = backend.persistence
    for key, record in intents.find(store, intents.MANAGE_PREFIX).items():
        if record.get("backend") != backend.id:
            continue
        started = record.get("started_at")
        if cutoff is not None and (not started or
                                   datetime.datetime.fromisoformat(started) > cutoff):
            continue
        kind, _, obj_id = key[len(intents.MANAGE_PREFIX):].partition(":")
        found = store.get_record(kind, obj_id) if kind in ("volume", "snapshot") else None
        if found is not None and found.status == Status.MANAGING:
            continue
        report["actions"].append({"kind": kind or "manage", "id": obj_id,
                                  "action": "forget a stale manage reference"})
        if not dry_run:
            intents.drop(store, key)


def _set_status(obj: Any, status: str, **fields: Any) -> None:
    obj.status = status
    for name, value in fields.items():
        setattr(obj, name, value)
    obj.save()


def _mark_group_snapshot(gs: Any, status: str) -> None:
    for snap in gs.snapshots:
        _set_status(snap, status)
    _set_status(gs, status)


def _drop_volume(backend: BackendLike, vol: Any) -> None:
    was_creating = vol.status == Status.CREATING
    vol.status = Status.DELETING
    vol.save()
    if was_creating and not vol.connections:
        # A create that crashed mid-way may have left the export it used to write
        # the data (provisioning from an image attaches the volume); undo it first.
        call_driver(backend, "remove_export", backend.driver.remove_export, vol.info(),
                    resource_id=vol.id)
    call_driver(backend, "delete_volume", backend.driver.delete_volume, vol.info(),
                resource_id=vol.id)
    vol._record_deleted()
    quotas.give_back(backend.persistence, vol.project_id, volumes=1, gigabytes=vol.size)


def _drop_snapshot(backend: BackendLike, snap: Any) -> None:
    snap.status = Status.DELETING
    snap.save()
    call_driver(backend, "delete_snapshot", backend.driver.delete_snapshot, snap.info(),
                resource_id=snap.id)
    snap._record_deleted()
    quotas.give_back(backend.persistence, snap.project_id, snapshots=1)


def _drop_connection(backend: BackendLike, conn: Any) -> None:
    vol = conn.volume
    others = [c for c in vol.connections if c.id != conn.id]
    props = ConnectorProperties.from_dict(conn.connector or {}, require_host=False)
    call_driver(backend, "terminate_connection", backend.driver.terminate_connection,
                vol.info(), props, resource_id=vol.id)
    if not others:
        call_driver(backend, "remove_export", backend.driver.remove_export, vol.info(),
                    resource_id=vol.id)
    backend.persistence.delete_connection(conn)
    if not others and vol.status in (Status.IN_USE, Status.ATTACHING):
        vol.status = Status.AVAILABLE
        vol.previous_status = None
        vol.save()
