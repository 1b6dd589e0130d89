"""Spaces CRUD, listing, visibility, stars, forks, files, org listing — no sandbox needed."""

from __future__ import annotations

import asyncio
import base64
import hashlib

import pytest
from peewee import fn

from qubithub_lite.db.circuits import Blob
from qubithub_lite.db.spaces import Space, SpaceFile
from tests.conftest import make_settings

from .helpers import add_file, create_space


# Create -------------------------------------------------------------------------------
async def test_create_uses_reference_defaults(client, alice):
    space = await create_space(client, alice)
    assert space["sdk"] == "qiskit" and space["space_type"] == "notebook"
    assert space["is_public"] is True  # the reference's default (the client's model says False)
    assert space["repo_name"] == "alice/demo" and space["files"] == []
    assert space["owner"]["username"] == "alice" and space["organization"] is None


@pytest.mark.parametrize("body, needle", [
    ({"name": "Bad Name", "title": "x"}, "body.name"),
    ({"name": "ok", "title": "   "}, "body.title"),
    ({"name": "ok", "title": "x", "sdk": "braket"}, "body.sdk"),
    ({"name": "ok", "title": "x", "space_type": "game"}, "body.space_type"),
    ({"name": "ok", "title": "x", "colour": "red"}, "unknown field"),
    ({"title": "x"}, "body.name: field required"),
])
async def test_create_rejects_bad_input(client, alice, body, needle):
    resp = await client.post("/spaces", json=body, headers=alice.headers)
    assert resp.status == 400
    assert needle in (await resp.json())["detail"]


async def test_create_needs_auth_and_unique_name(client, alice):
    assert (await client.post("/spaces", json={"name": "a", "title": "A"})).status == 401
    await create_space(client, alice, name="dup")
    resp = await client.post("/spaces", json={"name": "dup", "title": "Again"}, headers=alice.headers)
    assert resp.status == 400 and "already exists" in (await resp.json())["detail"]


async def test_create_under_organization_needs_membership(client, alice, bob):
    resp = await client.post("/orgs", json={"name": "Lab", "slug": "qlab"}, headers=alice.headers)
    assert resp.status == 201, await resp.text()
    space = await create_space(client, alice, organization_name="qlab", sdk="cirq", space_type="demo")
    assert space["organization"]["slug"] == "qlab" and space["repo_name"] == "qlab/demo"
    resp = await client.post("/spaces", json={"name": "x", "title": "X", "organization_name": "qlab"},
                             headers=bob.headers)
    assert resp.status == 403
    resp = await client.post("/spaces", json={"name": "x", "title": "X", "organization_name": "nowhere"},
                             headers=bob.headers)
    assert resp.status == 404


# Read / list ------------------------------------------------------------------------------
async def test_private_space_is_404_to_strangers(client, alice, bob):
    space = await create_space(client, alice, is_public=False)
    sid = space["id"]
    assert (await client.get(f"/spaces/{sid}", headers=alice.headers)).status == 200
    for headers in (bob.headers, {}):
        assert (await client.get(f"/spaces/{sid}", headers=headers)).status == 404
        for method, path, body in (("PUT", f"/spaces/{sid}", {"title": "x"}), ("DELETE", f"/spaces/{sid}", None),
                                   ("POST", f"/spaces/{sid}/star", None), ("POST", f"/spaces/{sid}/fork", None),
                                   ("POST", f"/spaces/{sid}/execute", {"code": "print(1)"}),
                                   ("POST", f"/spaces/{sid}/visualize", {"code": "x"}),
                                   ("POST", f"/spaces/{sid}/files", {"path": "a.py", "content": ""})):
            resp = await client.request(method, path, json=body, headers=headers)
            assert resp.status == (404 if headers else 401), (method, path, await resp.text())
    listed = await (await client.get("/spaces", headers=bob.headers)).json()
    assert listed["total"] == 0
    mine = await (await client.get("/spaces", headers=alice.headers)).json()
    assert [s["id"] for s in mine["spaces"]] == [sid]
    assert (await client.get("/spaces/not-a-uuid")).status == 404


