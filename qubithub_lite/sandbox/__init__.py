"""Running untrusted user Python in a sandbox (bubblewrap, nsjail, or explicitly none).

Typical use::

    sandbox = get_sandbox(SandboxConfig(**section), protected_paths=[data_dir, config_path])
    await sandbox.start()                       # fill the warm pool
    result = await sandbox.run_python({"circuit.py": src}, script="circuit.py",
                                      limits=sandbox.limits(timeout=30), preload=("qiskit",))
"""

from .base import Sandbox, SandboxUnavailable
from .config import SandboxConfig
from .limits import LimitName, Limits, SandboxResult
from .registry import ENTRY_POINT_GROUP, available_drivers, get_sandbox

__all__ = [
    "ENTRY_POINT_GROUP",
    "LimitName",
    "Limits",
    "Sandbox",
    "SandboxConfig",
    "SandboxResult",
    "SandboxUnavailable",
    "available_drivers",
    "get_sandbox",
]
