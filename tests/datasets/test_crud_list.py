"""Create/get/put/delete, list filters, organizations, visibility and API-key scopes."""

from __future__ import annotations

import pytest

from qubithub_lite.db.circuits import Blob, StorageUsage
from qubithub_lite.db.datasets import DatasetLabel, DatasetVersion

from .helpers import CSV, create, form, parquet_bytes, upload


async def test_create_returns_the_reference_fields(client, alice):
    d = await create(client, alice, "quantum-state-tomography", "csv",
                     title="Quantum State Tomography Dataset",
                     description="10K measurements from 2-qubit state tomography experiments",
                     tags=["Tomography", "measurement", "tomography"], task_categories=["classification"],
                     license="CC-BY-4.0", citation="Alice et al. (2026)")
    assert d["name"] == d["slug"] == "quantum-state-tomography" and d["repo_name"] == "alice/quantum-state-tomography"
    assert d["tags"] == ["tomography", "measurement"] and d["task_categories"] == ["classification"]
    assert d["license"] == "CC-BY-4.0" and d["citation"] == "Alice et al. (2026)" and d["is_public"] is True
    assert d["owner"]["username"] == "alice" and d["organization"] is None
    assert d["stars_count"] == d["forks_count"] == d["downloads_count"] == d["size_bytes"] == 0
    assert d["is_starred"] is False and d["versions"] == [] and d["forked_from"] is None


@pytest.mark.parametrize("body,field", [
    ({"name": "Bad Name", "title": "t", "format": "csv"}, "name"),
    ({"name": "ok", "title": "t", "format": "xlsx"}, "format"),
    ({"name": "ok", "format": "csv"}, "title"),
    ({"name": "ok", "title": "t", "format": "csv", "tags": ["no spaces"]}, "tags"),
    ({"name": "ok", "title": "t", "format": "csv", "task_categories": [""]}, "task_categories"),
    ({"name": "ok", "title": "t", "format": "csv", "license": "<script>"}, "license"),
    ({"name": "ok", "title": "t", "format": "csv", "surprise": 1}, "surprise"),
])
async def test_create_validation_is_400(client, alice, body, field):
    resp = await client.post("/datasets", json=body, headers=alice.headers)
    assert resp.status == 400
    assert field in (await resp.json())["detail"]


async def test_duplicate_name_is_400_but_other_users_may_reuse_it(client, alice, bob):
    await create(client, alice, "shared-name")
    dup = await create(client, alice, "shared-name", expect=400)
    assert "already exists" in dup["detail"]
    await create(client, bob, "shared-name")


async def test_create_needs_auth(client):
    resp = await client.post("/datasets", json={"name": "x", "title": "x", "format": "csv"})
    assert resp.status == 401


async def test_partial_update(client, alice, bob):
    d = await create(client, alice, "upd", tags=["a"], description="old", license="MIT")
    resp = await client.put(f"/datasets/{d['id']}", json={"description": "new", "task_categories": ["regression"]},
                            headers=alice.headers)
    u = await resp.json()
    assert resp.status == 200, u
    assert u["description"] == "new" and u["task_categories"] == ["regression"]
    assert u["tags"] == ["a"] and u["license"] == "MIT" and u["title"] == d["title"]  # untouched
    resp = await client.put(f"/datasets/{d['id']}", json={"title": None}, headers=alice.headers)
    assert resp.status == 400
    resp = await client.put(f"/datasets/{d['id']}", json={"title": "x"}, headers=bob.headers)
    assert resp.status == 403
    listed = await (await client.get("/datasets", params={"task_categories": "regression"})).json()
    assert [x["id"] for x in listed["datasets"]] == [d["id"]]


async def test_delete_releases_files_and_storage(client, hub, alice, bob):
    d = await create(client, alice, "gone")
    await upload(client, alice, d["id"], "a.csv", CSV)
    assert await hub.db.count(Blob.select()) == 1
    resp = await client.delete(f"/datasets/{d['id']}", headers=bob.headers)
    assert resp.status == 403
    resp = await client.delete(f"/datasets/{d['id']}", headers=alice.headers)
    assert resp.status == 204
    assert (await client.get(f"/datasets/{d['id']}")).status == 404
    assert await hub.db.count(Blob.select()) == 0 and list(hub.blobs.objects.glob("*/*/*")) == []
    assert await hub.db.count(DatasetVersion.select()) == 0 and await hub.db.count(DatasetLabel.select()) == 0
    usage = await StorageUsage.aget(StorageUsage.owner_key == f"user:{alice.id}")
    assert usage.bytes_used == 0


async def test_unknown_and_malformed_ids_are_404(client, alice):
    for path in ("/datasets/not-a-uuid", "/datasets/00000000-0000-4000-8000-000000000000/preview",
                 "/datasets/00000000-0000-4000-8000-000000000000/stats",
                 "/datasets/00000000-0000-4000-8000-000000000000/download"):
        assert (await client.get(path, headers=alice.headers)).status == 404, path


