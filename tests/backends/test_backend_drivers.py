"""Real simulators behind the driver interface (no mocks)."""

from __future__ import annotations

import math

import pytest

from qubithub_lite.backends import get_backend
from qubithub_lite.backends.aer import FAKE_DEVICES
from qubithub_lite.backends.base import Artifact, BackendError
from qubithub_lite.backends.memory import check_memory, statevector_bytes
from qubithub_lite.backends.registry import available_backends, backends_for, validate_choice
from qubithub_lite.backends.results import check_expected_output
from tests.processes import fresh_python

from .conftest import bell_qiskit, cirq_artifact, qpy_artifact, x0_qiskit

pytestmark = pytest.mark.quantum

IDEAL = ["qiskit_aer", "cirq_simulator", "pennylane_default", "pennylane_lightning"]


def test_registry_lists_builtins_without_heavy_imports() -> None:
    code = (
        "import sys\n"
        "from qubithub_lite.backends.registry import available_backends, backend_infos\n"
        "names = [d.name for d in available_backends()]\n"
        "infos = backend_infos()\n"
        "heavy = [m for m in ('qiskit', 'qiskit_aer', 'cirq', 'pennylane', 'qiskit_ibm_runtime') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "print(','.join(names))\n"
    )
    names = fresh_python(code).strip().split(",")
    for name in IDEAL + ["fake_manila", "fake_brisbane"]:
        assert name in names


def test_backend_info_shape() -> None:
    info = get_backend("fake_manila").info()
    assert info["type"] == "emulation" and info["max_qubits"] == 5 and info["status"] == "online"
    assert "qiskit" in info["frameworks"]
    assert get_backend("qiskit_aer").info()["type"] == "simulation"


def test_fake_device_table_matches_devices() -> None:
    from qiskit_ibm_runtime import fake_provider

    for name, (cls, n) in FAKE_DEVICES.items():
        dev = getattr(fake_provider, cls)()
        assert dev.num_qubits == n, name


@pytest.mark.parametrize("name", IDEAL)
def test_bell_counts(name: str, bell_artifact: Artifact) -> None:
    result = get_backend(name).run(bell_artifact, 1000, 7, {}, {})
    assert set(result.counts) <= {"00", "11"}
    assert sum(result.counts.values()) == 1000
    assert min(result.counts.values()) > 350
    assert result.seed == 7
    assert result.metrics["execution_time_ms"] >= 0 and "transpilation_time_ms" in result.metrics
    assert result.metrics["method"]


@pytest.mark.parametrize("name", IDEAL + ["fake_manila"])
def test_bit_order_qiskit_source(name: str) -> None:
    counts = get_backend(name).run(qpy_artifact(x0_qiskit()), 200, 1, {}, {"noise": False} if "fake" in name else {}).counts
    assert counts == {"01": 200}


@pytest.mark.parametrize("name", IDEAL)
def test_bit_order_cirq_source(name: str) -> None:
    import cirq

    q = cirq.LineQubit.range(2)
    art = cirq_artifact(cirq.Circuit([cirq.X(q[0]), cirq.measure(*q, key="m")]))
    assert get_backend(name).run(art, 100, 1, {}, {}).counts == {"01": 100}


@pytest.mark.parametrize("name", IDEAL)
def test_bit_order_pennylane_qasm_source(name: str) -> None:
    src = 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\nx q[0];\ncreg c[2];\nmeasure q[0] -> c[0];\nmeasure q[1] -> c[1];\n'
    assert get_backend(name).run(Artifact("qasm2", src.encode(), "pennylane"), 50, 1, {}, {}).counts == {"01": 50}


@pytest.mark.parametrize("name", IDEAL)
def test_openqasm3_source(name: str) -> None:
    src = 'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[3] q;\nbit[3] c;\nx q[0];\nh q[1];\ncx q[1], q[2];\nc = measure q;\n'
    counts = get_backend(name).run(Artifact("qasm3", src.encode(), "openqasm3"), 400, 3, {}, {}).counts
    assert set(counts) == {"001", "111"}


