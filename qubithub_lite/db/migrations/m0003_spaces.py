"""Spaces and their files (bytes in the shared blob store of m0002)."""

from peewee import BigIntegerField, BooleanField, CharField, DateTimeField, ForeignKeyField, IntegerField, Model, TextField

VERSION = 3


def upgrade(db):
    class Base(Model):
        class Meta:
            database = db
            legacy_table_names = False

    class User(Base):
        id = CharField(max_length=36, primary_key=True)

    class Organization(Base):
        id = CharField(max_length=36, primary_key=True)

    class Space(Base):
        id = CharField(max_length=36, primary_key=True)
        name = CharField(max_length=100)
        namespace_id = CharField(max_length=36)
        owner = ForeignKeyField(User, on_delete="CASCADE")
        organization = ForeignKeyField(Organization, null=True, on_delete="CASCADE")
        title = CharField(max_length=500)
        description = TextField(null=True)
        sdk = CharField(max_length=20, index=True)
        space_type = CharField(max_length=20, index=True)
        is_public = BooleanField(default=True, index=True)
        forked_from = ForeignKeyField("self", null=True, on_delete="SET NULL")
        stars_count = IntegerField(default=0, index=True)
        forks_count = IntegerField(default=0)
        views_count = IntegerField(default=0)
        storage_bytes = BigIntegerField(default=0)
        created_at = DateTimeField(index=True)
        updated_at = DateTimeField(index=True)

        class Meta:
            indexes = ((("namespace_id", "name"), True), (("name",), False))

    class SpaceFile(Base):
        id = CharField(max_length=36, primary_key=True)
        space = ForeignKeyField(Space, on_delete="CASCADE")
        path = CharField(max_length=255)
        sha256 = CharField(max_length=64, index=True)
        size = BigIntegerField()
        created_at = DateTimeField()
        updated_at = DateTimeField()

        class Meta:
            indexes = ((("space", "path"), True),)

    db.create_tables([Space, SpaceFile])
