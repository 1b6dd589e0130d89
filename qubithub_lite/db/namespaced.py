"""The base of the circuit, dataset and space models: the columns their tables begin with."""

from __future__ import annotations

from peewee import CharField, ForeignKeyField, TextField

from .fields import IdField, new_id
from .models import BaseModel, Organization, User


def _plural_backref(fk: ForeignKeyField) -> str:
    """``user.circuits``, ``organization.datasets``: the subclass's table name in the plural."""
    name = fk.model._meta.table_name
    return "+" if name == "namespaced_repo" else f"{name}s"


class NamespacedRepo(BaseModel):
    """The leading columns of the circuit, dataset and space tables (each its own table; this
    class has none): a name unique in its namespace, the owner and organization, title and
    description."""

    id = IdField(primary_key=True, default=new_id)
    name = CharField(max_length=100)
    #: The namespace the name is unique in: the organization id, else the owner's id.
    namespace_id = CharField(max_length=36)
    owner = ForeignKeyField(User, backref=_plural_backref, on_delete="CASCADE")
    organization = ForeignKeyField(Organization, null=True, backref=_plural_backref, on_delete="CASCADE")
    title = CharField(max_length=500)
    description = TextField(null=True)

    class Meta:
        indexes = ((("namespace_id", "name"), True),)
