"""Loading, binding and converting exported circuits.  WORKER-SIDE ONLY: imports qiskit / cirq /
pennylane lazily; never import this module from the API process.

Canonical forms
---------------
* Qiskit-family backends work on a bound ``qiskit.QuantumCircuit``.  ``qpy`` and ``qasm3`` load
  directly; ``qasm2`` (PennyLane exports) loads with ``qiskit.qasm2``; ``cirq_json`` is
  resolved and converted through ``cirq.qasm`` (OpenQASM 2).
* Cirq works on ``cirq.Circuit``; Qiskit circuits are converted through OpenQASM 2
  (``qiskit.qasm2.dumps`` → ``cirq.contrib.qasm_import``).
* PennyLane works on a measurement-free OpenQASM 2 program plus the list of measured qubits.
"""

from __future__ import annotations

import io
import math
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from .base import Artifact, BackendError

_WORKS = (
    "qiskit circuits run on qiskit_aer and fake_* (and on cirq_simulator / pennylane_* when they "
    "convert to OpenQASM 2: no unsupported gates, no classical control flow, measurements only "
    "at the end for PennyLane); cirq circuits run on cirq_simulator, and on qiskit_aer / fake_* / "
    "pennylane_* through cirq.qasm; openqasm3 runs wherever qiskit circuits do; PennyLane QNodes "
    "that could not be exported run only on pennylane_default / pennylane_lightning (in the sandbox)"
)


def refuse(source: str, target: str, reason: str) -> BackendError:
    return BackendError(
        "parse_error",
        f"cannot run a {source} circuit on {target}: {reason}. What works: {_WORKS}.",
    )


class LRUCache:
    """A tiny thread-safe LRU for prepared (deserialized / transpiled) artifacts."""

    def __init__(self, maxsize: int = 64) -> None:
        self.maxsize = maxsize
        self._data: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get_or_create(self, key: Any, factory: Callable[[], Any]) -> tuple[Any, bool]:
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                self.hits += 1
                return self._data[key], True
        value = factory()
        with self._lock:
            self.misses += 1
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)
        return value, False

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)


CACHE = LRUCache(int(os.environ.get("QUBITHUB_ARTIFACT_CACHE_SIZE", "64")))


# ----------------------------------------------------------------------------- parameters
def _lookup(name: str, parameters: dict[str, Any]) -> Any:
    if name in parameters:
        return parameters[name]
    m = re.fullmatch(r"(.+)\[(\d+)\]", name)
    if m and isinstance(parameters.get(m.group(1)), (list, tuple)):
        seq = parameters[m.group(1)]
        idx = int(m.group(2))
        if idx < len(seq):
            return seq[idx]
    return None


