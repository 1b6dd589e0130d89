import pytest

from qubithub_lite.db.models import AuditLog
from tests.runs.helpers import (
    BELL, CIRQ, PARAM, PENNYLANE, QASM3, SHAPED, make_circuit, manifest, run_circuit, submit, wait_run,
)


async def test_bell_run_lifecycle_results_and_metrics(client, hub, alice):
    circuit = await make_circuit(client, alice, "bell", {"circuit.py": BELL})
    created = await submit(client, alice, circuit["id"], shots=500, seed=7)
    assert created["status"] == "pending" and created["backend_name"] == "qiskit_aer" and created["seed"] == 7
    run = await wait_run(client, alice, created["id"])
    assert run["status"] == "completed", run
    counts = run["results"]["counts"]
    assert set(counts) <= {"00", "11"} and sum(counts.values()) == 500
    assert run["results"]["seed"] == 7
    m = run["metrics"]
    for key in ("execution_time_ms", "transpilation_time_ms", "queue_time_ms"):
        assert isinstance(m[key], (int, float)) and m[key] >= 0
    assert m["compile_cache"] == "miss" and m.get("method")
    assert run["started_at"] and run["completed_at"] and run["circuit_name"] == "alice/bell"
    actions = [a.action for a in await hub.db.list(
        AuditLog.select().where(AuditLog.target_id == created["id"]).order_by(AuditLog.created_at))]
    assert actions == ["run.created", "run.queued", "run.running", "run.completed"]
    # Same seed -> identical counts; the second run skips the sandbox (compile cache).
    again = await run_circuit(client, alice, circuit["id"], shots=500, seed=7)
    assert again["results"]["counts"] == counts
    assert again["metrics"]["compile_cache"] == "hit"
    detail = await (await client.get(f"/circuits/{circuit['id']}")).json()
    assert detail["runs_count"] == 2


async def test_other_users_reuse_the_compiled_artifact(client, alice, bob):
    circuit = await make_circuit(client, alice, "shared", {"circuit.py": BELL})
    first = await run_circuit(client, alice, circuit["id"])
    assert first["metrics"]["compile_cache"] == "miss"
    second = await run_circuit(client, bob, circuit["id"])
    assert second["status"] == "completed" and second["metrics"]["compile_cache"] == "hit"


async def test_parameters_bind_after_the_cache(client, alice):
    circuit = await make_circuit(client, alice, "param", {"circuit.py": PARAM}, qubits=1)
    one = await run_circuit(client, alice, circuit["id"], parameters={"theta": 3.141592653589793}, shots=200)
    assert one["results"]["counts"] == {"1": 200}
    zero = await run_circuit(client, alice, circuit["id"], parameters={"theta": 0.0}, shots=200)
    assert zero["results"]["counts"] == {"0": 200}
    assert zero["metrics"]["compile_cache"] == "hit"
    missing = await run_circuit(client, alice, circuit["id"], shots=10)
    assert missing["status"] == "failed" and "theta" in missing["error_message"]


async def test_keyword_arguments_shape_the_circuit(client, alice):
    circuit = await make_circuit(client, alice, "shaped", {"circuit.py": SHAPED}, qubits=3)
    for n, counts in ((3, {"111": 20}), (2, {"11": 20})):
        run = await run_circuit(client, alice, circuit["id"], parameters={"n": n}, shots=20)
        assert run["results"]["counts"] == counts
    three_again = await run_circuit(client, alice, circuit["id"], parameters={"n": 3}, shots=20)
    assert three_again["metrics"]["compile_cache"] == "hit"


async def test_cirq_openqasm3_and_pennylane(client, alice):
    cirq_c = await make_circuit(client, alice, "cirq-x", {"circuit.py": CIRQ}, framework="cirq")
    qasm_c = await make_circuit(client, alice, "qasm-x", {"circuit.qasm": QASM3}, framework="openqasm3")
    pl_c = await make_circuit(client, alice, "pl-bell", {"circuit.py": PENNYLANE}, framework="pennylane")
    cirq_run = await submit(client, alice, cirq_c["id"], backend_name="cirq_simulator", shots=50)
    qasm_run = await submit(client, alice, qasm_c["id"], shots=50)
    pl_run = await submit(client, alice, pl_c["id"], backend_name="pennylane_default", shots=100)
    cirq_done = await wait_run(client, alice, cirq_run["id"])
    assert cirq_done["results"]["counts"] == {"01": 50}, cirq_done  # X on qubit 0, qubit 0 rightmost
    qasm_done = await wait_run(client, alice, qasm_run["id"])
    assert qasm_done["results"]["counts"] == {"01": 50}, qasm_done
    assert qasm_done["metrics"]["artifact_kind"] == "qasm3"
    pl_done = await wait_run(client, alice, pl_run["id"], timeout=180)
    assert pl_done["status"] == "completed", pl_done
    assert set(pl_done["results"]["counts"]) <= {"00", "11"} and sum(pl_done["results"]["counts"].values()) == 100


