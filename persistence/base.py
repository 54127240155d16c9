"""The persistence contract: where volumelib keeps its objects' metadata.

:class:`PersistenceDriverBase` has the methods of cinderlib's persistence contract
(``get_volumes``, ``set_volume``, ``delete_volume``, ``get_changed_fields``...) plus
groups, group snapshots, volume types, paginated listing and counts. They are all
concrete, written once here on top of five storage primitives that a store
implements (:meth:`_fetch`, :meth:`_insert`, :meth:`_update`, :meth:`_remove`,
:meth:`_page`). A store may also override the public methods directly.

Rules every store keeps:

* Only changed fields are written (``get_changed_fields``), then the tracker is reset.
* Every row has a version. An object read from the store remembers it; saving it
  again is a compare-and-set: if another writer saved first, ``ConcurrentModification``
  is raised and nothing is written. A new object (never saved) is inserted; its id
  must be new (``AlreadyExists`` otherwise).
* Objects returned by a store are live: change an attribute, ``set_volume(vol)``.
* Deleting what is not there is a no-op.
"""

from __future__ import annotations

import abc
import contextlib
import logging
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, ClassVar

from volumelib import exceptions as exc
from volumelib.image_cache import volume_cache
from volumelib.persistence.events import EventLog
from volumelib.versioned import VersionedObject, registry, utcnow

# What the getters return: the stored object classes registered under each kind's
# class name (:mod:`volumelib.objects`). The store never imports them; it builds rows
# into whatever class the object layer registered.
Volume = Snapshot = Connection = KeyValue = VolumeType = Pool = Lease = Quota = Any

__all__ = ["PersistenceDriverBase", "DB", "KINDS", "Kind", "LIST_FILTERS",
           "SNAPSHOT_LIST_FILTERS", "NAME_FILTERS", "name_matches"]

LOG = logging.getLogger(__name__)


class Kind:
    """One kind of stored object: its class name, key field and lookup fields."""

    def __init__(self, name: str, class_name: str, key: str = "id",
                 not_found: type[exc.NotFound] = exc.NotFound, not_found_arg: str = "id",
                 soft_delete: bool = True, events: bool = False) -> None:
        self.name = name
        self.class_name = class_name
        self.key = key
        self.not_found = not_found
        self.not_found_arg = not_found_arg
        self.soft_delete = soft_delete
        #: Its creates, status changes and deletes go to the event log.
        self.events = events

    @property
    def cls(self) -> type[VersionedObject]:
        """The class rows of this kind are built into: the one registered under
        ``class_name`` (defining the class registers it)."""
        try:
            return registry[self.class_name]
        except KeyError:
            raise exc.PersistenceError(reason=f"no object class {self.class_name} is "
                                              f"registered for kind {self.name}") from None

    def __repr__(self) -> str:
        return f"Kind({self.name})"


KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("volume", "Volume", not_found=exc.VolumeNotFound, not_found_arg="volume_id",
         events=True),
    Kind("snapshot", "Snapshot", not_found=exc.SnapshotNotFound,
         not_found_arg="snapshot_id", events=True),
    Kind("connection", "Connection", not_found=exc.ConnectionNotFound,
         not_found_arg="connection_id", events=True),
    Kind("group", "Group", not_found=exc.GroupNotFound, not_found_arg="group_id",
         events=True),
    Kind("group_snapshot", "GroupSnapshot", not_found=exc.GroupSnapshotNotFound,
         not_found_arg="group_snapshot_id", events=True),
    Kind("volume_type", "VolumeType", soft_delete=False),
    Kind("key_value", "KeyValue", key="key", not_found=exc.KeyValueNotFound,
         not_found_arg="key", soft_delete=False),
    # The control plane's kinds (volumelib.records.control).
    Kind("pool", "Pool", key="name", not_found=exc.PoolNotFound,
         not_found_arg="pool_name", soft_delete=False),
    Kind("lease", "Lease", soft_delete=False),
    Kind("quota", "Quota", soft_delete=False),
    # Where events are delivered (volumelib.records.subscription).
    Kind("subscription", "Subscription", not_found=exc.SubscriptionNotFound,
         not_found_arg="subscription_id", soft_delete=False),
)}

_CLASS_TO_KIND = {k.class_name: k for k in KINDS.values()}

