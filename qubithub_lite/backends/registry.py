"""Backend registry: built-ins plus the entry-point group ``qubithub_lite.backends``.

An entry point may name a :class:`BackendDriver` subclass, a driver instance, or a callable
returning an iterable of drivers (e.g. one per fake device).  Built-ins are always registered
from this module too, so a plain source checkout (no installed metadata) works.  Discovery and
precedence are :mod:`qubithub_lite.plugin_loader`'s (built-ins first, a plugin may not shadow a
built-in; a broken plugin is logged and left out); a driver name produced twice keeps the
first.  Import-light: listing backends never imports a quantum framework.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import Any

from ..plugin_loader import load_plugins
from .base import BackendDriver, BackendError
from .frameworks import DEFAULT_BACKENDS  # noqa: F401  (default backend per framework)

log = logging.getLogger(__name__)
GROUP = "qubithub_lite.backends"

#: The built-in entry points (mirrors the pyproject lines).
BUILTINS: dict[str, str] = {
    "qiskit_aer": "qubithub_lite.backends.aer:QiskitAerBackend",
    "fake_devices": "qubithub_lite.backends.aer:fake_device_backends",
    "cirq_simulator": "qubithub_lite.backends.cirq_sim:CirqSimulatorBackend",
    "pennylane_default": "qubithub_lite.backends.pennylane_sim:PennyLaneDefaultBackend",
    "pennylane_lightning": "qubithub_lite.backends.pennylane_sim:PennyLaneLightningBackend",
}


_lock = threading.Lock()
_registry: dict[str, BackendDriver] | None = None


def _drivers_from(obj: Any) -> list[BackendDriver]:
    if isinstance(obj, BackendDriver):
        return [obj]
    if isinstance(obj, type) and issubclass(obj, BackendDriver):
        return [obj()]
    if callable(obj):
        produced = obj()
        if isinstance(produced, BackendDriver):
            return [produced]
        if isinstance(produced, Iterable):
            return [d for d in produced if isinstance(d, BackendDriver)]
    raise TypeError(f"entry point object {obj!r} is not a backend driver or factory")


def _load() -> dict[str, BackendDriver]:
    drivers: dict[str, BackendDriver] = {}
    for name, obj in load_plugins(GROUP, BUILTINS).items():
        try:
            for driver in _drivers_from(obj):
                if driver.name in drivers:
                    log.warning("backend %s registered twice; keeping the first", driver.name)
                    continue
                drivers[driver.name] = driver
        except Exception:  # noqa: BLE001 - a broken plugin must not break the hub
            log.exception("could not load backend entry point %s", name)
    return drivers


def registry(reload: bool = False) -> dict[str, BackendDriver]:
    global _registry
    with _lock:
        if _registry is None or reload:
            _registry = _load()
        return _registry


def available_backends(include_unavailable: bool = True) -> list[BackendDriver]:
    """Every registered driver (sorted by type, then name); optionally only the available ones."""
    order = {"simulation": 0, "emulation": 1, "hardware": 2}
    drivers = sorted(registry().values(), key=lambda d: (order.get(d.type, 9), d.name))
    if not include_unavailable:
        drivers = [d for d in drivers if d.availability().ok]
    return drivers


def backend_infos() -> list[dict[str, Any]]:
    return [d.info() for d in available_backends()]


def get_backend(name: str) -> BackendDriver:
    """The driver called ``name``; ``BackendError('backend_unavailable')`` naming valid ones."""
    drivers = registry()
    if name not in drivers:
        raise BackendError(
            "backend_unavailable",
            f"unknown backend {name!r}; available: {', '.join(sorted(drivers))}",
        )
    return drivers[name]


def backends_for(framework: str, backend_type: str | None = None) -> list[str]:
    return [
        d.name
        for d in available_backends()
        if d.accepts(framework) and (backend_type is None or d.type == backend_type)
    ]


def validate_choice(framework: str, backend_name: str, backend_type: str | None = None) -> BackendDriver:
    """Check a submission before queueing it (for the API's 400 answers)."""
    driver = get_backend(backend_name)
    if backend_type is not None and driver.type != backend_type:
        raise BackendError(
            "backend_unavailable",
            f"backend {backend_name!r} is of type {driver.type!r}, not {backend_type!r}; "
            f"{backend_type} backends for {framework}: {backends_for(framework, backend_type)}",
        )
    if not driver.accepts(framework):
        raise BackendError(
            "backend_unavailable",
            f"backend {backend_name!r} does not accept {framework} circuits; "
            f"valid choices: {backends_for(framework, backend_type)}",
        )
    avail = driver.availability()
    if not avail.ok:
        raise BackendError("backend_unavailable", f"backend {backend_name!r} is unavailable: {avail.reason}")
    return driver
