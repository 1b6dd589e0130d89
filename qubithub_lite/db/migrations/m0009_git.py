"""Git for circuits: each version's git commit (``circuit_version.git_commit``, the sha1 that
``git clone`` shows, and ``git_objects``: the version's raw commit and tree objects, zlib
compressed, so that the repository can be rebuilt byte for byte from the blob store), and
``git_blob``: the git blob id (sha1) of stored content (sha256), computed once."""

from peewee import BlobField, CharField, Model
from playhouse.migrate import SchemaMigrator, migrate

VERSION = 9


def upgrade(db):
    class GitBlob(Model):
        sha256 = CharField(max_length=64, primary_key=True)
        sha1 = CharField(max_length=40, index=True)

        class Meta:
            database = db
            table_name = "git_blob"

    migrator = SchemaMigrator.from_database(db)
    migrate(
        migrator.add_column("circuit_version", "git_commit", CharField(max_length=40, null=True)),
        migrator.add_column("circuit_version", "git_objects", BlobField(null=True)),
        migrator.add_index("circuit_version", ("git_commit",), False),
    )
    db.create_tables([GitBlob])