@pytest.mark.parametrize("name", IDEAL + ["fake_manila"])
def test_same_seed_same_counts(name: str) -> None:
    from qiskit import QuantumCircuit

    qc = QuantumCircuit(3)
    qc.h(0)
    qc.ry(0.7, 1)
    qc.cx(0, 2)
    qc.measure_all()
    art = qpy_artifact(qc)
    driver = get_backend(name)
    a = driver.run(art, 500, 1234, {}, {}).counts
    b = driver.run(art, 500, 1234, {}, {}).counts
    c = driver.run(art, 500, 99, {}, {}).counts
    assert a == b
    assert a != c


def test_seed_generated_and_recorded(bell_artifact: Artifact) -> None:
    driver = get_backend("qiskit_aer")
    first = driver.run(bell_artifact, 300, None, {}, {})
    assert isinstance(first.seed, int)
    again = driver.run(bell_artifact, 300, first.seed, {}, {})
    assert again.counts == first.counts


@pytest.mark.parametrize("name", IDEAL + ["fake_manila"])
def test_parameter_binding(name: str) -> None:
    from qiskit import QuantumCircuit
    from qiskit.circuit import Parameter

    theta = Parameter("theta")
    qc = QuantumCircuit(1)
    qc.rx(theta, 0)
    qc.measure_all()
    art = qpy_artifact(qc)
    opts = {"noise": False} if "fake" in name else {}
    assert get_backend(name).run(art, 100, 5, {"theta": math.pi}, opts).counts == {"1": 100}
    assert get_backend(name).run(art, 100, 5, {"theta": 0.0}, opts).counts == {"0": 100}


def test_cirq_symbol_binding_everywhere() -> None:
    import cirq
    import sympy

    q = cirq.LineQubit(0)
    art = cirq_artifact(cirq.Circuit([cirq.rx(sympy.Symbol("theta"))(q), cirq.measure(q, key="m")]))
    for name in IDEAL:
        assert get_backend(name).run(art, 64, 1, {"theta": math.pi}, {}).counts == {"1": 64}, name


def test_bad_parameters() -> None:
    from qiskit import QuantumCircuit
    from qiskit.circuit import Parameter

    qc = QuantumCircuit(1)
    qc.rx(Parameter("theta"), 0)
    qc.measure_all()
    art = qpy_artifact(qc)
    with pytest.raises(BackendError) as missing:
        get_backend("qiskit_aer").run(art, 10, 1, {}, {})
    assert missing.value.error_class == "parse_error" and "theta" in missing.value.message
    with pytest.raises(BackendError) as wrong:
        get_backend("qiskit_aer").run(art, 10, 1, {"theta": "abc"}, {})
    assert wrong.value.error_class == "parse_error"


@pytest.mark.parametrize("name", ["qiskit_aer", "cirq_simulator", "pennylane_default", "pennylane_lightning"])
def test_statevector_option(name: str, bell_artifact: Artifact) -> None:
    result = get_backend(name).run(bell_artifact, 10, 1, {}, {"statevector": True})
    sv = result.statevector
    assert sv is not None and len(sv) == 4
    amp = 1 / math.sqrt(2)
    assert sv[0][0] == pytest.approx(amp, abs=1e-6) and sv[3][0] == pytest.approx(amp, abs=1e-6)
    assert abs(sv[1][0]) < 1e-9 and abs(sv[2][0]) < 1e-9
    # Qiskit order: X on qubit 0 → amplitude at index 1.
    sv_x = get_backend(name).run(qpy_artifact(x0_qiskit()), 10, 1, {}, {"statevector": True}).statevector
    assert sv_x[1][0] == pytest.approx(1.0)


def test_aer_statevector_method_and_memory(bell_artifact: Artifact) -> None:
    result = get_backend("qiskit_aer").run(bell_artifact, 20, 3, {}, {"method": "statevector", "memory": True})
    assert result.metrics["method"] == "statevector"
    assert result.memory is not None and len(result.memory) == 20 and set(result.memory) <= {"00", "11"}


def test_unknown_option_rejected(bell_artifact: Artifact) -> None:
    with pytest.raises(BackendError, match="unknown option"):
        get_backend("qiskit_aer").run(bell_artifact, 10, 1, {}, {"bogus": 1})


