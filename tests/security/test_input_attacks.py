"""Hostile input: every attack gets a clear JSON 4xx (never a 500), and nothing is stored.

One test per attack, against a real app on a real SQLite file (issue #10, points 13-16 and
the attack suite around them)."""

from __future__ import annotations

import json

import aiohttp
import pytest

from tests.circuits.helpers import CIRCUIT_PY, MANIFEST, create, form, upload_batch

pytestmark = pytest.mark.timeout(120)


async def detail_of(resp, status: int | tuple[int, ...]) -> str:
    """Assert the status and a JSON ``{"detail": str}`` body; return the detail."""
    statuses = (status,) if isinstance(status, int) else status
    text = await resp.text()
    assert resp.status in statuses, (resp.status, text[:300])
    assert resp.content_type == "application/json", text[:300]
    body = json.loads(text)
    assert isinstance(body.get("detail"), str) and body["detail"], body
    assert "Traceback" not in text
    return body["detail"]


async def post_raw(client, path: str, raw: bytes, headers: dict | None = None, ctype: str | None = "application/json"):
    hdrs = dict(headers or {})
    if ctype is not None:
        hdrs["Content-Type"] = ctype
    return await client.post(path, data=raw, headers=hdrs)


async def circuit_count(client, user) -> int:
    resp = await client.get("/circuits", params={"owner": user.username}, headers=user.headers)
    assert resp.status == 200
    return (await resp.json())["total"]


def nested(depth: int, leaf: str = "1") -> str:
    return '{"a":' * depth + leaf + "}" * depth


def circuit_body(**extra) -> dict:
    return {"name": "deep", "title": "Deep", "framework": "qiskit", **extra}


# Point 13: deep JSON bodies --------------------------------------------------------------
@pytest.mark.parametrize("depth", [40, 3_000, 100_000])
async def test_deeply_nested_json_login_is_400(client, depth):
    raw = ('{"identifier": "x", "password": "y", "z": ' + "[" * depth + "]" * depth + "}").encode()
    detail = await detail_of(await post_raw(client, "/auth/login", raw), 400)
    assert "nested deeper" in detail


@pytest.mark.parametrize("depth", [40, 3_000])
async def test_deeply_nested_json_create_circuit_is_400_and_stores_nothing(client, alice, depth):
    raw = json.dumps(circuit_body())[:-1] + ', "extra_metadata": ' + nested(depth) + "}"
    detail = await detail_of(await post_raw(client, "/circuits", raw.encode(), alice.headers), 400)
    assert "nested deeper" in detail
    assert await circuit_count(client, alice) == 0


# Point 14: free-form objects are bounded at validation -----------------------------------
@pytest.mark.parametrize("value, needle", [
    (json.loads(nested(30)), "nested deeper"),  # within the body limit, beyond the free-form one
    ({f"k{i}": i for i in range(6_000)}, "values"),
    ({"k": ["x" * 9_000] * 9}, "KiB"),
    ({"k": "x" * 10_001}, "characters"),
    ({"k" * 201: 1}, "keys"),
    ({"k": 2**64}, "64 bits"),
])
async def test_free_form_extra_metadata_is_bounded(client, alice, value, needle):
    resp = await client.post("/circuits", json=circuit_body(extra_metadata=value), headers=alice.headers)
    detail = await detail_of(resp, 400)
    assert "extra_metadata" in detail and needle in detail
    assert await circuit_count(client, alice) == 0


async def test_free_form_within_bounds_is_stored_and_served(client, alice, bob):
    value = json.loads(nested(8, '{"list": [1, 2.5, "x", null, true]}'))
    resp = await client.post("/circuits", json=circuit_body(extra_metadata=value), headers=alice.headers)
    assert resp.status == 201, await resp.text()
    cid = (await resp.json())["id"]
    for user in (alice, bob):  # readable by everyone afterwards: nothing unservable was stored
        got = await client.get(f"/circuits/{cid}", headers=user.headers)
        assert got.status == 200
        assert (await got.json())["extra_metadata"] == value


async def test_update_with_deep_extra_metadata_is_refused_and_keeps_the_old_value(client, alice):
    c = await create(client, alice, "keep", extra_metadata={"v": 1})
    resp = await client.put(f"/circuits/{c['id']}", json={"extra_metadata": json.loads(nested(300))},
                            headers=alice.headers)
    await detail_of(resp, 400)
    got = await client.get(f"/circuits/{c['id']}")
    assert got.status == 200 and (await got.json())["extra_metadata"] == {"v": 1}


async def test_run_options_are_bounded(client, alice):
    c = await create(client, alice, "opts")
    resp = await client.post("/runs", json={"circuit_id": c["id"], "options": json.loads(nested(20))},
                             headers=alice.headers)
    assert "options" in await detail_of(resp, 400)


# Point 15: manifests ---------------------------------------------------------------------
BASE_MANIFEST = b"""[project]
name = "deep"
title = "Deep"
type = "circuit"
framework = "qiskit"
entry_point = "circuit.py"
qubits = 2
"""

