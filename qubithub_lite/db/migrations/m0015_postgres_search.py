"""PostgreSQL full-text search for circuits and datasets.

SQLite has had FTS5 tables kept in sync by triggers since m0002/m0005. On PostgreSQL the
search fell back to ``ILIKE`` on the JSON text of ``tags`` (which never matched: the pattern
went through the JSON field's ``db_value`` and became ``'"%chem%"'``). Here each table gets a
generated ``search_vector`` (``tsvector`` of name, title, description and the JSON label
arrays, ``simple`` configuration: no stemming, like SQLite's unicode61 tokenizer) with a GIN
index; the services query it with ``to_tsquery`` prefix terms. Nothing happens on SQLite.

Stored generated columns (PostgreSQL 12+): PostgreSQL keeps them current on every write, so
no trigger and no application code maintains them."""

VERSION = 15

_DOCS = {
    "circuit": ("name", "title", "description", "tags"),
    "dataset": ("name", "title", "description", "tags", "task_categories"),
}


def upgrade(db):
    if "postgres" not in type(db).__name__.lower():
        return
    for table, columns in _DOCS.items():
        text = " || ' ' || ".join(f"coalesce(\"{c}\", '')" for c in columns)
        db.execute_sql(
            f'ALTER TABLE "{table}" ADD COLUMN IF NOT EXISTS "search_vector" tsvector '
            f"GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, {text})) STORED"
        )
        db.execute_sql(f'CREATE INDEX IF NOT EXISTS "{table}_search_vector" ON "{table}" USING GIN ("search_vector")')
