"""Helpers for the protocol tests: a real server, real git, real HTTP clients."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import requests

from tests.conftest import PASSWORD

MANIFEST = """[project]
name = "{name}"
title = "Bell"
type = "circuit"
framework = "qiskit"
entry_point = "circuit.py"
qubits = 2
tags = ["bell"]
"""
CIRCUIT = "from qiskit import QuantumCircuit\n\ndef create_circuit():\n    qc = QuantumCircuit(2)\n    qc.h(0)\n    return qc\n"


class Api:
    """A signed-in user of a live server (requests)."""

    def __init__(self, server, username: str):
        self.server = server
        self.username = username
        resp = requests.post(f"{server.api}/auth/register", json={
            "email": f"{username}@example.org", "username": username, "password": PASSWORD, "name": username.title()})
        assert resp.status_code == 201, resp.text
        self.token = resp.json()["access_token"]
        self.id = resp.json()["user"]["id"]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def get(self, path, **kw):
        return requests.get(f"{self.server.api}{path}", headers=self.headers, **kw)

    def post(self, path, **kw):
        return requests.post(f"{self.server.api}{path}", headers=self.headers, **kw)

    def circuit(self, name: str, files: dict[str, str], *, is_public: bool = True, message: str = "first") -> dict:
        resp = self.post("/circuits", json={"name": name, "title": name, "framework": "qiskit", "qubits": 2,
                                            "is_public": is_public})
        assert resp.status_code == 201, resp.text
        circuit = resp.json()
        self.upload(circuit["id"], files, message)
        return circuit

    def upload(self, circuit_id: str, files: dict[str, str], message: str) -> dict:
        resp = self.post(f"/circuits/{circuit_id}/upload-batch", params={"commit_message": message},
                         files=[("files", (p, c.encode())) for p, c in files.items()])
        assert resp.status_code == 201, resp.text
        return resp.json()

    def api_key(self, *scopes: str) -> str:
        resp = self.post("/api-keys", json={"name": "git", "scopes": list(scopes)})
        assert resp.status_code == 201, resp.text
        return resp.json()["key"]

    def detail(self, circuit_id: str) -> dict:
        resp = self.get(f"/circuits/{circuit_id}")
        assert resp.status_code == 200, resp.text
        return resp.json()


def git_env(home: Path) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "QUBITHUB"))}
    env.update(HOME=str(home), GIT_TERMINAL_PROMPT="0", GIT_CONFIG_NOSYSTEM="1", GIT_AUTHOR_NAME="Alice",
               GIT_AUTHOR_EMAIL="alice@example.org", GIT_COMMITTER_NAME="Alice", GIT_COMMITTER_EMAIL="alice@example.org")
    return env


def git(env, *args, cwd=None, ok=True) -> subprocess.CompletedProcess:
    proc = subprocess.run(["git", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    if ok:
        assert proc.returncode == 0, f"git {args}: {proc.stdout}\n{proc.stderr}"
    return proc


def url(server, repo: str, secret: str | None = None) -> str:
    host = server.url.removeprefix("http://")
    return f"http://x-access-token:{secret}@{host}/{repo}.git" if secret else f"http://{host}/{repo}.git"
