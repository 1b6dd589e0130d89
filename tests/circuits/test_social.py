"""Visibility, organizations, stars, forks, scopes and rate limits."""

from __future__ import annotations

import asyncio

import pytest

from qubithub_lite.db.circuits import Blob

from tests.conftest import make_settings
from .helpers import CIRCUIT_PY, MANIFEST, create, upload, upload_batch


async def make_org(client, owner, slug, members=()):
    resp = await client.post("/orgs", json={"name": slug.title(), "slug": slug}, headers=owner.headers)
    assert resp.status == 201, await resp.text()
    org = await resp.json()
    for m in members:
        resp = await client.post(f"/orgs/{org['id']}/members", json={"email": m.email}, headers=owner.headers)
        assert resp.status == 201, await resp.text()
    return org


async def test_private_circuit_does_not_exist_for_strangers(client, alice, bob):
    c = await create(client, alice, "secret", is_public=False, tags=["hidden"])
    await upload(client, alice, c["id"], "circuit.py", CIRCUIT_PY)
    files = await (await client.get(f"/circuits/{c['id']}/files", headers=alice.headers)).json()
    path = files["files"][0]["path"]
    for headers in ({}, bob.headers):
        assert (await client.get(f"/circuits/{c['id']}", headers=headers)).status == 404
        assert (await client.get(f"/circuits/{c['id']}/files", headers=headers)).status == 404
        assert (await client.get(f"/files/{path}", headers=headers)).status == 404
        assert (await client.get("/files/circuits/alice/secret/v1/circuit.py", headers=headers)).status == 404
        assert (await client.get("/circuits/resolve", params={"repo_name": "alice/secret"}, headers=headers)).status == 404
        listed = await (await client.get("/circuits", params={"tags": "hidden"}, headers=headers)).json()
        assert listed["total"] == 0 and listed["circuits"] == []
        assert (await (await client.get("/circuits", params={"q": "secret"}, headers=headers)).json())["total"] == 0
    for method, url, kw in (
        ("put", f"/circuits/{c['id']}", {"json": {"title": "x"}}),
        ("delete", f"/circuits/{c['id']}", {}),
        ("post", f"/circuits/{c['id']}/star", {}),
        ("post", f"/circuits/{c['id']}/fork", {"json": {}}),
        ("post", f"/circuits/{c['id']}/upload", {"data": {"file": b"x"}}),
    ):
        resp = await getattr(client, method)(url, headers=bob.headers, **kw)
        assert resp.status == 404, (method, url)
    # the owner sees everything
    assert (await client.get(f"/circuits/{c['id']}", headers=alice.headers)).status == 200
    resp = await client.get(f"/files/{path}", headers=alice.headers)
    assert resp.status == 200 and resp.headers["Cache-Control"].startswith("private")
    assert (await (await client.get("/circuits", headers=alice.headers)).json())["total"] == 1


async def test_organization_circuits(client, alice, bob, make_user):
    carol = await make_user("carol")
    org = await make_org(client, alice, "quantum-lab", members=[bob])
    # not a member → 403; unknown org → 404
    resp = await client.post("/circuits", json={"name": "x", "title": "X", "framework": "qiskit",
                                                 "organization_name": "quantum-lab"}, headers=carol.headers)
    assert resp.status == 403
    resp = await client.post("/circuits", json={"name": "x", "title": "X", "framework": "qiskit",
                                                 "organization_name": "no-such-org"}, headers=carol.headers)
    assert resp.status == 404
    c = await create(client, alice, "grover", organization_name="quantum-lab", is_public=False)
    assert c["organization"]["slug"] == "quantum-lab" and c["repo_name"] == "quantum-lab/grover"
    # a member sees and writes it, a stranger does not see it
    assert (await client.get("/circuits/resolve", params={"repo_name": "quantum-lab/grover"},
                             headers=bob.headers)).status == 200
    assert (await client.put(f"/circuits/{c['id']}", json={"title": "By Bob"}, headers=bob.headers)).status == 200
    await upload(client, bob, c["id"], "circuit.py", CIRCUIT_PY)
    assert (await client.get(f"/circuits/{c['id']}", headers=carol.headers)).status == 404
    assert (await (await client.get("/circuits", headers=bob.headers)).json())["total"] == 1
    assert (await (await client.get("/circuits", headers=carol.headers)).json())["total"] == 0
    # names are unique per owner: alice may reuse "grover" personally, the org may not
    await create(client, alice, "grover")
    resp = await client.post("/circuits", json={"name": "grover", "title": "X", "framework": "qiskit",
                                                 "organization_name": "quantum-lab"}, headers=bob.headers)
    assert resp.status == 400
    # a plain member may not delete the org's circuit, the org owner may
    assert (await client.delete(f"/circuits/{c['id']}", headers=bob.headers)).status == 403
    assert (await client.delete(f"/circuits/{c['id']}", headers=alice.headers)).status == 204
    # the personal namespace given as organization_name is a personal circuit
    p = await create(client, alice, "mine", organization_name="alice")
    assert p["organization"] is None and p["repo_name"] == "alice/mine"
    assert org["slug"] == "quantum-lab"


