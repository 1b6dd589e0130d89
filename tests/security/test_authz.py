"""Authorization attacks, one test per attack, each asserting the safe behaviour.

The attacker is a student with an account (or none): other people's private things stay
invisible (404), keys never do more than their scopes, their organization or their user
allow, roles cannot be raised from below, and bad credentials are 401.
"""

from __future__ import annotations

import datetime as dt
import uuid

import aiohttp
import jwt
import pytest

from qubithub_lite.app import all_routes
from qubithub_lite.schemas.api_keys import SCOPES
from qubithub_lite.services import permissions
from qubithub_lite.services.accounts import NewUser
from tests.conftest import PASSWORD, make_settings
from tests.conftest import TestUser as SignedIn
from tests.runs.helpers import QASM3, wait_run

NOWHERE = "00000000-0000-4000-8000-000000000000"


# Helpers ------------------------------------------------------------------------------
def key_headers(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


async def make_key(client, user, *, org_id: str | None = None, expect: int = 201, headers=None, **body) -> dict:
    body = {"name": "k", **body}
    path = f"/orgs/{org_id}/keys" if org_id else "/api-keys"
    resp = await client.post(path, json=body, headers=headers or user.headers)
    assert resp.status == expect, await resp.text()
    return await resp.json()


async def make_org(client, user, slug: str) -> dict:
    resp = await client.post("/orgs", json={"name": slug.title(), "slug": slug}, headers=user.headers)
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def add_member(client, org_id: str, owner, member, role: str = "member") -> None:
    resp = await client.post(f"/orgs/{org_id}/members", json={"email": member.email, "role": role}, headers=owner.headers)
    assert resp.status == 201, await resp.text()


async def circuit(client, user, name: str, *, public: bool = False, org: str | None = None, headers=None,
                  files: bool = False) -> dict:
    body = {"name": name, "title": name, "framework": "openqasm3" if files else "qiskit", "is_public": public}
    if org:
        body["organization_name"] = org
    resp = await client.post("/circuits", json=body, headers=headers or user.headers)
    assert resp.status == 201, await resp.text()
    created = await resp.json()
    if files:
        form = aiohttp.FormData()
        form.add_field("file", QASM3.encode(), filename="circuit.qasm", content_type="application/octet-stream")
        up = await client.post(f"/circuits/{created['id']}/upload", data=form, headers=headers or user.headers)
        assert up.status == 201, await up.text()
    return created


async def dataset(client, user, name: str, *, public: bool = False, org: str | None = None) -> dict:
    body = {"name": name, "title": name, "format": "csv", "is_public": public}
    if org:
        body["organization_name"] = org
    resp = await client.post("/datasets", json=body, headers=user.headers)
    assert resp.status == 201, await resp.text()
    created = await resp.json()
    form = aiohttp.FormData()
    form.add_field("file", b"a,b\n1,2\n3,4\n", filename="data.csv", content_type="text/csv")
    up = await client.post(f"/datasets/{created['id']}/versions", data=form, headers=user.headers)
    assert up.status == 201, await up.text()
    return created


async def space(client, user, name: str, *, public: bool = False, org: str | None = None) -> tuple[dict, dict]:
    body = {"name": name, "title": name, "is_public": public}
    if org:
        body["organization_name"] = org
    resp = await client.post("/spaces", json=body, headers=user.headers)
    assert resp.status == 201, await resp.text()
    created = await resp.json()
    f = await client.post(f"/spaces/{created['id']}/files", json={"path": "main.py", "content": "print(1)\n"},
                          headers=user.headers)
    assert f.status == 201, await f.text()
    return created, await f.json()


async def ids_listed(client, path: str, field: str, headers=None) -> set[str]:
    resp = await client.get(path, params={"limit": 100}, headers=headers or {})
    assert resp.status == 200, await resp.text()
    return {item["id"] for item in (await resp.json())[field]}


async def site_admin(client, hub, username: str = "teacher") -> SignedIn:
    """A user created the way ``users create --admin`` does, then signed in."""
    user = await hub.accounts.create_user(NewUser(email=f"{username}@example.org", username=username,
                                                  password=PASSWORD, name=username.title(), is_admin=True))
    resp = await client.post("/auth/login", json={"identifier": username, "password": PASSWORD})
    assert resp.status == 200, await resp.text()
    data = await resp.json()
    return SignedIn(user.id, username, f"{username}@example.org", data["access_token"], data["refresh_token"])


@pytest.fixture
async def org_setup(client, alice, bob):
    """Alice owns the organization 'qlab' (bob is a plain member) and holds an admin-made org key
    with every scope; alice also has personal private things."""
    org = await make_org(client, alice, "qlab")
    await add_member(client, org["id"], alice, bob)
    key = await make_key(client, alice, org_id=org["id"], scopes=list(SCOPES))
    return org, key


# 1. Scope escalation through keys ---------------------------------------------------------
async def test_org_write_key_cannot_create_org_keys(client, alice):
    org = await make_org(client, alice, "qlab")
    weak = await make_key(client, alice, scopes=["org:write"])
    resp = await client.post(f"/orgs/{org['id']}/keys", json={"name": "x", "scopes": list(SCOPES)},
                             headers=key_headers(weak["key"]))
    assert resp.status == 403 and "keys:manage" in (await resp.json())["detail"]


async def test_no_keys_in_a_personal_organization(client, alice):
    personal = await (await client.get(f"/orgs/{alice.username}/profile")).json()
    weak = await make_key(client, alice, scopes=["org:write"])
    resp = await client.post(f"/orgs/{personal['id']}/keys", json={"name": "x", "scopes": ["circuit:write", "keys:manage"]},
                             headers=key_headers(weak["key"]))
    assert resp.status == 403
    # Even a session cannot: a personal organization's "key" would be a personal key in disguise.
    resp = await client.post(f"/orgs/{personal['id']}/keys", json={"name": "x"}, headers=alice.headers)
    assert resp.status == 400


async def test_key_cannot_grant_scopes_it_lacks(client, alice):
    manager = await make_key(client, alice, scopes=["keys:manage", "circuit:read"])
    resp = await client.post("/api-keys", json={"name": "x", "scopes": ["circuit:read", "circuit:write"]},
                             headers=key_headers(manager["key"]))
    assert resp.status == 403 and "circuit:write" in (await resp.json())["detail"]
    ok = await make_key(client, alice, headers=key_headers(manager["key"]), scopes=["circuit:read"])
    assert ok["scopes"] == ["circuit:read"]


async def test_org_key_cannot_grant_scopes_it_lacks(client, alice):
    org = await make_org(client, alice, "qlab")
    manager = await make_key(client, alice, org_id=org["id"], scopes=["keys:manage", "circuit:read"])
    resp = await client.post(f"/orgs/{org['id']}/keys", json={"name": "x", "scopes": ["circuit:write"]},
                             headers=key_headers(manager["key"]))
    assert resp.status == 403


async def test_org_key_cannot_make_or_see_personal_keys(client, alice, org_setup):
    _, org_key = org_setup
    h = key_headers(org_key["key"])
    assert (await client.post("/api-keys", json={"name": "x", "scopes": list(SCOPES)}, headers=h)).status == 403
    assert (await client.get("/api-keys", headers=h)).status == 403
    personal = await make_key(client, alice, scopes=["circuit:read"])
    assert (await client.delete(f"/api-keys/{personal['id']}", headers=h)).status == 403


async def test_key_cannot_create_a_key_that_outlives_it(client, alice):
    short = await make_key(client, alice, scopes=["keys:manage"], expires_in_days=1)
    resp = await client.post("/api-keys", json={"name": "forever", "scopes": ["keys:manage"]},
                             headers=key_headers(short["key"]))
    assert resp.status == 403


async def test_key_cannot_raise_its_rate_limit_through_a_child(client, alice):
    slow = await make_key(client, alice, scopes=["keys:manage"], rate_limit_per_minute=5)
    resp = await client.post("/api-keys", json={"name": "fast", "scopes": ["keys:manage"], "rate_limit_per_minute": 50},
                             headers=key_headers(slow["key"]))
    assert resp.status == 403


async def test_org_key_cannot_create_keys_in_another_org(client, alice, org_setup):
    _, org_key = org_setup
    other = await make_org(client, alice, "otherlab")
    resp = await client.post(f"/orgs/{other['id']}/keys", json={"name": "x"}, headers=key_headers(org_key["key"]))
    assert resp.status == 403


async def test_plain_member_cannot_create_org_keys(client, bob, org_setup):
    org, _ = org_setup
    assert (await client.post(f"/orgs/{org['id']}/keys", json={"name": "x"}, headers=bob.headers)).status == 403


# 2. Organization keys stay inside their organization --------------------------------------
async def test_org_key_cannot_read_creators_personal_private_circuit(client, alice, org_setup):
    _, org_key = org_setup
    mine = await circuit(client, alice, "diary", files=True)
    h = key_headers(org_key["key"])
    assert (await client.get(f"/circuits/{mine['id']}", headers=h)).status == 404
    assert (await client.get(f"/files/circuits/{mine['id']}/v1/circuit.qasm", headers=h)).status == 404
    assert (await client.get("/files/circuits/alice/diary/v1/circuit.qasm", headers=h)).status == 404
    assert (await client.get("/circuits/resolve", params={"repo_name": "alice/diary"}, headers=h)).status == 404
    assert (await client.get(f"/circuits/{mine['id']}/files", headers=h)).status == 404
    assert mine["id"] not in await ids_listed(client, "/circuits", "circuits", h)
    assert mine["id"] in await ids_listed(client, "/circuits", "circuits", alice.headers)  # the session sees it


async def test_org_key_reads_its_orgs_private_circuit(client, alice, org_setup):
    _, org_key = org_setup
    lab = await circuit(client, alice, "labwork", org="qlab")
    h = key_headers(org_key["key"])
    assert (await client.get(f"/circuits/{lab['id']}", headers=h)).status == 200
    assert lab["id"] in await ids_listed(client, "/circuits", "circuits", h)


async def test_org_key_cannot_change_or_delete_creators_personal_circuit(client, alice, org_setup):
    _, org_key = org_setup
    public_mine = await circuit(client, alice, "showcase", public=True)
    h = key_headers(org_key["key"])
    assert (await client.put(f"/circuits/{public_mine['id']}", json={"title": "pwned"}, headers=h)).status == 403
    assert (await client.delete(f"/circuits/{public_mine['id']}", headers=h)).status == 403
    private_mine = await circuit(client, alice, "draft")
    assert (await client.delete(f"/circuits/{private_mine['id']}", headers=h)).status == 404


async def test_org_key_cannot_reach_creators_personal_datasets(client, alice, org_setup):
    _, org_key = org_setup
    d = await dataset(client, alice, "grades")
    h = key_headers(org_key["key"])
    for path in ("", "/preview", "/download", "/stats"):
        assert (await client.get(f"/datasets/{d['id']}{path}", headers=h)).status == 404, path
    assert d["id"] not in await ids_listed(client, "/datasets", "datasets", h)


async def test_org_key_cannot_reach_creators_personal_spaces(client, alice, org_setup):
    _, org_key = org_setup
    s, f = await space(client, alice, "notes")
    h = key_headers(org_key["key"])
    assert (await client.get(f"/spaces/{s['id']}", headers=h)).status == 404
    assert (await client.get(f"/spaces/files/{f['id']}", headers=h)).status == 404
    assert s["id"] not in await ids_listed(client, "/spaces", "spaces", h)
    resp = await client.post(f"/spaces/{s['id']}/execute", json={"code": "print(1)"}, headers=h)
    assert resp.status == 404


async def test_org_key_cannot_see_creators_personal_runs(client, alice, org_setup):
    _, org_key = org_setup
    mine = await circuit(client, alice, "mine", files=True)
    lab = await circuit(client, alice, "lab", org="qlab", files=True)
    personal_run = await (await client.post("/runs", json={"circuit_id": mine["id"], "shots": 10}, headers=alice.headers)).json()
    h = key_headers(org_key["key"])
    lab_run = await client.post("/runs", json={"circuit_id": lab["id"], "shots": 10}, headers=h)
    assert lab_run.status == 201
    lab_run = await lab_run.json()
    assert (await client.post("/runs", json={"circuit_id": mine["id"]}, headers=h)).status == 404
    assert (await client.get(f"/runs/{personal_run['id']}", headers=h)).status == 404
    assert (await client.delete(f"/runs/{personal_run['id']}", headers=h)).status == 404
    listed = await ids_listed(client, "/runs", "runs", h)
    assert lab_run["id"] in listed and personal_run["id"] not in listed
    assert (await client.get("/runs/users/me/stats", headers=h)).status == 403
    assert (await client.get(f"/runs/{lab_run['id']}", headers=h)).status == 200
    for run in (personal_run, lab_run):
        await wait_run(client, alice, run["id"])


async def test_org_key_cannot_act_in_another_org_of_its_creator(client, alice, bob, org_setup):
    _, org_key = org_setup
    other = await make_org(client, alice, "otherlab")
    secret = await circuit(client, alice, "othersecret", org="otherlab")
    h = key_headers(org_key["key"])
    assert (await client.get(f"/circuits/{secret['id']}", headers=h)).status == 404
    assert (await client.get(f"/orgs/{other['id']}/members", headers=h)).status == 403
    resp = await client.post(f"/orgs/{other['id']}/members", json={"email": bob.email}, headers=h)
    assert resp.status == 403
    resp = await client.post("/circuits", json={"name": "x", "title": "x", "framework": "qiskit", "organization_name": "otherlab"}, headers=h)
    assert resp.status == 403


async def test_org_key_creates_in_its_org_and_cannot_fork_out(client, alice, bob, org_setup):
    _, org_key = org_setup
    h = key_headers(org_key["key"])
    created = await circuit(client, alice, "viakey", headers=h)
    assert created["organization"] is not None and created["organization"]["slug"] == "qlab"
    public = await circuit(client, bob, "bobs", public=True)
    assert (await client.post(f"/circuits/{public['id']}/fork", json={}, headers=h)).status == 403
    assert (await client.post("/orgs", json={"name": "New", "slug": "newlab"}, headers=h)).status == 403


async def test_org_key_stops_when_creator_leaves(client, alice, bob):
    org = await make_org(client, alice, "qlab")
    await add_member(client, org["id"], alice, bob, role="admin")
    key = await make_key(client, bob, org_id=org["id"], scopes=["circuit:read"])
    assert (await client.get("/circuits", headers=key_headers(key["key"]))).status == 200
    assert (await client.delete(f"/orgs/{org['id']}/members/{bob.id}", headers=bob.headers)).status == 204
    assert (await client.get("/circuits", headers=key_headers(key["key"]))).status == 401


# 3. Rate limits per key -------------------------------------------------------------------
class TestKeyRateLimits:
    @pytest.fixture
    def settings(self, tmp_path):
        return make_settings(tmp_path, rate_limits={"enabled": True, "requests_per_minute": 8})

    async def test_key_limit_above_users_is_refused(self, client, alice):
        resp = await client.post("/api-keys", json={"name": "fast", "rate_limit_per_minute": 100000}, headers=alice.headers)
        assert resp.status == 400 and "8/min" in (await resp.json())["detail"]

    async def test_keys_share_their_users_limit(self, client, alice):
        keys = [(await make_key(client, alice, rate_limit_per_minute=8))["key"] for _ in range(2)]
        statuses = [(await client.get("/auth/me", headers=key_headers(keys[i % 2]))).status for i in range(8)]
        # 2 requests went to creating the keys: the user's 8 are spent after 6 more, whichever key sends them.
        assert statuses[:6] == [200] * 6 and statuses[6:] == [429, 429]

    async def test_key_limit_lowers_the_users(self, client, alice):
        key = (await make_key(client, alice, rate_limit_per_minute=2))["key"]
        statuses = [(await client.get("/auth/me", headers=key_headers(key))).status for _ in range(3)]
        assert statuses == [200, 200, 429]


# Organization roles ----------------------------------------------------------------------
async def test_member_cannot_promote_themselves(client, bob, org_setup):
    org, _ = org_setup
    resp = await client.patch(f"/orgs/{org['id']}/members/{bob.id}", json={"role": "owner"}, headers=bob.headers)
    assert resp.status == 403


async def test_admin_cannot_promote_themselves_to_owner(client, alice, bob, org_setup):
    org, _ = org_setup
    await client.patch(f"/orgs/{org['id']}/members/{bob.id}", json={"role": "admin"}, headers=alice.headers)
    resp = await client.patch(f"/orgs/{org['id']}/members/{bob.id}", json={"role": "owner"}, headers=bob.headers)
    assert resp.status == 403
    assert (await client.delete(f"/orgs/{org['id']}/members/{alice.id}", headers=bob.headers)).status == 403


async def test_member_cannot_add_members(client, bob, make_user, org_setup):
    org, _ = org_setup
    carol = await make_user("carol")
    resp = await client.post(f"/orgs/{org['id']}/members", json={"email": carol.email, "role": "owner"}, headers=bob.headers)
    assert resp.status == 403


async def test_last_owner_cannot_leave_or_be_demoted(client, alice, org_setup):
    org, _ = org_setup
    assert (await client.delete(f"/orgs/{org['id']}/members/{alice.id}", headers=alice.headers)).status == 400
    resp = await client.patch(f"/orgs/{org['id']}/members/{alice.id}", json={"role": "member"}, headers=alice.headers)
    assert resp.status == 400
    members = await (await client.get(f"/orgs/{org['id']}/members", headers=alice.headers)).json()
    assert [m["role"] for m in members["members"] if m["user_id"] == alice.id] == ["owner"]


async def test_stranger_cannot_see_members_or_keys(client, make_user, org_setup):
    org, _ = org_setup
    mallory = await make_user("mallory")
    assert (await client.get(f"/orgs/{org['id']}/members", headers=mallory.headers)).status == 403
    assert (await client.get(f"/orgs/{org['id']}/keys", headers=mallory.headers)).status == 403


# Credentials --------------------------------------------------------------------------------
async def test_revoked_key_is_401(client, alice):
    key = await make_key(client, alice)
    assert (await client.delete(f"/api-keys/{key['id']}", headers=alice.headers)).status == 204
    assert (await client.get("/circuits", headers=key_headers(key["key"]))).status == 401


async def test_expired_key_is_401(client, hub, alice):
    from qubithub_lite.db.fields import utcnow
    from qubithub_lite.db.models import ApiKey

    key = await make_key(client, alice, expires_in_days=1)
    await hub.db.execute(ApiKey.update(expires_at=utcnow() - dt.timedelta(seconds=1))
                         .where(ApiKey.id == key["id"]))
    assert (await client.get("/circuits", headers=key_headers(key["key"]))).status == 401


async def test_refresh_token_is_not_an_access_token(client, alice):
    resp = await client.get("/auth/me", headers={"Authorization": f"Bearer {alice.refresh_token}"})
    assert resp.status == 401


async def test_jwt_alg_none_is_401(client, alice):
    now = int(dt.datetime.now(dt.UTC).timestamp())
    forged = jwt.encode({"sub": alice.id, "type": "access", "iat": now, "exp": now + 600}, None, algorithm="none")
    assert (await client.get("/auth/me", headers={"Authorization": f"Bearer {forged}"})).status == 401


async def test_jwt_with_wrong_signature_is_401(client, alice):
    now = int(dt.datetime.now(dt.UTC).timestamp())
    forged = jwt.encode({"sub": alice.id, "type": "access", "iat": now, "exp": now + 600}, "guessed-secret-" * 3,
                        algorithm="HS256")
    assert (await client.get("/auth/me", headers={"Authorization": f"Bearer {forged}"})).status == 401


async def test_expired_jwt_is_401(client, hub, alice):
    now = int(dt.datetime.now(dt.UTC).timestamp())
    stale = jwt.encode({"sub": alice.id, "type": "access", "iat": now - 1000, "exp": now - 10},
                       hub.accounts.tokens._secret, algorithm="HS256")
    assert (await client.get("/auth/me", headers={"Authorization": f"Bearer {stale}"})).status == 401


async def test_jwt_of_another_type_is_401(client, hub, alice):
    now = int(dt.datetime.now(dt.UTC).timestamp())
    other = jwt.encode({"sub": alice.id, "type": "refresh", "iat": now, "exp": now + 600},
                       hub.accounts.tokens._secret, algorithm="HS256")
    assert (await client.get("/auth/me", headers={"Authorization": f"Bearer {other}"})).status == 401


async def test_other_users_keys_are_invisible(client, alice, bob):
    key = await make_key(client, bob)
    assert (await client.get(f"/api-keys/{key['id']}", headers=alice.headers)).status == 404
    assert (await client.delete(f"/api-keys/{key['id']}", headers=alice.headers)).status == 404
    assert (await client.get("/circuits", headers=key_headers(key["key"]))).status == 200  # still works


async def test_org_keys_are_not_managed_through_personal_routes(client, alice, bob):
    org = await make_org(client, alice, "qlab")
    await add_member(client, org["id"], alice, bob, role="admin")
    key = await make_key(client, bob, org_id=org["id"])
    await client.patch(f"/orgs/{org['id']}/members/{bob.id}", json={"role": "member"}, headers=alice.headers)
    # bob, now a plain member, made the key: revoking it goes through the organization's rules.
    assert (await client.delete(f"/api-keys/{key['id']}", headers=bob.headers)).status == 404
    assert (await client.delete(f"/orgs/{org['id']}/keys/{key['id']}", headers=bob.headers)).status == 403


# Scopes on every route ----------------------------------------------------------------------
def _scoped_routes():
    return sorted({(s.method, s.path, s.scope) for s in all_routes() if s.scope and not s.websocket})


@pytest.mark.parametrize("method,path,scope", _scoped_routes())
async def test_key_without_the_scope_gets_403(client, alice, method, path, scope):
    key = await make_key(client, alice, scopes=[s for s in SCOPES if s != scope])
    concrete = path
    for name in ("circuit_id", "dataset_id", "space_id", "run_id", "org_id", "key_id", "user_id", "file_id"):
        concrete = concrete.replace("{" + name + "}", NOWHERE)
    concrete = concrete.replace("{slug}", alice.username).replace("{file_path}", "circuits/x/v1/y")
    concrete = concrete.replace("{suite_name}", "ghz").replace("{problem_id}", "ghz-n3").replace("{backend}", "qiskit_aer")
    resp = await client.request(method, concrete, headers=key_headers(key["key"]))
    assert resp.status == 403, (method, path, resp.status, await resp.text())
    assert scope in (await resp.json())["detail"]


async def test_websocket_needs_runs_read(client, alice):
    lab = await circuit(client, alice, "ws", public=True, files=True)
    run = await (await client.post("/runs", json={"circuit_id": lab["id"], "shots": 10}, headers=alice.headers)).json()
    key = await make_key(client, alice, scopes=["circuit:read"])
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await client.ws_connect(f"/ws/runs/{run['id']}?token={key['key']}")
    assert caught.value.status == 403
    await wait_run(client, alice, run["id"])


# Anonymous and strangers against private things ------------------------------------------------
async def test_private_circuit_invisible_to_strangers(client, alice, bob):
    c = await circuit(client, alice, "secret", files=True)
    for headers in ({}, bob.headers):
        assert (await client.get(f"/circuits/{c['id']}", headers=headers)).status == 404
        assert (await client.get(f"/circuits/{c['id']}/files", headers=headers)).status == 404
        assert (await client.get("/circuits/resolve", params={"repo_name": "alice/secret"}, headers=headers)).status == 404
        assert (await client.get(f"/files/circuits/{c['id']}/v1/circuit.qasm", headers=headers)).status == 404
        assert (await client.get(f"/files/circuits/alice/secret/v1/circuit.qasm", headers=headers)).status == 404
        assert (await client.get(f"/runs/circuits/{c['id']}/stats", headers=headers)).status == 404
        assert (await client.get(f"/circuits/{c['id']}/runs", headers=headers)).status == 404
        assert c["id"] not in await ids_listed(client, "/circuits", "circuits", headers)
    assert (await client.get(f"/files/circuits/{c['id']}/v1/circuit.qasm", headers=alice.headers)).status == 200


async def test_private_dataset_invisible_to_strangers(client, alice, bob):
    d = await dataset(client, alice, "marks")
    for headers in ({}, bob.headers):
        for path in ("", "/preview", "/download", "/stats"):
            assert (await client.get(f"/datasets/{d['id']}{path}", headers=headers)).status == 404, path
        assert d["id"] not in await ids_listed(client, "/datasets", "datasets", headers)
        assert d["id"] not in await ids_listed(client, "/datasets?owner=alice", "datasets", headers)


async def test_private_space_invisible_to_strangers(client, alice, bob):
    s, f = await space(client, alice, "journal")
    for headers in ({}, bob.headers):
        assert (await client.get(f"/spaces/{s['id']}", headers=headers)).status == 404
        assert (await client.get(f"/spaces/files/{f['id']}", headers=headers)).status == 404
        assert s["id"] not in await ids_listed(client, "/spaces", "spaces", headers)
    assert (await client.post(f"/spaces/{s['id']}/execute", json={"code": "print(1)"}, headers=bob.headers)).status == 404
    assert (await client.put(f"/spaces/files/{f['id']}", json={"content": "x"}, headers=bob.headers)).status == 404
    assert (await client.delete(f"/spaces/files/{f['id']}", headers=bob.headers)).status == 404


async def test_private_org_resources_invisible_to_non_members(client, alice, make_user):
    await make_org(client, alice, "qlab")
    c = await circuit(client, alice, "orgsecret", org="qlab")
    mallory = await make_user("mallory")
    assert (await client.get(f"/circuits/{c['id']}", headers=mallory.headers)).status == 404
    assert (await client.get("/circuits/resolve", params={"repo_name": "qlab/orgsecret"}, headers=mallory.headers)).status == 404


@pytest.mark.parametrize("kind", ["circuits", "datasets", "spaces"])
async def test_starring_or_forking_private_is_404(client, alice, bob, kind):
    if kind == "circuits":
        target = await circuit(client, alice, "hidden")
    elif kind == "datasets":
        target = await dataset(client, alice, "hidden")
    else:
        target, _ = await space(client, alice, "hidden")
    assert (await client.post(f"/{kind}/{target['id']}/star", headers=bob.headers)).status == 404
    assert (await client.post(f"/{kind}/{target['id']}/fork", json={}, headers=bob.headers)).status == 404


async def test_stranger_cannot_see_or_cancel_private_run(client, alice, bob):
    c = await circuit(client, alice, "runsecret", files=True)
    run = await (await client.post("/runs", json={"circuit_id": c["id"], "shots": 10}, headers=alice.headers)).json()
    assert (await client.get(f"/runs/{run['id']}", headers=bob.headers)).status == 404
    assert (await client.delete(f"/runs/{run['id']}", headers=bob.headers)).status == 404
    assert run["id"] not in await ids_listed(client, "/runs", "runs", bob.headers)
    await wait_run(client, alice, run["id"])


async def test_websocket_token_on_someone_elses_private_run(client, alice, bob):
    c = await circuit(client, alice, "wssecret", files=True)
    run = await (await client.post("/runs", json={"circuit_id": c["id"], "shots": 10}, headers=alice.headers)).json()
    for url in (f"/ws/runs/{run['id']}?token={bob.access_token}", f"/ws/runs/{run['id']}",
                f"/ws/runs/{run['id']}/subscribe?token={bob.access_token}"):
        with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
            await client.ws_connect(url)
        assert caught.value.status == 404, url
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await client.ws_connect(f"/ws/runs/{run['id']}?token=garbage")
    assert caught.value.status == 401
    ws = await client.ws_connect(f"/ws/runs/{run['id']}?token={alice.access_token}")
    first = await ws.receive_json()
    assert first["id"] == run["id"]
    await ws.close()
    await wait_run(client, alice, run["id"])


async def test_deleting_someone_elses_deleted_run_reveals_nothing(client, alice, bob):
    c = await circuit(client, alice, "gone", public=True, files=True)
    run = await (await client.post("/runs", json={"circuit_id": c["id"], "shots": 10}, headers=alice.headers)).json()
    await wait_run(client, alice, run["id"])
    assert (await client.delete(f"/runs/{run['id']}", headers=bob.headers)).status == 403  # public: visible
    assert (await client.delete(f"/runs/{run['id']}", headers=alice.headers)).status == 204
    assert (await client.delete(f"/runs/{run['id']}", headers=bob.headers)).status == 404
    assert (await client.delete(f"/runs/{uuid.uuid4()}", headers=alice.headers)).status == 404


# Site admins ---------------------------------------------------------------------------------------
async def test_site_admin_sees_every_private_resource(client, hub, alice):
    admin = await site_admin(client, hub)
    c = await circuit(client, alice, "private-c", files=True)
    d = await dataset(client, alice, "private-d")
    s, f = await space(client, alice, "private-s")
    h = admin.headers
    assert (await client.get(f"/circuits/{c['id']}", headers=h)).status == 200
    assert (await client.get(f"/files/circuits/{c['id']}/v1/circuit.qasm", headers=h)).status == 200
    assert (await client.get(f"/datasets/{d['id']}/preview", headers=h)).status == 200
    assert (await client.get(f"/spaces/files/{f['id']}", headers=h)).status == 200
    assert c["id"] in await ids_listed(client, "/circuits", "circuits", h)
    assert d["id"] in await ids_listed(client, "/datasets", "datasets", h)
    assert s["id"] in await ids_listed(client, "/spaces", "spaces", h)
    run = await (await client.post("/runs", json={"circuit_id": c["id"], "shots": 10}, headers=alice.headers)).json()
    assert (await client.get(f"/runs/{run['id']}", headers=h)).status == 200
    await wait_run(client, alice, run["id"])


async def test_site_admin_moderates_but_does_not_edit(client, hub, alice):
    admin = await site_admin(client, hub)
    c = await circuit(client, alice, "offensive")
    d = await dataset(client, alice, "offensive")
    s, _ = await space(client, alice, "offensive")
    h = admin.headers
    assert (await client.put(f"/circuits/{c['id']}", json={"title": "edited"}, headers=h)).status == 403
    assert (await client.put(f"/spaces/{s['id']}", json={"title": "edited"}, headers=h)).status == 403
    for kind, target in (("circuits", c), ("datasets", d), ("spaces", s)):
        assert (await client.delete(f"/{kind}/{target['id']}", headers=h)).status == 204, kind
        assert (await client.get(f"/{kind}/{target['id']}", headers=alice.headers)).status == 404, kind


async def test_site_admin_cancels_and_deletes_runs(client, hub, alice):
    admin = await site_admin(client, hub)
    c = await circuit(client, alice, "spam", files=True)
    run = await (await client.post("/runs", json={"circuit_id": c["id"], "shots": 10}, headers=alice.headers)).json()
    await wait_run(client, alice, run["id"])
    assert (await client.delete(f"/runs/{run['id']}", headers=admin.headers)).status == 204
    assert (await client.get(f"/runs/{run['id']}", headers=alice.headers)).status == 404


async def test_site_admin_sees_org_members_but_does_not_manage_them(client, hub, alice, bob, org_setup):
    org, org_key = org_setup
    admin = await site_admin(client, hub)
    assert (await client.get(f"/orgs/{org['id']}/members", headers=admin.headers)).status == 200
    assert (await client.get(f"/orgs/{org['id']}/keys", headers=admin.headers)).status == 200
    resp = await client.patch(f"/orgs/{org['id']}/members/{bob.id}", json={"role": "owner"}, headers=admin.headers)
    assert resp.status == 403
    assert (await client.delete(f"/orgs/{org['id']}/keys/{org_key['id']}", headers=admin.headers)).status == 204


async def test_site_admin_powers_do_not_travel_through_org_keys(client, hub, alice):
    admin = await site_admin(client, hub)
    lab = await make_org(client, admin, "staffroom")
    key = await make_key(client, admin, org_id=lab["id"], scopes=list(SCOPES))
    c = await circuit(client, alice, "privy")
    assert (await client.get(f"/circuits/{c['id']}", headers=key_headers(key["key"]))).status == 404
    assert (await client.delete(f"/circuits/{c['id']}", headers=key_headers(key["key"]))).status == 404
    personal = await make_key(client, admin, scopes=["circuit:read"])
    assert (await client.get(f"/circuits/{c['id']}", headers=key_headers(personal["key"]))).status == 200
    assert (await client.delete(f"/circuits/{c['id']}", headers=key_headers(personal["key"]))).status == 403  # scope


async def test_is_site_admin_entry_point(client, hub, alice):
    admin = await site_admin(client, hub)
    from qubithub_lite.db.models import User

    admin_row = await User.aget(User.id == admin.id)
    alice_row = await User.aget(User.id == alice.id)
    assert permissions.is_site_admin(admin_row) and not permissions.is_site_admin(alice_row)
    assert not permissions.is_site_admin(None)
    admin_row.is_active = False
    assert not permissions.is_site_admin(admin_row)


# Writing to what one may only read -------------------------------------------------------------
async def test_stranger_cannot_change_public_things(client, alice, bob):
    c = await circuit(client, alice, "open", public=True)
    d = await dataset(client, alice, "open", public=True)
    s, f = await space(client, alice, "open", public=True)
    form = aiohttp.FormData()
    form.add_field("file", QASM3.encode(), filename="circuit.qasm", content_type="application/octet-stream")
    assert (await client.post(f"/circuits/{c['id']}/upload", data=form, headers=bob.headers)).status == 403
    assert (await client.put(f"/circuits/{c['id']}", json={"title": "x"}, headers=bob.headers)).status == 403
    assert (await client.delete(f"/circuits/{c['id']}", headers=bob.headers)).status == 403
    form = aiohttp.FormData()
    form.add_field("file", b"a,b\n5,6\n", filename="data.csv", content_type="text/csv")
    assert (await client.post(f"/datasets/{d['id']}/versions", data=form, headers=bob.headers)).status == 403
    assert (await client.delete(f"/datasets/{d['id']}", headers=bob.headers)).status == 403
    assert (await client.post(f"/spaces/{s['id']}/execute", json={"code": "print(1)"}, headers=bob.headers)).status == 403
    assert (await client.put(f"/spaces/files/{f['id']}", json={"content": "x"}, headers=bob.headers)).status == 403
    resp = await client.post(f"/spaces/{s['id']}/files", json={"path": "evil.py", "content": "x"}, headers=bob.headers)
    assert resp.status == 403


async def test_member_cannot_delete_another_members_org_resource(client, alice, bob, org_setup):
    c = await circuit(client, alice, "shared", org="qlab")
    assert (await client.put(f"/circuits/{c['id']}", json={"title": "improved"}, headers=bob.headers)).status == 200
    assert (await client.delete(f"/circuits/{c['id']}", headers=bob.headers)).status == 403


async def test_disabled_users_key_is_401(client, hub, alice):
    from qubithub_lite.db.models import User

    key = await make_key(client, alice)
    await hub.db.execute(User.update(is_active=False).where(User.id == alice.id))
    assert (await client.get("/circuits", headers=key_headers(key["key"]))).status == 401


async def test_non_member_cannot_create_in_an_org(client, alice, make_user):
    await make_org(client, alice, "qlab")
    mallory = await make_user("mallory")
    resp = await client.post("/circuits", json={"name": "x", "title": "x", "framework": "qiskit", "organization_name": "qlab"},
                             headers=mallory.headers)
    assert resp.status == 403
    resp = await client.post("/circuits", json={"name": "x", "title": "x", "framework": "qiskit", "organization_name": "alice"},
                             headers=mallory.headers)
    assert resp.status == 403  # someone else's personal namespace


async def test_two_owners_demoting_each_other_at_once_leave_one_owner(client, alice, bob):
    import asyncio

    org = await make_org(client, alice, "qlab")
    await add_member(client, org["id"], alice, bob, role="owner")
    a, b = await asyncio.gather(
        client.patch(f"/orgs/{org['id']}/members/{bob.id}", json={"role": "member"}, headers=alice.headers),
        client.patch(f"/orgs/{org['id']}/members/{alice.id}", json={"role": "member"}, headers=bob.headers),
    )
    assert sorted([a.status, b.status]) in ([200, 400], [200, 403])
    members = await (await client.get(f"/orgs/{org['id']}/members", headers=alice.headers)).json()
    assert [m["role"] for m in members["members"]].count("owner") == 1


async def test_owners_removing_each_other_at_once_leave_one_owner(client, alice, bob):
    import asyncio

    org = await make_org(client, alice, "qlab")
    await add_member(client, org["id"], alice, bob, role="owner")
    await asyncio.gather(
        client.delete(f"/orgs/{org['id']}/members/{bob.id}", headers=alice.headers),
        client.delete(f"/orgs/{org['id']}/members/{alice.id}", headers=bob.headers),
    )
    profile = await (await client.get("/orgs/qlab/public-members")).json()
    assert [m["role"] for m in profile] == ["owner"]


async def test_reused_refresh_token_revokes_the_login(client, alice):
    first = await client.post("/auth/refresh", json={"refresh_token": alice.refresh_token})
    assert first.status == 200
    newer = (await first.json())["refresh_token"]
    client.session.cookie_jar.clear()  # the body's token only (the cookie would hold the newest)
    assert (await client.post("/auth/refresh", json={"refresh_token": alice.refresh_token})).status == 401
    client.session.cookie_jar.clear()
    assert (await client.post("/auth/refresh", json={"refresh_token": newer})).status == 401  # the family is revoked


async def test_logged_out_refresh_token_and_access_token_as_refresh_are_401(client, alice):
    client.session.cookie_jar.clear()
    # A JWT is not a refresh token: refused (400: it is not even shaped like one).
    assert (await client.post("/auth/refresh", json={"refresh_token": alice.access_token})).status in (400, 401)
    assert (await client.post("/auth/logout", json={"refresh_token": alice.refresh_token})).status == 204
    client.session.cookie_jar.clear()
    assert (await client.post("/auth/refresh", json={"refresh_token": alice.refresh_token})).status == 401


async def test_org_key_cannot_delete_creators_runs_of_public_personal_circuits(client, alice, org_setup):
    _, org_key = org_setup
    pub = await circuit(client, alice, "pubmine", public=True, files=True)
    run = await (await client.post("/runs", json={"circuit_id": pub["id"], "shots": 10}, headers=alice.headers)).json()
    await wait_run(client, alice, run["id"])
    h = key_headers(org_key["key"])
    assert (await client.get(f"/runs/{run['id']}", headers=h)).status == 200  # public circuit: anyone sees it
    assert (await client.delete(f"/runs/{run['id']}", headers=h)).status == 403
    assert (await client.delete(f"/runs/{run['id']}", headers=alice.headers)).status == 204


async def test_org_key_sees_only_public_things_in_other_organizations_lists(client, alice):
    """The organization lists and profile counts (``/orgs/{slug}/…``) decide visibility like every
    other list: an organization key of the lab does not see its creator's private personal things
    there, though her own session does."""
    lab = await make_org(client, alice, "lab")
    key = await make_key(client, alice, org_id=lab["id"], scopes=["circuit:read", "dataset:read", "space:read", "org:read"])
    for path, body in (("/circuits", {"name": "diary", "title": "Diary", "framework": "qiskit"}),
                       ("/datasets", {"name": "grades", "title": "Grades", "format": "csv"}),
                       ("/spaces", {"name": "notes", "title": "Notes"})):
        resp = await client.post(path, json={**body, "is_public": False}, headers=alice.headers)
        assert resp.status == 201, await resp.text()
    for kind in ("circuits", "datasets", "spaces"):
        mine = await (await client.get(f"/orgs/alice/{kind}", headers=alice.headers)).json()
        assert mine["total"] == 1, (kind, mine)
        through_key = await client.get(f"/orgs/alice/{kind}", headers=key_headers(key["key"]))
        assert through_key.status == 200 and (await through_key.json())["total"] == 0, kind
    profile = await (await client.get("/orgs/alice/profile", headers=key_headers(key["key"]))).json()
    assert profile["circuit_count"] == profile["dataset_count"] == profile["space_count"] == 0
    own = await (await client.get("/orgs/alice/profile", headers=alice.headers)).json()
    assert own["circuit_count"] == own["dataset_count"] == own["space_count"] == 1
