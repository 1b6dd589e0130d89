"""Qiskit Aer drivers: ``qiskit_aer`` (ideal) and the fake-device emulators (``fake_*``)."""

from __future__ import annotations

import time
from typing import Any, ClassVar

from .base import Artifact, BackendDriver, BackendError, OptionSpec, RunResult
from .memory import check_memory
from .results import new_seed, normalize_counts, statevector_to_json

STATEVECTOR_MAX_QUBITS = 20
#: Below Aer's ``statevector_parallel_threshold`` (14 qubits) an ideal simulation gains nothing
#: from OpenMP, and waking Aer's idle thread team costs more than the simulation itself
#: (a 2-qubit Bell run: ~1.3 ms hot, 4-6 ms after the worker sat idle). Such runs use one
#: thread; the worker pool runs simulations side by side instead.
SINGLE_THREAD_BELOW_QUBITS = 14
AER_METHODS = (
    "automatic",
    "statevector",
    "density_matrix",
    "stabilizer",
    "extended_stabilizer",
    "matrix_product_state",
)
_SIMULATORS: dict[Any, Any] = {}


def qiskit_circuit_for(artifact: Artifact, parameters: dict[str, Any] | None) -> Any:
    """Bound, measured QuantumCircuit for any convertible artifact (no transpilation)."""
    from . import artifacts as A

    return A.bind_qiskit(unbound_qiskit_circuit(artifact, parameters)[0], parameters)


def unbound_qiskit_circuit(artifact: Artifact, parameters: dict[str, Any] | None) -> tuple[Any, bool]:
    """(measured QuantumCircuit with symbolic parameters left free, cacheable).

    Cached per artifact hash.  Cirq circuits with sympy symbols are resolved first (OpenQASM 2
    has no free parameters), so their result depends on ``parameters`` and is not cacheable."""
    from . import artifacts as A

    if artifact.kind == "cirq_json":
        cc, _ = A.CACHE.get_or_create(("cirq", artifact.key()), lambda: A.load_cirq(artifact))
        import cirq

        if cirq.parameter_names(cc):
            return A.ensure_measured(A.cirq_to_qiskit(A.bind_cirq(cc, parameters))), False
        qc, _ = A.CACHE.get_or_create(("cirq->qiskit", artifact.key()), lambda: A.ensure_measured(A.cirq_to_qiskit(cc)))
        return qc, True
    qc, _ = A.CACHE.get_or_create(("qiskit", artifact.key()), lambda: A.ensure_measured(A.load_qiskit(artifact)))
    return qc, True


def _aer(key: Any, factory: Any) -> Any:
    if key not in _SIMULATORS:
        _SIMULATORS[key] = factory()
    return _SIMULATORS[key]


