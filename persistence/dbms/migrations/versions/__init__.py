"""alembic revisions of the dbms store."""
