"""Choosing the executor: ``[runs] executor`` names an entry point of ``qubithub_lite.executors``.

Each entry point is a factory ``factory(settings, sandbox, sandbox_error) -> Executor`` (see
:mod:`qubithub_lite.jobs.executor`). Built in: ``local`` (warm local worker processes) and
``dask`` (:mod:`qubithub_lite.jobs.dask_executor`, a Dask cluster). This module stays light:
``config.py`` imports it to validate the setting, so it imports no executor.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from importlib.metadata import entry_points
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
    """Executor name -> ``module:factory`` (plugins may add names, not replace built-ins)."""
    found = {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}
    found.update(BUILTIN_EXECUTORS)
    return found


def executor_names() -> set[str]:
    return set(available_executors())


def load_executor_factory(name: str) -> Callable[..., Executor]:
    target = available_executors().get(name)
    if target is None:
        raise ValueError(f"unknown executor {name!r} (known: {', '.join(sorted(available_executors()))})")
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def build_executor(settings: Any, sandbox: Any, sandbox_error: str | None) -> Executor:
    """The executor ``[runs] executor`` names, built for this server."""
    return load_executor_factory(settings.runs.executor)(settings, sandbox, sandbox_error)


def hardware_pool(config: Any) -> Executor:
    """One plain local worker for hardware backends: they reach their provider with
    credentials from the server's environment, so they never run sandboxed or remotely."""
    from .executor import LocalProcessExecutor
    from .workers import PlainLauncher

    return LocalProcessExecutor(workers=1, default_timeout=config.default_timeout_seconds,
                                max_timeout=config.max_timeout_seconds,
                                launcher=PlainLauncher(sys.executable, reason="hardware backends"))


def local_executor(settings: Any, sandbox: Any, sandbox_error: str | None) -> Executor:
    """``[runs] executor = "local"``: ``[runs] workers`` warm worker processes on this machine."""
    from .executor import LocalProcessExecutor, RoutingExecutor
    from .workers import launcher_for, needs_network

    config = settings.runs
    launcher = launcher_for(settings, sandbox, sandbox_error)
    executor: Executor = LocalProcessExecutor(workers=config.workers, default_timeout=config.default_timeout_seconds,
                                              max_timeout=config.max_timeout_seconds, launcher=launcher)
    if launcher.isolated:
        # Hardware backends reach their provider with credentials from our environment:
        # their tasks go to one plain worker, started only if such a run ever comes.
        executor = RoutingExecutor(executor, lambda: hardware_pool(config), needs_network)
    return executor
