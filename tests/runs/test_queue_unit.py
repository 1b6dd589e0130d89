"""The run queue on its own: ``RunQueue`` driven against a fake ``RunStore`` and a fake
executor (its own collaborators, named by ``jobs/scheduler.py``; never our database). These
pin the scheduling rules — fair order, the per-user cap, cancellation, recovery after a
restart, the graceful drain — without a server, a sandbox or a simulator."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
from types import SimpleNamespace

from qubithub_lite.jobs.compile import Prepared, RunFailure
from qubithub_lite.jobs.executor import SimResult
from qubithub_lite.jobs.queue import RunQueue
from qubithub_lite.jobs.scheduler import Fairness, SlotBoard
from qubithub_lite.run_status import RunStatus

_clock = itertools.count()


def _now() -> dt.datetime:
    return dt.datetime(2026, 1, 1) + dt.timedelta(seconds=next(_clock))


class FakeStore:
    """Runs in a dict, moved by the lifecycle rules of :class:`RunStatus`; every transition is recorded."""

    def __init__(self) -> None:
        self.runs: dict[str, SimpleNamespace] = {}
        self.transitions: list[tuple[str, str]] = []
        self.released = 0
        self.circuit = SimpleNamespace(id="c1", manifest={}, framework="qiskit")
        self.version = SimpleNamespace(id="v1")

    def add(self, run_id: str, user_id: str, status: RunStatus = RunStatus.QUEUED, attempts: int = 0):
        now = _now()
        run = SimpleNamespace(id=run_id, user_id=user_id, status=status.value, attempts=attempts, created_at=now,
                              queued_at=now, started_at=None, circuit_id="c1", circuit_version_id="v1",
                              backend_name="fake", shots=10, seed=1, parameters=None, options=None)
        self.runs[run_id] = run
        return run

    async def load(self, run_id):
        return self.runs.get(run_id)

    async def transition(self, run, new, **fields):
        run = self.runs.get(run if isinstance(run, str) else run.id)
        if run is None or not RunStatus(new).may_follow(run.status):
            return None
        self.transitions.append((run.id, RunStatus(new).value))
        run.status = RunStatus(new).value
        if new == RunStatus.RUNNING:
            run.started_at = _now()
            run.attempts += 1
        for key, value in fields.items():
            setattr(run, key, value)
        return run

    async def claim_next(self, fairness: Fairness):
        heads: dict[str, SimpleNamespace] = {}
        for run in sorted(self.runs.values(), key=lambda r: r.created_at):
            if run.status == RunStatus.QUEUED and run.user_id not in heads and fairness.eligible(run.user_id):
                heads[run.user_id] = run
        for run in sorted(heads.values(), key=lambda r: fairness.key(r.user_id, r.created_at)):
            return await self.transition(run, RunStatus.RUNNING)
        return None

    async def finish_and_claim(self, run, new, end, fairness, fields=None, owner=None):
        self.claims_with_an_end = getattr(self, "claims_with_an_end", 0) + 1
        await self.transition(run, new, **end)
        return await self.claim_next(fairness)

    async def interrupted(self):
        return [r for r in self.runs.values() if r.status in (RunStatus.PENDING, RunStatus.RUNNING)]

    async def circuit_and_version(self, run):
        return self.circuit, self.version

    async def analysis(self, run):
        return None

    @contextlib.asynccontextmanager
    async def idle(self):
        self.released += 1
        yield


class FakeCompiler:
    async def prepare(self, circuit, version, parameters, *, timeout):
        return Prepared(kind="qasm3", data=b"OPENQASM 3;", framework="qasm", num_qubits=1)


class FakeExecutor:
    """Each task waits until the test lets it finish (``finish``) or it is cancelled."""

    def __init__(self) -> None:
        self.started = False
        self.order: list[str] = []
        self.cancelled: list[str] = []
        self._gates: dict[str, asyncio.Future] = {}
        self.submitted = asyncio.Event()
        self.tasks: dict[str, object] = {}

    async def start(self):
        self.started = True

    async def close(self):
        pass

    async def submit(self, task):
        self.order.append(task.task_id)
        self.tasks[task.task_id] = task
        gate = self._gates.setdefault(task.task_id, asyncio.get_running_loop().create_future())
        self.submitted.set()
        return await gate

    def finish(self, run_id: str, status: str = RunStatus.COMPLETED.value, **kw) -> None:
        gate = self._gates.setdefault(run_id, asyncio.get_running_loop().create_future())
        gate.set_result(SimResult(run_id, status, results={"counts": {"0": 10}} if status == "completed" else None, **kw))

    async def cancel(self, task_id):
        self.cancelled.append(task_id)
        gate = self._gates.get(task_id)
        if gate is not None and not gate.done():
            gate.set_result(SimResult(task_id, RunStatus.CANCELLED.value))

    def stats(self):
        return {}


def _config(**kw):
    base = dict(workers=1, per_user_concurrency=1, prestart_workers=False, retry_interrupted=True,
                default_timeout_seconds=30.0, max_timeout_seconds=60.0)
    return SimpleNamespace(**{**base, **kw})


def _queue(store, executor, **config):
    board = SlotBoard(executor)
    return RunQueue(store, board, FakeCompiler(), executor, _config(**config)), board


def _one_run():
    """A store holding one queued run ``a0`` of alice, and a one-slot queue over it."""
    store, executor = FakeStore(), FakeExecutor()
    store.add("a0", "alice")
    queue, board = _queue(store, executor)
    return store, executor, queue, board


@contextlib.asynccontextmanager
async def serving(queue):
    await queue.start()
    try:
        yield queue
    finally:
        await queue.close()


async def _until(predicate, timeout=5.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


async def test_fair_order_serves_each_user_in_turn():
    store, executor = FakeStore(), FakeExecutor()
    for i in range(3):
        store.add(f"a{i}", "alice")
    store.add("b0", "bob")
    store.add("c0", "carol")
    queue, _ = _queue(store, executor)
    async with serving(queue):
        for expected in ("a0", "b0", "c0", "a1", "a2"):
            await _until(lambda: expected in executor.order)
            executor.finish(expected)
        await _until(lambda: all(r.status == RunStatus.COMPLETED for r in store.runs.values()))
    assert executor.order == ["a0", "b0", "c0", "a1", "a2"]
    assert executor.started
    assert store.runs["a0"].metrics["compile_cache"] == "miss" and store.runs["a0"].results["counts"] == {"0": 10}


async def test_per_user_cap_holds_with_free_slots():
    store, executor = FakeStore(), FakeExecutor()
    store.add("a0", "alice")
    store.add("a1", "alice")
    queue, board = _queue(store, executor, workers=2, per_user_concurrency=1)
    async with serving(queue):
        await _until(lambda: "a0" in executor.order)
        await asyncio.sleep(0.2)
        assert executor.order == ["a0"] and store.runs["a1"].status == RunStatus.QUEUED
        assert board.active_users == {"alice": 1}
        executor.finish("a0")
        await _until(lambda: "a1" in executor.order)
        executor.finish("a1")
        await _until(lambda: store.runs["a1"].status == RunStatus.COMPLETED)
    assert board.active_users == {} and board.active == {}


async def test_board_cancel_stops_the_running_task():
    store, executor, queue, board = _one_run()
    async with serving(queue):
        await _until(lambda: "a0" in executor.order)
        await store.transition("a0", RunStatus.CANCELLED)  # the service's half of a cancel
        await board.cancel("a0")
        await _until(lambda: "a0" not in board.active)
    assert executor.cancelled == ["a0"]
    assert store.runs["a0"].status == RunStatus.CANCELLED
    assert store.transitions == [("a0", "running"), ("a0", "cancelled")]


async def test_failures_are_reported_as_failed_transitions():
    store, executor, queue, _ = _one_run()
    async with serving(queue):
        await _until(lambda: "a0" in executor.order)
        executor.finish("a0", RunStatus.FAILED.value, error_class="quota_exceeded", error_message="too big")
        await _until(lambda: store.runs["a0"].status == RunStatus.FAILED)
    assert store.runs["a0"].error_class == "quota_exceeded" and store.runs["a0"].error_message == "too big"


async def test_compile_failure_fails_the_run_without_executing():
    class Refusing(FakeCompiler):
        async def prepare(self, *a, **kw):
            raise RunFailure("parse_error", "no circuit here")

    store, executor = FakeStore(), FakeExecutor()
    store.add("a0", "alice")
    board = SlotBoard(executor)
    queue = RunQueue(store, board, Refusing(), executor, _config())
    async with serving(queue):
        await _until(lambda: store.runs["a0"].status == RunStatus.FAILED)
    assert executor.order == [] and store.runs["a0"].error_class == "parse_error"


async def test_recovery_queues_pending_retries_running_once_and_fails_the_rest():
    store, executor = FakeStore(), FakeExecutor()
    store.add("p", "alice", RunStatus.PENDING)
    store.add("r1", "bob", RunStatus.RUNNING, attempts=1)
    store.add("r2", "carol", RunStatus.RUNNING, attempts=2)
    queue, _ = _queue(store, executor, workers=0)  # recovery only: no slot claims
    await queue.start()
    await queue.close()
    assert store.runs["p"].status == RunStatus.QUEUED
    assert store.runs["r1"].status == RunStatus.QUEUED
    assert store.runs["r2"].status == RunStatus.FAILED and store.runs["r2"].error_class == "internal_error"


async def test_drain_requeues_what_did_not_finish():
    store, executor, queue, _ = _one_run()
    async with serving(queue):
        await _until(lambda: "a0" in executor.order)
        finished, requeued = await queue.drain(timeout=0.1)
    assert (finished, requeued) == (0, 1)
    assert store.runs["a0"].status == RunStatus.QUEUED and store.runs["a0"].attempts == 0


async def test_an_idle_slot_woken_through_the_board_claims_the_new_run():
    store, executor = FakeStore(), FakeExecutor()
    queue, board = _queue(store, executor)
    async with serving(queue):
        await _until(lambda: store.released > 0)  # the slot found nothing and waits for a wake
        store.add("a0", "alice")
        board.wake()
        await asyncio.wait_for(executor.submitted.wait(), timeout=30)
    assert executor.order == ["a0"] and board.service_order() == {"alice": 1}


async def test_the_queue_caps_the_time_limit_a_manifest_asks_for():
    """The one cap on a run's time limit: ``[runs] max_timeout_seconds`` (60 s here), applied
    by the queue to what the manifest asks; the executor receives the capped limit."""
    store, executor, queue, _ = _one_run()
    store.circuit.manifest = {"execution": {"timeout_seconds": 10_000}}
    async with serving(queue):
        await _until(lambda: "a0" in executor.tasks)
        executor.finish("a0")
    assert 59.0 < executor.tasks["a0"].timeout <= 60.0


async def test_a_runs_end_claims_the_next_run_with_the_cap_counting_it_as_done():
    # One slot, per-user cap 1, alice's two runs: a0's end (one store call with the claim)
    # frees her place, so a1 is claimed by it; a drain during a1 lets it finish.
    store, executor = FakeStore(), FakeExecutor()
    store.add("a0", "alice")
    store.add("a1", "alice")
    queue, board = _queue(store, executor)
    async with serving(queue):
        await _until(lambda: "a0" in executor.order)
        executor.finish("a0")
        await _until(lambda: "a1" in executor.order)
        assert store.claims_with_an_end == 1 and store.runs["a0"].status == RunStatus.COMPLETED
        assert board.active_users == {"alice": 1} and list(board.active) == ["a1"]
        draining = asyncio.create_task(queue.drain(timeout=5))
        await asyncio.sleep(0.05)
        executor.finish("a1")
        assert await draining == (1, 0)
    assert store.transitions == [("a0", "running"), ("a0", "completed"), ("a1", "running"), ("a1", "completed")]
    assert board.active_users == {} and board.active == {}