async def test_star_toggle_and_is_starred(client, alice, bob):
    c = await create(client, alice, "bell")
    resp = await client.post(f"/circuits/{c['id']}/star", headers=bob.headers)
    assert resp.status == 200 and await resp.json() == {"starred": True, "stars_count": 1}
    assert (await (await client.get(f"/circuits/{c['id']}", headers=bob.headers)).json())["is_starred"] is True
    assert (await (await client.get(f"/circuits/{c['id']}", headers=alice.headers)).json())["is_starred"] is False
    listed = await (await client.get("/circuits", headers=bob.headers)).json()
    assert listed["circuits"][0]["is_starred"] is True and listed["circuits"][0]["stars_count"] == 1
    assert await (await client.post(f"/circuits/{c['id']}/star", headers=bob.headers)).json() == {
        "starred": False, "stars_count": 0}
    assert (await client.post(f"/circuits/{c['id']}/star")).status == 401


async def test_fifty_concurrent_stars_leave_an_exact_count(client, make_user, alice):
    c = await create(client, alice, "popular")
    users = [await make_user(f"fan{i}") for i in range(50)]
    results = await asyncio.gather(*(client.post(f"/circuits/{c['id']}/star", headers=u.headers) for u in users))
    assert all(r.status == 200 for r in results)
    assert (await (await client.get(f"/circuits/{c['id']}")).json())["stars_count"] == 50
    # half of them toggle off while the other half toggle twice, concurrently
    ops = [client.post(f"/circuits/{c['id']}/star", headers=u.headers) for u in users[:25]]
    ops += [client.post(f"/circuits/{c['id']}/star", headers=u.headers) for u in users[25:] for _ in range(2)]
    assert all(r.status == 200 for r in await asyncio.gather(*ops))
    assert (await (await client.get(f"/circuits/{c['id']}")).json())["stars_count"] == 25


async def test_fork_copies_versions_by_reference(client, hub, alice, bob):
    c = await create(client, alice, "bell", tags=["entanglement"])
    await upload_batch(client, alice, c["id"], [("qubithub.toml", MANIFEST), ("circuit.py", CIRCUIT_PY)], "v1")
    await upload(client, alice, c["id"], "extra.qasm", b"OPENQASM 3;\n", "v2")
    blobs_before = await hub.db.count(Blob.select())
    resp = await client.post(f"/circuits/{c['id']}/fork", json={}, headers=bob.headers)
    assert resp.status == 201
    fork = await resp.json()
    assert fork["name"] == "bell" and fork["repo_name"] == "bob/bell" and fork["forked_from"] == c["id"]
    assert fork["owner"]["username"] == "bob" and fork["stars_count"] == 0
    src = await (await client.get(f"/circuits/{c['id']}")).json()
    assert src["forks_count"] == 1
    assert [v["commit_hash"] for v in fork["versions"]] == [v["commit_hash"] for v in src["versions"]]
    assert fork["versions"][0]["file_path"].startswith(f"circuits/{fork['id']}/v1/")
    assert await hub.db.count(Blob.select()) == blobs_before  # no copies
    files = await (await client.get(f"/circuits/{fork['id']}/files")).json()
    content = await (await client.get(f"/files/{[f for f in files['files'] if f['name'] == 'circuit.py'][0]['path']}")).read()
    assert content == CIRCUIT_PY
    # collisions → 409, custom name works, private sources cannot be forked by strangers
    assert (await client.post(f"/circuits/{c['id']}/fork", json={}, headers=bob.headers)).status == 409
    assert (await client.post(f"/circuits/{c['id']}/fork", json={}, headers=alice.headers)).status == 409
    resp = await client.post(f"/circuits/{c['id']}/fork", json={"name": "my-bell"}, headers=bob.headers)
    assert resp.status == 201 and (await resp.json())["name"] == "my-bell"
    assert (await client.post(f"/circuits/{c['id']}/fork", json={"name": "Bad Name"}, headers=bob.headers)).status == 400
    # deleting the source keeps the fork's files (shared blobs stay referenced)
    assert (await client.delete(f"/circuits/{c['id']}", headers=alice.headers)).status == 204
    again = await client.get(f"/files/{files['files'][0]['path']}")
    assert again.status == 200
    assert (await (await client.get(f"/circuits/{fork['id']}")).json())["forked_from"] is None
    # a fork's new upload does not touch the (gone) source
    await upload(client, bob, fork["id"], "more.py", b"x = 2\n")


