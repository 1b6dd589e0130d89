"""Uploads, versions, the blob store, file downloads and manifests."""

from __future__ import annotations

import hashlib
import json

import pytest

from qubithub_lite.db.circuits import Blob, StorageUsage

from tests.conftest import make_settings
from .helpers import CIRCUIT_PY, MANIFEST, create, form, upload, upload_batch

MAX_FILE = 64 * 1024
QUOTA = 200 * 1024


@pytest.fixture
def settings(tmp_path):
    return make_settings(tmp_path, storage={"max_file_bytes": MAX_FILE, "user_quota_bytes": QUOTA})


def blob_files(hub):
    return sorted(p.name for p in (hub.blobs.objects).glob("*/*/*"))


async def test_upload_creates_versions_with_cumulative_trees(client, hub, alice):
    c = await create(client, alice, "bell")
    r1 = await upload(client, alice, c["id"], "circuit.py", CIRCUIT_PY, "Initial upload")
    v1 = r1["version"]
    assert v1["version_number"] == 1 and v1["parent_hash"] is None
    assert v1["file_path"] == f"circuits/{c['id']}/v1/circuit.py" and v1["file_size"] == len(CIRCUIT_PY)
    assert v1["commit_message"] == "Initial upload" and len(v1["commit_hash"]) == 64
    r2 = await upload(client, alice, c["id"], "sub/dir/params.json", b'{"theta": 0.5}')
    v2 = r2["version"]
    assert v2["version_number"] == 2 and v2["parent_hash"] == v1["commit_hash"]
    assert v2["commit_hash"] != v1["commit_hash"]

    files = await (await client.get(f"/circuits/{c['id']}/files")).json()
    assert files["version"] == "v2"
    assert {f["name"]: f["type"] for f in files["files"]} == {"circuit.py": "python", "sub/dir/params.json": "json"}
    old = await (await client.get(f"/circuits/{c['id']}/files", params={"version": "1"})).json()
    assert [f["name"] for f in old["files"]] == ["circuit.py"] and old["version"] == "v1"
    assert (await client.get(f"/circuits/{c['id']}/files", params={"version": "9"})).status == 404
    assert (await client.get(f"/circuits/{c['id']}/files", params={"version": "x"})).status == 400

    detail = await (await client.get(f"/circuits/{c['id']}")).json()
    assert [v["version_number"] for v in detail["versions"]] == [1, 2]
    assert detail["latest_version"]["commit_hash"] == v2["commit_hash"]
    # the unchanged circuit.py is stored once
    assert blob_files(hub).count(hashlib.sha256(CIRCUIT_PY).hexdigest()) == 1
    assert await StorageUsage.aget(StorageUsage.owner_key == f"user:{alice.id}") is not None


async def test_download_content_type_etag_range(client, alice):
    c = await create(client, alice, "bell")
    data = bytes(range(256)) * 40
    await upload(client, alice, c["id"], "circuit.py", CIRCUIT_PY)
    await upload(client, alice, c["id"], "model.qpy", data)
    files = {f["name"]: f for f in (await (await client.get(f"/circuits/{c['id']}/files")).json())["files"]}
    path = files["circuit.py"]["path"]
    resp = await client.get(f"/files/{path}")
    assert resp.status == 200 and await resp.read() == CIRCUIT_PY
    assert resp.headers["Content-Type"].startswith("text/x-python")
    etag = resp.headers["ETag"]
    assert etag == f'"{hashlib.sha256(CIRCUIT_PY).hexdigest()}"'
    assert (await client.get(f"/api/files/{path}", headers={"If-None-Match": etag})).status == 304
    assert (await client.get(f"/files/{path}", headers={"If-Match": '"nope"'})).status == 412

    qpy = files["model.qpy"]["path"]
    resp = await client.get(f"/files/{qpy}", headers={"Range": "bytes=10-19"})
    assert resp.status == 206 and await resp.read() == data[10:20]
    assert resp.headers["Content-Range"] == f"bytes 10-19/{len(data)}"
    resp = await client.get(f"/files/{qpy}", headers={"Range": "bytes=-5"})
    assert resp.status == 206 and await resp.read() == data[-5:]
    resp = await client.get(f"/files/{qpy}", headers={"Range": "bytes=100-"})
    assert await resp.read() == data[100:]
    resp = await client.get(f"/files/{qpy}", headers={"Range": f"bytes={len(data)}-"})
    assert resp.status == 416 and resp.headers["Content-Range"] == f"bytes */{len(data)}"
    resp = await client.get(f"/files/{qpy}", headers={"Range": "bytes=0-3", "If-Range": '"stale"'})
    assert resp.status == 200 and await resp.read() == data
    resp = await client.head(f"/files/{qpy}")
    assert resp.status == 200 and resp.headers["Content-Length"] == str(len(data))
    # the v1 path still serves v1's tree; owner/name form works too
    assert (await client.get(f"/files/circuits/{c['id']}/v1/model.qpy")).status == 404
    resp = await client.get("/files/circuits/alice/bell/v2/model.qpy")
    assert resp.status == 200 and await resp.read() == data
    for bad in ("circuits/x", "other/thing/v1/a.py", f"circuits/{c['id']}/v0/circuit.py",
                f"circuits/{c['id']}/v1/", "circuits/alice/bell/v1/nope.py", "circuits/bob/bell/v1/circuit.py"):
        assert (await client.get(f"/files/{bad}")).status == 404, bad


