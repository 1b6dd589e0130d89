async def test_health(client):
    resp = await client.get("/health")
    assert resp.status == 200
    body = await resp.json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] is True


async def test_me(client, alice):
    resp = await client.get("/api/auth/me", headers=alice.headers)
    assert resp.status == 200
    assert (await resp.json())["username"] == "alice"
