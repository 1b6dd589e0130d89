"""Site administration of accounts: when a user was disabled (``is_active`` false is the
flag authentication already enforces) and a session generation, carried by every access
token, so that a password change or reset ends every other session at once.

Plain ``ALTER TABLE … ADD COLUMN`` (SQLite and PostgreSQL alike): never a table rebuild,
which on SQLite would drop the old "user" table and, with foreign keys on, cascade-delete
every membership, token, key and resource that references it."""

VERSION = 8


def upgrade(db):
    timestamp = "TIMESTAMP" if "postgres" in type(db).__name__.lower() else "DATETIME"
    db.execute_sql(f'ALTER TABLE "user" ADD COLUMN "disabled_at" {timestamp}')
    db.execute_sql('ALTER TABLE "user" ADD COLUMN "session_generation" INTEGER NOT NULL DEFAULT 0')
