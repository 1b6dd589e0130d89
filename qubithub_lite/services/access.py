"""Loading and access checks shared by the circuits, datasets and spaces services.

The rules themselves live in :mod:`.permissions` (the one permission service); the names
below are kept for the modules that import them from here.
"""

from __future__ import annotations

import logging
import re
from typing import Any, ClassVar

from peewee import JOIN

from ..db.core import Db
from ..db.models import Organization, User
from ..errors import Conflict
from ..logs import fields
from . import permissions as perms
from .permissions import (  # noqa: F401  (re-exported)
    ADMIN_ROLES, WRITE_ROLES, Owned, can_read, ensure_readable, member_org_ids, organization_for_create, role_in,
)

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


async def ensure_writable(db: Db, who: Any, res: Owned, what: str = "resource", *, admin: bool = False) -> None:
    """Write (``admin``: delete) permission; invisible → 404, visible → 403."""
    await perms.ensure(db, who, "delete" if admin else "write", res, what)


def owner_ref(user_id: str, username: str, name: str | None, avatar: str | None) -> dict[str, Any]:
    """How a card shows its owner."""
    return {"id": user_id, "username": username, "name": name, "avatar": avatar}


def org_ref(org_id: str | None, name: str | None, slug: str | None) -> dict[str, Any] | None:
    """How a card shows its organization (None for a personal resource)."""
    return {"id": org_id, "name": name, "slug": slug} if org_id is not None else None


class OwnedResources:
    """Loading and access checks shared by the circuits, datasets and spaces services.

    A subclass names its ``model`` (with ``owner`` and ``organization`` foreign keys) and the
    ``noun`` used in messages; rows come back joined with their owner and organization."""

    model: ClassVar[Any]
    noun: ClassVar[str]
    star_target: ClassVar[str]
    db: Db

    @classmethod
    def _query(cls, *columns):
        model = cls.model
        return (
            model.select(*(columns or (model,)), User.id, User.username, User.name, User.avatar,
                         Organization.id, Organization.name, Organization.slug)
            .join(User, on=(model.owner == User.id))
            .switch(model)
            .join(Organization, JOIN.LEFT_OUTER, on=(model.organization == Organization.id))
        )

    @staticmethod
    def repo_name(res) -> str:
        """``namespace/name``: the organization's slug, else the owner's username."""
        ns = res.organization.slug if res.organization is not None else res.owner.username
        return f"{ns}/{res.name}"

    def base_card(self, res, starred: bool | None) -> dict[str, Any]:
        """The fields every card shares (identity, owner, organization, stars, forks, dates);
        each service adds its own."""
        return {
            "id": res.id, "name": res.name, "slug": res.name, "repo_name": self.repo_name(res), "title": res.title,
            "description": res.description, "stars_count": res.stars_count, "forks_count": res.forks_count,
            "is_starred": starred, "is_public": res.is_public, "created_at": res.created_at,
            "updated_at": res.updated_at, "owner": owner_ref(res.owner.id, res.owner.username, res.owner.name, res.owner.avatar),
            "organization": org_ref(res.organization.id, res.organization.name, res.organization.slug)
            if res.organization is not None else None,
            "forked_from": res.forked_from_id,
        }

    async def _load(self, resource_id: str):
        if not UUID_RE.match(resource_id or ""):
            return None
        return await self.db.first(self._query().where(self.model.id == resource_id))

    async def get_visible(self, who: Any, resource_id: str):
        """The resource if ``who`` may see it; NotFound otherwise (private stays invisible)."""
        resource = await self._load(resource_id)
        await perms.ensure_readable(self.db, who, resource, self.noun)
        return resource

    async def _writable(self, who: Any, resource_id: str, *, admin: bool = False):
        """The resource if ``who`` may change it (``admin``: delete it); 404 / 403 otherwise."""
        resource = await self._load(resource_id)
        await perms.ensure(self.db, who, "delete" if admin else "write", resource, self.noun)
        return resource

    async def star(self, user: User, resource_id: str) -> dict[str, Any]:
        """Toggle the caller's star; the count is exact under concurrent toggles."""
        from . import social

        resource = await self.get_visible(user, resource_id)
        starred, count = await social.toggle_star(self.db, self.model, self.star_target, resource.id, user.id)
        return {"starred": starred, "stars_count": count}

    async def _fork_source(self, user: User, resource_id: str, name: str | None) -> tuple[Any, str, Conflict]:
        """The visible source of a fork, the fork's name, and the 409 for a name the caller already uses."""
        perms.ensure_personal(user, "fork into a personal namespace")
        src = await self.get_visible(user, resource_id)
        name = name or src.name
        taken = Conflict(f"you already have a {self.noun} named '{name}'")
        model = self.model
        if await self.db.exists(model.select().where((model.namespace_id == user.id) & (model.name == name))):
            raise taken
        return src, name, taken

    def _changing(self):
        """The write transaction of a change to these resources (circuits also drop list caches)."""
        return self.db.tx()

    async def delete(self, user: User, resource_id: str) -> None:
        """Delete a resource: its creator, an org owner/admin or a site admin (see :meth:`_delete_row`)."""
        resource = await self._writable(user, resource_id, admin=True)
        async with self._changing():
            await self._delete_row(resource)
        logging.getLogger(type(self).__module__).info(
            f"{self.noun}.deleted", extra=fields(**{f"{self.noun}_id": resource.id, "user_id": user.id}))
        await self.blobs.collect_garbage()

    async def _blob_refs(self, resource: Any) -> dict[str, int]:
        """sha256 -> how many references the resource holds (each service knows its file rows)."""
        raise NotImplementedError

    async def _delete_row(self, resource: Any) -> None:
        """Inside a write transaction: give back the resource's blob references and storage,
        drop its stars and its parent's fork count, and delete its row."""
        from ..storage import owner_key
        from . import social

        await self.blobs.release(await self._blob_refs(resource))
        await self.accounts.credit(owner_key(resource.owner_id, resource.organization_id), resource.storage_bytes)
        await social.delete_stars(self.db, self.star_target, resource.id)
        if resource.forked_from_id:
            await social.bump_counter(self.db, self.model, resource.forked_from_id, "forks_count", -1)
        await self.db.execute(self.model.delete().where(self.model.id == resource.id))
