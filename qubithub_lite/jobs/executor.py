"""The executor: where the DB-backed queue sends simulations.

The queue and the API only see :class:`Executor` (``start``, ``submit``, ``cancel``, ``close``,
``stats``) and the plain dataclasses :class:`SimTask` / :class:`SimResult`; they never import a
quantum framework.  :class:`LocalProcessExecutor` runs tasks on N long-lived local worker
processes (``qubithub_lite.jobs.simworker``).

Swapping in a cluster later: a ``DaskExecutor`` would implement the same four coroutines —
``submit`` → ``client.submit(simworker.run_task, asdict(task), key=task.task_id)`` awaited with
the asyncio client, ``cancel`` → ``future.cancel()`` (or restarting the worker that holds it),
the artifact LRU living in each Dask worker process (e.g. a worker plugin that preloads
qiskit).  Since tasks and results are plain, picklable dataclasses, neither the queue nor the
API changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import pickle
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Self

from ..backends.frameworks import SIMWORKER_PRELOAD
from ..logs import fields
from ..run_status import RunStatus
from .wire import HEADER, MAX_REPLY_BYTES, encode
from .workers import LaunchedWorker, PlainLauncher, WorkerLauncher

log = logging.getLogger(__name__)
#: The only globals a worker's reply may name: replies are plain data.
SAFE_GLOBALS = frozenset({("builtins", "complex"), ("builtins", "set"), ("builtins", "frozenset")})


class _ReplyUnpickler(pickle.Unpickler):
    """Unpickles a worker's reply as plain data only: the worker parses untrusted input,
    so the server never lets it name a class or function to call."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in SAFE_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"a worker reply may not reference {module}.{name}")


def load_reply(payload: bytes) -> Any:
    import io

    return _ReplyUnpickler(io.BytesIO(payload)).load()


@dataclass
class SimTask:
    """One simulation.  ``parameters`` are bound after the worker's artifact cache."""

    task_id: str
    backend: str
    artifact: bytes
    artifact_kind: str  # qpy | cirq_json | qasm2 | qasm3 | pennylane-in-sandbox
    shots: int = 1024
    seed: int | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    timeout: float | None = None  # seconds of simulation (queue wait excluded)
    artifact_hash: str | None = None  # cache key; sha256 of kind+bytes when omitted
    framework: str | None = None  # framework of the source circuit (for messages)
    analysis: dict[str, Any] | None = None  # a benchmark run: see backends.benchmark_analysis
    attempt: int = 0  # the run's attempt number (a cluster executor keys its task by it)

    def __post_init__(self) -> None:
        if self.artifact_hash is None:
            self.artifact_hash = hashlib.sha256(self.artifact_kind.encode() + b"\0" + self.artifact).hexdigest()


@dataclass
class SimResult:
    task_id: str
    status: str  # RunStatus.COMPLETED | FAILED | CANCELLED
    results: dict[str, Any] | None = None  # {counts, shots, seed, memory, statevector}
    metrics: dict[str, Any] = field(default_factory=dict)
    error_class: str | None = None
    error_message: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == RunStatus.COMPLETED

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Executor(ABC):
    """What the queue calls.  Implementations must be safe to call from one asyncio loop."""

    @abstractmethod
    async def start(self) -> None: ...

    @abstractmethod
    async def submit(self, task: SimTask) -> SimResult:
        """Run ``task``; returns when it completed, failed or was cancelled.  Never raises for a
        failing simulation (the failure is in the SimResult)."""

    @abstractmethod
    async def cancel(self, task_id: str) -> bool:
        """Cancel a queued or running task; its ``submit`` returns status ``cancelled``.
        Returns False when the task is unknown or already finished."""

    @abstractmethod
    async def close(self) -> None: ...

    def stats(self) -> dict[str, Any]:
        return {}

    def _finished(self, result: SimResult, started: float) -> SimResult:
        """Stamp ``executor_time_ms`` (since ``started``, a ``perf_counter``) on ``result`` and
        count it under its status (the ``completed``/``failed``/``cancelled`` counters)."""
        result.metrics["executor_time_ms"] = round((time.perf_counter() - started) * 1000, 3)
        if result.status == RunStatus.COMPLETED:
            self.completed += 1
        elif result.status == RunStatus.CANCELLED:
            self.cancelled += 1
        else:
            self.failed += 1
        return result

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


class WorkerDied(Exception):
    pass


