"""Amazon Braket backends for QubitHub Lite (entry point ``qubithub_lite.backends: braket``)."""

from .driver import BraketBackend, braket_backends, to_braket_qasm3

__all__ = ["BraketBackend", "braket_backends", "to_braket_qasm3"]