#: Filters ``list_volumes`` accepts besides ``metadata`` (equality on the field).
LIST_FILTERS = frozenset({"status", "name", "volume_type_id", "group_id", "size",
                          "snapshot_id", "source_volid", "multiattach", "user_id"})

#: Filters ``list_snapshots`` accepts besides ``metadata`` and the name filters.
SNAPSHOT_LIST_FILTERS = frozenset({"status", "name", "volume_id", "volume_size",
                                   "group_snapshot_id", "user_id"})

#: Name filters of the listings: key -> match (``contains`` or ``prefix``). Literal and
#: case-sensitive: ``%``, ``_`` and ``\`` are ordinary characters.
NAME_FILTERS = {"name~": "contains", "name^": "prefix"}


def name_matches(name: str | None, name_match: Iterable[tuple[str, str]]) -> bool:
    """Whether ``name`` passes every ``(match, text)`` of a listing's name filters
    (the rule every store's SQL or Python check implements exactly)."""
    for op, text in name_match:
        if name is None:
            return False
        if op == "contains" and text not in name:
            return False
        if op == "prefix" and not name.startswith(text):
            return False
    return True


def _kind_named(name: str) -> Kind:
    try:
        return KINDS[name]
    except KeyError:
        raise exc.InvalidArgument(reason=f"{name!r} is not a kind a store keeps; known: "
                                         f"{', '.join(sorted(KINDS))}") from None


def kind_of(resource: VersionedObject | type[VersionedObject]) -> Kind:
    try:
        return _CLASS_TO_KIND[resource.OBJ_NAME]
    except KeyError:
        raise exc.InvalidArgument(
            reason=f"{type(resource).__name__} is not something a store keeps") from None


