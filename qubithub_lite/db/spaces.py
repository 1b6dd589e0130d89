"""Models for spaces (interactive code environments) and their files.

The schema is owned by ``db/migrations/m0003_spaces.py``; these classes must
describe it as that migration leaves it. A space file's bytes live in the
shared content-addressed blob store (``db.circuits.Blob``); a ``SpaceFile``
row is one reference to a blob. Stars use the shared ``Star`` table with
``target_type = "space"``.
"""

from __future__ import annotations

from peewee import BigIntegerField, BooleanField, CharField, DateTimeField, ForeignKeyField, IntegerField

from .fields import IdField, new_id, utcnow
from .models import BaseModel
from .namespaced import NamespacedRepo


class Space(NamespacedRepo):
    sdk = CharField(max_length=20, index=True)
    space_type = CharField(max_length=20, index=True)
    is_public = BooleanField(default=True, index=True)
    forked_from = ForeignKeyField("self", null=True, backref="forks", on_delete="SET NULL")
    stars_count = IntegerField(default=0)
    forks_count = IntegerField(default=0)
    views_count = IntegerField(default=0)
    storage_bytes = BigIntegerField(default=0)
    created_at = DateTimeField(default=utcnow, index=True)
    updated_at = DateTimeField(default=utcnow)


class SpaceFile(BaseModel):
    id = IdField(primary_key=True, default=new_id)
    space = ForeignKeyField(Space, backref="files", on_delete="CASCADE")
    path = CharField(max_length=255)
    sha256 = CharField(max_length=64, index=True)
    size = BigIntegerField()
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("space", "path"), True),)
