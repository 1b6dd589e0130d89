"""Simulations on a Dask cluster: ``[runs] executor = "dask"``, ``[runs] dask_scheduler = "tcp://…"``.

The API process stays what it is (the database-backed queue claims runs in fair order and
compiles circuit.py in its own sandbox); only :meth:`Executor.submit` sends the compiled
artifact to the cluster instead of to a local worker process.

Server side (:class:`DaskExecutor`, an asyncio ``distributed.Client``):

* every attempt of a run is one Dask task keyed ``run-<run id>-<attempt>``;
* on connecting it registers :class:`SimWorkerPlugin` on every worker (and the scheduler
  gives it to workers that join later);
* ``cancel`` settles the run at once, cancels the Dask future and tells every worker to
  stop that key (``Client.run`` of :func:`stop_on_worker`): the worker kills the simulation
  process that runs it, or, if it has not started yet, refuses to start it;
* hardware backends never go to the cluster (their credentials are in the server's
  environment): :func:`dask_executor` routes them to one local plain worker, as ``local`` does.

Worker side (:class:`SimWorkerPlugin`, one per Dask worker process):

* ``nthreads`` warm simulator processes: the same ``qubithub_lite.jobs.simworker`` child
  processes, wire frame and launchers as the local executor. Each keeps its LRU of
  deserialized/transpiled artifacts, and a task goes to an idle process that already loaded
  its artifact when there is one; the plugin counts artifact loads and cache hits;
* each process runs under the same launcher as local workers: in a sandbox of the configured
  driver (no network, no secrets, no Dask scratch dir, its own cgroup) when
  ``isolate_workers`` is on and that driver works on the worker machine; otherwise a plain
  child process with a warning in the worker's log, and ``isolated: false`` in its stats;
* the run's time limit is enforced here: a simulation that overruns is killed (its process
  group and cgroup) and replaced by a fresh warm process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections import OrderedDict, deque
from dataclasses import asdict, dataclass, field
from typing import Any

from ..logs import fields
from ..run_status import RunStatus
from .executor import Executor, SimResult, SimTask, WorkerDied, _Worker

try:  # the [dask] extra; without it this module imports but the executor cannot start
    from distributed import WorkerPlugin
except ImportError:  # pragma: no cover - exercised only without the extra
    WorkerPlugin = object  # type: ignore[assignment,misc]

log = logging.getLogger(__name__)

PLUGIN_NAME = "qubithub-lite-sim"
#: Keys a worker remembers as cancelled (so a task that starts after its cancel does not run).
CANCELLED_MEMORY = 4096
#: Artifact hashes remembered per simulation process (its artifact LRU holds 64 by default).
HASH_MEMORY = 64
#: Keys of finished tasks listed in a worker's stats.
RECENT_MEMORY = 100
RESULT_FIELDS = ("status", "results", "metrics", "error_class", "error_message")
#: The Dask worker-side task states (Dask's vocabulary, not run statuses) a released task reaches.
DASK_RELEASED_STATES = frozenset("released cancelled".split())  # Dask's words, not RunStatus
#: ``distributed.Client.status`` of a client that is (or is getting) connected.
DASK_CLIENT_RUNNING = "running"
DASK_CLIENT_USABLE = frozenset({DASK_CLIENT_RUNNING, "connecting"})


def task_key(task: SimTask) -> str:
    return f"run-{task.task_id}-{task.attempt}"


# ---------------------------------------------------------------------------------- worker side
@dataclass
class _Child:
    """One warm simulation process of a Dask worker."""

    index: int
    proc: _Worker | None = None
    spawning: asyncio.Task[_Worker] | None = None
    hashes: OrderedDict[str, None] = field(default_factory=OrderedDict)
    cancel_requested: bool = False

    def knows(self, artifact_hash: str | None) -> bool:
        return artifact_hash is not None and artifact_hash in self.hashes

    def remember(self, artifact_hash: str | None) -> None:
        if artifact_hash is None:
            return
        self.hashes[artifact_hash] = None
        self.hashes.move_to_end(artifact_hash)
        while len(self.hashes) > HASH_MEMORY:
            self.hashes.popitem(last=False)


def _failed(task_id: str, error_class: str, message: str, **metrics: Any) -> dict[str, Any]:
    return {"task_id": task_id, "status": RunStatus.FAILED.value, "results": None, "metrics": metrics,
            "error_class": error_class, "error_message": message}


class SimWorkerPlugin(WorkerPlugin):
    """Warm simulator processes and their artifact caches, in each Dask worker.

    Registered by :class:`DaskExecutor` as ``qubithub-lite-sim``. Idempotent: a second API
    process (or a restarted one) registering it again keeps the running plugin, its warm
    processes and their caches; changed settings reach a worker when it restarts."""

    idempotent = True
    name = PLUGIN_NAME

    def __init__(self, isolate: bool = True, sandbox_config: dict[str, Any] | None = None,
                 preload: str = "qiskit,qiskit_aer", start_timeout: float = 180.0, processes: int | None = None) -> None:
        self.isolate = isolate
        self.sandbox_config = sandbox_config or {}
        self.preload = preload
        self.start_timeout = start_timeout
        self.processes = processes

    def __getstate__(self) -> dict[str, Any]:  # only the configuration travels to the workers
        return {k: getattr(self, k) for k in ("isolate", "sandbox_config", "preload", "start_timeout", "processes")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.running = {}  # until setup(): nothing runs here yet

    # lifecycle ---------------------------------------------------------------------------
    async def setup(self, worker: Any) -> None:
        self.worker = worker
        self.address = worker.address
        count = self.processes or max(1, int(worker.state.nthreads))
        self.children = [_Child(i) for i in range(count)]
        self.idle: list[_Child] = list(self.children)
        self.changed = asyncio.Condition()
        self.running: dict[str, _Child] = {}
        self.cancelled: OrderedDict[str, None] = OrderedDict()
        self.recent: deque[str] = deque(maxlen=RECENT_MEMORY)  # keys of the last tasks run here
        self.counters = {"tasks": 0, RunStatus.COMPLETED.value: 0, RunStatus.FAILED.value: 0, RunStatus.CANCELLED.value: 0, "timeouts": 0,
                         "artifact_loads": 0, "artifact_hits": 0, "restarts": 0}
        # Everything above exists before the first await: tasks, stats and transitions may
        # reach the plugin while the sandbox check below runs; processes wait for it.
        self.launcher: Any = None
        self.ready = asyncio.Event()
        try:
            self.launcher = await self._make_launcher(worker)
        finally:
            self.ready.set()
        for child in self.children:  # warm them now, in the background
            child.spawning = asyncio.create_task(self._spawn(), name=f"qubithub-sim-{child.index}")
        log.info("dask.plugin_ready", extra=fields(worker=self.address, processes=count,
                                                   isolated=self.launcher.isolated))

    async def teardown(self, worker: Any) -> None:
        for child in self.children:
            if child.spawning is not None:  # a process still importing: stop it (spawn cleans up)
                child.spawning.cancel()
                with contextlib.suppress(BaseException):
                    await child.spawning
                child.spawning = None
            if child.proc is not None:
                await child.proc.stop()
                child.proc = None
        if self.launcher is not None:
            await self.launcher.close()

    async def _make_launcher(self, worker: Any) -> Any:
        """The local executor's launcher choice, made on the worker's own machine."""
        from ..sandbox.config import SandboxConfig
        from .workers import PlainLauncher, SandboxLauncher, worker_sandbox_factory

        if not self.isolate:
            return PlainLauncher(sys.executable, reason="[runs] isolate_workers = false")
        config = SandboxConfig.model_validate(self.sandbox_config)
        launcher = SandboxLauncher(worker_sandbox_factory(config, [worker.local_directory]))
        try:
            box = await launcher.sandbox()
        except Exception as exc:  # noqa: BLE001 - logged, and shown in the stats
            reason = f"no working sandbox on this Dask worker: {exc}"
            log.warning("simworker.not_sandboxed", extra=fields(worker=self.address, reason=reason))
            return PlainLauncher(sys.executable, reason=reason)
        if not box.isolated:
            await launcher.close()
            return PlainLauncher(sys.executable, reason=f"[sandbox] driver = {box.name!r}")
        return launcher

    async def _spawn(self) -> _Worker:
        await self.ready.wait()
        if self.launcher is None:
            raise RuntimeError("the worker plugin could not choose where simulations run")
        return await _Worker.spawn(self.preload, self.launcher, self.start_timeout)

    async def _process(self, child: _Child) -> _Worker:
        if child.proc is not None and child.proc.alive:
            return child.proc
        if child.spawning is None:
            child.spawning = asyncio.create_task(self._spawn())
        try:
            child.proc = await child.spawning
        finally:
            child.spawning = None
        return child.proc

    def _replace(self, child: _Child) -> None:
        """Kill the child's process (now) and start a fresh warm one (in the background)."""
        if child.proc is not None:
            child.proc.discard()
        child.proc = None
        child.hashes.clear()
        self.counters["restarts"] += 1
        child.spawning = asyncio.create_task(self._spawn())

    async def _acquire(self, artifact_hash: str | None) -> _Child:
        async with self.changed:
            await self.changed.wait_for(lambda: bool(self.idle))
            child = next((c for c in self.idle if c.knows(artifact_hash)), self.idle[0])
            self.idle.remove(child)
            return child

    async def _release(self, child: _Child) -> None:
        async with self.changed:
            self.idle.append(child)
            self.changed.notify()

    # tasks -------------------------------------------------------------------------------
    def transition(self, key: Any, start: str, finish: str, **kwargs: Any) -> None:
        """The scheduler released a task while it runs here (its future was cancelled, or the
        API process that wanted it is gone): Dask lets a running coroutine go on, so stop it."""
        # (An executing task asked to be "released" goes to state "cancelled"; the hook sees
        # the transition's requested end, "released".)
        if finish in DASK_RELEASED_STATES and key in self.running:
            self.stop(key)

    def stop(self, key: str) -> bool:
        """Cancel ``key``: kill its simulation if it runs here; never start it later."""
        self.cancelled[key] = None
        while len(self.cancelled) > CANCELLED_MEMORY:
            self.cancelled.popitem(last=False)
        child = self.running.get(key)
        if child is None or child.proc is None:
            return False
        child.cancel_requested = True
        child.proc.kill()  # run() sees the process die and reports "cancelled"
        return True

    async def run(self, key: str, task: dict[str, Any], timeout: float | None) -> dict[str, Any]:
        task_id = task["task_id"]
        self.counters["tasks"] += 1
        if key in self.cancelled:
            self.counters[RunStatus.CANCELLED.value] += 1
            return {"task_id": task_id, "status": RunStatus.CANCELLED.value, "results": None, "metrics": {},
                    "error_class": None, "error_message": "cancelled before it started"}
        started = time.perf_counter()
        child = await self._acquire(task.get("artifact_hash"))
        try:
            reply = await self._run_on(child, key, task, timeout)
        finally:
            await self._release(child)
        metrics = dict(reply.get("metrics") or {})
        metrics["dask_worker"] = self.address
        metrics.setdefault("dask_task_ms", round((time.perf_counter() - started) * 1000, 3))
        reply["metrics"] = metrics
        status = reply.get("status")
        self.recent.append(key)
        self.counters[status if status in (RunStatus.COMPLETED, RunStatus.CANCELLED) else RunStatus.FAILED.value] += 1
        return reply

    async def _run_on(self, child: _Child, key: str, task: dict[str, Any], timeout: float | None) -> dict[str, Any]:
        task_id = task["task_id"]
        try:
            proc = await self._process(child)
        except Exception as exc:  # noqa: BLE001
            self.counters["restarts"] += 1
            return _failed(task_id, "internal_error", f"could not start a simulation process on a Dask worker: {exc}")
        if key in self.cancelled:
            return {"task_id": task_id, "status": RunStatus.CANCELLED.value, "results": None, "metrics": {},
                    "error_class": None, "error_message": "cancelled before it started"}
        child.cancel_requested = False
        self.running[key] = child
        t0 = time.perf_counter()
        try:
            async with asyncio.timeout(timeout):
                reply = await proc.request({"op": "run", "task": task})
        except TimeoutError:
            self._replace(child)
            self.counters["timeouts"] += 1
            return _failed(task_id, "sandbox_timeout", f"the simulation exceeded its time limit of {timeout:g} s",
                           host_pid=proc.pid)
        except WorkerDied as exc:
            cancelled = child.cancel_requested
            cgroup = proc.launched.cgroup
            out_of_memory = cgroup is not None and cgroup.oom_kills() > 0
            self._replace(child)
            if cancelled:
                return {"task_id": task_id, "status": RunStatus.CANCELLED.value, "results": None, "metrics": {"host_pid": proc.pid},
                        "error_class": None, "error_message": "cancelled while running"}
            if out_of_memory:
                return _failed(task_id, "quota_exceeded", "the simulation ran out of memory (its worker's memory cap)")
            return _failed(task_id, "internal_error", f"the simulation worker crashed: {exc}")
        except asyncio.CancelledError:
            self._replace(child)
            raise
        finally:
            self.running.pop(key, None)
        reply = {k: reply.get(k) for k in ("task_id", *RESULT_FIELDS)}
        metrics = dict(reply.get("metrics") or {})
        hit = metrics.get("compile_cache_hit")
        if hit is True:
            self.counters["artifact_hits"] += 1
        elif hit is False:
            self.counters["artifact_loads"] += 1
        child.remember(task.get("artifact_hash"))
        metrics.update(host_pid=proc.pid, dask_run_ms=round((time.perf_counter() - t0) * 1000, 3))
        reply["metrics"] = metrics
        return reply

    def stats(self) -> dict[str, Any]:
        return {
            **self.counters,
            "processes": len(self.children),
            RunStatus.RUNNING.value: sorted(self.running),
            "recent": list(self.recent),
            "running_pids": {key: child.proc.pid for key, child in self.running.items() if child.proc is not None},
            "pids": [c.proc.pid for c in self.children if c.proc is not None and c.proc.alive],
            "isolated": self.launcher.isolated if self.launcher is not None else None,
            "launcher": self.launcher.describe() if self.launcher is not None else "starting",
        }


