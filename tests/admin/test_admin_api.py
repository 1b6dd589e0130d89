"""/admin/users/… and POST /auth/password against the real app (real SQLite, real blob store)."""

from __future__ import annotations

import hashlib

import pytest

from tests.circuits.helpers import CIRCUIT_PY, create as create_circuit, upload
from tests.conftest import ON_POSTGRES, PASSWORD
from tests.pg import pgtest


@pytest.fixture
async def admin(hub, make_user):
    teacher = await make_user("teacher")
    await hub.user_admin.set_admin("teacher", True)
    return teacher


async def key_for(client, user, scopes=("circuit:read",)):
    resp = await client.post("/api-keys", json={"name": "k", "scopes": list(scopes)}, headers=user.headers)
    assert resp.status == 201, await resp.text()
    return (await resp.json())["key"]


async def test_admin_routes_need_a_site_admin_session(client, admin, alice):
    assert (await client.get("/admin/users")).status == 401
    resp = await client.get("/admin/users", headers=alice.headers)
    assert resp.status == 404  # to a non-admin the admin routes do not exist
    assert (await client.post("/admin/users/alice/disable", headers=alice.headers)).status == 404
    key = await key_for(client, admin)
    assert (await client.get("/admin/users", headers={"X-API-Key": key})).status == 403
    resp = await client.get("/api/admin/users", headers=admin.headers)
    assert resp.status == 200
    body = await resp.json()
    assert body["total"] == 2 and [u["username"] for u in body["items"]] == ["alice", "teacher"]


async def test_list_filters_and_show(client, admin, alice, bob):
    async def names(**query):
        resp = await client.get("/admin/users", params=query, headers=admin.headers)
        assert resp.status == 200, await resp.text()
        return [u["username"] for u in (await resp.json())["items"]]

    assert await names(role="admin") == ["teacher"]
    assert await names(search="BO") == ["bob"]
    assert await names(limit=1, offset=1) == ["bob"]
    assert (await client.get("/admin/users", params={"status": "gone"}, headers=admin.headers)).status == 400
    resp = await client.get(f"/admin/users/{alice.id}", headers=admin.headers)
    detail = await resp.json()
    assert detail["username"] == "alice" and detail["circuits"] == 0
    assert detail["organizations"] == [{"slug": "alice", "name": "Alice", "role": "owner", "is_personal": True}]
    assert (await client.get("/admin/users/nobody", headers=admin.headers)).status == 404


async def test_disable_stops_tokens_and_keys_at_once_and_enable_restores_keys(client, admin, alice):
    key = await key_for(client, alice)
    assert (await client.get("/auth/me", headers=alice.headers)).status == 200
    resp = await client.post("/admin/users/alice/disable", headers=admin.headers)
    assert resp.status == 200 and (await resp.json())["disabled"] is True
    assert (await client.get("/auth/me", headers=alice.headers)).status == 401
    assert (await client.get("/auth/me", headers={"X-API-Key": key})).status == 401
    assert (await client.post("/auth/refresh", json={"refresh_token": alice.refresh_token})).status == 401
    login = await client.post("/auth/login", json={"identifier": "alice", "password": PASSWORD})
    assert login.status == 401
    resp = await client.post("/admin/users/alice/enable", headers=admin.headers)
    assert resp.status == 200 and (await resp.json())["disabled"] is False
    assert (await client.get("/auth/me", headers={"X-API-Key": key})).status == 200
    assert (await client.get("/auth/me", headers=alice.headers)).status == 401  # that session ended
    assert (await client.post("/auth/login", json={"identifier": "alice", "password": PASSWORD})).status == 200


async def test_cli_disable_reaches_a_running_app(client, hub, alice, settings):
    """The CLI in another process-like context: keys are refused at once, sessions within the user cache."""
    import asyncio

    from click.testing import CliRunner

    from qubithub_lite.cli import main

    key = await key_for(client, alice)
    result = await asyncio.to_thread(CliRunner().invoke, main, ["users", "disable", "alice", "--data-dir",
                                                                 str(settings.data_dir)],
                                     env={"QUBITHUB_LITE_AUTH_BCRYPT_ROUNDS": "4", "QUBITHUB_LITE_LOGGING_LEVEL": "error",
                                          **pgtest.cli_env(settings.data_dir)})
    assert result.exit_code == 0, result.output
    assert (await client.get("/auth/me", headers={"X-API-Key": key})).status == 401
    hub.accounts.forget_user(alice.id)  # what USER_CACHE_SECONDS does at the latest
    assert (await client.get("/auth/me", headers=alice.headers)).status == 401


