"""Two hubs on one PostgreSQL database (two API processes, in one test process): a change made
through one drops the per-process caches of the other at once, through the event bus the
services receive in their constructors (``Hub._wire``; ``jobs/bus.py``). Each cache here is
made to live an hour, so only the bus message can drop it."""

from __future__ import annotations

import asyncio

import pytest

from qubithub_lite.api.routing import HUB_KEY
from qubithub_lite.app import create_app
from tests.circuits.helpers import create as create_circuit

pytestmark = pytest.mark.postgres_only(reason="several processes share caches only on PostgreSQL")


@pytest.fixture
async def other(aiohttp_client, settings, client):
    """A second server on the same data dir, so the same database."""
    return await aiohttp_client(create_app(settings))


async def _eventually(check, seconds: float = 15.0) -> bool:
    for _ in range(int(seconds / 0.05)):
        if await check():
            return True
        await asyncio.sleep(0.05)
    return False


async def test_disabling_a_user_through_one_hub_drops_the_others_cached_user(client, hub, other, alice):
    there = other.app[HUB_KEY]
    there.accounts.USER_CACHE_SECONDS = 3600.0
    assert (await there.accounts.get_active_user(alice.id)).id == alice.id  # cached there
    await hub.user_admin.set_active(alice.username, False)

    async def refused_there() -> bool:
        return await there.accounts.get_active_user(alice.id) is None

    assert await _eventually(refused_there)
    assert (await other.get("/auth/me", headers=alice.headers)).status == 401


async def test_a_circuit_created_through_one_hub_shows_in_the_others_cached_list(client, other, alice):
    there = other.app[HUB_KEY]
    there.circuits.TOTAL_CACHE_SECONDS = 3600.0

    async def public_total() -> int:
        resp = await other.get("/circuits")
        assert resp.status == 200
        return (await resp.json())["total"]

    before = await public_total()
    assert await public_total() == before  # the anonymous page is now cached there
    await create_circuit(client, alice, "shared-bell", is_public=True)

    async def listed_there() -> bool:
        return await public_total() == before + 1

    assert await _eventually(listed_there)