async def test_fork_counts_against_quota(tmp_path, aiohttp_client):
    from qubithub_lite.app import create_app
    from tests.conftest import register

    client = await aiohttp_client(create_app(make_settings(tmp_path, storage={"user_quota_bytes": 1000})))
    alice, bob = await register(client, "alice"), await register(client, "bob")
    c = await create(client, alice, "bell")
    await upload(client, alice, c["id"], "big.py", b"#" * 600)
    await upload(client, bob, (await create(client, bob, "own"))["id"], "mine.py", b"#" * 600)
    resp = await client.post(f"/circuits/{c['id']}/fork", json={}, headers=bob.headers)
    assert resp.status == 403 and "storage quota exceeded" in (await resp.json())["detail"]
    assert (await client.get("/circuits/resolve", params={"repo_name": "bob/bell"})).status == 404


@pytest.fixture
def settings(tmp_path):
    return make_settings(tmp_path)


async def test_api_key_scopes(client, alice):
    async def key(scopes):
        resp = await client.post("/api-keys", json={"name": "-".join(scopes) or "none", "scopes": scopes},
                                 headers=alice.headers)
        assert resp.status == 201, await resp.text()
        return {"X-API-Key": (await resp.json())["key"]}

    reader, writer = await key(["circuit:read"]), await key(["circuit:read", "circuit:write"])
    body = {"name": "keyed", "title": "K", "framework": "qiskit"}
    resp = await client.post("/circuits", json=body, headers=reader)
    assert resp.status == 403 and "circuit:write" in (await resp.json())["detail"]
    resp = await client.post("/circuits", json=body, headers=writer)
    assert resp.status == 201
    cid = (await resp.json())["id"]
    assert (await client.get(f"/circuits/{cid}", headers=reader)).status == 200
    assert (await client.get("/circuits", headers=reader)).status == 200
    assert (await client.post(f"/circuits/{cid}/star", headers=reader)).status == 403
    other = await key(["runs:submit"])
    assert (await client.get("/circuits", headers=other)).status == 403


async def test_star_and_fork_rate_limits(tmp_path, aiohttp_client):
    from qubithub_lite.app import create_app
    from tests.conftest import register

    client = await aiohttp_client(create_app(make_settings(
        tmp_path, rate_limits={"enabled": True, "requests_per_minute": 1000, "star_per_minute": 4, "fork_per_minute": 2})))
    alice, bob = await register(client, "alice"), await register(client, "bob")
    c = await create(client, alice, "bell")
    # Few tokens, so one refills only every 15 s (stars) / 30 s (forks): a slow, loaded machine
    # can't let a token come back before the last request (30 per minute refilled one each 2 s).
    statuses = [(await client.post(f"/circuits/{c['id']}/star", headers=bob.headers)).status for _ in range(5)]
    assert statuses[:4] == [200] * 4 and statuses[4] == 429
    forks = [(await client.post(f"/circuits/{c['id']}/fork", json={"name": f"f{i}"}, headers=bob.headers)).status
             for i in range(3)]
    assert forks[:2] == [201] * 2 and forks[2] == 429
