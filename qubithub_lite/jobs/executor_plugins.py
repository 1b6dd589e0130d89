"""Choosing the executor: ``[runs] executor`` names an entry point of ``qubithub_lite.executors``.

Each entry point is a factory ``factory(settings, sandbox, sandbox_error) -> Executor`` (see
:mod:`qubithub_lite.jobs.executor`). Built in: ``local`` (warm local worker processes) and
``dask`` (:mod:`qubithub_lite.jobs.dask_executor`, a Dask cluster). This module stays light:
``config.py`` imports it to validate the setting, so it imports no executor.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .executor import Executor

ENTRY_POINT_GROUP = "qubithub_lite.executors"
#: Used when the package is not installed with its entry points (e.g. a source checkout).
BUILTIN_EXECUTORS = {
    "local": "qubithub_lite.jobs.executor_plugins:local_executor",
    "dask": "qubithub_lite.jobs.dask_executor:dask_executor",
}


def available_executors() -> dict[str, str]:
    """Executor name -> ``module:factory`` (built-ins first; plugins may add names)."""
    from ..plugin_loader import plugin_targets

    return {name: entry.target for name, entry in plugin_targets(ENTRY_POINT_GROUP, BUILTIN_EXECUTORS).items()}


def executor_names() -> set[str]:
    return set(available_executors())


def load_executor_factory(name: str) -> Callable[..., Executor]:
    from ..plugin_loader import load_plugin

    return load_plugin(ENTRY_POINT_GROUP, BUILTIN_EXECUTORS, name)


def build_executor(settings: Any, sandbox: Any, sandbox_error: str | None) -> Executor:
    """The executor ``[runs] executor`` names, built for this server."""
    return load_executor_factory(settings.runs.executor)(settings, sandbox, sandbox_error)


def hardware_pool(config: Any) -> Executor:
    """One plain local worker for hardware backends: they reach their provider with
    credentials from the server's environment, so they never run sandboxed or remotely."""
    from .executor import LocalProcessExecutor
    from .workers import PlainLauncher

    return LocalProcessExecutor(workers=1, default_timeout=config.default_timeout_seconds,
                                launcher=PlainLauncher(sys.executable, reason="hardware backends"))


def local_executor(settings: Any, sandbox: Any, sandbox_error: str | None) -> Executor:
    """``[runs] executor = "local"``: ``[runs] workers`` warm worker processes on this machine."""
    from .executor import LocalProcessExecutor, RoutingExecutor
    from .workers import launcher_for, needs_network

    config = settings.runs
    launcher = launcher_for(settings, sandbox, sandbox_error)
    executor: Executor = LocalProcessExecutor(
        workers=config.workers, default_timeout=config.default_timeout_seconds,
        launcher=launcher,
        max_idle_workers=config.max_idle_workers, idle_seconds=config.worker_idle_seconds,
        memory_budget_bytes=config.worker_memory_budget_mib << 20)
    if launcher.isolated:
        # Hardware backends reach their provider with credentials from our environment:
        # their tasks go to one plain worker, started only if such a run ever comes.
        executor = RoutingExecutor(executor, lambda: hardware_pool(config), needs_network)
    return executor
