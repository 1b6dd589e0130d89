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


# JSON bodies: values JSON or Python would take, and this server refuses ---------------------
@pytest.mark.parametrize("raw, needle", [
    (b'{"identifier": "x", "password": NaN}', "NaN"),
    (b'{"identifier": "x", "password": Infinity}', "Infinity"),
    (b'{"identifier": "x", "password": -Infinity}', "Infinity"),
    (b'{"identifier": "x", "password": 1e999}', "out of range"),
    (b'{"identifier": "x", "password": ' + b"9" * 5_000 + b"}", "number too long"),
    (b'{"identifier": "x", "password": ' + b"9" * 399 + b"}", "password"),  # a long int reaches validation
    (b'{"identifier": "x", "password": "p", "password": "q"}', "duplicate key"),
    (b'{"identifier": "\xff\xfe", "password": "p"}', "UTF-8"),
    (b'{"identifier": "\\ud800", "password": "p"}', "surrogates"),
    (b"\xef\xbb\xbf{}", "malformed"),  # a byte-order mark is not JSON
    (b'{"identifier": "x", "password": "p"} trailing', "malformed"),
    (b"[]", "JSON object"),
    (b'"just a string"', "JSON object"),
])
async def test_json_values_outside_strict_json_are_400(client, raw, needle):
    detail = await detail_of(await post_raw(client, "/auth/login", raw), 400)
    assert needle in detail


async def test_surrogate_pairs_are_fine(client, alice):
    resp = await client.post("/circuits", data=b'{"name": "emoji", "title": "\\ud83d\\ude00 Bell", "framework": "qiskit"}',
                             headers={**alice.headers, "Content-Type": "application/json"})
    assert resp.status == 201, await resp.text()
    assert (await resp.json())["title"] == "\U0001F600 Bell"


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"])
async def test_json_route_refuses_form_and_text_content_types(client, alice, ctype):
    raw = json.dumps(circuit_body()).encode()
    detail = await detail_of(await post_raw(client, "/circuits", raw, alice.headers, ctype=ctype), 400)
    assert "Content-Type" in detail
    assert await circuit_count(client, alice) == 0


async def test_json_route_takes_a_body_without_content_type(client, alice):
    resp = await post_raw(client, "/circuits", json.dumps(circuit_body()).encode(), alice.headers, ctype=None)
    assert resp.status == 201, await resp.text()


async def test_oversized_json_body_is_413_and_stores_nothing(client, alice):
    raw = json.dumps(circuit_body(description="x" * (2 * 1024 * 1024))).encode()
    detail = await detail_of(await post_raw(client, "/circuits", raw, alice.headers), 413)
    assert "too large" in detail
    assert await circuit_count(client, alice) == 0


async def test_large_flat_body_is_parsed(client, alice):
    # ~900 KB of shallow JSON: under the size limit, parsed (off the event loop) and validated.
    raw = json.dumps(circuit_body(extra_metadata={"x": [[1]] * 150_000})).encode()
    detail = await detail_of(await post_raw(client, "/circuits", raw, alice.headers), 400)
    assert "extra_metadata" in detail


# Headers ----------------------------------------------------------------------------------
async def test_oversize_header_is_refused_and_the_server_lives_on(client):
    resp = await client.get("/health", headers={"X-Junk": "a" * 20_000})
    assert resp.status in (400, 431)
    assert (await client.get("/health")).status == 200


async def test_too_many_headers_are_refused_and_the_server_lives_on(client):
    resp = await client.get("/health", headers={f"X-H{i}": "1" for i in range(200)})
    assert resp.status in (400, 431)
    assert (await client.get("/health")).status == 200


@pytest.mark.parametrize("value", ["Basic abc", "Bearer", "Bearer    ", "Bearer x.y.z", "Bearer qh_nope",
                                   "bearer " + "a" * 10_000])
async def test_garbage_authorization_is_401(client, value):
    resp = await client.get("/auth/me", headers={"Authorization": value})
    await detail_of(resp, 401)


