"""Health and the OpenAPI document."""

from __future__ import annotations

from aiohttp import web

from ..schemas.health import HealthResponse
from .openapi import build_openapi
from .routing import Ctx, Router, json_response

router = Router("meta")
ROUTES_KEY = web.AppKey("routes", list)
_OPENAPI_KEY = web.AppKey("openapi", dict)


@router.get("/health", response=HealthResponse)
async def health(ctx: Ctx):
    """Version, database and queue state."""
    return await ctx.hub.health()


@router.get("/openapi.json", raw_response="application/json")
async def openapi(ctx: Ctx):
    """This API's OpenAPI 3.1 document."""
    app = ctx.request.app
    if _OPENAPI_KEY not in app:
        app[_OPENAPI_KEY] = build_openapi(app[ROUTES_KEY], ctx.hub.version)
    return json_response(app[_OPENAPI_KEY])