TOML_ATTACKS = {
    "deep arrays": BASE_MANIFEST + b"[extra]\nx = " + b"[" * 3_000 + b"]" * 3_000 + b"\n",
    "deep inline tables": BASE_MANIFEST + b"[extra]\nx = " + b"{a = " * 2_000 + b"1" + b"}" * 2_000 + b"\n",
    "deep within limits of the parser": BASE_MANIFEST + b"[extra]\nx = " + b"[" * 30 + b"]" * 30 + b"\n",
    "long dotted key (quadratic in tomllib)": BASE_MANIFEST + b"[extra]\n" + b".".join([b"a"] * 60_000) + b" = 1\n",
    "long dotted table header": BASE_MANIFEST + b"[" + b".".join([b"a"] * 60_000) + b"]\n",
    "dotted key hidden after a quote in a comment": BASE_MANIFEST + b"# \"\n" + b".".join([b"a"] * 60_000) + b" = 1\n",
    "long array-of-tables header": BASE_MANIFEST + b"[[" + b".".join([b"a"] * 60_000) + b"]]\n",
    "huge integer": BASE_MANIFEST + b"[reproducibility]\nseed = " + b"9" * 5_000 + b"\n",
    "nan": BASE_MANIFEST + b"[reproducibility]\ntolerance = nan\n",
    "inf in extra": BASE_MANIFEST + b"[extra]\nx = inf\n",
    "many values in extra": BASE_MANIFEST + b"[extra]\nx = [" + b", ".join([b"1"] * 6_000) + b"]\n",
    "oversize": BASE_MANIFEST + b"[extra]\nx = \"" + b"y" * 300_000 + b"\"\n",
    "not utf-8": BASE_MANIFEST + b"description = \"\xff\xfe\"\n",
    "nul byte": BASE_MANIFEST + b"description = \"a\x00b\"\n",
    "syntax": BASE_MANIFEST + b"[project\n",
    "duplicate key": BASE_MANIFEST + b"qubits = 3\n",
}


@pytest.mark.parametrize("name", list(TOML_ATTACKS))
async def test_hostile_manifest_is_400_and_creates_no_version(client, alice, name):
    c = await create(client, alice, "deep", tags=["kept"])
    resp = await client.post(f"/circuits/{c['id']}/upload-batch",
                             data=form(("qubithub.toml", TOML_ATTACKS[name]), ("circuit.py", CIRCUIT_PY)),
                             headers=alice.headers)
    detail = await detail_of(resp, (400, 413))
    assert "qubithub.toml" in detail or resp.status == 413
    got = await (await client.get(f"/circuits/{c['id']}", headers=alice.headers)).json()
    assert got["versions"] == [] and got["tags"] == ["kept"]


MANIFEST_FIELD_ATTACKS = {
    "name": b'"Not A Name"', "title": b'""', "type": b'"space"', "framework": b'"tensorflow"',
    "entry_point": b'"../etc/passwd.py"', "qubits": b"0", "depth": b"-1", "gates": b'["<script>"]',
    "difficulty": b'"wizard"', "tags": b'["bad tag!"]', "description": b'"' + b"x" * 20_001 + b'"',
    "is_public": b'"maybe"', "framework_version": b"1.5",
}


@pytest.mark.parametrize("key", list(MANIFEST_FIELD_ATTACKS))
async def test_malformed_manifest_field_is_400_naming_the_key(client, alice, key):
    lines = [line for line in BASE_MANIFEST.splitlines() if not line.startswith(key.encode() + b" =")]
    manifest = b"\n".join(lines) + b"\n" + key.encode() + b" = " + MANIFEST_FIELD_ATTACKS[key] + b"\n"
    c = await create(client, alice, "deep")
    resp = await client.post(f"/circuits/{c['id']}/upload-batch",
                             data=form(("qubithub.toml", manifest), ("circuit.py", CIRCUIT_PY)), headers=alice.headers)
    detail = await detail_of(resp, 400)
    assert f"project.{key}" in detail or "entry_point" in detail, detail


# Point 16: keys absent from the manifest keep the stored values ---------------------------
async def test_manifest_without_tags_keeps_the_circuit_tags(client, alice):
    c = await create(client, alice, "bell", tags=["entanglement", "demo"], description="Made through the API")
    minimal = b"\n".join(line for line in MANIFEST.splitlines()
                         if not line.startswith((b"tags", b"depth", b"gates", b"category", b"difficulty", b"description")))
    await upload_batch(client, alice, c["id"], [("qubithub.toml", minimal), ("circuit.py", CIRCUIT_PY)])
    got = await (await client.get(f"/circuits/{c['id']}")).json()
    assert got["tags"] == ["entanglement", "demo"]
    assert got["description"] == "Made through the API"
    assert got["title"] == "Bell from manifest" and got["qubits"] == 2  # keys present do overwrite
    found = await (await client.get("/circuits", params={"tags": "demo"})).json()
    assert [x["id"] for x in found["circuits"]] == [c["id"]]
    # A later manifest that sets them overwrites; one that omits them again keeps those.
    await upload_batch(client, alice, c["id"], [("qubithub.toml", MANIFEST)])
    got = await (await client.get(f"/circuits/{c['id']}")).json()
    assert got["tags"] == ["entanglement", "bell"] and got["depth"] == 3 and got["difficulty"] == "beginner"
    await upload_batch(client, alice, c["id"], [("qubithub.toml", minimal)])
    got = await (await client.get(f"/circuits/{c['id']}")).json()
    assert got["tags"] == ["entanglement", "bell"] and got["depth"] == 3 and got["gates"] == ["H", "CX"]
    assert got["category"] == "foundations" and got["difficulty"] == "beginner"
    assert got["description"] == "Two qubits, maximally entangled."
