"""The event log and event subscriptions.

Revision ID: 0004
Revises: 0003

Three new tables, nothing else changes: ``events`` (one row per status change,
create and delete of a volume, snapshot, connection, group or group snapshot),
``event_sequence`` (one row: the last event id given out on PostgreSQL and
MariaDB, whose row lock orders concurrent writers) and ``subscriptions`` (where
events are delivered). Self-contained like every revision (plain SQLAlchemy types;
``DATETIME(6)`` on MySQL/MariaDB; ``INTEGER PRIMARY KEY`` on SQLite, the rowid).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_MYSQL = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin",
          "mysql_engine": "InnoDB"}


def _dt() -> sa.types.TypeEngine:
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def _json() -> sa.JSON:
    return sa.JSON(none_as_null=True)


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  primary_key=True, autoincrement=True, nullable=False),
        sa.Column("time", _dt(), nullable=False),
        sa.Column("kind", sa.String(36), nullable=False),
        sa.Column("resource_id", sa.String(255), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("old_status", sa.String(36), nullable=True),
        sa.Column("new_status", sa.String(36), nullable=True),
        sa.Column("project_id", sa.String(255), nullable=True),
        sa.Column("payload", _json(), nullable=True),
        **_MYSQL,
    )
    sequence = op.create_table(
        "event_sequence",
        sa.Column("name", sa.String(36), primary_key=True, nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        **_MYSQL,
    )
    op.bulk_insert(sequence, [{"name": "events", "value": 0}])
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.String(36), primary_key=True, nullable=False),
        sa.Column("subscriber", sa.Text(), nullable=True),
        sa.Column("kinds", _json(), nullable=True),
        sa.Column("options", _json(), nullable=True),
        sa.Column("project_id", sa.String(255), nullable=True),
        sa.Column("ttl", sa.Double(), nullable=True),
        sa.Column("expires_at", _dt(), nullable=True),
        sa.Column("secret", sa.Text(), nullable=True),
        sa.Column("confirmation_token", sa.Text(), nullable=True),
        sa.Column("confirmed", sa.Boolean(), nullable=True),
        sa.Column("confirmation_sent_at", _dt(), nullable=True),
        sa.Column("position", sa.BigInteger(), nullable=True),
        sa.Column("delivered", sa.BigInteger(), nullable=True),
        sa.Column("dead_letters", sa.BigInteger(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", _dt(), nullable=True),
        sa.Column("updated_at", _dt(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        **_MYSQL,
    )


def downgrade() -> None:
    op.drop_table("subscriptions")
    op.drop_table("event_sequence")
    op.drop_table("events")
