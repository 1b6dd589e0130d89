"""Storage accounting per owner (a user, or an organization for its resources).

Bytes are charged when a resource gains content (new or changed files of a
version, a fork's logical size) and credited back when it is deleted. The
quota (``[storage] user_quota_bytes``) applies to each owner; going over it is
a 403 "storage quota exceeded" and, because :meth:`StorageAccounts.charge`
runs inside the caller's transaction, nothing of the request is kept.
"""

from __future__ import annotations

from ..db.circuits import StorageUsage
from ..db.core import Db
from ..db.fields import utcnow
from ..errors import Forbidden

QUOTA_EXCEEDED = "storage quota exceeded"


class QuotaExceeded(Forbidden):
    default_detail = QUOTA_EXCEEDED


def owner_key(user_id: str, organization_id: str | None = None) -> str:
    """Who pays: the organization when there is one, else the user."""
    return f"org:{organization_id}" if organization_id else f"user:{user_id}"


class StorageAccounts:
    def __init__(self, db: Db, quota_bytes: int):
        self.db = db
        self.quota_bytes = quota_bytes

    async def used(self, key: str) -> int:
        row = await StorageUsage.aget_or_none(StorageUsage.owner_key == key)
        return int(row.bytes_used) if row else 0

    async def remaining(self, key: str) -> int:
        return max(0, self.quota_bytes - await self.used(key))

    def exceeded(self, needed: int | None = None) -> QuotaExceeded:
        extra = f" (quota {self.quota_bytes} bytes)" if needed is None else f" ({needed} more bytes needed, quota {self.quota_bytes} bytes)"
        return QuotaExceeded(QUOTA_EXCEEDED + extra)

    async def charge(self, key: str, nbytes: int) -> None:
        """Add ``nbytes`` to ``key``'s usage (inside a transaction); 403 over quota."""
        if nbytes <= 0:
            return
        await self.db.serialize(f"quota:{key}")  # check-then-add holds under concurrency (PostgreSQL)
        used = await self.used(key)
        if used + nbytes > self.quota_bytes:
            raise self.exceeded(used + nbytes - self.quota_bytes)
        await self._add(key, nbytes)

    async def credit(self, key: str, nbytes: int) -> None:
        if nbytes > 0:
            await self.db.serialize(f"quota:{key}")
            await self._add(key, -nbytes)

    async def _add(self, key: str, delta: int) -> None:
        now = utcnow()
        updated = await self.db.execute(
            StorageUsage.update(bytes_used=StorageUsage.bytes_used + delta, updated_at=now)
            .where(StorageUsage.owner_key == key)
        )
        if not updated:
            await StorageUsage.acreate(owner_key=key, bytes_used=max(0, delta), updated_at=now)
