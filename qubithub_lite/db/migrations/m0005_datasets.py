"""Datasets, their labels (tags, task categories) and versions; a full-text
index over datasets (SQLite FTS5 kept in sync by triggers — PostgreSQL uses a
LIKE fallback and gets no virtual table). Blobs, storage usage and stars live
in the shared tables created by m0002."""

from peewee import (
    BigIntegerField, BooleanField, CharField, DateTimeField, ForeignKeyField, IntegerField, Model, SqliteDatabase,
    TextField,
)

VERSION = 5

_FTS_COLUMNS = "name, title, description, tags, task_categories"
_FTS_VALUES = (
    "new.id, new.name, new.title, coalesce(new.description, ''), coalesce(new.tags, ''), "
    "coalesce(new.task_categories, '')"
)
FTS_SQL = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS dataset_fts USING fts5("
    f"dataset_id UNINDEXED, {_FTS_COLUMNS}, tokenize = 'unicode61 remove_diacritics 2')",
    "CREATE TRIGGER IF NOT EXISTS dataset_fts_ai AFTER INSERT ON dataset BEGIN "
    f"INSERT INTO dataset_fts (dataset_id, {_FTS_COLUMNS}) VALUES ({_FTS_VALUES}); END",
    "CREATE TRIGGER IF NOT EXISTS dataset_fts_ad AFTER DELETE ON dataset BEGIN "
    "DELETE FROM dataset_fts WHERE dataset_id = old.id; END",
    "CREATE TRIGGER IF NOT EXISTS dataset_fts_au AFTER UPDATE OF name, title, description, tags, task_categories "
    "ON dataset BEGIN DELETE FROM dataset_fts WHERE dataset_id = old.id; "
    f"INSERT INTO dataset_fts (dataset_id, {_FTS_COLUMNS}) VALUES ({_FTS_VALUES}); END",
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

    class Dataset(Base):
        id = CharField(max_length=36, primary_key=True)
        name = CharField(max_length=100)
        namespace_id = CharField(max_length=36)
        owner = ForeignKeyField(User, on_delete="CASCADE")
        organization = ForeignKeyField(Organization, null=True, on_delete="CASCADE")
        title = CharField(max_length=500)
        description = TextField(null=True)
        format = CharField(max_length=10, index=True)
        tags = TextField()
        task_categories = TextField()
        license = CharField(max_length=100, null=True)
        citation = TextField(null=True)
        is_public = BooleanField(default=True, index=True)
        forked_from = ForeignKeyField("self", null=True, on_delete="SET NULL")
        forked_from_version = CharField(max_length=36, null=True, index=True)
        stars_count = IntegerField(default=0, index=True)
        forks_count = IntegerField(default=0, index=True)
        downloads_count = IntegerField(default=0, index=True)
        storage_bytes = BigIntegerField(default=0)
        latest_version_number = IntegerField(default=0)
        size_bytes = BigIntegerField(default=0, index=True)
        created_at = DateTimeField(index=True)
        updated_at = DateTimeField(index=True)

        class Meta:
            indexes = ((("namespace_id", "name"), True), (("name",), False))

    class DatasetLabel(Base):
        dataset = ForeignKeyField(Dataset, on_delete="CASCADE")
        kind = CharField(max_length=8)
        value = CharField(max_length=50)

        class Meta:
            indexes = ((("dataset", "kind", "value"), True), (("kind", "value"), False))

    class DatasetVersion(Base):
        id = CharField(max_length=36, primary_key=True)
        dataset = ForeignKeyField(Dataset, on_delete="CASCADE")
        version_number = IntegerField()
        commit_hash = CharField(max_length=64)
        parent_hash = CharField(max_length=64, null=True)
        commit_message = TextField(null=True)
        file_name = CharField(max_length=255)
        sha256 = CharField(max_length=64, index=True)
        file_size = BigIntegerField(default=0)
        total_rows = BigIntegerField(null=True)
        downloads_count = IntegerField(default=0)
        created_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
        created_at = DateTimeField()

        class Meta:
            indexes = ((("dataset", "version_number"), True),)

    db.create_tables([Dataset, DatasetLabel, DatasetVersion])
    if isinstance(db, SqliteDatabase):
        for sql in FTS_SQL:
            db.execute_sql(sql)
