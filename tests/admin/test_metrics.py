"""GET /metrics: Prometheus text format for site administrators (real app, real sandbox)."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.circuits.helpers import CIRCUIT_PY, create as create_circuit, upload
from tests.spaces.conftest import sandbox_driver  # noqa: F401  (fixture)
from tests.spaces.helpers import create_space


@pytest.fixture
async def admin(hub, make_user):
    teacher = await make_user("teacher")
    await hub.user_admin.set_admin("teacher", True)
    return teacher


async def scrape(client, headers) -> dict[tuple[str, tuple], float]:
    resp = await client.get("/metrics", headers=headers)
    assert resp.status == 200, await resp.text()
    assert resp.headers["Content-Type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(await resp.text()):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


async def test_metrics_only_for_site_admins_session_or_key(client, admin, alice):
    assert (await client.get("/metrics")).status == 401
    assert (await client.get("/metrics", headers=alice.headers)).status == 404  # invisible to non-admins
    resp = await client.post("/api-keys", json={"name": "prometheus", "scopes": ["runs:read"]}, headers=admin.headers)
    key = (await resp.json())["key"]
    assert "qubithub_run_queue_depth" in {name for name, _ in await scrape(client, {"X-API-Key": key})}


async def test_requests_by_route_and_status_with_latency(client, admin, alice):
    before = await scrape(client, admin.headers)
    for _ in range(3):
        assert (await client.get("/circuits")).status == 200
    assert (await client.get(f"/circuits/{alice.id}")).status == 404
    assert (await client.get("/no/such/place")).status == 404
    for verb in ("BREW", "PROPFIND", "X-ANY"):  # client-chosen methods must not grow the label set
        assert (await client.request(verb, "/circuits")).status in (400, 405)
    after = await scrape(client, admin.headers)

    def grew(name, **labels):
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0) - before.get(key, 0)

    assert grew("qubithub_http_requests_total", route="/circuits", method="GET", status="200") == 3
    assert grew("qubithub_http_requests_total", route="/circuits/{circuit_id}", method="GET", status="404") == 1
    assert grew("qubithub_http_requests_total", route="unmatched", method="GET", status="404") == 1
    assert grew("qubithub_http_request_duration_seconds_count", route="/circuits", method="GET") == 3
    assert not any("no/such" in str(labels) for _, labels in after)  # raw paths never become labels
    methods = {dict(labels).get("method") for name, labels in after if name == "qubithub_http_requests_total"}
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"} and "other" in methods
    assert ("qubithub_db_pool_connections", (("state", "size"),)) in after
    assert ("qubithub_worker_restarts_total", ()) in after


@pytest.mark.sandbox
async def test_sandbox_failures_by_class_and_runs_by_status(client, admin, alice, sandbox_driver):
    before = await scrape(client, admin.headers)
    space = await create_space(client, alice)
    resp = await client.post(f"/spaces/{space['id']}/execute", json={"code": "raise SystemExit(3)"},
                             headers=alice.headers)
    assert resp.status == 200, await resp.text()
    circuit = await create_circuit(client, alice, "bell")
    await upload(client, alice, circuit["id"], "circuit.py", CIRCUIT_PY)
    run = await (await client.post("/runs", json={"circuit_id": circuit["id"]}, headers=alice.headers)).json()
    assert (await client.delete(f"/runs/{run['id']}", headers=alice.headers)).status == 204
    after = await scrape(client, admin.headers)
    assert after[("qubithub_runs", (("backend", run["backend_name"]), ("status", "cancelled")))] == 1
    key = ("qubithub_sandbox_failures_total", (("class", "exit_error"),))
    assert after.get(key, 0) - before.get(key, 0) == 1
    assert after[("qubithub_run_queue_depth", ())] == 0
