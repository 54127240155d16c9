"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}

Remember: set ``HEAD_REVISION`` in ``volumelib/persistence/dbms/migrate.py`` to this
revision, keep ``schema.py`` in step, and use plain SQLAlchemy types here (a revision
must keep doing the same thing after ``schema.py`` moves on).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
${imports if imports else ""}

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = ${repr(branch_labels)}
depends_on = ${repr(depends_on)}


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    ${downgrades if downgrades else "pass"}
