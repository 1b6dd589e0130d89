"""``is_starred`` in circuit lists and searches (read with the page): the caller's own stars
only; null for anonymous callers."""

from __future__ import annotations

from .helpers import create


async def starred_map(client, user, **params):
    resp = await client.get("/circuits", params={"limit": "100", **params}, headers=user.headers if user else {})
    assert resp.status == 200, await resp.text()
    return {c["name"]: c["is_starred"] for c in (await resp.json())["circuits"]}


async def test_lists_and_searches_show_the_callers_stars(client, alice, bob):
    ids = {}
    for name in ("alpha", "beta", "gamma"):
        ids[name] = (await create(client, bob, name, title=f"Starry {name}"))["id"]
    resp = await client.post(f"/circuits/{ids['beta']}/star", headers=alice.headers)
    assert resp.status == 200, await resp.text()
    expected = {"alpha": False, "beta": True, "gamma": False}
    assert await starred_map(client, alice) == expected
    assert await starred_map(client, alice, q="starry", sort="name") == expected
    assert await starred_map(client, bob) == dict.fromkeys(expected, False)
    assert await starred_map(client, None) == dict.fromkeys(expected, None)
    resp = await client.post(f"/circuits/{ids['beta']}/star", headers=alice.headers)  # toggled off
    assert await starred_map(client, alice, q="starry") == dict.fromkeys(expected, False)
