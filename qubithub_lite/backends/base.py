"""The backend driver interface.

Everything in this module is import-light (no qiskit/cirq/pennylane): the API process imports
it to list backends, check frameworks and qubit limits.  Drivers import their framework lazily
inside :meth:`BackendDriver.run` / :meth:`BackendDriver.calibration`, which only ever execute in
trusted simulator worker processes.
"""

from __future__ import annotations

import importlib.util
import time
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Literal

BackendType = Literal["simulation", "emulation", "hardware"]

#: Artifact kinds a driver may receive (see ``qubithub_lite.backends.artifacts``).
ARTIFACT_KINDS = ("qpy", "cirq_json", "qasm2", "qasm3", "pennylane-in-sandbox")

#: The run error classes of platform-notes §7.
ERROR_CLASSES = (
    "storage_miss",
    "parse_error",
    "sandbox_timeout",
    "backend_unavailable",
    "quota_exceeded",
    "internal_error",
)


class BackendError(Exception):
    """A run failure with a platform error class and a human-readable message."""

    def __init__(self, error_class: str, message: str) -> None:
        if error_class not in ERROR_CLASSES:
            error_class = "internal_error"
        super().__init__(message)
        self.error_class = error_class
        self.message = message


@dataclass(frozen=True)
class Availability:
    ok: bool
    reason: str = ""


@dataclass
class Artifact:
    """A portable, exported circuit: the output of the export script (or a .qasm source)."""

    kind: str  # one of ARTIFACT_KINDS
    data: bytes
    framework: str | None = None  # framework of the source circuit: qiskit|cirq|pennylane|openqasm3
    hash: str | None = None  # content hash, used as the workers' cache key

    def key(self) -> str:
        if self.hash is None:
            import hashlib

            self.hash = hashlib.sha256(self.kind.encode() + b"\0" + self.data).hexdigest()
        return self.hash


@dataclass
class RunResult:
    """What a driver returns.  ``counts`` keys are bitstrings in Qiskit order (bit 0 rightmost)."""

    counts: dict[str, int]
    shots: int
    seed: int | None
    memory: list[str] | None = None
    statevector: list[list[float]] | None = None  # [[re, im], ...], Qiskit (little-endian) order
    metrics: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def sampled(cls, rows: Any, shots: int, seed: int | None, opts: dict[str, Any], statevector: Any, *,
                seconds: float, convert_ms: float, **metrics: Any) -> RunResult:
        """A sampling simulator's result from its per-shot rows (row[i] = classical bit i), the
        seconds the sampling took, the circuit conversion's milliseconds and further metrics."""
        from .results import counts_from_rows, memory_from_rows

        return cls(
            counts=counts_from_rows(rows),
            shots=shots,
            seed=seed,
            memory=memory_from_rows(rows) if opts.get("memory") else None,
            statevector=statevector,
            metrics={"execution_time_ms": round(seconds * 1000, 3), "transpilation_time_ms": round(convert_ms, 3),
                     **metrics},
        )


@dataclass(frozen=True)
class OptionSpec:
    name: str
    type: str  # "bool" | "int" | "str" | "float"
    default: Any = None
    choices: tuple[Any, ...] | None = None
    description: str = ""


#: module -> (checked at, importable). A lookup walks sys.path (~0.3 ms per module), and
#: every run submission asks, so answers are reused for a minute.
_FOUND: dict[str, tuple[float, bool]] = {}
FOUND_TTL_SECONDS = 60.0


def _importable(module: str) -> bool:
    now = time.monotonic()
    known = _FOUND.get(module)
    if known is None or now - known[0] > FOUND_TTL_SECONDS:
        known = _FOUND[module] = (now, importlib.util.find_spec(module) is not None)
    return known[1]


def modules_present(*modules: str) -> Availability:
    """Availability from whether modules are importable, without importing them."""
    missing = [m for m in modules if not _importable(m)]
    if missing:
        return Availability(False, "not installed: " + ", ".join(missing))
    return Availability(True, "")


class BackendDriver(ABC):
    """One executable backend (e.g. ``qiskit_aer`` or ``fake_manila``)."""

    name: str = ""
    type: BackendType = "simulation"
    frameworks: tuple[str, ...] = ()
    max_qubits: int = 0
    description: str = ""
    #: Python modules the driver needs (checked with find_spec by availability()).
    requires: ClassVar[tuple[str, ...]] = ()
    #: Whether the run simulates a dense statevector (memory check applies).
    dense_state: ClassVar[bool] = True
    options: ClassVar[tuple[OptionSpec, ...]] = ()

    def availability(self) -> Availability:
        return modules_present(*self.requires)

    def accepts(self, framework: str) -> bool:
        return framework in self.frameworks

    def info(self) -> dict[str, Any]:
        """JSON-safe metadata (what ``GET /backends`` lists)."""
        avail = self.availability()
        return {
            "name": self.name,
            "type": self.type,
            "status": "online" if avail.ok else "offline",
            "status_reason": avail.reason,
            "max_qubits": self.max_qubits,
            "frameworks": list(self.frameworks),
            "description": self.description,
            "has_calibration": self.type != "simulation",
            "options": [asdict(o) for o in self.options],
        }

    def validate_options(self, options: dict[str, Any] | None) -> dict[str, Any]:
        """Return options with defaults applied; raise BackendError(parse_error) on bad input."""
        options = dict(options or {})
        known = {o.name: o for o in self.options}
        out: dict[str, Any] = {}
        for key in options:
            if key not in known:
                raise BackendError(
                    "parse_error",
                    f"unknown option {key!r} for backend {self.name}; valid: {sorted(known) or 'none'}",
                )
        for name, spec in known.items():
            value = options.get(name, spec.default)
            if value is not None and spec.choices and value not in spec.choices:
                raise BackendError(
                    "parse_error", f"option {name}={value!r} invalid; choose one of {list(spec.choices)}"
                )
            out[name] = value
        return out

    @abstractmethod
    def run(
        self,
        artifact: Artifact,
        shots: int,
        seed: int | None,
        parameters: dict[str, Any] | None,
        options: dict[str, Any] | None,
    ) -> RunResult:
        """Execute synchronously (inside a worker process) and return counts in Qiskit order."""

    def cancel(self, task_id: str) -> bool:
        """Best-effort cancel of a remote job.  Local simulators are cancelled by the executor
        killing the worker process, so the default does nothing and returns False."""
        return False

    def calibration(self) -> dict[str, Any] | None:
        """Calibration data (qubit T1/T2/readout error, gate errors/durations) or None for
        ideal simulators.  May import heavy modules: call it in a worker or subprocess
        (see ``qubithub_lite.backends.calibration.fetch_calibration``)."""
        return None