@pytest.mark.parametrize("name", [
    "../evil.py", "/etc/passwd.py", "a/../../b.py", "C:/win.py", "dir\\\\x.py", "nul%00.py", "tab\t.py", "%2e%2e%2fevil.py", "bell\x07.py",
    "sub%2F..%2F..%2Fx.py",
    "CON.py", "sub/aux.py", ".hidden.py", "a//b.py", "./a.py", "x" * 300 + ".py",
])
async def test_traversal_and_unsafe_names_rejected(client, alice, name):
    c = await create(client, alice, "bell")
    # a hand-made body: the file name goes on the wire exactly as written (raw control characters,
    # or percent-escapes the server decodes before checking)
    boundary = "qhboundary"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\nx = 1\n\r\n--{boundary}--\r\n").encode()
    headers = {**alice.headers, "Content-Type": f"multipart/form-data; boundary={boundary}"}
    resp = await client.post(f"/circuits/{c['id']}/upload", data=body, headers=headers)
    assert resp.status == 400, name
    detail = (await resp.json())["detail"]
    assert "file name" in detail or "path" in detail or "malformed multipart" in detail
    assert (await (await client.get(f"/circuits/{c['id']}")).json())["versions"] == []


async def test_unaccepted_kinds_rejected(client, alice):
    c = await create(client, alice, "bell")
    for name in ("run.sh", "lib.so", "notes.txt", "other.toml", "image.png", "README.txt"):
        resp = await client.post(f"/circuits/{c['id']}/upload", data=form((name, b"data"), field="file"),
                                 headers=alice.headers)
        assert resp.status == 400, name
        assert "not accepted" in (await resp.json())["detail"]
    for name in ("README.md", "docs/README.md", "bell.qasm", "model.qpy", "params.json", "src/util.py"):
        await upload(client, alice, c["id"], name, b"ok")


async def test_upload_needs_multipart_auth_and_ownership(client, alice, bob):
    c = await create(client, alice, "bell")
    url = f"/circuits/{c['id']}/upload"
    assert (await client.post(url, data=form(("a.py", b"x"), field="file"))).status == 401
    assert (await client.post(url, data=form(("a.py", b"x"), field="file"), headers=bob.headers)).status == 403
    resp = await client.post(url, json={"file": "x"}, headers=alice.headers)
    assert resp.status == 400
    resp = await client.post(url, data=form(("a.py", b"x"), field="wrong"), headers=alice.headers)
    assert resp.status == 400
    resp = await client.post("/circuits/00000000-0000-0000-0000-000000000000/upload",
                             data=form(("a.py", b"x"), field="file"), headers=alice.headers)
    assert resp.status == 404


async def test_file_too_large_is_413_and_nothing_is_kept(client, hub, alice):
    c = await create(client, alice, "bell")
    resp = await client.post(f"/circuits/{c['id']}/upload", data=form(("big.py", b"#" * (MAX_FILE + 1)), field="file"),
                             headers=alice.headers)
    assert resp.status == 413
    assert "limit" in (await resp.json())["detail"]
    assert blob_files(hub) == [] and list(hub.blobs.tmp.iterdir()) == []
    await upload(client, alice, c["id"], "ok.py", b"#" * MAX_FILE)  # exactly the limit is fine


