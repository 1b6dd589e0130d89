"""The manifest's time limit (capped by the server's) bounds every stage of a run."""

from __future__ import annotations

import pytest

from tests.conftest import make_settings
from tests.runs.helpers import BELL, SLEEPY, make_circuit, manifest, submit, wait_run


@pytest.fixture
def settings(tmp_path):
    # The server would give circuit.py 120 s; the manifest asks for 2.
    return make_settings(tmp_path, runs={"workers": 1, "compile_timeout_seconds": 120})


async def test_manifest_timeout_applies_while_circuit_py_runs(client, alice):
    files = {
        "circuit.py": SLEEPY,
        "sleep.json": "600",
        "qubithub.toml": manifest("hang", "qiskit", "circuit.py", 1, "[execution]\ntimeout_seconds = 2\n"),
    }
    circuit = await make_circuit(client, alice, "hang", files, qubits=1)
    run = await wait_run(client, alice, (await submit(client, alice, circuit["id"]))["id"], timeout=60)
    assert run["status"] == "failed" and run["error_class"] == "sandbox_timeout", run
    assert "2 s" in run["error_message"], run["error_message"]


async def test_manifest_timeout_above_the_servers_is_capped(client, alice):
    files = {
        "circuit.py": BELL,
        "qubithub.toml": manifest("long", "qiskit", "circuit.py", 2, "[execution]\ntimeout_seconds = 3000\n"),
    }
    circuit = await make_circuit(client, alice, "long", files)
    run = await wait_run(client, alice, (await submit(client, alice, circuit["id"]))["id"])
    assert run["status"] == "completed", run  # capped, not refused (the sandbox allows 300 s)
