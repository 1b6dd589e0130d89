"""qiskit-ibm-runtime ``SamplerV2`` drivers.

* ``ibm_local_<device>`` (type emulation): SamplerV2 in its local testing mode — passing a fake
  backend as ``mode`` runs on Aer with that device's noise model.  Offline, no credentials.
* ``ibm_<device>`` (type hardware): real IBM Quantum devices, listed from
  ``QUBITHUB_IBM_BACKENDS`` (comma-separated, e.g. ``ibm_brisbane,ibm_torino``) and available
  only when a token is configured in ``QISKIT_IBM_TOKEN`` (optional ``QISKIT_IBM_INSTANCE``,
  ``QISKIT_IBM_CHANNEL``, default ``ibm_quantum_platform``).

Credentials are read from the environment of the trusted worker process only; they are never
passed to the sandbox (the sandbox only exports circuits).  Import-light at module level.
"""

from __future__ import annotations

import os
import time
from typing import Any, ClassVar

from qubithub_lite.backends import (
    Artifact, Availability, BackendDriver, BackendError, OptionSpec, RunResult, device_calibration, modules_present,
    new_seed, normalize_counts, qiskit_circuit_for,
)

TOKEN_ENV = "QISKIT_IBM_TOKEN"
BACKENDS_ENV = "QUBITHUB_IBM_BACKENDS"
LOCAL_DEVICES = {"ibm_local_manila": ("FakeManilaV2", 5), "ibm_local_brisbane": ("FakeBrisbane", 127)}


class IBMRuntimeBackend(BackendDriver):
    frameworks = ("qiskit", "openqasm3", "cirq", "pennylane")
    requires = ("qiskit", "qiskit_ibm_runtime", "qiskit_aer")
    dense_state = False
    options: ClassVar[tuple[OptionSpec, ...]] = (
        OptionSpec("optimization_level", "int", 1, (0, 1, 2, 3), "transpiler optimization level"),
    )

    def __init__(self, name: str, device: str, num_qubits: int, local: bool) -> None:
        self.name = name
        self.device = device
        self.max_qubits = num_qubits
        self.local = local
        self.type = "emulation" if local else "hardware"
        self.description = (
            f"IBM Runtime SamplerV2, local testing mode on {device}" if local else f"IBM Quantum {device} (SamplerV2)"
        )
        self._jobs: dict[str, Any] = {}

    def availability(self) -> Availability:
        base = modules_present(*self.requires)
        if not base.ok or self.local:
            return base
        if not os.environ.get(TOKEN_ENV):
            return Availability(False, f"no IBM Quantum token configured (set {TOKEN_ENV})")
        return Availability(True, "")

    def backend(self) -> Any:
        if self.local:
            from qiskit_ibm_runtime import fake_provider

            return getattr(fake_provider, self.device)()
        from qiskit_ibm_runtime import QiskitRuntimeService

        token = os.environ.get(TOKEN_ENV)
        if not token:
            raise BackendError("backend_unavailable", f"no IBM Quantum token configured (set {TOKEN_ENV})")
        service = QiskitRuntimeService(
            channel=os.environ.get("QISKIT_IBM_CHANNEL", "ibm_quantum_platform"),
            token=token,
            instance=os.environ.get("QISKIT_IBM_INSTANCE") or None,
        )
        return service.backend(self.device)

    def run(self, artifact: Artifact, shots: int, seed: int | None, parameters: dict[str, Any] | None, options: dict[str, Any] | None) -> RunResult:
        from qiskit.transpiler import generate_preset_pass_manager
        from qiskit_ibm_runtime import SamplerV2

        opts = self.validate_options(options)
        seed = new_seed() if seed is None else int(seed)
        qc = qiskit_circuit_for(artifact, parameters)
        if qc.num_qubits > self.max_qubits:
            raise BackendError("quota_exceeded", f"{qc.num_qubits} qubits exceeds {self.name}'s limit of {self.max_qubits}")
        backend = self.backend()
        t0 = time.perf_counter()
        isa = generate_preset_pass_manager(backend=backend, optimization_level=opts["optimization_level"], seed_transpiler=0).run(qc)
        t1 = time.perf_counter()
        sampler_opts: dict[str, Any] = {"simulator": {"seed_simulator": seed}} if self.local else {}
        sampler = SamplerV2(mode=backend, options=sampler_opts)
        job = sampler.run([isa], shots=shots)
        self._jobs[str(job.job_id())] = job
        try:
            pub = job.result()[0]
        except Exception as exc:  # noqa: BLE001
            raise BackendError("backend_unavailable", f"IBM Runtime job failed: {exc}") from exc
        t2 = time.perf_counter()
        return RunResult(
            counts=normalize_counts(pub.join_data().get_counts()),
            shots=shots,
            seed=seed if self.local else None,
            metrics={
                "execution_time_ms": round((t2 - t1) * 1000, 3),
                "transpilation_time_ms": round((t1 - t0) * 1000, 3),
                "method": "SamplerV2 local testing mode" if self.local else "SamplerV2",
                "simulator": self.name,
                "job_id": str(job.job_id()),
                "num_qubits": qc.num_qubits,
            },
        )

    def cancel(self, task_id: str) -> bool:
        job = self._jobs.get(task_id)
        if job is None:
            return False
        try:
            job.cancel()
            return True
        except Exception:  # noqa: BLE001
            return False

    def calibration(self) -> dict[str, Any] | None:
        return device_calibration(self.backend(), self.name)


def ibm_backends() -> list[BackendDriver]:
    drivers: list[BackendDriver] = [IBMRuntimeBackend(n, cls, q, True) for n, (cls, q) in LOCAL_DEVICES.items()]
    for device in filter(None, (s.strip() for s in os.environ.get(BACKENDS_ENV, "").split(","))):
        drivers.append(IBMRuntimeBackend(device if device.startswith("ibm_") else f"ibm_{device}", device, 156, False))
    return drivers
