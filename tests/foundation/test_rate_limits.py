import math
import time

import pytest

from qubithub_lite.config import RateLimitsConfig
from qubithub_lite.errors import TooManyRequests
from qubithub_lite.services.ratelimit import RateLimiter
from tests.conftest import make_settings


@pytest.fixture
def settings(tmp_path):
    return make_settings(tmp_path, rate_limits={"enabled": True})


async def test_61st_request_in_a_minute_is_429_with_retry_after(client, alice):
    statuses = []
    start = time.monotonic()
    while 429 not in statuses and len(statuses) < 200:
        resp = await client.get("/auth/me", headers=alice.headers)
        statuses.append(resp.status)
    elapsed = time.monotonic() - start
    # 60 at once, plus the one token a second the bucket refills while they are sent (a slow
    # database or a busy machine makes the 60 take seconds)
    assert statuses[:60] == [200] * 60
    assert statuses[-1] == 429 and len(statuses) - 1 <= 60 + math.ceil(elapsed) + 1, (len(statuses), elapsed)
    assert int(resp.headers["Retry-After"]) >= 1
    assert "rate limit" in (await resp.json())["detail"]


async def test_anonymous_limited_per_ip(client):
    statuses = [(await client.get("/auth/me")).status for _ in range(61)]
    assert statuses.count(401) == 60 and statuses[-1] == 429


async def test_health_is_not_limited(client):
    statuses = {(await client.get("/health")).status for _ in range(70)}
    assert statuses == {200}


async def test_pro_users_get_600(client, hub, make_user):
    from qubithub_lite.db.models import User

    pro = await make_user("prouser")
    async with hub.db.tx():
        await hub.db.execute(User.update(is_pro=True).where(User.id == pro.id))
    statuses = [(await client.get("/auth/me", headers=pro.headers)).status for _ in range(100)]
    assert set(statuses) == {200}


def test_bucket_refills_and_actions_are_separate():
    now = [0.0]
    limiter = RateLimiter(RateLimitsConfig(), clock=lambda: now[0])
    for _ in range(5):
        limiter.hit("fork", "u1", 5)
    with pytest.raises(TooManyRequests) as exc:
        limiter.hit("fork", "u1", 5)
    assert exc.value.headers["Retry-After"] == "12"  # one token per 12 s at 5/min
    limiter.hit("fork", "u2", 5)  # other users unaffected
    limiter.hit("star", "u1", 30)  # other actions unaffected
    now[0] += 12
    limiter.hit("fork", "u1", 5)
    assert limiter.action_limit("star") == 30 and limiter.action_limit("fork") == 5


def test_switch_turns_everything_off():
    limiter = RateLimiter(RateLimitsConfig(enabled=False))
    for _ in range(1000):
        limiter.hit("requests", "u", 1)


class TestDisabled:
    @pytest.fixture
    def settings(self, tmp_path):
        return make_settings(tmp_path, rate_limits={"enabled": False})

    async def test_no_429_when_disabled(self, client, alice):
        statuses = {(await client.get("/auth/me", headers=alice.headers)).status for _ in range(80)}
        assert statuses == {200}
