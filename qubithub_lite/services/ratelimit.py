"""In-process rate limits (token buckets, one per user / key / IP and action).

A bucket holds ``per_minute`` tokens and refills continuously, so 60 quick
requests pass and the 61st within the minute gets 429 with ``Retry-After``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from ..config import RateLimitsConfig
from ..errors import TooManyRequests


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
