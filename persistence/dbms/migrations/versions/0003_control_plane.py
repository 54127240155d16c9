"""The control plane's tables: pools, leases and quotas.

Revision ID: 0003
Revises: 0002

Three new tables, nothing else changes: a database from an older volumelib keeps
its rows. The rows of these kinds are never soft-deleted, so they have no
``deleted``/``deleted_at`` columns. Self-contained like every revision (plain
SQLAlchemy types; ``DATETIME(6)`` on MySQL/MariaDB, ``DOUBLE`` for floats so MySQL
does not round ttls to single precision).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_MYSQL = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin",
          "mysql_engine": "InnoDB"}


def _dt() -> sa.types.TypeEngine:
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def _json() -> sa.JSON:
    return sa.JSON(none_as_null=True)


def _str(name: str, length: int = 255) -> sa.Column:
    return sa.Column(name, sa.String(length), nullable=True)


def _tail() -> list[sa.Column]:
    return [
        sa.Column("created_at", _dt(), nullable=True),
        sa.Column("updated_at", _dt(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "pools",
        sa.Column("name", sa.String(255), primary_key=True, nullable=False),
        _str("volume_driver"),
        sa.Column("driver_config", _json(), nullable=True),
        sa.Column("weight", sa.Double(), nullable=True),
        sa.Column("capabilities", _json(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=True),
        *_tail(),
        **_MYSQL,
    )
    op.create_table(
        "leases",
        sa.Column("id", sa.String(255), primary_key=True, nullable=False),
        _str("resource_kind", 36),
        _str("holder"),
        _str("operation"),
        sa.Column("ttl", sa.Double(), nullable=True),
        sa.Column("grace", sa.Double(), nullable=True),
        sa.Column("expires_at", _dt(), nullable=True),
        sa.Column("expired_count", sa.Integer(), nullable=True),
        *_tail(),
        **_MYSQL,
    )
    op.create_index("ix_leases_holder", "leases", ["holder"])
    op.create_index("ix_leases_expires_at", "leases", ["expires_at"])
    op.create_table(
        "quotas",
        sa.Column("id", sa.String(255), primary_key=True, nullable=False),
        _str("project_id"),
        _str("resource", 36),
        sa.Column("limit", sa.Integer(), nullable=True),
        sa.Column("in_use", sa.Integer(), nullable=True),
        *_tail(),
        **_MYSQL,
    )
    op.create_index("ix_quotas_project_id", "quotas", ["project_id"])


def downgrade() -> None:
    op.drop_index("ix_quotas_project_id", table_name="quotas")
    op.drop_table("quotas")
    op.drop_index("ix_leases_expires_at", table_name="leases")
    op.drop_index("ix_leases_holder", table_name="leases")
    op.drop_table("leases")
    op.drop_table("pools")
