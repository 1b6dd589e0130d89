"""The official `qubithub` client: `clone` (git and --no-git) and short run ids."""

from __future__ import annotations

import json
import shutil
import time

import pytest

from tests.circuits.test_official_client import QUBITHUB, Cli
from tests.conftest import PASSWORD
from tests.protocols.helpers import CIRCUIT, MANIFEST, Api, git, git_env

pytestmark = [pytest.mark.skipif(QUBITHUB is None, reason="the qubithub client is not installed"),
              pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")]

QASM = 'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[1] q;\nbit[1] c;\nx q[0];\nc = measure q;\n'


def test_qubithub_clone_git_and_http(live_server, tmp_path):
    alice = Api(live_server, "alice")
    Api(live_server, "bob")
    c = alice.circuit("bell", {"circuit.py": CIRCUIT, "qubithub.toml": MANIFEST.format(name="bell")}, message="one")
    alice.upload(c["id"], {"circuit.py": CIRCUIT + "# two\n"}, "two")
    alice.circuit("secret", {"circuit.py": CIRCUIT}, is_public=False)
    shas = [v["git_commit"] for v in alice.detail(c["id"])["versions"]]
    env = git_env(tmp_path / "git-home")

    anonymous = Cli(live_server, tmp_path / "anon-home")
    out = json.loads(anonymous("clone", "alice/bell", str(tmp_path / "via-git"), json_out=True).stdout)
    assert out["transport"] == "git"
    assert git(env, "log", "--format=%H", cwd=tmp_path / "via-git").stdout.split() == shas[::-1]
    assert (tmp_path / "via-git" / "circuit.py").read_text().endswith("# two\n")

    anonymous("clone", "alice/bell", str(tmp_path / "via-http"), "--no-git")
    assert not (tmp_path / "via-http" / ".git").exists()
    assert (tmp_path / "via-http" / "circuit.py").read_text() == (tmp_path / "via-git" / "circuit.py").read_text()

    # private: anonymous clone fails (401, git has no credentials); signed in, it clones over git
    failed = anonymous("clone", "alice/secret", str(tmp_path / "nope"), ok=False)
    assert failed.returncode != 0 and not (tmp_path / "nope").exists()
    cli = Cli(live_server, tmp_path / "alice-home")
    cli("login", "--email", "alice", "--password", PASSWORD)
    out = json.loads(cli("clone", "alice/secret", str(tmp_path / "secret"), json_out=True).stdout)
    assert out["transport"] == "git" and (tmp_path / "secret" / "circuit.py").read_text() == CIRCUIT
    bob = Cli(live_server, tmp_path / "bob-home")
    bob("login", "--email", "bob", "--password", PASSWORD)
    assert bob("clone", "alice/secret", str(tmp_path / "bob-secret"), ok=False).returncode != 0


def test_runs_info_and_cancel_with_the_short_id_the_client_shows(live_server, tmp_path):
    alice = Api(live_server, "alice")
    resp = alice.post("/circuits", json={"name": "flip", "title": "flip", "framework": "openqasm3", "qubits": 1})
    circuit = resp.json()
    alice.upload(circuit["id"], {"prog.qasm": QASM}, "qasm")
    run = alice.post("/runs", json={"circuit_id": circuit["id"], "shots": 10}).json()
    deadline = time.monotonic() + 120
    while alice.get(f"/runs/{run['id']}").json()["status"] not in ("completed", "failed"):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    cli = Cli(live_server, tmp_path / "home")
    cli("login", "--email", "alice", "--password", PASSWORD)
    listed = cli("runs", "list").stdout
    short = run["id"][:8]
    assert short in listed
    info = cli("runs", "info", short)
    assert short in info.stdout and "completed" in info.stdout.lower(), info.stdout
    cli("runs", "cancel", short)
    assert alice.get(f"/runs/{run['id']}").status_code == 404
