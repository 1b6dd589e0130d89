"""Quantum execution backends, and the public driver API for plugins.

**What a backend plugin may import** is exactly what this package exports (``__all__``):
``from qubithub_lite.backends import BackendDriver, RunResult, …``. Its submodules are
internal and may change; ``tests/backends/test_plugin_surface.py`` fails when a plugin under
``plugins/`` imports anything else of ``qubithub_lite``. See ``docs/plugins.md``.

- the driver contract: :class:`BackendDriver` (subclass it), :class:`Artifact` (what a run
  gets), :class:`RunResult` (what it returns), :class:`OptionSpec` (its options),
  :class:`Availability` / :func:`modules_present` (whether it can run here),
  :class:`BackendError` (a failed run, with a platform error class);
- helpers a driver uses: :func:`check_memory` (refuse a circuit too large for the memory
  cap), :func:`new_seed`, :func:`normalize_counts`, :func:`counts_from_rows`;
- Qiskit helpers (they import qiskit only when called, so only in simulator workers):
  :func:`qiskit_circuit_for` (an artifact as a ``QuantumCircuit``),
  :func:`split_final_measurements`, :func:`device_calibration`;
- the registry: :func:`available_backends`, :func:`backend_infos`, :func:`get_backend`,
  :func:`validate_choice`.

Import-light: this package and ``base``, ``registry``, ``results``, ``memory``,
``calibration`` never import qiskit/cirq/pennylane, so the API process can use them.  The
drivers (``aer``, ``cirq_sim``, ``pennylane_sim``) and ``artifacts`` import frameworks lazily
and only run inside simulator workers.  ``export_circuit.py`` is a self-contained script for
the sandbox.
"""

from .aer import device_calibration, qiskit_circuit_for
from .artifacts import split_final_measurements
from .base import Artifact, Availability, BackendDriver, BackendError, OptionSpec, RunResult, modules_present
from .memory import check_memory
from .registry import available_backends, backend_infos, get_backend, validate_choice
from .results import counts_from_rows, new_seed, normalize_counts

__all__ = [
    "Artifact",
    "Availability",
    "BackendDriver",
    "BackendError",
    "OptionSpec",
    "RunResult",
    "available_backends",
    "backend_infos",
    "check_memory",
    "counts_from_rows",
    "device_calibration",
    "get_backend",
    "modules_present",
    "new_seed",
    "normalize_counts",
    "qiskit_circuit_for",
    "split_final_measurements",
    "validate_choice",
]
