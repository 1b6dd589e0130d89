"""The permission service: every "may this caller do that?" question has its answer here.

Who asks is an :class:`Actor`: a user (or nobody), reached through a JWT session, a
personal API key or an organization API key, possibly a site admin. The rules
(``docs/permissions.md`` says the same in prose):

Resources (circuits, datasets, spaces)
    *read*: public ones, one's own, and those of one's organizations; *write* (edit,
    upload, run code in a space): the creator or any member of its organization;
    *delete*: the creator or an organization owner/admin. Private things are invisible
    to whoever may not read them (404, never 403).
Organizations (:data:`ORG_ACTIONS`)
    a *member* creates and edits the organization's resources and sees its members and
    keys; an *admin* also manages members and keys; an *owner* may do everything
    (and alone adds owners and changes roles). The last owner can never be removed or
    demoted.
Runs
    a run is seen by its submitter and by whoever may read its circuit; it is cancelled or
    deleted by its submitter.
API keys
    a key acts only within its scopes; creating a key needs ``keys:manage``, and a key can
    never create a key with a scope it lacks, a longer life than its own or a higher rate
    limit than its user's. An **organization key** acts only on its organization's
    resources and on public ones: never on its creator's personal resources, personal
    keys or other organizations.
Site admins (``users create --admin``)
    see every resource, private ones included (get and list), and moderate it: delete
    circuits, datasets and spaces, cancel and delete runs; they also see every
    organization's members and keys and revoke keys. They do not edit other people's
    content. Their powers come with their session or a personal key (within its scopes),
    never through an organization key. :func:`is_site_admin` is the one test.

Services ask through the functions below and never look at roles themselves.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Protocol

from ..db import resources as resource_queries
from ..db.core import Db
from ..db.models import ApiKey, Membership, Organization, User
from ..errors import BadRequest, Forbidden, NotFound

ROLES = ("owner", "admin", "member")
WRITE_ROLES = ROLES
ADMIN_ROLES = ("owner", "admin")

#: Organization actions -> the roles that may take them.
ORG_ACTIONS: dict[str, tuple[str, ...]] = {
    "view_members": ROLES,
    "view_keys": ROLES,
    "add_member": ADMIN_ROLES,
    "remove_member": ADMIN_ROLES,
    "change_role": ("owner",),
    "manage_keys": ADMIN_ROLES,
    "revoke_key": ADMIN_ROLES,
}
#: Organization actions a site admin may take in any organization.
SITE_ADMIN_ORG_ACTIONS = frozenset({"view_members", "view_keys", "revoke_key"})


class Owned(Protocol):
    owner_id: str
    organization_id: str | None
    is_public: bool


@dataclass(frozen=True)
class Actor:
    """Who is calling, as far as permissions go.

    ``key`` is the API key the request came with (None for a session); a key with an
    ``organization_id`` is an organization key and confines the actor to that organization."""

    user: User | None = None
    key: ApiKey | None = None

    @property
    def user_id(self) -> str | None:
        return self.user.id if self.user is not None else None

    @property
    def id(self) -> str | None:
        """The user's id: services take an Actor wherever they take the calling user."""
        return self.user_id

    @property
    def key_org_id(self) -> str | None:
        """The organization an organization key confines this actor to (None: not confined)."""
        return self.key.organization_id if self.key is not None else None

    @property
    def confined(self) -> bool:
        return self.key is not None and self.key.organization_id is not None

    @property
    def site_admin(self) -> bool:
        return is_site_admin(self)

    def has_scope(self, scope: str) -> bool:
        return self.key is None or scope in (self.key.scopes or [])


ANONYMOUS = Actor()


def actor(who: Any) -> Actor:
    """An :class:`Actor` from whatever a caller holds: an Actor, a ``Principal`` (user and
    key), a ``User`` (a session), a user id (a session of that user, no site-admin powers:
    internal callers) or None (anonymous)."""
    if isinstance(who, Actor):
        return who
    if who is None:
        return ANONYMOUS
    if isinstance(who, User):
        return Actor(who)
    if isinstance(who, str):
        return Actor(User(id=who, is_admin=False))
    user, key = getattr(who, "user", None), getattr(who, "api_key", None)
    if isinstance(user, User):
        return Actor(user, key)
    raise TypeError(f"not a caller: {who!r}")


def user_id_of(who: Any) -> str | None:
    return actor(who).user_id


def is_site_admin(who: Any) -> bool:
    """Whether ``who`` (a User, Principal or Actor) acts with site-admin powers: an active user
    flagged admin, through a session or a personal key (never an organization key)."""
    if who is None:
        return False
    a = who if isinstance(who, Actor) else actor(who)
    user = a.user
    return bool(user is not None and user.is_admin and getattr(user, "is_active", True) and not a.confined)


# Organization roles -------------------------------------------------------------------
async def role_in(db: Db, user_id: str | None, organization_id: str | None) -> str | None:
    if user_id is None or organization_id is None:
        return None
    row = await db.first(
        Membership.select(Membership.role).where(
            (Membership.user == user_id) & (Membership.organization == organization_id)
        )
    )
    return row.role if row else None


