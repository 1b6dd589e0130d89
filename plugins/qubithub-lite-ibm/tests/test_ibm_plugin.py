"""Offline tests of the IBM plugin: SamplerV2 local testing mode against a fake device."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable without installing

from qubithub_lite.backends import Artifact, BackendError  # noqa: E402
from qubithub_lite_ibm.driver import IBMRuntimeBackend, ibm_backends  # noqa: E402


def _artifact() -> Artifact:
    from qiskit import QuantumCircuit, qpy

    qc = QuantumCircuit(2)
    qc.x(0)
    qc.measure_all()
    buf = io.BytesIO()
    qpy.dump(qc, buf)
    return Artifact("qpy", buf.getvalue(), "qiskit")


def test_local_sampler_counts_seed_and_bit_order() -> None:
    driver = next(d for d in ibm_backends() if d.name == "ibm_local_manila")
    assert driver.availability().ok and driver.type == "emulation"
    a = driver.run(_artifact(), 400, 17, {}, {})
    b = driver.run(_artifact(), 400, 17, {}, {})
    assert sum(a.counts.values()) == 400 and max(a.counts, key=a.counts.get) == "01"
    assert a.counts == b.counts and a.seed == 17


def test_hardware_needs_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QISKIT_IBM_TOKEN", raising=False)
    monkeypatch.setenv("QUBITHUB_IBM_BACKENDS", "ibm_torino")
    hw = [d for d in ibm_backends() if d.type == "hardware"]
    assert [d.name for d in hw] == ["ibm_torino"]
    assert not hw[0].availability().ok and "QISKIT_IBM_TOKEN" in hw[0].availability().reason
    with pytest.raises(BackendError) as err:
        hw[0].run(_artifact(), 10, 1, {}, {})
    assert err.value.error_class == "backend_unavailable"


def test_calibration_from_fake_device() -> None:
    cal = IBMRuntimeBackend("ibm_local_manila", "FakeManilaV2", 5, True).calibration()
    assert cal is not None and len(cal["qubits"]) == 5 and cal["gates"]
