"""Circuits, their versions and file trees; the shared blob, storage-usage and
star tables; a full-text index over circuits (SQLite FTS5, kept in sync by
triggers — PostgreSQL uses a LIKE fallback and gets no virtual table)."""

from peewee import (
    BigIntegerField, BooleanField, CharField, DateTimeField, ForeignKeyField, IntegerField, Model, SqliteDatabase,
    TextField,
)

VERSION = 2

FTS_SQL = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS circuit_fts USING fts5("
    "circuit_id UNINDEXED, name, title, description, tags, tokenize = 'unicode61 remove_diacritics 2')",
    "CREATE TRIGGER IF NOT EXISTS circuit_fts_ai AFTER INSERT ON circuit BEGIN "
    "INSERT INTO circuit_fts (circuit_id, name, title, description, tags) "
    "VALUES (new.id, new.name, new.title, coalesce(new.description, ''), coalesce(new.tags, '')); END",
    "CREATE TRIGGER IF NOT EXISTS circuit_fts_ad AFTER DELETE ON circuit BEGIN "
    "DELETE FROM circuit_fts WHERE circuit_id = old.id; END",
    "CREATE TRIGGER IF NOT EXISTS circuit_fts_au AFTER UPDATE OF name, title, description, tags ON circuit BEGIN "
    "DELETE FROM circuit_fts WHERE circuit_id = old.id; "
    "INSERT INTO circuit_fts (circuit_id, name, title, description, tags) "
    "VALUES (new.id, new.name, new.title, coalesce(new.description, ''), coalesce(new.tags, '')); END",
)


def upgrade(db):
    class Base(Model):
        class Meta:
            database = db
            legacy_table_names = False

    class User(Base):
        id = CharField(max_length=36, primary_key=True)

    class Organization(Base):
        id = CharField(max_length=36, primary_key=True)

    class Blob(Base):
        sha256 = CharField(max_length=64, primary_key=True)
        size = BigIntegerField()
        ref_count = IntegerField(default=0, index=True)
        created_at = DateTimeField()

    class StorageUsage(Base):
        owner_key = CharField(max_length=48, primary_key=True)
        bytes_used = BigIntegerField(default=0)
        updated_at = DateTimeField()

    class Star(Base):
        id = CharField(max_length=36, primary_key=True)
        target_type = CharField(max_length=16)
        target_id = CharField(max_length=36)
        user = ForeignKeyField(User, on_delete="CASCADE")
        created_at = DateTimeField()

        class Meta:
            indexes = ((("target_type", "target_id", "user"), True),)

    class Circuit(Base):
        id = CharField(max_length=36, primary_key=True)
        name = CharField(max_length=100)
        namespace_id = CharField(max_length=36)
        owner = ForeignKeyField(User, on_delete="CASCADE")
        organization = ForeignKeyField(Organization, null=True, on_delete="CASCADE")
        title = CharField(max_length=500)
        description = TextField(null=True)
        framework = CharField(max_length=20, index=True)
        tags = TextField()
        qubits = IntegerField(default=0, index=True)
        gates = TextField(null=True)
        depth = IntegerField(null=True)
        category = CharField(max_length=100, null=True)
        difficulty = CharField(max_length=20, null=True)
        is_public = BooleanField(default=True)  # no index: low cardinality, it would beat the sort indexes
        extra_metadata = TextField(null=True)
        manifest = TextField(null=True)
        forked_from = ForeignKeyField("self", null=True, on_delete="SET NULL")
        stars_count = IntegerField(default=0, index=True)
        views_count = IntegerField(default=0, index=True)
        forks_count = IntegerField(default=0, index=True)
        runs_count = IntegerField(default=0, index=True)
        storage_bytes = BigIntegerField(default=0)
        created_at = DateTimeField(index=True)
        updated_at = DateTimeField(index=True)

        class Meta:
            # (is_public, <sort column>): an anonymous list is an index range, and its count is covered.
            indexes = ((("namespace_id", "name"), True), (("name",), False)) + tuple(
                (("is_public", col), False) for col in (
                    "created_at", "updated_at", "stars_count", "views_count", "runs_count", "forks_count", "name", "qubits")
            )

    class CircuitTag(Base):
        circuit = ForeignKeyField(Circuit, on_delete="CASCADE")
        tag = CharField(max_length=50, index=True)

        class Meta:
            indexes = ((("circuit", "tag"), True),)

    class CircuitVersion(Base):
        id = CharField(max_length=36, primary_key=True)
        circuit = ForeignKeyField(Circuit, on_delete="CASCADE")
        version_number = IntegerField()
        commit_hash = CharField(max_length=64)
        parent_hash = CharField(max_length=64, null=True)
        tree_hash = CharField(max_length=64)
        commit_message = TextField(null=True)
        file_path = CharField(max_length=600)
        file_size = BigIntegerField(default=0)
        created_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
        created_at = DateTimeField()

        class Meta:
            indexes = ((("circuit", "version_number"), True),)

    class CircuitFile(Base):
        version = ForeignKeyField(CircuitVersion, on_delete="CASCADE")
        path = CharField(max_length=255)
        sha256 = CharField(max_length=64, index=True)
        size = BigIntegerField()
        kind = CharField(max_length=16)

        class Meta:
            indexes = ((("version", "path"), True),)

    db.create_tables([Blob, StorageUsage, Star, Circuit, CircuitTag, CircuitVersion, CircuitFile])
    if isinstance(db, SqliteDatabase):
        for sql in FTS_SQL:
            db.execute_sql(sql)
