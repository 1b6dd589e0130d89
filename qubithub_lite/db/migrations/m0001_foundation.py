"""Accounts, organizations, refresh tokens, API keys and the audit log."""

from peewee import BooleanField, CharField, DateTimeField, ForeignKeyField, IntegerField, Model, TextField

VERSION = 1


def upgrade(db):
    class Base(Model):
        class Meta:
            database = db
            legacy_table_names = False

    class User(Base):
        id = CharField(max_length=36, primary_key=True)
        email = CharField(max_length=254, unique=True)
        username = CharField(max_length=39, unique=True)
        name = CharField(max_length=200)
        password_hash = CharField(max_length=100)
        avatar = CharField(max_length=500, null=True)
        is_admin = BooleanField(default=False)
        is_pro = BooleanField(default=False)
        is_active = BooleanField(default=True)
        created_at = DateTimeField()
        updated_at = DateTimeField()

    class Organization(Base):
        id = CharField(max_length=36, primary_key=True)
        name = CharField(max_length=200)
        slug = CharField(max_length=39, unique=True)
        description = TextField(null=True)
        avatar_url = CharField(max_length=500, null=True)
        is_personal = BooleanField(default=False)
        created_at = DateTimeField()

    class Membership(Base):
        id = CharField(max_length=36, primary_key=True)
        organization = ForeignKeyField(Organization, on_delete="CASCADE")
        user = ForeignKeyField(User, on_delete="CASCADE")
        role = CharField(max_length=10)
        created_at = DateTimeField()

        class Meta:
            indexes = ((("organization", "user"), True),)

    class RefreshToken(Base):
        id = CharField(max_length=36, primary_key=True)
        user = ForeignKeyField(User, on_delete="CASCADE")
        family_id = CharField(max_length=36, index=True)
        token_hash = CharField(max_length=64, unique=True)
        created_at = DateTimeField()
        expires_at = DateTimeField()
        rotated_at = DateTimeField(null=True)
        revoked_at = DateTimeField(null=True)

    class ApiKey(Base):
        id = CharField(max_length=36, primary_key=True)
        user = ForeignKeyField(User, on_delete="CASCADE")
        organization = ForeignKeyField(Organization, null=True, on_delete="CASCADE")
        name = CharField(max_length=100)
        key_hash = CharField(max_length=64, unique=True)
        key_prefix = CharField(max_length=16)
        scopes = TextField()
        rate_limit_per_minute = IntegerField()
        is_active = BooleanField(default=True)
        last_used_at = DateTimeField(null=True)
        created_at = DateTimeField()
        expires_at = DateTimeField(null=True)

    class AuditLog(Base):
        id = CharField(max_length=36, primary_key=True)
        actor_id = CharField(max_length=36, null=True, index=True)
        action = CharField(max_length=64, index=True)
        target_type = CharField(max_length=32)
        target_id = CharField(max_length=36, index=True)
        data = TextField(null=True)
        created_at = DateTimeField()

    db.create_tables([User, Organization, Membership, RefreshToken, ApiKey, AuditLog])