# Listing --------------------------------------------------------------------------------------
@pytest.fixture
async def catalogue(client, alice, bob):
    a = await create(client, alice, "h2-energy", "csv", tags=["chemistry", "vqe"], task_categories=["regression"],
                     description="Bond distances of molecular hydrogen")
    b = await create(client, alice, "mnist-qml", "parquet", tags=["qml", "vqe"], task_categories=["classification"])
    c = await create(client, bob, "tomo-shots", "npy", tags=["qml"], task_categories=["classification", "regression"])
    p = await create(client, alice, "secret-data", "csv", tags=["qml"], is_public=False)
    return {"a": a, "b": b, "c": c, "p": p}


def ids(body):
    return [d["id"] for d in body["datasets"]]


async def test_list_filters(client, alice, catalogue):
    a, b, c, p = (catalogue[k]["id"] for k in "abcp")

    async def get(params, headers=None):
        resp = await client.get("/datasets", params=params, headers=headers or {})
        body = await resp.json()
        assert resp.status == 200, body
        return body

    everything = await get({})
    assert set(ids(everything)) == {a, b, c} and everything["total"] == 3 and everything["pages"] == 1
    assert set(ids(await get({}, alice.headers))) == {a, b, c, p}  # the owner sees her private one
    assert ids(await get({"format": "csv"})) == [a]
    assert set(ids(await get([("tags", "qml")]))) == {b, c}
    assert ids(await get([("tags", "qml"), ("tags", "vqe")])) == [b]  # repeated tags: all must match
    assert set(ids(await get([("task_categories", "regression")]))) == {a, c}
    assert ids(await get([("task_categories", "regression"), ("task_categories", "classification")])) == [c]
    assert ids(await get({"format": "csv", "tags": "qml"})) == []
    assert ids(await get({"q": "hydrogen"})) == [a]
    assert ids(await get({"q": "mnist"})) == [b]
    assert set(ids(await get({"q": "classification"}))) == {b, c}
    assert ids(await get({"owner": "bob"})) == [c]


async def test_list_sort_and_pagination(client, alice, bob, catalogue):
    await client.post(f"/datasets/{catalogue['c']['id']}/star", headers=alice.headers)
    await client.post(f"/datasets/{catalogue['c']['id']}/star", headers=bob.headers)
    await client.post(f"/datasets/{catalogue['a']['id']}/star", headers=bob.headers)
    body = await (await client.get("/datasets", params={"sort": "stars_count"})).json()
    assert [d["stars_count"] for d in body["datasets"]] == [2, 1, 0]
    body = await (await client.get("/datasets", params={"sort": "name"})).json()
    assert [d["name"] for d in body["datasets"]] == ["h2-energy", "mnist-qml", "tomo-shots"]
    body = await (await client.get("/datasets", params={"sort": "-name", "limit": 2, "page": 2})).json()
    assert [d["name"] for d in body["datasets"]] == ["h2-energy"] and body["pages"] == 2 and body["page"] == 2
    newest = await (await client.get("/datasets", params={"limit": 1})).json()
    assert newest["datasets"][0]["name"] == "tomo-shots"  # default: created_at, newest first
    for bad in ({"sort": "password"}, {"limit": 0}, {"limit": 101}, {"page": 0}, {"format": "xls"}):
        assert (await client.get("/datasets", params=bad)).status == 400, bad


async def test_list_shows_is_starred_for_the_caller(client, alice, catalogue):
    await client.post(f"/datasets/{catalogue['b']['id']}/star", headers=alice.headers)
    mine = await (await client.get("/datasets", headers=alice.headers)).json()
    assert {d["name"]: d["is_starred"] for d in mine["datasets"]}["mnist-qml"] is True
    anon = await (await client.get("/datasets")).json()
    assert all(d["is_starred"] is None for d in anon["datasets"])


# Organizations ----------------------------------------------------------------------------------
async def make_org(client, owner, slug="quantum-lab"):
    resp = await client.post("/orgs", json={"name": "Quantum Lab", "slug": slug}, headers=owner.headers)
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def test_org_datasets_rules_and_listing(client, alice, bob, make_user):
    org = await make_org(client, alice)
    pub = await create(client, alice, "lab-data", organization_name="quantum-lab")
    priv = await create(client, alice, "lab-private", organization_name="quantum-lab", is_public=False)
    assert pub["organization"]["slug"] == "quantum-lab" and pub["repo_name"] == "quantum-lab/lab-data"
    denied = await create(client, bob, "intruder", organization_name="quantum-lab", expect=403)
    assert "not a member" in denied["detail"]
    await create(client, bob, "x", organization_name="no-such-org", expect=404)

    listed = await (await client.get("/orgs/quantum-lab/datasets")).json()
    assert ids(listed) == [pub["id"]] and listed["total"] == 1
    assert (await client.get("/orgs/nope/datasets")).status == 404
    profile = await (await client.get("/orgs/quantum-lab/profile")).json()
    assert profile["dataset_count"] == 1

    # A member sees and may update the private one; a stranger gets 404.
    resp = await client.post(f"/orgs/{org['id']}/members", json={"email": bob.email}, headers=alice.headers)
    assert resp.status == 201
    assert (await client.get(f"/datasets/{priv['id']}", headers=bob.headers)).status == 200
    resp = await client.put(f"/datasets/{priv['id']}", json={"title": "Bob was here"}, headers=bob.headers)
    assert resp.status == 200
    # …but deleting takes the creator or an org admin/owner.
    assert (await client.delete(f"/datasets/{priv['id']}", headers=bob.headers)).status == 403
    carol = await make_user("carol")
    assert (await client.get(f"/datasets/{priv['id']}", headers=carol.headers)).status == 404
    # Organization uploads are charged to the organization.
    await upload(client, bob, priv["id"], "a.csv", CSV)
    usage = await StorageUsage.aget(StorageUsage.owner_key == f"org:{org['id']}")
    assert usage.bytes_used == len(CSV)