def _as_float(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BackendError("parse_error", f"parameter {name!r} must be a number, got {value!r}")
    if not math.isfinite(float(value)):
        raise BackendError("parse_error", f"parameter {name!r} must be finite, got {value!r}")
    return float(value)


def resolve_values(names: list[str], parameters: dict[str, Any] | None) -> dict[str, float]:
    parameters = parameters or {}
    values: dict[str, float] = {}
    missing: list[str] = []
    for name in names:
        v = _lookup(name, parameters)
        if v is None:
            missing.append(name)
        else:
            values[name] = _as_float(name, v)
    if missing:
        raise BackendError(
            "parse_error",
            f"the circuit has unbound parameters {sorted(missing)}; pass values in `parameters`",
        )
    return values


# ----------------------------------------------------------------------------- qiskit side
def load_qiskit(artifact: Artifact) -> Any:
    """Unbound QuantumCircuit from a qpy / qasm2 / qasm3 / cirq_json artifact."""
    kind = artifact.kind
    try:
        if kind == "qpy":
            from qiskit import qpy

            circuits = qpy.load(io.BytesIO(artifact.data))
            if not circuits:
                raise BackendError("parse_error", "QPY artifact contains no circuit")
            return circuits[0]
        if kind == "qasm2":
            from qiskit import qasm2

            return qasm2.loads(
                artifact.data.decode(), custom_instructions=qasm2.LEGACY_CUSTOM_INSTRUCTIONS
            )
        if kind == "qasm3":
            from qiskit import qasm3

            return qasm3.loads(artifact.data.decode())
    except BackendError:
        raise
    except Exception as exc:  # noqa: BLE001 - any parser failure is the user's circuit
        raise BackendError("parse_error", f"could not load {kind} circuit: {_short(exc)}") from exc
    if kind == "cirq_json":
        raise BackendError("internal_error", "cirq_json must be converted with cirq_to_qiskit")
    if kind == "pennylane-in-sandbox":
        raise refuse("PennyLane (sandbox-only)", "a qiskit backend", "the QNode could not be exported")
    raise BackendError("parse_error", f"unknown artifact kind {kind!r}")


def bind_qiskit(qc: Any, parameters: dict[str, Any] | None) -> Any:
    if not qc.parameters:
        return qc
    values = resolve_values([p.name for p in qc.parameters], parameters)
    return qc.assign_parameters({p: values[p.name] for p in qc.parameters})


def ensure_measured(qc: Any) -> Any:
    """Add ``measure_all`` when the circuit has no classical bits."""
    if qc.num_clbits == 0:
        qc = qc.copy()
        qc.measure_all()
    return qc


def is_clifford(qc: Any) -> bool:
    clifford = {
        "h", "x", "y", "z", "s", "sdg", "sx", "sxdg", "cx", "cy", "cz", "swap", "id",
        "measure", "barrier", "reset", "delay", "ecr", "iswap", "dcx",
    }  # fmt: skip
    return all(inst.operation.name in clifford for inst in qc.data)


def qiskit_to_qasm2(qc: Any) -> str:
    from qiskit import qasm2
    from qiskit.transpiler.passes import RemoveBarriers

    return qasm2.dumps(RemoveBarriers()(qc))


def split_final_measurements(qc: Any) -> tuple[Any, list[int]]:
    """(measurement-free circuit, measured qubit index per clbit) — final measurements only.

    Raises ``ValueError`` when measurements are mid-circuit or there is classical control.
    """
    clbit_to_qubit: dict[int, int] = {}
    stripped = qc.copy_empty_like()
    measured_qubits: set[int] = set()
    for inst in qc.data:
        name = inst.operation.name
        qidx = [qc.find_bit(q).index for q in inst.qubits]
        if name == "measure":
            clbit_to_qubit[qc.find_bit(inst.clbits[0]).index] = qidx[0]
            measured_qubits.add(qidx[0])
            continue
        if name == "barrier":
            continue
        if inst.clbits or name in {"if_else", "while_loop", "for_loop", "switch_case"}:
            raise ValueError(f"classical operation {name!r} is not supported")
        if measured_qubits.intersection(qidx):
            raise ValueError("mid-circuit measurements are not supported")
        stripped.append(inst)
    order = [clbit_to_qubit[i] for i in sorted(clbit_to_qubit)]
    if len(order) != qc.num_clbits:
        raise ValueError("some classical bits are never measured")
    return stripped, order


# ----------------------------------------------------------------------------- cirq side
def load_cirq(artifact: Artifact) -> Any:
    import cirq

    try:
        obj = cirq.read_json(json_text=artifact.data.decode())
    except Exception as exc:  # noqa: BLE001
        raise BackendError("parse_error", f"could not load Cirq JSON: {_short(exc)}") from exc
    if not isinstance(obj, cirq.AbstractCircuit):
        raise BackendError("parse_error", f"Cirq JSON holds a {type(obj).__name__}, not a circuit")
    return obj.unfreeze() if isinstance(obj, cirq.FrozenCircuit) else obj


def bind_cirq(circuit: Any, parameters: dict[str, Any] | None) -> Any:
    import cirq

    names = sorted(cirq.parameter_names(circuit))
    if not names:
        return circuit
    values = resolve_values(names, parameters)
    return cirq.resolve_parameters(circuit, cirq.ParamResolver(values))


def cirq_to_qiskit(circuit: Any) -> Any:
    import cirq
    from qiskit import qasm2

    try:
        src = cirq.qasm(circuit)
    except Exception as exc:  # noqa: BLE001
        raise refuse("cirq", "a qiskit backend", f"cirq.qasm failed ({_short(exc)})") from exc
    try:
        return qasm2.loads(src, custom_instructions=qasm2.LEGACY_CUSTOM_INSTRUCTIONS)
    except Exception as exc:  # noqa: BLE001
        raise refuse("cirq", "a qiskit backend", f"OpenQASM import failed ({_short(exc)})") from exc


def qiskit_to_cirq(qc: Any) -> tuple[Any, list[str]]:
    """(cirq circuit, measurement key of each Qiskit clbit in order)."""
    from cirq.contrib.qasm_import import circuit_from_qasm

    try:
        src = qiskit_to_qasm2(qc)
    except Exception as exc:  # noqa: BLE001
        raise refuse("qiskit", "cirq_simulator", f"no OpenQASM 2 form ({_short(exc)})") from exc
    try:
        circuit = circuit_from_qasm(src)
    except Exception as exc:  # noqa: BLE001
        raise refuse("qiskit", "cirq_simulator", f"cirq's QASM import failed ({_short(exc)})") from exc
    keys: list[str] = []
    for clbit in qc.clbits:
        loc = qc.find_bit(clbit)
        if not loc.registers:
            raise refuse("qiskit", "cirq_simulator", "classical bits outside registers")
        reg, idx = loc.registers[0]
        keys.append(f"{reg.name}_{idx}")
    return circuit, keys


def _short(exc: BaseException, limit: int = 300) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."
