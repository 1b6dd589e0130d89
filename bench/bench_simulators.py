"""Bare in-process AerSimulator().run() of a Bell circuit vs the same through LocalProcessExecutor.

    python bench/bench_simulators.py [--n 300] [--queued 1000] [--workers 2] [--plain]

The workers run in the sandbox as the server runs them (``--plain``: unsandboxed children).

Prints per-run latency (p50/p99) and throughput for both, and the ratios.  No assertions.
"""

from __future__ import annotations

import asyncio
import io
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def bell():
    """The bundled Bell example's circuit (H, CX, both qubits measured)."""
    path = Path(__file__).resolve().parents[1] / "qubithub_lite" / "examples" / "circuits" / "bell-qiskit" / "circuit.py"
    namespace: dict = {}
    exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), namespace)
    return namespace["create_circuit"]()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def bare(n: int, shots: int) -> tuple[list[float], float]:
    from qiskit_aer import AerSimulator

    sim = AerSimulator()
    qc = bell()
    sim.run(qc, shots=shots).result()  # warm
    lat = []
    t0 = time.perf_counter()
    for _ in range(n):
        s = time.perf_counter()
        sim.run(qc, shots=shots).result().get_counts()
        lat.append((time.perf_counter() - s) * 1000)
    return lat, n / (time.perf_counter() - t0)


def launcher(plain: bool):
    if plain:
        return None
    from qubithub_lite.jobs.workers import SandboxLauncher, worker_sandbox_factory
    from qubithub_lite.sandbox import SandboxConfig

    return SandboxLauncher(worker_sandbox_factory(SandboxConfig(warm_pool_size=0), []))


async def executor(n: int, queued: int, shots: int, workers: int, plain: bool = False) -> tuple[list[float], float, float]:
    from qiskit import qpy

    from qubithub_lite.jobs.executor import LocalProcessExecutor, SimTask

    buf = io.BytesIO()
    qpy.dump(bell(), buf)
    data = buf.getvalue()
    t_start = time.perf_counter()
    async with LocalProcessExecutor(workers=workers, launcher=launcher(plain)) as ex:
        start_s = time.perf_counter() - t_start
        for i in range(2 * workers):  # warm every worker's cache
            await asyncio.gather(*(ex.submit(SimTask(f"w{i}-{j}", "qiskit_aer", data, "qpy", shots=shots)) for j in range(workers)))
        lat = []
        for i in range(n):
            s = time.perf_counter()
            r = await ex.submit(SimTask(f"seq{i}", "qiskit_aer", data, "qpy", shots=shots))
            assert r.ok, r
            lat.append((time.perf_counter() - s) * 1000)
        t0 = time.perf_counter()
        results = await asyncio.gather(*(ex.submit(SimTask(f"q{i}", "qiskit_aer", data, "qpy", shots=shots)) for i in range(queued)))
        thr = queued / (time.perf_counter() - t0)
        assert all(r.ok for r in results)
    return lat, thr, start_s


def main() -> None:
    from _harness import bench_options, emit

    args = bench_options(n=300, queued=1000, workers=2, shots=1024, plain=(False, "unsandboxed workers (as before #10)"))
    b_lat, b_thr = bare(args.n, args.shots)
    e_lat, e_thr, start_s = asyncio.run(executor(args.n, args.queued, args.shots, args.workers, args.plain))
    b50, b99, e50, e99 = pct(b_lat, 50), pct(b_lat, 99), pct(e_lat, 50), pct(e_lat, 99)
    print(f"bare AerSimulator().run():   p50 {b50:.3f} ms  p99 {b99:.3f} ms  throughput {b_thr:.0f}/s (mean {statistics.mean(b_lat):.3f} ms)")
    kind = "plain" if args.plain else "sandboxed"
    print(f"LocalProcessExecutor({args.workers}, {kind}):  p50 {e50:.3f} ms  p99 {e99:.3f} ms  throughput {e_thr:.0f}/s with {args.queued} queued  (pool start {start_s:.2f} s)")
    print(f"ratios: p50 {e50 / b50:.2f}x  p99 {e99 / b99:.2f}x  throughput executor/bare {e_thr / b_thr:.2f}")
    emit("simulators", [("executor p50 vs bare Aer", e50 / b50, "<=", None),
                        ("executor throughput vs bare Aer", e_thr / b_thr, ">=", None)])


if __name__ == "__main__":
    main()