async def test_list_filters_sort_search_and_pages(client, alice):
    await create_space(client, alice, name="bell", title="Bell pair", sdk="qiskit")
    await create_space(client, alice, name="grover", title="Grover search", sdk="cirq", space_type="app")
    await create_space(client, alice, name="vqe", title="VQE", description="variational eigensolver",
                       sdk="pennylane", space_type="demo")

    async def names(query: str) -> list[str]:
        resp = await client.get(f"/spaces?{query}")
        assert resp.status == 200, await resp.text()
        return [s["name"] for s in (await resp.json())["spaces"]]

    assert await names("sdk=cirq") == ["grover"]
    assert await names("space_type=demo") == ["vqe"]
    assert await names("q=eigensolver") == ["vqe"]
    assert await names("q=search") == ["grover"]
    assert await names("sort=name") == ["bell", "grover", "vqe"]
    assert await names("sort=-name") == ["vqe", "grover", "bell"]
    assert await names("sort=created_at") == ["vqe", "grover", "bell"]
    page = await (await client.get("/spaces?sort=name&limit=2&page=2")).json()
    assert [s["name"] for s in page["spaces"]] == ["vqe"] and page["total"] == 3 and page["pages"] == 2
    for bad in ("page=0", "limit=101", "limit=x", "sort=password", "sdk=braket", "space_type=x"):
        assert (await client.get(f"/spaces?{bad}")).status == 400, bad


# Update / delete --------------------------------------------------------------------------
async def test_update_is_for_writers_only(client, alice, bob):
    sid = (await create_space(client, alice))["id"]
    resp = await client.put(f"/spaces/{sid}", json={"title": "New", "sdk": "cirq", "is_public": False},
                            headers=alice.headers)
    assert resp.status == 200
    body = await resp.json()
    assert (body["title"], body["sdk"], body["is_public"]) == ("New", "cirq", False)
    assert (await client.put(f"/spaces/{sid}", json={"title": None}, headers=alice.headers)).status == 400
    assert (await client.put(f"/spaces/{sid}", json={"sdk": "x"}, headers=alice.headers)).status == 400
    assert (await client.put(f"/spaces/{sid}", json={"title": "x"}, headers=bob.headers)).status == 404  # private now
    await client.put(f"/spaces/{sid}", json={"is_public": True}, headers=alice.headers)
    assert (await client.put(f"/spaces/{sid}", json={"title": "x"}, headers=bob.headers)).status == 403
    assert (await client.delete(f"/spaces/{sid}", headers=bob.headers)).status == 403


async def test_delete_releases_files_and_storage(client, hub, alice):
    sid = (await create_space(client, alice))["id"]
    assert (await add_file(client, alice, sid, "main.py", "print('hi')\n")).status == 201
    sha = hashlib.sha256(b"print('hi')\n").hexdigest()
    assert hub.blobs.has_file(sha)
    assert await hub.storage_accounts.used(f"user:{alice.id}") == 12
    assert (await client.delete(f"/spaces/{sid}", headers=alice.headers)).status == 204
    assert (await client.get(f"/spaces/{sid}", headers=alice.headers)).status == 404
    assert not hub.blobs.has_file(sha)
    assert await hub.storage_accounts.used(f"user:{alice.id}") == 0
    assert await hub.db.count(SpaceFile.select()) == 0


# Stars and forks --------------------------------------------------------------------------
async def test_star_toggles_and_counts_exactly_under_concurrency(client, alice, make_user):
    sid = (await create_space(client, alice))["id"]
    first = await (await client.post(f"/spaces/{sid}/star", headers=alice.headers)).json()
    assert first == {"starred": True, "stars_count": 1}
    again = await (await client.post(f"/spaces/{sid}/star", headers=alice.headers)).json()
    assert again == {"starred": False, "stars_count": 0}
    users = [await make_user() for _ in range(8)]
    answers = await asyncio.gather(*(client.post(f"/spaces/{sid}/star", headers=u.headers) for u in users))
    assert all(r.status == 200 for r in answers)
    detail = await (await client.get(f"/spaces/{sid}", headers=users[0].headers)).json()
    assert detail["stars_count"] == 8 and detail["is_starred"] is True
    listed = await (await client.get("/spaces", headers=alice.headers)).json()
    assert listed["spaces"][0]["is_starred"] is False and listed["spaces"][0]["stars_count"] == 8


