"""/api-keys: create (shown once), list, get, revoke."""

from __future__ import annotations

from ..schemas.api_keys import ApiKeyCreateRequest, ApiKeyCreateResponse, ApiKeyList, ApiKeyResponse
from .routing import Ctx, Router

router = Router("api-keys")
SCOPE = "keys:manage"


@router.post("/api-keys", body=ApiKeyCreateRequest, response=ApiKeyCreateResponse, status=201, auth="user", scope=SCOPE,
             errors=(400, 403))
async def create_api_key(ctx: Ctx):
    """Create a key; the plaintext `key` is in this response only. A key creating a key grants at most its
    own scopes, life and rate limit; no key is faster than its user's own limit."""
    key, plaintext = await ctx.hub.api_keys.create(ctx.actor, ctx.body, user_limit=ctx.hub.limiter.user_limit(ctx.user))
    return ApiKeyCreateResponse(
        id=key.id, name=key.name, key=plaintext, key_prefix=key.key_prefix, scopes=key.scopes,
        rate_limit_per_minute=key.rate_limit_per_minute, created_at=key.created_at, expires_at=key.expires_at,
    )


@router.get("/api-keys", response=ApiKeyList, auth="user", scope=SCOPE)
async def list_api_keys(ctx: Ctx):
    """The caller's keys (no secrets)."""
    keys = await ctx.hub.api_keys.list_for_user(ctx.actor)
    return {"api_keys": keys, "total": len(keys)}


@router.get("/api-keys/{key_id}", response=ApiKeyResponse, auth="user", scope=SCOPE)
async def get_api_key(ctx: Ctx):
    """One key's details."""
    return await ctx.hub.api_keys.get_for_user(ctx.actor, ctx.path["key_id"])


@router.delete("/api-keys/{key_id}", status=204, auth="user", scope=SCOPE)
async def revoke_api_key(ctx: Ctx):
    """Revoke a key; it stops working at once."""
    await ctx.hub.api_keys.revoke(await ctx.hub.api_keys.get_for_user(ctx.actor, ctx.path["key_id"]))
