"""Models for datasets. The schema is owned by ``db/migrations/m0005_datasets.py``;
these classes must describe it as that migration leaves it.

- ``Dataset``: metadata, counters (stars/forks/downloads) and ``storage_bytes``
  (bytes charged to its owner: the distinct blobs of its versions).
- ``DatasetLabel``: one row per tag (``kind="tag"``) or task category
  (``kind="task"``), for the repeatable list filters.
- ``DatasetVersion``: immutable; one file per version, stored in the shared
  content-addressed blob store (``sha256``: one reference per version row).
  ``total_rows`` is computed once, when the version is created, and stored.

Stars use the shared ``star`` table (``target_type="dataset"``); blobs and
storage usage the shared tables of ``db/circuits.py``.
"""

from __future__ import annotations

from peewee import BigIntegerField, BooleanField, CharField, DateTimeField, ForeignKeyField, IntegerField, TextField

from .fields import IdField, JSONField, new_id, utcnow
from .models import BaseModel, User
from .namespaced import NamespacedRepo

STAR_TARGET = "dataset"


class Dataset(NamespacedRepo):
    format = CharField(max_length=10, index=True)
    tags = JSONField(default=list)
    task_categories = JSONField(default=list)
    license = CharField(max_length=100, null=True)
    citation = TextField(null=True)
    is_public = BooleanField(default=True, index=True)
    forked_from = ForeignKeyField("self", null=True, backref="forks", on_delete="SET NULL")
    forked_from_version = CharField(max_length=36, null=True, index=True)
    stars_count = IntegerField(default=0)
    forks_count = IntegerField(default=0)
    downloads_count = IntegerField(default=0)
    storage_bytes = BigIntegerField(default=0)
    #: The latest version: its number (0: none yet) and file size.
    latest_version_number = IntegerField(default=0)
    size_bytes = BigIntegerField(default=0)
    created_at = DateTimeField(default=utcnow, index=True)
    updated_at = DateTimeField(default=utcnow)


class DatasetLabel(BaseModel):
    dataset = ForeignKeyField(Dataset, backref="labels", on_delete="CASCADE")
    kind = CharField(max_length=8)  # "tag" | "task"
    value = CharField(max_length=50)

    class Meta:
        indexes = ((("dataset", "kind", "value"), True), (("kind", "value"), False))


class DatasetVersion(BaseModel):
    id = IdField(primary_key=True, default=new_id)
    dataset = ForeignKeyField(Dataset, backref="versions", on_delete="CASCADE")
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
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("dataset", "version_number"), True),)