async def test_fork_copies_files_by_reference(client, hub, alice, bob):
    sid = (await create_space(client, alice, sdk="cirq"))["id"]
    assert (await add_file(client, alice, sid, "main.py", "print('fork me')\n")).status == 201
    assert (await add_file(client, alice, sid, "lib/util.py", "X = 1\n")).status == 201
    resp = await client.post(f"/spaces/{sid}/fork", headers=bob.headers)
    assert resp.status == 201, await resp.text()
    fork = await resp.json()
    assert fork["forked_from"] == sid and fork["repo_name"] == "bob/demo" and fork["sdk"] == "cirq"
    assert sorted(f["path"] for f in fork["files"]) == ["lib/util.py", "main.py"]
    assert {f["content"] for f in fork["files"]} == {"print('fork me')\n", "X = 1\n"}
    sha = hashlib.sha256(b"X = 1\n").hexdigest()
    blob = await Blob.aget(Blob.sha256 == sha)
    assert blob.ref_count == 2  # one stored object, two references
    assert await hub.storage_accounts.used(f"user:{bob.id}") == fork["storage_bytes"] > 0
    src = await (await client.get(f"/spaces/{sid}")).json()
    assert src["forks_count"] == 1
    assert (await client.post(f"/spaces/{sid}/fork", headers=bob.headers)).status == 409
    named = await client.post(f"/spaces/{sid}/fork", json={"name": "my-copy"}, headers=bob.headers)
    assert named.status == 201 and (await named.json())["name"] == "my-copy"
    assert (await client.post(f"/spaces/{sid}/fork", json={"name": "Bad Name"}, headers=bob.headers)).status == 400
    # Deleting the original keeps the fork's files.
    assert (await client.delete(f"/spaces/{sid}", headers=alice.headers)).status == 204
    assert hub.blobs.has_file(sha)
    assert (await Blob.aget(Blob.sha256 == sha)).ref_count == 2


# Files ------------------------------------------------------------------------------------
async def test_files_json_and_multipart_roundtrip(client, alice, bob):
    sid = (await create_space(client, alice))["id"]
    resp = await add_file(client, alice, sid, "main.py", "print('json')\n")
    assert resp.status == 201
    created = await resp.json()
    assert created["path"] == created["filename"] == "main.py" and created["size"] == 14
    resp = await add_file(client, alice, sid, "data/blob.bin", b"\x00\xff\x10", multipart=True)
    assert resp.status == 201, await resp.text()
    binary = await resp.json()
    resp = await client.post(f"/spaces/{sid}/files", headers=alice.headers,
                             json={"filename": "b64.txt", "content": base64.b64encode(b"hi").decode(),
                                   "encoding": "base64"})
    assert resp.status == 201
    detail = await (await client.get(f"/spaces/{sid}")).json()
    by_path = {f["path"]: f for f in detail["files"]}
    assert by_path["main.py"]["content"] == "print('json')\n"
    assert by_path["b64.txt"]["content"] == "hi"
    assert by_path["data/blob.bin"]["content"] is None and by_path["data/blob.bin"]["size"] == 3
    raw = await client.get(f"/spaces/files/{binary['id']}")
    assert raw.status == 200 and await raw.read() == b"\x00\xff\x10"
    # Update content, then rename.
    resp = await client.put(f"/spaces/files/{created['id']}", json={"content": "print('v2')\n"}, headers=alice.headers)
    assert resp.status == 200 and (await resp.json())["size"] == 12
    resp = await client.put(f"/spaces/files/{created['id']}", json={"path": "app/main.py"}, headers=alice.headers)
    assert resp.status == 200 and (await resp.json())["path"] == "app/main.py"
    form_update = await client.put(f"/spaces/files/{binary['id']}", headers=alice.headers, data=_form(b"new!"))
    assert form_update.status == 200 and (await form_update.json())["size"] == 4
    detail = await (await client.get(f"/spaces/{sid}")).json()
    assert {f["path"]: f.get("content") for f in detail["files"]}["app/main.py"] == "print('v2')\n"
    assert detail["storage_bytes"] == sum(f["size"] for f in detail["files"])
    # Strangers: 403 on a public space, nothing changes.
    assert (await client.put(f"/spaces/files/{created['id']}", json={"content": "x"}, headers=bob.headers)).status == 403
    assert (await client.delete(f"/spaces/files/{created['id']}", headers=bob.headers)).status == 403
    assert (await add_file(client, bob, sid, "evil.py", "x")).status == 403
    assert (await client.delete(f"/spaces/files/{created['id']}", headers=alice.headers)).status == 204
    assert (await client.delete(f"/spaces/files/{created['id']}", headers=alice.headers)).status == 404
    assert (await client.get(f"/spaces/files/{created['id']}")).status == 404


def _form(data: bytes):
    import aiohttp

    form = aiohttp.FormData()
    form.add_field("file", data, filename="whatever.bin")
    return form


async def test_file_conflicts_and_bad_bodies(client, alice):
    sid = (await create_space(client, alice))["id"]
    one = await (await add_file(client, alice, sid, "a.py", "a")).json()
    await add_file(client, alice, sid, "b.py", "b")
    assert (await add_file(client, alice, sid, "a.py", "again")).status == 409
    assert (await client.put(f"/spaces/files/{one['id']}", json={"path": "b.py"}, headers=alice.headers)).status == 409
    for body in ({"content": "x"}, {"path": "x.py"}, {"path": "x.py", "filename": "y.py", "content": ""},
                 {"path": "x.py", "content": "***", "encoding": "base64"}, {"path": "x.py", "content": 5}):
        resp = await client.post(f"/spaces/{sid}/files", json=body, headers=alice.headers)
        assert resp.status == 400, body
    assert (await client.put(f"/spaces/files/{one['id']}", json={}, headers=alice.headers)).status == 400
    assert (await client.post(f"/spaces/{sid}/files", data=b"not json", headers=alice.headers)).status == 400
    assert (await client.put(f"/spaces/files/{'0' * 36}", json={"content": "x"}, headers=alice.headers)).status == 404


