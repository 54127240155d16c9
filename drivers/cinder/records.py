"""Cinder's objects for a driver call, built from volumelib's typed values.

A Cinder driver takes ``cinder.objects.Volume``/``Snapshot``/``Group``/
``GroupSnapshot`` objects (with their ``volume_type`` and a ``RequestContext``).
:class:`Records` builds them in memory from :class:`~volumelib.drivers.types.VolumeInfo`
and :class:`~volumelib.drivers.types.SnapshotInfo` (and the group mappings of the CG
interface), and mirrors each into the private database of
:mod:`~volumelib.drivers.cinder.runtime` before the call, so that a driver reading
through Cinder's objects (``Volume.get_by_id``, ``volume.save()``,
``objects.Snapshot(...).create()``) finds what volumelib knows. After the call,
:meth:`Records.changes` reads back what the driver changed on an object
(``provider_location``, ``provider_id``, ``provider_auth``), which becomes part of the
model update volumelib stores.

volumelib's store stays the source of truth: a row is rewritten from volumelib's
values before every call. Only what volumelib has no field for lives on in the
private database between calls: a volume's *admin metadata* (the NFS driver keeps the
file format there) and rows a driver creates itself (temporary snapshots). That
database belongs to the process, so another process starts without them (the NFS
driver then probes the file format).

Volume types: volumelib hands a volume's type as its extra specs; the Cinder type is
given a stable id derived from those specs (:func:`type_id`), so two volumes with the
same specs share it. A volume without specs has Cinder's ``__DEFAULT__`` type.
"""

from __future__ import annotations

import datetime
import json
import logging
import socket
import threading
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.sqlite import insert

from volumelib.drivers.cinder import runtime
from volumelib.drivers.types import SnapshotInfo, VolumeInfo

__all__ = ["Records", "type_id", "PROVIDER_FIELDS"]

LOG = logging.getLogger(__name__)

#: Fields a driver may set on a volume or snapshot that volumelib keeps.
PROVIDER_FIELDS = ("provider_location", "provider_id", "provider_auth")

_NAMESPACE = uuid.UUID("0b9c6e64-58f5-4f0f-9a55-7f0c3c1b5a17")
_default_type_id: str | None = None
_type_lock = threading.Lock()


def type_id(specs: Mapping[str, str], kind: str = "volume") -> str:
    """A stable id for the Cinder (group) type with these extra specs."""
    blob = json.dumps({"kind": kind, "specs": dict(sorted(specs.items()))}, sort_keys=True)
    return str(uuid.uuid5(_NAMESPACE, blob))


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)  # noqa: UP017