async def actor_role(db: Db, who: Any, organization_id: str | None) -> str | None:
    """``who``'s role in an organization; None for non-members and for an organization key
    used on another organization."""
    a = actor(who)
    if a.confined and a.key_org_id != organization_id:
        return None
    return await role_in(db, a.user_id, organization_id)


async def member_org_ids(db: Db, user_id: str | None) -> list[str]:
    """Organizations whose private resources ``user_id`` may see (for list filters)."""
    if user_id is None:
        return []
    return await resource_queries.member_org_ids(db, user_id)


@dataclass(frozen=True)
class Visibility:
    """What a list shows a caller: everything (site admin), or public rows plus those owned by
    ``owner_id`` (None: none) plus those of the organizations ``org_ids``."""

    everything: bool = False
    owner_id: str | None = None
    org_ids: tuple[str, ...] = ()

    @property
    def key(self) -> tuple:
        """Hashable and equal for callers who see the same rows (a cache key)."""
        return (self.everything, self.owner_id, self.org_ids)

    @property
    def public_only(self) -> bool:
        return not self.everything and self.owner_id is None and not self.org_ids

    def where(self, model):
        """The peewee condition selecting the visible rows of ``model`` (with ``is_public``,
        ``owner`` and ``organization``)."""
        if self.everything:
            return model.id.is_null(False)
        cond = model.is_public == True  # noqa: E712
        if self.owner_id is not None:
            cond |= model.owner == self.owner_id
        if self.org_ids:
            cond |= model.organization.in_(list(self.org_ids))
        return cond

    def branches(self, model) -> list:
        """:meth:`where` as disjoint conditions, each served by an index of its own (public
        rows; the caller's private ones; the private ones of the caller's organizations that
        are not the caller's): a list can take the first rows of each branch in index order
        and merge them (a UNION of index scans) instead of sorting every visible row. Their
        union is exactly :meth:`where`."""
        if self.everything:
            return [model.id.is_null(False)]
        private = model.is_public == False  # noqa: E712  (not ``~public``: that reads no index)
        branches = [model.is_public == True]  # noqa: E712
        if self.owner_id is not None:
            branches.append(private & (model.owner == self.owner_id))
        if self.org_ids:
            mine = model.organization.in_(list(self.org_ids)) & private
            branches.append(mine & (model.owner != self.owner_id) if self.owner_id is not None else mine)
        return branches


async def visibility(db: Db, who: Any) -> Visibility:
    a = actor(who)
    if a.user is None:
        return Visibility()
    if is_site_admin(a):
        return Visibility(everything=True)
    if a.confined:
        role = await role_in(db, a.user_id, a.key_org_id)
        return Visibility(org_ids=(a.key_org_id,) if role is not None else ())
    return Visibility(owner_id=a.user_id, org_ids=tuple(await member_org_ids(db, a.user_id)))


# Resources ----------------------------------------------------------------------------
def _owns(a: Actor, res: Owned) -> bool:
    """The actor acts as the resource's creator: an organization key only inside its organization."""
    if a.user_id is None or res.owner_id != a.user_id:
        return False
    return not a.confined or res.organization_id == a.key_org_id


async def can_read(db: Db, who: Any, res: Owned) -> bool:
    a = actor(who)
    if res.is_public or _owns(a, res) or is_site_admin(a):
        return True
    return await actor_role(db, a, res.organization_id) is not None


async def ensure_readable(db: Db, who: Any, res: Owned | None, what: str = "resource") -> None:
    if res is None or not await can_read(db, who, res):
        raise NotFound(f"{what} not found")


async def can(db: Db, who: Any, action: str, res: Owned) -> bool:
    """``action`` is ``read``, ``write`` (edit, upload, run code) or ``delete``."""
    if action == "read":
        return await can_read(db, who, res)
    a = actor(who)
    if _owns(a, res):
        return True
    if action == "delete" and is_site_admin(a):
        return True
    role = await actor_role(db, a, res.organization_id)
    return role in (ADMIN_ROLES if action == "delete" else WRITE_ROLES)


async def ensure(db: Db, who: Any, action: str, res: Owned | None, what: str = "resource") -> None:
    """Raise unless ``who`` may take ``action`` on ``res``: NotFound when it may not even see it,
    Forbidden when it may see it only."""
    if res is None:
        raise NotFound(f"{what} not found")
    if await can(db, who, action, res):
        return
    await ensure_readable(db, who, res, what)
    verb = "delete" if action == "delete" else "change"
    raise Forbidden(f"you do not have permission to {verb} this {what}")


def ensure_personal(who: Any, doing: str) -> None:
    """Refuse what only acts in the caller's personal space (forks, personal keys, personal
    statistics, new organizations) to an organization key."""
    if actor(who).confined:
        raise Forbidden(f"an organization API key cannot {doing}; use a personal key or a session")


