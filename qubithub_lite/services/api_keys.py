"""API keys: ``qh_`` keys shown once, stored hashed, with scopes, expiry,
a per-key rate limit and ``last_used_at``."""

from __future__ import annotations

import datetime as dt
import time

from ..db.core import Db
from ..db.fields import new_id, utcnow
from ..db.models import ApiKey, User
from ..errors import NotFound, Unauthorized
from ..schemas.api_keys import ApiKeyCreateRequest
from .tokens import new_opaque_token, sha256_hex

KEY_PREFIX = "qh_"
#: How often ``last_used_at`` is written for a busy key (seconds).
LAST_USED_RESOLUTION = 60.0


class ApiKeys:
    def __init__(self, db: Db):
        self.db = db
        self._last_written: dict[str, float] = {}

    async def create(self, user: User, req: ApiKeyCreateRequest, organization_id: str | None = None) -> tuple[ApiKey, str]:
        plaintext = new_opaque_token(KEY_PREFIX)
        now = utcnow()
        async with self.db.tx():
            key = await ApiKey.acreate(
                id=new_id(), user=user.id, organization=organization_id, name=req.name,
                key_hash=sha256_hex(plaintext), key_prefix=plaintext[:11], scopes=req.scopes,
                rate_limit_per_minute=req.rate_limit_per_minute or 60, is_active=True, created_at=now,
                expires_at=now + dt.timedelta(days=req.expires_in_days) if req.expires_in_days else None,
            )
        return key, plaintext

    async def list_for_user(self, user: User) -> list[ApiKey]:
        return await self.db.list(
            ApiKey.select().where((ApiKey.user == user.id) & ApiKey.organization.is_null()).order_by(ApiKey.created_at.desc())
        )

    async def get_for_user(self, user: User, key_id: str) -> ApiKey:
        key = await ApiKey.aget_or_none((ApiKey.id == key_id) & (ApiKey.user == user.id))
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
