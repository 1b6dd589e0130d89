"""Wire the runs engine into the hub: service, compiler, executor, queue."""

from __future__ import annotations

from typing import Any

from ..backends.registry import registry
from ..services.runs import Runs
from .compile import Compiler, RunFailure
from .events import RunEvents
from .executor_plugins import build_executor
from .queue import RunQueue


async def attach_runs(hub) -> None:
    config = hub.settings.runs
    hub.run_events = RunEvents()
    hub.runs = Runs(hub.db, hub.run_events, hub.settings, registry)

    def sandbox():
        if hub.sandbox is None:
            raise RunFailure("backend_unavailable", f"circuit.py cannot be run: {hub.sandbox_error or 'no sandbox'}")
        return hub.sandbox

    compiler = Compiler(hub.db, hub.blobs, sandbox, config.compile_timeout_seconds)
    executor = build_executor(hub.settings, hub.sandbox, hub.sandbox_error)
    hub.run_queue = RunQueue(hub.runs, compiler, executor, config)
    hub.runs.queue = hub.run_queue
    hub.add_component(hub.run_queue)

    async def queue_health() -> dict[str, Any]:
        counts = await hub.runs.active_counts()
        return {"ok": True, "workers": config.workers, "executor": hub.run_queue.executor.stats(), **counts,
                "subscribers": hub.run_events.subscriber_count()}

    hub.health_checks["queue"] = queue_health
