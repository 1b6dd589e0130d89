"""JWT access tokens (HS256 with the generated secret, algorithm pinned) and
opaque refresh tokens / API keys that are stored only as SHA-256 hashes."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import time
import uuid

import jwt

from ..errors import Unauthorized

ALGORITHM = "HS256"


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def new_opaque_token(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(32)


class AccessTokens:
    #: Verified tokens kept (token -> (user id, expiry)); cleared when full.
    CACHE_SIZE = 4096

    def __init__(self, secret: bytes, ttl_seconds: int):
        self._secret = secret
        self.ttl_seconds = ttl_seconds
        self._verified: dict[str, tuple[str, float, int]] = {}

    def issue(self, user_id: str, generation: int = 0) -> str:
        now = dt.datetime.now(dt.UTC)
        claims = {
            "sub": user_id,
            "gen": int(generation),
            "type": "access",
            "iat": now,
            "exp": now + dt.timedelta(seconds=self.ttl_seconds),
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def decode(self, token: str) -> str:
        """The user id of a valid access token; Unauthorized otherwise."""
        return self.decode_session(token)[0]

    def decode_session(self, token: str) -> tuple[str, int]:
        """(user id, session generation) of a valid access token; Unauthorized otherwise.
        A token without ``gen`` belongs to generation 0.

        A token's signature is checked once; later uses only check its expiry (a client
        sends the same token with every request until it refreshes)."""
        known = self._verified.get(token)
        if known is not None:
            if time.time() < known[1]:
                return known[0], known[2]
            del self._verified[token]
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                options={"require": ["exp", "iat", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("access token expired") from None
        except jwt.InvalidTokenError:
            raise Unauthorized("invalid access token") from None
        generation = claims.get("gen", 0)
        if claims.get("type") != "access" or not isinstance(claims.get("sub"), str) or type(generation) is not int:
            raise Unauthorized("invalid access token")
        if len(self._verified) >= self.CACHE_SIZE:
            self._verified.clear()
        self._verified[token] = (claims["sub"], float(claims["exp"]), generation)
        return claims["sub"], generation
