"""Several API processes on one database: run leases, a shared fair order and shared rate limits.

- ``run.lease_owner`` / ``run.lease_expires_at``: the process executing a ``running`` run (a
  per-process id, see ``jobs.leases``) and until when its claim holds. The owner renews it with
  heartbeats; recovery takes over only runs whose lease expired (never a live one).
- ``run_turn``: when each user was last served by the queue, in the database, so the fair order
  (served longest ago first) holds across processes. SQLite (one process) keeps it in memory,
  but the table exists there too so the schema is the same.
- ``rate_limit_bucket`` (PostgreSQL only, ``UNLOGGED``: no WAL, emptied by a crash, which only
  forgets recent requests): one row per (action, who) with the GCRA "theoretical arrival time",
  updated by one atomic upsert per request (``services.ratelimit.PgRateLimiter``).

Plain ``ADD COLUMN`` (no table rebuild, see m0008)."""

VERSION = 16


def upgrade(db):
    postgres = "postgres" in type(db).__name__.lower()
    timestamp = "TIMESTAMP" if postgres else "DATETIME"
    db.execute_sql('ALTER TABLE "run" ADD COLUMN "lease_owner" VARCHAR(64)')
    db.execute_sql(f'ALTER TABLE "run" ADD COLUMN "lease_expires_at" {timestamp}')
    db.execute_sql('CREATE INDEX IF NOT EXISTS "run_status_lease" ON "run" ("status", "lease_expires_at")')
    db.execute_sql(f'CREATE TABLE IF NOT EXISTS "run_turn" ("user_id" VARCHAR(36) NOT NULL PRIMARY KEY, '
                   f'"served_at" {timestamp} NOT NULL)')
    if postgres:
        db.execute_sql('CREATE UNLOGGED TABLE IF NOT EXISTS "rate_limit_bucket" ('
                       '"bucket" TEXT NOT NULL PRIMARY KEY, "tat" DOUBLE PRECISION NOT NULL)')
