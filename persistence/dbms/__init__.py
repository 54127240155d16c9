"""SQL persistence: ``dbms`` (:class:`~.store.DBPersistence`) and ``memory_dbms``
(:class:`~.store.MemoryDBPersistence`), on SQLAlchemy 2 Core with the package's own
alembic migrations.

Modules: :mod:`.store` (the stores), :mod:`.engine` (URLs and engines), :mod:`.schema`
(the tables), :mod:`.migrate`
(revision check on open, ``upgrade``/``downgrade``/``current``/``check`` for
``volumelib db ...``), ``migrations/`` (the alembic environment and revisions).

Importing this package is free; SQLAlchemy is imported with :mod:`.store` or
:mod:`.schema`, alembic only when a migration runs.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DBPersistence", "MemoryDBPersistence"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        # SQLAlchemy loads with the store, not with this package.
        from volumelib.persistence.dbms import store
        return getattr(store, name)
    raise AttributeError(name)