async def test_admins_cannot_lock_themselves_out(client, admin, alice):
    for action in ("disable", "demote"):
        resp = await client.post(f"/admin/users/teacher/{action}", headers=admin.headers)
        assert resp.status == 409, action
    assert (await client.delete("/admin/users/teacher", headers=admin.headers)).status == 409
    assert (await client.post("/admin/users/alice/promote", headers=admin.headers)).status == 200
    assert (await client.post("/admin/users/teacher/demote", headers=alice.headers)).status == 200
    assert (await client.get("/admin/users", headers=admin.headers)).status == 404


async def test_admin_password_reset_and_set(client, admin, alice):
    resp = await client.post("/admin/users/alice/password", json={}, headers=admin.headers)
    assert resp.status == 200
    body = await resp.json()
    generated = body["password"]
    assert generated and body["sessions_ended"] == 1
    assert (await client.get("/auth/me", headers=alice.headers)).status == 401
    assert (await client.post("/auth/login", json={"identifier": "alice", "password": PASSWORD})).status == 401
    assert (await client.post("/auth/login", json={"identifier": "alice", "password": generated})).status == 200
    weak = await client.post("/admin/users/alice/password", json={"password": "short"}, headers=admin.headers)
    assert weak.status == 400
    chosen = await client.post("/admin/users/alice/password", json={"password": "Chosen!Pass99"}, headers=admin.headers)
    assert chosen.status == 200 and (await chosen.json())["password"] is None


async def test_change_own_password_ends_every_other_session(client, alice):
    other = await client.post("/auth/login", json={"identifier": "alice", "password": PASSWORD})
    other = await other.json()
    key = await key_for(client, alice)
    bad = await client.post("/auth/password", json={"current_password": "wrong-one!", "new_password": "N3w!Secret"},
                            headers=alice.headers)
    assert bad.status == 400 and "current password" in (await bad.json())["detail"]
    weak = await client.post("/auth/password", json={"current_password": PASSWORD, "new_password": "12345678"},
                             headers=alice.headers)
    assert weak.status == 400
    by_key = await client.post("/auth/password", json={"current_password": PASSWORD, "new_password": "N3w!Secret"},
                               headers={"X-API-Key": key})
    assert by_key.status == 403
    resp = await client.post("/auth/password", json={"current_password": PASSWORD, "new_password": "N3w!Secret"},
                             headers=alice.headers)
    assert resp.status == 200
    body = await resp.json()
    assert body["sessions_ended"] == 2 and "2 session(s) ended" in body["detail"]
    for token in (alice.access_token, other["access_token"]):
        assert (await client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})).status == 401
    for token in (alice.refresh_token, other["refresh_token"]):
        assert (await client.post("/auth/refresh", json={"refresh_token": token})).status == 401
    fresh = {"Authorization": f"Bearer {body['access_token']}"}
    assert (await client.get("/auth/me", headers=fresh)).status == 200
    assert (await client.post("/auth/refresh", json={"refresh_token": body["refresh_token"]})).status == 200
    assert (await client.post("/auth/login", json={"identifier": "alice", "password": "N3w!Secret"})).status == 200


