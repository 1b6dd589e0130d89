"""``cirq_simulator``: cirq.Simulator (dense statevector)."""

from __future__ import annotations

import time
from typing import Any, ClassVar

from .base import Artifact, BackendDriver, BackendError, OptionSpec, RunResult
from .memory import check_memory
from .results import new_seed, statevector_to_json

STATEVECTOR_MAX_QUBITS = 20


class CirqSimulatorBackend(BackendDriver):
    name = "cirq_simulator"
    type = "simulation"
    frameworks = ("cirq", "qiskit", "openqasm3", "pennylane")
    max_qubits = 32
    description = "Cirq's statevector simulator (qiskit/openqasm3 circuits via OpenQASM 2)"
    requires = ("cirq",)
    options: ClassVar[tuple[OptionSpec, ...]] = (
        OptionSpec("statevector", "bool", False, None, "also return the final statevector"),
        OptionSpec("memory", "bool", False, None, "return the per-shot bitstrings"),
    )

    def _circuit(self, artifact: Artifact, parameters: dict[str, Any] | None) -> tuple[Any, list[str] | None, float]:
        """(resolved cirq circuit, clbit keys for Qiskit-sourced circuits or None, convert ms)."""
        from . import artifacts as A

        t0 = time.perf_counter()
        if artifact.kind == "cirq_json":
            circuit, _ = A.CACHE.get_or_create(("cirq", artifact.key()), lambda: A.load_cirq(artifact))
            return A.bind_cirq(circuit, parameters), None, 0.0
        if artifact.kind == "pennylane-in-sandbox":
            raise A.refuse("PennyLane (sandbox-only)", self.name, "the QNode could not be exported")
        qc, _ = A.CACHE.get_or_create(("qiskit", artifact.key()), lambda: A.load_qiskit(artifact))
        qc = A.ensure_measured(A.bind_qiskit(qc, parameters))
        circuit, keys = A.qiskit_to_cirq(qc)
        return circuit, keys, (time.perf_counter() - t0) * 1000

    def run(self, artifact: Artifact, shots: int, seed: int | None,
            parameters: dict[str, Any] | None, options: dict[str, Any] | None) -> RunResult:
        import cirq
        import numpy as np

        opts = self.validate_options(options)
        seed = new_seed() if seed is None else int(seed)
        circuit, keys, convert_ms = self._circuit(artifact, parameters)
        qubits = sorted(circuit.all_qubits())
        n = len(qubits)
        if n > self.max_qubits:
            raise BackendError("quota_exceeded", f"{n} qubits exceeds {self.name}'s limit of {self.max_qubits}")
        check_memory(n)
        if keys is None and not circuit.has_measurements():
            circuit = circuit + cirq.measure(*qubits, key="__qh_all")
        sim = cirq.Simulator(seed=seed)
        t0 = time.perf_counter()
        result = sim.run(circuit, repetitions=shots)
        t1 = time.perf_counter()
        rows = self._rows(result, circuit, qubits, keys, shots, np)
        statevector = None
        if opts.get("statevector"):
            if n > STATEVECTOR_MAX_QUBITS:
                raise BackendError("quota_exceeded", f"statevector output is limited to {STATEVECTOR_MAX_QUBITS} qubits")
            bare = cirq.drop_terminal_measurements(circuit) if circuit.are_all_measurements_terminal() else None
            if bare is None:
                raise BackendError("parse_error", "no statevector: the circuit has mid-circuit measurements")
            # Reversed qubit order puts qubit 0 in the least significant position (Qiskit order).
            state = cirq.Simulator(seed=seed).simulate(bare, qubit_order=list(reversed(qubits)))
            statevector = statevector_to_json(state.final_state_vector)
        return RunResult.sampled(rows, shots, seed, opts, statevector, seconds=t1 - t0, convert_ms=convert_ms,
                                 method="statevector", simulator=self.name, num_qubits=n)

    @staticmethod
    def _rows(result: Any, circuit: Any, qubits: list[Any], keys: list[str] | None, shots: int, np: Any) -> Any:
        """Per-shot rows of classical bits, bit i = Qiskit clbit i (or qubit i for native Cirq)."""
        import cirq

        meas = result.records if hasattr(result, "records") else None
        data = {k: v for k, v in result.measurements.items()}
        if keys is not None:  # Qiskit-sourced: keys name each clbit ("<creg>_<i>")
            cols = []
            for key in keys:
                arr = data.get(key)
                if arr is None:
                    arr = data.get(key.rsplit("_", 1)[0])
                cols.append(np.zeros(shots, dtype=int) if arr is None else arr[:, -1])
            return np.stack(cols, axis=1) if cols else np.zeros((shots, 0), dtype=int)
        # Native Cirq: one bit per measured qubit, ordered by qubit (qubit 0 → bit 0);
        # a qubit measured several times reports its last measurement.
        index = {q: i for i, q in enumerate(qubits)}
        bit_of: dict[Any, tuple[str, int]] = {}
        for op in circuit.all_operations():
            if cirq.is_measurement(op):
                key = cirq.measurement_key_name(op)
                for j, q in enumerate(op.qubits):
                    bit_of[q] = (key, j)
        measured = sorted(bit_of, key=lambda q: index[q])
        del meas
        cols = [data[bit_of[q][0]][:, bit_of[q][1]] for q in measured]
        return np.stack(cols, axis=1) if cols else np.zeros((shots, 0), dtype=int)