async def organization_for_create(db: Db, who: Any, organization_name: str | None) -> Organization | None:
    """The organization a new resource goes under (None: personal). 403 if not a member.

    An organization key creates in its organization (the default) and nowhere else."""
    a = actor(who)
    if a.confined:
        org = await Organization.aget_or_none(Organization.id == a.key_org_id)
        if org is None or (organization_name and organization_name != org.slug):
            raise Forbidden("an organization API key creates only in its own organization")
        if await role_in(db, a.user_id, org.id) not in WRITE_ROLES or org.is_personal:
            raise Forbidden(f"you are not a member of organization '{org.slug}'")
        return org
    if not organization_name:
        return None
    org = await Organization.aget_or_none(Organization.slug == organization_name)
    if org is None:
        raise NotFound(f"organization '{organization_name}' not found")
    role = await role_in(db, a.user_id, org.id)
    if role not in WRITE_ROLES:
        raise Forbidden(f"you are not a member of organization '{organization_name}'")
    if org.is_personal:
        if role != "owner":
            raise Forbidden(f"'{organization_name}' is a personal namespace")
        return None  # one's own namespace: a personal resource
    return org


# Organizations --------------------------------------------------------------------------
async def org_role_for(db: Db, who: Any, org: Organization, action: str) -> str | None:
    """The role ``who`` takes ``action`` with in ``org`` (``"site_admin"`` for a site admin
    acting outside their own roles); Forbidden if it may not."""
    a = actor(who)
    if a.confined and a.key_org_id != org.id:
        raise Forbidden("this API key belongs to another organization")
    role = await role_in(db, a.user_id, org.id)
    if role is not None and (action == "leave" or role in ORG_ACTIONS.get(action, ())):
        return role
    if action in SITE_ADMIN_ORG_ACTIONS and is_site_admin(a):
        return "site_admin"
    if role is None:
        raise Forbidden("you are not a member of this organization")
    roles = ORG_ACTIONS.get(action, ADMIN_ROLES)
    raise Forbidden(f"this needs the {' or '.join(roles)} role in the organization")


def check_new_member_role(actor_role: str, role: str) -> None:
    if role not in ROLES:
        raise BadRequest(f"role must be one of {', '.join(ROLES)}")
    if role == "owner" and actor_role != "owner":
        raise Forbidden("only an owner can add another owner")


def check_role_change(target_role: str, new_role: str, owners: int) -> None:
    """Inside the transaction that changes it (``owners``: the organization's owner count)."""
    if target_role == "owner" and new_role != "owner" and owners <= 1:
        raise BadRequest("cannot demote the last owner")


def check_removal(actor_role: str, target_role: str, owners: int) -> None:
    """Inside the transaction that removes the member."""
    if target_role == "owner" and actor_role != "owner":
        raise Forbidden("only an owner can remove an owner")
    if target_role == "owner" and owners <= 1:
        raise BadRequest("cannot remove the last owner")


# API keys -----------------------------------------------------------------------------
def check_key_grant(who: Any, scopes: list[str], expires_at: dt.datetime | None, rate_limit: int,
                    user_limit: int, *, organization: Organization | None = None) -> None:
    """May ``who`` create a key with these scopes, expiry and rate limit (in ``organization``,
    else a personal key)? A key never hands out more than it holds; nobody gets a key
    faster than their own limit."""
    a = actor(who)
    if organization is None:
        ensure_personal(a, "create or manage personal API keys")
    elif organization.is_personal:
        raise BadRequest("a personal organization has no organization keys; create a personal key with POST /api-keys")
    if a.key is not None:
        missing = [s for s in scopes if s not in (a.key.scopes or [])]
        if missing:
            raise Forbidden(f"an API key cannot grant scopes it does not hold: {', '.join(missing)}")
        if a.key.expires_at is not None and (expires_at is None or expires_at > a.key.expires_at):
            raise Forbidden("an API key cannot create a key that outlives it")
        if rate_limit > a.key.rate_limit_per_minute:
            raise Forbidden(f"an API key cannot create a key with a higher rate limit than its own "
                            f"({a.key.rate_limit_per_minute}/min)")
    if rate_limit > user_limit:
        raise BadRequest(f"rate_limit_per_minute cannot exceed your own limit ({user_limit}/min)")


# Runs ---------------------------------------------------------------------------------
async def can_see_run(db: Db, who: Any, run_user_id: str, circuit: Owned | None) -> bool:
    """Its submitter (through a personal credential, or an organization key on that
    organization's circuit), a site admin, or whoever may read its circuit."""
    a = actor(who)
    if circuit is None:
        return False
    if a.user_id is not None and run_user_id == a.user_id and (not a.confined or circuit.organization_id == a.key_org_id):
        return True
    return await can_read(db, a, circuit)


def ensure_run_control(who: Any, run_user_id: str, circuit_org_id: str | None = None) -> None:
    """Cancel or delete a run (already known visible): its submitter or a site admin; through an
    organization key, only runs of that organization's circuits (``circuit_org_id``)."""
    a = actor(who)
    if a.user_id is not None and run_user_id == a.user_id and (not a.confined or circuit_org_id == a.key_org_id):
        return
    if is_site_admin(a):
        return
    raise Forbidden("only the user who submitted a run (or a site admin) can cancel or delete it")
