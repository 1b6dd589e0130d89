#!/usr/bin/env python3
"""Export a user's circuit.py to a portable artifact.  Runs INSIDE THE SANDBOX on untrusted code.

Self-contained on purpose: it imports nothing from qubithub_lite, only the standard library and
whatever framework the user's module imports (qiskit / cirq / pennylane).

Usage::

    python export_circuit.py request.json

Request JSON (paths are relative to ``work_dir``, which defaults to the current directory)::

    {
      "entry_point": "circuit.py",        # required; the manifest's [project].entry_point
      "work_dir": ".",
      "framework": "qiskit",              # qiskit | cirq | pennylane | null (auto-detect)
      "entry_function": null,             # manifest [execution].entry_function
      "parameters": {"theta": 0.5},       # run parameters; passed as keyword arguments when
                                          # the entry function accepts them
      "mode": "export",                   # export | run (run: execute a PennyLane QNode here)
      "output_dir": ".",                  # where artifacts and the result are written
      "result_path": "export_result.json",  # relative to output_dir
      "shots": 1024, "seed": null,        # run mode only
      "device": "default.qubit"           # run mode only: default.qubit | lightning.qubit
    }

Result JSON (written to ``result_path`` and printed as the last line of stdout)::

    {"ok": true, "mode": "export", "framework": "qiskit", "entry_function": "create_circuit",
     "num_qubits": 2, "num_clbits": 2, "free_parameters": ["theta"],
     "accepted_kwargs": ["n"], "kwargs_used": {"n": 3},
     "artifact": {"kind": "qpy", "path": "circuit.qpy", "sha256": "...", "size": 123},
     "artifacts": [... every format written, primary first ...],
     "depth": 3, "gate_counts": {"h": 1, "cx": 1, "measure": 2}, "duration_ms": 12.3}

    {"ok": false, "error_class": "parse_error", "error_message": "create_circuit() returned None ...",
     "traceback": "...last frames..."}

Artifact kinds: ``qpy`` (Qiskit; symbolic Parameters stay unbound), ``cirq_json``
(``cirq.to_json``; sympy symbols kept), ``qasm3`` / ``qasm2`` (secondary forms where they fit;
PennyLane QNodes export as ``qasm2`` with their QNode arguments applied), and
``pennylane-in-sandbox`` (no file: the QNode cannot be exported and must be executed here with
``"mode": "run"``, whose result carries ``results.counts`` in Qiskit bit order).

Exit status: 0 ok, 2 the user's circuit failed (parse_error), 1 internal error.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import inspect
import json
import os
import secrets
import sys
import time
import traceback
from typing import Any

DEFAULT_FUNCTIONS = {
    "qiskit": ["create_circuit"],
    "cirq": ["create_circuit"],
    "openqasm3": ["create_circuit"],
    "pennylane": ["circuit", "create_circuit"],
}


class ExportError(Exception):
    def __init__(self, message: str, error_class: str = "parse_error", tb: str | None = None) -> None:
        super().__init__(message)
        self.error_class = error_class
        self.tb = tb


def _short_tb(exc: BaseException, path: str | None = None) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    if path:
        user = [f for f in frames if os.path.abspath(f.filename) == os.path.abspath(path)]
        frames = user or frames[-3:]
    lines = traceback.format_list(frames[-5:]) + traceback.format_exception_only(type(exc), exc)
    return "".join(lines)[-2000:]


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 400 else text[:397] + "..."


# ----------------------------------------------------------------------------- loading
def load_module(path: str) -> Any:
    if not os.path.isfile(path):
        raise ExportError(f"entry point {os.path.basename(path)!r} not found")
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    spec = importlib.util.spec_from_file_location("qubithub_user_circuit", path)
    if spec is None or spec.loader is None:
        raise ExportError(f"cannot load {path!r} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules["qubithub_user_circuit"] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        raise ExportError(
            f"syntax error in {os.path.basename(path)} line {exc.lineno}: {exc.msg}", tb=_short_tb(exc)
        ) from exc
    except BaseException as exc:  # noqa: BLE001 - SystemExit included: user code must not exit us
        raise ExportError(
            f"importing {os.path.basename(path)} failed: {_describe(exc)}", tb=_short_tb(exc, path)
        ) from exc
    return module


def kind_of(obj: Any) -> str | None:
    """qiskit | cirq | qnode | tape | None, judged by type without importing frameworks."""
    mod = type(obj).__module__ or ""
    name = type(obj).__name__
    if mod.startswith("qiskit") and name == "QuantumCircuit" or _isinstance_by_name(obj, "qiskit", "QuantumCircuit"):
        return "qiskit"
    if mod.startswith("cirq") and hasattr(obj, "all_qubits") and hasattr(obj, "moments"):
        return "cirq"
    if mod.startswith("pennylane"):
        if name == "QNode" or _isinstance_by_name(obj, "pennylane", "QNode"):
            return "qnode"
        if hasattr(obj, "operations") and hasattr(obj, "measurements"):
            return "tape"
    return None


def _isinstance_by_name(obj: Any, root: str, cls_name: str) -> bool:
    return any(c.__name__ == cls_name and (c.__module__ or "").startswith(root) for c in type(obj).__mro__)


def _signature_params(func: Any) -> tuple[list[str], bool]:
    target = getattr(func, "func", func)  # QNode.func
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):
        return [], False
    names = [
        p.name
        for p in sig.parameters.values()
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    ]
    var_kw = any(p.kind == inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values())
    return names, var_kw


def _kwargs_for(func: Any, parameters: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    names, var_kw = _signature_params(func)
    if var_kw:
        return dict(parameters), sorted(set(names) | set(parameters))
    return {k: v for k, v in parameters.items() if k in names}, names


def find_entry(module: Any, framework: str | None, entry_function: str | None) -> tuple[str, Any]:
    if entry_function:
        if not hasattr(module, entry_function):
            raise ExportError(f"entry function {entry_function!r} not found in the circuit module")
        return entry_function, getattr(module, entry_function)
    candidates = list(DEFAULT_FUNCTIONS.get(framework or "", ["create_circuit", "circuit"]))
    for name in candidates:
        obj = getattr(module, name, None)
        if obj is not None and callable(obj) or kind_of(obj) is not None:
            return name, obj
    for name in ("circuit", "qc"):
        obj = getattr(module, name, None)
        if obj is not None and (kind_of(obj) is not None or callable(obj)):
            return name, obj
    if callable(getattr(module, "main", None)):
        return "main", module.main
    raise ExportError(
        "no circuit found: define create_circuit() (Qiskit/Cirq) or circuit() (PennyLane), a module-level "
        "`circuit` or `qc`, a main() that returns the circuit, or set [execution].entry_function"
    )


def resolve_circuit(name: str, obj: Any, parameters: dict[str, Any], path: str) -> tuple[Any, str, dict[str, Any], list[str]]:
    """(circuit object, its kind, kwargs used, kwargs the entry accepts)."""
    kind = kind_of(obj)
    if kind in ("qiskit", "cirq", "tape"):
        return obj, kind, {}, []
    if kind == "qnode":
        kwargs, accepted = _kwargs_for(obj, parameters)
        return obj, kind, kwargs, accepted
    if not callable(obj):
        raise ExportError(f"`{name}` is a {type(obj).__name__}, not a circuit or a function returning one")
    kwargs, accepted = _kwargs_for(obj, parameters)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            value = obj(**kwargs)
    except TypeError as exc:
        if "argument" in str(exc):
            raise ExportError(
                f"{name}() could not be called with parameters {sorted(kwargs)}: {_describe(exc)}",
                tb=_short_tb(exc, path),
            ) from exc
        raise ExportError(f"{name}() raised {_describe(exc)}", tb=_short_tb(exc, path)) from exc
    except BaseException as exc:  # noqa: BLE001
        raise ExportError(f"{name}() raised {_describe(exc)}", tb=_short_tb(exc, path)) from exc
    if isinstance(value, tuple) and value and kind_of(value[0]) is not None:
        value = value[0]
    vkind = kind_of(value)
    if vkind is None:
        got = "None" if value is None else type(value).__name__
        raise ExportError(
            f"{name}() returned {got}, expected a qiskit QuantumCircuit, a cirq.Circuit or a PennyLane QNode"
        )
    return value, vkind, kwargs, accepted


# ----------------------------------------------------------------------------- writing
def _write(out_dir: str, filename: str, kind: str, data: bytes) -> dict[str, Any]:
    path = os.path.join(out_dir, filename)
    with open(path, "wb") as fh:
        fh.write(data)
    return {"kind": kind, "path": filename, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


def export_qiskit(qc: Any, out_dir: str) -> dict[str, Any]:
    import io

    from qiskit import qpy

    buf = io.BytesIO()
    qpy.dump(qc, buf)
    artifacts = [_write(out_dir, "circuit.qpy", "qpy", buf.getvalue())]
    try:
        from qiskit import qasm3

        artifacts.append(_write(out_dir, "circuit.qasm3", "qasm3", qasm3.dumps(qc).encode()))
    except Exception:  # noqa: BLE001 - secondary format only
        pass
    ops = {str(k): int(v) for k, v in qc.count_ops().items()}
    return {
        "framework": "qiskit",
        "num_qubits": qc.num_qubits,
        "num_clbits": qc.num_clbits,
        "free_parameters": sorted(p.name for p in qc.parameters),
        "depth": qc.depth(),
        "gate_counts": ops,
        "artifacts": artifacts,
    }


def export_cirq(circuit: Any, out_dir: str) -> dict[str, Any]:
    import cirq

    artifacts = [_write(out_dir, "circuit.cirq.json", "cirq_json", cirq.to_json(circuit).encode())]
    symbols = sorted(cirq.parameter_names(circuit))
    if not symbols:
        try:
            artifacts.append(_write(out_dir, "circuit.qasm", "qasm2", cirq.qasm(circuit).encode()))
        except Exception:  # noqa: BLE001
            pass
    counts: dict[str, int] = {}
    for op in circuit.all_operations():
        gname = str(op.gate).split("(")[0] if op.gate is not None else type(op).__name__
        counts[gname] = counts.get(gname, 0) + 1
    return {
        "framework": "cirq",
        "num_qubits": len(circuit.all_qubits()),
        "num_clbits": sum(cirq.num_qubits(op) for op in circuit.all_operations() if cirq.is_measurement(op)),
        "free_parameters": symbols,
        "depth": len(circuit),
        "gate_counts": counts,
        "artifacts": artifacts,
    }


def pennylane_tape(obj: Any, kind: str, kwargs: dict[str, Any]) -> tuple[Any, list[Any]]:
    """(tape, the QNode device wires or the tape wires)."""
    import pennylane as qml

    if kind == "tape":
        return obj, list(obj.wires)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            tape = qml.workflow.construct_tape(obj)(**kwargs)
    except BaseException as exc:  # noqa: BLE001
        raise ExportError(f"building the QNode failed: {_describe(exc)}", tb=_short_tb(exc)) from exc
    dev_wires = getattr(getattr(obj, "device", None), "wires", None)
    wires = list(dev_wires) if dev_wires is not None and len(dev_wires) else list(tape.wires)
    for w in tape.wires:
        if w not in wires:
            wires.append(w)
    return tape, wires


def measured_wires(tape: Any, wires: list[Any]) -> list[Any]:
    out: list[Any] = []
    for mp in tape.measurements:
        name = type(mp).__name__
        if name in ("CountsMP", "SampleMP", "ProbabilityMP") and len(mp.wires) and getattr(mp, "obs", None) is None:
            out.extend(w for w in mp.wires if w not in out)
        else:
            return list(wires)
    return out or list(wires)


def export_pennylane(obj: Any, kind: str, kwargs: dict[str, Any], out_dir: str) -> dict[str, Any]:
    import pennylane as qml

    tape, wires = pennylane_tape(obj, kind, kwargs)
    measured = measured_wires(tape, wires)
    info: dict[str, Any] = {
        "framework": "pennylane",
        "num_qubits": len(wires),
        "num_clbits": len(measured),
        "free_parameters": [],
        "depth": None,
        "gate_counts": {},
        "wires": [str(w) for w in wires],
        "measured_wires": [str(w) for w in measured],
    }
    counts: dict[str, int] = {}
    for op in tape.operations:
        counts[op.name] = counts.get(op.name, 0) + 1
    info["gate_counts"] = counts
    try:
        if any(type(op).__name__ in ("MidMeasureMP", "Conditional") for op in tape.operations):
            raise ValueError("mid-circuit measurements / conditionals have no OpenQASM 2 form")
        bare = qml.tape.QuantumScript(tape.operations, [], shots=tape.shots)
        src = qml.to_openqasm(bare, wires=qml.wires.Wires(wires), rotations=False, measure_all=False)
        index = {w: i for i, w in enumerate(wires)}
        lines = [ln for ln in src.splitlines() if ln.strip() and not ln.startswith(("creg", "measure"))]
        lines.append(f"creg c[{len(measured)}];")
        lines += [f"measure q[{index[w]}] -> c[{i}];" for i, w in enumerate(measured)]
        info["artifacts"] = [_write(out_dir, "circuit.qasm", "qasm2", ("\n".join(lines) + "\n").encode())]
    except Exception as exc:  # noqa: BLE001 - not exportable: run in the sandbox instead
        info["artifacts"] = [{"kind": "pennylane-in-sandbox", "path": None, "sha256": None, "size": 0}]
        info["sandbox_only_reason"] = _describe(exc)
    return info


def run_pennylane(obj: Any, kind: str, kwargs: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    """Execute the QNode here with shots; counts in Qiskit order (first measured wire rightmost)."""
    import numpy as np
    import pennylane as qml

    tape, wires = pennylane_tape(obj, kind, kwargs)
    measured = measured_wires(tape, wires)
    shots = int(request.get("shots") or 1024)
    seed = request.get("seed")
    seed = secrets.randbelow(2**31 - 1) if seed is None else int(seed)
    device = request.get("device") or "default.qubit"
    if device not in ("default.qubit", "lightning.qubit"):
        raise ExportError(f"device {device!r} not allowed; use default.qubit or lightning.qubit")
    dev = qml.device(device, wires=wires, seed=seed)
    run_tape = qml.tape.QuantumScript(tape.operations, [qml.sample(wires=measured)], shots=shots)
    t0 = time.perf_counter()
    try:
        (samples,) = qml.execute([run_tape], dev)
    except BaseException as exc:  # noqa: BLE001
        raise ExportError(f"executing the QNode failed: {_describe(exc)}", tb=_short_tb(exc)) from exc
    elapsed = (time.perf_counter() - t0) * 1000
    rows = np.asarray(samples, dtype=int).reshape(shots, len(measured))
    counts: dict[str, int] = {}
    for row in rows:
        key = "".join(str(int(b)) for b in reversed(row))
        counts[key] = counts.get(key, 0) + 1
    return {
        "framework": "pennylane",
        "num_qubits": len(wires),
        "num_clbits": len(measured),
        "free_parameters": [],
        "results": {
            "counts": dict(sorted(counts.items())),
            "shots": shots,
            "seed": seed,
            "memory": None,
            "statevector": None,
        },
        "metrics": {
            "execution_time_ms": round(elapsed, 3),
            "transpilation_time_ms": 0.0,
            "method": f"{device} statevector (in sandbox)",
            "simulator": "pennylane_lightning" if device == "lightning.qubit" else "pennylane_default",
            "num_qubits": len(wires),
        },
    }


# ----------------------------------------------------------------------------- main
def export(request: dict[str, Any]) -> dict[str, Any]:
    work_dir = os.path.abspath(request.get("work_dir") or ".")
    entry_point = request.get("entry_point")
    if not entry_point or not isinstance(entry_point, str):
        raise ExportError("request has no entry_point", error_class="internal_error")
    path = os.path.normpath(os.path.join(work_dir, entry_point))
    if not path.startswith(work_dir + os.sep):
        raise ExportError(f"entry point {entry_point!r} is outside the circuit's files")
    out_dir = os.path.abspath(os.path.join(work_dir, request.get("output_dir") or "."))
    os.makedirs(out_dir, exist_ok=True)
    framework = request.get("framework")
    parameters = request.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise ExportError("parameters must be an object")
    os.chdir(os.path.dirname(path))
    with contextlib.redirect_stdout(sys.stderr):
        module = load_module(path)
    name, obj = find_entry(module, framework, request.get("entry_function"))
    circuit, kind, kwargs, accepted = resolve_circuit(name, obj, parameters, path)
    mode = request.get("mode") or "export"
    if mode == "run":
        if kind not in ("qnode", "tape"):
            raise ExportError("mode 'run' is only for PennyLane QNodes", error_class="internal_error")
        info = run_pennylane(circuit, kind, kwargs, request)
    elif kind == "qiskit":
        info = export_qiskit(circuit, out_dir)
    elif kind == "cirq":
        info = export_cirq(circuit, out_dir)
    else:
        info = export_pennylane(circuit, kind, kwargs, out_dir)
    if framework and framework not in (info["framework"], "openqasm3"):
        info["warning"] = f"manifest framework is {framework!r} but the entry returned a {info['framework']} circuit"
    if info.get("artifacts"):
        info["artifact"] = info["artifacts"][0]
    info.update(ok=True, mode=mode, entry_function=name, accepted_kwargs=accepted, kwargs_used=_jsonable(kwargs))
    return info


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return {k: repr(v) for k, v in value.items()} if isinstance(value, dict) else repr(value)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python export_circuit.py request.json", file=sys.stderr)
        return 1
    request_path = os.path.abspath(argv[0])
    t0 = time.perf_counter()
    result_path = None
    real_stdout = sys.stdout
    try:
        with open(request_path, encoding="utf-8") as fh:
            request = json.load(fh)
        work_dir = os.path.abspath(request.get("work_dir") or ".")
        result_path = os.path.join(
            os.path.abspath(os.path.join(work_dir, request.get("output_dir") or ".")),
            request.get("result_path") or "export_result.json",
        )
        result = export(request)
        status = 0
    except ExportError as exc:
        result = {"ok": False, "error_class": exc.error_class, "error_message": str(exc), "traceback": exc.tb}
        status = 2 if exc.error_class == "parse_error" else 1
    except BaseException as exc:  # noqa: BLE001
        result = {
            "ok": False,
            "error_class": "parse_error",
            "error_message": f"exporting the circuit failed: {_describe(exc)}",
            "traceback": _short_tb(exc),
        }
        status = 2
    result["duration_ms"] = round((time.perf_counter() - t0) * 1000, 3)
    text = json.dumps(result, default=str)
    if result_path:
        try:
            os.makedirs(os.path.dirname(result_path), exist_ok=True)
            with open(result_path, "w", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as exc:
            print(f"cannot write {result_path}: {exc}", file=sys.stderr)
    real_stdout.write(text + "\n")
    real_stdout.flush()
    return status


if __name__ == "__main__":
    sys.exit(main())