def test_fake_device_noisy_counts() -> None:
    from qiskit import QuantumCircuit

    qc = QuantumCircuit(3)
    qc.h(0)
    qc.cx(0, 1)
    qc.cx(1, 2)
    qc.measure_all()
    result = get_backend("fake_manila").run(qpy_artifact(qc), 4000, 11, {}, {})
    counts = result.counts
    assert sum(counts.values()) == 4000
    assert counts["000"] + counts["111"] > 3000
    assert set(counts) - {"000", "111"}, "an emulated device should show noise"
    assert result.metrics["noise"] != "ideal"


def test_fake_device_refuses_too_many_qubits() -> None:
    from qiskit import QuantumCircuit

    qc = QuantumCircuit(6)
    qc.h(range(6))
    qc.measure_all()
    with pytest.raises(BackendError) as err:
        get_backend("fake_manila").run(qpy_artifact(qc), 10, 1, {}, {})
    assert "limit of 5" in err.value.message


def test_calibration_fields() -> None:
    cal = get_backend("fake_manila").calibration()
    assert cal is not None and cal["num_qubits"] == 5 and len(cal["qubits"]) == 5
    q0 = cal["qubits"][0]
    assert q0["t1_us"] > 0 and q0["t2_us"] > 0 and 0 < q0["readout_error"] < 1
    cx = [g for g in cal["gates"] if g["gate"] == "cx"]
    assert cx and all(g["error"] is not None and g["duration_ns"] > 0 for g in cx)
    assert [0, 1] in cal["coupling_map"]
    assert get_backend("qiskit_aer").calibration() is None


async def test_fetch_calibration_subprocess() -> None:
    from qubithub_lite.backends.calibration import fetch_calibration

    assert await fetch_calibration("cirq_simulator") is None
    cal = await fetch_calibration("fake_quito")
    assert cal is not None and cal["backend"] == "fake_quito" and len(cal["qubits"]) == 5


def test_memory_check_refuses_40_qubits() -> None:
    from qiskit import QuantumCircuit

    assert statevector_bytes(40) == 16 * 2**40
    with pytest.raises(BackendError) as err:
        check_memory(40)
    assert err.value.error_class == "quota_exceeded" and "40-qubit" in err.value.message
    qc = QuantumCircuit(40)
    qc.h(range(40))
    qc.t(range(40))  # non-Clifford: Aer would need a dense statevector
    qc.measure_all()
    art = qpy_artifact(qc)
    for name in ("qiskit_aer", "pennylane_default"):
        with pytest.raises(BackendError) as err:
            get_backend(name).run(art, 10, 1, {}, {})
        assert err.value.error_class == "quota_exceeded"


def test_memory_cap_env(monkeypatch: pytest.MonkeyPatch, bell_artifact: Artifact) -> None:
    monkeypatch.setenv("QUBITHUB_SIM_MEMORY_CAP_BYTES", "1000")
    from qiskit import QuantumCircuit

    qc = QuantumCircuit(10)
    qc.t(range(10))
    qc.measure_all()
    with pytest.raises(BackendError, match="allowed"):
        get_backend("cirq_simulator").run(qpy_artifact(qc), 10, 1, {}, {})


def test_clifford_40_qubits_runs_on_stabilizer() -> None:
    from qiskit import QuantumCircuit

    qc = QuantumCircuit(40)
    qc.h(0)
    for i in range(39):
        qc.cx(i, i + 1)
    qc.measure_all()
    result = get_backend("qiskit_aer").run(qpy_artifact(qc), 100, 1, {}, {})
    assert set(result.counts) == {"0" * 40, "1" * 40}
    assert result.metrics["method"] == "stabilizer"


def test_unknown_backend() -> None:
    with pytest.raises(BackendError) as err:
        get_backend("no_such_backend")
    assert err.value.error_class == "backend_unavailable" and "qiskit_aer" in err.value.message


def test_validate_choice_names_valid_backends() -> None:
    assert validate_choice("qiskit", "fake_manila", "emulation").name == "fake_manila"
    with pytest.raises(BackendError, match="not 'simulation'"):
        validate_choice("qiskit", "fake_manila", "simulation")
    assert "cirq_simulator" in backends_for("cirq", "simulation")
    assert [d.name for d in available_backends(include_unavailable=False)]