# Query parameters ---------------------------------------------------------------------------
@pytest.mark.parametrize("query", [
    "page=0", "page=-1", "page=abc", "page=1e3", "page=" + "9" * 30, "page=" + "9" * 5_000,
    "limit=0", "limit=101", "limit=-5", "limit=1.5", "limit=%ff", "limit=", "page=%00",
    "sort=nope", "sort=+-", "sort=--name", "sort=+-name", "order=sideways", "framework=tensorflow", "qubits_min=-1",
    "tags=" + "x" * 60, "q=" + "x" * 201, "owner=" + "x" * 40,
])
async def test_bad_query_parameters_are_400(client, query):
    detail = await detail_of(await client.get("/circuits?" + query), 400)
    assert detail.startswith("query.")


@pytest.mark.parametrize("query", ["limit=5&limit=100000", "page=1&page=0", "tags=a&tags=b&tags=a", "", "unknown=1",
                                   "&&&", "=x", "limit"])
async def test_repeated_missing_or_unknown_query_parameters_are_not_500(client, query):
    resp = await client.get("/circuits?" + query)
    assert resp.status in (200, 400), await resp.text()
    assert resp.content_type == "application/json"


# Numbers out of range in bodies ---------------------------------------------------------------
@pytest.mark.parametrize("shots", [0, -1, 100_001, 10**30, 1.5, "1024x", None, [1], {"n": 1}])
async def test_out_of_range_shots_are_400(client, alice, shots):
    c = await create(client, alice, "shots")
    resp = await client.post("/runs", json={"circuit_id": c["id"], "shots": shots}, headers=alice.headers)
    assert "shots" in await detail_of(resp, 400)


@pytest.mark.parametrize("field, value", [("qubits", -1), ("qubits", 10_001), ("depth", 10**20), ("qubits", 2**63)])
async def test_out_of_range_circuit_numbers_are_400(client, alice, field, value):
    resp = await client.post("/circuits", json=circuit_body(**{field: value}), headers=alice.headers)
    assert field in await detail_of(resp, 400)
    assert await circuit_count(client, alice) == 0


# Paths of stored files ------------------------------------------------------------------------
@pytest.fixture
async def stored(client, alice):
    c = await create(client, alice, "bell", is_public=False)
    await upload_batch(client, alice, c["id"], [("circuit.py", CIRCUIT_PY)])
    return c


@pytest.mark.parametrize("tail", [
    "../../../../etc/passwd", "..%2F..%2F..%2Fetc%2Fpasswd", "%2e%2e/%2e%2e/etc/passwd", "/etc/passwd",
    "circuit.py%00.txt", "..\\..\\circuit.py", "sub\\..\\circuit.py", "\uff0e\uff0e/circuit.py",
    "circuit.py/", "x" * 5_000, "%ff%fe", "CIRCUIT.PY", "circuit.py;.txt",
])
async def test_file_download_path_tricks_are_404(client, alice, stored, tail):
    resp = await client.get(f"/files/circuits/{stored['id']}/v1/{tail}", headers=alice.headers)
    await detail_of(resp, 404)


async def test_private_file_is_404_for_others(client, alice, bob, stored):
    path = f"/files/circuits/{stored['id']}/v1/circuit.py"
    assert (await client.get(path, headers=alice.headers)).status == 200
    await detail_of(await client.get(path, headers=bob.headers), 404)
    await detail_of(await client.get(path), 404)


@pytest.mark.parametrize("name", [
    "../escape.py", "/abs.py", "sub/../../escape.py", "a\\..\\b.py", "\\\\server\\share.py", "C:\\x.py",
    "x" * 300 + ".py", "/".join(["d"] * 20) + "/x.py", "", ".", "..", "sub//x.py", "con\u202eyp.py",
    "\uff0e\uff0e/x.py", "a\uff0f..\uff0fb.py", "x\uff3cy.py", "\ufe52\ufe52/x.py",
])
async def test_upload_file_name_tricks_are_400(client, alice, name):
    c = await create(client, alice, "names")
    data = aiohttp.FormData()
    data.add_field("file", CIRCUIT_PY, filename=name, content_type="text/x-python")
    resp = await client.post(f"/circuits/{c['id']}/upload", data=data, headers=alice.headers)
    await detail_of(resp, 400)
    got = await (await client.get(f"/circuits/{c['id']}", headers=alice.headers)).json()
    assert got["versions"] == []