class _Worker:
    """One ``simworker`` subprocess speaking length-prefixed pickle over stdin/stdout."""

    def __init__(self, launched: LaunchedWorker, ready: dict[str, Any]) -> None:
        self.launched = launched
        self.proc = launched.proc
        self.pid = launched.proc.pid
        self.ready = ready
        self.tasks_done = 0
        self.last_used = time.monotonic()

    @classmethod
    async def spawn(cls, preload: str, launcher: WorkerLauncher, timeout: float) -> _Worker:
        launched = await launcher.launch(["--preload", preload])
        worker = cls(launched, {})
        try:
            worker.ready = await asyncio.wait_for(worker._read(), timeout)
            if not isinstance(worker.ready, dict) or worker.ready.get("op") != "ready":
                raise WorkerDied(f"simulation worker {worker.pid} did not start properly")
        except BaseException:
            await launched.cleanup()
            raise
        return worker

    async def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        try:
            header = await self.proc.stdout.readexactly(HEADER.size)
            (size,) = HEADER.unpack(header)
            if size > MAX_REPLY_BYTES:
                self.kill()
                raise WorkerDied(f"simulation worker {self.pid} sent a reply of {size} bytes (over the cap)")
            payload = await self.proc.stdout.readexactly(size)
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            code = await self._exit_code()
            raise WorkerDied(f"simulation worker {self.pid} exited (code {code})") from exc
        try:
            reply = load_reply(payload)
        except Exception as exc:  # noqa: BLE001 - anything but plain data is a broken worker
            self.kill()
            raise WorkerDied(f"simulation worker {self.pid} sent an invalid reply: {exc}") from exc
        if not isinstance(reply, dict):
            self.kill()
            raise WorkerDied(f"simulation worker {self.pid} sent an invalid reply")
        return reply

    async def _exit_code(self) -> int | None:
        with contextlib.suppress(asyncio.TimeoutError):
            return await asyncio.wait_for(self.proc.wait(), 2)
        return None

    async def request(self, message: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(encode(message))
            await self.proc.stdin.drain()
        except (ConnectionError, BrokenPipeError) as exc:
            raise WorkerDied(f"simulation worker {self.pid} is gone") from exc
        return await self._read()

    @property
    def alive(self) -> bool:
        return self.proc.returncode is None

    def kill(self) -> None:
        self.launched.kill()

    def discard(self) -> None:
        """Kill it now and clean up after it in the background."""
        self.kill()
        task = asyncio.ensure_future(self.launched.cleanup())
        _CLEANUPS.add(task)
        task.add_done_callback(_CLEANUPS.discard)

    async def stop(self) -> None:
        if self.proc.returncode is None and self.proc.stdin is not None:
            with contextlib.suppress(Exception):
                self.proc.stdin.write(encode({"op": "exit"}))
                await self.proc.stdin.drain()
                self.proc.stdin.close()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.proc.wait(), 3)
        self.kill()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.proc.wait(), 3)
        await self.launched.cleanup()


