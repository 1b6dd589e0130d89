"""Choosing a driver: built-ins plus plugins from the ``qubithub_lite.sandboxes`` group
(discovered by :mod:`qubithub_lite.plugin_loader`: built-ins first, a plugin may not shadow a
built-in's name)."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterable

from ..plugin_loader import PluginError, load_plugin, plugin_targets
from .base import Sandbox, SandboxUnavailable
from .config import SandboxConfig

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "qubithub_lite.sandboxes"
#: Used when the package is not installed with its entry points (e.g. a source checkout).
BUILTIN_DRIVERS = {
    "bwrap": "qubithub_lite.sandbox.bwrap:BwrapSandbox",
    "nsjail": "qubithub_lite.sandbox.nsjail:NsjailSandbox",
    "none": "qubithub_lite.sandbox.none:NoSandbox",
}


def available_drivers() -> dict[str, str]:
    """Driver name -> ``module:Class`` (built-ins, then plugins that add names)."""
    return {name: entry.target for name, entry in plugin_targets(ENTRY_POINT_GROUP, BUILTIN_DRIVERS).items()}


def load_driver(name: str) -> type[Sandbox]:
    drivers = available_drivers()
    if name not in drivers:
        raise SandboxUnavailable(f"unknown sandbox driver {name!r} (known: {', '.join(sorted(drivers))})")
    try:
        cls = load_plugin(ENTRY_POINT_GROUP, BUILTIN_DRIVERS, name)
    except PluginError as exc:
        raise SandboxUnavailable(str(exc)) from exc
    if not (isinstance(cls, type) and issubclass(cls, Sandbox)):
        raise SandboxUnavailable(f"sandbox driver {name!r} ({drivers[name]}) is not a Sandbox")
    return cls


def resolve_driver_name(config: SandboxConfig) -> str:
    """``auto`` means nsjail when it is on PATH, else bwrap — never ``none``."""
    if config.driver == "auto":
        return "nsjail" if shutil.which("nsjail") else "bwrap"
    return config.driver


def get_sandbox(
    config: SandboxConfig, *, protected_paths: Iterable[str | os.PathLike[str]] = ()
) -> Sandbox:
    """The configured sandbox, verified by starting one real sandbox.

    ``protected_paths`` (data dir, database, secret, config file) must never be visible
    inside; a driver that would bind them is refused. Raises :class:`SandboxUnavailable`
    with the reason when the driver cannot isolate jobs; there is no fallback to ``none``.
    """
    name = resolve_driver_name(config)
    sandbox = load_driver(name)(config, protected_paths=protected_paths)
    if sandbox.isolated:
        try:
            sandbox.probe()
        except SandboxUnavailable:
            sandbox.remove_work_root()
            raise
    logger.info(
        "sandbox ready",
        extra={"driver": name, "isolated": sandbox.isolated,
               "process_limit": sandbox.process_limit()},
    )
    return sandbox
