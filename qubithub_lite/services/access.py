"""Who may see and change an owned resource (circuit, dataset, space).

A resource has an owner (the user who created it), optionally an
organization, and ``is_public``. Private resources are visible to their owner
and, for organization resources, to the organization's members; to everyone
else they do not exist (services raise NotFound, never Forbidden).
Members of any role may write an organization's resources; deleting one takes
its creator or an organization owner/admin.
"""

from __future__ import annotations

import logging
import re
from typing import Any, ClassVar, Protocol

from peewee import JOIN

from ..db.core import Db
from ..db.models import Membership, Organization, User
from ..errors import Conflict, Forbidden, NotFound
from ..logs import fields

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

WRITE_ROLES = ("owner", "admin", "member")
ADMIN_ROLES = ("owner", "admin")


class Owned(Protocol):
    owner_id: str
    organization_id: str | None
    is_public: bool


async def role_in(db: Db, user_id: str | None, organization_id: str | None) -> str | None:
    if user_id is None or organization_id is None:
        return None
    row = await db.first(
        Membership.select(Membership.role).where(
            (Membership.user == user_id) & (Membership.organization == organization_id)
        )
    )
    return row.role if row else None


async def member_org_ids(db: Db, user_id: str | None) -> list[str]:
    """Organizations whose private resources ``user_id`` may see (for list filters)."""
    if user_id is None:
        return []
    rows = await db.list(Membership.select(Membership.organization).where(Membership.user == user_id))
    return [r.organization_id for r in rows]


async def can_read(db: Db, user_id: str | None, res: Owned) -> bool:
    if res.is_public or (user_id is not None and res.owner_id == user_id):
        return True
    return await role_in(db, user_id, res.organization_id) is not None


async def ensure_readable(db: Db, user_id: str | None, res: Owned | None, what: str = "resource") -> None:
    if res is None or not await can_read(db, user_id, res):
        raise NotFound(f"{what} not found")


async def ensure_writable(db: Db, user_id: str, res: Owned, what: str = "resource", *, admin: bool = False) -> None:
    """Owner, or an org member (org owner/admin when ``admin``). Invisible → 404, visible → 403."""
    if res.owner_id == user_id:
        return
    role = await role_in(db, user_id, res.organization_id)
    if role in (ADMIN_ROLES if admin else WRITE_ROLES):
        return
    await ensure_readable(db, user_id, res, what)
    raise Forbidden(f"you do not have permission to change this {what}")


async def organization_for_create(db: Db, user_id: str, organization_name: str | None) -> Organization | None:
    """The organization a new resource goes under (None: personal). 403 if not a member."""
    if not organization_name:
        return None
    org = await Organization.aget_or_none(Organization.slug == organization_name)
    if org is None:
        raise NotFound(f"organization '{organization_name}' not found")
    role = await role_in(db, user_id, org.id)
    if role is None:
        raise Forbidden(f"you are not a member of organization '{organization_name}'")
    if org.is_personal:
        if role != "owner":
            raise Forbidden(f"'{organization_name}' is a personal namespace")
        return None  # one's own namespace: a personal resource
    return org


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

    async def get_visible(self, user_id: str | None, resource_id: str):
        """The resource if ``user_id`` may see it; NotFound otherwise (private stays invisible)."""
        resource = await self._load(resource_id)
        await ensure_readable(self.db, user_id, resource, self.noun)
        return resource

    async def _writable(self, user_id: str, resource_id: str, *, admin: bool = False):
        resource = await self._load(resource_id)
        if resource is None:
            raise NotFound(f"{self.noun} not found")
        await ensure_writable(self.db, user_id, resource, self.noun, admin=admin)
        return resource

    async def star(self, user: User, resource_id: str) -> dict[str, Any]:
        """Toggle the caller's star; the count is exact under concurrent toggles."""
        from . import social

        resource = await self.get_visible(user.id, resource_id)
        starred, count = await social.toggle_star(self.db, self.model, self.star_target, resource.id, user.id)
        return {"starred": starred, "stars_count": count}

    async def _fork_source(self, user: User, resource_id: str, name: str | None) -> tuple[Any, str, Conflict]:
        """The visible source of a fork, the fork's name, and the 409 for a name the caller already uses."""
        src = await self.get_visible(user.id, resource_id)
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
        """Delete a resource: its creator or an org owner/admin (see :meth:`_delete_row`)."""
        resource = await self._writable(user.id, resource_id, admin=True)
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
