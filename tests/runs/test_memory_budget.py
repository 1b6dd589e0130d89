"""A simulation bigger than the worker's memory budget fails at once with a clear message
(``quota_exceeded``), in the real sandboxed worker: the budget is passed to the worker (its
sandbox memory limit, lowered by an operator's ``QUBITHUB_SIM_MEMORY_CAP_BYTES``) and what
the worker already holds is counted against it."""

from __future__ import annotations

from qubithub_lite.backends import memory

from .helpers import make_circuit, submit, wait_run

WIDE = ("from qiskit import QuantumCircuit\n\ndef create_circuit():\n    qc = QuantumCircuit(24)\n"
        "    qc.h(range(24))\n    qc.t(range(24))\n    qc.measure_all()\n    return qc\n")


async def test_a_state_above_the_workers_budget_fails_fast(client, alice, monkeypatch):
    monkeypatch.setenv(memory.MEMORY_CAP_ENV, str(128 << 20))  # 24 qubits need 256 MiB
    circuit = await make_circuit(client, alice, "wide", {"circuit.py": WIDE}, qubits=24)
    run = await wait_run(client, alice, (await submit(client, alice, circuit["id"]))["id"])
    assert run["status"] == "failed" and run["error_class"] == "quota_exceeded", run
    assert "24-qubit statevector" in run["error_message"] and "MiB is allowed" in run["error_message"]


def test_the_budget_counts_what_the_process_already_holds(monkeypatch):
    monkeypatch.setenv(memory.MEMORY_CAP_ENV, str(1 << 40))
    held = memory.resident_bytes()
    assert held > 0 and memory.memory_cap() == (1 << 40) - held
    assert memory.memory_cap_setting() == 1 << 40
    monkeypatch.delenv(memory.MEMORY_CAP_ENV)
    assert memory.memory_cap() == memory.memory_cap_setting() == memory.DEFAULT_CAP
