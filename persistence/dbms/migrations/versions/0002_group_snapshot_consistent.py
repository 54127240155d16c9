"""Record whether a group snapshot was taken atomically.

Revision ID: 0002
Revises: 0001

A group snapshot made by a driver's native ``create_cgsnapshot`` is consistent; one
made by the library's per-volume fallback is not, and users must be able to tell.
Rows from before this revision are unknown; they read as not consistent.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("group_snapshots") as batch:
        batch.add_column(sa.Column("consistent", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("group_snapshots") as batch:
        batch.drop_column("consistent")
