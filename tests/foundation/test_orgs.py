async def make_org(client, user, slug="qlab", name="Quantum Lab"):
    resp = await client.post("/orgs", json={"name": name, "slug": slug, "description": "A lab"}, headers=user.headers)
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def test_create_org_and_profile(client, alice):
    org = await make_org(client, alice)
    assert org["slug"] == "qlab" and org["member_count"] == 1
    profile = await (await client.get("/api/orgs/qlab/profile")).json()
    assert profile["id"] == org["id"] and profile["name"] == "Quantum Lab" and profile["member_count"] == 1
    me = await (await client.get("/auth/me", headers=alice.headers)).json()
    assert {"slug": "qlab", "role": "owner"}.items() <= next(o for o in me["organizations"] if o["slug"] == "qlab").items()


async def test_org_slug_shares_namespace_with_users(client, alice, bob):
    resp = await client.post("/orgs", json={"name": "X", "slug": "bob"}, headers=alice.headers)
    assert resp.status == 400 and "taken" in (await resp.json())["detail"]
    await make_org(client, alice, "team-x")
    resp = await client.post("/auth/register", json={"email": "t@example.org", "username": "team-x", "password": "Qu4ntum!Leap#42"})
    assert resp.status == 400


async def test_members_lifecycle(client, alice, bob, make_user):
    org = await make_org(client, alice)
    oid = org["id"]
    # Non-members see the public list but not the private one.
    assert (await client.get(f"/orgs/{oid}/members", headers=bob.headers)).status == 403
    added = await client.post(f"/orgs/{oid}/members", json={"email": "BOB@example.org"}, headers=alice.headers)
    assert added.status == 201
    assert (await added.json())["role"] == "member"
    dup = await client.post(f"/orgs/{oid}/members", json={"email": "bob@example.org"}, headers=alice.headers)
    assert dup.status == 409
    missing = await client.post(f"/orgs/{oid}/members", json={"email": "ghost@example.org"}, headers=alice.headers)
    assert missing.status == 404
    members = await (await client.get(f"/orgs/{oid}/members", headers=bob.headers)).json()
    assert {m["username"] for m in members["members"]} == {"alice", "bob"} and all("email" in m for m in members["members"])
    public = await (await client.get("/orgs/qlab/public-members")).json()
    assert {m["username"]: m["role"] for m in public} == {"alice": "owner", "bob": "member"}
    assert all("email" not in m for m in public)
    # A plain member cannot add people or change roles.
    carol = await make_user("carol")
    assert (await client.post(f"/orgs/{oid}/members", json={"email": carol.email}, headers=bob.headers)).status == 403
    assert (await client.patch(f"/orgs/{oid}/members/{bob.id}", json={"role": "owner"}, headers=bob.headers)).status == 403
    # The owner promotes bob to admin; an admin may add members but not owners.
    resp = await client.patch(f"/orgs/{oid}/members/{bob.id}", json={"role": "admin"}, headers=alice.headers)
    assert resp.status == 200 and (await resp.json())["role"] == "admin"
    assert (await client.post(f"/orgs/{oid}/members", json={"email": carol.email, "role": "owner"}, headers=bob.headers)).status == 403
    assert (await client.post(f"/orgs/{oid}/members", json={"email": carol.email}, headers=bob.headers)).status == 201
    bad_role = await client.patch(f"/orgs/{oid}/members/{carol.id}", json={"role": "emperor"}, headers=alice.headers)
    assert bad_role.status == 400
    # The last owner cannot be removed or demoted.
    assert (await client.delete(f"/orgs/{oid}/members/{alice.id}", headers=alice.headers)).status == 400
    assert (await client.patch(f"/orgs/{oid}/members/{alice.id}", json={"role": "member"}, headers=alice.headers)).status == 400
    assert (await client.delete(f"/orgs/{oid}/members/{alice.id}", headers=bob.headers)).status == 403
    # Anyone may leave; admins remove members.
    assert (await client.delete(f"/orgs/{oid}/members/{carol.id}", headers=carol.headers)).status == 204
    assert (await client.delete(f"/orgs/{oid}/members/{bob.id}", headers=alice.headers)).status == 204
    profile = await (await client.get("/orgs/qlab/profile")).json()
    assert profile["member_count"] == 1


async def test_org_keys(client, alice, bob):
    org = await make_org(client, alice)
    oid = org["id"]
    await client.post(f"/orgs/{oid}/members", json={"email": bob.email}, headers=alice.headers)
    assert (await client.post(f"/orgs/{oid}/keys", json={"name": "ci"}, headers=bob.headers)).status == 403
    created = await client.post(f"/orgs/{oid}/keys", json={"name": "ci", "scopes": ["circuit:write"]}, headers=alice.headers)
    assert created.status == 201
    key = await created.json()
    listing = await (await client.get(f"/orgs/{oid}/keys", headers=bob.headers)).json()
    assert listing["total"] == 1 and listing["api_keys"][0]["id"] == key["id"]
    personal = await (await client.get("/api-keys", headers=alice.headers)).json()
    assert personal["total"] == 0  # org keys are listed with the org
    assert (await client.get("/auth/me", headers={"X-API-Key": key["key"]})).status == 200
    assert (await client.delete(f"/orgs/{oid}/keys/{key['id']}", headers=alice.headers)).status == 204
    assert (await client.get("/auth/me", headers={"X-API-Key": key["key"]})).status == 401


async def test_unknown_org_is_404(client, alice):
    assert (await client.get("/orgs/nope/profile")).status == 404
    assert (await client.get("/orgs/00000000-0000-0000-0000-000000000000/members", headers=alice.headers)).status == 404


async def test_personal_org_takes_no_members(client, alice, bob):
    personal = alice.data["user"]["organizations"][0]
    resp = await client.post(f"/orgs/{personal['id']}/members", json={"email": bob.email}, headers=alice.headers)
    assert resp.status == 400
