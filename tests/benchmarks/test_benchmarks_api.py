"""The /benchmarks routes end to end: real app, real SQLite, real simulator workers."""

from __future__ import annotations

import asyncio

import pytest

from qubithub_lite.db.benchmarks import BenchmarkCalibration, BenchmarkRun
from tests.conftest import make_settings
from tests.runs.helpers import example_source, make_circuit, wait_run

GHZ3_IDX = 1  # ghz-n3 in the ghz suite (sizes 2..8)
GHZ_QASM = example_source("ghz-qasm")
EMPTY_QASM = 'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[3] q;\nbit[3] c;\nc = measure q;\n'


@pytest.fixture
def settings(tmp_path):
    return make_settings(tmp_path, runs={"workers": 1, "compile_timeout_seconds": 30})


async def _run(client, user, query: str, status: int = 201) -> dict:
    resp = await client.post(f"/benchmarks/run?{query}", headers=user.headers)
    body = await resp.json()
    assert resp.status == status, body
    return body


async def _finish(client, user, submitted: dict) -> dict[str, dict]:
    done = await asyncio.gather(*(wait_run(client, user, r["id"]) for r in submitted["runs"]))
    return {r["backend_name"]: r for r in done}


async def _qasm_circuit(client, user, name: str, qasm: str, *, public: bool = True) -> dict:
    return await make_circuit(client, user, name, {"circuit.qasm": qasm}, framework="openqasm3", qubits=3,
                              is_public=public)


async def test_suites_and_suite_detail(client):
    resp = await client.get("/benchmarks/suites")
    assert resp.status == 200
    body = await resp.json()
    names = {s["name"] for s in body["suites"]}
    assert {"ghz", "bernstein-vazirani", "qft", "grover", "quantum-volume", "qaoa", "mirror"} <= names
    assert body["total"] == len(body["suites"])
    ghz = next(s for s in body["suites"] if s["name"] == "ghz")
    assert ghz["version"] and ghz["problems_count"] == 7 and "qiskit_aer" in ghz["backends"]
    assert set(ghz) == {"name", "title", "description", "version", "scoring", "problems_count", "backends"}

    detail = await (await client.get("/api/benchmarks/suites/ghz")).json()
    assert [p["index"] for p in detail["problems"]] == list(range(7))
    problem = detail["problems"][GHZ3_IDX]
    assert problem["id"] == "ghz-n3" and problem["qubits"] == 3
    circuit = problem["circuits"][0]
    assert circuit["qubits"] == 3 and circuit["two_qubit_gates"] == 2 and circuit["depth"] >= 3
    resp = await client.get("/benchmarks/suites/no-such-suite")
    assert resp.status == 404 and (await resp.json())["detail"]


async def test_submission_rules(client, alice, bob):
    # signed in, with the runs:submit scope
    assert (await client.post("/benchmarks/run?suite_name=ghz")).status == 401
    key = await (await client.post("/api-keys", json={"name": "ro", "scopes": ["runs:read"]}, headers=alice.headers)).json()
    resp = await client.post("/benchmarks/run?suite_name=ghz", headers={"X-API-Key": key["key"]})
    assert resp.status == 403 and "detail" in await resp.json()
    await _run(client, alice, "suite_name=nope", 404)
    await _run(client, alice, "problem_idx=0", 400)  # suite_name is required
    for bad in ("problem_idx=99", "problem_idx=-1", "circuit_idx=5", "backend=cirq_simulator",
                f"problem_idx=6&backend=fake_manila"):  # ghz-n8 does not fit the 5-qubit Manila
        body = await _run(client, alice, f"suite_name=ghz&{bad}", 400)
        assert body["detail"]
    # someone else's private circuit does not exist for the caller
    private = await _qasm_circuit(client, bob, "bob-ghz", GHZ_QASM, public=False)
    await _run(client, alice, f"suite_name=ghz&problem_idx={GHZ3_IDX}&circuit_id={private['id']}", 404)
    await _run(client, alice, f"suite_name=ghz&problem_idx={GHZ3_IDX}&circuit_id=00000000-0000-0000-0000-000000000000", 404)


