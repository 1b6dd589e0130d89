"""The official `qubithub` client (PyPI) against a real `qubithub-lite serve`."""

import json
import os
import shutil
import subprocess

import pytest
import requests

from tests.conftest import PASSWORD

pytestmark = pytest.mark.skipif(shutil.which("qubithub") is None, reason="official qubithub client not installed")


def cli(server, home, *args, check=True):
    env = {**os.environ, "HOME": str(home), "NO_COLOR": "1", "COLUMNS": "200"}
    env.pop("QUBITHUB_API_KEY", None)
    env.pop("QUBITHUB_TOKEN", None)
    proc = subprocess.run(["qubithub", "--base-url", server.api, *args], env=env, capture_output=True, text=True, timeout=60)
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def test_account_commands(live_server, tmp_path):
    reg = requests.post(f"{live_server.api}/auth/register",
                        json={"email": "dana@example.org", "username": "dana", "password": PASSWORD, "name": "Dana"})
    assert reg.status_code == 201
    home = tmp_path / "home"
    home.mkdir()
    out = cli(live_server, home, "login", "--email", "dana", "--password", PASSWORD)
    assert "dana" in out.stdout
    who = cli(live_server, home, "whoami")
    assert "dana" in who.stdout
    created = cli(live_server, home, "--format", "json", "keys", "create", "laptop", "--scopes", "circuit:read,runs:submit")
    key = json.loads(created.stdout)
    assert key["key"].startswith("qh_") and key["scopes"] == ["circuit:read", "runs:submit"]
    listed = cli(live_server, home, "keys", "list")
    assert "laptop" in listed.stdout
    assert requests.get(f"{live_server.api}/auth/me", headers={"X-API-Key": key["key"]}).status_code == 200
    cli(live_server, home, "keys", "revoke", key["id"])
    assert requests.get(f"{live_server.api}/auth/me", headers={"X-API-Key": key["key"]}).status_code == 401
    stored = (home / ".qubithub" / "config.toml").read_text()
    refresh_token = next(line.split("=", 1)[1].strip().strip('"') for line in stored.splitlines() if line.startswith("refresh_token"))
    out = cli(live_server, home, "logout")
    assert "did not confirm" not in out.stdout
    assert requests.post(f"{live_server.api}/auth/refresh", json={"refresh_token": refresh_token}).status_code == 401
    after = cli(live_server, home, "whoami", check=False)
    assert after.returncode != 0


def test_wrong_password_reported(live_server, tmp_path):
    out = cli(live_server, tmp_path, "login", "--email", "nobody", "--password", "Wrong!pass99", check=False)
    assert out.returncode == 1
    assert "incorrect" in (out.stdout + out.stderr)


def test_reference_python_example_login(live_server):
    """The reference's Python example, with only BASE_URL changed."""
    BASE_URL = live_server.url
    requests.post(f"{BASE_URL}/auth/register", json={"email": "alice@example.com", "username": "alice-q",
                                                    "password": "Qu4ntum!Leap#42", "name": "Alice Quantum"})
    auth = requests.post(f"{BASE_URL}/auth/login", json={
        "email": "alice@example.com",
        "password": "Qu4ntum!Leap#42",
    })
    token = auth.json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert requests.get(f"{BASE_URL}/auth/me", headers=headers).json()["username"] == "alice-q"
