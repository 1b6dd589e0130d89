"""Circuits to run, and waiting for runs."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp

import qubithub_lite

EXAMPLES = Path(qubithub_lite.__file__).parent / "examples" / "circuits"


def example_source(name: str) -> str:
    """The circuit file (``circuit.py``, ``circuit.qasm``) of a bundled example circuit."""
    return next((EXAMPLES / name).glob("circuit.*")).read_text(encoding="utf-8")


#: The bundled examples' Bell circuits (qiskit: H, CX, measure both; PennyLane: the same, as counts).
BELL = example_source("bell-qiskit")

PARAM = '''
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter

def create_circuit():
    theta = Parameter("theta")
    qc = QuantumCircuit(1, 1)
    qc.ry(theta, 0)
    qc.measure(0, 0)
    return qc
'''

SHAPED = '''
from qiskit import QuantumCircuit

def create_circuit(n=2):
    qc = QuantumCircuit(n)
    qc.x(range(n))
    qc.measure_all()
    return qc
'''

CIRQ = '''
import cirq

def create_circuit():
    q0, q1 = cirq.LineQubit.range(2)
    return cirq.Circuit([cirq.X(q0), cirq.measure(q0, q1, key="m")])
'''

PENNYLANE = example_source("bell-pennylane")

QASM3 = '''OPENQASM 3.0;
include "stdgates.inc";
qubit[2] q;
bit[2] c;
x q[0];
c = measure q;
'''

SLEEPY = '''
import time
time.sleep(float(open("sleep.json").read()))
from qiskit import QuantumCircuit

def create_circuit():
    qc = QuantumCircuit(1, 1)
    qc.x(0)
    qc.measure(0, 0)
    return qc
'''


def deep_circuit_source(qubits: int, layers: int) -> str:
    """A ``circuit.py`` whose circuit is wide, deep and non-Clifford (rx layers and a cx chain):
    seconds to minutes of statevector simulation, for tests that need a run still executing."""
    return f'''
from qiskit import QuantumCircuit

def create_circuit():
    n = {qubits}
    qc = QuantumCircuit(n)
    for layer in range({layers}):
        for q in range(n):
            qc.rx(0.1 * (layer + q + 1), q)
        for q in range(n - 1):
            qc.cx(q, q + 1)
    qc.measure_all()
    return qc
'''


def manifest(name: str, framework: str, entry: str, qubits: int, extra: str = "") -> str:
    return (f'[project]\nname = "{name}"\ntitle = "{name}"\ntype = "circuit"\nframework = "{framework}"\n'
            f'entry_point = "{entry}"\nqubits = {qubits}\n{extra}')


async def make_circuit(client, user, name: str, files: dict[str, str], *, framework: str = "qiskit", qubits: int = 2,
                       is_public: bool = True) -> dict:
    resp = await client.post("/circuits", json={"name": name, "title": name, "framework": framework, "qubits": qubits,
                                                 "is_public": is_public, "tags": ["test"]}, headers=user.headers)
    assert resp.status == 201, await resp.text()
    circuit = await resp.json()
    form = aiohttp.FormData()
    for path, text in files.items():
        form.add_field("files", text.encode(), filename=path, content_type="application/octet-stream")
    up = await client.post(f"/circuits/{circuit['id']}/upload-batch", data=form, headers=user.headers)
    assert up.status in (200, 201), await up.text()
    return circuit


async def submit(client, user, circuit_id: str, **body) -> dict:
    resp = await client.post("/runs", json={"circuit_id": circuit_id, **body}, headers=user.headers)
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def run_circuit(client, user, circuit_id: str, **body) -> dict:
    """Submit a run of the circuit (``body``: shots, parameters, …) and wait for its end."""
    return await wait_run(client, user, (await submit(client, user, circuit_id, **body))["id"])


async def wait_run(client, user, run_id: str, timeout: float = 120, statuses=("completed", "failed", "cancelled")) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        resp = await client.get(f"/runs/{run_id}", headers=user.headers)
        assert resp.status == 200, await resp.text()
        run = await resp.json()
        if run["status"] in statuses:
            return run
        await asyncio.sleep(0.1)
    raise AssertionError(f"run {run_id} still {run['status']} after {timeout} s")
