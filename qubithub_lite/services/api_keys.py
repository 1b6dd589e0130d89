"""API keys: ``qh_`` keys shown once, stored hashed, with scopes, expiry,
a per-key rate limit and ``last_used_at``. What a caller may grant is decided by
:func:`permissions.check_key_grant`."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from ..db.core import Db
from ..db.fields import new_id, utcnow
from ..db.models import ApiKey, Organization, User
from ..errors import NotFound, Unauthorized
from ..schemas.api_keys import ApiKeyCreateRequest
from . import permissions
from .tokens import new_opaque_token, sha256_hex

KEY_PREFIX = "qh_"
#: How often ``last_used_at`` is written for a busy key (seconds).
LAST_USED_RESOLUTION = 60.0


class ApiKeys:
    def __init__(self, db: Db):
        self.db = db
        self._last_written: dict[str, float] = {}

    async def create(self, user: Any, req: ApiKeyCreateRequest, organization: Organization | None = None, *,
                     user_limit: int) -> tuple[ApiKey, str]:
        """A personal key (``organization`` None) or an organization key, for ``user`` (a User or
        an Actor: a key creating a key grants at most what it holds). ``user_limit``: the
        user's own requests per minute, which no key may exceed."""
        now = utcnow()
        expires_at = now + dt.timedelta(days=req.expires_in_days) if req.expires_in_days else None
        asked = req.rate_limit_per_minute if "rate_limit_per_minute" in req.model_fields_set else None
        rate = asked or min(60, user_limit)  # unasked: 60/min, or the user's own limit if lower
        permissions.check_key_grant(user, req.scopes, expires_at, rate, user_limit, organization=organization)
        plaintext = new_opaque_token(KEY_PREFIX)
        async with self.db.tx():
            key = await ApiKey.acreate(
                id=new_id(), user=user.id, organization=organization.id if organization else None, name=req.name,
                key_hash=sha256_hex(plaintext), key_prefix=plaintext[:11], scopes=req.scopes,
                rate_limit_per_minute=rate, is_active=True, created_at=now, expires_at=expires_at,
            )
        return key, plaintext

    async def list_for_user(self, user: Any) -> list[ApiKey]:
        permissions.ensure_personal(user, "create or manage personal API keys")
        return await self.db.list(
            ApiKey.select().where((ApiKey.user == user.id) & ApiKey.organization.is_null()).order_by(ApiKey.created_at.desc())
        )

    async def get_for_user(self, user: Any, key_id: str) -> ApiKey:
        """One of the caller's personal keys (organization keys are managed with their organization)."""
        permissions.ensure_personal(user, "create or manage personal API keys")
        key = await ApiKey.aget_or_none((ApiKey.id == key_id) & (ApiKey.user == user.id) & ApiKey.organization.is_null())
        if key is None:
            raise NotFound("API key not found")
        return key

    async def revoke(self, key: ApiKey) -> None:
        async with self.db.tx():
            await self.db.execute(ApiKey.update(is_active=False).where(ApiKey.id == key.id))

    async def authenticate(self, plaintext: str) -> tuple[User, ApiKey]:
        key = await ApiKey.aget_or_none(ApiKey.key_hash == sha256_hex(plaintext))
        if key is None or not key.is_active:
            raise Unauthorized("invalid or revoked API key")
        now = utcnow()
        if key.expires_at is not None and key.expires_at <= now:
            raise Unauthorized("API key expired")
        user = await User.aget_or_none(User.id == key.user_id)
        if user is None or not user.is_active:
            raise Unauthorized("invalid or revoked API key")
        await self._touch(key, now)
        return user, key

    async def _touch(self, key: ApiKey, now: dt.datetime) -> None:
        mono = time.monotonic()
        if mono - self._last_written.get(key.id, -LAST_USED_RESOLUTION) < LAST_USED_RESOLUTION:
            return
        self._last_written[key.id] = mono
        async with self.db.tx():
            await self.db.execute(ApiKey.update(last_used_at=now).where(ApiKey.id == key.id))
        key.last_used_at = now
