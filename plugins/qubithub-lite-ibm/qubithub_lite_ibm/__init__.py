"""IBM Quantum backends for QubitHub Lite (entry point ``qubithub_lite.backends: ibm``)."""

from .driver import IBMRuntimeBackend, ibm_backends

__all__ = ["IBMRuntimeBackend", "ibm_backends"]
