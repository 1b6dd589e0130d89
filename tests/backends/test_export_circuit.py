"""The sandbox export script, run here as a plain subprocess (sandbox integration is separate)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from qubithub_lite.backends import get_backend
from qubithub_lite.backends.base import Artifact

from .conftest import EXPORT_SCRIPT

pytestmark = pytest.mark.quantum


def export(tmp_path: Path, source: str, **request: Any) -> tuple[int, dict[str, Any], Path]:
    work = tmp_path / "work"
    (work / "circuits").mkdir(parents=True, exist_ok=True)
    entry = request.pop("entry_point", "circuits/circuit.py")
    (work / entry).write_text(textwrap.dedent(source))
    req = {"entry_point": entry, "work_dir": str(work), "output_dir": "out", **request}
    req_path = tmp_path / "request.json"
    req_path.write_text(json.dumps(req))
    proc = subprocess.run(
        [sys.executable, str(EXPORT_SCRIPT), str(req_path)], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    stdout_result = json.loads(proc.stdout.strip().splitlines()[-1])
    file_result = json.loads((work / "out" / "export_result.json").read_text())
    assert stdout_result == file_result
    return proc.returncode, file_result, work / "out"


def load_artifact(out: Path, result: dict[str, Any]) -> Artifact:
    art = result["artifact"]
    return Artifact(art["kind"], (out / art["path"]).read_bytes(), result["framework"])


QISKIT = """
    from qiskit import QuantumCircuit
    from qiskit.circuit import Parameter

    def create_circuit(n=2):
        print("user output must not break the protocol")
        qc = QuantumCircuit(n)
        qc.h(0)
        for i in range(n - 1):
            qc.cx(i, i + 1)
        qc.rz(Parameter("phi"), 0)
        qc.measure_all()
        return qc
"""


def test_export_qiskit_keeps_parameters_symbolic(tmp_path: Path) -> None:
    code, result, out = export(tmp_path, QISKIT, framework="qiskit", parameters={"n": 3, "phi": 0.1})
    assert code == 0 and result["ok"], result
    assert result["framework"] == "qiskit" and result["entry_function"] == "create_circuit"
    assert result["num_qubits"] == 3 and result["free_parameters"] == ["phi"]
    assert result["kwargs_used"] == {"n": 3} and result["accepted_kwargs"] == ["n"]
    assert result["artifact"]["kind"] == "qpy"
    assert {a["kind"] for a in result["artifacts"]} == {"qpy", "qasm3"}
    counts = get_backend("qiskit_aer").run(load_artifact(out, result), 200, 1, {"phi": 0.3}, {}).counts
    assert set(counts) == {"000", "111"}


def test_export_cirq(tmp_path: Path) -> None:
    src = """
        import cirq, sympy

        def create_circuit():
            q = cirq.LineQubit.range(2)
            return cirq.Circuit([cirq.X(q[0]), cirq.rx(sympy.Symbol("theta"))(q[1]), cirq.measure(*q, key="m")])
    """
    code, result, out = export(tmp_path, src, framework="cirq")
    assert code == 0 and result["ok"], result
    assert result["artifact"]["kind"] == "cirq_json" and result["free_parameters"] == ["theta"]
    art = load_artifact(out, result)
    assert get_backend("cirq_simulator").run(art, 50, 1, {"theta": 3.141592653589793}, {}).counts == {"11": 50}
    assert get_backend("qiskit_aer").run(art, 50, 1, {"theta": 0.0}, {}).counts == {"01": 50}


PENNYLANE = """
    import pennylane as qml

    dev = qml.device("default.qubit", wires=3)

    @qml.qnode(dev)
    def circuit(theta=0.0):
        qml.PauliX(wires=0)
        qml.RY(theta, wires=2)
        return qml.counts(wires=[0, 1, 2])