class PersistenceDriverBase(EventLog, abc.ABC):
    """Base of every store. See the module docstring for the rules.

    Args:
        events: keep the event log (:mod:`volumelib.persistence.events`; stores that
            can, default ``True``). ``False`` writes no events: nothing can watch,
            claim or be delivered the changes of such a store.
        **kwargs: store specific; unknown ones raise ``InvalidPersistence``.
    """

    #: Entry-point name of this store (``memory``, ``dbms``...).
    name: ClassVar[str] = "abstract"
    #: Keep deleted rows with ``deleted=True`` (hidden from reads).
    soft_deletes: bool = False

    def __init__(self, events: bool = True, **kwargs: Any) -> None:
        self._events_on = bool(events)
        if kwargs:
            raise exc.InvalidPersistence(
                f"store {self.name} does not take option(s) {', '.join(sorted(kwargs))}",
                storage=self.name, available="")
        self._db: DB | None = None

    # -- the five primitives a store implements -----------------------------------

    @abc.abstractmethod
    def _fetch(self, kind: Kind, filters: Mapping[str, Any]
               ) -> list[tuple[int, dict[str, Any]]]:
        """Rows of ``kind`` whose fields equal ``filters`` (a ``None`` value matches
        NULL; the public getters drop their ``None`` arguments before calling), not
        deleted, as ``(version, values)``. Callers never modify the ``values`` they
        get, so a store may hand out its own (the memory store does)."""

    @abc.abstractmethod
    def _insert(self, kind: Kind, values: Mapping[str, Any]) -> int:
        """Insert a row; raise ``AlreadyExists`` if the key is taken. Returns version 1.
        ``values`` (and ``changes`` of :meth:`_update`) are the store's to keep: the
        caller made them for this call and does not modify them afterwards."""

    @abc.abstractmethod
    def _update(self, kind: Kind, key: str, expected_version: int,
                changes: Mapping[str, Any]) -> int:
        """Write ``changes`` if the row's version is ``expected_version``; return the new
        version; raise ``ConcurrentModification`` otherwise (also if the row is gone)."""

    @abc.abstractmethod
    def _remove(self, kind: Kind, key: str) -> None:
        """Delete the row (no-op if missing)."""

    @abc.abstractmethod
    def _page(self, kind: Kind, *, marker: str | None, limit: int | None,
              filters: Mapping[str, Any], metadata: Mapping[str, str]
              ) -> list[tuple[int, dict[str, Any]]]:
        """Rows ordered by ``(created_at, id)``, strictly after the ``marker`` row,
        matching ``filters`` and containing ``metadata`` items; at most ``limit``.

        A listing with name filters also passes ``name_match``: ``(match, text)``
        pairs (:data:`NAME_FILTERS`) every returned row's ``name`` satisfies, exactly
        as :func:`name_matches` says (literal, case-sensitive)."""

    def _remove_if(self, kind: Kind, key: str, expected_version: int) -> bool:
        """Delete the row only if its version is ``expected_version``.

        Returns ``False`` when the row is missing; raises ``ConcurrentModification``
        when another writer changed it. This generic version is NOT atomic (read, then
        delete); the bundled stores override it with one atomic statement, and a
        store shared between processes must too.
        """
        rows = self._fetch(kind, {kind.key: key})
        if not rows:
            return False
        if rows[0][0] != expected_version:
            raise exc.ConcurrentModification(resource=kind.class_name, id=key,
                                             expected=expected_version)
        self._remove(kind, key)
        return True

    def _insert_if_absent(self, kind: Kind, values: Mapping[str, Any]) -> bool:
        """Insert a row unless its key is taken: ``True`` when inserted. Unlike
        :meth:`_insert`, a taken key is no error (inside a transaction, a failed
        statement would spoil it on some databases). Generic; stores may do it in
        one statement."""
        try:
            self._insert(kind, values)
        except exc.AlreadyExists:
            return False
        return True

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Make every read and write of this thread in the block one transaction: all
        or nothing, one commit at the end (none if the block raises). Nested blocks
        join the outer one. Operations use it to store their lease, quota and intent
        together, and their outcome with the lease's release.

        This generic version runs each primitive on its own (the bundled stores
        override it).
        """
        yield

    def _count(self, kind: Kind, group_by: str, *,
               filters: Mapping[str, Any] | None = None,
               metadata: Mapping[str, str] | None = None,
               name_match: tuple[tuple[str, str], ...] = (),
               sum_of: str | None = None) -> dict[Any, int]:
        """Per value of ``group_by``, the number of live rows matching the arguments
        (as for :meth:`_page`), or with ``sum_of`` the sum of that field over them.
        Generic (through :meth:`_page`); stores may speed it up."""
        extra = {"name_match": name_match} if name_match else {}
        counts: dict[Any, int] = {}
        for _, values in self._page(kind, marker=None, limit=None, filters=filters or {},
                                    metadata=metadata or {}, **extra):
            key = values.get(group_by)
            counts[key] = counts.get(key, 0) + (1 if sum_of is None
                                                else (values.get(sum_of) or 0))
        return counts

    def close(self) -> None:
        """Release connections. Idempotent."""

    # -- building objects ----------------------------------------------------------

    def _build(self, kind: Kind, row: tuple[int, dict[str, Any]]) -> Any:
        version, values = row
        obj = kind.cls._from_values(values, version, exact=True)
        state = obj.__dict__
        state["_store"] = self
        if kind.events:  # the status at this version: the old status of its next event
            state["_seen"] = (version, values.get("status"))
        return obj

    def _get(self, kind: Kind, **filters: Any) -> list[Any]:
        return [self._build(kind, row) for row in
                self._fetch(kind, {k: v for k, v in filters.items() if v is not None})]

    def get_record(self, kind: str, key: str) -> Any:
        """The stored object of ``kind`` (``"volume"``, ``"lease"``...) whose key is
        ``key``, or ``None``.

        Raises:
            InvalidArgument: no such kind.
        """
        found = self._get(_kind_named(kind), **{_kind_named(kind).key: key})
        return found[0] if found else None

    def insert_record(self, resource: VersionedObject) -> bool:
        """Insert a new ``resource`` (never saved) unless its key is taken: ``True``
        when inserted, ``False`` (and nothing written) when a row has the key. For
        rows that name a resource, such as leases, where "taken" is an answer, not an
        error.

        Raises:
            InvalidArgument: ``resource`` was saved already, or is no stored kind.
        """
        kind = kind_of(resource)
        state = resource.__dict__
        if state.get("_db_version") is not None:
            raise exc.InvalidArgument(reason=f"{resource.OBJ_NAME} "
                                             f"{getattr(resource, kind.key)} is stored")
        if "created_at" in resource.fields and resource.created_at is None:
            resource.created_at = utcnow()
        logged = kind.events and self.events_enabled
        with self.transaction() if logged else contextlib.nullcontext():
            if not self._insert_if_absent(kind, resource.obj_values()):
                return False
            if logged:
                self._log(kind, resource, "create", None)
        state["_db_version"] = 1
        state["_store"] = self
        if kind.events:
            state["_seen"] = (1, resource._values.get("status"))  # type: ignore[attr-defined]
        resource.obj_reset_changes()
        return True

    def row_version(self, kind: str, key: str) -> int | None:
        """The version of the stored row of ``kind`` with ``key`` (``None``: not
        stored): what an object compares its own with to know whether another writer
        changed the row since it was read. Stores answer it without building the row
        when they can.

        Raises:
            InvalidArgument: no such kind.
        """
        k = _kind_named(kind)
        rows = self._fetch(k, {k.key: key})
        return rows[0][0] if rows else None

    def find(self, kind: str, **filters: Any) -> list[Any]:
        """The stored objects of ``kind`` whose fields equal ``filters`` (a ``None``
        value matches a field that has none), in no particular order.

        Raises:
            InvalidArgument: no such kind.
        """
        k = _kind_named(kind)
        return [self._build(k, row) for row in self._fetch(k, filters)]

    def _set(self, resource: VersionedObject) -> None:
        kind = kind_of(resource)
        changed = resource.obj_get_changes()
        state = resource.__dict__
        version = state.get("_db_version")
        if version is not None and not changed:
            return
        if not kind.events or not self.events_enabled \
                or (version is not None and "status" not in changed):
            self._write(kind, resource, changed, version)
            return
        # A create or a status change: its event is written in the same transaction.
        with self.transaction():
            if version is None:
                self._write(kind, resource, changed, None)
                self._log(kind, resource, "create", None)
                return
            seen = state.get("_seen")
            old = seen[1] if seen is not None and seen[0] == version \
                else self._stored_status(kind, resource, version)
            self._write(kind, resource, changed, version)
            if old != resource._values.get("status"):
                self._log(kind, resource, "update", old)

    def _write(self, kind: Kind, resource: VersionedObject, changed: dict[str, Any],
               version: int | None) -> None:
        """Insert (``version`` None) or compare-and-set update the changed fields."""
        state = resource.__dict__
        now = utcnow()
        fields = resource.fields
        if version is None:
            if "created_at" in fields and resource.created_at is None:
                resource.created_at = now
            new_version = self._insert(kind, resource.obj_values())
            state["_db_version"] = new_version
            state["_store"] = self
            resource.obj_reset_changes()
        else:
            if "updated_at" in fields:
                resource.updated_at = now
                changed["updated_at"] = now
            key = getattr(resource, kind.key)
            new_version = self._update(kind, key, version, resource.obj_values(changed))
            state["_db_version"] = new_version
            state["_store"] = self
            resource.obj_reset_changes(changed)  # the other fields did not change
        if kind.events:
            state["_seen"] = (new_version, resource._values.get("status"))

    def _remove_returning(self, kind: Kind, key: str) -> dict[str, Any] | None:
        """Delete the row and return its values (``None``: there was none). Generic
        (a read, then :meth:`_remove`); stores may do it in one statement."""
        rows = self._fetch(kind, {kind.key: key})
        self._remove(kind, key)
        return rows[0][1] if rows else None

    def _delete(self, resource: VersionedObject) -> None:
        kind = kind_of(resource)
        key = getattr(resource, kind.key)
        logged = kind.events and self.events_enabled
        if self.soft_deletes and kind.soft_delete and "deleted" in resource.fields:
            resource.deleted = True
            if resource.deleted_at is None:
                resource.deleted_at = utcnow()
            version = getattr(resource, "_db_version", None)
            with self.transaction() if logged else contextlib.nullcontext():
                rows = self._fetch(kind, {kind.key: key})
                if not rows:
                    return
                if version is None:
                    version = rows[0][0]
                changes = resource.obj_values(
                    set(self.get_changed_fields(resource)) | {"deleted", "deleted_at"})
                new_version = self._update(kind, key, version, changes)
                if logged:
                    self._log(kind, resource, "delete", rows[0][1].get("status"))
            object.__setattr__(resource, "_db_version", new_version)
            self.reset_change_tracker(resource)
        elif logged:
            with self.transaction():
                self._remove_logged(kind, resource, key)
            object.__setattr__(resource, "_db_version", None)
        else:
            self._remove(kind, key)
            object.__setattr__(resource, "_db_version", None)

    # -- cinderlib's contract --------------------------------------------------------

    @property
    def db(self) -> DB:
        """Read-only facade for drivers (``volume_get``, ``snapshot_get``...)."""
        if self._db is None:
            self._db = DB(self)
        return self._db

    def get_volumes(self, volume_id: str | None = None, volume_name: str | None = None,
                    backend_name: str | None = None,
                    group_id: str | None = None) -> list[Volume]:
        if volume_name is None and backend_name is None and group_id is None \
                and volume_id is not None:  # the common lookup, made short
            kind = KINDS["volume"]
            return [self._build(kind, row) for row in self._fetch(kind, {"id": volume_id})]
        return self._get(KINDS["volume"], id=volume_id, name=volume_name,
                         backend_name=backend_name, group_id=group_id)

    def get_snapshots(self, snapshot_id: str | None = None,
                      snapshot_name: str | None = None,
                      volume_id: str | None = None,
                      group_snapshot_id: str | None = None) -> list[Snapshot]:
        return self._get(KINDS["snapshot"], id=snapshot_id, name=snapshot_name,
                         volume_id=volume_id, group_snapshot_id=group_snapshot_id)

    def get_connections(self, connection_id: str | None = None,
                        volume_id: str | None = None) -> list[Connection]:
        return self._get(KINDS["connection"], id=connection_id, volume_id=volume_id)

    def get_key_values(self, key: str | None = None) -> list[KeyValue]:
        return self._get(KINDS["key_value"], key=key)

    def set_volume(self, volume: Volume) -> None:
        self._set(volume)

    def set_snapshot(self, snapshot: Snapshot) -> None:
        self._set(snapshot)

    def set_connection(self, connection: Connection) -> None:
        self._set(connection)

    def set_key_value(self, key_value: KeyValue) -> None:
        """Insert or overwrite a key-value (last writer wins, unlike resources)."""
        kind = KINDS["key_value"]
        if getattr(key_value, "_db_version", None) is None:
            existing = self._fetch(kind, {"key": key_value.key})
            if existing:
                object.__setattr__(key_value, "_db_version", existing[0][0])
                key_value._changed.update(key_value.fields)
        self._set(key_value)

    def delete_volume(self, volume: Volume) -> None:
        self._delete(volume)

    def delete_snapshot(self, snapshot: Snapshot) -> None:
        self._delete(snapshot)

    def delete_connection(self, connection: Connection) -> None:
        self._delete(connection)

    def delete_key_value(self, key_value: KeyValue | str) -> None:
        key = key_value if isinstance(key_value, str) else key_value.key
        self._remove(KINDS["key_value"], key)

    # -- groups, group snapshots, volume types ----------------------------------------

    def get_groups(self, group_id: str | None = None, group_name: str | None = None,
                   backend_name: str | None = None) -> list[Any]:
        return self._get(KINDS["group"], id=group_id, name=group_name,
                         backend_name=backend_name)

    def get_group_snapshots(self, group_snapshot_id: str | None = None,
                            group_snapshot_name: str | None = None,
                            group_id: str | None = None) -> list[Any]:
        return self._get(KINDS["group_snapshot"], id=group_snapshot_id,
                         name=group_snapshot_name, group_id=group_id)

    def get_volume_types(self, volume_type_id: str | None = None,
                         name: str | None = None) -> list[VolumeType]:
        return self._get(KINDS["volume_type"], id=volume_type_id, name=name)

    def set_group(self, group: Any) -> None:
        self._set(group)

    def set_group_snapshot(self, group_snapshot: Any) -> None:
        self._set(group_snapshot)

    def set_volume_type(self, volume_type: VolumeType) -> None:
        self._set(volume_type)

    def delete_group(self, group: Any) -> None:
        self._delete(group)

    def delete_group_snapshot(self, group_snapshot: Any) -> None:
        self._delete(group_snapshot)

    def delete_volume_type(self, volume_type: VolumeType) -> None:
        self._delete(volume_type)

    # -- the control plane: pools, leases, quotas ---------------------------------------

    def get_pools(self, pool_name: str | None = None) -> list[Pool]:
        """Registered pools (all, or the one named ``pool_name``)."""
        return self._get(KINDS["pool"], name=pool_name)

    def set_pool(self, pool: Pool) -> None:
        self._set(pool)

    def delete_pool(self, pool: Pool | str) -> None:
        self._remove(KINDS["pool"], pool if isinstance(pool, str) else pool.name)

    def get_leases(self, resource_id: str | None = None,
                   holder: str | None = None) -> list[Lease]:
        """Lease rows (expired ones too: expiry is a matter of ``expires_at``)."""
        return self._get(KINDS["lease"], id=resource_id, holder=holder)

    def set_lease(self, lease: Lease) -> None:
        """Insert (``AlreadyExists`` if the resource has a lease row) or
        compare-and-set update (``ConcurrentModification`` if another writer won)."""
        self._set(lease)

    def delete_lease(self, lease: Lease | str) -> None:
        """Delete a lease row. A lease read from the store is deleted only if nobody
        changed it since (``ConcurrentModification`` otherwise, nothing deleted); an id
        or a never-saved lease is deleted unconditionally. Missing: a no-op."""
        kind = KINDS["lease"]
        if isinstance(lease, str):
            self._remove(kind, lease)
            return
        version = getattr(lease, "_db_version", None)
        if version is None:
            self._remove(kind, lease.id)
        else:
            self._remove_if(kind, lease.id, version)
            object.__setattr__(lease, "_db_version", None)

    def get_quotas(self, project_id: str | None = None) -> list[Quota]:
        """Quota rows (all, or one project's)."""
        return self._get(KINDS["quota"], project_id=project_id)

    def set_quota(self, quota: Quota) -> None:
        self._set(quota)

    def delete_quota(self, quota: Quota | str) -> None:
        self._remove(KINDS["quota"], quota if isinstance(quota, str) else quota.id)

    def get_subscriptions(self, subscription_id: str | None = None) -> list[Any]:
        """Event subscriptions (all, or one)."""
        return self._get(KINDS["subscription"], id=subscription_id)

    def set_subscription(self, subscription: Any) -> None:
        self._set(subscription)

    def delete_subscription(self, subscription: Any) -> None:
        """Delete a subscription (an object or an id); missing: a no-op."""
        self._remove(KINDS["subscription"], subscription if isinstance(subscription, str)
                     else subscription.id)

    # -- change tracking -------------------------------------------------------------

    def get_changed_fields(self, resource: VersionedObject) -> dict[str, Any]:
        return resource.obj_get_changes()

    def get_fields(self, resource: VersionedObject) -> dict[str, Any]:
        return resource.obj_values()

    def reset_change_tracker(self, resource: VersionedObject,
                             fields: Iterable[str] | None = None) -> None:
        resource.obj_reset_changes(fields)

    # -- listing and counts ----------------------------------------------------------------

    def _listing_args(self, kind: Kind, filters: Mapping[str, Any] | None,
                      project_id: str | None, backend_name: str | None
                      ) -> tuple[dict[str, Any], dict[str, str], tuple[tuple[str, str], ...]]:
        """Check a listing's ``filters``; return ``(equality filters, metadata items,
        name matches)``, with ``project_id``/``backend_name`` added to the first.

        Raises:
            InvalidArgument: an unknown filter, a metadata filter that is no mapping,
                a name filter that is no string.
        """
        allowed = LIST_FILTERS if kind.name == "volume" else SNAPSHOT_LIST_FILTERS
        if filters is not None and not isinstance(filters, Mapping):
            raise exc.InvalidArgument(reason=f"filters must be a mapping: {filters!r:.80}")
        filters = dict(filters or {})
        metadata = filters.pop("metadata", None) or {}
        if not isinstance(metadata, Mapping):
            raise exc.InvalidArgument(reason=f"metadata filter must be a mapping: {metadata!r}")
        names: list[tuple[str, str]] = []
        for key, op in NAME_FILTERS.items():
            if key in filters:
                text = filters.pop(key)
                if not isinstance(text, str):
                    raise exc.InvalidArgument(
                        reason=f"name filter {key!r} must be a string, not {text!r:.60}")
                names.append((op, text))
        unknown = set(filters) - allowed
        if unknown:
            raise exc.InvalidArgument(
                reason=f"unknown filter(s) {', '.join(sorted(unknown))}; known: metadata, "
                       f"{', '.join(sorted(NAME_FILTERS))}, {', '.join(sorted(allowed))}")
        if project_id is not None:
            filters["project_id"] = project_id
        if backend_name is not None:
            filters["backend_name"] = backend_name
        return filters, dict(metadata), tuple(names)

    def _list(self, kind: Kind, marker: str | None, limit: int | None,
              filters: Mapping[str, Any] | None, project_id: str | None,
              backend_name: str | None) -> tuple[list[Any], str | None]:
        where, metadata, names = self._listing_args(kind, filters, project_id,
                                                    backend_name)
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)
                                  or limit < 1):
            raise exc.InvalidArgument(reason=f"limit must be a positive integer: {limit!r}")
        if marker is not None and not self._fetch(kind, {"id": marker}):
            raise exc.InvalidArgument(reason=f"marker {marker!r} is no {kind.name}")
        extra = {"name_match": names} if names else {}
        rows = self._page(kind, marker=marker,
                          limit=None if limit is None else limit + 1,
                          filters=where, metadata=metadata, **extra)
        more = limit is not None and len(rows) > limit
        items = [self._build(kind, r) for r in rows[:limit]]
        return items, (items[-1].id if more and items else None)

    def _aggregate(self, kind: Kind, group_by: str, filters: Mapping[str, Any] | None,
                   project_id: str | None, backend_name: str | None,
                   sum_of: str | None = None) -> dict[Any, int]:
        where, metadata, names = self._listing_args(kind, filters, project_id,
                                                    backend_name)
        return self._count(kind, group_by, filters=where, metadata=metadata,
                           name_match=names, sum_of=sum_of)

    def list_volumes(self, marker: str | None = None, limit: int | None = None,
                     filters: Mapping[str, Any] | None = None,
                     project_id: str | None = None, backend_name: str | None = None
                     ) -> tuple[list[Volume], str | None]:
        """One page of volumes ordered by ``(created_at, id)``, and the next marker.

        Args:
            marker: id of the last volume of the previous page.
            limit: page size (``None``: everything).
            filters: equality on ``status``, ``name``, ``size``... (:data:`LIST_FILTERS`);
                ``metadata``: a mapping every returned volume's metadata contains;
                ``"name~"``: the name contains this text; ``"name^"``: the name starts
                with it. Name filters are literal (``%``, ``_``, ``\\`` are ordinary
                characters) and case-sensitive on every store; an unnamed volume
                never matches them.
            project_id, backend_name: restrict to one project or backend.

        Returns:
            ``(volumes, next_marker)``; ``next_marker`` is ``None`` on the last page.

        Raises:
            InvalidArgument: an unknown filter, a bad limit, or a marker that is no volume.
        """
        return self._list(KINDS["volume"], marker, limit, filters, project_id,
                          backend_name)

    def list_snapshots(self, marker: str | None = None, limit: int | None = None,
                       filters: Mapping[str, Any] | None = None,
                       project_id: str | None = None, backend_name: str | None = None
                       ) -> tuple[list[Snapshot], str | None]:
        """One page of snapshots, like :meth:`list_volumes` (filters:
        :data:`SNAPSHOT_LIST_FILTERS`, ``metadata``, ``"name~"``, ``"name^"``)."""
        return self._list(KINDS["snapshot"], marker, limit, filters, project_id,
                          backend_name)

    def count_volumes(self, filters: Mapping[str, Any] | None = None,
                      project_id: str | None = None,
                      backend_name: str | None = None) -> int:
        """How many volumes :meth:`list_volumes` returns in all with these arguments."""
        return sum(self._aggregate(KINDS["volume"], "project_id", filters, project_id,
                                   backend_name).values())

    def count_snapshots(self, filters: Mapping[str, Any] | None = None,
                        project_id: str | None = None,
                        backend_name: str | None = None) -> int:
        """How many snapshots :meth:`list_snapshots` returns in all."""
        return sum(self._aggregate(KINDS["snapshot"], "project_id", filters, project_id,
                                   backend_name).values())

    def usage_by_project(self, filters: Mapping[str, Any] | None = None,
                         project_id: str | None = None, backend_name: str | None = None
                         ) -> dict[str | None, dict[str, int]]:
        """Per project: ``volumes`` and ``gigabytes`` of the volumes matching the
        arguments (as :meth:`list_volumes`), and ``snapshots`` and
        ``snapshot_gigabytes`` of those volumes' snapshots (grouped by the snapshot's
        ``project_id``). Projects with nothing matching are absent."""
        vkind, skind = KINDS["volume"], KINDS["snapshot"]
        counts = self._aggregate(vkind, "project_id", filters, project_id, backend_name)
        sizes = self._aggregate(vkind, "project_id", filters, project_id, backend_name,
                                sum_of="size")
        if filters:
            # Snapshots of the matching volumes: collect their ids, then the snapshots.
            where, metadata, names = self._listing_args(vkind, filters, project_id,
                                                        backend_name)
            extra = {"name_match": names} if names else {}
            chosen = {values["id"] for _, values in self._page(
                vkind, marker=None, limit=None, filters=where, metadata=metadata, **extra)}
            snap_counts: dict[Any, int] = {}
            snap_sizes: dict[Any, int] = {}
            for _, values in self._fetch(skind, {}):
                if values.get("volume_id") in chosen:
                    key = values.get("project_id")
                    snap_counts[key] = snap_counts.get(key, 0) + 1
                    snap_sizes[key] = snap_sizes.get(key, 0) + (values.get("volume_size")
                                                                or 0)
        else:
            snap_counts = self._aggregate(skind, "project_id", None, project_id,
                                          backend_name)
            snap_sizes = self._aggregate(skind, "project_id", None, project_id,
                                         backend_name, sum_of="volume_size")
        usage: dict[str | None, dict[str, int]] = {}
        for key in set(counts) | set(snap_counts):
            usage[key] = {"volumes": int(counts.get(key, 0)),
                          "gigabytes": int(sizes.get(key, 0) or 0),
                          "snapshots": int(snap_counts.get(key, 0)),
                          "snapshot_gigabytes": int(snap_sizes.get(key, 0) or 0)}
        return usage

    def count_volumes_by_project(self) -> dict[str | None, int]:
        """Live volumes per ``project_id``."""
        return self._count(KINDS["volume"], "project_id")

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


