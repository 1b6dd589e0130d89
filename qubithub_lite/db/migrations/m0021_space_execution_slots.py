"""Space execution slots shared by every API process (PostgreSQL only).

``space_execution_slot`` (``UNLOGGED``, like m0016's ``rate_limit_bucket``: no WAL; a crash
empties it, which only forgets calls that ended with the server): one row per running space
execute/visualize call, ``expires_at`` renewed by its holder (``db.execution_slots``). SQLite
serves one process, whose in-process slots need no table."""

VERSION = 21


def upgrade(db):
    if "postgres" in type(db).__name__.lower():
        db.execute_sql('CREATE UNLOGGED TABLE IF NOT EXISTS "space_execution_slot" ('
                       '"id" VARCHAR(36) NOT NULL PRIMARY KEY, "user_id" VARCHAR(36) NOT NULL, '
                       '"expires_at" DOUBLE PRECISION NOT NULL)')
        db.execute_sql('CREATE INDEX IF NOT EXISTS "space_execution_slot_user" '
                       'ON "space_execution_slot" ("user_id", "expires_at")')
