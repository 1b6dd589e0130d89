"""Offline tests of the Braket plugin with the SDK's LocalSimulator."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable without installing

pytest.importorskip("braket")

from qubithub_lite.backends import Artifact, BackendError  # noqa: E402
from qubithub_lite_braket.driver import braket_backends  # noqa: E402


def _qpy(qc) -> Artifact:
    from qiskit import qpy

    buf = io.BytesIO()
    qpy.dump(qc, buf)
    return Artifact("qpy", buf.getvalue(), "qiskit")


def local():
    return next(d for d in braket_backends() if d.name == "braket_local")


def test_bell_and_bit_order() -> None:
    from qiskit import QuantumCircuit

    bell = QuantumCircuit(2)
    bell.h(0)
    bell.cx(0, 1)
    bell.measure_all()
    counts = local().run(_qpy(bell), 500, None, {}, {}).counts
    assert set(counts) == {"00", "11"} and sum(counts.values()) == 500
    x0 = QuantumCircuit(3)
    x0.x(0)
    x0.sdg(1)
    x0.measure_all()
    assert local().run(_qpy(x0), 50, None, {}, {}).counts == {"001": 50}


def test_parameters_bound_before_conversion() -> None:
    from qiskit import QuantumCircuit
    from qiskit.circuit import Parameter

    qc = QuantumCircuit(1)
    qc.rx(Parameter("theta"), 0)
    qc.measure_all()
    assert local().run(_qpy(qc), 20, None, {"theta": 3.141592653589793}, {}).counts == {"1": 20}


def test_managed_device_needs_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("QUBITHUB_BRAKET_DEVICES", "sv1=arn:aws:braket:::device/quantum-simulator/amazon/sv1")
    managed = [d for d in braket_backends() if d.name == "braket_sv1"]
    assert managed and not managed[0].availability().ok
    with pytest.raises(BackendError) as err:
        managed[0].run(Artifact("qasm3", b"OPENQASM 3.0;", "openqasm3"), 10, None, {}, {})
    assert err.value.error_class == "backend_unavailable"
