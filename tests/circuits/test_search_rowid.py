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
    """The same search with every query taken as narrow, then as broad: dense (a seek per
    circuit tested) and sparse (the matches read once per statement)."""
    service = hub.circuits
    try:
        service.NARROW_SEARCH_MATCHES = 10**9
        narrow = await list_all(client, user, **params)
        service.NARROW_SEARCH_MATCHES = -1
        service.DENSE_SEARCH_SHARE = 0.0
        dense = await list_all(client, user, **params)
        service.DENSE_SEARCH_SHARE = 10.0**9
        sparse = await list_all(client, user, **params)
    finally:
        del service.NARROW_SEARCH_MATCHES
        del service.DENSE_SEARCH_SHARE
    assert narrow == dense == sparse, (narrow, dense, sparse)
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


async def test_long_and_short_words_agree_both_ways(client, hub, make_user):
    """Words with a prefix index (a seek per circuit tested) and longer ones (the matches read
    once per statement) find the same circuits, whole words and prefixes alike."""
    from qubithub_lite.db.circuit_list import PREFIX_INDEXED

    alice = await make_user("alice")
    long_word = "superconducting" + "x" * (PREFIX_INDEXED - 14)
    assert len(long_word) > PREFIX_INDEXED
    titles = {"c0": f"{long_word} qubit", "c1": f"{long_word}s array", "c2": "supercon mixer", "c3": "plain qubit"}
    for name, title in titles.items():
        await create(client, alice, name, title=title, is_public=name != "c3", tags=["hw"])
    cases = {long_word: ["c0", "c1"], long_word[:PREFIX_INDEXED]: ["c0", "c1"], "supercon": ["c0", "c1", "c2"],
             f"{long_word} qubit": ["c0"], "qubit": ["c0", "c3"], "s": ["c0", "c1", "c2"]}
    for text, expected in cases.items():
        names, totals = await search_both_ways(client, hub, alice, q=text, sort="name", tags="hw")
        assert names == expected and totals == {len(expected)}, text


async def test_m0019_rebuilds_the_search_index_of_a_populated_database(tmp_path):
    """m0019 rebuilds ``circuit_fts`` with prefix indexes from the stored circuits (the same
    rowids; edits after it still followed) and re-creates the tied sort indexes with ``id``."""
    from qubithub_lite.db.circuit_list import PREFIX_INDEXED
    from qubithub_lite.db.migrations import m0019_search_prefix_indexes as m0019

    assert max(m0019.PREFIX_LENGTHS) == PREFIX_INDEXED and m0019.PREFIX_LENGTHS == tuple(range(1, PREFIX_INDEXED + 1))
    db = open_database(f"sqlite:///{tmp_path / 'q.db'}")
    try:
        await migrate.upgrade(db, target=17)
        now = "2026-01-01 00:00:00"
        await db.execute_sql("INSERT INTO user (id, email, username, name, password_hash, is_admin, is_pro, is_active, created_at, "
                             "updated_at) VALUES ('u1','a@b.c','ann','Ann','h',0,0,1,?,?)", (now, now))
        for i, title in enumerate(["Quantum walk", "Grover search", "Quantum Fourier"]):
            await add(db, f"c{i}", title)
        before = dict((await db.execute_sql("SELECT id, search_rowid FROM circuit")).fetchall())
        assert 19 in await migrate.upgrade(db)
        sql = (await db.execute_sql("SELECT sql FROM sqlite_master WHERE name = 'circuit_fts'")).fetchone()[0]
        assert "prefix = '1 2 3" in sql
        rows = (await db.execute_sql(
            "SELECT c.id FROM circuit_fts f JOIN circuit c ON c.search_rowid = f.rowid "
            "WHERE circuit_fts MATCH '\"quant\"*' ORDER BY c.id")).fetchall()
        assert [r[0] for r in rows] == ["c0", "c2"]
        assert dict((await db.execute_sql("SELECT id, search_rowid FROM circuit")).fetchall()) == before
        await db.execute_sql("UPDATE circuit SET title = 'Teleport' WHERE id = 'c1'")
        await add(db, "c3", "Quantum volume")
        rows = (await db.execute_sql(
            "SELECT circuit_id FROM circuit_fts WHERE circuit_fts MATCH '\"tele\"* OR \"volu\"*' ORDER BY circuit_id"
        )).fetchall()
        assert [r[0] for r in rows] == ["c1", "c3"]
        indexes = {r[0] for r in (await db.execute_sql(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'circuit'")).fetchall()}
        for col in m0019.TIED_SORT_COLUMNS:
            assert f"circuit_is_public_{col}_id" in indexes and f"circuit_is_public_{col}" not in indexes
    finally:
        await db.close()


async def test_search_plans_follow_the_share_of_matching_circuits(tmp_path):
    """Few matches: narrow; more than the dense share of all circuits: dense; in between:
    sparse. A plan is reused for a while (it changes no page and no total)."""
    from qubithub_lite.db import circuit_list as statements
    from qubithub_lite.schemas.circuits import CircuitListQuery

    db = open_database(f"sqlite:///{tmp_path / 'q.db'}")
    try:
        await migrate.upgrade(db)
        now = "2026-01-01 00:00:00"
        await db.execute_sql("INSERT INTO user (id, email, username, name, password_hash, is_admin, is_pro, is_active, created_at, "
                             "updated_at) VALUES ('u1','a@b.c','ann','Ann','h',0,0,1,?,?)", (now, now))
        for i in range(40):
            await add(db, f"c{i:02d}", "common" + (" rare" if i < 4 else "") + (" half" if i % 2 else ""))

        async def plan(text, narrow_limit=2, share=0.25):
            return await statements.search_plan(db, CircuitListQuery(q=text), narrow_limit, share)

        assert await plan("common") == statements.DENSE  # 40 of 40
        assert await plan("half") == statements.DENSE  # 20 of 40 > 25 %
        assert await plan("half", share=0.6) == statements.SPARSE  # 20 of 40 < 60 %
        assert await plan("rare") == statements.SPARSE  # more than 2, but 4 of 40 < 25 %
        assert await plan("rare", share=0.05) == statements.DENSE  # 4 of 40 > 5 %
        assert await plan("rare", narrow_limit=4) == statements.NARROW
        assert await plan("absent") == statements.NARROW
        assert await statements.search_plan(db, CircuitListQuery(q=None)) is None
        await db.execute_sql("DELETE FROM circuit WHERE title LIKE '%half%'")
        assert await plan("half") == statements.DENSE  # reused: the same plan for a while
        statements._plans.clear()
        assert await plan("half") == statements.NARROW  # counted again: none left
    finally:
        await db.close()