class QiskitAerBackend(BackendDriver):
    name = "qiskit_aer"
    type = "simulation"
    frameworks = ("qiskit", "openqasm3", "cirq", "pennylane")
    max_qubits = 64
    description = "Qiskit Aer simulator (automatic method; statevector on request)"
    requires = ("qiskit", "qiskit_aer")
    options: ClassVar[tuple[OptionSpec, ...]] = (
        OptionSpec("method", "str", "automatic", AER_METHODS, "Aer simulation method"),
        OptionSpec("statevector", "bool", False, None, "also return the final statevector"),
        OptionSpec("memory", "bool", False, None, "return the per-shot bitstrings"),
    )

    # -- hooks overridden by the emulators
    def simulator(self, opts: dict[str, Any]) -> Any:
        from qiskit_aer import AerSimulator

        return _aer("ideal", AerSimulator)

    def prepare(self, qc: Any, opts: dict[str, Any]) -> Any:
        """Transpile only when the circuit uses instructions Aer does not know (cached per
        artifact, parameters unbound; fixed transpiler seed so results are reproducible)."""
        sim = self.simulator(opts)
        supported = set(sim.target.operation_names) | {"barrier", "measure"}
        if all(inst.operation.name in supported for inst in qc.data):
            return qc
        from qiskit import transpile

        return transpile(qc, sim, optimization_level=0, seed_transpiler=0)

    def threading(self, qc: Any) -> dict[str, Any]:
        """Aer parallelism options for this circuit (see SINGLE_THREAD_BELOW_QUBITS)."""
        return {"max_parallel_threads": 1} if qc.num_qubits < SINGLE_THREAD_BELOW_QUBITS else {}

    def memory_check(self, qc: Any, method: str) -> None:
        n = qc.num_qubits
        if method in ("stabilizer", "extended_stabilizer", "matrix_product_state"):
            return
        if method == "density_matrix":
            check_memory(n, density_matrix=True)
            return
        from . import artifacts as A

        if method == "automatic" and A.is_clifford(qc):
            return
        check_memory(n)

    def run(self, artifact: Artifact, shots: int, seed: int | None,
            parameters: dict[str, Any] | None, options: dict[str, Any] | None) -> RunResult:
        opts = self.validate_options(options)
        seed = new_seed() if seed is None else int(seed)
        method = opts.get("method") or "automatic"
        if opts.get("statevector") and method == "automatic":
            method = "statevector"
        from . import artifacts as A

        qc, cacheable = unbound_qiskit_circuit(artifact, parameters)
        if qc.num_qubits > self.max_qubits:
            raise BackendError(
                "quota_exceeded",
                f"{qc.num_qubits} qubits exceeds {self.name}'s limit of {self.max_qubits}",
            )
        self.memory_check(qc, method)
        t0 = time.perf_counter()
        prepared, cache_hit = self._prepared(artifact, qc, cacheable, parameters, opts)
        t1 = time.perf_counter()
        sim = self.simulator(opts)
        run_opts: dict[str, Any] = {"shots": shots, "seed_simulator": seed, **self.threading(qc)}
        if method != "automatic":
            run_opts["method"] = method
        if opts.get("memory"):
            run_opts["memory"] = True
        try:
            result = sim.run(prepared, **run_opts).result()
        except Exception as exc:  # noqa: BLE001
            raise BackendError("internal_error", f"Aer failed: {exc}") from exc
        t2 = time.perf_counter()
        if not result.success:
            raise BackendError("internal_error", f"Aer failed: {result.status}")
        exp = result.results[0]
        counts = normalize_counts(result.get_counts(0))
        memory = None
        if opts.get("memory"):
            memory = [m.replace(" ", "") for m in result.get_memory(0)]
        statevector = None
        if opts.get("statevector"):
            statevector = self._statevector(A.bind_qiskit(qc, parameters), seed)
        md = getattr(exp, "metadata", {}) or {}
        return RunResult(
            counts=counts,
            shots=shots,
            seed=seed,
            memory=memory,
            statevector=statevector,
            metrics={
                "execution_time_ms": round((t2 - t1) * 1000, 3),
                "transpilation_time_ms": round((t1 - t0) * 1000, 3),
                "method": md.get("method", method),
                "simulator": self.name,
                "num_qubits": qc.num_qubits,
                "noise": md.get("noise", "ideal"),
                "compile_cache_hit": cache_hit,
            },
        )

    def _prepared(self, artifact: Artifact, qc: Any, cacheable: bool, parameters: dict[str, Any] | None,
                  opts: dict[str, Any]) -> tuple[Any, bool]:
        """(the bound circuit the simulator executes, cache hit): transpiled once per artifact."""
        from . import artifacts as A

        if cacheable:
            key = (self.name, "prepared", artifact.key(), opts.get("optimization_level"), opts.get("noise"))
            prepared, cache_hit = A.CACHE.get_or_create(key, lambda: self.prepare(qc, opts))
        else:
            prepared, cache_hit = self.prepare(qc, opts), False
        return A.bind_qiskit(prepared, parameters), cache_hit

    def executed_circuit(self, artifact: Artifact, parameters: dict[str, Any] | None,
                         options: dict[str, Any] | None) -> tuple[Any, Any]:
        """(logical measured circuit, the transpiled circuit :meth:`run` executes for these inputs)."""
        from . import artifacts as A

        opts = self.validate_options(options)
        qc, cacheable = unbound_qiskit_circuit(artifact, parameters)
        return A.bind_qiskit(qc, parameters), self._prepared(artifact, qc, cacheable, parameters, opts)[0]

    def _statevector(self, qc: Any, seed: int) -> list[list[float]]:
        from . import artifacts as A

        if qc.num_qubits > STATEVECTOR_MAX_QUBITS:
            raise BackendError(
                "quota_exceeded",
                f"statevector output is limited to {STATEVECTOR_MAX_QUBITS} qubits",
            )
        try:
            bare, _ = A.split_final_measurements(qc)
        except ValueError as exc:
            raise BackendError("parse_error", f"no statevector: {exc}") from exc
        bare.save_statevector()
        from qiskit_aer import AerSimulator

        sim = _aer("statevector", lambda: AerSimulator(method="statevector"))
        res = sim.run(self.prepare(bare, {}), shots=1, seed_simulator=seed).result()
        return statevector_to_json(res.get_statevector(0).data)


# ----------------------------------------------------------------------------- emulators
#: backend name → (fake_provider class, qubits).  Qubit counts are asserted by the tests.
FAKE_DEVICES: dict[str, tuple[str, int]] = {
    "fake_manila": ("FakeManilaV2", 5),
    "fake_lima": ("FakeLimaV2", 5),
    "fake_quito": ("FakeQuitoV2", 5),
    "fake_belem": ("FakeBelemV2", 5),
    "fake_nairobi": ("FakeNairobiV2", 7),
    "fake_perth": ("FakePerth", 7),
    "fake_guadalupe": ("FakeGuadalupeV2", 16),
    "fake_brisbane": ("FakeBrisbane", 127),
    "fake_sherbrooke": ("FakeSherbrooke", 127),
    "fake_torino": ("FakeTorino", 133),
}
_DEVICES: dict[str, Any] = {}


