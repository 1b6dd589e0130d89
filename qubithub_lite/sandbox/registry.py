"""Choosing a driver: built-ins plus plugins from the ``qubithub_lite.sandboxes`` group."""

from __future__ import annotations

import importlib
import logging
import os
import shutil
from collections.abc import Iterable
from importlib.metadata import entry_points

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
    """Driver name -> ``module:Class`` (entry points override nothing but may add names)."""
    drivers = {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}
    drivers.update(BUILTIN_DRIVERS)
    return drivers


def load_driver(name: str) -> type[Sandbox]:
    target = available_drivers().get(name)
    if target is None:
        known = ", ".join(sorted(available_drivers()))
        raise SandboxUnavailable(f"unknown sandbox driver {name!r} (known: {known})")
    module_name, _, attr = target.partition(":")
    cls = getattr(importlib.import_module(module_name), attr)
    if not (isinstance(cls, type) and issubclass(cls, Sandbox)):
        raise SandboxUnavailable(f"sandbox driver {name!r} ({target}) is not a Sandbox")
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