async def test_expected_output_check(client, alice):
    files = {"circuit.py": BELL, "qubithub.toml": manifest("checked", "qiskit", "circuit.py", 2,
                                                           '[expected_output]\ndominant_states = ["00", "11"]\nprobability_range = [0.3, 0.7]\n')}
    circuit = await make_circuit(client, alice, "checked", files)
    run = await run_circuit(client, alice, circuit["id"], shots=300)
    check = run["results"]["expected_output_check"]
    assert check["passed"] is True and set(check["dominant_states_found"]) == {"00", "11"}
    # The range applies to each dominant state (~0.5 each here), not to their sum (1.0).
    assert all(0.3 <= p <= 0.7 for p in check["state_probabilities"].values()), check


@pytest.mark.parametrize(
    "source, error_class, needle",
    [
        ("def create_circuit():\n    return None\n", "parse_error", "None"),
        ("def create_circuit():\n    raise RuntimeError('boom in user code')\n", "parse_error", "boom in user code"),
        ("def create_circuit(:\n", "parse_error", "SyntaxError"),
        ("import socket\nsocket.create_connection(('1.1.1.1', 80), timeout=2)\n", "parse_error", ""),
        ("x = 1\n", "parse_error", ""),
    ],
)
async def test_bad_circuit_files_fail_with_a_class(client, alice, source, error_class, needle):
    circuit = await make_circuit(client, alice, "bad", {"circuit.py": source})
    run = await run_circuit(client, alice, circuit["id"])
    assert run["status"] == "failed"
    assert run["error_class"] == error_class and needle in run["error_message"]


async def test_bad_submissions(client, alice, bob):
    circuit = await make_circuit(client, alice, "bell", {"circuit.py": BELL})
    cid = circuit["id"]
    cases = [
        ({"circuit_id": cid, "backend_name": "no_such_backend"}, "no_such_backend"),
        ({"circuit_id": cid, "backend_name": "cirq_simulator", "backend_type": "emulation"}, "valid choices"),
        ({"circuit_id": cid, "shots": 0}, "shots"),
        ({"circuit_id": cid, "shots": 100_001}, "shots"),
        ({"circuit_id": cid, "parameters": {"theta": {"nested": 1}}}, "parameters"),
        ({"circuit_id": cid, "parameters": {"bad name": 1}}, "identifier"),
        ({"circuit_id": cid, "backend_type": "quantum-magic"}, "backend_type"),
        ({"circuit_id": cid, "options": {"nonsense": True}}, "nonsense"),
    ]
    for body, needle in cases:
        resp = await client.post("/runs", json=body, headers=alice.headers)
        assert resp.status == 400, (body, await resp.text())
        assert needle in (await resp.json())["detail"], body
    assert (await client.post("/runs", json={"circuit_id": "00000000-0000-0000-0000-000000000000"}, headers=alice.headers)).status == 404
    big = await make_circuit(client, alice, "too-big", {"circuit.py": BELL}, qubits=200)
    resp = await client.post("/runs", json={"circuit_id": big["id"]}, headers=alice.headers)
    assert resp.status == 400 and "qubits" in (await resp.json())["detail"]
    empty = await client.post("/circuits", json={"name": "empty", "title": "e", "framework": "qiskit"}, headers=alice.headers)
    resp = await client.post("/runs", json={"circuit_id": (await empty.json())["id"]}, headers=alice.headers)
    assert resp.status == 400 and "no uploaded files" in (await resp.json())["detail"]
    assert (await client.post("/runs", json={"circuit_id": cid})).status == 401


async def test_too_many_qubits_at_run_time_fails_fast(client, alice):
    wide = "from qiskit import QuantumCircuit\n\ndef create_circuit():\n    qc = QuantumCircuit(40)\n    qc.h(range(40))\n    qc.measure_all()\n    return qc\n"
    circuit = await make_circuit(client, alice, "wide", {"circuit.py": wide}, qubits=2)
    run = await run_circuit(client, alice, circuit["id"], options={"method": "statevector"})
    assert run["status"] == "failed" and run["error_class"] == "quota_exceeded", run