async def test_delete_user_releases_blobs_keeps_shared_work_and_fixes_counts(client, hub, admin, alice, bob):
    mine = await create_circuit(client, alice, "private-bell")
    await upload(client, alice, mine["id"], "circuit.py", CIRCUIT_PY + b"# only alice\n")
    org = await client.post("/orgs", json={"name": "Physics", "slug": "physics"}, headers=bob.headers)
    org_id = (await org.json())["id"]
    added = await client.post(f"/orgs/{org_id}/members", json={"email": alice.email, "role": "member"},
                              headers=bob.headers)
    assert added.status == 201, await added.text()
    shared = await create_circuit(client, alice, "course-bell", organization_name="physics")
    bobs = await create_circuit(client, bob, "bobs")
    assert (await client.post(f"/circuits/{bobs['id']}/star", headers=alice.headers)).status == 200
    await upload(client, bob, bobs["id"], "circuit.py", CIRCUIT_PY)
    run = await (await client.post("/runs", json={"circuit_id": bobs["id"]}, headers=alice.headers)).json()
    assert (await client.delete(f"/runs/{run['id']}", headers=alice.headers)).status == 204  # cancelled, kept
    settings_blobs = hub.blobs.objects
    blob_files = {p for p in settings_blobs.rglob("*") if p.is_file()}
    assert blob_files

    resp = await client.delete("/admin/users/alice", headers=admin.headers)
    assert resp.status == 200, await resp.text()
    summary = await resp.json()
    assert summary == {"deleted": "alice", "circuits": 1, "datasets": 0, "spaces": 0, "runs": 1, "stars": 1,
                       "reassigned": 1}
    stats = await (await client.get(f"/runs/circuits/{bobs['id']}/stats", headers=bob.headers)).json()
    assert stats["total_runs"] == 0 and stats["cancelled_runs"] == 0
    data_dir = hub.settings.data_dir
    assert pgtest.rows(data_dir, "SELECT count(*) FROM storage_usage WHERE owner_key = ?", (f"user:{alice.id}",)) == [(0,)]
    assert pgtest.rows(data_dir, "SELECT count(*) FROM run WHERE user_id = ?", (alice.id,)) == [(0,)]
    assert (await client.get(f"/circuits/{mine['id']}", headers=admin.headers)).status == 404
    kept = await (await client.get(f"/circuits/{shared['id']}", headers=bob.headers)).json()
    assert kept["owner"]["username"] == "bob" and kept["repo_name"] == "physics/course-bell"
    assert (await (await client.get(f"/circuits/{bobs['id']}", headers=bob.headers)).json())["stars_count"] == 0
    bobs_file = hub.blobs.path_for(hashlib.sha256(CIRCUIT_PY).hexdigest())
    assert {p for p in settings_blobs.rglob("*") if p.is_file()} == {bobs_file}  # alice's own file is gone
    assert (await client.get("/auth/me", headers=alice.headers)).status == 401
    assert (await client.get("/admin/users/alice", headers=admin.headers)).status == 404
    assert (await client.post("/auth/register", json={"email": alice.email, "username": "alice",
                                                       "password": PASSWORD})).status == 201


async def test_delete_refused_for_the_only_owner_of_a_shared_org(client, admin, bob):
    assert (await client.post("/orgs", json={"name": "Chem", "slug": "chem"}, headers=bob.headers)).status == 201
    resp = await client.delete("/admin/users/bob", headers=admin.headers)
    assert resp.status == 409 and "only owner of chem" in (await resp.json())["detail"]
    assert (await client.get("/auth/me", headers=bob.headers)).status == 200


async def test_import_over_the_api_is_all_or_nothing(client, admin):
    bad = "username;email\nana;ana@school.lan\nben;broken\n"
    resp = await client.post("/admin/users/import", json={"csv": bad}, headers=admin.headers)
    assert resp.status == 400 and "line 3" in (await resp.json())["detail"]
    assert (await (await client.get("/admin/users", headers=admin.headers)).json())["total"] == 1
    rows = [{"username": "ana", "email": "ana@school.lan"}, {"username": "ben", "email": "ben@school.lan",
                                                              "password": "Ben!Chosen1", "role": "pro"}]
    both = await client.post("/admin/users/import", json={"rows": rows, "csv": bad}, headers=admin.headers)
    assert both.status == 400
    dry = await client.post("/admin/users/import", json={"rows": rows, "dry_run": True}, headers=admin.headers)
    assert (await dry.json())["dry_run"] is True
    assert (await (await client.get("/admin/users", headers=admin.headers)).json())["total"] == 1
    resp = await client.post("/admin/users/import", json={"rows": rows}, headers=admin.headers)
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["created"] == 2 and [c["username"] for c in body["credentials"]] == ["ana"]
    login = await client.post("/auth/login", json={"identifier": "ana", "password": body["credentials"][0]["password"]})
    assert login.status == 200
    again = await client.post("/admin/users/import", json={"rows": rows}, headers=admin.headers)
    assert again.status == 400 and "already taken" in (await again.json())["detail"]
    skip = await client.post("/admin/users/import", json={"rows": rows, "skip_existing": True}, headers=admin.headers)
    assert (await skip.json())["skipped"] == 2


async def test_health_details_only_for_admins(client, admin, alice):
    anonymous = await (await client.get("/health")).json()
    signed_in = await (await client.get("/health", headers=alice.headers)).json()
    for body in (anonymous, signed_in):
        assert body["status"] == "ok" and body["queue"] == {"ok": True}
        assert all(set(c) == {"ok"} for c in body["components"].values())
        assert "pid" not in str(body) and "workers" not in str(body)
    full = await (await client.get("/health", headers=admin.headers)).json()
    assert "workers" in full["queue"] and full["database"]["backend"] == ("postgresql" if ON_POSTGRES else "sqlite")
