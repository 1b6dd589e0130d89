import pytest

from qubithub_lite.schemas.common import PageQuery, page_info
from tests.conftest import make_settings


async def test_routes_under_root_and_api_prefix(client, alice):
    for prefix in ("", "/api"):
        resp = await client.get(f"{prefix}/auth/me", headers=alice.headers)
        assert resp.status == 200
        assert (await resp.json())["id"] == alice.id


async def test_unknown_route_and_method_are_json(client):
    resp = await client.get("/api/no/such/thing")
    assert resp.status == 404
    assert await resp.json() == {"detail": "Not found"}
    resp = await client.delete("/auth/login")
    assert resp.status == 405
    assert (await resp.json())["detail"] == "Method not allowed"


async def test_malformed_json(client):
    resp = await client.post("/auth/login", data=b'{"identifier": "x", ', headers={"Content-Type": "application/json"})
    assert resp.status == 400
    assert (await resp.json())["detail"] == "malformed JSON body"
    resp = await client.post("/auth/login", json=[1, 2])
    assert resp.status == 400
    assert "JSON object" in (await resp.json())["detail"]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"email": "x@example.org", "username": "okname", "password": 12345678}, "password"),
        ({"email": "x@example.org", "username": "okname", "password": "Str0ng!pass", "admin": True}, "admin"),
        ({"email": "x" * 300 + "@example.org", "username": "okname", "password": "Str0ng!pass"}, "email"),
        ({"email": "not-an-email", "username": "okname", "password": "Str0ng!pass"}, "email"),
        ({"email": "x@example.org", "username": "Bad_Name", "password": "Str0ng!pass"}, "username"),
        ({"email": "x@example.org", "username": "ab", "password": "Str0ng!pass"}, "username"),
        ({"email": "x@example.org", "username": "-abc", "password": "Str0ng!pass"}, "username"),
        ({"email": "x@example.org", "password": "Str0ng!pass"}, "username"),
        ({"email": "x@example.org", "username": "okname", "password": "p" * 300}, "password"),
    ],
)
async def test_validation_errors_name_the_field(client, body, field):
    resp = await client.post("/auth/register", json=body)
    assert resp.status == 400
    detail = (await resp.json())["detail"]
    assert f"body.{field}" in detail


async def test_oversized_body_is_413(client):
    resp = await client.post("/auth/login", data=b"{" + b" " * (2 * 1024 * 1024) + b"}", headers={"Content-Type": "application/json"})
    assert resp.status == 413
    assert "too large" in (await resp.json())["detail"]


async def test_no_traceback_on_internal_error(client, hub, alice, monkeypatch):
    async def explode(*a, **k):
        raise ZeroDivisionError("secret internals")

    monkeypatch.setattr(hub.accounts, "memberships", explode)
    resp = await client.get("/auth/me", headers=alice.headers)
    assert resp.status == 500
    text = await resp.text()
    assert "secret internals" not in text and "Traceback" not in text
    assert (await resp.json()) == {"detail": "Internal server error"}


def test_page_query_bounds():
    assert PageQuery().page == 1 and PageQuery().limit == 20
    for bad in ({"page": 0}, {"limit": 0}, {"limit": 101}, {"page": -3}):
        with pytest.raises(ValueError):
            PageQuery.model_validate(bad)
    assert page_info(41, PageQuery(page=2, limit=20)) == {"total": 41, "page": 2, "pages": 3}
    assert page_info(0, PageQuery()) == {"total": 0, "page": 1, "pages": 0}


async def test_health_reports_version_database_queue(client):
    from qubithub_lite import __version__

    body = await (await client.get("/api/health")).json()
    assert body["version"] == __version__
    assert body["database"]["ok"] is True and body["database"]["schema_version"] >= 1
    assert "queue" in body


async def test_ids_are_uuids(client, alice):
    import uuid

    uuid.UUID(alice.id)
    uuid.UUID(alice.data["user"]["organizations"][0]["id"])


@pytest.fixture
def settings(tmp_path):
    return make_settings(tmp_path)


async def test_openapi_lists_every_route_with_schemas(client):
    from qubithub_lite.api.openapi import openapi_path
    from qubithub_lite.app import all_routes

    doc = await (await client.get("/openapi.json")).json()
    assert doc["openapi"].startswith("3.1")
    for spec in all_routes():
        op = doc["paths"][openapi_path(spec.path)][spec.method.lower()]
        assert op["responses"], spec.path
        if spec.body is not None:
            ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            assert ref.split("/")[-1] in doc["components"]["schemas"]
    register = doc["paths"]["/auth/register"]["post"]
    schema = doc["components"]["schemas"]["RegisterRequest"]
    assert {"email", "username", "password"} <= set(schema["required"])
    assert "201" in register["responses"] and "400" in register["responses"]
    assert doc["paths"]["/api-keys"]["post"]["x-required-scope"] == "keys:manage"
    assert (await (await client.get("/api/openapi.json")).json())["paths"].keys() == doc["paths"].keys()
