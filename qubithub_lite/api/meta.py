"""Health and the OpenAPI document."""

from __future__ import annotations

from aiohttp import web

from ..schemas.health import HealthResponse
from .openapi import build_openapi
from .routing import Ctx, Router, json_response

router = Router("meta")
ROUTES_KEY = web.AppKey("routes", list)
#: Filled on first request (the app is frozen by then, so this holds a mutable dict).
OPENAPI_CACHE_KEY = web.AppKey("openapi_cache", dict)


@router.get("/health", response=HealthResponse)
async def health(ctx: Ctx):
    """Version, database and queue state."""
    return await ctx.hub.health()


@router.get("/openapi.json", raw_response="application/json")
async def openapi(ctx: Ctx):
    """This API's OpenAPI 3.1 document."""
    app = ctx.request.app
    cache = app[OPENAPI_CACHE_KEY]
    if "doc" not in cache:
        cache["doc"] = build_openapi(app[ROUTES_KEY], ctx.hub.version)
    return json_response(cache["doc"])
