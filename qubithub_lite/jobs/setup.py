"""Wire the runs engine into the hub: service, compiler, executor, queue."""

from __future__ import annotations

import sys
from typing import Any

from ..backends.registry import registry
from ..services.runs import Runs
from .compile import Compiler, RunFailure
from .events import RunEvents
from .executor import LocalProcessExecutor, RoutingExecutor
from .queue import RunQueue
from .workers import PlainLauncher, launcher_for, needs_network


async def attach_runs(hub) -> None:
    config = hub.settings.runs
    hub.run_events = RunEvents()
    hub.runs = Runs(hub.db, hub.run_events, hub.settings, registry)

    def sandbox():
        if hub.sandbox is None:
            raise RunFailure("backend_unavailable", f"circuit.py cannot be run: {hub.sandbox_error or 'no sandbox'}")
        return hub.sandbox

    compiler = Compiler(hub.db, hub.blobs, sandbox, config.compile_timeout_seconds)
    launcher = launcher_for(hub.settings, hub.sandbox, hub.sandbox_error)
    executor = LocalProcessExecutor(workers=config.workers, default_timeout=config.default_timeout_seconds,
                                    max_timeout=config.max_timeout_seconds, launcher=launcher,
                                    max_idle_workers=config.max_idle_workers, idle_seconds=config.worker_idle_seconds,
                                    memory_budget_bytes=config.worker_memory_budget_mib << 20)
    if launcher.isolated:
        # Hardware backends reach their provider with credentials from our environment:
        # their tasks go to one plain worker, started only if such a run ever comes.
        executor = RoutingExecutor(
            executor,
            lambda: LocalProcessExecutor(workers=1, default_timeout=config.default_timeout_seconds,
                                         max_timeout=config.max_timeout_seconds,
                                         launcher=PlainLauncher(sys.executable, reason="hardware backends")),
            needs_network,
        )
    hub.run_queue = RunQueue(hub.runs, compiler, executor, config)
    hub.runs.queue = hub.run_queue
    hub.add_component(hub.run_queue)

    async def queue_health() -> dict[str, Any]:
        counts = await hub.runs.active_counts()
        return {"ok": True, "workers": config.workers, "executor": hub.run_queue.executor.stats(), **counts,
                "subscribers": hub.run_events.subscriber_count()}

    hub.health_checks["queue"] = queue_health