def tree_pss_bytes(pid: int) -> int:
    """PSS of ``pid`` and all its descendants (``/proc``; 0 for what already exited)."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            for line in Path(f"/proc/{current}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
                    break
            for task in Path(f"/proc/{current}/task").iterdir():
                todo.extend(int(child) for child in (task / "children").read_text().split())
        except (OSError, ValueError):
            continue
    return total


#: Background cleanups of discarded workers (kept referenced until done).
_CLEANUPS: set[asyncio.Future[None]] = set()


@dataclass
class _Lease:
    """One submitted task: waiting for capacity, then running on ``worker``."""

    task_id: str
    worker: _Worker | None = None
    waiter: asyncio.Future[Any] | None = None
    cancel_requested: bool = False
    #: Set when the task ended without running (cancelled while queued, executor closed).
    outcome: SimResult | None = None


class LocalProcessExecutor(Executor):
    """A pool of warm local worker processes; the only place runs have "slots".

    * ``workers``: most worker processes at once (each runs one simulation at a time); a
      submitted task waits for one of them (the run queue's slot loops never exceed it).
    * ``preload``: modules every worker imports at start (``frameworks.SIMWORKER_PRELOAD``).
    * ``max_idle_workers``: most workers kept warm while idle (default: ``workers``); the
      least recently used one beyond it exits. ``start`` pre-starts that many (at least one).
    * ``idle_seconds``: an idle worker exits after this long without a task (None: never);
      the next task starts a new one.
    * ``memory_budget_bytes``: after a task, while the workers' PSS (each worker's whole
      process tree) exceeds it, the least recently used idle worker exits (a worker that
      imported every framework gives way to a fresh, lean one). None: no budget.
    * ``default_timeout``: seconds, for a task without its own ``timeout`` (the queue gives
      each task its run's limit, already capped by ``[runs] max_timeout_seconds``: the one
      cap).  A timed-out task fails with ``sandbox_timeout``.
    * cancel of a running task kills that worker's process group and starts a replacement.
    """

    def __init__(
        self,
        workers: int = 2,
        preload: tuple[str, ...] = SIMWORKER_PRELOAD,
        default_timeout: float | None = 300.0,
        python: str = sys.executable,
        env: dict[str, str] | None = None,
        start_timeout: float = 180.0,
        launcher: WorkerLauncher | None = None,
        max_idle_workers: int | None = None,
        idle_seconds: float | None = None,
        memory_budget_bytes: int | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self.workers = workers
        self.max_idle_workers = workers if max_idle_workers is None else max(0, min(max_idle_workers, workers))
        self.idle_seconds = idle_seconds if idle_seconds else None
        self.memory_budget_bytes = memory_budget_bytes if memory_budget_bytes else None
        self._budget_check: asyncio.Task[None] | None = None
        self._budget_again = False
        self.evicted = 0
        self.preload = ",".join(preload)
        self.default_timeout = default_timeout
        self.python = python
        self.env = env
        self.start_timeout = start_timeout
        #: Where workers run (the sandbox in a server; a plain child process by default).
        self.launcher = launcher or PlainLauncher(python, env)
        self._capacity: asyncio.Semaphore | None = None
        self._idle: list[_Worker] = []  # ready workers, least recently used first
        self._pending: dict[str, _Lease] = {}  # submitted and not finished
        self._running: dict[str, _Lease] = {}  # ... of which running on a worker
        self._background: set[asyncio.Task[Any]] = set()  # replacements, stops of surplus workers
        self._reaper: asyncio.Task[None] | None = None
        self._started = False
        self._closed = False
        self.completed = 0
        self.failed = 0
        self.cancelled = 0
        self.restarts = 0

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        if self._started:
            return
        self._capacity = asyncio.Semaphore(self.workers)
        count = max(1, self.max_idle_workers)
        spawned = await asyncio.gather(*(self._spawn() for _ in range(count)), return_exceptions=True)
        for index, worker in enumerate(spawned):
            if isinstance(worker, BaseException):
                log.error("simulation worker %d failed to start: %s", index, worker)
            else:
                self._idle.append(worker)
        if not self._idle:
            raise RuntimeError(f"no simulation worker could start: {spawned[0]}")
        if self.idle_seconds is not None:
            self._reaper = asyncio.create_task(self._reap_idle(), name="simworker-reaper")
        self._started = True

    async def close(self) -> None:
        self._closed = True
        for lease in list(self._pending.values()):
            if lease.outcome is None:
                lease.outcome = SimResult(lease.task_id, RunStatus.CANCELLED, error_message="executor closed")
            if lease.waiter is not None:
                lease.waiter.cancel()
            if lease.worker is not None:
                lease.worker.kill()
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reaper
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)
        idle, self._idle = self._idle, []
        await asyncio.gather(*(worker.stop() for worker in idle), return_exceptions=True)
        if _CLEANUPS:
            await asyncio.gather(*list(_CLEANUPS), return_exceptions=True)
        await self.launcher.close()
        self._started = False

    # ------------------------------------------------------------------ API
    async def submit(self, task: SimTask) -> SimResult:
        if not self._started or self._capacity is None:
            raise RuntimeError("executor not started")
        if task.task_id in self._pending:
            raise ValueError(f"task {task.task_id} already submitted")
        lease = _Lease(task.task_id)
        self._pending[task.task_id] = lease
        enqueued = time.perf_counter()
        try:
            lease.waiter = asyncio.ensure_future(self._capacity.acquire())
            try:
                await lease.waiter
            except asyncio.CancelledError:
                if lease.waiter.done() and not lease.waiter.cancelled():
                    self._capacity.release()  # acquired just as we were cancelled
                if lease.outcome is not None:  # cancelled while queued, or closed
                    return lease.outcome
                raise
            try:
                if lease.outcome is not None:
                    return lease.outcome
                started = time.perf_counter()
                result = await self._run(lease, task)
            finally:
                self._capacity.release()
            result.metrics.setdefault("queue_wait_ms", round((started - enqueued) * 1000, 3))
            return self._finished(result, started)
        finally:
            self._pending.pop(task.task_id, None)

    async def cancel(self, task_id: str) -> bool:
        lease = self._pending.get(task_id)
        if lease is None or lease.outcome is not None or lease.cancel_requested:
            return False
        if lease.worker is None:  # still waiting for a worker
            lease.outcome = SimResult(task_id, RunStatus.CANCELLED, error_message="cancelled while queued")
            self.cancelled += 1
            if lease.waiter is not None:
                lease.waiter.cancel()
            return True
        lease.cancel_requested = True
        lease.worker.kill()  # the request sees the worker die and reports "cancelled"
        return True

    def _workers(self) -> list[_Worker]:
        return self._idle + [lease.worker for lease in self._running.values() if lease.worker is not None]

    def stats(self) -> dict[str, Any]:
        workers = self._workers()
        return {
            "workers": self.workers,
            "alive": sum(1 for w in workers if w.alive),
            "idle": len(self._idle),
            RunStatus.QUEUED.value: len(self._pending) - len(self._running),
            RunStatus.RUNNING.value: len(self._running),
            RunStatus.COMPLETED.value: self.completed,
            RunStatus.FAILED.value: self.failed,
            RunStatus.CANCELLED.value: self.cancelled,
            "restarts": self.restarts,
            "evicted": self.evicted,
            "worker_pids": [w.pid for w in workers],
            "isolated": self.launcher.isolated,
        }

    def queue_length(self) -> int:
        return len(self._pending)

    # ------------------------------------------------------------------ internals
    async def _spawn(self) -> _Worker:
        return await _Worker.spawn(self.preload, self.launcher, self.start_timeout)

    def _in_background(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _take(self) -> _Worker:
        """The most recently used live idle worker, else a new one."""
        while self._idle:
            worker = self._idle.pop()
            if worker.alive:
                return worker
            worker.discard()  # died while idle
            self.restarts += 1
        return await self._spawn()

    def _put_back(self, worker: _Worker) -> None:
        if self._closed or not worker.alive:
            worker.discard()
            return
        worker.last_used = time.monotonic()
        self._idle.append(worker)
        while len(self._idle) > self.max_idle_workers:
            self._in_background(self._idle.pop(0).stop())  # the least recently used
        if self.memory_budget_bytes is not None:
            if self._budget_check is None or self._budget_check.done():
                self._budget_check = asyncio.ensure_future(self._keep_budget())
                self._background.add(self._budget_check)
                self._budget_check.add_done_callback(self._background.discard)
            else:
                self._budget_again = True

    async def _keep_budget(self) -> None:
        """Stop least recently used idle workers while the workers' PSS is over the budget
        (the next task starts a fresh, lean one if none is left)."""
        assert self.memory_budget_bytes is not None
        again = True
        while again and not self._closed:
            self._budget_again = False
            workers = self._workers()
            sizes = await asyncio.to_thread(lambda: {w.pid: tree_pss_bytes(w.pid) for w in workers})
            total = sum(sizes.values())
            while total > self.memory_budget_bytes and self._idle:
                worker = self._idle.pop(0)
                total -= sizes.get(worker.pid, 0)
                self.evicted += 1
                log.info("stopping a simulation worker over the memory budget",
                         extra=fields(pid=worker.pid, pss_mib=sizes.get(worker.pid, 0) >> 20))
                self._in_background(worker.stop())
            again = self._budget_again

    def _replace(self, worker: _Worker) -> None:
        """Discard a broken (killed, timed-out) worker; keep the pool warm with a new one."""
        worker.discard()
        self.restarts += 1
        if not self._closed and len(self._idle) < self.max_idle_workers:
            self._in_background(self._spawn_idle())

    async def _spawn_idle(self) -> None:
        try:
            worker = await self._spawn()
        except Exception as exc:  # noqa: BLE001 - the next task tries again
            log.error("simulation worker failed to restart: %s", exc)
            return
        self._put_back(worker)

    async def _reap_idle(self) -> None:
        """Idle workers exit after ``idle_seconds`` without a task."""
        assert self.idle_seconds is not None
        while not self._closed:
            await asyncio.sleep(max(0.2, min(self.idle_seconds / 4, 5.0)))
            cutoff = time.monotonic() - self.idle_seconds
            expired = [w for w in self._idle if w.last_used <= cutoff]
            if expired:
                self._idle = [w for w in self._idle if w.last_used > cutoff]
                log.info("stopping idle simulation workers", extra=fields(workers=len(expired)))
                for worker in expired:
                    self._in_background(worker.stop())

    def _timeout_for(self, task: SimTask) -> float | None:
        return task.timeout if task.timeout is not None else self.default_timeout

    async def _run(self, lease: _Lease, task: SimTask) -> SimResult:
        try:
            worker = await self._take()
        except Exception as exc:  # noqa: BLE001
            return SimResult(task.task_id, RunStatus.FAILED, error_class="internal_error",
                             error_message=f"could not start a simulation worker: {exc}")  # fmt: skip
        if lease.outcome is not None:
            self._put_back(worker)
            return lease.outcome
        lease.worker = worker
        self._running[task.task_id] = lease
        timeout = self._timeout_for(task)
        try:
            async with asyncio.timeout(timeout):  # no extra task, unlike wait_for
                reply = await worker.request({"op": "run", "task": asdict(task)})
            worker.tasks_done += 1
            self._put_back(worker)
            return SimResult(
                task_id=task.task_id,
                status=reply.get("status", RunStatus.FAILED),
                results=reply.get("results"),
                metrics=reply.get("metrics") or {},
                error_class=reply.get("error_class"),
                error_message=reply.get("error_message"),
            )
        except asyncio.TimeoutError:
            self._replace(worker)
            return SimResult(task.task_id, RunStatus.FAILED, error_class="sandbox_timeout",
                             error_message=f"the simulation exceeded its time limit of {timeout:g} s")  # fmt: skip
        except WorkerDied as exc:
            cgroup = worker.launched.cgroup
            out_of_memory = cgroup is not None and cgroup.oom_kills() > 0
            self._replace(worker)
            if lease.outcome is not None:  # the executor closed
                return lease.outcome
            if lease.cancel_requested:
                return SimResult(task.task_id, RunStatus.CANCELLED, error_message="cancelled while running")
            if out_of_memory:
                return SimResult(task.task_id, RunStatus.FAILED, error_class="quota_exceeded",
                                 error_message="the simulation ran out of memory (its worker's memory cap)")  # fmt: skip
            return SimResult(task.task_id, RunStatus.FAILED, error_class="internal_error",
                             error_message=f"the simulation worker crashed: {exc}")  # fmt: skip
        except asyncio.CancelledError:
            self._replace(worker)
            raise
        finally:
            self._running.pop(task.task_id, None)


class RoutingExecutor(Executor):
    """Simulations and emulations on the ``isolated`` pool (sandboxed workers: no network,
    no secrets); tasks for backends that ``needs_network`` says must reach a provider
    (hardware, with the credentials in the server's environment) on a second pool that
    ``make_trusted`` builds on first use, so a server without hardware never starts it."""

    def __init__(self, isolated: Executor, make_trusted: Callable[[], Executor],
                 needs_network: Callable[[str], bool]) -> None:
        self.isolated = isolated
        self._make_trusted = make_trusted
        self._needs_network = needs_network
        self.trusted: Executor | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        await self.isolated.start()

    async def _trusted_pool(self) -> Executor:
        async with self._lock:
            if self.trusted is None:
                pool = self._make_trusted()
                await pool.start()
                self.trusted = pool
            return self.trusted

    async def submit(self, task: SimTask) -> SimResult:
        if self._needs_network(task.backend):
            try:
                pool = await self._trusted_pool()
            except Exception as exc:  # noqa: BLE001
                return SimResult(task.task_id, RunStatus.FAILED, error_class="internal_error",
                                 error_message=f"could not start a hardware worker: {exc}")  # fmt: skip
            return await pool.submit(task)
        return await self.isolated.submit(task)

    async def cancel(self, task_id: str) -> bool:
        if await self.isolated.cancel(task_id):
            return True
        return self.trusted is not None and await self.trusted.cancel(task_id)

    async def close(self) -> None:
        await self.isolated.close()
        if self.trusted is not None:
            await self.trusted.close()
            self.trusted = None

    def stats(self) -> dict[str, Any]:
        stats = dict(self.isolated.stats())
        if self.trusted is not None:
            stats["hardware_pool"] = self.trusted.stats()
        return stats