# Visibility ------------------------------------------------------------------------------------
async def test_private_dataset_is_404_to_strangers_everywhere(client, alice, bob):
    d = await create(client, alice, "hidden", is_public=False)
    await upload(client, alice, d["id"], "a.csv", CSV)
    base = f"/datasets/{d['id']}"
    for who in ({}, bob.headers):
        for path in ("", "/preview", "/stats", "/download", "/download?version=1", "/preview?version=1"):
            resp = await client.get(base + path, headers=who)
            assert resp.status == 404, (path, who)
            assert (await resp.json())["detail"] == "dataset not found"
        assert (await client.head(base + "/download", headers=who)).status == 404
    for method, path, kw in (("POST", "/star", {}), ("POST", "/fork", {"json": {}}), ("PUT", "", {"json": {"title": "x"}}),
                             ("DELETE", "", {}), ("POST", "/versions", {"data": form("a.csv", CSV)})):
        resp = await client.request(method, base + path, headers=bob.headers, **kw)
        assert resp.status == 404, (method, path, resp.status)
    listed = await (await client.get("/datasets", headers=bob.headers)).json()
    assert d["id"] not in ids(listed)
    # The owner sees everything, including the preview.
    prev = await client.get(base + "/preview", headers=alice.headers)
    assert prev.status == 200 and (await prev.json())["total_rows"] == 3
    dl = await client.get(base + "/download", headers=alice.headers)
    assert dl.status == 200 and dl.headers["Cache-Control"].startswith("private")


async def test_making_a_dataset_private_hides_it(client, alice, bob):
    d = await create(client, alice, "flip")
    assert (await client.get(f"/datasets/{d['id']}", headers=bob.headers)).status == 200
    await client.put(f"/datasets/{d['id']}", json={"is_public": False}, headers=alice.headers)
    assert (await client.get(f"/datasets/{d['id']}", headers=bob.headers)).status == 404


# Scopes -----------------------------------------------------------------------------------------
async def make_key(client, user, scopes):
    resp = await client.post("/api-keys", json={"name": "k", "scopes": scopes}, headers=user.headers)
    assert resp.status == 201, await resp.text()
    return {"X-API-Key": (await resp.json())["key"]}


async def test_api_key_scopes(client, alice):
    read = await make_key(client, alice, ["dataset:read"])
    write = await make_key(client, alice, ["dataset:write", "dataset:read"])
    circuits_only = await make_key(client, alice, ["circuit:read", "circuit:write"])
    body = {"name": "k-data", "title": "K", "format": "parquet"}
    assert (await client.post("/datasets", json=body, headers=read)).status == 403
    assert (await client.post("/datasets", json=body, headers=circuits_only)).status == 403
    resp = await client.post("/datasets", json=body, headers=write)
    assert resp.status == 201
    d = await resp.json()
    resp = await client.post(f"/datasets/{d['id']}/versions", data=form("d.parquet", parquet_bytes()), headers=read)
    assert resp.status == 403
    resp = await client.post(f"/datasets/{d['id']}/versions", data=form("d.parquet", parquet_bytes()), headers=write)
    assert resp.status == 201
    assert (await client.get(f"/datasets/{d['id']}/preview", headers=read)).status == 200
    assert (await client.get(f"/datasets/{d['id']}/download", headers=circuits_only)).status == 403
    assert (await client.post(f"/datasets/{d['id']}/star", headers=read)).status == 403


async def test_routes_are_served_under_api_and_documented(client, alice):
    d = await create(client, alice, "both")
    assert (await client.get(f"/api/datasets/{d['id']}")).status == 200
    spec = await (await client.get("/openapi.json")).json()
    for path in ("/datasets", "/datasets/{dataset_id}", "/datasets/{dataset_id}/versions",
                 "/datasets/{dataset_id}/preview", "/datasets/{dataset_id}/stats", "/datasets/{dataset_id}/download",
                 "/datasets/{dataset_id}/star", "/datasets/{dataset_id}/fork", "/orgs/{slug}/datasets"):
        assert path in spec["paths"], path