async def test_private_circuit_runs_are_invisible(client, alice, bob):
    circuit = await make_circuit(client, alice, "secret", {"circuit.py": BELL}, is_public=False)
    assert (await client.post("/runs", json={"circuit_id": circuit["id"]}, headers=bob.headers)).status == 404
    run = await submit(client, alice, circuit["id"])
    assert (await client.get(f"/runs/{run['id']}", headers=bob.headers)).status == 404
    assert (await client.get(f"/runs/{run['id']}")).status == 404
    assert (await client.delete(f"/runs/{run['id']}", headers=bob.headers)).status == 404
    assert (await client.get(f"/circuits/{circuit['id']}/runs", headers=bob.headers)).status == 404
    assert (await client.get(f"/runs/circuits/{circuit['id']}/stats", headers=bob.headers)).status == 404
    await wait_run(client, alice, run["id"])
    public = await make_circuit(client, alice, "open", {"circuit.py": BELL})
    prun = await submit(client, alice, public["id"])
    assert (await client.get(f"/runs/{prun['id']}")).status == 200  # anyone, circuit public
    assert (await client.delete(f"/runs/{prun['id']}", headers=bob.headers)).status == 403
    await wait_run(client, alice, prun["id"])


async def test_list_filters_stats_and_delete(client, alice):
    circuit = await make_circuit(client, alice, "bell", {"circuit.py": BELL})
    bad = await make_circuit(client, alice, "bad", {"circuit.py": "x = 1\n"})
    ids = [(await submit(client, alice, circuit["id"], shots=100))["id"] for _ in range(3)]
    bad_id = (await submit(client, alice, bad["id"], shots=50))["id"]
    for rid in ids + [bad_id]:
        await wait_run(client, alice, rid)
    listing = await (await client.get("/runs", params={"status": "completed", "limit": 2}, headers=alice.headers)).json()
    assert listing["total"] == 3 and listing["pages"] == 2 and len(listing["runs"]) == 2
    assert listing["runs"][0]["circuit_name"] == "alice/bell"
    by_circuit = await (await client.get("/runs", params={"circuit_id": bad["id"]}, headers=alice.headers)).json()
    assert [r["id"] for r in by_circuit["runs"]] == [bad_id] and by_circuit["runs"][0]["error_class"] == "parse_error"
    assert (await client.get("/runs", params={"status": "weird"}, headers=alice.headers)).status == 400
    stats = await (await client.get("/runs/users/me/stats", headers=alice.headers)).json()
    assert stats["total_runs"] == 4 and stats["completed_runs"] == 3 and stats["failed_runs"] == 1
    assert stats["total_shots"] == 350 and stats["success_rate"] == 75.0
    # Exact, whatever the run times: the average is the (6-decimal) total over the run count, rounded the
    # same way; the total is the completed runs' execution times within the 6-decimal rounding.
    assert stats["total_execution_time"] > 0 and stats["avg_execution_time"] == round(stats["total_execution_time"] / 4, 6)
    times = [(await (await client.get(f"/runs/{rid}", headers=alice.headers)).json())["metrics"]["execution_time_ms"]
             for rid in ids]
    assert stats["total_execution_time"] == pytest.approx(sum(times) / 1000.0, abs=1e-6)
    cstats = await (await client.get(f"/runs/circuits/{circuit['id']}/stats")).json()
    assert cstats["total_runs"] == 3 and cstats["completed_runs"] == 3
    circuit_runs = await (await client.get(f"/circuits/{circuit['id']}/runs")).json()
    assert circuit_runs["total"] == 3
    # Deleting a finished run removes it and its share of the aggregates; deleting again is fine.
    assert (await client.delete(f"/runs/{ids[0]}", headers=alice.headers)).status == 204
    assert (await client.get(f"/runs/{ids[0]}", headers=alice.headers)).status == 404
    assert (await client.delete(f"/runs/{ids[0]}", headers=alice.headers)).status == 204  # remembered (audit log)
    stats = await (await client.get("/runs/users/me/stats", headers=alice.headers)).json()
    assert stats["total_runs"] == 3 and stats["completed_runs"] == 2 and stats["total_shots"] == 250
    detail = await (await client.get(f"/circuits/{circuit['id']}")).json()
    assert detail["runs_count"] == 2