# Multipart oddities -----------------------------------------------------------------------------
def raw_multipart(parts: list[bytes], boundary: str = "BOUNDARY") -> tuple[bytes, dict]:
    body = b"".join(b"--" + boundary.encode() + b"\r\n" + p + b"\r\n" for p in parts) + b"--" + boundary.encode() + b"--\r\n"
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


async def _upload_raw(client, user, cid, body, headers):
    return await client.post(f"/circuits/{cid}/upload-batch", data=body, headers={**user.headers, **headers})


@pytest.mark.parametrize("filename", [b"nul\x00.py", b"line\r\nbreak.py", b"\xff\xfe.py", b"../../x.py"])
async def test_control_bytes_in_multipart_file_names_are_400(client, alice, filename):
    c = await create(client, alice, "mp")
    body, hdrs = raw_multipart([b'Content-Disposition: form-data; name="files"; filename="' + filename + b'"\r\n\r\nx=1'])
    await detail_of(await _upload_raw(client, alice, c["id"], body, hdrs), 400)
    got = await (await client.get(f"/circuits/{c['id']}", headers=alice.headers)).json()
    assert got["versions"] == []


async def test_multipart_part_without_filename_is_400(client, alice):
    c = await create(client, alice, "mp")
    body, hdrs = raw_multipart([b'Content-Disposition: form-data; name="files"\r\n\r\nprint(1)'])
    assert "filename" in await detail_of(await _upload_raw(client, alice, c["id"], body, hdrs), 400)


async def test_multipart_with_too_many_parts_is_400(client, alice):
    c = await create(client, alice, "mp")
    junk = b'Content-Disposition: form-data; name="junk"\r\n\r\nx'
    body, hdrs = raw_multipart([junk] * 1_500)
    assert "parts" in await detail_of(await _upload_raw(client, alice, c["id"], body, hdrs), 400)
    got = await (await client.get(f"/circuits/{c['id']}", headers=alice.headers)).json()
    assert got["versions"] == []


async def test_multipart_with_huge_part_headers_is_400(client, alice):
    c = await create(client, alice, "mp")
    part = b'Content-Disposition: form-data; name="files"; filename="a.py"\r\nX-Junk: ' + b"j" * 200_000 + b"\r\n\r\nprint(1)"
    body, hdrs = raw_multipart([part])
    await detail_of(await _upload_raw(client, alice, c["id"], body, hdrs), (400, 413))


@pytest.mark.parametrize("body, ctype", [
    (b"not multipart at all", "multipart/form-data; boundary=BOUNDARY"),
    (b"--BOUNDARY\r\nno headers end", "multipart/form-data; boundary=BOUNDARY"),
    (b"", "multipart/form-data"),  # no boundary
    (b"x", "application/json"),
])
async def test_malformed_multipart_is_400(client, alice, body, ctype):
    c = await create(client, alice, "mp")
    resp = await client.post(f"/circuits/{c['id']}/upload", data=body, headers={**alice.headers, "Content-Type": ctype})
    await detail_of(resp, 400)


# Percent-encoding in query strings and paths ----------------------------------------------------
@pytest.mark.parametrize("query", ["q=%ed%a0%80", "q=%ff", "q=%00", "owner=%ed%a0%80", "q=%", "q=%zz", "q=%F0%9F%98"])
async def test_undecodable_query_strings_are_not_500(client, alice, query):
    from yarl import URL

    resp = await client.get(URL("/circuits?" + query, encoded=True), headers=alice.headers)
    assert resp.status in (200, 400), await resp.text()
    assert resp.content_type == "application/json"


@pytest.mark.parametrize("path", ["/circuits/%ed%a0%80", "/circuits/%00", "/files/circuits/%ff/v1/x", "/circuits/" + "a" * 5_000,
                                  "/circuits/resolve?repo_name=%ed%a0%80/x"])
async def test_undecodable_paths_are_404_or_400(client, path):
    from yarl import URL

    await detail_of(await client.get(URL(path, encoded=True)), (400, 404))


