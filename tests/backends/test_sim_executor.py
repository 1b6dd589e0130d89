"""LocalProcessExecutor with real worker processes."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from qubithub_lite.jobs.executor import LocalProcessExecutor, SimTask

from tests.runs.helpers import deep_circuit_source

from .conftest import bell_qiskit, qpy_artifact

pytestmark = pytest.mark.quantum


def slow_artifact() -> bytes:
    """A 22-qubit, non-Clifford, deep circuit: tens of seconds of statevector simulation."""
    namespace: dict = {}
    exec(deep_circuit_source(22, 80), namespace)
    return qpy_artifact(namespace["create_circuit"]()).data


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


def _gone(pid: int) -> bool:
    """The process exited and was reaped (or is a zombie on its way out)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except OSError:
        return True


async def wait_until(check, limit: float = 30) -> None:
    deadline = time.monotonic() + limit
    while not check():
        assert time.monotonic() < deadline, "condition never held"
        await asyncio.sleep(0.1)


async def test_idle_workers_exit_and_the_next_task_starts_one() -> None:
    data = qpy_artifact(bell_qiskit()).data
    async with LocalProcessExecutor(workers=2, idle_seconds=1.0) as ex:
        first = await ex.submit(SimTask("before-idle", "qiskit_aer", data, "qpy", shots=50, seed=3))
        assert first.ok
        pids = {first.metrics["worker_pid"], *ex.stats()["worker_pids"]}
        await wait_until(lambda: ex.stats()["worker_pids"] == [])
        await wait_until(lambda: all(_gone(pid) for pid in pids))
        again = await ex.submit(SimTask("after-idle", "qiskit_aer", data, "qpy", shots=50, seed=3))
        assert again.ok and again.results["counts"] == first.results["counts"]
        assert again.metrics["worker_pid"] not in pids


async def test_at_most_max_idle_workers_stay_warm() -> None:
    data = qpy_artifact(bell_qiskit()).data
    async with LocalProcessExecutor(workers=2, max_idle_workers=1) as ex:
        assert len(ex.stats()["worker_pids"]) == 1  # pre-starts only what it keeps
        results = await asyncio.gather(*(ex.submit(SimTask(f"m{i}", "qiskit_aer", data, "qpy", shots=20))
                                         for i in range(6)))
        assert all(r.ok for r in results)
        used = {r.metrics["worker_pid"] for r in results}
        assert len(used) == 2  # both run at once under load
        await wait_until(lambda: len(ex.stats()["worker_pids"]) == 1)
        stopped = used - set(ex.stats()["worker_pids"])
        await wait_until(lambda: all(_gone(pid) for pid in stopped))


async def test_workers_over_the_memory_budget_exit_and_the_next_task_starts_one() -> None:
    data = qpy_artifact(bell_qiskit()).data
    async with LocalProcessExecutor(workers=2, memory_budget_bytes=1) as ex:  # every worker is over
        first = await ex.submit(SimTask("fat", "qiskit_aer", data, "qpy", shots=20, seed=5))
        assert first.ok
        await wait_until(lambda: ex.stats()["worker_pids"] == [] and ex.stats()["evicted"] >= 2)
        await wait_until(lambda: _gone(first.metrics["worker_pid"]))
        again = await ex.submit(SimTask("lean", "qiskit_aer", data, "qpy", shots=20, seed=5))
        assert again.ok and again.results["counts"] == first.results["counts"]


async def test_workers_within_the_memory_budget_stay() -> None:
    data = qpy_artifact(bell_qiskit()).data
    async with LocalProcessExecutor(workers=2, memory_budget_bytes=64 << 30) as ex:
        for i in range(3):
            assert (await ex.submit(SimTask(f"b{i}", "qiskit_aer", data, "qpy", shots=20))).ok
        await asyncio.sleep(1)
        assert ex.stats()["evicted"] == 0 and len(ex.stats()["worker_pids"]) == 2
