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
import struct
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from .workers import LaunchedWorker, PlainLauncher, WorkerLauncher

log = logging.getLogger(__name__)
HEADER = struct.Struct(">I")
#: Largest reply frame accepted from a worker (a statevector of 24 qubits is ~400 MB as
#: pairs of floats; the runs service allows far fewer qubits for statevectors).
MAX_REPLY_BYTES = 512 * 1024 * 1024
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
    status: str  # completed | failed | cancelled
    results: dict[str, Any] | None = None  # {counts, shots, seed, memory, statevector}
    metrics: dict[str, Any] = field(default_factory=dict)
    error_class: str | None = None
    error_message: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "completed"

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
        payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            self.proc.stdin.write(HEADER.pack(len(payload)) + payload)
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
                payload = pickle.dumps({"op": "exit"})
                self.proc.stdin.write(HEADER.pack(len(payload)) + payload)
                await self.proc.stdin.drain()
                self.proc.stdin.close()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.proc.wait(), 3)
        self.kill()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.proc.wait(), 3)
        await self.launched.cleanup()


#: Background cleanups of discarded workers (kept referenced until done).
_CLEANUPS: set[asyncio.Future[None]] = set()


@dataclass
class _Slot:
    index: int
    worker: _Worker | None = None
    spawning: asyncio.Task[_Worker] | None = None
    current: str | None = None
    cancel_requested: bool = False
    restarts: int = 0


