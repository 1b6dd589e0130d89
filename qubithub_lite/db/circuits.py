"""Models for circuits and for the storage/social tables other resources share.

The schema is owned by ``db/migrations/m0002_circuits.py``; these classes must
describe it as that migration leaves it.

Shared (generic) tables:
- ``Blob``: one row per content-addressed file in the blob store, with a
  reference count (datasets and spaces reuse it through ``storage.BlobStore``).
- ``StorageUsage``: bytes charged to an owner (``user:<id>`` / ``org:<id>``).
- ``Star``: (target_type, target_id, user) — stars of circuits, datasets, spaces.

Circuit tables: ``Circuit`` (with ``runs_count``, maintained by the runs
engine), ``CircuitTag`` (one row per tag, for the ``tags`` filter),
``CircuitVersion`` (immutable: commit hash, parent, message) and
``CircuitFile`` (the version's tree: path → blob sha256, size).
"""

from __future__ import annotations

from peewee import (
    BigIntegerField, BlobField, BooleanField, CharField, DateTimeField, ForeignKeyField, IntegerField, TextField,
)

from .fields import IdField, JSONField, new_id, utcnow
from .models import BaseModel, User
from .namespaced import NamespacedRepo


class Blob(BaseModel):
    sha256 = CharField(max_length=64, primary_key=True)
    size = BigIntegerField()
    ref_count = IntegerField(default=0, index=True)
    created_at = DateTimeField(default=utcnow)


class StorageUsage(BaseModel):
    owner_key = CharField(max_length=48, primary_key=True)  # "user:<uuid>" | "org:<uuid>"
    bytes_used = BigIntegerField(default=0)
    updated_at = DateTimeField(default=utcnow)


class Star(BaseModel):
    id = IdField(primary_key=True, default=new_id)
    target_type = CharField(max_length=16)
    target_id = CharField(max_length=36)
    user = ForeignKeyField(User, backref="stars", on_delete="CASCADE")
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("target_type", "target_id", "user"), True),)


class Circuit(NamespacedRepo):
    framework = CharField(max_length=20, index=True)
    tags = JSONField(default=list)
    qubits = IntegerField(default=0, index=True)
    gates = JSONField(null=True)
    depth = IntegerField(null=True)
    category = CharField(max_length=100, null=True)
    difficulty = CharField(max_length=20, null=True)
    is_public = BooleanField(default=True)
    extra_metadata = JSONField(null=True)
    manifest = JSONField(null=True)
    forked_from = ForeignKeyField("self", null=True, backref="forks", on_delete="SET NULL")
    stars_count = IntegerField(default=0, index=True)
    views_count = IntegerField(default=0, index=True)
    forks_count = IntegerField(default=0, index=True)
    runs_count = IntegerField(default=0, index=True)
    storage_bytes = BigIntegerField(default=0)
    created_at = DateTimeField(default=utcnow, index=True)
    updated_at = DateTimeField(default=utcnow, index=True)
    #: SQLite: the rowid of this circuit's ``circuit_fts`` row (numbered by a trigger; m0017).
    search_rowid = BigIntegerField(null=True, unique=True)

    class Meta:
        indexes = ((("namespace_id", "name"), True), (("name",), False)) + tuple(
            (("is_public", col), False) for col in ("created_at", "updated_at", "name")
        ) + tuple(  # m0019: the tie-breaker too, for the columns with many equal values
            (("is_public", col, "id"), False) for col in ("stars_count", "views_count", "runs_count", "forks_count", "qubits")
        ) + ((("owner", "is_public"), False), (("organization", "is_public"), False))  # m0014


class CircuitTag(BaseModel):
    circuit = ForeignKeyField(Circuit, backref="tag_rows", on_delete="CASCADE")
    tag = CharField(max_length=50, index=True)

    class Meta:
        indexes = ((("circuit", "tag"), True),)


class CircuitVersion(BaseModel):
    id = IdField(primary_key=True, default=new_id)
    circuit = ForeignKeyField(Circuit, backref="versions", on_delete="CASCADE")
    version_number = IntegerField()
    commit_hash = CharField(max_length=64)
    parent_hash = CharField(max_length=64, null=True)
    tree_hash = CharField(max_length=64)
    commit_message = TextField(null=True)
    file_path = CharField(max_length=600)
    file_size = BigIntegerField(default=0)
    created_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
    created_at = DateTimeField(default=utcnow)
    #: The version's git commit (sha1) and its raw commit + tree objects (zlib), set once
    #: (``services/git_objects.py``; migration m0009).
    git_commit = CharField(max_length=40, null=True, index=True)
    git_objects = BlobField(null=True)

    class Meta:
        indexes = ((("circuit", "version_number"), True),)


class CircuitFile(BaseModel):
    version = ForeignKeyField(CircuitVersion, backref="files", on_delete="CASCADE")
    path = CharField(max_length=255)
    sha256 = CharField(max_length=64, index=True)
    size = BigIntegerField()
    kind = CharField(max_length=16)

    class Meta:
        indexes = ((("version", "path"), True),)


class GitBlob(BaseModel):
    """The git blob id (sha1) of stored content (sha256): computed once, shared by every circuit."""
    sha256 = CharField(max_length=64, primary_key=True)
    sha1 = CharField(max_length=40, index=True)

    class Meta:
        table_name = "git_blob"
