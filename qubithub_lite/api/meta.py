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
    """Version, database and queue state. Details (workers, pids, counts, drivers) only for
    site administrators; everyone else sees whether each part is ok."""
    from ..services.admin import is_site_admin

    report = await ctx.hub.health()
    if is_site_admin(ctx.principal, allow_api_key=True):
        return report
    return public_health(report)


def public_health(report: dict) -> dict:
    """What anyone may see of a health report: overall state, version, ok per part."""
    def ok(part: dict) -> dict:
        return {"ok": bool(part.get("ok", True))}

    database = {**ok(report["database"]), "schema_version": report["database"].get("schema_version")}
    return {"status": report["status"], "version": report["version"], "database": database,
            "queue": ok(report["queue"]), "components": {name: ok(c) for name, c in report["components"].items()}}


@router.get("/openapi.json", raw_response="application/json")
async def openapi(ctx: Ctx):
    """This API's OpenAPI 3.1 document."""
    app = ctx.request.app
    cache = app[OPENAPI_CACHE_KEY]
    if "doc" not in cache:
        cache["doc"] = build_openapi(app[ROUTES_KEY], ctx.hub.version)
    return json_response(cache["doc"])
