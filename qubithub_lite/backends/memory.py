"""Memory check before a dense simulation (import-light)."""

from __future__ import annotations

import os

from .base import BackendError

#: Environment variable: upper bound in bytes for one simulation's state (default 8 GiB).
MEMORY_CAP_ENV = "QUBITHUB_SIM_MEMORY_CAP_BYTES"
DEFAULT_CAP = 8 * 1024**3
#: Fraction of currently available memory a single simulation may use.
AVAILABLE_FRACTION = 0.75


def statevector_bytes(num_qubits: int, density_matrix: bool = False) -> int:
    """16 bytes per complex128 amplitude: 16·2^n (statevector) or 16·4^n (density matrix)."""
    return 16 * (4**num_qubits if density_matrix else 2**num_qubits)


def _proc_bytes(path: str, key: str) -> int | None:
    """A ``key: N kB`` line of a /proc file, in bytes (None: no such line, or unreadable)."""
    try:
        with open(path, encoding="ascii") as fh:
            for line in fh:
                if line.startswith(key):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def available_memory() -> int:
    """Bytes of memory available now (MemAvailable; falls back to free physical pages)."""
    available = _proc_bytes("/proc/meminfo", "MemAvailable:")
    if available is not None:
        return available
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return DEFAULT_CAP


def memory_cap_setting(environ: dict[str, str] | None = None) -> int:
    """The configured cap itself (``QUBITHUB_SIM_MEMORY_CAP_BYTES``, default 8 GiB)."""
    raw = (os.environ if environ is None else environ).get(MEMORY_CAP_ENV, "")
    try:
        return int(float(raw)) if raw else DEFAULT_CAP
    except ValueError:
        return DEFAULT_CAP


def memory_cap() -> int:
    """The budget of this process (a sandboxed worker gets its memory limit here), less what
    it already holds resident."""
    raw = os.environ.get(MEMORY_CAP_ENV, "")
    try:
        cap = int(float(raw)) if raw else DEFAULT_CAP
    except ValueError:
        return DEFAULT_CAP
    return max(0, cap - resident_bytes()) if raw else cap


def resident_bytes() -> int:
    resident = _proc_bytes("/proc/self/status", "VmRSS:")
    return resident if resident is not None else 0


def _fmt(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"  # pragma: no cover


def check_memory(num_qubits: int, density_matrix: bool = False, cap: int | None = None) -> int:
    """Raise ``BackendError('quota_exceeded')`` when the state cannot fit; return bytes needed."""
    need = statevector_bytes(num_qubits, density_matrix)
    limit = min(cap if cap is not None else memory_cap(), int(available_memory() * AVAILABLE_FRACTION))
    if need > limit:
        kind = "density matrix" if density_matrix else "statevector"
        raise BackendError(
            "quota_exceeded",
            f"a {num_qubits}-qubit {kind} simulation needs {_fmt(need)} of memory but at most "
            f"{_fmt(limit)} is allowed on this server; use fewer qubits, a Clifford-only circuit, "
            f"or method='matrix_product_state' on qiskit_aer",
        )
    return need
