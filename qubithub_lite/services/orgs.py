"""Organizations: creation, members and roles, profile counts, which resources an organization shows.

An organization's circuits, datasets and spaces are those created under it; a personal
organization (slug = username) shows its owner's personal resources. Members see them all,
everyone else only the public ones (:func:`visible_resources_of`)."""

from __future__ import annotations

from typing import Any

from peewee import IntegrityError, fn

from ..db.core import Db
from ..db.fields import new_id, utcnow
from ..db.models import ApiKey, Membership, Organization, User
from ..errors import BadRequest, Conflict, Forbidden, NotFound
from .access import ADMIN_ROLES, role_in

class Orgs:
    def __init__(self, db: Db):
        self.db = db
        #: name -> model (with owner, organization, is_public) of the resources a profile counts;
        #: resource modules register theirs.
        self.resource_models: dict[str, Any] = {}

    async def create(self, user: User, name: str, slug: str, description: str | None) -> Organization:
        taken = await self.db.exists(Organization.select().where(Organization.slug == slug)) or await self.db.exists(
            User.select().where(User.username == slug)
        )
        if taken:
            raise BadRequest(f"the name '{slug}' is already taken")
        now = utcnow()
        try:
            async with self.db.tx():
                org = await Organization.acreate(id=new_id(), name=name, slug=slug, description=description,
                                                 is_personal=False, created_at=now)
                await Membership.acreate(id=new_id(), organization=org, user=user.id, role="owner", created_at=now)
        except IntegrityError:
            raise BadRequest(f"the name '{slug}' is already taken") from None
        return org

    async def by_slug(self, slug: str) -> Organization:
        org = await Organization.aget_or_none(Organization.slug == slug)
        if org is None:
            raise NotFound("organization not found")
        return org

    async def by_id(self, org_id: str) -> Organization:
        org = await Organization.aget_or_none(Organization.id == org_id)
        if org is None:
            raise NotFound("organization not found")
        return org

    async def profile_counts(self, org: Organization, viewer_id: str | None = None) -> dict[str, int]:
        """Members count every resource of the organization, others the public ones."""
        counts = {}
        for name, model in self.resource_models.items():
            where = await visible_resources_of(self.db, org, model, viewer_id)
            counts[f"{name}_count"] = await self.db.count(model.select(model.id).where(where))
        counts["member_count"] = await self.db.count(Membership.select().where(Membership.organization == org.id))
        return counts

    async def members(self, org: Organization) -> list[tuple[User, Membership]]:
        rows = await self.db.list(
            Membership.select(Membership, User).join(User).where(Membership.organization == org.id)
            .order_by(Membership.created_at, User.username)
        )
        return [(m.user, m) for m in rows]

    async def require_role(self, org: Organization, user: User, roles: tuple[str, ...] | None = None) -> str:
        role = await role_in(self.db, user.id, org.id)
        if role is None:
            raise Forbidden("you are not a member of this organization")
        if roles is not None and role not in roles:
            raise Forbidden(f"this needs the {' or '.join(roles)} role in the organization")
        return role

    async def add_member(self, org: Organization, actor: User, email: str, role: str) -> Membership:
        actor_role = await self.require_role(org, actor, ADMIN_ROLES)
        if role == "owner" and actor_role != "owner":
            raise Forbidden("only an owner can add another owner")
        if org.is_personal:
            raise BadRequest("a personal organization has no other members; create an organization instead")
        user = await User.aget_or_none(User.email == email)
        if user is None:
            raise NotFound("no user with that email")
        try:
            async with self.db.tx():
                return await Membership.acreate(id=new_id(), organization=org.id, user=user.id, role=role, created_at=utcnow())
        except IntegrityError:
            raise Conflict("that user is already a member") from None

    async def _membership(self, org: Organization, user_id: str) -> Membership:
        m = await Membership.aget_or_none((Membership.organization == org.id) & (Membership.user == user_id))
        if m is None:
            raise NotFound("member not found")
        return m

    async def _owner_count(self, org: Organization) -> int:
        return await self.db.scalar(
            Membership.select(fn.COUNT(Membership.id)).where((Membership.organization == org.id) & (Membership.role == "owner"))
        )

    async def change_role(self, org: Organization, actor: User, user_id: str, role: str) -> Membership:
        await self.require_role(org, actor, ("owner",))
        async with self.db.tx():
            m = await self._membership(org, user_id)
            if m.role == "owner" and role != "owner" and await self._owner_count(org) <= 1:
                raise BadRequest("cannot demote the last owner")
            m.role = role
            await m.asave(only=[Membership.role])
        return m

    async def remove_member(self, org: Organization, actor: User, user_id: str) -> None:
        actor_role = await self.require_role(org, actor, ADMIN_ROLES if actor.id != user_id else None)
        async with self.db.tx():
            m = await self._membership(org, user_id)
            if m.role == "owner" and actor_role != "owner":
                raise Forbidden("only an owner can remove an owner")
            if m.role == "owner" and await self._owner_count(org) <= 1:
                raise BadRequest("cannot remove the last owner")
            await m.adelete_instance()
            # Keys made for the organization by this member stop working with their membership.
            await self.db.execute(ApiKey.update(is_active=False).where(
                (ApiKey.organization == org.id) & (ApiKey.user == user_id)))

    async def keys(self, org: Organization) -> list[ApiKey]:
        return await self.db.list(ApiKey.select().where(ApiKey.organization == org.id).order_by(ApiKey.created_at.desc()))

    async def key(self, org: Organization, key_id: str) -> ApiKey:
        key = await ApiKey.aget_or_none((ApiKey.id == key_id) & (ApiKey.organization == org.id))
        if key is None:
            raise NotFound("API key not found")
        return key


async def personal_owner_id(db: Db, org: Organization) -> str | None:
    """The user whose personal organization this is."""
    row = await db.first(Membership.select(Membership.user).where(
        (Membership.organization == org.id) & (Membership.role == "owner")).order_by(Membership.created_at))
    return row.user_id if row else None


async def resources_of(db: Db, org: Organization, model: Any):
    """The condition selecting an organization's resources of ``model``; for a personal
    organization, its owner's personal resources (no organization)."""
    if org.is_personal:
        return model.organization.is_null() & (model.owner == await personal_owner_id(db, org))
    return model.organization == org.id


async def visible_resources_of(db: Db, org: Organization, model: Any, viewer_id: str | None):
    """:func:`resources_of` that ``viewer_id`` may see: all of them for a member, otherwise
    the public ones and the viewer's own (as :func:`.access.can_read` decides for one)."""
    where = await resources_of(db, org, model)
    if await role_in(db, viewer_id, org.id) is None:
        visible = model.is_public == True  # noqa: E712
        if viewer_id is not None:
            visible |= model.owner == viewer_id
        where &= visible
    return where
