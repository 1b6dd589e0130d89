"""Looking for host processes (sandbox tests: nothing a job started outlives it), and running
code in a fresh interpreter (what a module imports, seen from a clean ``sys.modules``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def processes_with(token: str) -> list[int]:
    """Host pids whose command line contains ``token``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if token.encode() in cmdline:
            found.append(int(entry))
    return found


def fresh_python(code: str, timeout: float = 60) -> str:
    """Run ``code`` in a new interpreter (this one's); it must exit 0. Its stdout."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr
    return done.stdout