class LocalProcessExecutor(Executor):
    """N warm local worker processes.

    * ``workers``: pool size (each worker runs one simulation at a time).
    * ``preload``: modules every worker imports at start (qiskit + qiskit_aer by default).
    * ``default_timeout`` / ``max_timeout``: seconds; a task's ``timeout`` is capped by
      ``max_timeout``.  A timed-out task fails with ``sandbox_timeout``.
    * cancel of a running task kills that worker's process group and starts a replacement.
    """

    def __init__(
        self,
        workers: int = 2,
        preload: tuple[str, ...] = ("qiskit", "qiskit_aer"),
        default_timeout: float | None = 300.0,
        max_timeout: float | None = 3600.0,
        python: str = sys.executable,
        env: dict[str, str] | None = None,
        start_timeout: float = 180.0,
        launcher: WorkerLauncher | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self.workers = workers
        self.preload = ",".join(preload)
        self.default_timeout = default_timeout
        self.max_timeout = max_timeout
        self.python = python
        self.env = env
        self.start_timeout = start_timeout
        #: Where workers run (the sandbox in a server; a plain child process by default).
        self.launcher = launcher or PlainLauncher(python, env)
        self._queue: asyncio.Queue[tuple[SimTask, asyncio.Future[SimResult], float]] | None = None
        self._slots: list[_Slot] = []
        self._loops: list[asyncio.Task[None]] = []
        self._futures: dict[str, asyncio.Future[SimResult]] = {}
        self._running: dict[str, _Slot] = {}
        self._started = False
        self._closed = False
        self.completed = 0
        self.failed = 0
        self.cancelled = 0

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        if self._started:
            return
        self._queue = asyncio.Queue()
        self._slots = [_Slot(i) for i in range(self.workers)]
        spawned = await asyncio.gather(*(self._spawn() for _ in self._slots), return_exceptions=True)
        for slot, worker in zip(self._slots, spawned):
            if isinstance(worker, BaseException):
                log.error("simulation worker %d failed to start: %s", slot.index, worker)
            else:
                slot.worker = worker
        if all(s.worker is None for s in self._slots):
            raise RuntimeError(f"no simulation worker could start: {spawned[0]}")
        self._loops = [asyncio.create_task(self._slot_loop(s), name=f"simworker-slot-{s.index}") for s in self._slots]
        self._started = True

    async def close(self) -> None:
        self._closed = True
        for fut in list(self._futures.values()):
            if not fut.done():
                fut.set_result(SimResult("", "cancelled", error_message="executor closed"))
        for loop in self._loops:
            loop.cancel()
        for loop in self._loops:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await loop
        for slot in self._slots:
            if slot.spawning is not None:
                with contextlib.suppress(BaseException):
                    slot.worker = await slot.spawning
                slot.spawning = None
            if slot.worker is not None:
                await slot.worker.stop()
                slot.worker = None
        if _CLEANUPS:
            await asyncio.gather(*list(_CLEANUPS), return_exceptions=True)
        await self.launcher.close()
        self._started = False

    async def __aenter__(self) -> LocalProcessExecutor:
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    # ------------------------------------------------------------------ API
    async def submit(self, task: SimTask) -> SimResult:
        if not self._started or self._queue is None:
            raise RuntimeError("executor not started")
        if task.task_id in self._futures:
            raise ValueError(f"task {task.task_id} already submitted")
        fut: asyncio.Future[SimResult] = asyncio.get_running_loop().create_future()
        self._futures[task.task_id] = fut
        self._queue.put_nowait((task, fut, time.perf_counter()))
        try:
            return await asyncio.shield(fut)
        except asyncio.CancelledError:
            await self.cancel(task.task_id)
            raise
        finally:
            self._futures.pop(task.task_id, None)

    async def cancel(self, task_id: str) -> bool:
        fut = self._futures.get(task_id)
        if fut is None or fut.done():
            return False
        slot = self._running.get(task_id)
        if slot is None:  # still queued: the slot loop skips done futures
            fut.set_result(SimResult(task_id, "cancelled", error_message="cancelled while queued"))
            self.cancelled += 1
            return True
        slot.cancel_requested = True
        if slot.worker is not None:
            slot.worker.kill()  # the slot loop sees the worker die and reports "cancelled"
        return True

    def stats(self) -> dict[str, Any]:
        return {
            "workers": self.workers,
            "alive": sum(1 for s in self._slots if s.worker is not None and s.worker.alive),
            "queued": self._queue.qsize() if self._queue is not None else 0,
            "running": len(self._running),
            "completed": self.completed,
            "failed": self.failed,
            "cancelled": self.cancelled,
            "restarts": sum(s.restarts for s in self._slots),
            "worker_pids": [s.worker.pid for s in self._slots if s.worker is not None],
            "isolated": self.launcher.isolated,
        }

    def queue_length(self) -> int:
        return (self._queue.qsize() if self._queue is not None else 0) + len(self._running)

    # ------------------------------------------------------------------ internals
    async def _spawn(self) -> _Worker:
        return await _Worker.spawn(self.preload, self.launcher, self.start_timeout)

    async def _ensure_worker(self, slot: _Slot) -> _Worker:
        if slot.worker is not None and slot.worker.alive:
            return slot.worker
        if slot.spawning is None:
            slot.spawning = asyncio.create_task(self._spawn())
        try:
            slot.worker = await slot.spawning
        finally:
            slot.spawning = None
        return slot.worker

    def _replace(self, slot: _Slot) -> None:
        if slot.worker is not None:
            slot.worker.discard()
        slot.worker = None
        slot.restarts += 1
        if not self._closed:
            slot.spawning = asyncio.create_task(self._spawn())

    def _timeout_for(self, task: SimTask) -> float | None:
        timeout = task.timeout if task.timeout is not None else self.default_timeout
        if timeout is not None and self.max_timeout is not None:
            timeout = min(timeout, self.max_timeout)
        return timeout

    async def _slot_loop(self, slot: _Slot) -> None:
        assert self._queue is not None
        while not self._closed:
            task, fut, enqueued = await self._queue.get()
            if fut.done():  # cancelled while queued
                continue
            started = time.perf_counter()
            try:
                result = await self._run_on(slot, task, fut)
            except asyncio.CancelledError:
                if not fut.done():
                    fut.set_result(SimResult(task.task_id, "cancelled", error_message="executor closed"))
                raise
            result.metrics.setdefault("queue_wait_ms", round((started - enqueued) * 1000, 3))
            result.metrics["executor_time_ms"] = round((time.perf_counter() - started) * 1000, 3)
            if result.status == "completed":
                self.completed += 1
            elif result.status == "cancelled":
                self.cancelled += 1
            else:
                self.failed += 1
            if not fut.done():
                fut.set_result(result)

    async def _run_on(self, slot: _Slot, task: SimTask, fut: asyncio.Future[SimResult]) -> SimResult:
        try:
            worker = await self._ensure_worker(slot)
        except Exception as exc:  # noqa: BLE001
            return SimResult(task.task_id, "failed", error_class="internal_error",
                             error_message=f"could not start a simulation worker: {exc}")  # fmt: skip
        if fut.done():
            return fut.result()
        slot.current = task.task_id
        slot.cancel_requested = False
        self._running[task.task_id] = slot
        timeout = self._timeout_for(task)
        try:
            async with asyncio.timeout(timeout):  # no extra task, unlike wait_for
                reply = await worker.request({"op": "run", "task": asdict(task)})
            worker.tasks_done += 1
            return SimResult(
                task_id=task.task_id,
                status=reply.get("status", "failed"),
                results=reply.get("results"),
                metrics=reply.get("metrics") or {},
                error_class=reply.get("error_class"),
                error_message=reply.get("error_message"),
            )
        except asyncio.TimeoutError:
            self._replace(slot)
            return SimResult(task.task_id, "failed", error_class="sandbox_timeout",
                             error_message=f"the simulation exceeded its time limit of {timeout:g} s")  # fmt: skip
        except WorkerDied as exc:
            cancelled = slot.cancel_requested
            cgroup = worker.launched.cgroup
            out_of_memory = cgroup is not None and cgroup.oom_kills() > 0
            self._replace(slot)
            if cancelled:
                return SimResult(task.task_id, "cancelled", error_message="cancelled while running")
            if out_of_memory:
                return SimResult(task.task_id, "failed", error_class="quota_exceeded",
                                 error_message="the simulation ran out of memory (its worker's memory cap)")  # fmt: skip
            return SimResult(task.task_id, "failed", error_class="internal_error",
                             error_message=f"the simulation worker crashed: {exc}")  # fmt: skip
        except asyncio.CancelledError:
            self._replace(slot)
            raise
        finally:
            slot.current = None
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
                return SimResult(task.task_id, "failed", error_class="internal_error",
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
