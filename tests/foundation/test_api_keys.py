import datetime as dt

import pytest

from qubithub_lite.db.models import ApiKey
from tests.conftest import make_settings


async def create_key(client, user, **body):
    body.setdefault("name", "ci")
    resp = await client.post("/api-keys", json=body, headers=user.headers)
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def test_create_shows_key_once_and_stores_only_hash(client, alice):
    created = await create_key(client, alice, scopes=["circuit:read", "runs:submit"], expires_in_days=7, rate_limit_per_minute=10)
    key = created["key"]
    assert key.startswith("qh_") and created["key_prefix"] == key[:11]
    assert created["scopes"] == ["circuit:read", "runs:submit"]
    assert created["rate_limit_per_minute"] == 10 and created["expires_at"]
    row = await ApiKey.aget(ApiKey.id == created["id"])
    assert key not in row.key_hash and len(row.key_hash) == 64
    listing = await (await client.get("/api-keys", headers=alice.headers)).json()
    assert listing["total"] == 1
    assert "key" not in listing["api_keys"][0] and listing["api_keys"][0]["key_prefix"] == key[:11]
    one = await (await client.get(f"/api-keys/{created['id']}", headers=alice.headers)).json()
    assert one["is_active"] is True and one["last_used_at"] is None and "key" not in one


async def test_default_scope_and_unknown_scope(client, alice):
    created = await create_key(client, alice)
    assert created["scopes"] == ["circuit:read"] and created["rate_limit_per_minute"] == 60
    resp = await client.post("/api-keys", json={"name": "x", "scopes": ["root:everything"]}, headers=alice.headers)
    assert resp.status == 400
    assert "unknown scope" in (await resp.json())["detail"]


async def test_key_authenticates_by_both_headers_and_updates_last_used(client, alice):
    key = (await create_key(client, alice))["key"]
    for headers in ({"X-API-Key": key}, {"Authorization": f"Bearer {key}"}):
        resp = await client.get("/api/auth/me", headers=headers)
        assert resp.status == 200
        assert (await resp.json())["id"] == alice.id
    listing = await (await client.get("/api-keys", headers=alice.headers)).json()
    assert listing["api_keys"][0]["last_used_at"] is not None


async def test_revoked_key_is_refused(client, alice):
    created = await create_key(client, alice)
    assert (await client.delete(f"/api-keys/{created['id']}", headers=alice.headers)).status == 204
    resp = await client.get("/auth/me", headers={"X-API-Key": created["key"]})
    assert resp.status == 401
    assert "revoked" in (await resp.json())["detail"]
    one = await (await client.get(f"/api-keys/{created['id']}", headers=alice.headers)).json()
    assert one["is_active"] is False


async def test_expired_key_is_refused(client, alice):
    created = await create_key(client, alice, expires_in_days=1)
    from qubithub_lite.api.routing import HUB_KEY

    hub = client.app[HUB_KEY]
    async with hub.db.tx():
        await hub.db.execute(ApiKey.update(expires_at=dt.datetime(2000, 1, 1)).where(ApiKey.id == created["id"]))
    resp = await client.get("/auth/me", headers={"X-API-Key": created["key"]})
    assert resp.status == 401
    assert "expired" in (await resp.json())["detail"]


async def test_unknown_key(client):
    resp = await client.get("/auth/me", headers={"X-API-Key": "qh_not_a_real_key"})
    assert resp.status == 401


async def test_key_missing_scope_gets_403(client, alice):
    key = (await create_key(client, alice, scopes=["circuit:read"]))["key"]
    resp = await client.post("/api-keys", json={"name": "escalate", "scopes": ["circuit:write"]}, headers={"X-API-Key": key})
    assert resp.status == 403
    assert "keys:manage" in (await resp.json())["detail"]
    manager = (await create_key(client, alice, scopes=["keys:manage"]))["key"]
    resp = await client.get("/api-keys", headers={"X-API-Key": manager})
    assert resp.status == 200


async def test_other_users_keys_are_invisible(client, alice, bob):
    created = await create_key(client, alice)
    assert (await client.get(f"/api-keys/{created['id']}", headers=bob.headers)).status == 404
    assert (await client.delete(f"/api-keys/{created['id']}", headers=bob.headers)).status == 404
    assert (await (await client.get("/api-keys", headers=bob.headers)).json())["total"] == 0


class TestPerKeyRateLimit:
    @pytest.fixture
    def settings(self, tmp_path):
        return make_settings(tmp_path, rate_limits={"enabled": True})

    async def test_key_limit(self, client, alice):
        key = (await create_key(client, alice, rate_limit_per_minute=3))["key"]
        statuses = [(await client.get("/auth/me", headers={"X-API-Key": key})).status for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
