"""Site administration of accounts: when a user was disabled (``is_active`` false is the
flag authentication already enforces) and a session generation, carried by every access
token, so that a password change or reset ends every other session at once."""

from peewee import DateTimeField, IntegerField
from playhouse.migrate import SchemaMigrator, migrate

VERSION = 8


def upgrade(db):
    migrator = SchemaMigrator.from_database(db)
    migrate(
        migrator.add_column("user", "disabled_at", DateTimeField(null=True)),
        migrator.add_column("user", "session_generation", IntegerField(default=0)),
    )