class DB:
    """The read-only facade drivers get as ``self.db`` (Cinder's ``db`` API names)."""

    def __init__(self, persistence: PersistenceDriverBase) -> None:
        self.persistence = persistence

    def volume_get(self, context: Any, volume_id: str, *args: Any, **kwargs: Any) -> Volume:
        found = self.persistence.get_volumes(volume_id=volume_id)
        if not found:
            raise exc.VolumeNotFound(volume_id=volume_id)
        return found[0]

    def snapshot_get(self, context: Any, snapshot_id: str, *args: Any,
                     **kwargs: Any) -> Snapshot:
        found = self.persistence.get_snapshots(snapshot_id=snapshot_id)
        if not found:
            raise exc.SnapshotNotFound(snapshot_id=snapshot_id)
        return found[0]

    def get_volume_type(self, context: Any, id: str, inactive: bool = False,
                        expected_fields: Any = None) -> dict[str, Any]:
        found = self.persistence.get_volume_types(volume_type_id=id)
        if not found:
            raise exc.NotFound(resource=f"volume type {id}")
        vt = found[0]
        return {"id": vt.id, "name": vt.name, "description": vt.description,
                "extra_specs": dict(vt.extra_specs), "qos_specs": dict(vt.qos_specs),
                "is_public": vt.is_public}

    def qos_specs_get(self, context: Any, qos_specs_id: str,
                      inactive: bool = False) -> dict[str, Any]:
        found = self.persistence.get_volume_types(volume_type_id=qos_specs_id)
        if not found:
            raise exc.NotFound(resource=f"qos specs {qos_specs_id}")
        return {"id": qos_specs_id, "specs": dict(found[0].qos_specs)}

    def image_volume_cache_get_by_volume_id(self, context: Any,
                                            volume_id: str) -> dict[str, Any] | None:
        """The image-volume cache entry whose cached image-volume is ``volume_id``
        (``id, host, image_id, image_updated_at, volume_id, size, last_used``... as
        Cinder's), or ``None`` for any other volume. See
        :mod:`volumelib.image_cache.volume_cache` (tier 2)."""
        return volume_cache.entry_for_volume(self.persistence, volume_id)
