"""The published OpenAPI document is exact: an OpenAPI fuzzer (schemathesis) runs over every
operation of a real server and finds no 5xx and no response that breaks the document
(status codes, content types, headers, body schemas). Whatever is in the route table is in
the document, so new routes are fuzzed without touching this file."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from qubithub_lite.api.openapi import build_openapi, openapi_path
from qubithub_lite.app import all_routes

from tests.circuits.helpers import CIRCUIT_PY, MANIFEST
from tests.conftest import PASSWORD, start_server

pytest.importorskip("schemathesis")

#: Test cases per operation and phase (the coverage phase adds its boundary cases); set
#: QUBITHUB_FUZZ_EXAMPLES for a longer run.
MAX_EXAMPLES = int(os.environ.get("QUBITHUB_FUZZ_EXAMPLES", "6"))
CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_headers_conformance", "response_schema_conformance")


def test_document_lists_every_route_with_plain_path_templates():
    doc = build_openapi(all_routes(), "test")
    published = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    assert published == {(openapi_path(s.path), s.method.lower()) for s in all_routes()}
    for path, ops in doc["paths"].items():
        assert re.fullmatch(r"(/([A-Za-z0-9_.-]+|\{\w+\}))+", path), path  # no router regex leaks
        names = re.findall(r"{(\w+)}", path)
        for op in ops.values():
            assert [p["name"] for p in op.get("parameters", []) if p["in"] == "path"] == names
    assert "/files/{file_path}" in doc["paths"]


def _call(url: str, method: str = "GET", body: dict | None = None, token: str | None = None, raw: bytes | None = None,
          ctype: str = "application/json") -> dict:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", ctype)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read() or b"{}")


def _multipart(files: list[tuple[str, str, bytes]]) -> tuple[bytes, str]:
    boundary = "qhfuzzboundary7d1c"
    out = b""
    for field, name, content in files:
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{name}\"\r\n"
                "Content-Type: application/octet-stream\r\n\r\n").encode() + content + b"\r\n"
    return out + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def _seed(url: str) -> tuple[str, dict[str, list[str]]]:
    """A user owning one of each resource, so fuzzed ids often reach real objects."""
    user = _call(url + "/auth/register", "POST", {"email": "fuzz@example.org", "username": "fuzzer",
                                                 "password": PASSWORD, "name": "Fuzzer"})
    token = user["access_token"]
    circuit = _call(url + "/circuits", "POST", {"name": "bell", "title": "Bell", "framework": "qiskit",
                                                "tags": ["bell"]}, token)
    raw, ctype = _multipart([("files", "qubithub.toml", MANIFEST), ("files", "circuit.py", CIRCUIT_PY)])
    upload = _call(url + f"/circuits/{circuit['id']}/upload-batch", "POST", raw=raw, ctype=ctype, token=token)
    org = _call(url + "/orgs", "POST", {"name": "Fuzz Lab", "slug": "fuzz-lab"}, token)
    space = _call(url + "/spaces", "POST", {"name": "demo", "title": "Demo", "sdk": "qiskit"}, token)
    space_file = _call(url + f"/spaces/{space['id']}/files", "POST", {"path": "app.py", "content": "print(1)\n"}, token)
    dataset = _call(url + "/datasets", "POST", {"name": "counts", "title": "Counts", "format": "csv"}, token)
    raw, ctype = _multipart([("file", "counts.csv", b"state,count\n00,510\n11,490\n")])
    _call(url + f"/datasets/{dataset['id']}/versions", "POST", raw=raw, ctype=ctype, token=token)
    ids = {
        "circuit_id": [circuit["id"]], "file_path": [f["path"] for f in upload["files"]],
        "org_id": [org["id"]], "slug": [org["slug"], "fuzzer"], "user_id": [user["user"]["id"]],
        "space_id": [space["id"]], "file_id": [space_file["id"]], "dataset_id": [dataset["id"]],
    }
    return token, ids


def _config(path: Path, ids: dict[str, list[str]]) -> None:
    lines = []
    for name, values in ids.items():
        lines += [f"[dictionaries.{name}]", f"values = {json.dumps(values)}", ""]
    lines.append("[parameters]")
    lines += [f'"path.{name}" = {{ dictionary = "{name}", probability = 0.7 }}' for name in ids]
    path.write_text("\n".join(lines) + "\n")


def _schemathesis() -> list[str]:
    script = Path(sys.executable).with_name("st")
    if script.exists():
        return [str(script)]
    found = shutil.which("st")
    assert found, "schemathesis' `st` command is not installed (pip install -e '.[test]')"
    return [found]


@pytest.mark.timeout(600)
def test_fuzz_every_operation(tmp_path):
    server = start_server(tmp_path / "data")
    try:
        token, ids = _seed(server.url)
        config = tmp_path / "schemathesis.toml"
        _config(config, ids)
        cmd = _schemathesis() + [
            "--config-file", str(config), "--no-color",
            "run", server.url + "/openapi.json",
            "--header", f"Authorization: Bearer {token}",
            "--checks", ",".join(CHECKS),
            "--phases", "coverage,fuzzing",
            "--max-examples", str(MAX_EXAMPLES),
            "--seed", "20261201", "--generation-deterministic",
            "--generation-with-security-parameters", "false",
            "--suppress-health-check", "all",
            "--workers", "1", "--request-timeout", "30", "--no-shrink",
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith("SCHEMATHESIS_")}
        done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=540)
        report = done.stdout[-20_000:] + done.stderr[-5_000:]
        health = urllib.request.urlopen(server.url + "/health", timeout=10)
        assert health.status == 200  # the server survived the run
    finally:
        server.stop()
    assert done.returncode == 0, report
    assert re.search(r"\d+ passed", report), report
