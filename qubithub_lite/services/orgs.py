"""Organizations: creation, members and roles, profile counts, which resources an organization shows.

An organization's circuits, datasets and spaces are those created under it; a personal
organization (slug = username) shows its owner's personal resources. Members see them all,
everyone else only the public ones (:func:`visible_resources_of`). Who may do what is decided
by :mod:`.permissions` (``ORG_ACTIONS``, the last-owner rule)."""

from __future__ import annotations

from typing import Any

from peewee import IntegrityError

from ..db import accounts as accounts_db
from ..db.core import Db
from ..db.fields import new_id, utcnow
from ..db.models import ApiKey, Membership, Organization, User
from ..errors import BadRequest, Conflict, Forbidden, NotFound
from . import permissions

class Orgs:
    def __init__(self, db: Db, resource_models: dict[str, Any] | None = None):
        self.db = db
        #: name -> model (with owner, organization, is_public) of the resources a profile counts,
        #: given by the hub's wiring (``{"circuit": Circuit, "dataset": Dataset, "space": Space}``).
        self.resource_models: dict[str, Any] = dict(resource_models or {})

    async def create(self, user: Any, name: str, slug: str, description: str | None) -> Organization:
        permissions.ensure_personal(user, "create an organization")
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

    async def profile_counts(self, org: Organization, who: Any = None) -> dict[str, int]:
        """Members count every resource of the organization, others the public ones."""
        counts = {}
        for name, model in self.resource_models.items():
            where = await visible_resources_of(self.db, org, model, who)
            counts[f"{name}_count"] = await self.db.count(model.select(model.id).where(where))
        counts["member_count"] = await self.db.count(Membership.select().where(Membership.organization == org.id))
        return counts

    async def members(self, org: Organization) -> list[tuple[User, Membership]]:
        rows = await self.db.list(
            Membership.select(Membership, User).join(User).where(Membership.organization == org.id)
            .order_by(Membership.created_at, User.username)
        )
        return [(m.user, m) for m in rows]

    async def require(self, org: Organization, who: Any, action: str) -> str:
        """The role ``who`` takes ``action`` with (see :data:`permissions.ORG_ACTIONS`); 403 otherwise."""
        return await permissions.org_role_for(self.db, who, org, action)

    async def require_role(self, org: Organization, who: Any, roles: tuple[str, ...] | None = None) -> str:
        """``who``'s role in ``org`` if it is one of ``roles`` (any role when None); 403 otherwise.
        Prefer :meth:`require` (an action, so site-admin rules apply)."""
        role = await permissions.actor_role(self.db, who, org.id)
        if role is None:
            raise Forbidden("you are not a member of this organization")
        if roles is not None and role not in roles:
            raise Forbidden(f"this needs the {' or '.join(roles)} role in the organization")
        return role

    async def add_member(self, org: Organization, actor: Any, email: str, role: str) -> Membership:
        actor_role = await self.require(org, actor, "add_member")
        permissions.check_new_member_role(actor_role, role)
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
        return await accounts_db.owner_count(self.db, org.id)

    async def change_role(self, org: Organization, actor: Any, user_id: str, role: str) -> Membership:
        await self.require(org, actor, "change_role")
        async with self.db.tx():
            await self.db.serialize(f"org-owners:{org.id}")  # the last-owner rule holds under concurrency
            m = await self._membership(org, user_id)
            permissions.check_role_change(m.role, role, await self._owner_count(org))
            m.role = role
            await m.asave(only=[Membership.role])
        return m

    async def remove_member(self, org: Organization, actor: Any, user_id: str) -> None:
        actor_role = await self.require(org, actor, "leave" if actor.id == user_id else "remove_member")
        async with self.db.tx():
            await self.db.serialize(f"org-owners:{org.id}")
            m = await self._membership(org, user_id)
            permissions.check_removal(actor_role, m.role, await self._owner_count(org))
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


async def visible_resources_of(db: Db, org: Organization, model: Any, who: Any):
    """:func:`resources_of` that ``who`` may see, as :mod:`.permissions` decides for lists: all of
    them for a member (an organization key only in its own organization), everything for a site
    admin, otherwise the public ones and the caller's own."""
    where = await resources_of(db, org, model)
    return where & (await permissions.visibility(db, who)).where(model)
