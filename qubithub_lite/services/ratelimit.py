"""Rate limits (token buckets, one per user / key / IP and action).

A bucket holds ``per_minute`` tokens and refills continuously, so 60 quick
requests pass and the 61st within the minute gets 429 with ``Retry-After``.

- :class:`RateLimiter`: in-process memory (SQLite: one process).
- :class:`PgRateLimiter`: the buckets live in PostgreSQL, so the limits hold across every API
  process on the database (selected when the database is PostgreSQL). The same bucket as GCRA
  (the "generic cell rate algorithm"): one number per bucket, its theoretical arrival time, moved
  by one atomic upsert per request in an ``UNLOGGED`` table (m0016), on the database's clock.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from ..config import RateLimitsConfig
from ..db import rate_buckets
from ..errors import TooManyRequests

log = logging.getLogger(__name__)


@dataclass
class _Bucket:
    tokens: float
    stamp: float


class RateLimiter:
    MAX_BUCKETS = 100_000

    def __init__(self, config: RateLimitsConfig, clock=time.monotonic):
        self.config = config
        self._clock = clock
        self._buckets: dict[tuple[str, str], _Bucket] = {}

    @property
    def enabled(self) -> bool:
        return self.config.enabled

    def hit(self, action: str, who: str, per_minute: int) -> None:
        """Take one token or raise TooManyRequests."""
        if not self.config.enabled:
            return
        now = self._clock()
        rate = per_minute / 60.0
        key = (action, who)
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.MAX_BUCKETS:
                self._prune(now)
            bucket = self._buckets[key] = _Bucket(float(per_minute), now)
        else:
            bucket.tokens = min(float(per_minute), bucket.tokens + (now - bucket.stamp) * rate)
            bucket.stamp = now
        if bucket.tokens < 1.0:
            retry = math.ceil((1.0 - bucket.tokens) / rate)
            raise TooManyRequests(f"rate limit exceeded: {per_minute} {action} per minute", retry_after=retry)
        bucket.tokens -= 1.0

    async def take(self, action: str, who: str, per_minute: int) -> None:
        """Take one token or raise TooManyRequests (what request handlers call)."""
        self.hit(action, who, per_minute)

    def user_limit(self, user) -> int:
        """A signed-in user's requests per minute (pro users get more); keys only lower it."""
        return self.config.pro_requests_per_minute if user.is_pro else self.config.requests_per_minute

    def action_limit(self, action: str) -> int:
        return int(getattr(self.config, f"{action}_per_minute"))

    def _prune(self, now: float) -> None:
        # Buckets idle for a minute are full again: forgetting them changes nothing.
        stale = [k for k, b in self._buckets.items() if now - b.stamp > 60]
        for k in stale:
            del self._buckets[k]


class PgRateLimiter(RateLimiter):
    """Token buckets in PostgreSQL, shared by every process (see the module docstring).

    Per bucket, ``tat`` (epoch seconds): when the bucket would be full again. A request at
    ``now`` with interval ``T = 60 / per_minute`` passes when ``max(tat, now) + T - now <= 60``
    (at most ``per_minute`` tokens' worth ahead) and moves ``tat`` to ``max(tat, now) + T``; this
    is exactly the in-process bucket. The upsert's ``WHERE`` refuses without writing, so a
    refused request costs nothing; its ``Retry-After`` comes from a second read. Rows whose
    ``tat`` passed (full buckets) are forgotten every minute."""

    PRUNE_SECONDS = 60.0

    def __init__(self, config: RateLimitsConfig, db, clock=time.monotonic):
        super().__init__(config, clock)
        self.db = db
        self._pruned_at = clock()

    async def take(self, action: str, who: str, per_minute: int) -> None:
        if not self.config.enabled:
            return
        interval = 60.0 / max(1, per_minute)
        bucket = f"{action}|{who}"[:300]
        if not await rate_buckets.take(self.db, bucket, interval):
            ahead = await rate_buckets.seconds_ahead(self.db, bucket)
            # The next token is free when tat - now + T <= 60.
            retry = max(1, math.ceil((60.0 if ahead is None else ahead) + interval - 60.0))
            raise TooManyRequests(f"rate limit exceeded: {per_minute} {action} per minute", retry_after=retry)
        now = self._clock()
        if now - self._pruned_at > self.PRUNE_SECONDS:
            self._pruned_at = now
            try:
                await rate_buckets.prune(self.db)
            except Exception:
                log.exception("ratelimit.prune_failed")

    def hit(self, action: str, who: str, per_minute: int) -> None:
        raise TypeError("PgRateLimiter is asynchronous: await take()")
