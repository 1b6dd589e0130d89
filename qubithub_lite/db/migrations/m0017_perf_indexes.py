"""Costs that stay flat as the hub grows (issue 16).

- **Search rows linked to their circuit by an integer.** The FTS5 rows of ``circuit_fts``
  (m0002) carried the circuit id in an UNINDEXED column, so a search matched rows first and
  then collected every matching circuit *id* (text) into a temporary index to join them. Now
  each circuit has a ``search_rowid`` (unique, indexed) and its FTS row has that rowid: a
  search collects integers and reaches the circuit through an index. ``search_rowid`` is a
  column of its own, not the circuit's implicit rowid, because ``VACUUM`` may renumber
  implicit rowids; a new circuit gets the next number (``MAX`` on the unique index).
  PostgreSQL has its own tsvector path (m0015): there the column exists and stays empty.
- **A user's run list in index order**: ``run (user_id, created_at, id)`` and the same per
  circuit, so ``GET /runs`` reads its page (and counts) from an index instead of sorting every
  run of the user.
"""

VERSION = 17

_FTS_COLUMNS = "circuit_id, name, title, description, tags"
_FTS_VALUES = "new.id, new.name, new.title, coalesce(new.description, ''), coalesce(new.tags, '')"

SQLITE = (
    "DROP TRIGGER IF EXISTS circuit_fts_ai",
    "DROP TRIGGER IF EXISTS circuit_fts_ad",
    "DROP TRIGGER IF EXISTS circuit_fts_au",
    'ALTER TABLE "circuit" ADD COLUMN "search_rowid" INTEGER',
    'UPDATE "circuit" SET "search_rowid" = rowid',
    'CREATE UNIQUE INDEX IF NOT EXISTS "circuit_search_rowid" ON "circuit" ("search_rowid")',
    "DROP TABLE IF EXISTS circuit_fts",
    "CREATE VIRTUAL TABLE circuit_fts USING fts5("
    "circuit_id UNINDEXED, name, title, description, tags, tokenize = 'unicode61 remove_diacritics 2')",
    f"INSERT INTO circuit_fts (rowid, {_FTS_COLUMNS}) SELECT search_rowid, id, name, title, "
    "coalesce(description, ''), coalesce(tags, '') FROM circuit",
    # One trigger numbers the new circuit and indexes its text (two triggers would fire in no
    # documented order).
    "CREATE TRIGGER circuit_fts_ai AFTER INSERT ON circuit BEGIN "
    "UPDATE circuit SET search_rowid = (SELECT coalesce(MAX(search_rowid), 0) + 1 FROM circuit) "
    "WHERE id = new.id AND search_rowid IS NULL; "
    f"INSERT INTO circuit_fts (rowid, {_FTS_COLUMNS}) "
    f"VALUES ((SELECT search_rowid FROM circuit WHERE id = new.id), {_FTS_VALUES}); END",
    "CREATE TRIGGER circuit_fts_ad AFTER DELETE ON circuit BEGIN "
    "DELETE FROM circuit_fts WHERE rowid = old.search_rowid; END",
    "CREATE TRIGGER circuit_fts_au AFTER UPDATE OF name, title, description, tags ON circuit BEGIN "
    "DELETE FROM circuit_fts WHERE rowid = old.search_rowid; "
    f"INSERT INTO circuit_fts (rowid, {_FTS_COLUMNS}) VALUES (new.search_rowid, {_FTS_VALUES}); END",
)

RUN_INDEXES = (
    'CREATE INDEX IF NOT EXISTS "run_user_created" ON "run" ("user_id", "created_at", "id")',
    'CREATE INDEX IF NOT EXISTS "run_circuit_created" ON "run" ("circuit_id", "created_at", "id")',
)


def upgrade(db):
    if "postgres" in type(db).__name__.lower():
        db.execute_sql('ALTER TABLE "circuit" ADD COLUMN IF NOT EXISTS "search_rowid" BIGINT')
    else:
        for sql in SQLITE:
            db.execute_sql(sql)
    for sql in RUN_INDEXES:
        db.execute_sql(sql)
