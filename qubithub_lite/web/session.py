"""The browser session: a signed cookie (HttpOnly, SameSite=Lax, Secure over https) holding a
random session id, the signed-in user's id (or none) and an expiry, plus a CSRF token derived
from the session id. Nothing is stored server-side; signing out replaces the cookie, and a
disabled account is refused at once because every request re-checks the user."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from aiohttp import web

COOKIE = "qh_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SESSION_KEY = "qubithub.web_session"
#: How long a signed-in browser stays signed in without coming back.
SESSION_SECONDS = 14 * 86400
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass
class WebSession:
    sid: str
    user_id: str | None
    expires: int
    #: A fingerprint of the user's password hash at sign-in: changing the password (or an
    #: admin resetting it) ends every browser session of that user.
    pw: str = ""
    fresh: bool = False  # set on the response (new, or its user changed)

    def csrf_token(self, key: bytes) -> str:
        return hmac.new(key, b"csrf:" + self.sid.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, key: bytes, presented: str | None) -> bool:
        return bool(presented) and hmac.compare_digest(self.csrf_token(key), presented)


def session_key(secret: bytes) -> bytes:
    return hashlib.sha256(b"qubithub-web-session\x00" + secret).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def encode(key: bytes, s: WebSession) -> str:
    payload = _b64(json.dumps([s.sid, s.user_id or "", s.expires, s.pw], separators=(",", ":")).encode())
    sig = _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())
    return f"{payload}.{sig}"


def decode(key: bytes, value: str | None) -> WebSession | None:
    if not value or len(value) > 512 or "." not in value:
        return None
    payload, _, sig = value.partition(".")
    expected = _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(expected, sig):
        return None
    try:
        sid, uid, expires, pw = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except Exception:
        return None
    if not all(isinstance(x, str) for x in (sid, uid, pw)) or not isinstance(expires, int) or expires < time.time():
        return None
    return WebSession(sid, uid or None, expires, pw)


def password_fingerprint(key: bytes, password_hash: str) -> str:
    return hmac.new(key, b"pw:" + password_hash.encode(), hashlib.sha256).hexdigest()[:16]


def new_session(user=None, key: bytes = b"") -> WebSession:
    """A fresh session (a new id every time: no session fixation), signed in as ``user`` or anonymous."""
    return WebSession(secrets.token_urlsafe(18), user.id if user else None, int(time.time()) + SESSION_SECONDS,
                      password_fingerprint(key, user.password_hash) if user else "", fresh=True)


def from_request(request: web.Request, key: bytes) -> WebSession | None:
    """The request's valid session cookie (cached on the request), or None."""
    if SESSION_KEY in request:
        return request[SESSION_KEY]
    s = decode(key, request.cookies.get(COOKIE))
    request[SESSION_KEY] = s
    return s


def set_cookie(request: web.Request, response: web.StreamResponse, key: bytes, s: WebSession) -> None:
    response.set_cookie(COOKIE, encode(key, s), max_age=SESSION_SECONDS, httponly=True, samesite="Lax",
                        path="/", secure=request.secure)