def _plugin(dask_worker: Any) -> SimWorkerPlugin | None:
    plugin = dask_worker.plugins.get(PLUGIN_NAME)
    return plugin if isinstance(plugin, SimWorkerPlugin) else None


async def run_on_worker(key: str, task: dict[str, Any], timeout: float | None) -> dict[str, Any]:
    """The Dask task (a coroutine: it runs on the worker's event loop, beside the plugin)."""
    from distributed import get_worker

    plugin = _plugin(get_worker())
    if plugin is None:
        return _failed(task["task_id"], "backend_unavailable", "this Dask worker has no qubithub-lite plugin")
    return await plugin.run(key, task, timeout)


def stop_on_worker(key: str, dask_worker: Any = None) -> bool:
    """Run on every worker by :meth:`DaskExecutor.cancel` (``Client.run``)."""
    plugin = _plugin(dask_worker)
    return plugin is not None and plugin.stop(key)


def worker_stats(dask_worker: Any = None) -> dict[str, Any] | None:
    plugin = _plugin(dask_worker)
    return plugin.stats() if plugin is not None else None


# ---------------------------------------------------------------------------------- server side
@dataclass
class _Pending:
    key: str
    done: asyncio.Future[SimResult]
    future: Any = None  # the distributed.Future

    def settle(self, waiter: asyncio.Future[SimResult]) -> None:
        if waiter.cancelled() or self.done.done():
            return
        exc = waiter.exception()
        self.done.set_result(waiter.result() if exc is None else SimResult(
            self.key, RunStatus.FAILED.value, error_class="internal_error", error_message=f"{type(exc).__name__}: {exc}"[:500]))


