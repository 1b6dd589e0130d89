"""The runs engine's parts the hub's wiring (``hub.py``) builds: the executor the slots run
simulations on, and the compiler. Each is built from what it uses, nothing else."""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from ..sandbox.base import Sandbox
from .compile import Compiler, RunFailure
from .events import RunEvents
from .executor import Executor


def build_executor(settings, sandbox: Sandbox | None, sandbox_error: str | None) -> Executor:
    """The executor ``[runs] executor`` names (entry-point group ``qubithub_lite.executors``)."""
    from .executor_plugins import build_executor as build

    return build(settings, sandbox, sandbox_error)


def build_compiler(settings, db, blobs, sandbox: Sandbox | None, sandbox_error: str | None) -> Compiler:
    def require_sandbox() -> Sandbox:
        if sandbox is None:
            raise RunFailure("backend_unavailable", f"circuit.py cannot be run: {sandbox_error or 'no sandbox'}")
        return sandbox

    return Compiler(db, blobs, require_sandbox, settings.runs.compile_timeout_seconds)


def queue_health(config, runs, executor: Executor, events: RunEvents, *, leases=None,
                 bus=None) -> Callable[[], Awaitable[dict[str, Any]]]:
    """The queue's health check; with several processes on one database (``leases``, ``bus``
    given) also this process's leases and event bus (``jobs.leases``, ``jobs.bus``)."""
    async def check() -> dict[str, Any]:
        counts = await runs.active_counts()
        state = {"ok": True, "workers": config.workers, "executor": executor.stats(), **counts,
                 "subscribers": events.subscriber_count()}
        if leases is not None:
            state["leases"] = leases.stats()
        if bus is not None:
            state["bus"] = bus.stats()
        return state

    return check
