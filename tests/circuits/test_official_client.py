"""End to end: the official `qubithub` CLI and the reference's Python example against a real server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
import requests

from tests.conftest import PASSWORD

QUBITHUB = shutil.which("qubithub")
pytestmark = pytest.mark.skipif(QUBITHUB is None, reason="the qubithub client is not installed")


def register(server, username):
    resp = requests.post(f"{server.api}/auth/register", json={
        "email": f"{username}@example.org", "username": username, "password": PASSWORD, "name": username.title()})
    assert resp.status_code == 201, resp.text
    return resp.json()["access_token"]


class Cli:
    def __init__(self, server, home):
        home.mkdir(parents=True, exist_ok=True)
        self.server, self.home = server, home
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("QUBITHUB")}
        self.env.update(HOME=str(home), NO_COLOR="1", COLUMNS="200")

    def __call__(self, *args, cwd=None, ok=True, json_out=False):
        cmd = [QUBITHUB, "--base-url", self.server.api] + (["--format", "json"] if json_out else []) + list(args)
        proc = subprocess.run(cmd, env=self.env, cwd=cwd or self.home, capture_output=True, text=True, timeout=120)
        if ok:
            assert proc.returncode == 0, f"{args}: {proc.stdout}\n{proc.stderr}"
        return proc


def test_official_client_end_to_end(live_server, tmp_path):
    register(live_server, "alice")
    register(live_server, "bob")
    alice = Cli(live_server, tmp_path / "alice-home")
    bob = Cli(live_server, tmp_path / "bob-home")
    alice("login", "--email", "alice", "--password", PASSWORD)
    assert (alice.home / ".qubithub" / "config.toml").exists()
    bob("login", "--username", "bob@example.org", "--password", PASSWORD)

    # init → edit the manifest → push --create (version 1)
    work = tmp_path / "work"
    work.mkdir()
    alice("circuits", "init", "bell-pair", "--qubits", "2", cwd=work)
    project = work / "bell-pair"
    manifest = (project / "qubithub.toml").read_text()
    assert 'entry_point = "circuit.py"' in manifest
    (project / "qubithub.toml").write_text(manifest.replace("tags = []", 'tags = ["entanglement", "e2e"]'))
    (project / "params").mkdir()
    (project / "params" / "angles.json").write_text('{"theta": 0.5}')
    out = alice("circuits", "push", str(project), "--create", "-m", "first push")
    assert "Pushed" in out.stdout, out.stdout

    token = requests.post(f"{live_server.api}/auth/login",
                          json={"identifier": "alice", "password": PASSWORD}).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    detail = requests.get(f"{live_server.api}/circuits/resolve", params={"repo_name": "alice/bell-pair"},
                          headers=headers).json()
    assert [v["version_number"] for v in detail["versions"]] == [1]
    assert detail["tags"] == ["entanglement", "e2e"] and detail["qubits"] == 2

    # a second push makes version 2
    (project / "circuit.py").write_text((project / "circuit.py").read_text().replace("# TODO: Add gates here",
                                                                                    "qc.h(0)\n    qc.cx(0, 1)"))
    alice("circuits", "push", str(project), "-m", "add gates")
    detail = requests.get(f"{live_server.api}/circuits/{detail['id']}", headers=headers).json()
    assert [v["version_number"] for v in detail["versions"]] == [1, 2]
    assert detail["versions"][1]["commit_message"] == "add gates"
    assert detail["versions"][1]["parent_hash"] == detail["versions"][0]["commit_hash"]

    # list --tag, info
    listed = json.loads(alice("circuits", "list", "--tag", "e2e", json_out=True).stdout)
    assert [c["repo_name"] for c in listed] == ["alice/bell-pair"]
    assert json.loads(alice("circuits", "list", "--tag", "nope", json_out=True).stdout) == []
    info = alice("circuits", "info", "alice/bell-pair")
    assert "bell-pair" in info.stdout and "v2" in info.stdout, info.stdout

    # fork as bob
    out = bob("circuits", "fork", "alice/bell-pair")
    assert "bob/bell-pair" in out.stdout, out.stdout
    forked = json.loads(bob("circuits", "fork", "alice/bell-pair", "--name", "bell-copy", json_out=True).stdout)
    assert forked["repo_name"] == "bob/bell-copy" and len(forked["versions"]) == 2
    again = bob("circuits", "fork", "alice/bell-pair", ok=False)
    assert again.returncode != 0

    # clone --no-git gets the latest tree, sub-folders included
    dest = tmp_path / "cloned"
    bob("clone", "alice/bell-pair", str(dest), "--no-git")
    assert (dest / "circuit.py").read_text() == (project / "circuit.py").read_text()
    assert (dest / "qubithub.toml").read_text() == (project / "qubithub.toml").read_text()
    assert json.loads((dest / "params" / "angles.json").read_text()) == {"theta": 0.5}
    meta = json.loads((dest / "metadata.json").read_text())
    assert meta["name"] == "bell-pair" and meta["tags"] == ["entanglement", "e2e"]


def test_reference_create_and_upload_example(live_server, tmp_path, monkeypatch):
    """The API reference's "Create and upload a circuit" example, BASE_URL changed only."""
    token = register(live_server, "alice")
    (tmp_path / "circuit.py").write_text("from qiskit import QuantumCircuit\nqc = QuantumCircuit(4)\n")
    monkeypatch.chdir(tmp_path)
    example = f'''
import requests
BASE_URL = "{live_server.url}"
headers = {{"Authorization": "Bearer {token}"}}
# Create circuit metadata
circuit = requests.post(f"{{BASE_URL}}/circuits", headers=headers, json={{
"name": "my-vqe-ansatz",
"title": "VQE Ansatz for H2",
"framework": "qiskit",
"tags": ["vqe", "chemistry", "variational"],
"qubits": 4,
"gates": ["RY", "CX"],
}}).json()
circuit_id = circuit["id"]
# Upload circuit file
with open("circuit.py", "rb") as f:
    requests.post(
    f"{{BASE_URL}}/circuits/{{circuit_id}}/upload",
    headers=headers,
    files={{"file": f}},
    params={{"commit_message": "Initial VQE ansatz implementation"}},
    )
print(f"Circuit uploaded: {{circuit['name']}}")
'''
    proc = subprocess.run([sys.executable, "-c", example], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "Circuit uploaded: my-vqe-ansatz"
    detail = requests.get(f"{live_server.url}/circuits/resolve", params={"repo_name": "alice/my-vqe-ansatz"}).json()
    assert detail["versions"][0]["commit_message"] == "Initial VQE ansatz implementation"
    path = detail["latest_version"]["file_path"]
    assert requests.get(f"{live_server.url}/files/{path}").content == (tmp_path / "circuit.py").read_bytes()
    # and the reference's search call finds it
    found = requests.get(f"{live_server.url}/circuits", params={"framework": "qiskit", "tags": ["vqe"], "limit": 5}).json()
    assert found["circuits"][0]["title"] == "VQE Ansatz for H2"
