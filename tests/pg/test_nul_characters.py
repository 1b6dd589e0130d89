"""NUL characters in what a user sends: PostgreSQL can neither store nor compare them in text
or JSON (``invalid byte sequence for encoding "UTF8": 0x00`` was a 500), so every database
gets the same answers: a body or query with one is a 400 that says why, a path with one a 404,
and nothing is stored. Runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest

from tests.circuits.helpers import create

NUL_BODIES = [
    {"title": "Bell\u0000"},
    {"description": "x\u0000y"},
    {"tags": ["ok", "t\u0000"]},
    {"extra_metadata": {"k\u0000": 1}},
    {"extra_metadata": {"k": ["v", {"deep": "\u0000"}]}},
]


@pytest.mark.parametrize("change", NUL_BODIES)
async def test_a_nul_character_in_a_body_is_400_and_changes_nothing(client, alice, change):
    circuit = await create(client, alice, "bell", title="Bell")
    resp = await client.put(f"/circuits/{circuit['id']}", json=change, headers=alice.headers)
    assert resp.status == 400, await resp.text()
    assert "NUL" in (await resp.json())["detail"]
    again = await (await client.get(f"/circuits/{circuit['id']}", headers=alice.headers)).json()
    assert again["title"] == "Bell" and again["updated_at"] == circuit["updated_at"]


async def test_text_that_spells_backslash_u0000_is_ordinary_text(client, alice):
    circuit = await create(client, alice, "bell", title="Bell")
    resp = await client.put(f"/circuits/{circuit['id']}", json={"title": "a \\u0000 b"}, headers=alice.headers)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["title"] == "a \\u0000 b"


async def test_a_nul_character_in_a_query_is_400(client, alice):
    await create(client, alice, "bell")
    resp = await client.get("/circuits", params={"q": "bell\u0000"}, headers=alice.headers)
    assert resp.status == 400, await resp.text()
    assert "NUL" in (await resp.json())["detail"]
    ok = await client.get("/circuits", params={"q": "bell"}, headers=alice.headers)
    assert ok.status == 200 and len((await ok.json())["circuits"]) == 1


@pytest.mark.parametrize("path", ["/circuits/{id}%00", "/orgs/alice%00/circuits", "/files/circuits/{id}/v1/circuit.py%00.txt"])
async def test_a_nul_character_in_a_path_is_404(client, alice, path):
    circuit = await create(client, alice, "bell")
    resp = await client.get(path.format(id=circuit["id"]), headers=alice.headers)
    assert resp.status == 404, await resp.text()
    assert (await resp.json())["detail"]
