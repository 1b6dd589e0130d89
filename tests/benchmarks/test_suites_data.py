"""The suites shipped as data: reproducible from MQT Bench, correct ideals, SupermarQ features."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from qubithub_lite.services.benchmarks import generate
from qubithub_lite.services.benchmarks.suites import GENERATED_DIR, load_suites

REQUIRED = {"ghz", "bernstein-vazirani", "qft", "grover", "quantum-volume", "qaoa", "mirror"}


def test_suites_are_declared_with_versions_and_sizes():
    suites = load_suites()
    assert REQUIRED <= set(suites)
    for suite in suites.values():
        assert suite.version.count(".") == 2
        sizes = [p.qubits for p in suite.problems]
        assert len(sizes) >= 5 and min(sizes) <= 3 and max(sizes) >= 6
        assert [p.index for p in suite.problems] == list(range(len(suite.problems)))
        assert len({p.id for p in suite.problems}) == len(suite.problems)
        for p in suite.problems:
            assert p.circuits and all(c.qasm.startswith("OPENQASM 3") for c in p.circuits)
    assert len(suites["mirror"].problems[0].circuits) == 2  # two circuits per mirror problem


def test_generator_reproduces_the_shipped_circuits(tmp_path):
    pytest.importorskip("mqt.bench")
    from importlib.metadata import version

    # as a developer regenerates them (the script fixes the hash seed itself)
    assert generate.main(["--out", str(tmp_path)]) == 0
    written = sorted(tmp_path.glob("*.json"))
    assert {p.name for p in written} == {p.name for p in GENERATED_DIR.glob("*.json")}
    for path in written:
        shipped = json.loads((GENERATED_DIR / path.name).read_text())
        fresh = json.loads(path.read_text())
        assert shipped["generator"] == fresh["generator"], f"{path.name}: regenerate with the pinned versions"
        assert len(shipped["problems"]) == len(fresh["problems"])
        for a, b in zip(shipped["problems"], fresh["problems"]):
            assert {k: v for k, v in a.items() if k != "circuits"} == {k: v for k, v in b.items() if k != "circuits"}
            for old, new in zip(a["circuits"], b["circuits"], strict=True):
                same = {k: v for k, v in old.items() if k not in ("qasm", "sha256")}
                assert same == {k: v for k, v in new.items() if k not in ("qasm", "sha256")}, (a["id"], old["name"])
                if old["qasm"] != new["qasm"]:
                    # qiskit may write the terms of a symbolic gate definition in another order
                    # from one process to the next; the circuit must still be the same unitary.
                    _assert_same_unitary(old["qasm"], new["qasm"])


def _assert_same_unitary(a: str, b: str) -> None:
    from qiskit import qasm3
    from qiskit.quantum_info import Operator

    ua, ub = (Operator(qasm3.loads(t).remove_final_measurements(inplace=False)) for t in (a, b))
    assert ua.equiv(ub)


def test_the_api_process_reads_suites_without_quantum_frameworks():
    code = ("import sys; from qubithub_lite.services.benchmarks.service import Benchmarks; "
            "from qubithub_lite.services.benchmarks.suites import load_suites; load_suites(); "
            "bad = [m for m in ('qiskit', 'mqt', 'cirq', 'pennylane', 'numpy') if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def _load(qasm: str):
    from qiskit import qasm3

    return qasm3.loads(qasm)


def test_ideal_distributions():
    from qubithub_lite.backends.benchmark_analysis import ideal_distribution

    suites = load_suites()
    ghz = next(p for p in suites["ghz"].problems if p.qubits == 4)
    assert ideal_distribution(_load(ghz.circuits[0].qasm)) == pytest.approx({"0000": 0.5, "1111": 0.5})
    bv = next(p for p in suites["bernstein-vazirani"].problems if p.qubits == 5)
    # MQT's default hidden string for 5 qubits is 1010 (bit i = i % 2), measured on 4 bits
    hidden = "".join(str(i % 2) for i in range(4))
    assert ideal_distribution(_load(bv.circuits[0].qasm)) == pytest.approx({hidden[::-1]: 1.0})
    # The mirror suite's known ideal is what simulating the mirror circuit gives.
    for problem in suites["mirror"].problems[:4]:
        for circuit in problem.circuits:
            assert ideal_distribution(_load(circuit.qasm)) == pytest.approx(problem.known_ideal, abs=1e-9)


def test_supermarq_features_by_hand():
    from qiskit import QuantumCircuit

    from qubithub_lite.backends.benchmark_analysis import features

    qc = QuantumCircuit(3)
    qc.h(0)
    qc.cx(0, 1)
    qc.cx(1, 2)
    qc.measure_all()
    f = features(qc)
    # interaction graph 0-1-2: degrees 1+2+1 over 3*2
    assert f["program_communication"] == pytest.approx(4 / 6, abs=1e-6)
    assert f["entanglement_ratio"] == pytest.approx(2 / 3, abs=1e-6)  # 2 two-qubit gates of 3
    assert f["critical_depth"] == pytest.approx(1.0)  # both CNOTs are on the longest path
    # depth 4 (h, cx, cx, measure); 3 gates: (3/4 - 1) < 0 -> 0
    assert f["parallelism"] == 0.0
    # activity: h(1) + cx(2) + [cx(2) + m(1)] + m(2) = 8 of 3 * 4
    assert f["liveness"] == pytest.approx(8 / 12, abs=1e-6)
    assert f["measurement"] == 0.0

    mid = QuantumCircuit(2, 2)
    mid.h(0)
    mid.measure(0, 0)
    mid.x(0)
    mid.cx(0, 1)
    mid.measure([0, 1], [0, 1])
    assert features(mid)["measurement"] > 0  # a mid-circuit measurement

    wide = QuantumCircuit(4)
    wide.h(range(4))
    assert features(wide)["parallelism"] == pytest.approx(1.0)  # 4 gates in one layer on 4 qubits


def test_a_circuit_that_transpiles_to_nothing_is_refused():
    from qubithub_lite.backends import benchmark_analysis
    from qubithub_lite.backends.base import Artifact, BackendError
    from qubithub_lite.backends.registry import get_backend

    empty = 'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\nbit[2] c;\nbarrier q;\nc = measure q;\n'
    spec = {"ideal": {"00": 1.0}, "reference_qasm": None}
    with pytest.raises(BackendError, match="transpiles to nothing"):
        benchmark_analysis.prepare(get_backend("qiskit_aer"), Artifact("qasm3", empty.encode(), "openqasm3"), {}, {}, spec)
    # H·H cancels on a device's transpiler (optimization level 1)
    cancels = empty.replace("barrier q;", "h q[0];\nh q[0];")
    with pytest.raises(BackendError, match="transpiles to nothing"):
        benchmark_analysis.prepare(get_backend("fake_manila"), Artifact("qasm3", cancels.encode(), "openqasm3"), {}, {}, spec)
