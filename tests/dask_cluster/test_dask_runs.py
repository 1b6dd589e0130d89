"""Runs on a real Dask cluster (``dask scheduler`` + 2 ``dask worker`` processes started by the
test), submitted over HTTP to a hub with ``[runs] executor = "dask"``."""

from __future__ import annotations

import asyncio
import random
import time

import psutil
import pytest

from tests.runs.helpers import BELL, deep_circuit_source, make_circuit, manifest, submit, wait_run

pytestmark = [pytest.mark.quantum, pytest.mark.slow]

SLOW = deep_circuit_source(23, 150)


def dask_of(hub):
    from qubithub_lite.jobs.dask_executor import DaskExecutor

    executor = hub.run_queue.executor
    executor = getattr(executor, "isolated", executor)  # behind the hardware router
    assert isinstance(executor, DaskExecutor)
    return executor


async def cluster_stats(hub) -> dict[str, dict]:
    stats = await dask_of(hub).cluster_stats()
    assert all(isinstance(s, dict) for s in stats.values()), stats  # every worker has the plugin
    return stats


async def running_on_worker(hub, key: str, limit: float = 90) -> tuple[str, int]:
    """(worker address, host pid of the simulation process) once ``key`` runs there."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        for address, stats in (await cluster_stats(hub)).items():
            if key in stats["running_pids"]:
                return address, stats["running_pids"][key]
        await asyncio.sleep(0.2)
    raise AssertionError(f"{key} never ran on a Dask worker")


def process_tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


async def gone(processes: list[psutil.Process], limit: float = 15) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        alive = [p for p in processes if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        if not alive:
            return True
        await asyncio.sleep(0.1)
    return False


async def test_runs_complete_on_dask_workers_with_the_right_counts(client, hub, alice, dask_cluster):
    circuit = await make_circuit(client, alice, "bell", {"circuit.py": BELL})
    submitted = [await submit(client, alice, circuit["id"], shots=1000 + i) for i in range(4)]
    runs = [await wait_run(client, alice, run["id"]) for run in submitted]
    stats = await cluster_stats(hub)
    for i, run in enumerate(runs):
        assert run["status"] == "completed", run
        counts = run["results"]["counts"]
        assert set(counts) <= {"00", "11"} and sum(counts.values()) == 1000 + i, counts
        assert run["metrics"]["dask_worker"] in stats  # ran on one of the cluster's workers
        key = f"run-{run['id']}-1"  # one Dask task per attempt
        assert any(key in s["recent"] for s in stats.values()), (key, stats)
    executor = dask_of(hub).stats()
    assert executor["connected"] and executor["completed"] == 4 and executor["failed"] == 0, executor


async def test_worker_processes_are_isolated_like_local_ones(client, hub, alice):
    circuit = await make_circuit(client, alice, "bell", {"circuit.py": BELL})
    assert (await wait_run(client, alice, (await submit(client, alice, circuit["id"]))["id"]))["status"] == "completed"
    expected = hub.sandbox is not None and hub.sandbox.isolated  # what this machine's sandbox gives
    for stats in (await cluster_stats(hub)).values():
        assert stats["isolated"] is expected, stats
        if expected:
            assert "sandbox" in stats["launcher"] and "no network" in stats["launcher"]


async def test_artifact_cache_is_warm_in_each_worker(client, hub, alice):
    angle = random.uniform(0.1, 3.0)  # a circuit no earlier test loaded
    source = BELL.replace("    qc.measure(", f"    qc.rz({angle!r}, 0)\n    qc.measure(")
    circuit = await make_circuit(client, alice, "warm", {"circuit.py": source})
    before = await cluster_stats(hub)
    seen: set[str] = set()
    for _ in range(3):  # sequential: 3 runs on 2 workers, so some worker runs it again
        run = await wait_run(client, alice, (await submit(client, alice, circuit["id"]))["id"])
        assert run["status"] == "completed", run
        worker = run["metrics"]["dask_worker"]
        assert run["metrics"]["compile_cache_hit"] is (worker in seen), (run["metrics"], seen)
        seen.add(worker)
    after = await cluster_stats(hub)
    loads = sum(after[w]["artifact_loads"] - before[w]["artifact_loads"] for w in after)
    hits = sum(after[w]["artifact_hits"] - before[w]["artifact_hits"] for w in after)
    assert (loads, hits) == (len(seen), 3 - len(seen))  # a second run on a worker skipped the load
    assert hits >= 1


@pytest.fixture
async def slow_run(client, hub, alice):
    """Submit a long simulation with the given time limit; returns once it runs on a worker:
    (run, task key, worker address, the simulation's process tree, that worker's stats)."""
    async def start(timeout_seconds: int) -> tuple[dict, str, str, list[psutil.Process], dict]:
        files = {"circuit.py": SLOW,
                 "qubithub.toml": manifest("slow", "qiskit", "circuit.py", 23,
                                           f"[execution]\ntimeout_seconds = {timeout_seconds}\n")}
        circuit = await make_circuit(client, alice, f"slow-{timeout_seconds}", files, qubits=23)
        run = await submit(client, alice, circuit["id"])
        key = f"run-{run['id']}-1"
        worker, pid = await running_on_worker(hub, key)
        return run, key, worker, process_tree(pid), (await cluster_stats(hub))[worker]

    return start


async def test_timeout_is_enforced_on_the_worker(client, hub, alice, slow_run):
    run, key, worker, simulation, before = await slow_run(15)
    done = await wait_run(client, alice, run["id"], timeout=90)
    assert done["status"] == "failed" and done["error_class"] == "sandbox_timeout", done
    assert "time limit" in done["error_message"]
    assert await gone(simulation), "the simulation process outlived its time limit"
    stats = (await cluster_stats(hub))[worker]
    assert stats["timeouts"] == before["timeouts"] + 1 and key not in stats["running"]


async def test_cancel_of_a_running_run_stops_its_simulation(client, hub, alice, slow_run):
    run, key, worker, simulation, before = await slow_run(300)
    started = time.monotonic()
    assert (await client.delete(f"/runs/{run['id']}", headers=alice.headers)).status == 204
    done = await wait_run(client, alice, run["id"], timeout=15)
    assert done["status"] == "cancelled", done
    assert await gone(simulation), "the cancelled simulation kept running on the worker"
    assert time.monotonic() - started < 15
    deadline = time.monotonic() + 10
    stats = (await cluster_stats(hub))[worker]
    while stats["cancelled"] != before["cancelled"] + 1 and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        stats = (await cluster_stats(hub))[worker]
    assert stats["cancelled"] == before["cancelled"] + 1 and key not in stats["running"], stats

async def test_a_killed_api_process_leaves_no_simulation_running(dask_cluster, tmp_path):
    """kill -9 of the API process mid-run: the scheduler releases its task and the worker
    stops the simulation (Dask itself would let a running task go on)."""
    import signal

    import aiohttp
    from distributed import Client

    from qubithub_lite.jobs.dask_executor import worker_stats
    from tests.conftest import PASSWORD, start_server

    server = start_server(tmp_path / "live", {"QUBITHUB_LITE_RUNS_EXECUTOR": "dask",
                                              "QUBITHUB_LITE_RUNS_DASK_SCHEDULER": dask_cluster.address})
    try:
        async with aiohttp.ClientSession() as http, await Client(dask_cluster.address, asynchronous=True,
                                                                  set_as_default=False) as dask:
            resp = await http.post(server.url + "/auth/register", json={
                "email": "k@example.org", "username": "killer", "password": PASSWORD})
            headers = {"Authorization": f"Bearer {(await resp.json())['access_token']}"}
            resp = await http.post(server.url + "/circuits", headers=headers, json={
                "name": "slow", "title": "slow", "framework": "qiskit", "qubits": 23})
            circuit = await resp.json()
            form = aiohttp.FormData()
            form.add_field("files", SLOW.encode(), filename="circuit.py")
            assert (await http.post(f"{server.url}/circuits/{circuit['id']}/upload-batch", data=form,
                                    headers=headers)).status in (200, 201)
            resp = await http.post(server.url + "/runs", headers=headers, json={"circuit_id": circuit["id"]})
            assert resp.status == 201, await resp.text()
            key = f"run-{(await resp.json())['id']}-1"
            deadline, pid = time.monotonic() + 120, None
            while pid is None:
                assert time.monotonic() < deadline, "the run never started on a Dask worker"
                for stats in (await dask.run(worker_stats)).values():
                    pid = pid or (stats or {}).get("running_pids", {}).get(key)
                await asyncio.sleep(0.2)
            simulation = process_tree(pid)
            server.stop(signal.SIGKILL)
            assert await gone(simulation, limit=30), "the simulation outlived the API process that wanted it"
    finally:
        server.stop()