async def test_quota_holds_when_uploads_arrive_at_once(client, hub, alice):
    """8 uploads of different files at once, room for 3: the database decides (on PostgreSQL a
    check-then-add in read committed let every one of them pass)."""
    import asyncio

    circuits = [await create(client, alice, f"c{i}") for i in range(8)]
    size = MAX_FILE - 10
    answers = await asyncio.gather(*(
        client.post(f"/circuits/{c['id']}/upload", data=form((f"f{i}.py", bytes([i + 1]) * size), field="file"), headers=alice.headers)
        for i, c in enumerate(circuits)))
    statuses = sorted(r.status for r in answers)
    assert statuses == [201] * (QUOTA // size) + [403] * (8 - QUOTA // size), statuses
    used = (await StorageUsage.aget(StorageUsage.owner_key == f"user:{alice.id}")).bytes_used
    assert used == (QUOTA // size) * size <= QUOTA


async def test_quota_exceeded_is_403_and_atomic(client, hub, alice):
    c = await create(client, alice, "bell")
    chunk = lambda n: bytes([n]) * (MAX_FILE - 10)  # noqa: E731
    await upload_batch(client, alice, c["id"], [("a.py", chunk(1)), ("b.py", chunk(2))])
    used = (await StorageUsage.aget(StorageUsage.owner_key == f"user:{alice.id}")).bytes_used
    assert used == 2 * (MAX_FILE - 10)
    before = blob_files(hub)
    resp = await client.post(f"/circuits/{c['id']}/upload-batch",
                             data=form(("c.py", chunk(3)), ("d.py", chunk(4))), headers=alice.headers)
    assert resp.status == 403
    assert (await resp.json())["detail"].startswith("storage quota exceeded")
    assert blob_files(hub) == before and list(hub.blobs.tmp.iterdir()) == []
    assert (await StorageUsage.aget(StorageUsage.owner_key == f"user:{alice.id}")).bytes_used == used
    detail = await (await client.get(f"/circuits/{c['id']}")).json()
    assert len(detail["versions"]) == 1
    # re-uploading an unchanged file costs nothing
    await upload(client, alice, c["id"], "a.py", chunk(1))
    # deleting frees the quota and the blobs
    assert (await client.delete(f"/circuits/{c['id']}", headers=alice.headers)).status == 204
    assert (await StorageUsage.aget(StorageUsage.owner_key == f"user:{alice.id}")).bytes_used == 0
    assert blob_files(hub) == [] and await hub.db.count(Blob.select()) == 0


async def test_batch_partial_failure_is_207(client, alice):
    c = await create(client, alice, "bell")
    body = await upload_batch(client, alice, c["id"], [
        ("circuit.py", CIRCUIT_PY), ("../x.py", b"x"), ("evil.sh", b"rm"), ("big.py", b"#" * (MAX_FILE + 5)),
        ("README.md", b"# Bell"),
    ], message="batch", expect=207)
    assert sorted(f["name"] for f in body["files"]) == ["README.md", "circuit.py"]
    assert sorted(e["filename"] for e in body["errors"]) == ["../x.py", "big.py", "evil.sh"]
    assert body["version"]["version_number"] == 1
    files = await (await client.get(f"/circuits/{c['id']}/files")).json()
    assert sorted(f["name"] for f in files["files"]) == ["README.md", "circuit.py"]
    resp = await client.post(f"/circuits/{c['id']}/upload-batch", data=form(("../x.py", b"x")), headers=alice.headers)
    assert resp.status == 400


async def test_manifest_updates_circuit_and_generates_metadata(client, alice):
    c = await create(client, alice, "bell", title="Before", qubits=0)
    body = await upload_batch(client, alice, c["id"], [("qubithub.toml", MANIFEST), ("circuit.py", CIRCUIT_PY)])
    names = {f["name"]: f for f in body["files"]}
    assert set(names) == {"qubithub.toml", "circuit.py", "metadata.json"}
    assert body["version"]["file_path"].endswith("/v1/circuit.py")
    detail = await (await client.get(f"/circuits/{c['id']}")).json()
    assert detail["title"] == "Bell from manifest" and detail["qubits"] == 2 and detail["depth"] == 3
    assert detail["gates"] == ["H", "CX"] and detail["tags"] == ["entanglement", "bell"]
    assert detail["category"] == "foundations" and detail["difficulty"] == "beginner"
    assert detail["description"] == "Two qubits, maximally entangled."
    meta = json.loads(await (await client.get(f"/files/{names['metadata.json']['path']}")).read())
    assert meta["name"] == "bell" and meta["entry_point"] == "circuit.py"
    assert meta["execution"]["default_shots"] == 2048 and meta["generated_from"] == "qubithub.toml"
    # tags from the manifest are filterable
    listed = await (await client.get("/circuits", params={"tags": "bell"})).json()
    assert [x["id"] for x in listed["circuits"]] == [c["id"]]
    # a hand-made metadata.json is refused while a manifest exists
    resp = await client.post(f"/circuits/{c['id']}/upload", data=form(("metadata.json", b"{}"), field="file"),
                             headers=alice.headers)
    assert resp.status == 400 and "generated" in (await resp.json())["detail"]


@pytest.mark.parametrize("manifest, needle", [
    (b"[project\nname = 'x'", "line 1"),
    (b"[project]\nname = \"bell\"\ntitle = \"T\"\ntype = \"circuit\"\nframework = \"qiskit\"\n"
     b"entry_point = \"circuit.py\"\nqubits = 2\nqubits = 3\n", "line 8"),
    (MANIFEST.replace(b'qubits = 2', b'qubits = "two"'), "project.qubits"),
    (MANIFEST.replace(b'type = "circuit"', b'type = "dataset"'), "project.type"),
    (MANIFEST.replace(b'framework = "qiskit"', b'framework = "braket"'), "project.framework"),
    (MANIFEST.replace(b'entry_point = "circuit.py"', b'entry_point = "../circuit.py"'), "project.entry_point"),
    (MANIFEST.replace(b'entry_point = "circuit.py"', b'entry_point = "missing.py"'), "entry_point 'missing.py'"),
    (MANIFEST.replace(b'difficulty = "beginner"', b'difficulty = "expert"'), "project.difficulty"),
    (MANIFEST.replace(b'default_shots = 2048', b'default_shots = 0'), "execution.default_shots"),
    (MANIFEST + b"\n[hardware]\nconnectivity = \"mesh\"\n", "hardware.connectivity"),
    (MANIFEST + b"\n[parameters.theta]\ntype = \"float\"\ndefault = 5.0\nmax = 3.14\n", "parameters.theta"),
    (MANIFEST.replace(b"[execution]", b"[execution]\nbogus_key = 1"), "execution.bogus_key"),
    (MANIFEST.replace(b'name = "bell"', b""), "project.name"),
    (b"\xff\xfe not utf8", "UTF-8"),
])
async def test_broken_manifest_is_400_and_creates_no_version(client, alice, manifest, needle):
    c = await create(client, alice, "bell", title="Before")
    resp = await client.post(f"/circuits/{c['id']}/upload-batch",
                             data=form(("qubithub.toml", manifest), ("circuit.py", CIRCUIT_PY)), headers=alice.headers)
    assert resp.status == 400
    detail = (await resp.json())["detail"]
    assert "qubithub.toml" in detail and needle in detail, detail
    after = await (await client.get(f"/circuits/{c['id']}")).json()
    assert after["versions"] == [] and after["title"] == "Before"


async def test_tier3_manifest_accepted(client, alice):
    c = await create(client, alice, "bell")
    tier3 = MANIFEST + b"""
[parameters.theta]
type = "angle"
default = 0.785
min = 0.0
max = 6.283
unit = "rad"

[hardware]
min_qubits = 2
connectivity = "linear"
native_gates = ["CX", "RZ", "SX"]

[reproducibility]
seed = 42
dependencies = { qiskit = ">=2.0" }

[implementations.cirq]
entry_point = "alt/cirq_version.py"

[[references]]
title = "Bell's theorem"
url = "https://example.org/bell"
year = 1964
"""
    body = await upload_batch(client, alice, c["id"], [
        ("qubithub.toml", tier3), ("circuit.py", CIRCUIT_PY), ("alt/cirq_version.py", b"import cirq\n")])
    detail = await (await client.get(f"/circuits/{c['id']}")).json()
    assert detail["manifest"]["parameters"]["theta"]["default"] == 0.785
    assert detail["manifest"]["references"][0]["year"] == 1964
    assert body["version"]["version_number"] == 1
