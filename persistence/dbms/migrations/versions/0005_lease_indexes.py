"""Leases: no secondary indexes, and on SQLite a table without rowid.

Revision ID: 0005
Revises: 0004

The library reads leases only by their key (the resource id), and the table holds
only the leases in force: the operations in flight, the claims in flight and the
workers' leases, a few rows a full scan reads at once. Yet every operation inserts
and deletes a lease row, so every page that row touches is written to the log by
two commits of every operation:

* the two secondary indexes (``holder``, ``expires_at``) are dropped: two pages
  each, about a fifth of an operation's commit time on SQLite;
* on SQLite the table is rebuilt ``WITHOUT ROWID``: a text key on a rowid table is
  a second B-tree (the key's index beside the rows), a table without rowid is one,
  ordered by the key, which SQLite recommends for small rows with a non-integer
  key. The rows are copied as they are.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_COLUMNS = ("id", "resource_kind", "holder", "operation", "ttl", "grace", "expires_at",
            "expired_count", "created_at", "updated_at", "version")


def _rebuild_leases(*, with_rowid: bool) -> None:
    """SQLite: the leases table again, with or without rowid, with its rows."""
    op.create_table(
        "leases_0005",
        sa.Column("id", sa.String(255), primary_key=True, nullable=False),
        sa.Column("resource_kind", sa.String(36), nullable=True),
        sa.Column("holder", sa.String(255), nullable=True),
        sa.Column("operation", sa.String(255), nullable=True),
        sa.Column("ttl", sa.Double(), nullable=True),
        sa.Column("grace", sa.Double(), nullable=True),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.Column("expired_count", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sqlite_with_rowid=with_rowid,
    )
    names = ", ".join(_COLUMNS)
    op.execute(f"INSERT INTO leases_0005 ({names}) SELECT {names} FROM leases")
    op.drop_table("leases")
    op.rename_table("leases_0005", "leases")


def upgrade() -> None:
    op.drop_index("ix_leases_holder", table_name="leases")
    op.drop_index("ix_leases_expires_at", table_name="leases")
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_leases(with_rowid=False)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_leases(with_rowid=True)
    op.create_index("ix_leases_holder", "leases", ["holder"])
    op.create_index("ix_leases_expires_at", "leases", ["expires_at"])