async def test_longest_documented_query_fits_the_request_line(client, alice):
    # commit_message may be 2000 characters; as 4-byte UTF-8, percent-encoded, that is a 24 KB
    # request line (aiohttp's default limit is 8190 bytes and answered in text/plain).
    c = await create(client, alice, "long")
    message = "\U0001F600" * 2000
    resp = await client.post(f"/circuits/{c['id']}/upload", params={"commit_message": message},
                             data=form(("circuit.py", CIRCUIT_PY), field="file"), headers=alice.headers)
    assert resp.status == 201, await resp.text()
    assert (await resp.json())["version"]["commit_message"] == message


TABLE_ATTACKS = {
    "execution.default_shots": b"[execution]\ndefault_shots = 0\n",
    "execution.timeout_seconds": b"[execution]\ntimeout_seconds = 99999\n",
    "execution.entry_function": b'[execution]\nentry_function = "os.system"\n',
    "educational.concepts": b"[educational]\nconcepts = [" + b", ".join([b'"c"'] * 60) + b"]\n",
    "educational.estimated_time": b'[educational]\nestimated_time = "' + b"t" * 200 + b'"\n',
    "expected_output.dominant_states": b'[expected_output]\ndominant_states = ["0a"]\n',
    "expected_output.probability_range": b"[expected_output]\nprobability_range = [0.9, 0.1]\n",
    "parameters.x y": b'[parameters."x y"]\ntype = "float"\n',
    "parameters.theta": b"[parameters.theta]\nmin = 2.0\nmax = 1.0\n",
    "hardware.connectivity": b'[hardware]\nconnectivity = "mesh"\n',
    "hardware.max_depth": b"[hardware]\nmax_depth = 99999999999\n",
    "reproducibility.seed": b"[reproducibility]\nseed = -1\n",
    "reproducibility.tolerance": b"[reproducibility]\ntolerance = 2\n",
    "implementations.tensorflow": b'[implementations.tensorflow]\nentry_point = "circuit.py"\n',
    "implementations.cirq.entry_point": b'[implementations.cirq]\nentry_point = "missing.py"\n',
    "references.0.url": b'[[references]]\ntitle = "x"\nurl = "javascript:alert(1)"\n',
    "references.0.year": b'[[references]]\ntitle = "x"\nyear = 99999\n',
    "schema_version": b"",  # replaced below: a top-level key after the tables is not top level
    "unknown table": b"[surprise]\nx = 1\n",
}


@pytest.mark.parametrize("key", list(TABLE_ATTACKS))
async def test_malformed_manifest_table_is_400(client, alice, key):
    manifest = (b'schema_version = "2.0.0"\n' + BASE_MANIFEST) if key == "schema_version" else BASE_MANIFEST + TABLE_ATTACKS[key]
    c = await create(client, alice, "deep")
    resp = await client.post(f"/circuits/{c['id']}/upload-batch",
                             data=form(("qubithub.toml", manifest), ("circuit.py", CIRCUIT_PY)), headers=alice.headers)
    detail = await detail_of(resp, 400)
    assert key.split(".")[0].split(" ")[0] in detail or "unknown key" in detail or "entry_point" in detail, detail
    got = await (await client.get(f"/circuits/{c['id']}", headers=alice.headers)).json()
    assert got["versions"] == []


@pytest.mark.parametrize("doc, depth", [
    ([], 1), ({"a": [[{}]]}, 4), (["[[[[[[[[[[", "\\\"[[[[{{{{", "]]]]"], 1), ({"k\\\"[[[[": {"v": "]]]]}}}}"}}, 2),
    (json.loads("[" * 33 + "1" + "]" * 33), 33),
])
def test_json_depth_counts_brackets_outside_strings_only(doc, depth):
    from qubithub_lite.schemas.bounded import json_depth_exceeds

    raw = json.dumps(doc).encode()
    assert not json_depth_exceeds(raw, depth)
    assert json_depth_exceeds(raw, depth - 1)


async def test_brackets_inside_strings_do_not_count_as_nesting(client, alice):
    resp = await client.post("/circuits", json=circuit_body(title="[" * 200 + "{" * 200, description="]" * 40),
                             headers=alice.headers)
    assert resp.status == 201, await resp.text()
