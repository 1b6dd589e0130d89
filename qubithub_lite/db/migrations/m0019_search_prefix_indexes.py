"""Searches and sorted lists whose cost does not grow with the hub (issue 16).

- **FTS5 prefix indexes** (SQLite). Every search word is a prefix term (``"num"*``). Without
  a prefix index FTS5 answers a prefix term by merging the doclists of every term with that
  prefix into one list in memory, for each query: testing one circuit against a broad word
  cost as much as listing all its matches (~3 ms per circuit at 100,000 circuits). With
  ``prefix='1 … 12'`` a prefix of up to 12 characters is an index of its own, and testing a
  circuit is a seek (~15 µs, the same at any size): a broad search walks the list's sort
  index and tests circuits one by one until its page is full. FTS5 options cannot be
  altered, so ``circuit_fts`` is rebuilt here from the circuit rows (the same columns, rowids
  and triggers as m0017; the index is derived data: nothing the users stored is dropped).
- **Sort indexes that include the tie-breaker.** Lists are ordered by ``(column, id)``; the
  ``(is_public, column)`` indexes of m0002 left ``id`` out, so a page sorted by a counter read
  every circuit sharing the top values (most circuits have 0 forks, 0 stars…) and sorted them.
  For the counters and ``qubits`` the index becomes ``(is_public, column, id)``: a page reads
  its rows in index order and stops. (``created_at``, ``updated_at`` and ``name`` rarely tie.)
  Both databases.
"""

VERSION = 19

#: Prefix lengths with an FTS5 prefix index (``db.circuit_list.PREFIX_INDEXED`` must match).
PREFIX_LENGTHS = tuple(range(1, 13))

_FTS_COLUMNS = "circuit_id, name, title, description, tags"
_FTS_VALUES = "new.id, new.name, new.title, coalesce(new.description, ''), coalesce(new.tags, '')"

SQLITE_FTS = (
    "DROP TRIGGER IF EXISTS circuit_fts_ai",
    "DROP TRIGGER IF EXISTS circuit_fts_ad",
    "DROP TRIGGER IF EXISTS circuit_fts_au",
    "DROP TABLE IF EXISTS circuit_fts",
    "CREATE VIRTUAL TABLE circuit_fts USING fts5("
    "circuit_id UNINDEXED, name, title, description, tags, tokenize = 'unicode61 remove_diacritics 2', "
    f"prefix = '{' '.join(map(str, PREFIX_LENGTHS))}')",
    # Circuits are numbered by m0017 (and its trigger); number any that are not, then index all.
    'UPDATE "circuit" SET "search_rowid" = (SELECT coalesce(MAX("search_rowid"), 0) FROM "circuit") + rowid '
    'WHERE "search_rowid" IS NULL',
    f"INSERT INTO circuit_fts (rowid, {_FTS_COLUMNS}) SELECT search_rowid, id, name, title, "
    "coalesce(description, ''), coalesce(tags, '') FROM circuit",
    # As m0017: one trigger numbers the new circuit and indexes its text.
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

#: Sort columns whose ``(is_public, column)`` index becomes ``(is_public, column, id)``.
TIED_SORT_COLUMNS = ("stars_count", "views_count", "runs_count", "forks_count", "qubits")


def upgrade(db):
    postgres = "postgres" in type(db).__name__.lower()
    if not postgres:
        for sql in SQLITE_FTS:
            db.execute_sql(sql)
    for col in TIED_SORT_COLUMNS:
        db.execute_sql(f'CREATE INDEX IF NOT EXISTS "circuit_is_public_{col}_id" ON "circuit" ("is_public", "{col}", "id")')
        db.execute_sql(f'DROP INDEX IF EXISTS "circuit_is_public_{col}"')
