"""The caches on hot request paths stay correct: the user row behind a JWT (reused for at
most ``Accounts.USER_CACHE_SECONDS``) and circuit list totals (dropped by every change made
through the service, otherwise reused for at most ``Circuits.TOTAL_CACHE_SECONDS``)."""

from __future__ import annotations

from qubithub_lite.db.circuits import Circuit
from qubithub_lite.db.models import User


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def _disable(hub, user_id: str) -> None:
    async with hub.db.tx():  # behind the service's back, like direct SQL or another process
        await hub.db.execute(User.update(is_active=False).where(User.id == user_id))


async def test_disabled_user_is_refused_within_the_cache_bound(client, hub, make_user):
    clock = FakeClock()
    hub.accounts._clock = clock
    alice = await make_user("alice")
    assert (await client.get("/auth/me", headers=alice.headers)).status == 200  # cached now
    await _disable(hub, alice.id)
    clock.now += hub.accounts.USER_CACHE_SECONDS + 0.01
    resp = await client.get("/auth/me", headers=alice.headers)
    assert resp.status == 401
    assert "disabled" in (await resp.json())["detail"]


async def test_disabled_user_cannot_refresh_even_while_cached(client, hub, make_user):
    hub.accounts._clock = FakeClock()  # the cache never expires on its own here
    alice = await make_user("alice")
    assert (await client.get("/auth/me", headers=alice.headers)).status == 200
    await _disable(hub, alice.id)
    resp = await client.post("/auth/refresh", json={"refresh_token": alice.refresh_token})
    assert resp.status == 401


async def test_forget_user_drops_the_cached_row(client, hub, make_user):
    hub.accounts._clock = FakeClock()
    alice = await make_user("alice")
    assert (await client.get("/auth/me", headers=alice.headers)).status == 200
    await _disable(hub, alice.id)
    hub.accounts.forget_user(alice.id)
    assert (await client.get("/auth/me", headers=alice.headers)).status == 401


async def _create(client, user, name, **extra):
    body = {"name": name, "title": name.title(), "framework": "qiskit", **extra}
    resp = await client.post("/circuits", json=body, headers=user.headers)
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def _listing(client, query: str = "", headers=None) -> dict:
    resp = await client.get("/circuits" + query, headers=headers or {})
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def test_changed_circuits_show_in_the_next_list(client, hub, make_user):
    hub.circuits._clock = FakeClock()  # cached totals never expire on their own here
    alice = await make_user("alice")
    a = await _create(client, alice, "first", tags=["x"])
    assert (await _listing(client))["total"] == 1
    assert (await _listing(client, "?tags=x"))["total"] == 1

    b = await _create(client, alice, "second", tags=["x"])
    listing = await _listing(client)
    assert listing["total"] == 2 and [c["id"] for c in listing["circuits"]] == [b["id"], a["id"]]
    assert (await _listing(client, "?tags=x"))["total"] == 2

    resp = await client.put(f"/circuits/{a['id']}", json={"is_public": False, "tags": ["y"]}, headers=alice.headers)
    assert resp.status == 200
    assert [c["id"] for c in (await _listing(client))["circuits"]] == [b["id"]]
    assert (await _listing(client))["total"] == 1
    assert (await _listing(client, "?tags=x"))["total"] == 1
    mine = await _listing(client, headers=alice.headers)  # the owner still sees both
    assert mine["total"] == 2 and {c["id"] for c in mine["circuits"]} == {a["id"], b["id"]}

    assert (await client.delete(f"/circuits/{b['id']}", headers=alice.headers)).status == 204
    assert (await _listing(client))["total"] == 0
    assert (await _listing(client, headers=alice.headers))["total"] == 1


async def test_outside_writes_show_within_the_total_bound(client, hub, make_user):
    clock = FakeClock()
    hub.circuits._clock = clock
    alice = await make_user("alice")
    a = await _create(client, alice, "first")
    await _create(client, alice, "second")
    assert (await _listing(client))["total"] == 2
    async with hub.db.tx():  # not through the service
        await hub.db.execute(Circuit.update(is_public=False).where(Circuit.id == a["id"]))
    signed_in = await _listing(client, headers=(await make_user("bob")).headers)  # never cached
    assert [c["id"] for c in signed_in["circuits"]] != [] and a["id"] not in {c["id"] for c in signed_in["circuits"]}
    clock.now += hub.circuits.TOTAL_CACHE_SECONDS + 0.01
    listing = await _listing(client)  # anonymous pages and totals: within the bound
    assert listing["total"] == 1 and a["id"] not in {c["id"] for c in listing["circuits"]}


async def test_anonymous_pages_are_reused_until_a_change_or_the_bound(client, hub, make_user):
    clock = FakeClock()
    hub.circuits._clock = clock
    alice = await make_user("alice")
    a = await _create(client, alice, "first")
    first = await _listing(client)
    async with hub.db.tx():  # a counter kept elsewhere (stars, views, runs)
        await hub.db.execute(Circuit.update(stars_count=7).where(Circuit.id == a["id"]))
    assert (await _listing(client))["circuits"][0]["stars_count"] == first["circuits"][0]["stars_count"] == 0
    assert (await _listing(client, headers=alice.headers))["circuits"][0]["stars_count"] == 7  # signed in: fresh
    clock.now += hub.circuits.TOTAL_CACHE_SECONDS + 0.01
    assert (await _listing(client))["circuits"][0]["stars_count"] == 7
    b = await _create(client, alice, "second")  # through the service: at once
    assert [c["id"] for c in (await _listing(client))["circuits"]] == [b["id"], a["id"]]


async def test_list_cards_match_the_detail(client, hub, make_user):
    alice = await make_user("alice")
    await _create(client, alice, "plain")
    await _create(client, alice, "rich", tags=["b", "a"], qubits=3, description="d", is_public=False)
    for headers in ({}, alice.headers):
        listing = await _listing(client, "?limit=100", headers)
        assert listing["circuits"]
        for card in listing["circuits"]:
            detail = await (await client.get(f"/circuits/{card['id']}", headers=headers)).json()
            assert {k: detail[k] for k in card if k != "views_count"} == {k: v for k, v in card.items() if k != "views_count"}
    page_two = await _listing(client, "?limit=1&page=2", alice.headers)
    assert page_two["total"] == 2 and page_two["pages"] == 2 and len(page_two["circuits"]) == 1
    hub.circuits._totals.clear()  # past the end with nothing cached: counted on its own
    past_end = await _listing(client, "?limit=1&page=9", alice.headers)
    assert past_end["total"] == 2 and past_end["circuits"] == []