async def test_ghz_scores_high_on_aer_lower_on_manila_and_the_leaderboard_orders_them(client, hub, alice, bob):
    submitted = await _run(client, alice, f"suite_name=ghz&problem_idx={GHZ3_IDX}")
    assert submitted["suite_name"] == "ghz" and submitted["problem_id"] == "ghz-n3"
    assert {r["backend_name"] for r in submitted["runs"]} == {"qiskit_aer", "fake_manila", "fake_nairobi"}
    assert all(r["status"] == "pending" and r["benchmark"] is None for r in submitted["runs"])
    done = await _finish(client, alice, submitted)
    assert all(r["status"] == "completed" for r in done.values()), done
    aer, manila = done["qiskit_aer"]["benchmark"], done["fake_manila"]["benchmark"]
    assert aer["score"] >= 0.98
    assert manila["score"] < aer["score"]
    for block in (aer, manila):
        assert block["suite_name"] == "ghz" and block["problem_id"] == "ghz-n3" and block["suite_version"]
        low, high = block["score_ci"]
        assert 0 <= low <= block["score"] <= high <= 1
        assert 0 < block["hellinger_fidelity"] <= 1
        t = block["transpiled"]
        assert len(t["hash"]) == 64 and t["depth"] >= 3 and t["two_qubit_gates"] >= 2
        assert set(t["features"]) == {"program_communication", "critical_depth", "entanglement_ratio", "parallelism",
                                      "liveness", "measurement"}
    # the server's score is the formula applied to the stored counts
    from qubithub_lite.services.benchmarks import scoring

    row = await BenchmarkRun.aget(BenchmarkRun.run == done["fake_manila"]["id"])
    assert manila["score"] == pytest.approx(scoring.score(done["fake_manila"]["results"]["counts"], row.ideal, 3)[0], abs=1e-6)
    assert "benchmark" not in done["fake_manila"]["results"]  # the worker's analysis is not left in the results
    # the emulated entry records its calibration snapshot; the ideal one has none
    assert aer["calibration"] is None
    snapshot = await BenchmarkCalibration.aget(BenchmarkCalibration.hash == manila["calibration"]["hash"])
    assert snapshot.backend_name == "fake_manila" and snapshot.data["num_qubits"] == 5 and snapshot.data["gates"]

    board = await (await client.get("/benchmarks/leaderboard/ghz/ghz-n3")).json()
    order = [e["backend_name"] for e in board["entries"]]
    assert order.index("qiskit_aer") < order.index("fake_manila")
    assert board["entries"][0]["rank"] == 1 and board["total"] == 3 and board["pages"] == 1
    scores = [e["score"] for e in board["entries"]]
    assert scores == sorted(scores, reverse=True)
    entry = board["entries"][0]
    assert entry["user"] == {"id": alice.id, "username": "alice"} and entry["run_id"] == done["qiskit_aer"]["id"]

    # a second user on the ideal simulator: statistically indistinguishable, so the same rank
    second = await _finish(client, bob, await _run(client, bob, f"suite_name=ghz&problem_idx={GHZ3_IDX}&backend=qiskit_aer"))
    board = await (await client.get("/benchmarks/leaderboard/ghz/ghz-n3?limit=2")).json()
    assert board["total"] == 4 and board["pages"] == 2
    ideal = [e for e in board["entries"] if e["backend_name"] == "qiskit_aer"]
    assert len(ideal) == 2 and {e["rank"] for e in ideal} == {1}
    page2 = await (await client.get("/benchmarks/leaderboard/ghz/ghz-n3?limit=2&page=2")).json()
    assert page2["entries"][-1]["rank"] > 1 and page2["entries"][-1]["backend_name"] in ("fake_manila", "fake_nairobi")

    # only the best entry per user and backend counts
    await _finish(client, bob, await _run(client, bob, f"suite_name=ghz&problem_idx={GHZ3_IDX}&backend=qiskit_aer"))
    board = await (await client.get("/benchmarks/leaderboard/ghz/ghz-n3")).json()
    assert board["total"] == 4

    # my-rank
    assert (await client.get("/benchmarks/leaderboard/ghz/ghz-n3/my-rank")).status == 401
    mine = await (await client.get("/benchmarks/leaderboard/ghz/ghz-n3/my-rank", headers=bob.headers)).json()
    assert mine["rank"] == 1 and mine["entry"]["user"]["username"] == "bob" and mine["total_entries"] == 4
    carol = await (await client.post("/auth/register", json={
        "email": "carol@example.org", "username": "carol", "password": "Qu4ntum!Leap#42", "name": "Carol"})).json()
    none = await (await client.get("/benchmarks/leaderboard/ghz/ghz-n3/my-rank",
                                   headers={"Authorization": f"Bearer {carol['access_token']}"})).json()
    assert none == {"rank": None, "entry": None, "total_entries": 4}
    assert (await client.get("/benchmarks/leaderboard/ghz/ghz-n9", headers=bob.headers)).status == 404
    assert (await client.get("/benchmarks/leaderboard/nope/ghz-n3/my-rank", headers=bob.headers)).status == 404

    # featured: the top five of ghz-n3 among others
    featured = await (await client.get("/benchmarks/leaderboard/featured")).json()
    ghz3 = next(b for b in featured["leaderboards"] if b["problem_id"] == "ghz-n3")
    assert ghz3["suite_name"] == "ghz" and ghz3["title"] and len(ghz3["entries"]) == 4

    # volumetric view: a (width, depth) cell per backend
    vol = await (await client.get("/benchmarks/volumetric/qiskit_aer")).json()
    assert vol["backend"] == "qiskit_aer" and len(vol["cells"]) == 1
    cell = vol["cells"][0]
    assert cell["width"] == 3 and cell["runs"] == 3 and cell["mean_score"] >= 0.98
    assert (await client.get("/benchmarks/volumetric/no-such-backend")).status == 404

    # export in metriq-gym's record format
    export = await (await client.get("/benchmarks/export?suite_name=ghz")).json()
    assert export["total"] == 5 and len(export["records"]) == 5
    record = next(r for r in export["records"] if r["params"]["run_id"] == done["fake_manila"]["id"])
    assert record["platform"]["device"] == "fake_manila" and record["job_type"]
    assert record["results"]["values"]["score"] == manila["score"]
    assert record["results"]["uncertainties"]["score"] > 0
    assert record["params"]["calibration_hash"] == manila["calibration"]["hash"]
    assert (await client.get("/benchmarks/export?suite_name=nope")).status == 404
    assert (await (await client.get("/benchmarks/export?suite_name=mirror")).json())["total"] == 0
    assert (await client.get("/benchmarks/export?limit=0")).status == 400

    # deleting a run removes its entry
    assert (await client.delete(f"/runs/{second['qiskit_aer']['id']}", headers=bob.headers)).status == 204
    mine = await (await client.get("/benchmarks/leaderboard/ghz/ghz-n3/my-rank", headers=bob.headers)).json()
    assert mine["entry"]["run_id"] != second["qiskit_aer"]["id"]


