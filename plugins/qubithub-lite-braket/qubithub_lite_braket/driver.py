"""Amazon Braket drivers.

* ``braket_local`` (simulation): the SDK's ``LocalSimulator("braket_sv")``, offline.
* ``braket_<name>`` (hardware/managed simulators): device ARNs from ``QUBITHUB_BRAKET_DEVICES``
  (comma-separated ``name=arn`` pairs), available only when AWS credentials are configured
  (``AWS_ACCESS_KEY_ID`` or ``AWS_PROFILE``) and ``QUBITHUB_BRAKET_S3`` names the
  ``bucket/prefix`` for results.  Credentials stay in the trusted worker's environment.

Circuits are converted through OpenQASM 3: bound Qiskit circuit → transpiled to Braket's
built-in gate names → ``qiskit.qasm3.dumps`` without ``stdgates.inc`` (Braket has no include
files) → ``braket.ir.openqasm.Program``.
"""

from __future__ import annotations

import os
import time
from typing import Any, ClassVar

from qubithub_lite.backends import (
    Artifact, Availability, BackendDriver, BackendError, OptionSpec, RunResult, check_memory, counts_from_rows,
    modules_present, qiskit_circuit_for, split_final_measurements,
)

DEVICES_ENV = "QUBITHUB_BRAKET_DEVICES"
S3_ENV = "QUBITHUB_BRAKET_S3"
# qiskit gate name → Braket OpenQASM built-in
BRAKET_GATES = {
    "h": "h", "x": "x", "y": "y", "z": "z", "s": "s", "sdg": "si", "t": "t", "tdg": "ti",
    "sx": "v", "sxdg": "vi", "rx": "rx", "ry": "ry", "rz": "rz", "p": "phaseshift",
    "cx": "cnot", "cy": "cy", "cz": "cz", "swap": "swap", "ccx": "ccnot", "cswap": "cswap",
    "cp": "cphaseshift", "rxx": "xx", "ryy": "yy", "rzz": "zz", "iswap": "iswap", "ecr": "ecr",
}  # fmt: skip


def to_braket_qasm3(qc: Any) -> tuple[str, list[int]]:
    """(Braket-dialect OpenQASM 3 program without measurements, measured qubit per clbit)."""
    import re

    from qiskit import qasm3, transpile

    try:
        bare, clbit_qubits = split_final_measurements(qc)
    except ValueError as exc:
        raise BackendError("parse_error", f"cannot run this circuit on Braket: {exc}") from exc
    basis = sorted(BRAKET_GATES)
    bare = transpile(bare, basis_gates=basis, optimization_level=0)
    src = qasm3.dumps(bare, includes=(), basis_gates=basis)
    for qiskit_name, braket_name in BRAKET_GATES.items():
        if qiskit_name != braket_name:
            src = re.sub(rf"(?m)^(\s*){qiskit_name}([ (])", rf"\g<1>{braket_name}\g<2>", src)
    src = "\n".join(line for line in src.splitlines() if not line.strip().startswith("barrier"))
    lines = [src, f"bit[{len(clbit_qubits)}] __qh_c;"]
    lines += [f"__qh_c[{i}] = measure q[{q}];" for i, q in enumerate(clbit_qubits)]
    return "\n".join(lines) + "\n", clbit_qubits


class BraketBackend(BackendDriver):
    frameworks = ("qiskit", "openqasm3", "cirq", "pennylane")
    requires = ("braket", "qiskit")
    options: ClassVar[tuple[OptionSpec, ...]] = ()

    def __init__(self, name: str, arn: str | None = None) -> None:
        self.name = name
        self.arn = arn
        self.type = "simulation" if arn is None else "hardware"
        self.max_qubits = 26 if arn is None else 100
        self.description = "Amazon Braket LocalSimulator (braket_sv)" if arn is None else f"Amazon Braket device {arn}"
        self._tasks: dict[str, Any] = {}

    def availability(self) -> Availability:
        base = modules_present(*self.requires)
        if not base.ok or self.arn is None:
            return base
        if not (os.environ.get("AWS_ACCESS_KEY_ID") or os.environ.get("AWS_PROFILE")):
            return Availability(False, "no AWS credentials configured (AWS_ACCESS_KEY_ID or AWS_PROFILE)")
        if not os.environ.get(S3_ENV):
            return Availability(False, f"no result bucket configured (set {S3_ENV}=bucket/prefix)")
        return Availability(True, "")

    def run(self, artifact: Artifact, shots: int, seed: int | None, parameters: dict[str, Any] | None, options: dict[str, Any] | None) -> RunResult:
        import numpy as np
        from braket.ir.openqasm import Program

        self.validate_options(options)
        avail = self.availability()
        if not avail.ok:
            raise BackendError("backend_unavailable", f"{self.name}: {avail.reason}")
        qc = qiskit_circuit_for(artifact, parameters)
        if qc.num_qubits > self.max_qubits:
            raise BackendError("quota_exceeded", f"{qc.num_qubits} qubits exceeds {self.name}'s limit of {self.max_qubits}")
        if self.arn is None:
            check_memory(qc.num_qubits)
        t0 = time.perf_counter()
        src, clbit_qubits = to_braket_qasm3(qc)
        t1 = time.perf_counter()
        if self.arn is None:
            from braket.devices import LocalSimulator

            task = LocalSimulator("braket_sv").run(Program(source=src), shots=shots)
            seed_used = None  # the local simulator exposes no seed
        else:
            from braket.aws import AwsDevice

            bucket, _, prefix = os.environ[S3_ENV].partition("/")
            task = AwsDevice(self.arn).run(Program(source=src), s3_destination_folder=(bucket, prefix or "qubithub"), shots=shots)
            seed_used = None
        self._tasks[str(task.id)] = task
        try:
            result = task.result()
        except Exception as exc:  # noqa: BLE001
            raise BackendError("backend_unavailable", f"Braket task failed: {exc}") from exc
        t2 = time.perf_counter()
        measured = list(result.measured_qubits)
        bits = np.asarray(result.measurements, dtype=int)
        # Braket columns follow measured_qubits; reorder into Qiskit clbit order.
        cols = [measured.index(q) for q in clbit_qubits]
        rows = bits[:, cols] if len(cols) else np.zeros((shots, 0), dtype=int)
        return RunResult(
            counts=counts_from_rows(rows),
            shots=shots,
            seed=seed_used,
            metrics={
                "execution_time_ms": round((t2 - t1) * 1000, 3),
                "transpilation_time_ms": round((t1 - t0) * 1000, 3),
                "method": "braket_sv" if self.arn is None else "aws",
                "simulator": self.name,
                "num_qubits": qc.num_qubits,
                "seed_note": "Braket does not expose a simulator seed; counts are not reproducible",
            },
        )

    def cancel(self, task_id: str) -> bool:
        task = self._tasks.get(task_id)
        if task is None or not hasattr(task, "cancel"):
            return False
        try:
            task.cancel()
            return True
        except Exception:  # noqa: BLE001
            return False


def braket_backends() -> list[BackendDriver]:
    drivers: list[BackendDriver] = [BraketBackend("braket_local")]
    for pair in filter(None, (s.strip() for s in os.environ.get(DEVICES_ENV, "").split(","))):
        name, _, arn = pair.partition("=")
        if arn:
            drivers.append(BraketBackend(name if name.startswith("braket_") else f"braket_{name}", arn))
    return drivers
