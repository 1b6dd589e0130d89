"""The aiohttp application: middlewares, the route table and the hub lifecycle."""

from __future__ import annotations

from typing import AsyncIterator

from aiohttp import web

from .api import admin as admin_api
from .api import api_keys, auth, backends, benchmarks, circuits, datasets, files, git_http, hf, meta, orgs, runs, spaces
from .api.forwarded import forwarded_middleware
from .api.middleware import auth_middleware, errors_middleware
from .api.routing import HUB_KEY, RouteSpec, register
from .config import Settings
from .hub import Hub
from .metrics import metrics_middleware

#: Every API module exposes ``router``; a new resource adds its module here.
API_MODULES = [meta, auth, api_keys, orgs, circuits, files, runs, backends, datasets, spaces, admin_api, benchmarks]


#: aiohttp's request-line and header-field limits (8190 bytes each by default), raised so a
#: request carrying every documented parameter at its maximum length, percent-encoded, fits.
HTTP_LIMITS = {"max_line_size": 64 * 1024, "max_field_size": 16 * 1024}


def all_routes() -> list[RouteSpec]:
    return [spec for module in API_MODULES for spec in module.router.specs]


def create_app(settings: Settings) -> web.Application:
    middlewares = [metrics_middleware, errors_middleware, auth_middleware]  # metrics outermost: sees every answer
    if settings.server.trusted_proxies:  # behind a reverse proxy: request.remote is the client (api/forwarded.py)
        middlewares.insert(0, forwarded_middleware(settings.server.trusted_proxies))
    app = web.Application(
        client_max_size=settings.server.max_body_bytes,
        handler_args=HTTP_LIMITS,
        middlewares=middlewares,
    )
    hub = Hub(settings)
    app[HUB_KEY] = hub
    routes = all_routes()
    app[meta.ROUTES_KEY] = routes
    app[meta.OPENAPI_CACHE_KEY] = {}
    register(app, routes)
    git_http.setup(app)  # raw git smart-HTTP routes, after the JSON API
    hf.setup(app)  # the Hugging Face Hub-compatible read surface under /hf
    from .web import setup as setup_web  # the web UI: pages, forms, static assets

    setup_web(app)

    async def lifecycle(_: web.Application) -> AsyncIterator[None]:
        await hub.start()
        try:
            yield
        finally:
            await hub.close()

    app.cleanup_ctx.append(lifecycle)
    return app
