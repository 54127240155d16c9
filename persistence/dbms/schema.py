"""The SQL schema of the ``dbms`` store, as SQLAlchemy Core tables.

One table per stored kind, one column per object field, plus ``version`` (the
compare-and-set counter). This module describes the schema the code expects; the
database gets it from the alembic revisions in ``migrations/versions`` (never from
``metadata.create_all``), and a test checks that the two agree and that every object
field has a column.

Portable types, chosen so that every database returns what the objects hold:

* :class:`UTCDateTime`: timezone-aware UTC datetimes in, the same out, with
  microseconds (stored as naive UTC; ``DATETIME(6)`` on MySQL/MariaDB).
* ``JSON`` (``none_as_null``) for dict fields: SQL ``NULL`` for ``None``.
* Strings sized for MySQL's index limits (ids 36, names 255, utf8mb4). On
  MySQL/MariaDB the tables use the ``utf8mb4_bin`` collation so that ``name = 'Data'``
  does not match ``'data'`` as the default case-insensitive collation would.

Every column except the key, ``version`` and ``deleted`` is nullable: objects may
hold ``None`` in any field the memory store accepts, and the library (not the
database) enforces the relations between volumes, snapshots and connections.
"""

from __future__ import annotations

import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.types import TypeDecorator

__all__ = ["metadata", "TABLES", "EVENTS", "EVENT_SEQUENCE", "UTCDateTime", "json_type",
           "MYSQL_TABLE_ARGS", "ID", "NAME", "STATUS"]

_UTC = datetime.timezone.utc

#: Table options for MySQL/MariaDB (ignored elsewhere).
MYSQL_TABLE_ARGS: dict[str, str] = {"mysql_charset": "utf8mb4",
                                    "mysql_collate": "utf8mb4_bin",
                                    "mysql_engine": "InnoDB"}

