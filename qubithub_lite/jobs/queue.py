"""The run queue. The database is its truth; this component only schedules.

- ``enqueue`` moves a new run pending → queued and wakes the dispatcher.
- ``workers`` slot loops claim the next run in *fair* order: among users below the
  per-user concurrency cap, the one served longest ago goes first, oldest run first
  (so one student's 200 runs do not starve the class).
- A claimed run is compiled once (``jobs.compile``) and executed on the
  :class:`~qubithub_lite.jobs.executor.Executor` (warm local worker processes today).
- ``stop_run`` cancels a running run's task: the sandbox or simulation is killed at once.
- ``start`` recovers after a crash: pending runs are queued, runs caught ``running``
  are retried once (or failed with a clear message).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from typing import Any

from ..db.circuits import Circuit, CircuitVersion
from ..db.runs import Run
from ..logs import fields
from .compile import SANDBOX_KIND, Compiler, RunFailure, entry_of
from .executor import Executor, SimTask

log = logging.getLogger(__name__)
PENNYLANE_DEVICES = {"pennylane_default": "default.qubit", "pennylane_lightning": "lightning.qubit"}


class RunQueue:
    def __init__(self, runs, compiler: Compiler, executor: Executor, config):
        self.runs = runs
        self.db = runs.db
        self.compiler = compiler
        self.executor = executor
        self.config = config
        self._wake = asyncio.Event()
        self._slots: list[asyncio.Task] = []
        self._active: dict[str, asyncio.Task] = {}
        self._active_users: dict[str, int] = {}
        self._served: dict[str, int] = {}
        self._ticket = itertools.count(1)
        self._claim_lock = asyncio.Lock()
        self._executor_lock = asyncio.Lock()
        self._executor_started = False
        self._closing = False
        self._warmup: asyncio.Task | None = None
        # circuit version id -> (circuit, version) as first seen: versions are immutable.
        self._versions: dict[str, tuple[Circuit, CircuitVersion]] = {}

    # Lifecycle -------------------------------------------------------------------
    async def start(self) -> None:
        await self._recover()
        if self.config.prestart_workers:
            self._warmup = asyncio.create_task(self._ensure_executor(), name="executor-warmup")
        self._slots = [asyncio.create_task(self._slot_loop(i), name=f"run-slot-{i}") for i in range(self.config.workers)]

    async def close(self) -> None:
        self._closing = True
        for task in [*self._slots, *self._active.values()]:
            task.cancel()
        for task in [*self._slots, *self._active.values()]:
            with contextlib.suppress(BaseException):
                await task
        if self._warmup is not None:
            self._warmup.cancel()
            with contextlib.suppress(BaseException):
                await self._warmup
        with contextlib.suppress(Exception):
            await self.executor.close()

    async def drain(self, timeout: float) -> tuple[int, int]:
        """Graceful stop: claim nothing more, give running runs up to ``timeout`` seconds to
        finish, then stop the rest and put them back in the queue (they run again at the next
        start, without using up their retry). Returns (finished, re-queued)."""
        self._closing = True
        self._wake.set()
        async with self._claim_lock:  # a claim in flight lands in _active first
            active = dict(self._active)
        if active:
            await asyncio.wait(list(active.values()), timeout=timeout)
        left = [run_id for run_id, task in active.items() if not task.done()]
        for run_id in left:
            active[run_id].cancel()
            with contextlib.suppress(Exception):
                await self.executor.cancel(run_id)
        for run_id in left:
            with contextlib.suppress(BaseException):
                await active[run_id]
        requeued = 0
        for run_id in left:
            try:
                run = await self.runs.load(run_id)
                if run is not None and run.status == "running":
                    run = await self.runs.transition(run, "queued", attempts=max(0, run.attempts - 1))
                else:
                    run = None
            except Exception:
                log.exception("run.requeue_failed", extra=fields(run_id=run_id))
                continue
            if run is not None:
                requeued += 1
                log.info("run.requeued_at_shutdown", extra=fields(run_id=run_id))
        return len(active) - len(left), requeued

    async def _recover(self) -> None:
        stuck = await self.db.list(Run.select(Run.id, Run.status, Run.attempts).where(Run.status.in_(("pending", "running"))))
        for run in stuck:
            if run.status == "pending":
                await self.runs.transition(run.id, "queued")
            elif self.config.retry_interrupted and run.attempts < 2:
                await self.runs.transition(run.id, "queued")
                log.warning("run.retried_after_restart", extra=fields(run_id=run.id))
            else:
                await self.runs.transition(
                    run.id, "failed", error_class="internal_error",
                    error_message="the server stopped while this run was executing; submit it again",
                )
        if stuck:
            self._wake.set()

    async def _ensure_executor(self) -> None:
        if self._executor_started:
            return
        async with self._executor_lock:
            if not self._executor_started:
                await self.executor.start()
                self._executor_started = True

    # Scheduling ------------------------------------------------------------------
    async def enqueue(self, run: Run | str) -> None:
        await self.runs.transition(run, "queued")
        self._wake.set()

    def service_order(self) -> dict[str, float]:
        """When each user was last served (smaller = sooner next); unknown users go first."""
        return dict(self._served)

    def queued_or_running(self) -> int:
        return len(self._active)

    async def _claim(self) -> Run | None:
        """The next run in fair order: among users below the per-user cap, fewest running
        first, then the one served longest ago, then the oldest waiting run."""
        async with self._claim_lock:
            if self._closing:
                return None
            active, served, cap = dict(self._active_users), dict(self._served), self.config.per_user_concurrency
            claimed = await self.runs.claim_next(
                eligible=lambda user_id: active.get(user_id, 0) < cap,
                order=lambda user_id, oldest: (active.get(user_id, 0), served.get(user_id, 0), oldest),
            )
            if claimed is not None:
                self._served[claimed.user_id] = next(self._ticket)
                self._active_users[claimed.user_id] = self._active_users.get(claimed.user_id, 0) + 1
            return claimed

    async def _slot_loop(self, index: int) -> None:
        while not self._closing:
            self._wake.clear()
            try:
                run = await self._claim()
            except Exception:
                log.exception("queue.claim_failed")
                run = None
            if run is None:
                await self.db.release()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=2.0)
                continue
            self._wake.set()  # others may find more work
            task = asyncio.create_task(self._execute(run), name=f"run-{run.id}")
            self._active[run.id] = task
            await self.db.release()
            try:
                await task
            except asyncio.CancelledError:
                if self._closing:
                    raise
            finally:
                self._active.pop(run.id, None)
                left = self._active_users.get(run.user_id, 1) - 1
                if left > 0:
                    self._active_users[run.user_id] = left
                else:
                    self._active_users.pop(run.user_id, None)
                self._wake.set()

    async def stop_run(self, run_id: str) -> None:
        """The run was cancelled: stop its work now."""
        task = self._active.get(run_id)
        if task is not None:
            task.cancel()
        with contextlib.suppress(Exception):
            await self.executor.cancel(run_id)

    # Execution -------------------------------------------------------------------
    def _timeout(self, circuit: Circuit) -> float:
        manifest = circuit.manifest if isinstance(circuit.manifest, dict) else {}
        asked = (manifest.get("execution") or {}).get("timeout_seconds")
        limit = float(asked) if isinstance(asked, (int, float)) and asked > 0 else self.config.default_timeout_seconds
        return min(limit, self.config.max_timeout_seconds)

    async def _execute(self, run: Run) -> None:
        try:
            outcome = await self._perform(run)
        except RunFailure as failure:
            await self.runs.transition(run.id, "failed", error_class=failure.error_class, error_message=failure.message[:4000])
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("run.internal_error", extra=fields(run_id=run.id))
            await self.runs.transition(run.id, "failed", error_class="internal_error",
                                       error_message=f"internal error: {type(exc).__name__}")
            return
        status, payload = outcome
        await self.runs.transition(run, status, **payload)

    async def _perform(self, run: Run) -> tuple[str, dict[str, Any]]:
        known = self._versions.get(run.circuit_version_id)
        if known is None:
            circuit = await Circuit.aget_or_none(Circuit.id == run.circuit_id)
            version = await CircuitVersion.aget_or_none(CircuitVersion.id == run.circuit_version_id)
            if circuit is None or version is None:
                raise RunFailure("storage_miss", "the circuit version of this run no longer exists")
            if len(self._versions) > 4096:
                self._versions.clear()
            known = self._versions[version.id] = (circuit, version)
        circuit, version = known
        parameters = dict(run.parameters or {})
        timeout = self._timeout(circuit)
        started = time.perf_counter()
        prepared = await self.compiler.prepare(circuit, version, parameters, timeout=timeout)
        prepare_ms = (time.perf_counter() - started) * 1000
        # One limit for the whole run: what preparing took is not given again to the next stage.
        timeout = timeout - prepare_ms / 1000
        if timeout <= 0:
            raise RunFailure("sandbox_timeout", f"the run exceeded its time limit of {self._timeout(circuit):g} s")
        remaining = {k: v for k, v in parameters.items() if k not in prepared.kwargs_used}
        base_metrics = {
            "queue_time_ms": round(max(0.0, (run.started_at - (run.queued_at or run.created_at)).total_seconds() * 1000), 3),
            "compile_cache": "hit" if prepared.cache_hit else "miss",
            "compile_time_ms": round(prepared.compile_ms if not prepared.cache_hit else prepare_ms, 3),
            "artifact_kind": prepared.kind,
            "num_qubits": prepared.num_qubits,
        }
        if prepared.kind == SANDBOX_KIND:
            device = PENNYLANE_DEVICES.get(run.backend_name)
            if device is None:
                raise RunFailure("parse_error", f"this PennyLane circuit cannot be exported, so it runs only on "
                                                f"{', '.join(PENNYLANE_DEVICES)}; not on {run.backend_name}")
            entry, function = entry_of(circuit, list(prepared.sources or {}))
            outcome = await self.compiler.run_in_sandbox(prepared, entry, function, parameters, run.shots, run.seed, device, timeout)
            results, metrics = outcome["results"], outcome.get("metrics") or {}
        else:
            await self._ensure_executor()
            analysis = await self.runs.analysis_for(run) if self.runs.analysis_for is not None else None
            await self.db.release()  # the simulation may take long: don't hold a pool slot
            sim = await self.executor.submit(SimTask(
                task_id=run.id, backend=run.backend_name, artifact=prepared.data or b"", artifact_kind=prepared.kind,
                shots=run.shots, seed=run.seed, parameters=remaining, options=run.options or {}, timeout=timeout,
                framework=prepared.framework, analysis=analysis, attempt=run.attempts,
            ))
            if sim.status == "cancelled":
                raise asyncio.CancelledError()
            if not sim.ok:
                raise RunFailure(sim.error_class or "internal_error", sim.error_message or "the simulation failed")
            results, metrics = dict(sim.results or {}), dict(sim.metrics or {})
        expected = (circuit.manifest or {}).get("expected_output") if isinstance(circuit.manifest, dict) else None
        if expected and results.get("counts"):
            from ..backends.results import check_expected_output

            with contextlib.suppress(ValueError, TypeError):
                results["expected_output_check"] = check_expected_output(
                    results["counts"], expected.get("dominant_states"), expected.get("probability_range"))
        metrics.setdefault("transpilation_time_ms", 0.0)
        metrics.setdefault("execution_time_ms", 0.0)
        return "completed", {"results": results, "metrics": {**metrics, **base_metrics}}
