"""Sandbox latency vs bare baselines, measured in one run.

    python bench/bench_sandbox.py [--repeat N]

1. ``print(1)`` through ``Sandbox.run_python`` (warm pool, end to end: work dir, job
   dispatch, capped output, teardown) vs a bare ``bwrap … python3 -c 'print(1)'``; the
   same through the cold path ``Sandbox.run`` is shown for reference.
2. A Qiskit Bell circuit built and printed on the warm path (qiskit preloaded) vs a bare,
   unsandboxed ``python -c "import qiskit; …"``.

Each sandbox sample is taken with a full warm pool (steady state of an idle server);
medians are reported with the ratio sandbox/bare. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._harness import bare_bwrap_argv, timed_process  # noqa: E402
from qubithub_lite.sandbox import SandboxConfig, get_sandbox  # noqa: E402

BELL = (
    "from qiskit import QuantumCircuit\n"
    "qc = QuantumCircuit(2)\nqc.h(0)\nqc.cx(0, 1)\nqc.measure_all()\nprint(qc)\n"
)


async def sample_sandbox(sandbox, code: str, preload: tuple[str, ...]) -> float:
    await sandbox.wait_warm(preload)
    started = time.perf_counter()
    result = await sandbox.run_python({}, code=code, preload=preload)
    elapsed = time.perf_counter() - started
    if not result.ok:
        raise RuntimeError(result.stderr_text[-500:])
    return elapsed


async def sample_cold(sandbox) -> float:
    """``Sandbox.run`` without the warm pool (fresh sandbox, prlimit, full interpreter start)."""
    started = time.perf_counter()
    result = await sandbox.run({}, [sandbox.python, "-c", "print(1)"])
    elapsed = time.perf_counter() - started
    if not result.ok:
        raise RuntimeError(result.stderr_text[-500:])
    return elapsed


async def main(repeat: int) -> None:
    sandbox = get_sandbox(SandboxConfig(warm_pool_size=1, warm_preload=["qiskit"]))
    python = sandbox.python
    try:
        rows = []
        bare = [await timed_process(bare_bwrap_argv("print(1)", python)) for _ in range(repeat)]
        boxed = [await sample_sandbox(sandbox, "print(1)", ("qiskit",)) for _ in range(repeat)]
        rows.append(("print(1)", "bare bwrap python3 -c", bare, boxed))
        cold = [await sample_cold(sandbox) for _ in range(repeat)]
        rows.append(("print(1) cold", "bare bwrap python3 -c", bare, cold))
        bare = [await timed_process([python, "-c", "import qiskit\n" + BELL]) for _ in range(repeat)]
        boxed = [await sample_sandbox(sandbox, BELL, ("qiskit",)) for _ in range(repeat)]
        rows.append(("qiskit Bell", "bare python -c import qiskit", bare, boxed))
    finally:
        await sandbox.close()
    print(f"driver={sandbox.name} repeat={repeat} (median seconds)")
    for name, baseline, bare, boxed in rows:
        b, s = statistics.median(bare), statistics.median(boxed)
        print(f"{name:14s} sandbox={s:.4f}  {baseline}={b:.4f}  ratio={s / b:.2f}x")
    from _harness import emit
    emit("sandbox", [(f"{name} sandbox vs bare", statistics.median(boxed) / statistics.median(bare), "<=", None)
                     for name, _, bare, boxed in rows])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    asyncio.run(main(parser.parse_args().repeat))
