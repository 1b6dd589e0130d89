"""/orgs: organization profile, members and organization API keys.

``POST /orgs`` (not in the hosted reference) lets a lab create an organization;
the creator becomes its owner. Organization keys act with the rights of the
member who created them, only on the organization's (and public) resources, and
stop working when that member leaves. Role rules: ``services/permissions.py``.
"""

from __future__ import annotations

from ..schemas.api_keys import ApiKeyCreateRequest, ApiKeyCreateResponse, ApiKeyList
from ..schemas.orgs import (
    Member, MemberAdd, MemberList, MemberUpdate, OrganizationCreate, OrganizationProfile, PublicMember,
)
from .routing import Ctx, Router

router = Router("organizations")


async def _profile(ctx: Ctx, org) -> OrganizationProfile:
    counts = await ctx.hub.orgs.profile_counts(org, ctx.actor)
    return OrganizationProfile(id=org.id, name=org.name, slug=org.slug, description=org.description,
                               avatar_url=org.avatar_url, created_at=org.created_at, **counts)


def _member(user, membership) -> Member:
    return Member(user_id=user.id, username=user.username, email=user.email, full_name=user.name,
                  avatar=user.avatar, role=membership.role, joined_at=membership.created_at)


@router.post("/orgs", body=OrganizationCreate, response=OrganizationProfile, status=201, auth="user", scope="org:write")
async def create_org(ctx: Ctx):
    """Create an organization; you become its owner."""
    b: OrganizationCreate = ctx.body
    return await _profile(ctx, await ctx.hub.orgs.create(ctx.actor, b.name, b.slug, b.description))


@router.get("/orgs/{slug}/profile", response=OrganizationProfile)
async def org_profile(ctx: Ctx):
    """Organization info with counts of its resources (members: all; others: public) and members."""
    return await _profile(ctx, await ctx.hub.orgs.by_slug(ctx.path["slug"]))


@router.get("/orgs/{slug}/public-members", response=list[PublicMember])
async def org_public_members(ctx: Ctx):
    """Members without email addresses."""
    org = await ctx.hub.orgs.by_slug(ctx.path["slug"])
    return [PublicMember(username=u.username, full_name=u.name, avatar=u.avatar, role=m.role)
            for u, m in await ctx.hub.orgs.members(org)]


@router.get("/orgs/{org_id}/members", response=MemberList, auth="user", scope="org:read", errors=(403,))
async def org_members(ctx: Ctx):
    """Full member details (members and site admins)."""
    org = await ctx.hub.orgs.by_id(ctx.path["org_id"])
    await ctx.hub.orgs.require(org, ctx.actor, "view_members")
    members = [_member(u, m) for u, m in await ctx.hub.orgs.members(org)]
    return MemberList(members=members, total=len(members))


@router.post("/orgs/{org_id}/members", body=MemberAdd, response=Member, status=201, auth="user", scope="org:write",
             errors=(403, 409))
async def org_add_member(ctx: Ctx):
    """Add a registered user by email (admin or owner)."""
    org = await ctx.hub.orgs.by_id(ctx.path["org_id"])
    m = await ctx.hub.orgs.add_member(org, ctx.actor, ctx.body.email, ctx.body.role)
    user = next(u for u, mm in await ctx.hub.orgs.members(org) if mm.id == m.id)
    return _member(user, m)


@router.patch("/orgs/{org_id}/members/{user_id}", body=MemberUpdate, response=Member, auth="user", scope="org:write",
              errors=(403,))
async def org_change_role(ctx: Ctx):
    """Change a member's role (owner)."""
    org = await ctx.hub.orgs.by_id(ctx.path["org_id"])
    m = await ctx.hub.orgs.change_role(org, ctx.actor, ctx.path["user_id"], ctx.body.role)
    user = next(u for u, mm in await ctx.hub.orgs.members(org) if mm.id == m.id)
    return _member(user, m)


@router.delete("/orgs/{org_id}/members/{user_id}", status=204, auth="user", scope="org:write", errors=(400, 403))
async def org_remove_member(ctx: Ctx):
    """Remove a member (admin or owner; anyone may leave). The last owner stays."""
    org = await ctx.hub.orgs.by_id(ctx.path["org_id"])
    await ctx.hub.orgs.remove_member(org, ctx.actor, ctx.path["user_id"])


@router.get("/orgs/{org_id}/keys", response=ApiKeyList, auth="user", scope="org:read", errors=(403,))
async def org_keys(ctx: Ctx):
    """The organization's API keys (members and site admins; no secrets)."""
    org = await ctx.hub.orgs.by_id(ctx.path["org_id"])
    await ctx.hub.orgs.require(org, ctx.actor, "view_keys")
    keys = await ctx.hub.orgs.keys(org)
    return {"api_keys": keys, "total": len(keys)}


@router.post("/orgs/{org_id}/keys", body=ApiKeyCreateRequest, response=ApiKeyCreateResponse, status=201, auth="user",
             scope="keys:manage", errors=(400, 403))
async def org_create_key(ctx: Ctx):
    """Create an organization API key (admin or owner); shown once. A key creating a key grants at most its own
    scopes, life and rate limit."""
    org = await ctx.hub.orgs.by_id(ctx.path["org_id"])
    await ctx.hub.orgs.require(org, ctx.actor, "manage_keys")
    key, plaintext = await ctx.hub.api_keys.create(ctx.actor, ctx.body, org, user_limit=ctx.hub.limiter.user_limit(ctx.user))
    return ApiKeyCreateResponse(
        id=key.id, name=key.name, key=plaintext, key_prefix=key.key_prefix, scopes=key.scopes,
        rate_limit_per_minute=key.rate_limit_per_minute, created_at=key.created_at, expires_at=key.expires_at,
    )


@router.delete("/orgs/{org_id}/keys/{key_id}", status=204, auth="user", scope="keys:manage", errors=(403,))
async def org_revoke_key(ctx: Ctx):
    """Revoke an organization API key (admin or owner, or a site admin)."""
    org = await ctx.hub.orgs.by_id(ctx.path["org_id"])
    await ctx.hub.orgs.require(org, ctx.actor, "revoke_key")
    await ctx.hub.api_keys.revoke(await ctx.hub.orgs.key(org, ctx.path["key_id"]))
