import datetime as dt

import jwt
import pytest

from tests.conftest import PASSWORD, make_settings, register


async def test_register_logs_in_and_creates_personal_org(client):
    resp = await client.post("/auth/register", json={"email": "Carol@Example.org", "username": "carol",
                                                      "password": PASSWORD, "name": "Carol Q"})
    assert resp.status == 201
    body = await resp.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 900
    assert body["user"]["email"] == "carol@example.org"
    assert body["user"]["organizations"] == [{"id": body["user"]["organizations"][0]["id"], "name": "Carol Q",
                                              "slug": "carol", "role": "owner"}]
    cookie = resp.cookies["refresh_token"]
    assert cookie.value == body["refresh_token"] and cookie["httponly"] and cookie["samesite"] == "Lax"
    me = await client.get("/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert (await me.json())["username"] == "carol"


@pytest.mark.parametrize("field, value, message", [("email", "ALICE@example.org", "email"), ("username", "alice", "username")])
async def test_duplicate_email_or_username(client, alice, field, value, message):
    body = {"email": "new@example.org", "username": "newname", "password": PASSWORD, field: value}
    resp = await client.post("/auth/register", json=body)
    assert resp.status == 400
    assert message in (await resp.json())["detail"]


@pytest.mark.parametrize("password", ["short1!", "password123", "aaaaaaaaaaaa", "weakuser"])
async def test_weak_passwords(client, password):
    resp = await client.post("/auth/register", json={"email": "w@example.org", "username": "weakuser", "password": password})
    assert resp.status == 400
    assert "password" in (await resp.json())["detail"]


async def test_long_passphrase_is_not_truncated(client):
    phrase = "correct horse battery staple " * 4  # > 72 bytes: must all count
    await register(client, "longpass", password=phrase)
    ok = await client.post("/auth/login", json={"identifier": "longpass", "password": phrase})
    assert ok.status == 200
    bad = await client.post("/auth/login", json={"identifier": "longpass", "password": phrase[:-1] + "X"})
    assert bad.status == 401


async def test_login_by_email_username_and_legacy_field(client, alice):
    for body in ({"identifier": "alice", "password": PASSWORD}, {"identifier": "ALICE@example.org", "password": PASSWORD},
                 {"email": "alice@example.org", "password": PASSWORD}):
        resp = await client.post("/api/auth/login", json=body)
        assert resp.status == 200, body
        assert (await resp.json())["user"]["id"] == alice.id


async def test_wrong_password_and_unknown_user_same_message(client, alice):
    wrong = await client.post("/auth/login", json={"identifier": "alice", "password": "Wrong!pass99"})
    unknown = await client.post("/auth/login", json={"identifier": "nobody", "password": "Wrong!pass99"})
    assert wrong.status == unknown.status == 401
    assert (await wrong.json()) == (await unknown.json())
    missing = await client.post("/auth/login", json={"password": "x"})
    assert missing.status == 400


async def test_refresh_rotates_and_reuse_revokes_family(client, alice):
    first = await client.post("/auth/refresh", json={"refresh_token": alice.refresh_token})
    assert first.status == 200
    pair = await first.json()
    assert pair["refresh_token"] != alice.refresh_token and pair["access_token"]
    # A second use of the spent token: reuse detected, whole family revoked.
    reuse = await client.post("/auth/refresh", json={"refresh_token": alice.refresh_token})
    assert reuse.status == 401
    assert "already used" in (await reuse.json())["detail"]
    after = await client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert after.status == 401
    # Another login (another family) is unaffected.
    other = await (await client.post("/auth/login", json={"identifier": "alice", "password": PASSWORD})).json()
    assert (await client.post("/auth/refresh", json={"refresh_token": other["refresh_token"]})).status == 200


async def test_refresh_from_cookie(client, alice):
    client.session.cookie_jar.clear()
    resp = await client.post("/auth/refresh", cookies={"refresh_token": alice.refresh_token})
    assert resp.status == 200
    assert resp.cookies["refresh_token"].value == (await resp.json())["refresh_token"]


async def test_refresh_errors(client):
    client.session.cookie_jar.clear()
    assert (await client.post("/auth/refresh", json={})).status == 401
    assert (await client.post("/auth/refresh", json={"refresh_token": "qhr_bogus"})).status == 401


async def test_logout_revokes_refresh_token_without_access_token(client, alice):
    client.session.cookie_jar.clear()
    resp = await client.post("/auth/logout", json={"refresh_token": alice.refresh_token})
    assert resp.status == 204
    assert (await client.post("/auth/refresh", json={"refresh_token": alice.refresh_token})).status == 401
    assert (await client.post("/auth/logout", json={"refresh_token": "unknown"})).status == 204


async def test_logout_prefers_cookie(client, alice):
    other = await (await client.post("/auth/login", json={"identifier": "alice", "password": PASSWORD})).json()
    client.session.cookie_jar.clear()
    resp = await client.post("/auth/logout", json={"refresh_token": other["refresh_token"]},
                             cookies={"refresh_token": alice.refresh_token})
    assert resp.status == 204
    assert (await client.post("/auth/refresh", json={"refresh_token": alice.refresh_token})).status == 401
    assert (await client.post("/auth/refresh", json={"refresh_token": other["refresh_token"]})).status == 200


def _secret(settings) -> bytes:
    return settings.secret_file.read_bytes().strip()


async def test_expired_tampered_and_alg_none_tokens(client, alice, settings):
    now = dt.datetime.now(dt.UTC)
    expired = jwt.encode({"sub": alice.id, "type": "access", "iat": now - dt.timedelta(hours=1),
                          "exp": now - dt.timedelta(minutes=1)}, _secret(settings), algorithm="HS256")
    head, payload, sig = alice.access_token.split(".")
    tampered = ".".join([head, payload, sig[:-4] + ("AAAA" if sig[-4:] != "AAAA" else "BBBB")])
    none_token = jwt.encode({"sub": alice.id, "type": "access", "iat": now, "exp": now + dt.timedelta(minutes=5)},
                            None, algorithm="none")
    other_key = jwt.encode({"sub": alice.id, "type": "access", "iat": now, "exp": now + dt.timedelta(minutes=5)},
                           b"x" * 64, algorithm="HS256")
    for token, needle in ((expired, "expired"), (tampered, "invalid"), (none_token, "invalid"), (other_key, "invalid"), ("garbage", "invalid")):
        resp = await client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert resp.status == 401, token
        assert needle in (await resp.json())["detail"]
    assert (await client.get("/auth/me")).status == 401
    assert (await client.get("/auth/me", headers={"Authorization": "Basic abc"})).status == 401


async def test_access_token_lifetime_is_15_minutes(alice, settings):
    claims = jwt.decode(alice.access_token, _secret(settings), algorithms=["HS256"])
    assert claims["exp"] - claims["iat"] == 900


async def test_password_stored_as_bcrypt(hub, alice):
    from qubithub_lite.db.models import User

    user = await User.aget(User.id == alice.id)
    assert user.password_hash.startswith("$2") and PASSWORD not in user.password_hash


class TestClosedRegistration:
    @pytest.fixture
    def settings(self, tmp_path):
        return make_settings(tmp_path, auth={"open_registration": False})

    async def test_register_refused(self, client):
        resp = await client.post("/auth/register", json={"email": "x@example.org", "username": "xuser", "password": PASSWORD})
        assert resp.status == 403
        assert "closed" in (await resp.json())["detail"]


async def test_a_verified_token_is_still_refused_once_expired():
    """Access tokens are verified once and then remembered; the expiry still applies."""
    import asyncio

    from qubithub_lite.errors import Unauthorized
    from qubithub_lite.services.tokens import AccessTokens

    tokens = AccessTokens(b"k" * 64, ttl_seconds=1)
    token = tokens.issue("u1")
    assert tokens.decode(token) == "u1"
    assert token in tokens._verified
    assert tokens.decode(token) == "u1"  # remembered
    await asyncio.sleep(2.1)
    with pytest.raises(Unauthorized, match="expired"):
        tokens.decode(token)
    with pytest.raises(Unauthorized, match="invalid"):
        tokens.decode(token[:-2] + ("AA" if token[-2:] != "AA" else "BB"))