async def test_own_circuits_are_scored_and_private_ones_stay_hidden(client, alice, bob):
    mine = await _qasm_circuit(client, bob, "bob-ghz", GHZ_QASM, public=False)
    submitted = await _run(client, bob, f"suite_name=ghz&problem_idx={GHZ3_IDX}&circuit_id={mine['id']}&backend=qiskit_aer")
    (run,) = submitted["runs"]
    assert run["circuit_id"] == mine["id"]
    done = (await _finish(client, bob, submitted))["qiskit_aer"]
    assert done["benchmark"]["score"] >= 0.98
    # alice sees the entry but not bob's private circuit
    board = await (await client.get("/benchmarks/leaderboard/ghz/ghz-n3", headers=alice.headers)).json()
    (entry,) = board["entries"]
    assert entry["user"]["username"] == "bob" and entry["circuit_id"] is None
    own_view = await (await client.get("/benchmarks/leaderboard/ghz/ghz-n3", headers=bob.headers)).json()
    assert own_view["entries"][0]["circuit_id"] == mine["id"]
    # the run itself stays invisible to alice (its circuit is private)
    assert (await client.get(f"/runs/{done['id']}", headers=alice.headers)).status == 404

    # a circuit that transpiles to nothing is refused, and never reaches the leaderboard
    empty = await _qasm_circuit(client, alice, "empty", EMPTY_QASM)
    failed = (await _finish(client, alice, await _run(
        client, alice, f"suite_name=ghz&problem_idx={GHZ3_IDX}&circuit_id={empty['id']}&backend=qiskit_aer")))["qiskit_aer"]
    assert failed["status"] == "failed" and "transpiles to nothing" in failed["error_message"]
    assert failed["benchmark"] is None
    # a circuit measuring the wrong number of bits for the problem is refused too
    wide = await _qasm_circuit(client, alice, "wide", GHZ_QASM)
    failed = (await _finish(client, alice, await _run(
        client, alice, f"suite_name=ghz&problem_idx=2&circuit_id={wide['id']}&backend=qiskit_aer")))["qiskit_aer"]
    assert failed["status"] == "failed" and "scored on 4" in failed["error_message"]
    board = await (await client.get("/benchmarks/leaderboard/ghz/ghz-n3")).json()
    assert board["total"] == 1


