"""Worker-side analysis of a benchmark run (runs in the simulator worker, next to qiskit).

For a task that carries an ``analysis`` spec, :func:`prepare` (before the simulation) gets the
transpiled circuit the driver is about to execute, refuses one that transpiles to nothing or
measures the wrong number of bits, and computes the ideal distribution (statevector of the
suite's reference circuit, cached; or the known one of a mirror circuit). :func:`finish`
(after it) adds the bootstrap interval of the score, the transpiled circuit's hash, depth,
two-qubit gate count and SupermarQ features, and the emulated device's calibration snapshot.

The SupermarQ features (Tomesh et al., "SupermarQ: A Scalable Quantum Benchmark Suite",
HPCA 2022) follow the definitions of the ``supermarq`` package's ``features.py``
(Apache-2.0), computed on the DAG of the executed circuit without barriers and over its
active qubits (a 127-qubit device running 5 qubits is a 5-qubit program):

- program communication: Σ degree of the two-qubit interaction graph / (N·(N−1))
- critical depth: two-qubit gates on the longest path / all two-qubit gates
- entanglement ratio: two-qubit gates / all gates
- parallelism: max(0, (gates / depth − 1) / (N − 1))
- liveness: Σ (qubit, layer) activity / (N · depth)
- measurement: layers holding a mid-circuit measurement or reset / depth
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .artifacts import LRUCache, split_final_measurements
from .base import Artifact, BackendError

DIRECTIVES = {"barrier", "delay"}
_IDEALS = LRUCache(256)
_CALIBRATIONS: dict[str, tuple[str, dict[str, Any]]] = {}


def _gate_nodes(dag: Any) -> list[Any]:
    return [n for n in dag.op_nodes() if n.op.name not in DIRECTIVES and n.op.name != "measure"]


def _active(qc: Any) -> Any:
    """The circuit without barriers and without idle qubits."""
    from qiskit.converters import circuit_to_dag, dag_to_circuit

    dag = circuit_to_dag(qc)
    dag.remove_all_ops_named("barrier")
    idle = [w for w in dag.idle_wires() if w in dag.qubits]
    if idle:
        dag.remove_qubits(*idle)
    return dag_to_circuit(dag)


def features(qc: Any) -> dict[str, float]:
    """The six SupermarQ features of ``qc`` (see the module docstring)."""
    from qiskit.converters import circuit_to_dag

    active = _active(qc)
    dag = circuit_to_dag(active)
    n = active.num_qubits
    gates = _gate_nodes(dag)
    two = [g for g in gates if len(g.qargs) == 2]
    depth = dag.depth()
    out = dict.fromkeys(("program_communication", "critical_depth", "entanglement_ratio", "parallelism",
                         "liveness", "measurement"), 0.0)
    if n == 0 or depth == 0:
        return out
    if n > 1:
        edges = {tuple(sorted(active.find_bit(q).index for q in g.qargs)) for g in two}
        degree: dict[int, int] = {}
        for a, b in edges:
            degree[a] = degree.get(a, 0) + 1
            degree[b] = degree.get(b, 0) + 1
        out["program_communication"] = sum(degree.values()) / (n * (n - 1))
        out["parallelism"] = max(0.0, (len(gates) / depth - 1) / (n - 1))
    if two:
        longest = dag.count_ops_longest_path()
        names = {g.op.name for g in two}
        out["critical_depth"] = sum(longest.get(name, 0) for name in names) / len(two)
    if gates:
        out["entanglement_ratio"] = len(two) / len(gates)
    live = sum(len(op.qargs) for layer in dag.layers() for op in layer["graph"].op_nodes())
    out["liveness"] = min(1.0, live / (n * depth))
    # Mid-circuit measurement: what is left of measure/reset once the final measurements are gone.
    inner = circuit_to_dag(active.remove_final_measurements(inplace=False))
    inner_depth = inner.depth()
    if inner_depth:
        mid = sum(1 for layer in inner.layers() if any(op.op.name in ("measure", "reset") for op in layer["graph"].op_nodes()))
        out["measurement"] = mid / inner_depth
    return {k: round(float(v), 6) for k, v in out.items()}


def _two_qubit_gates(qc: Any) -> int:
    return sum(1 for inst in qc.data if inst.operation.num_qubits == 2 and inst.operation.name not in DIRECTIVES)


def _circuit_hash(qc: Any) -> str:
    from qiskit import qasm3

    try:
        text = qasm3.dumps(qc)
    except Exception:  # noqa: BLE001 - an instruction OpenQASM 3 cannot spell: hash its QPY instead
        import io

        from qiskit import qpy

        buf = io.BytesIO()
        qpy.dump(qc, buf)
        return "qpy:" + hashlib.sha256(buf.getvalue()).hexdigest()
    return hashlib.sha256(text.encode()).hexdigest()


def ideal_distribution(qc: Any) -> dict[str, float]:
    """Exact output distribution of the measured bits of ``qc`` (Qiskit order, bit 0 rightmost)."""
    from qiskit.quantum_info import Statevector

    try:
        bare, order = split_final_measurements(qc)
    except ValueError as exc:
        raise BackendError("parse_error", f"no ideal distribution: {exc}") from None
    probs = Statevector(bare).probabilities_dict(qargs=order, decimals=12)
    return {k: float(v) for k, v in probs.items() if v > 1e-12}


def _reference_ideal(spec: dict[str, Any]) -> dict[str, float]:
    known = spec.get("ideal")
    if isinstance(known, dict):
        return {str(k): float(v) for k, v in known.items()}
    qasm = spec["reference_qasm"]
    key = hashlib.sha256(qasm.encode()).hexdigest()

    def compute() -> dict[str, float]:
        from .artifacts import ensure_measured, load_qiskit

        return ideal_distribution(ensure_measured(load_qiskit(Artifact("qasm3", qasm.encode(), "openqasm3"))))

    return _IDEALS.get_or_create(key, compute)[0]


_TRANSPILED = LRUCache(256)


class Analysis:
    def __init__(self, spec: dict[str, Any], executed: Any, ideal: dict[str, float], num_bits: int, key: Any) -> None:
        self.spec, self.executed, self.ideal, self.num_bits, self.key = spec, executed, ideal, num_bits, key


def prepare(driver: Any, artifact: Artifact, parameters: dict[str, Any], options: dict[str, Any],
            spec: dict[str, Any]) -> Analysis:
    """Before the simulation: the executed circuit, checked, and the ideal distribution."""
    if not hasattr(driver, "executed_circuit"):
        raise BackendError("invalid_options", f"backend {driver.name} cannot run benchmarks")
    logical, executed = driver.executed_circuit(artifact, parameters, options)
    gates = [i for i in executed.data if i.operation.name not in DIRECTIVES and i.operation.name != "measure"]
    if not gates:
        raise BackendError("parse_error", "the circuit transpiles to nothing (no gates left to run); it cannot be scored")
    ideal = _reference_ideal(spec)
    num_bits = len(next(iter(ideal)))
    if logical.num_clbits != num_bits:
        raise BackendError("parse_error", f"the circuit measures {logical.num_clbits} bits; "
                                          f"this problem is scored on {num_bits}")
    key = (driver.name, artifact.key(), repr(sorted((parameters or {}).items())), repr(sorted((options or {}).items())))
    return Analysis(spec, executed, ideal, num_bits, key)


def _transpiled(executed: Any) -> dict[str, Any]:
    return {
        "hash": _circuit_hash(executed),
        "depth": int(executed.depth()),
        "two_qubit_gates": _two_qubit_gates(executed),
        "qubits": int(_active(executed).num_qubits),
        "features": features(executed),
    }


def finish(analysis: Analysis, driver: Any, counts: dict[str, int], seed: int) -> dict[str, Any]:
    """After the simulation: what the server stores next to the score it computes itself."""
    from ..services.benchmarks.scoring import bootstrap_interval

    executed = analysis.executed
    low, high = bootstrap_interval(counts, analysis.ideal, analysis.num_bits, seed)
    out: dict[str, Any] = {
        "ideal": analysis.ideal,
        "num_bits": analysis.num_bits,
        "score_ci": [round(low, 6), round(high, 6)],
        "ci_method": "percentile bootstrap over the shots, 200 resamples, 95 %, seeded with the run's seed",
        # the same artifact, inputs and backend always execute the same transpiled circuit
        "transpiled": dict(_TRANSPILED.get_or_create(analysis.key, lambda: _transpiled(executed))[0]),
    }
    calibration = getattr(driver, "calibration", None)
    if driver.type == "emulation" and calibration is not None:
        if driver.name not in _CALIBRATIONS:
            data = calibration()
            text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
            _CALIBRATIONS[driver.name] = (hashlib.sha256(text.encode()).hexdigest(), json.loads(text))
        digest, data = _CALIBRATIONS[driver.name]
        out["calibration"] = {"hash": digest, "snapshot": data}
    # Plain data only: the server unpickles worker replies without any class (numpy scalars included).
    return json.loads(json.dumps(out, default=lambda o: o.item() if hasattr(o, "item") else str(o)))
