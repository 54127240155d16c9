"""alembic environment of the ``dbms`` store (run by :mod:`..migrate`, not by hand).

The caller hands a live SQLAlchemy connection in ``config.attributes["connection"]``
and owns its transaction (and, per database, the lock that serializes concurrent
migrations). Offline mode (``alembic ... --sql``) renders SQL for the URL in the
``sqlalchemy.url`` option. Revisions are recorded in ``volumelib_alembic_version``
so that they never collide with an application's own alembic history in the same
database.
"""

from __future__ import annotations

from alembic import context

from volumelib.persistence.dbms import schema
from volumelib.persistence.dbms.migrate import VERSION_TABLE

config = context.config

_OPTIONS = {
    "target_metadata": schema.metadata,
    "version_table": VERSION_TABLE,
    "compare_type": True,
    "compare_server_default": False,
}


def run_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True,
                      **_OPTIONS)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("volumelib migrations run through volumelib.persistence.dbms."
                           "migrate (or `volumelib db upgrade`), which passes a connection")
    context.configure(connection=connection, **_OPTIONS)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
