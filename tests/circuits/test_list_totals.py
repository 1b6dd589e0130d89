"""Totals shared by concurrent list requests (one count while several wait for it) are the
visibility rule's totals, for every caller, and follow creates and deletes at once."""

from __future__ import annotations

import asyncio

from .helpers import create


async def totals_at_once(client, users, **params) -> list[int]:
    async def one(user):
        resp = await client.get("/circuits", params={"limit": "2", **params}, headers=user.headers if user else {})
        assert resp.status == 200, await resp.text()
        body = await resp.json()
        assert len(body["circuits"]) == min(2, body["total"])
        return body["total"]

    return await asyncio.gather(*(one(u) for u in users))


async def test_concurrent_lists_share_correct_totals(client, alice, bob):
    for i in range(3):
        await create(client, alice, f"pub{i}", title=f"Shared {i}")
    await create(client, alice, "mine", title="Shared private", is_public=False)
    callers = [alice, bob, None] * 4
    expected = [4 if u is alice else 3 for u in callers]
    assert await totals_at_once(client, callers) == expected
    assert await totals_at_once(client, callers, q="shared") == expected
    made = await create(client, bob, "bobs", title="Shared too")
    assert await totals_at_once(client, callers) == [n + 1 for n in expected]
    resp = await client.delete(f"/circuits/{made['id']}", headers=bob.headers)
    assert resp.status in (200, 204)
    assert await totals_at_once(client, callers, q="shared") == expected