@pytest.mark.parametrize("name", ["../escape.py", "/etc/passwd", "a/../../b.py", "a//b.py", ".hidden.py",
                                  "C:\\win.py", "nul.txt", "dir/./x.py", "x\x00y.py", "a\\b.py", ""])
async def test_traversal_and_unsafe_file_names_are_refused(client, hub, alice, name):
    sid = (await create_space(client, alice))["id"]
    for multipart in (False, True):
        if multipart and (not name or "\x00" in name):
            continue  # a multipart part can't carry these names at all
        resp = await add_file(client, alice, sid, name, "print(1)", multipart=multipart)
        assert resp.status == 400, (name, multipart, await resp.text())
    good = await (await add_file(client, alice, sid, "ok.py", "1")).json()
    resp = await client.put(f"/spaces/files/{good['id']}", json={"path": name or "/"}, headers=alice.headers)
    assert resp.status == 400
    assert await hub.db.count(SpaceFile.select()) == 1


@pytest.fixture
def settings(tmp_path):
    return make_settings(tmp_path, storage={"max_file_bytes": 1000, "user_quota_bytes": 2500})


async def test_oversized_files_are_413_and_quota_is_403(client, hub, alice):
    sid = (await create_space(client, alice))["id"]
    for multipart in (False, True):
        resp = await add_file(client, alice, sid, "big.py", "x" * 1001, multipart=multipart)
        assert resp.status == 413, await resp.text()
    ok = await (await add_file(client, alice, sid, "a.py", "a" * 1000)).json()
    resp = await client.put(f"/spaces/files/{ok['id']}", json={"content": "y" * 1001}, headers=alice.headers)
    assert resp.status == 413
    await add_file(client, alice, sid, "b.py", "b" * 1000)
    resp = await add_file(client, alice, sid, "c.py", "c" * 600)
    assert resp.status == 403 and "quota" in (await resp.json())["detail"]
    assert await hub.storage_accounts.used(f"user:{alice.id}") == 2000
    sizes = await hub.db.scalar(SpaceFile.select(fn.SUM(SpaceFile.size)))
    assert sizes == 2000 and (await Space.aget(Space.id == sid)).storage_bytes == 2000


# Organizations, scopes, OpenAPI ---------------------------------------------------------------
async def test_org_spaces_and_profile_count(client, alice):
    assert (await client.post("/orgs", json={"name": "Lab", "slug": "qlab"}, headers=alice.headers)).status == 201
    await create_space(client, alice, name="open", organization_name="qlab")
    await create_space(client, alice, name="secret", organization_name="qlab", is_public=False)
    await create_space(client, alice, name="personal")
    listed = await (await client.get("/orgs/qlab/spaces")).json()
    assert [s["name"] for s in listed["spaces"]] == ["open"] and listed["total"] == 1
    profile = await (await client.get("/orgs/qlab/profile")).json()
    assert profile["space_count"] == 1
    assert (await client.get("/orgs/nowhere/spaces")).status == 404


async def test_api_key_scopes_are_enforced(client, alice):
    sid = (await create_space(client, alice))["id"]
    resp = await client.post("/api-keys", json={"name": "ro", "scopes": ["space:read"]}, headers=alice.headers)
    key = (await resp.json())["key"]
    ro = {"X-API-Key": key}
    assert (await client.get(f"/spaces/{sid}", headers=ro)).status == 200
    assert (await client.post(f"/spaces/{sid}/execute", json={"code": "print(1)"}, headers=ro)).status == 403
    assert (await client.post(f"/spaces/{sid}/visualize", json={"code": "x"}, headers=ro)).status == 403
    assert (await client.post("/spaces", json={"name": "k", "title": "K"}, headers=ro)).status == 403


async def test_routes_are_in_openapi_and_under_api(client, alice):
    doc = await (await client.get("/openapi.json")).json()
    for path in ("/spaces", "/spaces/{space_id}", "/spaces/{space_id}/execute", "/spaces/{space_id}/visualize",
                 "/spaces/{space_id}/files", "/spaces/files/{file_id}", "/orgs/{slug}/spaces"):
        assert path in doc["paths"], path
    assert (await client.get("/api/spaces")).status == 200
