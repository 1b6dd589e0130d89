"""Quantum execution backends.

Import-light: this package and ``base``, ``registry``, ``results``, ``memory``,
``calibration`` never import qiskit/cirq/pennylane, so the API process can use them.  The
drivers (``aer``, ``cirq_sim``, ``pennylane_sim``) and ``artifacts`` import frameworks lazily
and only run inside simulator workers.  ``export_circuit.py`` is a self-contained script for
the sandbox.
"""

from .base import Artifact, Availability, BackendDriver, BackendError, OptionSpec, RunResult
from .registry import available_backends, backend_infos, get_backend, validate_choice

__all__ = [
    "Artifact",
    "Availability",
    "BackendDriver",
    "BackendError",
    "OptionSpec",
    "RunResult",
    "available_backends",
    "backend_infos",
    "get_backend",
    "validate_choice",
]
