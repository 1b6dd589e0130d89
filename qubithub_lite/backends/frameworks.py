"""Framework facts, in one place: which backend runs a framework by default, which modules a
warm interpreter imports for it, which PennyLane device a backend name means.

Import-light on purpose (no quantum framework is imported here): the API process, the run
queue, the compiler, the sandbox configuration and the simulator workers all read it.
"""

from __future__ import annotations

#: The SDKs user code is written in (a space's ``sdk``; a circuit's framework besides
#: ``openqasm3``).
SDKS: tuple[str, ...] = ("qiskit", "cirq", "pennylane")

#: A circuit's frameworks (the SDKs and plain OpenQASM 3), as a manifest names them.
FRAMEWORKS: tuple[str, ...] = ("qiskit", "pennylane", "cirq", "openqasm3")

#: Default backend per framework (platform-notes §6).
DEFAULT_BACKENDS: dict[str, str] = {
    "qiskit": "qiskit_aer",
    "openqasm3": "qiskit_aer",
    "cirq": "cirq_simulator",
    "pennylane": "pennylane_default",
}

#: PennyLane device behind each PennyLane backend (a QNode that could not be exported runs
#: in the sandbox on this device).
PENNYLANE_DEVICES: dict[str, str] = {
    "pennylane_default": "default.qubit",
    "pennylane_lightning": "lightning.qubit",
}

#: Modules a warm sandboxed interpreter imports before running user code of that SDK
#: (a space's execute call, and compiling a circuit.py).
EXECUTE_PRELOAD: dict[str, tuple[str, ...]] = {sdk: (sdk,) for sdk in SDKS}

#: ... and before a visualize call (the drawer's matplotlib too, with its font cache built).
VISUALIZE_PRELOAD: dict[str, tuple[str, ...]] = {
    "qiskit": ("qiskit", "qiskit.visualization", "matplotlib.pyplot", "pylatexenc.latex2text"),
    "cirq": ("cirq", "cirq.contrib.svg"),
    "pennylane": ("pennylane", "matplotlib.pyplot"),
}

#: What the sandbox's default warm interpreters import (``[sandbox] warm_preload``).
DEFAULT_WARM_PRELOAD: tuple[str, ...] = EXECUTE_PRELOAD["qiskit"]

#: Modules every simulator worker imports at start (and warms up with one tiny Aer run).
SIMWORKER_PRELOAD: tuple[str, ...] = ("qiskit", "qiskit_aer")
