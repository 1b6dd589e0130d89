"""SQLite searches reach circuits through ``search_rowid`` (m0017): the FTS rows follow every
create, edit and delete; a narrow search (driven by the matches) and a broad one (branch walks
testing the matches) give the same pages and totals; the migration links circuits that
existed before it."""

from __future__ import annotations

import pytest

from qubithub_lite.db import migrate
from qubithub_lite.db.circuits import Circuit
from qubithub_lite.db.core import open_database

from .helpers import create
from .test_list_visibility import list_all
from .test_social import make_org

pytestmark = pytest.mark.sqlite_only("the FTS5 table and its rowid link are SQLite's")


async def search_both_ways(client, hub, user, **params):
    """The same search with every query taken as narrow, then as broad."""
    service = hub.circuits
    try:
        service.NARROW_SEARCH_MATCHES = 10**9
        narrow = await list_all(client, user, **params)
        service.NARROW_SEARCH_MATCHES = -1
        broad = await list_all(client, user, **params)
    finally:
        del service.NARROW_SEARCH_MATCHES
    assert narrow == broad, (narrow, broad)
    return narrow


async def test_narrow_and_broad_searches_agree_through_edits_and_deletes(client, hub, make_user):
    alice, bob = await make_user("alice"), await make_user("bob")
    await make_org(client, bob, "lab", members=[alice])
    made = {}
    for i, (owner, public, org) in enumerate([(alice, True, None), (alice, False, None), (bob, True, None),
                                              (bob, False, None), (bob, False, "lab"), (bob, True, "lab")] * 2):
        extra = {"organization_name": org} if org else {}
        body = await create(client, owner, f"c{i:02d}", title=f"Entangler number {i}", is_public=public,
                            tags=["grover" if i % 2 else "qft"], qubits=i, **extra)
        made[body["name"]] = (owner, public, org)
    visible = sorted(n for n, (owner, public, org) in made.items() if public or owner is alice or org == "lab")
    names, totals = await search_both_ways(client, hub, alice, q="number", sort="name")
    assert names == visible and totals == {len(visible)}
    odd = [n for n in visible if int(n[1:]) % 2]
    names, totals = await search_both_ways(client, hub, alice, q="entang", tags="grover", sort="name")
    assert names == odd and totals == {len(odd)}
    names, _ = await search_both_ways(client, hub, alice, q="number", sort="qubits", order="desc")
    assert names == sorted(visible, key=lambda n: -int(n[1:]))
    # An edit moves the circuit's text; a delete removes it.
    listing = await (await client.get("/circuits", params={"q": "c03", "limit": "100"}, headers=bob.headers)).json()
    target = next(c for c in listing["circuits"] if c["name"] == "c03")
    resp = await client.put(f"/circuits/{target['id']}", json={"title": "Teleporter"}, headers=bob.headers)
    assert resp.status == 200, await resp.text()
    assert (await search_both_ways(client, hub, bob, q="teleporter"))[0] == ["c03"]
    assert "c03" not in (await search_both_ways(client, hub, bob, q="entangler", sort="name"))[0]
    resp = await client.delete(f"/circuits/{target['id']}", headers=bob.headers)
    assert resp.status in (200, 204), await resp.text()
    assert (await search_both_ways(client, hub, bob, q="teleporter")) == ([], {0})


async def add(db, cid: str, title: str) -> None:
    """A circuit row through the model (its search_rowid left to the trigger, if any)."""
    await db.execute(Circuit.insert(id=cid, name=cid, namespace_id="u1", owner="u1", title=title, framework="qiskit"))


async def test_m0017_links_the_circuits_already_stored(tmp_path):
    db = open_database(f"sqlite:///{tmp_path / 'q.db'}")
    try:
        await migrate.upgrade(db, target=15)
        now = "2026-01-01 00:00:00"
        await db.execute_sql("INSERT INTO user (id, email, username, name, password_hash, is_admin, is_pro, is_active, created_at, "
                             "updated_at) VALUES ('u1','a@b.c','ann','Ann','h',0,0,1,?,?)", (now, now))
        for i, title in enumerate(["Quantum walk", "Grover search", "Quantum Fourier"]):
            await add(db, f"c{i}", title)
        assert 17 in await migrate.upgrade(db)
        rows = (await db.execute_sql(
            "SELECT c.id FROM circuit_fts f JOIN circuit c ON c.search_rowid = f.rowid "
            "WHERE circuit_fts MATCH 'quantum' ORDER BY c.id")).fetchall()
        assert [r[0] for r in rows] == ["c0", "c2"]
        # A circuit created afterwards gets the next number and its own FTS row.
        await add(db, "c3", "Quantum volume")
        numbers = dict((await db.execute_sql("SELECT id, search_rowid FROM circuit")).fetchall())
        assert len(set(numbers.values())) == 4 and numbers["c3"] == max(numbers.values())
        rows = (await db.execute_sql("SELECT circuit_id FROM circuit_fts WHERE rowid = ?", (numbers["c3"],))).fetchall()
        assert rows == [("c3",)]
    finally:
        await db.close()
