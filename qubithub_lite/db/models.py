"""Current peewee models. Migrations (``db/migrations``) own the schema; these
classes must describe the schema as the newest migration leaves it."""

from __future__ import annotations

from peewee import BooleanField, CharField, DateTimeField, ForeignKeyField, IntegerField, TextField
from playhouse.pwasyncio import AsyncModel

from .core import database_proxy
from .fields import IdField, JSONField, new_id, utcnow


class BaseModel(AsyncModel):
    class Meta:
        database = database_proxy
        legacy_table_names = False


class User(BaseModel):
    id = IdField(primary_key=True, default=new_id)
    email = CharField(max_length=254, unique=True)
    username = CharField(max_length=39, unique=True)
    name = CharField(max_length=200)
    password_hash = CharField(max_length=100)
    avatar = CharField(max_length=500, null=True)
    is_admin = BooleanField(default=False)
    is_pro = BooleanField(default=False)
    is_active = BooleanField(default=True)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)
    #: When a site admin disabled the account (``is_active`` is the flag itself).
    disabled_at = DateTimeField(null=True)
    #: Carried by access tokens as ``gen``: bumped to end every session at once.
    session_generation = IntegerField(default=0)


class Organization(BaseModel):
    id = IdField(primary_key=True, default=new_id)
    name = CharField(max_length=200)
    slug = CharField(max_length=39, unique=True)
    description = TextField(null=True)
    avatar_url = CharField(max_length=500, null=True)
    is_personal = BooleanField(default=False)
    created_at = DateTimeField(default=utcnow)


class Membership(BaseModel):
    id = IdField(primary_key=True, default=new_id)
    organization = ForeignKeyField(Organization, backref="memberships", on_delete="CASCADE")
    user = ForeignKeyField(User, backref="memberships", on_delete="CASCADE")
    role = CharField(max_length=10, default="member")  # owner | admin | member
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("organization", "user"), True),)


class RefreshToken(BaseModel):
    id = IdField(primary_key=True, default=new_id)
    user = ForeignKeyField(User, backref="refresh_tokens", on_delete="CASCADE")
    family_id = CharField(max_length=36, index=True)
    token_hash = CharField(max_length=64, unique=True)
    created_at = DateTimeField(default=utcnow)
    expires_at = DateTimeField()
    rotated_at = DateTimeField(null=True)
    revoked_at = DateTimeField(null=True)


class ApiKey(BaseModel):
    id = IdField(primary_key=True, default=new_id)
    user = ForeignKeyField(User, backref="api_keys", on_delete="CASCADE")
    organization = ForeignKeyField(Organization, null=True, backref="api_keys", on_delete="CASCADE")
    name = CharField(max_length=100)
    key_hash = CharField(max_length=64, unique=True)
    key_prefix = CharField(max_length=16)
    scopes = JSONField(default=list)
    rate_limit_per_minute = IntegerField(default=60)
    is_active = BooleanField(default=True)
    last_used_at = DateTimeField(null=True)
    created_at = DateTimeField(default=utcnow)
    expires_at = DateTimeField(null=True)


class AuditLog(BaseModel):
    id = IdField(primary_key=True, default=new_id)
    actor_id = CharField(max_length=36, null=True, index=True)
    action = CharField(max_length=64, index=True)
    target_type = CharField(max_length=32)
    target_id = CharField(max_length=36, index=True)
    data = JSONField(null=True)
    created_at = DateTimeField(default=utcnow)
