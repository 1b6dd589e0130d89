"""An index for the run queue's fair claim: each user's oldest queued run is the first
entry of its (status, user_id) range, and the per-user GROUP BY reads the index alone."""

VERSION = 6


def upgrade(db):
    db.execute_sql('CREATE INDEX IF NOT EXISTS "run_status_user_created" ON "run" ("status", "user_id", "created_at", "id")')
