"""Short run ids: a unique prefix (≥ 8 characters) of a run the caller may see."""

from __future__ import annotations

from qubithub_lite.db.runs import Run
from tests.runs.helpers import QASM3, make_circuit, submit, wait_run


async def _twin(hub, run_id: str, circuit_id: str, user_id: str) -> str:
    """Store a finished run whose id shares the first 9 characters of ``run_id``."""
    tail = "0" if run_id[9] != "0" else "1"
    twin = run_id[:9] + tail + run_id[10:]
    await hub.db.execute(Run.insert(id=twin, circuit=circuit_id, user=user_id, backend_type="simulator",
                                    backend_name="qiskit_aer", status="completed", shots=1))
    return twin


async def test_prefix_answers_as_the_full_id_and_ambiguity_is_409(client, hub, alice, bob):
    circuit = await make_circuit(client, alice, "short", {"prog.qasm": QASM3}, framework="openqasm3")
    run = await wait_run(client, alice, (await submit(client, alice, circuit["id"], shots=10))["id"])
    full = await (await client.get(f"/runs/{run['id']}", headers=alice.headers)).json()
    resp = await client.get(f"/runs/{run['id'][:8]}", headers=alice.headers, allow_redirects=False)
    assert resp.status == 200 and await resp.json() == full
    assert (await client.get(f"/runs/{run['id'][:8].upper()}", headers=alice.headers)).status == 200
    # too short, or no match: 404
    assert (await client.get(f"/runs/{run['id'][:7]}", headers=alice.headers)).status == 404
    other = ("0" if run["id"][0] != "0" else "1") + run["id"][1:8]
    assert (await client.get(f"/runs/{other}", headers=alice.headers)).status == 404

    # a twin on bob's private circuit is invisible to alice: her prefix stays unique
    private = await make_circuit(client, bob, "hidden", {"prog.qasm": QASM3}, framework="openqasm3", is_public=False)
    hidden = await _twin(hub, run["id"], private["id"], bob.id)
    resp = await client.get(f"/runs/{run['id'][:9]}", headers=alice.headers)
    assert resp.status == 200 and (await resp.json())["id"] == run["id"]
    # ... but bob sees both (his own run and alice's public one): 409 naming both, no redirect
    resp = await client.get(f"/runs/{run['id'][:9]}", headers=bob.headers, allow_redirects=False)
    body = await resp.json()
    assert resp.status == 409 and run["id"] in body["detail"] and hidden in body["detail"]
    resp = await client.delete(f"/runs/{run['id'][:9]}", headers=bob.headers)
    assert resp.status == 409
    assert (await client.get(f"/runs/{hidden}", headers=bob.headers)).status == 200

    # a longer prefix disambiguates; DELETE by prefix deletes the finished run
    longer = run["id"][:10]
    assert (await client.get(f"/runs/{longer}", headers=bob.headers)).status == 200
    assert (await client.delete(f"/runs/{run['id'][:8]}", headers=bob.headers)).status == 409
    resp = await client.delete(f"/runs/{longer}", headers=alice.headers)
    assert resp.status == 204
    assert (await client.get(f"/runs/{run['id']}", headers=alice.headers)).status == 404
    # bob's twin is now the only run with that prefix bob can see
    resp = await client.get(f"/runs/{run['id'][:8]}", headers=bob.headers)
    assert resp.status == 200 and (await resp.json())["id"] == hidden
