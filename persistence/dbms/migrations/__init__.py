"""alembic environment and revisions of the dbms store (see volumelib.persistence.dbms.migrate)."""