ID = 36
NAME = 255
STATUS = 36


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes with microseconds on every database.

    Bound values must be timezone-aware (any zone: they are converted to UTC);
    a naive one is taken as UTC. Results are aware, in UTC.
    """

    impl = sa.DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(sa.DateTime())

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        if value is None or value.tzinfo is None:
            return value
        return value.astimezone(_UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=_UTC)
        return value.astimezone(_UTC)

    @staticmethod
    def sqlite_text(value: Any) -> Any:
        """What the SQLite column stores for ``value``: :meth:`process_bind_param`
        and SQLAlchemy's SQLite ``DATETIME`` format in one step (naive UTC,
        ``YYYY-MM-DD HH:MM:SS.ffffff``), for the store's fast path. Values that are
        not datetimes are left to SQLAlchemy (``NotImplemented``)."""
        if value is None:
            return None
        if type(value) is not datetime.datetime:
            return NotImplemented
        if value.tzinfo is not None and value.tzinfo is not _UTC:
            value = value.astimezone(_UTC)
        return "%04d-%02d-%02d %02d:%02d:%02d.%06d" % (
            value.year, value.month, value.day, value.hour, value.minute, value.second,
            value.microsecond)


def json_type() -> sa.JSON:
    """A JSON column holding a dict (``None`` is SQL NULL, not ``'null'``)."""
    return sa.JSON(none_as_null=True)


metadata = sa.MetaData()


def _common_tail() -> list[sa.Column]:
    return [
        sa.Column("created_at", UTCDateTime()),
        sa.Column("updated_at", UTCDateTime()),
        sa.Column("deleted", sa.Boolean(), nullable=False, default=False,
                  server_default=sa.false()),
        sa.Column("deleted_at", UTCDateTime()),
        sa.Column("version", sa.Integer(), nullable=False),
    ]


volumes = sa.Table(
    "volumes", metadata,
    sa.Column("id", sa.String(ID), primary_key=True),
    sa.Column("name", sa.String(NAME)),
    sa.Column("description", sa.Text()),
    sa.Column("size", sa.Integer()),
    sa.Column("status", sa.String(STATUS)),
    sa.Column("previous_status", sa.String(STATUS)),
    sa.Column("project_id", sa.String(NAME)),
    sa.Column("user_id", sa.String(NAME)),
    sa.Column("backend_name", sa.String(NAME)),
    sa.Column("volume_type_id", sa.String(ID)),
    sa.Column("volume_type", json_type()),
    sa.Column("metadata", json_type()),
    sa.Column("snapshot_id", sa.String(ID)),
    sa.Column("source_volid", sa.String(ID)),
    sa.Column("group_id", sa.String(ID)),
    sa.Column("multiattach", sa.Boolean()),
    sa.Column("provider_location", sa.Text()),
    sa.Column("provider_id", sa.String(NAME)),
    sa.Column("provider_auth", sa.Text()),
    *_common_tail(),
    sa.Index("ix_volumes_backend_name", "backend_name"),
    sa.Index("ix_volumes_name", "name"),
    sa.Index("ix_volumes_project_id", "project_id"),
    sa.Index("ix_volumes_created_at_id", "created_at", "id"),
    sa.Index("ix_volumes_group_id", "group_id"),
    **MYSQL_TABLE_ARGS,
)

snapshots = sa.Table(
    "snapshots", metadata,
    sa.Column("id", sa.String(ID), primary_key=True),
    sa.Column("name", sa.String(NAME)),
    sa.Column("description", sa.Text()),
    sa.Column("volume_id", sa.String(ID)),
    sa.Column("volume_size", sa.Integer()),
    sa.Column("status", sa.String(STATUS)),
    sa.Column("project_id", sa.String(NAME)),
    sa.Column("user_id", sa.String(NAME)),
    sa.Column("backend_name", sa.String(NAME)),
    sa.Column("group_snapshot_id", sa.String(ID)),
    sa.Column("metadata", json_type()),
    sa.Column("provider_location", sa.Text()),
    sa.Column("provider_id", sa.String(NAME)),
    *_common_tail(),
    sa.Index("ix_snapshots_volume_id", "volume_id"),
    sa.Index("ix_snapshots_name", "name"),
    sa.Index("ix_snapshots_group_snapshot_id", "group_snapshot_id"),
    **MYSQL_TABLE_ARGS,
)

connections = sa.Table(
    "connections", metadata,
    sa.Column("id", sa.String(ID), primary_key=True),
    sa.Column("volume_id", sa.String(ID)),
    sa.Column("backend_name", sa.String(NAME)),
    sa.Column("status", sa.String(STATUS)),
    sa.Column("connector", json_type()),
    sa.Column("connection_info", json_type()),
    sa.Column("attach_mode", sa.String(STATUS)),
    sa.Column("device", json_type()),
    sa.Column("attached_host", sa.String(NAME)),
    sa.Column("project_id", sa.String(NAME)),
    sa.Column("user_id", sa.String(NAME)),
    *_common_tail(),
    sa.Index("ix_connections_volume_id", "volume_id"),
    **MYSQL_TABLE_ARGS,
)

groups = sa.Table(
    "groups", metadata,
    sa.Column("id", sa.String(ID), primary_key=True),
    sa.Column("name", sa.String(NAME)),
    sa.Column("description", sa.Text()),
    sa.Column("status", sa.String(STATUS)),
    sa.Column("group_type", json_type()),
    sa.Column("project_id", sa.String(NAME)),
    sa.Column("user_id", sa.String(NAME)),
    sa.Column("backend_name", sa.String(NAME)),
    sa.Column("source_group_id", sa.String(ID)),
    sa.Column("group_snapshot_id", sa.String(ID)),
    *_common_tail(),
    sa.Index("ix_groups_backend_name", "backend_name"),
    sa.Index("ix_groups_name", "name"),
    **MYSQL_TABLE_ARGS,
)

group_snapshots = sa.Table(
    "group_snapshots", metadata,
    sa.Column("id", sa.String(ID), primary_key=True),
    sa.Column("name", sa.String(NAME)),
    sa.Column("description", sa.Text()),
    sa.Column("status", sa.String(STATUS)),
    sa.Column("group_id", sa.String(ID)),
    sa.Column("group_type", json_type()),
    sa.Column("project_id", sa.String(NAME)),
    sa.Column("user_id", sa.String(NAME)),
    sa.Column("backend_name", sa.String(NAME)),
    sa.Column("consistent", sa.Boolean()),
    *_common_tail(),
    sa.Index("ix_group_snapshots_group_id", "group_id"),
    sa.Index("ix_group_snapshots_name", "name"),
    **MYSQL_TABLE_ARGS,
)

key_values = sa.Table(
    "key_values", metadata,
    sa.Column("key", sa.String(NAME), primary_key=True),
    sa.Column("value", sa.Text()),
    sa.Column("version", sa.Integer(), nullable=False),
    **MYSQL_TABLE_ARGS,
)

volume_types = sa.Table(
    "volume_types", metadata,
    sa.Column("id", sa.String(ID), primary_key=True),
    sa.Column("name", sa.String(NAME)),
    sa.Column("description", sa.Text()),
    sa.Column("extra_specs", json_type()),
    sa.Column("qos_specs", json_type()),
    sa.Column("is_public", sa.Boolean()),
    *_common_tail(),
    sa.Index("ix_volume_types_name", "name", unique=True),
    **MYSQL_TABLE_ARGS,
)

# -- the control plane (revision 0003): no soft deletion, no ``deleted`` columns ------


def _control_tail() -> list[sa.Column]:
    return [
        sa.Column("created_at", UTCDateTime()),
        sa.Column("updated_at", UTCDateTime()),
        sa.Column("version", sa.Integer(), nullable=False),
    ]


pools = sa.Table(
    "pools", metadata,
    sa.Column("name", sa.String(NAME), primary_key=True),
    sa.Column("volume_driver", sa.String(NAME)),
    sa.Column("driver_config", json_type()),
    sa.Column("weight", sa.Double()),
    sa.Column("capabilities", json_type()),
    sa.Column("description", sa.Text()),
    sa.Column("enabled", sa.Boolean()),
    *_control_tail(),
    **MYSQL_TABLE_ARGS,
)

leases = sa.Table(
    "leases", metadata,
    sa.Column("id", sa.String(NAME), primary_key=True),
    sa.Column("resource_kind", sa.String(STATUS)),
    sa.Column("holder", sa.String(NAME)),
    sa.Column("operation", sa.String(NAME)),
    sa.Column("ttl", sa.Double()),
    sa.Column("grace", sa.Double()),
    sa.Column("expires_at", UTCDateTime()),
    sa.Column("expired_count", sa.Integer()),
    *_control_tail(),
    # read by key only, few small rows: no secondary index, and on SQLite one B-tree
    # ordered by the key (see migration 0005)
    sqlite_with_rowid=False,
    **MYSQL_TABLE_ARGS,
)

quotas = sa.Table(
    "quotas", metadata,
    sa.Column("id", sa.String(NAME), primary_key=True),
    sa.Column("project_id", sa.String(NAME)),
    sa.Column("resource", sa.String(STATUS)),
    sa.Column("limit", sa.Integer()),
    sa.Column("in_use", sa.Integer()),
    *_control_tail(),
    sa.Index("ix_quotas_project_id", "project_id"),
    **MYSQL_TABLE_ARGS,
)

subscriptions = sa.Table(
    "subscriptions", metadata,
    sa.Column("id", sa.String(ID), primary_key=True),
    sa.Column("subscriber", sa.Text()),
    sa.Column("kinds", json_type()),
    sa.Column("options", json_type()),
    sa.Column("project_id", sa.String(NAME)),
    sa.Column("ttl", sa.Double()),
    sa.Column("expires_at", UTCDateTime()),
    sa.Column("secret", sa.Text()),
    sa.Column("confirmation_token", sa.Text()),
    sa.Column("confirmed", sa.Boolean()),
    sa.Column("confirmation_sent_at", UTCDateTime()),
    sa.Column("position", sa.BigInteger()),
    sa.Column("delivered", sa.BigInteger()),
    sa.Column("dead_letters", sa.BigInteger()),
    sa.Column("last_error", sa.Text()),
    *_control_tail(),
    **MYSQL_TABLE_ARGS,
)

# -- the event log (revision 0004): not a kind of object, rows the store writes itself --

#: One row per event; ``id`` increases in commit order. SQLite numbers the rows
#: itself (the rowid: the newest event is never trimmed, so no id is reused);
#: servers take ids from :data:`EVENT_SEQUENCE`. No index besides the key: every
#: index is one more page written by every commit that logs an event, and readers
#: scan from a marker (``id > since``) anyway.
EVENTS = sa.Table(
    "events", metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("time", UTCDateTime(), nullable=False),
    sa.Column("kind", sa.String(STATUS), nullable=False),
    sa.Column("resource_id", sa.String(NAME), nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("old_status", sa.String(STATUS)),
    sa.Column("new_status", sa.String(STATUS)),
    sa.Column("project_id", sa.String(NAME)),
    sa.Column("payload", json_type()),
    **MYSQL_TABLE_ARGS,
)

#: The last event id given out, per log (one row, ``name="events"``): a transaction
#: writing events on PostgreSQL or MariaDB takes its ids by updating this row, whose
#: lock it then holds until it commits, so ids follow commit order.
EVENT_SEQUENCE = sa.Table(
    "event_sequence", metadata,
    sa.Column("name", sa.String(STATUS), primary_key=True),
    sa.Column("value", sa.BigInteger(), nullable=False),
    **MYSQL_TABLE_ARGS,
)

#: Kind name (``persistence.base.KINDS``) -> table.
TABLES: dict[str, sa.Table] = {
    "volume": volumes,
    "snapshot": snapshots,
    "connection": connections,
    "group": groups,
    "group_snapshot": group_snapshots,
    "key_value": key_values,
    "volume_type": volume_types,
    "pool": pools,
    "lease": leases,
    "quota": quotas,
    "subscription": subscriptions,
}
