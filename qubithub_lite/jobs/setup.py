"""The runs engine's parts the hub's wiring (``hub.py``) builds: the executor the slots run
simulations on, and the compiler. Each is built from what it uses, nothing else."""

from __future__ import annotations

import sys
from typing import Any, Awaitable, Callable

from ..sandbox.base import Sandbox
from .compile import Compiler, RunFailure
from .events import RunEvents
from .executor import Executor, LocalProcessExecutor, RoutingExecutor
from .workers import PlainLauncher, launcher_for, needs_network


def build_executor(settings, sandbox: Sandbox | None, sandbox_error: str | None) -> Executor:
    config = settings.runs
    launcher = launcher_for(settings, sandbox, sandbox_error)
    executor: Executor = LocalProcessExecutor(
        workers=config.workers, default_timeout=config.default_timeout_seconds, launcher=launcher,
        max_idle_workers=config.max_idle_workers, idle_seconds=config.worker_idle_seconds,
        memory_budget_bytes=config.worker_memory_budget_mib << 20)
    if launcher.isolated:
        # Hardware backends reach their provider with credentials from our environment:
        # their tasks go to one plain worker, started only if such a run ever comes.
        executor = RoutingExecutor(
            executor,
            lambda: LocalProcessExecutor(workers=1, default_timeout=config.default_timeout_seconds,
                                         launcher=PlainLauncher(sys.executable, reason="hardware backends")),
            needs_network,
        )
    return executor


def build_compiler(settings, db, blobs, sandbox: Sandbox | None, sandbox_error: str | None) -> Compiler:
    def require_sandbox() -> Sandbox:
        if sandbox is None:
            raise RunFailure("backend_unavailable", f"circuit.py cannot be run: {sandbox_error or 'no sandbox'}")
        return sandbox

    return Compiler(db, blobs, require_sandbox, settings.runs.compile_timeout_seconds)


def queue_health(config, runs, executor: Executor, events: RunEvents) -> Callable[[], Awaitable[dict[str, Any]]]:
    async def check() -> dict[str, Any]:
        counts = await runs.active_counts()
        return {"ok": True, "workers": config.workers, "executor": executor.stats(), **counts,
                "subscribers": events.subscriber_count()}

    return check