async def test_deleting_a_run_that_never_existed_is_404(client, alice, bob):
    assert (await client.delete("/runs/00000000-0000-4000-8000-000000000000", headers=alice.headers)).status == 404
    assert (await client.delete("/runs/not-a-uuid", headers=alice.headers)).status == 404
    circuit = await make_circuit(client, alice, "bell", {"circuit.py": BELL})
    run = await submit(client, alice, circuit["id"], shots=10)
    await wait_run(client, alice, run["id"])
    assert (await client.delete(f"/runs/{run['id']}", headers=alice.headers)).status == 204
    assert (await client.delete(f"/runs/{run['id']}", headers=alice.headers)).status == 204  # its submitter: remembered
    assert (await client.delete(f"/runs/{run['id']}", headers=bob.headers)).status == 404  # nobody else learns it existed


async def test_api_key_scopes(client, alice):
    circuit = await make_circuit(client, alice, "bell", {"circuit.py": BELL})
    read_key = (await (await client.post("/api-keys", json={"name": "r", "scopes": ["runs:read", "circuit:read"]},
                                         headers=alice.headers)).json())["key"]
    submit_key = (await (await client.post("/api-keys", json={"name": "s", "scopes": ["runs:submit", "runs:read"]},
                                           headers=alice.headers)).json())["key"]
    resp = await client.post("/runs", json={"circuit_id": circuit["id"]}, headers={"X-API-Key": read_key})
    assert resp.status == 403 and "runs:submit" in (await resp.json())["detail"]
    resp = await client.post("/runs", json={"circuit_id": circuit["id"]}, headers={"X-API-Key": submit_key})
    assert resp.status == 201
    run_id = (await resp.json())["id"]
    assert (await client.get(f"/runs/{run_id}", headers={"X-API-Key": read_key})).status == 200
    await wait_run(client, alice, run_id)


async def test_backends_api(client):
    body = await (await client.get("/api/backends")).json()
    names = {b["name"]: b for b in body["backends"]}
    for name in ("qiskit_aer", "fake_manila", "cirq_simulator", "pennylane_default", "pennylane_lightning"):
        assert name in names, name
    aer = names["qiskit_aer"]
    assert aer["type"] == "simulation" and aer["status"] == "online" and aer["max_qubits"] > 20
    assert "qiskit" in aer["frameworks"] and aer["queue_length"] == 0
    assert names["fake_manila"]["type"] == "emulation" and names["fake_manila"]["max_qubits"] == 5
    ideal = await client.get("/backends/qiskit_aer/calibration/latest")
    assert ideal.status == 404 and "ideal" in (await ideal.json())["detail"]
    assert (await client.get("/backends/nope/calibration/latest")).status == 404
    cal = await client.get("/backends/fake_manila/calibration/latest")
    assert cal.status == 200
    data = await cal.json()
    assert len(data["qubits"]) == 5 and data["qubits"][0]["t1_us"] > 0 and 0 <= data["qubits"][0]["readout_error"] < 1
    assert data["gates"] and "error" in data["gates"][0]


async def test_emulated_device_run_is_noisy(client, alice):
    circuit = await make_circuit(client, alice, "bell", {"circuit.py": BELL})
    run = await wait_run(client, alice, (await submit(client, alice, circuit["id"], backend_type="emulation",
                                                      backend_name="fake_manila", shots=4000, seed=3))["id"])
    assert run["status"] == "completed", run
    counts = run["results"]["counts"]
    assert sum(counts.values()) == 4000 and counts.get("00", 0) + counts.get("11", 0) > 3000
    assert counts.get("01", 0) + counts.get("10", 0) > 0  # noise model applied


async def test_statevector_option(client, alice):
    circuit = await make_circuit(client, alice, "bell", {"circuit.py": BELL})
    run = await run_circuit(client, alice, circuit["id"], options={"statevector": True})
    sv = run["results"]["statevector"]
    assert len(sv) == 4
    assert sum(re * re + im * im for re, im in sv) == pytest.approx(1.0, abs=1e-6)


class TestHangingCircuit:
    @pytest.fixture
    def settings(self, tmp_path):
        from tests.conftest import make_settings

        return make_settings(tmp_path, runs={"workers": 1, "compile_timeout_seconds": 3})

    async def test_hanging_circuit_py_times_out(self, client, alice):
        from tests.runs.helpers import SLEEPY

        circuit = await make_circuit(client, alice, "hang", {"circuit.py": SLEEPY, "sleep.json": "600"}, qubits=1)
        run = await wait_run(client, alice, (await submit(client, alice, circuit["id"]))["id"], timeout=60)
        assert run["status"] == "failed" and run["error_class"] == "sandbox_timeout", run
        assert "3 s" in run["error_message"]
