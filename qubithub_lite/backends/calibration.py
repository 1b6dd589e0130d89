"""Calibration data for the API process, computed in a subprocess (the API never imports
qiskit).  ``python -m qubithub_lite.backends.calibration <backend>`` prints the JSON."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import weakref
from typing import Any

from ..frozen import python_command
from .base import BackendError

#: seconds a computed calibration is reused (fake-device snapshots never change).
CACHE_TTL = float(os.environ.get("QUBITHUB_CALIBRATION_TTL", "3600"))
_cache: dict[str, tuple[float, dict[str, Any] | None]] = {}
#: calibration processes running at once.
MAX_CONCURRENT = 2


class _LoopState:
    """Per event loop (an app has one; a test suite starts many): the computations in flight
    by backend name, and the slots that bound how many run at once."""

    def __init__(self) -> None:
        self.inflight: dict[str, asyncio.Future] = {}
        self.slots = asyncio.Semaphore(MAX_CONCURRENT)


_loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = weakref.WeakKeyDictionary()


def _state() -> _LoopState:
    loop = asyncio.get_running_loop()
    state = _loops.get(loop)
    if state is None:
        state = _loops[loop] = _LoopState()
    return state


async def fetch_calibration(name: str, timeout: float = 120.0) -> dict[str, Any] | None:
    """Calibration of backend ``name`` or None (ideal simulator → the API answers 404).

    Raises ``BackendError('backend_unavailable')`` for unknown backends or failures."""
    from .registry import get_backend

    driver = get_backend(name)
    if driver.type == "simulation":
        return None
    hit = _cache.get(name)
    if hit is not None and time.monotonic() - hit[0] < CACHE_TTL:
        return hit[1]
    # One computation per backend at a time, and few at once: each is a Python importing qiskit,
    # so a burst of requests must not start a process each.
    state = _state()
    pending = state.inflight.get(name)
    if pending is None:
        pending = state.inflight[name] = asyncio.ensure_future(_compute(state, name, timeout))
        pending.add_done_callback(lambda _f: state.inflight.pop(name, None))
    return await asyncio.shield(pending)


async def _compute(state: _LoopState, name: str, timeout: float) -> dict[str, Any] | None:
    async with state.slots:
        return await _compute_now(name, timeout)


async def _compute_now(name: str, timeout: float) -> dict[str, Any] | None:
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    proc = await asyncio.create_subprocess_exec(
        *python_command("-m", "qubithub_lite.backends.calibration", name),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise BackendError("backend_unavailable", f"calibration of {name} timed out") from None
    if proc.returncode != 0:
        raise BackendError("backend_unavailable", f"calibration of {name} failed: {err.decode()[-300:]}")
    data = json.loads(out.decode())
    _cache[name] = (time.monotonic(), data)
    return data


def main(argv: list[str] | None = None) -> int:
    from .registry import get_backend

    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m qubithub_lite.backends.calibration BACKEND", file=sys.stderr)
        return 2
    print(json.dumps(get_backend(argv[0]).calibration()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
