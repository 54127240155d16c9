"""The initial schema: volumes, snapshots, connections, groups, group snapshots,
key-values and volume types.

Revision ID: 0001
Revises: (none)

Self-contained on purpose: a revision must keep creating the same tables after
``schema.py`` has moved on, so it uses plain SQLAlchemy types (the runtime
``UTCDateTime`` is a ``DateTime``, ``DATETIME(6)`` on MySQL/MariaDB).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_MYSQL = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin",
          "mysql_engine": "InnoDB"}


def _dt() -> sa.types.TypeEngine:
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def _json() -> sa.JSON:
    return sa.JSON(none_as_null=True)


def _id(name: str = "id", primary: bool = False) -> sa.Column:
    return sa.Column(name, sa.String(36), primary_key=primary, nullable=not primary)


def _str(name: str, length: int = 255) -> sa.Column:
    return sa.Column(name, sa.String(length), nullable=True)


def _text(name: str) -> sa.Column:
    return sa.Column(name, sa.Text(), nullable=True)


def _tail() -> list[sa.Column]:
    return [
        sa.Column("created_at", _dt(), nullable=True),
        sa.Column("updated_at", _dt(), nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("deleted_at", _dt(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "volumes",
        _id(primary=True), _str("name"), _text("description"),
        sa.Column("size", sa.Integer(), nullable=True),
        _str("status", 36), _str("previous_status", 36), _str("project_id"),
        _str("user_id"), _str("backend_name"), _id("volume_type_id"),
        sa.Column("volume_type", _json(), nullable=True),
        sa.Column("metadata", _json(), nullable=True),
        _id("snapshot_id"), _id("source_volid"), _id("group_id"),
        sa.Column("multiattach", sa.Boolean(), nullable=True),
        _text("provider_location"), _str("provider_id"), _text("provider_auth"),
        *_tail(), **_MYSQL)
    op.create_index("ix_volumes_backend_name", "volumes", ["backend_name"])
    op.create_index("ix_volumes_name", "volumes", ["name"])
    op.create_index("ix_volumes_project_id", "volumes", ["project_id"])
    op.create_index("ix_volumes_created_at_id", "volumes", ["created_at", "id"])
    op.create_index("ix_volumes_group_id", "volumes", ["group_id"])

    op.create_table(
        "snapshots",
        _id(primary=True), _str("name"), _text("description"), _id("volume_id"),
        sa.Column("volume_size", sa.Integer(), nullable=True),
        _str("status", 36), _str("project_id"), _str("user_id"), _str("backend_name"),
        _id("group_snapshot_id"),
        sa.Column("metadata", _json(), nullable=True),
        _text("provider_location"), _str("provider_id"),
        *_tail(), **_MYSQL)
    op.create_index("ix_snapshots_volume_id", "snapshots", ["volume_id"])
    op.create_index("ix_snapshots_name", "snapshots", ["name"])
    op.create_index("ix_snapshots_group_snapshot_id", "snapshots", ["group_snapshot_id"])

    op.create_table(
        "connections",
        _id(primary=True), _id("volume_id"), _str("backend_name"), _str("status", 36),
        sa.Column("connector", _json(), nullable=True),
        sa.Column("connection_info", _json(), nullable=True),
        _str("attach_mode", 36),
        sa.Column("device", _json(), nullable=True),
        _str("attached_host"), _str("project_id"), _str("user_id"),
        *_tail(), **_MYSQL)
    op.create_index("ix_connections_volume_id", "connections", ["volume_id"])

    op.create_table(
        "groups",
        _id(primary=True), _str("name"), _text("description"), _str("status", 36),
        sa.Column("group_type", _json(), nullable=True),
        _str("project_id"), _str("user_id"), _str("backend_name"),
        _id("source_group_id"), _id("group_snapshot_id"),
        *_tail(), **_MYSQL)
    op.create_index("ix_groups_backend_name", "groups", ["backend_name"])
    op.create_index("ix_groups_name", "groups", ["name"])

    op.create_table(
        "group_snapshots",
        _id(primary=True), _str("name"), _text("description"), _str("status", 36),
        _id("group_id"),
        sa.Column("group_type", _json(), nullable=True),
        _str("project_id"), _str("user_id"), _str("backend_name"),
        *_tail(), **_MYSQL)
    op.create_index("ix_group_snapshots_group_id", "group_snapshots", ["group_id"])
    op.create_index("ix_group_snapshots_name", "group_snapshots", ["name"])

    op.create_table(
        "key_values",
        sa.Column("key", sa.String(255), primary_key=True, nullable=False),
        _text("value"),
        sa.Column("version", sa.Integer(), nullable=False),
        **_MYSQL)

    op.create_table(
        "volume_types",
        _id(primary=True), _str("name"), _text("description"),
        sa.Column("extra_specs", _json(), nullable=True),
        sa.Column("qos_specs", _json(), nullable=True),
        sa.Column("is_public", sa.Boolean(), nullable=True),
        *_tail(), **_MYSQL)
    op.create_index("ix_volume_types_name", "volume_types", ["name"], unique=True)


def downgrade() -> None:
    for table in ("volume_types", "key_values", "group_snapshots", "groups",
                  "connections", "snapshots", "volumes"):
        op.drop_table(table)
