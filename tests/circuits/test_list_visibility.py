"""Signed-in lists take their page as a UNION of index scans (one per visibility branch): the
pages, their order and the totals must be exactly those of the visibility rule, through
creates, deletes and visibility changes."""

from __future__ import annotations

from .helpers import create
from .test_social import make_org


async def list_all(client, user, **params):
    """Every page of a list (limit 3), concatenated, and the totals each page reported."""
    names, totals, page = [], set(), 1
    while True:
        resp = await client.get("/circuits", params={"limit": "3", "page": str(page), **params}, headers=user.headers)
        assert resp.status == 200, await resp.text()
        body = await resp.json()
        totals.add(body["total"])
        names += [c["name"] for c in body["circuits"]]
        if len(body["circuits"]) < 3:
            return names, totals
        page += 1


async def test_signed_in_list_is_the_visibility_rule_page_by_page(client, make_user):
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    await make_org(client, bob, "team-a", members=[alice])
    await make_org(client, carol, "team-c")  # alice is not a member
    visible = set()
    specs = [
        (alice, "a-pub", True, None), (alice, "a-priv", False, None), (bob, "b-pub", True, None),
        (bob, "b-priv", False, None), (bob, "ta-priv", False, "team-a"), (alice, "ta-alice", False, "team-a"),
        (bob, "ta-pub", True, "team-a"), (carol, "tc-priv", False, "team-c"), (carol, "tc-pub", True, "team-c"),
        (carol, "c-priv", False, None),
    ]
    for i, (owner, name, public, org) in enumerate(specs):
        extra = {"organization_name": org} if org else {}
        await create(client, owner, name, is_public=public, tags=["shared", f"n{i % 2}"], qubits=i, **extra)
        if public or owner is alice or org == "team-a":
            visible.add(name)

    names, totals = await list_all(client, alice, sort="name")
    assert names == sorted(visible) and totals == {len(visible)}
    names, _ = await list_all(client, alice, sort="-name")
    assert names == sorted(visible, reverse=True)
    by_qubits = [n for _, n in sorted((i, s[1]) for i, s in enumerate(specs) if s[1] in visible)]
    names, _ = await list_all(client, alice, sort="qubits", order="asc")
    assert names == by_qubits
    even = {s[1] for i, s in enumerate(specs) if i % 2 == 0} & visible
    names, totals = await list_all(client, alice, sort="name", tags="n0")
    assert names == sorted(even) and totals == {len(even)}
    names, _ = await list_all(client, alice, sort="name", q="priv")
    assert names == sorted(n for n in visible if "priv" in n)
    names, _ = await list_all(client, alice, sort="name", owner="team-a")
    assert names == sorted(n for n in visible if n.startswith("ta-"))
    # Strangers and anonymous callers see the public ones only.
    stranger = await make_user("dave")
    public = {s[1] for s in specs if s[2]}
    assert (await list_all(client, stranger, sort="name"))[0] == sorted(public)


async def test_signed_in_total_stays_exact_through_changes(client, make_user):
    alice, bob = await make_user("alice"), await make_user("bob")
    await make_org(client, bob, "team-a", members=[alice])

    async def total():
        resp = await client.get("/circuits", params={"limit": "2"}, headers=alice.headers)
        return (await resp.json())["total"]

    assert await total() == 0
    mine = await create(client, alice, "mine", is_public=False)
    assert await total() == 1
    theirs = await create(client, bob, "theirs", is_public=False)
    assert await total() == 1  # bob's private circuit stays invisible
    await create(client, bob, "team", is_public=False, organization_name="team-a")
    assert await total() == 2
    resp = await client.put(f"/circuits/{theirs['id']}", json={"is_public": True}, headers=bob.headers)
    assert resp.status == 200, await resp.text()
    assert await total() == 3
    resp = await client.delete(f"/circuits/{mine['id']}", headers=alice.headers)
    assert resp.status in (200, 204), await resp.text()
    assert await total() == 2