def test_cross_framework_refused_with_clear_message() -> None:
    from qiskit import QuantumCircuit

    qc = QuantumCircuit(2, 2)
    qc.h(0)
    qc.measure(0, 0)
    with qc.if_test((qc.clbits[0], 1)):
        qc.x(1)
    qc.measure(1, 1)
    art = qpy_artifact(qc)
    assert set(get_backend("qiskit_aer").run(art, 200, 1, {}, {}).counts) == {"00", "11"}
    for name in ("cirq_simulator", "pennylane_default"):
        with pytest.raises(BackendError) as err:
            get_backend(name).run(art, 10, 1, {}, {})
        assert err.value.error_class == "parse_error"
        assert "What works" in err.value.message


def test_sandbox_only_pennylane_refused_on_qiskit() -> None:
    art = Artifact("pennylane-in-sandbox", b"", "pennylane")
    for name in ("qiskit_aer", "cirq_simulator", "pennylane_default"):
        with pytest.raises(BackendError, match="sandbox"):
            get_backend(name).run(art, 10, 1, {}, {})


def test_cirq_to_qiskit_conversion_on_aer() -> None:
    import cirq

    q = cirq.LineQubit.range(3)
    circuit = cirq.Circuit([cirq.H(q[0]), cirq.CNOT(q[0], q[1]), cirq.CNOT(q[1], q[2]), cirq.measure(*q, key="z")])
    counts = get_backend("qiskit_aer").run(cirq_artifact(circuit), 500, 2, {}, {}).counts
    assert set(counts) == {"000", "111"}


def test_expected_output_check() -> None:
    check = check_expected_output({"00": 510, "11": 490, "01": 24}, ["00", "11"], [0.35, 0.65])
    assert check["passed"] and check["dominant_states_found"] == ["00", "11"]
    assert check["probability"] == pytest.approx(1000 / 1024, abs=1e-6)
    bad = check_expected_output({"00": 1000}, ["00", "11"], [0.9, 1.0])
    assert not bad["passed"] and bad["missing_states"] == ["11"]
    out_of_range = check_expected_output({"00": 50, "01": 50}, ["00"], [0.9, 1.0])
    assert not out_of_range["passed"] and not out_of_range["probability_in_range"]


def test_expected_output_range_applies_to_each_dominant_state() -> None:
    # A perfect Bell run: each state ~0.5 lies in [0.35, 0.65] although their sum (1.0) does not.
    bell = check_expected_output({"00": 502, "11": 522}, ["00", "11"], [0.35, 0.65])
    assert bell["passed"] and bell["probability_in_range"] and bell["states_out_of_range"] == []
    # One state outside the range fails the check and is named.
    lopsided = check_expected_output({"00": 800, "11": 224}, ["00", "11"], [0.35, 0.65])
    assert not lopsided["passed"] and lopsided["states_out_of_range"] == ["00", "11"]
    skewed = check_expected_output({"00": 400, "11": 300, "01": 324}, ["00", "11"], [0.3, 0.65])
    assert not skewed["passed"] and skewed["states_out_of_range"] == ["11"]
    # The published example: ["0011", "1100"] with [0.35, 0.65].
    example = check_expected_output({"0011": 4900, "1100": 5100}, ["0011", "1100"], [0.35, 0.65])
    assert example["passed"]


async def test_a_burst_of_calibration_requests_starts_one_process(monkeypatch) -> None:
    """Twenty students asking for an uncached device's calibration at once: one Python is
    started (each imports qiskit), and all twenty get its answer."""
    import asyncio

    from qubithub_lite.backends import calibration

    monkeypatch.setattr(calibration, "_cache", {})
    started = []
    real = asyncio.create_subprocess_exec

    async def counting(*args, **kw):
        started.append(args)
        return await real(*args, **kw)

    monkeypatch.setattr(calibration.asyncio, "create_subprocess_exec", counting)
    answers = await asyncio.gather(*(calibration.fetch_calibration("fake_lima") for _ in range(20)))
    assert len(started) == 1
    assert all(a == answers[0] for a in answers) and answers[0]["backend"] == "fake_lima"