async def test_known_ideal_of_mirror_circuits_and_suite_circuits_are_public(client, alice):
    done = await _finish(client, alice, await _run(client, alice, "suite_name=mirror&problem_idx=1&circuit_idx=1&backend=qiskit_aer"))
    run = done["qiskit_aer"]
    assert run["status"] == "completed" and run["benchmark"]["score"] >= 0.98
    assert run["benchmark"]["problem_id"] == "mirror-n3"
    # the suite circuit is an ordinary public OpenQASM 3 circuit of the benchmarks account
    circuit = await (await client.get(f"/circuits/{run['circuit_id']}")).json()
    assert circuit["framework"] == "openqasm3" and circuit["is_public"]
    assert circuit["owner"]["username"] == "qubithub-benchmarks"
    listed = await (await client.get("/orgs/qubithub-benchmarks/circuits")).json()
    assert run["circuit_id"] in [c["id"] for c in listed["circuits"]]
    # the same suite circuit is reused by the next submission
    again = await _run(client, alice, "suite_name=mirror&problem_idx=1&circuit_idx=1&backend=qiskit_aer")
    assert again["runs"][0]["circuit_id"] == run["circuit_id"]
    await _finish(client, alice, again)


@pytest.mark.parametrize("method,path,status", [
    ("post", "/benchmarks/run?suite_name=ghz&problem_idx=abc", 400),
    ("post", "/benchmarks/run?suite_name=%F0%9F%92%A5", 400),
    ("post", "/benchmarks/run?suite_name=" + "a" * 65, 400),
    ("post", "/benchmarks/run?suite_name=ghz&problem_idx=1&circuit_id=" + "x" * 36, 404),
    ("post", "/benchmarks/run?suite_name=ghz&problem_idx=1&circuit_id=" + "x" * 37, 400),
    ("post", "/benchmarks/run?suite_name=ghz&backend=..%2F..%2Fetc", 400),
    ("post", "/benchmarks/run?suite_name=ghz&problem_idx=99999999999999999999", 400),
    ("get", "/benchmarks/leaderboard/ghz/%00", 404),
    ("get", "/benchmarks/leaderboard/ghz/ghz-n3?page=0", 400),
    ("get", "/benchmarks/leaderboard/ghz/ghz-n3?limit=101", 400),
    ("get", "/benchmarks/volumetric/%F0%9F%92%A5", 404),
    ("get", "/benchmarks/export?page=1000000&limit=1000", 200),
    ("get", "/benchmarks/export?suite_name=", 400),
    ("get", "/benchmarks/suites/" + "x" * 300, 404),
])
async def test_hostile_input_gets_a_clear_error(client, alice, method, path, status):
    resp = await getattr(client, method)(path, headers=alice.headers)
    assert resp.status == status, await resp.text()
    body = await resp.json()
    assert ("detail" in body) == (status >= 400)


