"""Helpers for the backend tests: build real artifacts the way the export script does."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from qubithub_lite.backends.base import Artifact

EXPORT_SCRIPT = Path(__file__).resolve().parents[2] / "qubithub_lite" / "backends" / "export_circuit.py"


def qpy_artifact(qc) -> Artifact:
    from qiskit import qpy

    buf = io.BytesIO()
    qpy.dump(qc, buf)
    return Artifact("qpy", buf.getvalue(), "qiskit")


def cirq_artifact(circuit) -> Artifact:
    import cirq

    return Artifact("cirq_json", cirq.to_json(circuit).encode(), "cirq")


def bell_qiskit():
    from qiskit import QuantumCircuit

    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure_all()
    return qc


def x0_qiskit():
    from qiskit import QuantumCircuit

    qc = QuantumCircuit(2)
    qc.x(0)
    qc.measure_all()
    return qc


@pytest.fixture
def bell_artifact() -> Artifact:
    return qpy_artifact(bell_qiskit())


@pytest.fixture
def python_exe() -> str:
    return sys.executable