def fake_device(class_name: str) -> Any:
    if class_name not in _DEVICES:
        from qiskit_ibm_runtime import fake_provider

        _DEVICES[class_name] = getattr(fake_provider, class_name)()
    return _DEVICES[class_name]


class FakeDeviceBackend(QiskitAerBackend):
    """Aer with the noise model, coupling map and basis gates of a qiskit-ibm-runtime fake device."""

    type = "emulation"
    requires = ("qiskit", "qiskit_aer", "qiskit_ibm_runtime")
    options: ClassVar[tuple[OptionSpec, ...]] = (
        OptionSpec("method", "str", "automatic", AER_METHODS, "Aer simulation method"),
        OptionSpec("memory", "bool", False, None, "return the per-shot bitstrings"),
        OptionSpec("optimization_level", "int", 1, (0, 1, 2, 3), "transpiler optimization level"),
        OptionSpec("noise", "bool", True, None, "apply the device noise model"),
    )

    def __init__(self, name: str, class_name: str, num_qubits: int) -> None:
        self.name = name
        self.class_name = class_name
        self.max_qubits = num_qubits
        self.description = f"Aer with the noise model and coupling map of IBM {name[5:]} ({num_qubits} qubits)"

    def device(self) -> Any:
        return fake_device(self.class_name)

    def simulator(self, opts: dict[str, Any]) -> Any:
        from qiskit_aer import AerSimulator

        if opts.get("noise") is False:  # same transpilation, ideal simulation
            return _aer("ideal", AerSimulator)
        return _aer(("device", self.name), lambda: AerSimulator.from_backend(self.device()))

    def prepare(self, qc: Any, opts: dict[str, Any]) -> Any:
        from qiskit import transpile

        level = opts.get("optimization_level")
        return transpile(
            qc, self.device(), optimization_level=1 if level is None else level, seed_transpiler=0
        )

    def threading(self, qc: Any) -> dict[str, Any]:
        """Noisy simulation runs shot by shot, which Aer parallelises well: keep its default."""
        return {}

    def memory_check(self, qc: Any, method: str) -> None:
        # Noise makes even Clifford circuits dense; density matrices are explicit.
        check_memory(qc.num_qubits, density_matrix=method == "density_matrix")

    def calibration(self) -> dict[str, Any] | None:
        return device_calibration(self.device(), self.name)


def device_calibration(backend: Any, name: str) -> dict[str, Any]:
    """T1/T2/readout error per qubit and error/duration per gate from a BackendV2 target."""
    target = backend.target
    qubits: list[dict[str, Any]] = []
    for q in range(backend.num_qubits):
        props = backend.qubit_properties(q) if hasattr(backend, "qubit_properties") else None
        readout = None
        meas = target["measure"].get((q,)) if "measure" in target.operation_names else None
        if meas is not None:
            readout = meas.error
        qubits.append(
            {
                "qubit": q,
                "t1_us": _us(getattr(props, "t1", None)),
                "t2_us": _us(getattr(props, "t2", None)),
                "frequency_ghz": (props.frequency / 1e9) if getattr(props, "frequency", None) else None,
                "readout_error": readout,
                "readout_length_ns": _ns(getattr(meas, "duration", None)),
            }
        )
    gates: list[dict[str, Any]] = []
    for op_name in sorted(target.operation_names):
        if op_name in {"measure", "delay", "for_loop", "if_else", "switch_case", "while_loop", "reset"}:
            continue
        for qargs, props in (target[op_name] or {}).items():
            if qargs is None or props is None:
                continue
            gates.append(
                {
                    "gate": op_name,
                    "qubits": list(qargs),
                    "error": props.error,
                    "duration_ns": _ns(props.duration),
                }
            )
    cmap = backend.coupling_map
    return {
        "backend": name,
        "device": getattr(backend, "name", name),
        "num_qubits": backend.num_qubits,
        "basis_gates": sorted(
            n for n in target.operation_names if n not in {"delay", "for_loop", "if_else", "switch_case", "while_loop"}
        ),
        "coupling_map": [list(e) for e in cmap.get_edges()] if cmap is not None else [],
        "source": "qiskit_ibm_runtime.fake_provider snapshot",
        "calibrated_at": _calibration_date(backend),
        "qubits": qubits,
        "gates": gates,
    }


def _calibration_date(backend: Any) -> str | None:
    try:
        props = backend.properties()
        date = getattr(props, "last_update_date", None)
        return date.isoformat() if date is not None else None
    except Exception:  # noqa: BLE001
        return None


def _us(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1e6


def _ns(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1e9


def fake_device_backends() -> list[BackendDriver]:
    """Entry-point factory: one emulation backend per fake device."""
    return [FakeDeviceBackend(name, cls, n) for name, (cls, n) in FAKE_DEVICES.items()]