class Records:
    """Cinder objects and their private-database rows for one backend.

    Args:
        backend_name: the volumelib backend (the ``host`` is ``<hostname>@<backend>``).
        pool: the pool name put in a volume's ``host`` (``...#pool``).
    """

    def __init__(self, backend_name: str, pool: str | None = None) -> None:
        runtime.ensure()
        # Cinder's database models and objects (Cinder is imported by runtime.ensure).
        from cinder import objects
        from cinder.db import models
        self.backend_name = backend_name
        self.pool = pool or backend_name
        self._models = models
        self._objects = objects
        self._types_written: set[str] = set()

    @property
    def host(self) -> str:
        return f"{socket.gethostname()}@{self.backend_name}#{self.pool}"

    # -- rows --------------------------------------------------------------------------

    def _upsert(self, conn: Any, table: Any, values: dict[str, Any]) -> None:
        stmt = insert(table).values(**values)
        update = {k: v for k, v in values.items() if k not in ("id", "created_at")}
        conn.execute(stmt.on_conflict_do_update(index_elements=["id"], set_=update))

    def _default_type(self, conn: Any) -> str:
        global _default_type_id
        if _default_type_id is None:
            table = self._models.VolumeType.__table__
            row = conn.execute(select(table.c.id).where(table.c.name == "__DEFAULT__")
                               ).first()
            _default_type_id = row[0] if row else str(uuid.uuid4())
        return _default_type_id

    def _write_type(self, conn: Any, specs: Mapping[str, str]) -> str:
        if not specs:
            return self._default_type(conn)
        tid = type_id(specs)
        if tid in self._types_written:
            return tid
        with _type_lock:
            vt = self._models.VolumeType.__table__
            self._upsert(conn, vt, {"id": tid, "name": f"volumelib-{tid[:8]}",
                                    "description": "volumelib extra specs",
                                    "is_public": True, "deleted": False,
                                    "created_at": _now()})
            es = self._models.VolumeTypeExtraSpecs.__table__
            conn.execute(delete(es).where(es.c.volume_type_id == tid))
            for key, value in specs.items():
                conn.execute(es.insert().values(volume_type_id=tid, key=key,
                                                value=str(value), deleted=False,
                                                created_at=_now()))
            self._types_written.add(tid)
        return tid

    def _write_volume(self, conn: Any, info: VolumeInfo, status: str,
                      extra: Mapping[str, Any]) -> str:
        tid = self._write_type(conn, info.volume_type)
        values = {"id": info.id, "size": info.size, "status": status,
                  "display_name": info.name, "host": self.host,
                  "provider_location": info.provider_location,
                  "provider_id": info.provider_id, "provider_auth": info.provider_auth,
                  "volume_type_id": tid, "multiattach": bool(info.multiattach),
                  "group_id": info.group_id, "attach_status": "detached",
                  "availability_zone": "nova", "deleted": False, "use_quota": True,
                  "created_at": _now(), "updated_at": _now()}
        values.update(extra)
        self._upsert(conn, self._models.Volume.__table__, values)
        return tid

    def _admin_metadata(self, conn: Any, volume_id: str) -> dict[str, str]:
        table = self._models.VolumeAdminMetadata.__table__
        rows = conn.execute(select(table.c.key, table.c.value).where(
            table.c.volume_id == volume_id, table.c.deleted == False)  # noqa: E712
        ).all()
        return {k: v for k, v in rows}

    # -- objects ------------------------------------------------------------------------

    def volume(self, info: VolumeInfo, status: str = "available", *,
               context: Any = None, **extra: Any) -> Any:
        """The ``cinder.objects.Volume`` of ``info``, its row written first.

        Args:
            extra: more column values (``source_volid``, ``snapshot_id``...).
        """
        objects = self._objects
        ctx = context or runtime.admin_context()
        with runtime.engine().begin() as conn:
            tid = self._write_volume(conn, info, status, extra)
            admin = self._admin_metadata(conn, info.id)
        fields = dict(snapshot_id=None, source_volid=None)
        fields.update({k: v for k, v in extra.items() if k in objects.Volume.fields})
        vol = objects.Volume(
            context=ctx, id=info.id, _name_id=None, size=info.size, status=status,
            display_name=info.name, display_description=None, host=self.host,
            cluster_name=None, availability_zone="nova", attach_status="detached",
            provider_location=info.provider_location, provider_id=info.provider_id,
            provider_auth=info.provider_auth, volume_type_id=tid,
            multiattach=bool(info.multiattach), group_id=info.group_id,
            consistencygroup_id=None, encryption_key_id=None, bootable=False,
            user_id=ctx.user_id, project_id=ctx.project_id, migration_status=None, replication_status=None,
            previous_status=None, deleted=False, use_quota=True,
            metadata=dict(info.metadata), admin_metadata=admin, glance_metadata={},
            **fields)
        vol.volume_type = self._volume_type(ctx, tid, info.volume_type)
        vol.obj_reset_changes()
        return vol

    def _volume_type(self, ctx: Any, tid: str, specs: Mapping[str, str]) -> Any:
        objects = self._objects
        vt = objects.VolumeType(context=ctx, id=tid,
                                name=f"volumelib-{tid[:8]}" if specs else "__DEFAULT__",
                                description=None, is_public=True,
                                extra_specs=dict(specs), qos_specs_id=None)
        vt.obj_reset_changes()
        return vt

    def snapshot(self, info: SnapshotInfo, status: str = "available", *,
                 volume: Any = None, context: Any = None) -> Any:
        """The ``cinder.objects.Snapshot`` of ``info`` (with its volume), rows written."""
        objects = self._objects
        ctx = context or runtime.admin_context()
        vol = volume if volume is not None else self.volume(info.volume, context=ctx)
        values = {"id": info.id, "volume_id": info.volume_id,
                  "volume_size": info.volume_size, "status": status,
                  "progress": "100%" if status == "available" else "0%",
                  "display_name": info.name, "provider_location": info.provider_location,
                  "provider_id": info.provider_id, "volume_type_id": vol.volume_type_id,
                  "group_snapshot_id": None, "deleted": False, "use_quota": True,
                  "user_id": ctx.user_id, "project_id": ctx.project_id,
                  "created_at": _now(), "updated_at": _now()}
        with runtime.engine().begin() as conn:
            self._upsert(conn, self._models.Snapshot.__table__, values)
        snap = objects.Snapshot(
            context=ctx, id=info.id, volume_id=info.volume_id,
            volume_size=info.volume_size, status=status, progress=values["progress"],
            display_name=info.name, display_description=None,
            provider_location=info.provider_location, provider_id=info.provider_id,
            provider_auth=None, volume_type_id=vol.volume_type_id, cgsnapshot_id=None,
            group_snapshot_id=info.group_snapshot_id, encryption_key_id=None,
            user_id=ctx.user_id, project_id=ctx.project_id, deleted=False,
            use_quota=True, metadata={})
        snap.volume = vol
        snap.obj_reset_changes()
        return snap

    def group(self, group: Mapping[str, Any], volumes: Sequence[Any] = (), *,
              context: Any = None) -> Any:
        """A ``cinder.objects.Group`` for a group mapping of the CG interface (``id``,
        ``name``, ``status``, ``group_type``), holding the Cinder ``volumes`` given."""
        objects = self._objects
        ctx = context or runtime.admin_context()
        specs = dict(group.get("group_type") or {})
        gtid = type_id(specs, kind="group")
        with runtime.engine().begin() as conn:
            gt = self._models.GroupType.__table__
            self._upsert(conn, gt, {"id": gtid, "name": f"volumelib-group-{gtid[:8]}",
                                    "is_public": True, "deleted": False,
                                    "created_at": _now()})
            gs = self._models.GroupTypeSpecs.__table__
            conn.execute(delete(gs).where(gs.c.group_type_id == gtid))
            for key, value in specs.items():
                conn.execute(gs.insert().values(group_type_id=gtid, key=key,
                                                value=str(value), deleted=False,
                                                created_at=_now()))
            self._upsert(conn, self._models.Group.__table__, {
                "id": group["id"], "name": group.get("name"), "status": group.get("status"),
                "group_type_id": gtid, "host": self.host, "deleted": False,
                "user_id": ctx.user_id, "project_id": ctx.project_id,
                "availability_zone": "nova", "created_at": _now()})
        type_ids = sorted({v.volume_type_id for v in volumes})
        grp = objects.Group(context=ctx, id=group["id"], name=group.get("name"),
                            description=None, status=group.get("status") or "available",
                            group_type_id=gtid, volume_type_ids=type_ids,
                            host=self.host, cluster_name=None, availability_zone="nova",
                            user_id=ctx.user_id, project_id=ctx.project_id,
                            group_snapshot_id=None, source_group_id=None,
                            replication_status=None)
        grp.volumes = objects.VolumeList(context=ctx, objects=list(volumes))
        grp.obj_reset_changes()
        return grp

    def group_snapshot(self, cgsnapshot: Mapping[str, Any], group: Any,
                       snapshots: Sequence[Any] = (), *, context: Any = None) -> Any:
        """A ``cinder.objects.GroupSnapshot`` for a cgsnapshot mapping."""
        objects = self._objects
        ctx = context or runtime.admin_context()
        with runtime.engine().begin() as conn:
            self._upsert(conn, self._models.GroupSnapshot.__table__, {
                "id": cgsnapshot["id"], "name": cgsnapshot.get("name"),
                "status": cgsnapshot.get("status"), "group_id": group.id,
                "group_type_id": group.group_type_id, "deleted": False,
                "user_id": ctx.user_id, "project_id": ctx.project_id,
                "created_at": _now()})
        gs = objects.GroupSnapshot(context=ctx, id=cgsnapshot["id"],
                                   name=cgsnapshot.get("name"), description=None,
                                   status=cgsnapshot.get("status") or "available",
                                   group_id=group.id, group_type_id=group.group_type_id,
                                   user_id=ctx.user_id, project_id=ctx.project_id)
        gs.group = group
        gs.snapshots = objects.SnapshotList(context=ctx, objects=list(snapshots))
        gs.obj_reset_changes()
        return gs

    # -- after the call ------------------------------------------------------------------

    @staticmethod
    def changes(obj: Any, returned: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """The model update volumelib keeps: the driver's returned dict's provider
        fields, else what it set on ``obj`` itself (``volume.provider_location =``)."""
        update: dict[str, Any] = {}
        changed = obj.obj_what_changed()
        for name in PROVIDER_FIELDS:
            if returned and name in returned:
                update[name] = returned[name]
                if name in obj.fields:  # as Cinder's manager does: volume.update(...)
                    setattr(obj, name, returned[name])
            elif name in changed:
                update[name] = getattr(obj, name)
        return update or None

    def forget_volume(self, volume_id: str) -> None:
        """Drop a deleted volume's rows (its admin metadata too)."""
        with runtime.engine().begin() as conn:
            am = self._models.VolumeAdminMetadata.__table__
            conn.execute(delete(am).where(am.c.volume_id == volume_id))
            for table in (self._models.Snapshot.__table__,):
                conn.execute(delete(table).where(table.c.volume_id == volume_id))
            vt = self._models.Volume.__table__
            conn.execute(delete(vt).where(vt.c.id == volume_id))

    def forget_snapshot(self, snapshot_id: str) -> None:
        with runtime.engine().begin() as conn:
            st = self._models.Snapshot.__table__
            conn.execute(delete(st).where(st.c.id == snapshot_id))
