"""The run queue. The database is its truth; this component only schedules.

- It sees the runs only through a :class:`~qubithub_lite.jobs.scheduler.RunStore` (the run
  service): every transition is reported there; it never calls back into the service
  otherwise. The service sees the slots only through the
  :class:`~qubithub_lite.jobs.scheduler.SlotBoard` (wake, cancel, service order).
- ``workers`` slot loops claim the next run in *fair* order: among users below the
  per-user concurrency cap, the one served longest ago goes first, oldest run first
  (so one student's 200 runs do not starve the class).
- A claimed run is compiled once (``jobs.compile``) and executed on the
  :class:`~qubithub_lite.jobs.executor.Executor` (warm local worker processes today).
- A cancelled run's task is cancelled through the board: the sandbox or simulation is killed at once.
- ``start`` recovers after a crash: pending runs are queued, runs caught ``running``
  are retried once (or failed with a clear message).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

from ..logs import fields
from ..backends.frameworks import PENNYLANE_DEVICES
from ..run_status import RunStatus
from .compile import SANDBOX_KIND, Compiler, RunFailure, entry_of
from .executor import Executor, SimTask
from .scheduler import RunStore, SlotBoard
from .tasks import cancel_and_wait

if TYPE_CHECKING:
    from .leases import Leases

log = logging.getLogger(__name__)


class RunQueue:
    def __init__(self, runs: RunStore, board: SlotBoard, compiler: Compiler, executor: Executor, config,
                 leases: Leases | None = None):
        self.runs = runs
        self.board = board
        self.compiler = compiler
        self.executor = executor
        self.config = config
        self._wake = board.signal
        self._slots: list[asyncio.Task] = []
        self._active = board.active
        self._claim_lock = asyncio.Lock()
        self._executor_lock = asyncio.Lock()
        self._executor_started = False
        self._closing = False
        self._warmup: asyncio.Task | None = None
        # circuit version id -> (circuit, version) as first seen: versions are immutable.
        self._versions: dict[str, tuple[Any, Any]] = {}
        #: Run leases (built before the queue, on the same board); None: no leases (a bare queue).
        self.leases = leases
        self._finishing = board.finishing  # runs writing their own end: not "lost"

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
        await cancel_and_wait(self._warmup)
        if self.leases is not None:
            await self.leases.release()
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
                if run is not None and run.status == RunStatus.RUNNING:
                    run = await self.runs.transition(run, RunStatus.QUEUED, attempts=max(0, run.attempts - 1))
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
        shared = self.leases is not None and self.leases.shared
        stuck = await self.runs.interrupted()
        if shared:  # several processes (PostgreSQL): a running run may be another's, live: only expired leases
            stuck = [run for run in stuck if run.status == RunStatus.PENDING]
            if await self.leases.recover_expired():
                self._wake.set()
        for run in stuck:
            if run.status == RunStatus.PENDING:
                await self.runs.transition(run.id, RunStatus.QUEUED)
            elif self.config.retry_interrupted and run.attempts < 2:
                await self.runs.transition(run.id, RunStatus.QUEUED)
                log.warning("run.retried_after_restart", extra=fields(run_id=run.id))
            else:
                await self.runs.transition(
                    run.id, RunStatus.FAILED, error_class="internal_error",
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
    def queued_or_running(self) -> int:
        return len(self._active)

    async def _claim(self) -> Any | None:
        """The next run in fair order: among users below the per-user cap, fewest running
        first, then the one served longest ago, then the oldest waiting run."""
        async with self._claim_lock:
            if self._closing:
                return None
            fairness = self.board.fairness(self.config.per_user_concurrency)
            if self.leases is not None and self.leases.shared:  # cap and fair order decided in the database
                claimed = await self.leases.claim(fairness.cap)
            elif self.leases is not None:  # one process: the claim writes its lease
                claimed = await self.runs.claim_next(fairness, self.leases.fields())
            else:
                claimed = await self.runs.claim_next(fairness)
            if claimed is not None:
                self.board.claimed(claimed.user_id)
            return claimed

    async def _slot_loop(self, index: int) -> None:
        handoff: tuple[Any, asyncio.Task] | None = None  # the next run, claimed as the last one ended
        while handoff is not None or not self._closing:
            if handoff is None:
                self._wake.clear()
                try:
                    run = await self._claim()
                except Exception:
                    log.exception("queue.claim_failed")
                    run = None
                if run is None:
                    async with self.runs.idle():
                        with contextlib.suppress(asyncio.TimeoutError):
                            await asyncio.wait_for(self._wake.wait(), timeout=2.0)
                    continue
                task = self._start(run)
            else:
                run, task = handoff
            handoff = None
            self._wake.set()  # others may find more work
            try:
                async with self.runs.idle():
                    handoff = await task
            except asyncio.CancelledError:
                if self._closing:
                    raise
            finally:
                self._finishing.discard(run.id)
                if self._active.get(run.id) is task:  # not already finished by the claim of the next run
                    self.board.finished(run.id, run.user_id)
                self._wake.set()

    def _start(self, run: Any) -> asyncio.Task:
        """Execute a claimed run in its own task (what cancelling the run cancels)."""
        task = asyncio.create_task(self._execute(run), name=f"run-{run.id}")
        self._active[run.id] = task
        return task

    async def _end_and_claim(self, run: Any, status: RunStatus, payload: dict[str, Any],
                             owner: str | None) -> tuple[Any, asyncio.Task] | None:
        """Write ``run``'s end and claim this slot's next run in one transaction (the slot then
        never waits for two trips to the database between runs); the next run is started here,
        under the claim lock, so a drain sees it in ``_active``. Returns it with its task."""
        async with self._claim_lock:
            if not self._closing and not (self.leases is not None and self.leases.shared):
                self.board.finished(run.id, run.user_id)  # the fairness of this claim counts it as done
                fairness = self.board.fairness(self.config.per_user_concurrency)
                fields = self.leases.fields() if self.leases is not None else None
                try:
                    claimed = await self.runs.finish_and_claim(run, status, payload, fairness, fields, owner=owner)
                except Exception:
                    log.exception("queue.claim_failed")
                else:
                    if claimed is None:
                        return None
                    self.board.claimed(claimed.user_id)
                    return claimed, self._start(claimed)
        await self.runs.transition(run, status, owner=owner, **payload)
        return None

    async def stop_run(self, run_id: str) -> None:
        """Stop a run's work here (cancelled or taken over by another process), unless it is
        writing its own end (nothing left to stop): :meth:`SlotBoard.stop_run`."""
        await self.board.stop_run(run_id)

    # Execution -------------------------------------------------------------------
    def _timeout(self, circuit: Any) -> float:
        manifest = circuit.manifest if isinstance(circuit.manifest, dict) else {}
        asked = (manifest.get("execution") or {}).get("timeout_seconds")
        limit = float(asked) if isinstance(asked, (int, float)) and asked > 0 else self.config.default_timeout_seconds
        return min(limit, self.config.max_timeout_seconds)  # the one cap (the executor adds none)

    async def _execute(self, run: Any) -> tuple[Any, asyncio.Task] | None:
        owner = self.leases.owner if self.leases is not None else None  # only while we hold the lease
        try:
            outcome = await self._perform(run)
        except RunFailure as failure:
            self._finishing.add(run.id)
            await self.runs.transition(run.id, RunStatus.FAILED, owner=owner, error_class=failure.error_class,
                                       error_message=failure.message[:4000])
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("run.internal_error", extra=fields(run_id=run.id))
            self._finishing.add(run.id)
            await self.runs.transition(run.id, RunStatus.FAILED, owner=owner, error_class="internal_error",
                                       error_message=f"internal error: {type(exc).__name__}")
            return
        status, payload = outcome
        self._finishing.add(run.id)
        return await self._end_and_claim(run, status, payload, owner)

    async def _perform(self, run: Any) -> tuple[RunStatus, dict[str, Any]]:
        known = self._versions.get(run.circuit_version_id)
        if known is None:
            found = await self.runs.circuit_and_version(run)
            if found is None:
                raise RunFailure("storage_miss", "the circuit version of this run no longer exists")
            if len(self._versions) > 4096:
                self._versions.clear()
            known = self._versions[found[1].id] = found
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
            analysis = await self.runs.analysis(run)
            async with self.runs.idle():  # the simulation may take long: don't hold a pool slot
                sim = await self.executor.submit(SimTask(
                    task_id=run.id, backend=run.backend_name, artifact=prepared.data or b"", artifact_kind=prepared.kind,
                    shots=run.shots, seed=run.seed, parameters=remaining, options=run.options or {}, timeout=timeout,
                    framework=prepared.framework, analysis=analysis, attempt=run.attempts,
                ))
            if sim.status == RunStatus.CANCELLED:
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
        return RunStatus.COMPLETED, {"results": results, "metrics": {**metrics, **base_metrics}}
