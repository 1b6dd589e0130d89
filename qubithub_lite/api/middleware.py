"""Cross-cutting request handling: JSON errors (never a traceback), caller
identification (JWT or API key) and the per-caller request rate limit."""

from __future__ import annotations

import logging

from aiohttp import web

from ..db.core import DatabaseBusy
from ..errors import ApiError, Unauthorized
from ..logs import fields
from ..services.principal import Principal
from .git_http import is_git_handler
from .routing import HUB_KEY, PRINCIPAL_KEY, json_response

log = logging.getLogger(__name__)

#: Paths that are never rate limited (monitoring and the schema).
UNLIMITED = frozenset({"/health", "/api/health", "/openapi.json", "/api/openapi.json"})


@web.middleware
async def errors_middleware(request: web.Request, handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return json_response({"detail": exc.detail}, exc.status, exc.headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        detail = {
            404: "Not found",
            405: "Method not allowed",
            413: "Request body too large",
        }.get(exc.status, exc.reason)
        headers = {k: v for k, v in exc.headers.items() if k.lower() in ("allow", "retry-after")}
        return json_response({"detail": detail}, exc.status, headers)
    except DatabaseBusy as exc:
        log.warning("request.busy", extra=fields(method=request.method, path=request.path, reason=str(exc)))
        return json_response({"detail": "the server is busy; retry shortly"}, 503, {"Retry-After": "1"})
    except Exception:
        log.exception("request.failed", extra=fields(method=request.method, path=request.path))
        return json_response({"detail": "Internal server error"}, 500)


def bearer_credentials(request: web.Request) -> tuple[str | None, str | None]:
    """(api_key, jwt) from ``X-API-Key`` or ``Authorization: Bearer``."""
    api_key = request.headers.get("X-API-Key")
    auth = request.headers.get("Authorization", "")
    token = None
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise Unauthorized("Authorization header must be 'Bearer <token>'")
        token = value.strip()
    if api_key is None and token and token.startswith("qh_"):
        api_key, token = token, None
    return api_key, token


async def resolve_principal(request: web.Request, token_override: str | None = None) -> Principal | None:
    hub = request.app[HUB_KEY]
    api_key, token = bearer_credentials(request)
    token = token or token_override
    if api_key is None and token and token.startswith("qh_"):
        api_key, token = token, None
    if api_key:
        user, key = await hub.api_keys.authenticate(api_key.strip())
        return Principal(user, key)
    if token:
        user_id, generation = hub.accounts.tokens.decode_session(token)
        user = await hub.accounts.get_active_user(user_id)
        if user is None:
            raise Unauthorized("account not found or disabled")
        if generation != (user.session_generation or 0):
            raise Unauthorized("session ended (password changed or reset); log in again")
        return Principal(user)
    return None


@web.middleware
async def auth_middleware(request: web.Request, handler) -> web.StreamResponse:
    hub = request.app[HUB_KEY]
    if is_git_handler(request.match_info.handler):  # git sends Basic auth; api/git_http.py checks and limits
        request[PRINCIPAL_KEY] = None
        return await handler(request)
    principal = await resolve_principal(request)
    if principal is None:  # a signed-in browser: the web UI's session cookie (CSRF-checked)
        from ..web import session_user

        user = await session_user(request)
        principal = Principal(user) if user is not None else None
    request[PRINCIPAL_KEY] = principal
    limiter = hub.limiter
    if limiter.enabled and request.path not in UNLIMITED and not request.path.startswith("/static/"):
        cfg = limiter.config
        if principal is None:
            limiter.hit("requests", f"ip:{request.remote}", cfg.anonymous_requests_per_minute)
        else:
            # A key's limit only lowers its user's: every request counts against the user's own bucket,
            # whichever credential (and however many keys) it comes with.
            if principal.api_key is not None:
                limiter.hit("requests", f"key:{principal.api_key.id}", principal.api_key.rate_limit_per_minute)
            limiter.hit("requests", f"user:{principal.user_id}", limiter.user_limit(principal.user))
    return await handler(request)
