"""Create, read, update, delete, list, resolve."""

from __future__ import annotations

from .helpers import create


async def test_create_returns_detail_shape(client, alice):
    resp = await client.post("/circuits", headers=alice.headers, json={
        "name": "grover-search", "title": "Grover Search Algorithm",
        "description": "Quadratic speedup for unstructured search", "framework": "qiskit",
        "tags": ["search", "algorithm", "oracle"], "qubits": 4, "gates": ["H", "X", "CX", "CCX"], "depth": 12,
    })
    assert resp.status == 201
    c = await resp.json()
    assert c["name"] == c["slug"] == "grover-search"
    assert c["repo_name"] == "alice/grover-search"
    assert c["tags"] == ["search", "algorithm", "oracle"]
    assert c["gates"] == ["H", "X", "CX", "CCX"] and c["depth"] == 12 and c["qubits"] == 4
    assert c["versions"] == [] and c["latest_version"] is None
    assert c["owner"]["username"] == "alice" and c["organization"] is None
    assert c["stars_count"] == c["views_count"] == c["forks_count"] == c["runs_count"] == 0
    assert c["is_public"] is True and c["forked_from"] is None
    assert c["is_starred"] is False


async def test_create_requires_auth_and_valid_body(client, alice):
    assert (await client.post("/circuits", json={"name": "x", "title": "X", "framework": "qiskit"})).status == 401
    bad = [
        {"name": "Bad Name", "title": "X", "framework": "qiskit"},
        {"name": "a/b", "title": "X", "framework": "qiskit"},
        {"name": "-x", "title": "X", "framework": "qiskit"},
        {"name": "x" * 101, "title": "X", "framework": "qiskit"},
        {"name": "ok", "title": "", "framework": "qiskit"},
        {"name": "ok", "title": "X", "framework": "braket"},
        {"name": "ok", "title": "X", "framework": "qiskit", "qubits": -1},
        {"name": "ok", "title": "X", "framework": "qiskit", "tags": ["bad tag!"]},
        {"name": "ok", "title": "X", "framework": "qiskit", "unknown": 1},
        {"title": "X", "framework": "qiskit"},
    ]
    for body in bad:
        resp = await client.post("/circuits", json=body, headers=alice.headers)
        assert resp.status == 400, body
        assert "detail" in await resp.json()


async def test_duplicate_name_is_400_but_other_owner_may_reuse(client, alice, bob):
    await create(client, alice, "bell")
    resp = await client.post("/circuits", json={"name": "bell", "title": "Again", "framework": "qiskit"},
                             headers=alice.headers)
    assert resp.status == 400
    assert "already exists" in (await resp.json())["detail"]
    await create(client, bob, "bell")


async def test_get_counts_views_and_404s(client, alice):
    c = await create(client, alice, "bell")
    for expected in (1, 2):
        resp = await client.get(f"/circuits/{c['id']}")
        assert resp.status == 200
        body = await resp.json()
        assert body["views_count"] == expected
        assert body["is_starred"] is None  # anonymous
    assert (await client.get("/circuits/00000000-0000-0000-0000-000000000000")).status == 404
    assert (await client.get("/circuits/not-a-uuid")).status == 404
    assert (await client.get(f"/api/circuits/{c['id']}")).status == 200


async def test_update_partial_and_permissions(client, alice, bob):
    c = await create(client, alice, "bell", description="old", tags=["a"])
    resp = await client.put(f"/circuits/{c['id']}", json={"description": "new", "tags": ["entanglement", "bell"]},
                            headers=alice.headers)
    assert resp.status == 200
    body = await resp.json()
    assert body["description"] == "new" and body["tags"] == ["entanglement", "bell"] and body["title"] == "Bell"
    assert (await client.put(f"/circuits/{c['id']}", json={"title": "X"}, headers=bob.headers)).status == 403
    assert (await client.put(f"/circuits/{c['id']}", json={"title": None}, headers=alice.headers)).status == 400
    assert (await client.put(f"/circuits/{c['id']}", json={"name": "renamed"}, headers=alice.headers)).status == 400
    assert (await client.put(f"/circuits/{c['id']}", json={"title": "X"})).status == 401


async def test_delete(client, alice, bob):
    c = await create(client, alice, "bell")
    assert (await client.delete(f"/circuits/{c['id']}", headers=bob.headers)).status == 403
    resp = await client.delete(f"/circuits/{c['id']}", headers=alice.headers)
    assert resp.status == 204 and await resp.read() == b""
    assert (await client.get(f"/circuits/{c['id']}")).status == 404
    # the name is free again
    await create(client, alice, "bell")


