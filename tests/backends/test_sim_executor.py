"""LocalProcessExecutor with real worker processes."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator

import pytest

from qubithub_lite.jobs.executor import LocalProcessExecutor, SimTask

from .conftest import bell_qiskit, qpy_artifact

pytestmark = pytest.mark.quantum


def slow_artifact() -> bytes:
    """A 22-qubit, non-Clifford, deep circuit: tens of seconds of statevector simulation."""
    from qiskit import QuantumCircuit

    n = 22
    qc = QuantumCircuit(n)
    for layer in range(80):
        for q in range(n):
            qc.rx(0.1 * (layer + q + 1), q)
        for q in range(n - 1):
            qc.cx(q, q + 1)
    qc.measure_all()
    return qpy_artifact(qc).data


@pytest.fixture
async def executor() -> AsyncIterator[LocalProcessExecutor]:
    ex = LocalProcessExecutor(workers=2, default_timeout=120)
    await ex.start()
    try:
        yield ex
    finally:
        await ex.close()


async def wait_running(ex: LocalProcessExecutor, task_id: str, limit: float = 30) -> None:
    deadline = time.monotonic() + limit
    while task_id not in ex._running:
        assert time.monotonic() < deadline, "task never started"
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.3)  # let the worker get into the simulation


async def test_run_bell(executor: LocalProcessExecutor) -> None:
    data = qpy_artifact(bell_qiskit()).data
    result = await executor.submit(SimTask("bell-1", "qiskit_aer", data, "qpy", shots=1000, seed=42))
    assert result.ok, result
    counts = result.results["counts"]
    assert set(counts) == {"00", "11"} and sum(counts.values()) == 1000
    assert result.results["seed"] == 42
    for key in ("execution_time_ms", "transpilation_time_ms", "method", "queue_wait_ms"):
        assert key in result.metrics
    again = await executor.submit(SimTask("bell-2", "qiskit_aer", data, "qpy", shots=1000, seed=42))
    assert again.results["counts"] == counts
    assert again.metrics["compile_cache_hit"] or again.metrics["worker_pid"] != result.metrics["worker_pid"]


async def test_many_tasks_and_failures_are_results(executor: LocalProcessExecutor) -> None:
    data = qpy_artifact(bell_qiskit()).data
    tasks = [SimTask(f"m{i}", "qiskit_aer", data, "qpy", shots=100) for i in range(40)]
    tasks.append(SimTask("unknown", "no_such_backend", data, "qpy"))
    tasks.append(SimTask("garbage", "qiskit_aer", b"not qpy", "qpy"))
    results = await asyncio.gather(*(executor.submit(t) for t in tasks))
    assert all(r.ok for r in results[:40])
    assert results[40].error_class == "backend_unavailable" and "qiskit_aer" in results[40].error_message
    assert results[41].error_class == "parse_error"
    assert executor.stats()["completed"] >= 40


async def test_cancel_running_simulation_is_prompt(executor: LocalProcessExecutor) -> None:
    job = asyncio.create_task(executor.submit(SimTask("slow", "qiskit_aer", slow_artifact(), "qpy", shots=10)))
    await wait_running(executor, "slow")
    old_pids = set(executor.stats()["worker_pids"])
    t0 = time.monotonic()
    assert await executor.cancel("slow")
    result = await asyncio.wait_for(job, 10)
    assert result.status == "cancelled"
    assert time.monotonic() - t0 < 5
    # The pool recovers with a fresh worker.
    data = qpy_artifact(bell_qiskit()).data
    after = await executor.submit(SimTask("after-cancel", "qiskit_aer", data, "qpy", shots=10))
    assert after.ok
    assert set(executor.stats()["worker_pids"]) != old_pids


async def test_cancel_queued_task() -> None:
    async with LocalProcessExecutor(workers=1) as ex:
        slow = asyncio.create_task(ex.submit(SimTask("blocker", "qiskit_aer", slow_artifact(), "qpy", shots=10)))
        await wait_running(ex, "blocker")
        data = qpy_artifact(bell_qiskit()).data
        queued = asyncio.create_task(ex.submit(SimTask("queued", "qiskit_aer", data, "qpy")))
        await asyncio.sleep(0.05)
        assert await ex.cancel("queued")
        assert (await asyncio.wait_for(queued, 5)).status == "cancelled"
        assert await ex.cancel("blocker")
        assert (await asyncio.wait_for(slow, 10)).status == "cancelled"
        assert not await ex.cancel("queued")  # already finished


async def test_killed_worker_reports_failure_and_pool_recovers(executor: LocalProcessExecutor) -> None:
    job = asyncio.create_task(executor.submit(SimTask("victim", "qiskit_aer", slow_artifact(), "qpy", shots=10)))
    await wait_running(executor, "victim")
    pid = executor._running["victim"].worker.pid
    os.kill(pid, signal.SIGKILL)
    result = await asyncio.wait_for(job, 10)
    assert result.status == "failed" and result.error_class == "internal_error"
    assert "crashed" in result.error_message
    data = qpy_artifact(bell_qiskit()).data
    results = await asyncio.gather(*(executor.submit(SimTask(f"r{i}", "qiskit_aer", data, "qpy")) for i in range(4)))
    assert all(r.ok for r in results)
    assert executor.stats()["alive"] == 2 and executor.stats()["restarts"] >= 1


async def test_timeout_fails_cleanly() -> None:
    async with LocalProcessExecutor(workers=1) as ex:
        t0 = time.monotonic()
        result = await ex.submit(SimTask("late", "qiskit_aer", slow_artifact(), "qpy", shots=10, timeout=1.0))
        assert result.status == "failed" and result.error_class == "sandbox_timeout"
        assert time.monotonic() - t0 < 6


async def test_other_frameworks_in_worker(executor: LocalProcessExecutor) -> None:
    import cirq

    q = cirq.LineQubit.range(2)
    data = cirq.to_json(cirq.Circuit([cirq.X(q[0]), cirq.measure(*q, key="m")])).encode()
    for backend in ("cirq_simulator", "pennylane_lightning", "qiskit_aer"):
        r = await executor.submit(SimTask(f"c-{backend}", backend, data, "cirq_json", shots=20, seed=1))
        assert r.ok, r
        assert r.results["counts"] == {"01": 20}
