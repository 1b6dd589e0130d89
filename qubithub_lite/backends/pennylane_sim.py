"""PennyLane drivers: ``pennylane_default`` (default.qubit) and ``pennylane_lightning``
(lightning.qubit).

Every artifact is first loaded as a bound Qiskit circuit (PennyLane exports are OpenQASM 2,
Cirq goes through ``cirq.qasm``), its final measurements are split off, and its gates are mapped
one to one onto PennyLane operations (unknown gates are first transpiled to the mapped basis).
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

from .base import Artifact, BackendDriver, BackendError, OptionSpec, RunResult
from .memory import check_memory
from .results import new_seed, statevector_to_json

STATEVECTOR_MAX_QUBITS = 20

# qiskit gate name → (pennylane op name, adjoint?)
GATE_MAP: dict[str, tuple[str, bool]] = {
    "id": ("Identity", False), "x": ("PauliX", False), "y": ("PauliY", False),
    "z": ("PauliZ", False), "h": ("Hadamard", False), "s": ("S", False), "sdg": ("S", True),
    "t": ("T", False), "tdg": ("T", True), "sx": ("SX", False), "sxdg": ("SX", True),
    "rx": ("RX", False), "ry": ("RY", False), "rz": ("RZ", False), "p": ("PhaseShift", False),
    "u1": ("PhaseShift", False), "u": ("U3", False), "u3": ("U3", False), "cx": ("CNOT", False),
    "cy": ("CY", False), "cz": ("CZ", False), "ch": ("CH", False), "swap": ("SWAP", False),
    "iswap": ("ISWAP", False), "ccx": ("Toffoli", False), "cswap": ("CSWAP", False),
    "crx": ("CRX", False), "cry": ("CRY", False), "crz": ("CRZ", False),
    "cp": ("ControlledPhaseShift", False), "cu1": ("ControlledPhaseShift", False),
    "rxx": ("IsingXX", False), "ryy": ("IsingYY", False), "rzz": ("IsingZZ", False),
    "ecr": ("ECR", False),
}  # fmt: skip
_SKIP = {"barrier", "delay"}


def to_pennylane_ops(qc: Any) -> list[Any]:
    """PennyLane operations for a bound, measurement-free Qiskit circuit (qubit i → wire i)."""
    import pennylane as qml

    names = {inst.operation.name for inst in qc.data}
    if not names <= set(GATE_MAP) | _SKIP | {"global_phase"}:
        from qiskit import transpile

        try:
            qc = transpile(qc, basis_gates=sorted(GATE_MAP), optimization_level=0)
        except Exception as exc:  # noqa: BLE001
            raise BackendError("parse_error", f"cannot express the circuit with PennyLane gates: {exc}") from exc
    ops: list[Any] = []
    for inst in qc.data:
        name = inst.operation.name
        if name in _SKIP:
            continue
        if name == "global_phase":
            ops.append(qml.GlobalPhase(-float(inst.operation.params[0])))
            continue
        if name not in GATE_MAP:
            raise BackendError("parse_error", f"gate {name!r} has no PennyLane equivalent")
        op_name, adjoint = GATE_MAP[name]
        wires = [qc.find_bit(q).index for q in inst.qubits]
        params = [float(p) for p in inst.operation.params]
        op = getattr(qml, op_name)(*params, wires=wires)
        ops.append(qml.adjoint(op) if adjoint else op)
    if qc.global_phase:
        ops.append(qml.GlobalPhase(-float(qc.global_phase)))
    return ops


class PennyLaneBackend(BackendDriver):
    type = "simulation"
    frameworks = ("pennylane", "qiskit", "cirq", "openqasm3")
    max_qubits = 30
    device_name = "default.qubit"
    options: ClassVar[tuple[OptionSpec, ...]] = (
        OptionSpec("statevector", "bool", False, None, "also return the final statevector"),
        OptionSpec("memory", "bool", False, None, "return the per-shot bitstrings"),
    )

    def _prepared(self, artifact: Artifact, parameters: dict[str, Any] | None) -> tuple[Any, list[int], int, float]:
        from . import artifacts as A
        from .aer import qiskit_circuit_for

        if artifact.kind == "pennylane-in-sandbox":
            raise A.refuse(
                "PennyLane (sandbox-only)", self.name,
                "this QNode could not be exported; run it with export_circuit.py --mode run in the sandbox",
            )  # fmt: skip
        t0 = time.perf_counter()
        qc = qiskit_circuit_for(artifact, parameters)
        try:
            bare, clbit_qubits = A.split_final_measurements(qc)
        except ValueError as exc:
            raise A.refuse(artifact.framework or artifact.kind, self.name, str(exc)) from exc
        ops = to_pennylane_ops(bare)
        return ops, clbit_qubits, qc.num_qubits, (time.perf_counter() - t0) * 1000

    def run(self, artifact: Artifact, shots: int, seed: int | None,
            parameters: dict[str, Any] | None, options: dict[str, Any] | None) -> RunResult:
        import numpy as np
        import pennylane as qml

        opts = self.validate_options(options)
        seed = new_seed() if seed is None else int(seed)
        ops, clbit_qubits, n, convert_ms = self._prepared(artifact, parameters)
        if n > self.max_qubits:
            raise BackendError("quota_exceeded", f"{n} qubits exceeds {self.name}'s limit of {self.max_qubits}")
        check_memory(n)
        wires = list(range(max(n, 1)))
        dev = qml.device(self.device_name, wires=wires, seed=seed)
        tape = qml.tape.QuantumScript(ops, [qml.sample(wires=clbit_qubits)], shots=shots)
        t0 = time.perf_counter()
        (samples,) = qml.execute([tape], dev)
        t1 = time.perf_counter()
        rows = np.asarray(samples, dtype=int).reshape(shots, len(clbit_qubits))
        statevector = None
        if opts.get("statevector"):
            if n > STATEVECTOR_MAX_QUBITS:
                raise BackendError("quota_exceeded", f"statevector output is limited to {STATEVECTOR_MAX_QUBITS} qubits")
            sv_dev = qml.device(self.device_name, wires=wires)
            (state,) = qml.execute([qml.tape.QuantumScript(ops, [qml.state()])], sv_dev)
            # PennyLane puts wire 0 most significant; Qiskit order puts qubit 0 least significant.
            state = np.asarray(state).reshape([2] * len(wires)).transpose(list(reversed(range(len(wires))))).reshape(-1)
            statevector = statevector_to_json(state)
        return RunResult.sampled(rows, shots, seed, opts, statevector, seconds=t1 - t0, convert_ms=convert_ms,
                                 method=f"{self.device_name} statevector", simulator=self.name, num_qubits=n)


class PennyLaneDefaultBackend(PennyLaneBackend):
    name = "pennylane_default"
    device_name = "default.qubit"
    description = "PennyLane default.qubit"
    requires = ("pennylane", "qiskit")


class PennyLaneLightningBackend(PennyLaneBackend):
    name = "pennylane_lightning"
    device_name = "lightning.qubit"
    description = "PennyLane lightning.qubit (C++ statevector)"
    requires = ("pennylane", "pennylane_lightning", "qiskit")