async def test_list_filters_sort_and_pagination(client, alice, bob):
    await create(client, alice, "bell", tags=["entanglement", "foundational"], qubits=2)
    await create(client, alice, "ghz", tags=["entanglement"], qubits=5, framework="cirq")
    await create(client, bob, "vqe", tags=["vqe", "chemistry"], qubits=4, framework="pennylane",
                 description="Variational eigensolver for hydrogen")
    body = await (await client.get("/circuits")).json()
    assert body["total"] == 3 and body["page"] == 1 and body["pages"] == 1
    assert [c["name"] for c in body["circuits"]] == ["vqe", "ghz", "bell"]  # newest first
    assert all(c["is_starred"] is None for c in body["circuits"])

    async def names(**params):
        resp = await client.get("/circuits", params=params)
        assert resp.status == 200, await resp.text()
        return [c["name"] for c in (await resp.json())["circuits"]]

    assert await names(framework="cirq") == ["ghz"]
    assert sorted(await names(tags="entanglement")) == ["bell", "ghz"]
    resp = await client.get("/circuits?tags=entanglement&tags=foundational")
    assert [c["name"] for c in (await resp.json())["circuits"]] == ["bell"]
    assert await names(qubits_min=3) == ["vqe", "ghz"]
    assert await names(qubits_max=4, qubits_min=3) == ["vqe"]
    assert await names(sort="name") == ["bell", "ghz", "vqe"]
    assert await names(sort="-name") == ["vqe", "ghz", "bell"]
    assert await names(sort="name", order="desc") == ["vqe", "ghz", "bell"]
    assert await names(sort="+created_at") == ["bell", "ghz", "vqe"]
    assert await names(sort="qubits") == ["ghz", "vqe", "bell"]
    page = await (await client.get("/circuits", params={"limit": 2, "page": 2})).json()
    assert page["total"] == 3 and page["pages"] == 2 and [c["name"] for c in page["circuits"]] == ["bell"]
    for bad in ({"sort": "password"}, {"limit": 0}, {"limit": 101}, {"page": 0}, {"qubits_min": -1},
                {"framework": "braket"}, {"order": "sideways"}):
        resp = await client.get("/circuits", params=bad)
        assert resp.status == 400, bad


async def test_list_sort_by_counters(client, alice, bob):
    a = await create(client, alice, "a")
    b = await create(client, alice, "b")
    await client.post(f"/circuits/{a['id']}/star", headers=bob.headers)
    await client.get(f"/circuits/{b['id']}")
    await client.get(f"/circuits/{b['id']}")
    names = lambda body: [c["name"] for c in body["circuits"]]  # noqa: E731
    assert names(await (await client.get("/circuits?sort=stars_count")).json()) == ["a", "b"]
    assert names(await (await client.get("/circuits?sort=views_count")).json()) == ["b", "a"]
    for field in ("runs_count", "forks_count", "updated_at"):
        assert (await client.get(f"/circuits?sort={field}")).status == 200


async def test_free_text_search(client, alice):
    await create(client, alice, "bell-state", title="Bell State Circuit", tags=["entanglement"])
    await create(client, alice, "vqe-h2", title="VQE", description="Variational eigensolver for hydrogen",
                 tags=["chemistry"])
    names = lambda body: sorted(c["name"] for c in body["circuits"])  # noqa: E731
    assert names(await (await client.get("/circuits", params={"q": "bell"})).json()) == ["bell-state"]
    assert names(await (await client.get("/circuits", params={"q": "hydrog"})).json()) == ["vqe-h2"]
    assert names(await (await client.get("/circuits", params={"q": "chemistry"})).json()) == ["vqe-h2"]
    assert names(await (await client.get("/circuits", params={"q": "entangle bell"})).json()) == ["bell-state"]
    assert names(await (await client.get("/circuits", params={"q": "nothing-like-this"})).json()) == []
    # FTS syntax in the query is treated as text, never a 500
    for q in ('"', "NEAR(", "a AND OR", "*", "^x", "col:thing"):
        resp = await client.get("/circuits", params={"q": q})
        assert resp.status == 200, q
    # the index follows updates
    c = (await (await client.get("/circuits", params={"q": "bell"})).json())["circuits"][0]
    await client.put(f"/circuits/{c['id']}", json={"title": "Renamed teleportation"}, headers=alice.headers)
    assert names(await (await client.get("/circuits", params={"q": "teleportation"})).json()) == ["bell-state"]


async def test_resolve(client, alice, bob):
    c = await create(client, alice, "bell")
    resp = await client.get("/circuits/resolve", params={"repo_name": "alice/bell"})
    assert resp.status == 200
    assert (await resp.json())["id"] == c["id"]
    for bad, status in (("alice/nope", 404), ("nobody/bell", 404), ("alice", 400), ("a/b/c", 400), ("/bell", 400)):
        resp = await client.get("/circuits/resolve", params={"repo_name": bad})
        assert resp.status == status, bad
    assert (await client.get("/circuits/resolve")).status == 400