"""


def test_export_pennylane_qnode_to_qasm(tmp_path: Path) -> None:
    code, result, out = export(tmp_path, PENNYLANE, framework="pennylane", parameters={"theta": 3.141592653589793})
    assert code == 0 and result["ok"], result
    assert result["entry_function"] == "circuit" and result["artifact"]["kind"] == "qasm2"
    assert result["kwargs_used"] == {"theta": 3.141592653589793}
    art = load_artifact(out, result)
    for name in ("pennylane_default", "pennylane_lightning", "qiskit_aer"):
        assert get_backend(name).run(art, 40, 1, {}, {}).counts == {"101": 40}, name


def test_pennylane_mid_circuit_measurement_runs_in_sandbox_mode(tmp_path: Path) -> None:
    src = """
        import pennylane as qml

        dev = qml.device("default.qubit", wires=2)

        @qml.qnode(dev)
        def circuit():
            qml.PauliX(wires=0)
            m = qml.measure(0)
            qml.cond(m, qml.PauliX)(wires=1)
            return qml.counts(wires=[0, 1])
    """
    code, result, _ = export(tmp_path, src, framework="pennylane")
    assert code == 0 and result["artifact"]["kind"] == "pennylane-in-sandbox", result
    assert result["sandbox_only_reason"]
    code, run, _ = export(tmp_path, src, framework="pennylane", mode="run", shots=100, seed=3)
    assert code == 0 and run["ok"], run
    assert run["results"]["counts"] == {"11": 100} and run["results"]["seed"] == 3
    assert run["metrics"]["execution_time_ms"] >= 0


def test_run_mode_bit_order_and_seed(tmp_path: Path) -> None:
    src = PENNYLANE.replace("qml.RY(theta, wires=2)", "qml.Hadamard(wires=2)")
    _, a, _ = export(tmp_path, src, mode="run", shots=300, seed=9, device="lightning.qubit")
    _, b, _ = export(tmp_path, src, mode="run", shots=300, seed=9, device="lightning.qubit")
    assert set(a["results"]["counts"]) == {"001", "101"}
    assert a["results"]["counts"] == b["results"]["counts"]


def test_module_level_qc_and_entry_function(tmp_path: Path) -> None:
    src = """
        from qiskit import QuantumCircuit
        qc = QuantumCircuit(1)
        qc.x(0)

        def build_it():
            c = QuantumCircuit(2)
            c.x(1)
            return c
    """
    code, result, _ = export(tmp_path, src, framework="qiskit")
    assert code == 0 and result["entry_function"] == "qc" and result["num_qubits"] == 1
    code, result, _ = export(tmp_path, src, framework="qiskit", entry_function="build_it")
    assert code == 0 and result["entry_function"] == "build_it" and result["num_qubits"] == 2


def test_no_circuit_returned(tmp_path: Path) -> None:
    src = """
        def create_circuit():
            return None
    """
    code, result, _ = export(tmp_path, src, framework="qiskit")
    assert code == 2 and not result["ok"]
    assert result["error_class"] == "parse_error" and "returned None" in result["error_message"]


def test_no_entry_at_all(tmp_path: Path) -> None:
    code, result, _ = export(tmp_path, "x = 1\n", framework="qiskit")
    assert code == 2 and result["error_class"] == "parse_error" and "create_circuit" in result["error_message"]


def test_entry_raises(tmp_path: Path) -> None:
    src = """
        def create_circuit():
            raise ValueError("boom from user code")
    """
    code, result, _ = export(tmp_path, src, framework="qiskit")
    assert code == 2 and result["error_class"] == "parse_error"
    assert "boom from user code" in result["error_message"] and "create_circuit" in result["traceback"]


def test_syntax_error(tmp_path: Path) -> None:
    code, result, _ = export(tmp_path, "def create_circuit(:\n    pass\n", framework="qiskit")
    assert code == 2 and result["error_class"] == "parse_error"
    assert "syntax error" in result["error_message"] and "line 1" in result["error_message"]


def test_import_error_and_sys_exit(tmp_path: Path) -> None:
    code, result, _ = export(tmp_path, "import not_a_real_module_xyz\n", framework="qiskit")
    assert code == 2 and "not_a_real_module_xyz" in result["error_message"]
    code, result, _ = export(tmp_path, "import sys\nsys.exit(3)\n", framework="qiskit")
    assert code == 2 and result["error_class"] == "parse_error"


def test_entry_point_outside_work_dir_refused(tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    req = tmp_path / "request.json"
    req.write_text(json.dumps({"entry_point": "../evil.py", "work_dir": str(tmp_path / "work")}))
    proc = subprocess.run([sys.executable, str(EXPORT_SCRIPT), str(req)], capture_output=True, text=True, timeout=60)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not result["ok"] and "outside" in result["error_message"]