async def test_org_circuits_and_org_keys(client, alice, bob, make_user):
    """An organization's private circuit: its members may benchmark it and see its id on the
    leaderboard; strangers get 404 and see the entry without the id. Org keys need runs:submit."""
    org = await (await client.post("/orgs", json={"name": "Lab", "slug": "qlab"}, headers=alice.headers)).json()
    assert (await client.post(f"/orgs/{org['id']}/members", json={"email": bob.email}, headers=alice.headers)).status == 201
    carol = await make_user("carol")
    resp = await client.post("/circuits", json={"name": "lab-ghz", "title": "Lab GHZ", "framework": "openqasm3",
                                                 "qubits": 3, "is_public": False, "organization_name": "qlab"},
                             headers=alice.headers)
    circuit = await resp.json()
    import aiohttp

    form = aiohttp.FormData()
    form.add_field("files", GHZ_QASM.encode(), filename="circuit.qasm", content_type="application/octet-stream")
    assert (await client.post(f"/circuits/{circuit['id']}/upload-batch", data=form, headers=alice.headers)).status in (200, 201)
    query = f"suite_name=ghz&problem_idx={GHZ3_IDX}&circuit_id={circuit['id']}&backend=qiskit_aer"
    await _run(client, carol, query, 404)
    done = await _finish(client, bob, await _run(client, bob, query))
    assert done["qiskit_aer"]["benchmark"]["score"] >= 0.98

    keys = {}
    for name, scopes in (("submit", ["runs:submit", "runs:read"]), ("read", ["runs:read"])):
        resp = await client.post(f"/orgs/{org['id']}/keys", json={"name": name, "scopes": scopes}, headers=alice.headers)
        keys[name] = {"X-API-Key": (await resp.json())["key"]}
    resp = await client.post(f"/benchmarks/run?{query}", headers=keys["read"])
    assert resp.status == 403
    resp = await client.post(f"/benchmarks/run?{query}", headers=keys["submit"])
    assert resp.status == 201
    (run,) = (await resp.json())["runs"]
    assert run["user_id"] == alice.id  # an org key acts as the member who made it
    await wait_run(client, alice, run["id"])

    for viewer, sees in ((alice, True), (bob, True), (carol, False)):
        board = await (await client.get("/benchmarks/leaderboard/ghz/ghz-n3", headers=viewer.headers)).json()
        assert {e["user"]["username"] for e in board["entries"]} == {"alice", "bob"}
        assert all((e["circuit_id"] == circuit["id"]) is sees for e in board["entries"])
    anonymous = await (await client.get("/benchmarks/leaderboard/ghz/ghz-n3")).json()
    assert all(e["circuit_id"] is None for e in anonymous["entries"])
    mine = await (await client.get("/benchmarks/leaderboard/ghz/ghz-n3/my-rank", headers=keys["read"])).json()
    assert mine["entry"]["user"]["username"] == "alice"


async def test_a_run_is_published_with_the_block_it_stored(client, hub, alice):
    # The hooks remember what a submission and a completion wrote, so publishing a scored run
    # needs no read; what they serve must be what the database holds.
    from qubithub_lite.services.benchmarks.service import BenchmarkRunHooks

    submitted = await _run(client, alice, f"suite_name=ghz&problem_idx={GHZ3_IDX}&backend=fake_manila")
    run_id = submitted["runs"][0]["id"]
    async with client.ws_connect(f"/ws/runs/{run_id}?token={alice.access_token}") as ws:
        async for msg in ws:
            last = msg.json()
            if last["status"] in ("completed", "failed", "cancelled"):
                break
    assert last["status"] == "completed" and last["benchmark"]["score"] is not None
    if hub.db.is_sqlite:  # served from memory (PostgreSQL stores scores as single precision: read back)
        assert hub.benchmarks.hooks._scored[run_id][1] is not None
    from_db = await BenchmarkRunHooks(hub.db, hub.benchmarks.suites).block(await hub.runs.load(run_id))
    assert last["benchmark"] == from_db
    got = await (await client.get(f"/runs/{run_id}", headers=alice.headers)).json()
    assert got["benchmark"] == from_db
