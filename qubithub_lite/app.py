"""The aiohttp application: middlewares, the route table and the hub lifecycle."""

from __future__ import annotations

from typing import AsyncIterator

from aiohttp import web

from .api import api_keys, auth, backends, circuits, datasets, files, meta, orgs, runs, spaces
from .api.middleware import auth_middleware, errors_middleware
from .api.routing import HUB_KEY, RouteSpec, register
from .config import Settings
from .hub import Hub

#: Every API module exposes ``router``; a new resource adds its module here.
API_MODULES = [meta, auth, api_keys, orgs, circuits, files, runs, backends, datasets, spaces]


#: aiohttp's request-line and header-field limits (8190 bytes each by default), raised so a
#: request carrying every documented parameter at its maximum length, percent-encoded, fits.
HTTP_LIMITS = {"max_line_size": 64 * 1024, "max_field_size": 16 * 1024}


def all_routes() -> list[RouteSpec]:
    return [spec for module in API_MODULES for spec in module.router.specs]


def create_app(settings: Settings) -> web.Application:
    app = web.Application(
        client_max_size=settings.server.max_body_bytes,
        handler_args=HTTP_LIMITS,
        middlewares=[errors_middleware, auth_middleware],
    )
    hub = Hub(settings)
    app[HUB_KEY] = hub
    routes = all_routes()
    app[meta.ROUTES_KEY] = routes
    app[meta.OPENAPI_CACHE_KEY] = {}
    register(app, routes)

    async def lifecycle(_: web.Application) -> AsyncIterator[None]:
        await hub.start()
        try:
            yield
        finally:
            await hub.close()

    app.cleanup_ctx.append(lifecycle)
    return app
