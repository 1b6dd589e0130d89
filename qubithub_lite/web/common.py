"""What the web UI's modules share: where its files are, its app state key, the security
headers, the navigation, and the signed-in user of a request's session cookie. The package's
face (``web/__init__.py``) and the page modules both import it; it imports neither."""

from __future__ import annotations

import hmac
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from ..api.routing import HUB_KEY
from . import session as sess

STATIC_DIR = Path(__file__).parent / "static"
TEMPLATES_DIR = Path(__file__).parent / "templates"
STATE_KEY = web.AppKey("web_state", dict)

#: The page's only sources: nothing inline, nothing from another host.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}

@dataclass(frozen=True)
class NavEntry:
    label: str
    href: str
    needs_user: bool = False
    admin_only: bool = False


#: The main navigation. A page added elsewhere appends its entry, e.g. the benchmarks page
#: ``NAV.append(NavEntry("Benchmarks", "/benchmarks"))`` or the admin page
#: ``NAV.append(NavEntry("Admin", "/admin", needs_user=True, admin_only=True))``.
NAV: list[NavEntry] = [
    NavEntry("Explore", "/"),
    NavEntry("Backends", "/backends"),
    NavEntry("My runs", "/runs", needs_user=True),
    NavEntry("Upload", "/new", needs_user=True),
]


def wants_html(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "")
    return "text/html" in accept and "application/json" not in accept


def web_key(app: web.Application) -> bytes:
    state = app[STATE_KEY]
    key = state.get("key")
    if key is None:
        from ..services.secrets_file import load_or_create_secret

        key = state["key"] = sess.session_key(load_or_create_secret(app[HUB_KEY].settings.secret_file))
    return key


async def session_user(request: web.Request):
    """The user a valid session cookie names (None when absent, stale or disabled). For a
    state-changing request the CSRF token must come in the ``X-CSRF-Token`` header, except on
    the UI's own form routes (``/-/…``), which check the form field themselves."""
    if sess.COOKIE not in request.cookies:
        return None
    s = sess.from_request(request, web_key(request.app))
    if s is None or s.user_id is None:
        return None
    origin = request.headers.get("Origin")
    if origin is not None and request.headers.get("Upgrade", "").lower() == "websocket" \
            and urllib.parse.urlsplit(origin).netloc != request.host:
        return None  # a page of another origin opening a socket: not with this browser's session
    user = await request.app[HUB_KEY].accounts.get_active_user(s.user_id)
    if user is None or not hmac.compare_digest(s.pw, sess.password_fingerprint(web_key(request.app), user.password_hash)):
        return None  # disabled, deleted, or the password changed since this browser signed in: no session
    if request.method not in sess.SAFE_METHODS and not request.path.startswith("/-/"):
        if not s.csrf_ok(web_key(request.app), request.headers.get(sess.CSRF_HEADER)):
            from ..errors import Forbidden

            raise Forbidden("CSRF token missing or invalid (send the page's token in X-CSRF-Token)")
    return user