class DaskExecutor(Executor):
    """Simulations as tasks of a Dask cluster (see the module docstring)."""

    def __init__(self, scheduler: str, *, default_timeout: float | None = 300.0,
                 isolate: bool = True, sandbox_config: dict[str, Any] | None = None,
                 preload: tuple[str, ...] = ("qiskit", "qiskit_aer"), connect_timeout: float = 20.0) -> None:
        self.scheduler = scheduler
        self.default_timeout = default_timeout
        self.plugin = SimWorkerPlugin(isolate=isolate, sandbox_config=sandbox_config, preload=",".join(preload))
        self.connect_timeout = connect_timeout
        self.client: Any = None
        self._lock: asyncio.Lock | None = None
        self._pending: dict[str, _Pending] = {}
        self.completed = 0
        self.failed = 0
        self.cancelled = 0

    # lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        try:
            await self._connect()
        except Exception as exc:  # noqa: BLE001 - runs fail with a clear message until it is reachable
            log.warning("dask.unreachable", extra=fields(scheduler=self.scheduler, error=str(exc)))

    async def _connect(self) -> Any:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self.client is not None and self.client.status in DASK_CLIENT_USABLE:
                return self.client
            from distributed import Client

            if logging.getLogger("qubithub_lite").getEffectiveLevel() > logging.DEBUG:
                logging.getLogger("distributed").setLevel(logging.WARNING)  # quiet by default
            client = await Client(self.scheduler, asynchronous=True, timeout=self.connect_timeout,
                                  set_as_default=False, name="qubithub-lite", direct_to_workers=True)
            try:
                await client.register_plugin(self.plugin, name=PLUGIN_NAME)
            except BaseException:
                await client.close()
                raise
            self.client = client
            log.info("dask.connected", extra=fields(scheduler=self.scheduler))
            return client

    async def close(self) -> None:
        for task_id in list(self._pending):
            await self.cancel(task_id, reason="executor closed")
        if self.client is not None:
            with contextlib.suppress(Exception):
                await self.client.close()
            self.client = None

    # API ---------------------------------------------------------------------------------
    def _timeout_for(self, task: SimTask) -> float | None:
        # Already capped by the queue ([runs] max_timeout_seconds): the one cap.
        return task.timeout if task.timeout is not None else self.default_timeout

    async def submit(self, task: SimTask) -> SimResult:
        if task.task_id in self._pending:
            raise ValueError(f"task {task.task_id} already submitted")
        started = time.perf_counter()
        try:
            client = await self._connect()
        except Exception as exc:  # noqa: BLE001
            self.failed += 1
            return SimResult(task.task_id, RunStatus.FAILED, error_class="backend_unavailable",
                             error_message=f"the Dask scheduler at {self.scheduler} cannot be reached: {exc}")
        key = task_key(task)
        pending = _Pending(key, asyncio.get_running_loop().create_future())
        self._pending[task.task_id] = pending
        waiter: asyncio.Future[Any] | None = None
        try:
            pending.future = client.submit(run_on_worker, key, asdict(task), self._timeout_for(task),
                                           key=key, pure=False, retries=0)
            waiter = asyncio.ensure_future(self._outcome(task.task_id, pending.future))
            waiter.add_done_callback(pending.settle)
            result = await asyncio.shield(pending.done)
        except asyncio.CancelledError:
            await self.cancel(task.task_id)
            raise
        finally:
            self._pending.pop(task.task_id, None)
            if waiter is not None and not waiter.done():
                waiter.cancel()
        return self._finished(result, started)

    async def _outcome(self, task_id: str, future: Any) -> SimResult:
        """The Dask future's result as a SimResult (never raises but CancelledError)."""
        from distributed.client import FutureCancelledError

        try:
            reply = await future
        except FutureCancelledError as exc:
            return SimResult(task_id, RunStatus.FAILED, error_class="internal_error",
                             error_message=f"the Dask cluster dropped this simulation: {exc}")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - KilledWorker, lost scheduler, ...
            log.warning("dask.task_failed", extra=fields(task_id=task_id, error=f"{type(exc).__name__}: {exc}"))
            return SimResult(task_id, RunStatus.FAILED, error_class="internal_error",
                             error_message=f"the Dask worker running this simulation failed: {type(exc).__name__}: {exc}"[:500])
        if not isinstance(reply, dict) or reply.get("status") not in (RunStatus.COMPLETED, RunStatus.FAILED,
                                                                       RunStatus.CANCELLED):
            return SimResult(task_id, RunStatus.FAILED, error_class="internal_error", error_message="a Dask worker sent an invalid reply")
        if reply["status"] == RunStatus.CANCELLED:  # not by our cancel(), which settled the run already
            return SimResult(task_id, RunStatus.FAILED, error_class="internal_error",
                             error_message="the simulation was stopped on its Dask worker (its task was released)")
        return SimResult(task_id, reply["status"], results=reply.get("results"), metrics=dict(reply.get("metrics") or {}),
                         error_class=reply.get("error_class"), error_message=reply.get("error_message"))

    async def cancel(self, task_id: str, reason: str = "cancelled") -> bool:
        pending = self._pending.get(task_id)
        if pending is None or pending.done.done():
            return False
        pending.done.set_result(SimResult(task_id, RunStatus.CANCELLED, error_message=reason))
        client = self.client
        if client is not None:
            if pending.future is not None:
                with contextlib.suppress(Exception):
                    await client.cancel([pending.future], reason=reason)
            with contextlib.suppress(Exception):  # kill it where it runs; never start it elsewhere
                await asyncio.wait_for(client.run(stop_on_worker, pending.key, on_error="ignore"), 10)
        return True

    def stats(self) -> dict[str, Any]:
        workers = None
        if self.client is not None:
            with contextlib.suppress(Exception):
                workers = len(self.client.scheduler_info().get("workers", {}))
        return {
            "executor": "dask",
            "scheduler": self.scheduler,
            "connected": self.client is not None and self.client.status == DASK_CLIENT_RUNNING,
            "dask_workers": workers,
            RunStatus.RUNNING.value: len(self._pending),
            RunStatus.COMPLETED.value: self.completed,
            RunStatus.FAILED.value: self.failed,
            RunStatus.CANCELLED.value: self.cancelled,
        }

    async def cluster_stats(self) -> dict[str, dict[str, Any] | None]:
        """Each worker's plugin stats (its processes, counters, isolation), by address."""
        client = await self._connect()
        return await client.run(worker_stats, on_error="return")


def dask_executor(settings: Any, sandbox: Any, sandbox_error: str | None) -> Executor:
    """``[runs] executor = "dask"``: simulations on the cluster, hardware runs on one local worker."""
    from .executor import RoutingExecutor
    from .executor_plugins import hardware_pool
    from .workers import needs_network

    config = settings.runs
    executor = DaskExecutor(config.dask_scheduler, default_timeout=config.default_timeout_seconds,
                            isolate=config.isolate_workers,
                            sandbox_config=settings.sandbox.model_dump(mode="json"))
    return RoutingExecutor(executor, lambda: hardware_pool(config), needs_network)
