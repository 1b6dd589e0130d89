"""The web UI: server-rendered pages (Jinja2 through aiohttp-jinja2, autoescaped) calling the
same services as the JSON API, plus small progressive-enhancement scripts (static, same origin).

Pages share paths with the API (``/circuits/{id}`` …): a GET whose ``Accept`` prefers HTML (a
browser navigating) gets the page; every other client keeps the JSON it always got. Paths only
the UI has (``/``, ``/login``, ``/-/…`` form posts, ``/static/…``) are served as pages to all.

Adding a page (the Benchmarks and Admin pages plug in this way): a module
``qubithub_lite/web/<name>.py`` listed in :data:`PAGE_MODULES`, templates extending
``base.html`` in ``templates/``, and a :data:`NAV` entry::

    from .common import NAV, NavEntry
    from .pages import View, form, page

    NAV.append(NavEntry("Admin", "/admin", needs_user=True, admin_only=True))

    @page("/admin", exclusive=True)          # exclusive: the API has no GET /admin
    async def admin(v: View):
        user = v.need_user()                 # redirects to /login when signed out
        ...                                  # the hub's services, as the API handlers use them
        return v.render("admin.html", users=...)

    @form("/-/admin/users/{user_id}/disable")  # POST, CSRF-checked; v.form holds the fields
    async def disable(v: View): ...
"""

from __future__ import annotations

import hashlib

import aiohttp_jinja2
import jinja2
from aiohttp import web

from ..api.routing import PRINCIPAL_KEY
from ..errors import ApiError
from ..run_status import TERMINAL
from .common import NAV, STATE_KEY, STATIC_DIR, TEMPLATES_DIR, NavEntry, session_user, wants_html


def _asset_versions() -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()[:10] for p in STATIC_DIR.iterdir() if p.is_file()}


@web.middleware
async def pages_middleware(request: web.Request, handler):
    path = request.path
    if path.startswith("/static/"):
        response = await handler(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        if request.query.get("v"):
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        return response
    if request.method not in ("GET", "HEAD") or path.startswith("/api/"):
        return await handler(request)
    from .pages import EXCLUSIVE, PAGES_KEY, might_be_exclusive

    html = wants_html(request)
    if not html and not might_be_exclusive(path):
        # An API client on an API path: no page lookup. The same URL may be a page for a
        # browser, so caches are told the answer depends on Accept.
        response = await handler(request)
        if not response.prepared:
            vary = response.headers.get("Vary")
            response.headers["Vary"] = f"{vary}, Accept" if vary else "Accept"
        return response
    match = await request.app[PAGES_KEY].resolve(request)
    if match.http_exception is not None or not (match.handler in EXCLUSIVE or html):
        if not html:
            return await handler(request)
        try:
            return await handler(request)
        except web.HTTPNotFound:  # a browser on a path nothing serves: a page, not JSON
            from .pages import View, error_page

            view = View.of(request, {})
            response = error_page(view, 404, "There is no page at this address.")
            view.finish(response)
            return response
    return await _serve_page(request, match, handler)


async def _serve_page(request: web.Request, match, handler) -> web.StreamResponse:
    from .pages import FallThrough, View, error_page

    view = View.of(request, dict(match))
    try:
        response = await match.handler(view)
    except FallThrough:
        return await handler(request)
    except ApiError as exc:
        response = error_page(view, exc.status, exc.detail)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = error_page(view, exc.status, exc.reason)
    view.finish(response)
    return response


#: Modules defining pages and forms (imported by :func:`setup`); another page module adds itself.
PAGE_MODULES: list[str] = ["qubithub_lite.web.pages"]
PAGE_MODULES.append("qubithub_lite.web.benchmarks")
PAGE_MODULES.append("qubithub_lite.web.admin")


def setup(app: web.Application) -> None:
    """Templates, static files, the page dispatcher and the form routes."""
    import importlib

    from . import pages

    for name in PAGE_MODULES:
        importlib.import_module(name)

    app[STATE_KEY] = {"assets": _asset_versions()}
    env = aiohttp_jinja2.setup(
        app, loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)), autoescape=jinja2.select_autoescape(default=True),
        trim_blocks=True, lstrip_blocks=True,
    )
    env.globals["asset"] = lambda name: f"/static/{name}?v={app[STATE_KEY]['assets'].get(name, '0')}"
    env.globals["NAV"] = NAV
    env.globals["RUN_TERMINAL"] = " ".join(TERMINAL)
    app.router.add_static("/static/", STATIC_DIR, append_version=False)
    app.router.add_get("/favicon.ico", pages.favicon)
    pages.register(app)
    app.middlewares.append(pages_middleware)


__all__ = ["setup", "session_user", "NAV", "NavEntry", "PAGE_MODULES", "PRINCIPAL_KEY"]
