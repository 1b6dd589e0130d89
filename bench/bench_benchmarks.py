"""Scoring one benchmark suite on ``qiskit_aer`` through the hub vs a bare Aer loop.

The hub: ``POST /benchmarks/run?suite_name=S&problem_idx=i&backend=qiskit_aer`` for every
problem of the suite at once, then each run's WebSocket until ``completed`` with its
``benchmark`` block (the worker's analysis: ideal distribution, transpiled features,
bootstrap interval; the server's score). Timed from the first POST to the last scored run,
on a server whose workers are warm and whose suite circuits exist (one untimed pass first;
the first, cold pass is printed too).

The bare loop, in this process, on the same OpenQASM 3 circuits, parsed once beforehand:
``AerSimulator(max_parallel_threads=1).run(qc, shots)`` (serial, like the hub with one
worker); and the same plus what scoring needs (the statevector ideal, Hellinger fidelity,
normalized score, bootstrap interval).

    python bench/bench_benchmarks.py [--suite ghz] [--passes 5]   # goal: hub <= 2x bare

The goal row is the hub with one worker and a per-user cap of one (serial, like the bare
loop). ``--default-config`` adds a second row, clearly named: the same passes on a hub in its
default configuration (``[runs]`` workers and per-user cap as shipped), the same bare loop.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import emit, qubithub_server  # noqa: E402

PASSWORD = "Qu4ntum!Leap#42"


def bare(suite_name: str, passes: int) -> tuple[float, float]:
    """(median seconds per suite: run only, run + score) in a bare in-process Aer loop."""
    from qiskit import qasm3, transpile
    from qiskit_aer import AerSimulator

    from qubithub_lite.backends.benchmark_analysis import ideal_distribution
    from qubithub_lite.services.benchmarks import scoring
    from qubithub_lite.services.benchmarks.suites import load_suites

    suite = load_suites()[suite_name]
    # One OpenMP thread, as the hub's driver runs circuits this small (waking Aer's thread
    # team costs more than these simulations); a default AerSimulator() is slower here.
    sim = AerSimulator(max_parallel_threads=1)
    # Parsed (and transpiled where Aer lacks a gate) once, untimed: the hub's worker caches these too.
    circuits = [transpile(qc, sim, optimization_level=0) if any(i.operation.name not in sim.target.operation_names
                                                                  and i.operation.name not in ("barrier", "measure")
                                                                  for i in qc.data) else qc
                for qc in (qasm3.loads(p.circuits[0].qasm) for p in suite.problems)]
    logical = [qasm3.loads(p.circuits[0].qasm) for p in suite.problems]
    sim.run(circuits[0], shots=suite.shots).result()
    run_only, with_score = [], []
    for _ in range(passes):
        t = time.perf_counter()
        for qc in circuits:
            sim.run(qc, shots=suite.shots, seed_simulator=1).result().get_counts()
        run_only.append(time.perf_counter() - t)
        t = time.perf_counter()
        for qc, source in zip(circuits, logical):
            counts = sim.run(qc, shots=suite.shots, seed_simulator=1).result().get_counts()
            ideal = ideal_distribution(source)
            bits = len(next(iter(ideal)))
            scoring.score(counts, ideal, bits)
            scoring.bootstrap_interval(counts, ideal, bits, seed=1)
        with_score.append(time.perf_counter() - t)
    return statistics.median(run_only), statistics.median(with_score)


#: Stages a completed run's metrics time (ms), printed as medians: where a run's time goes.
STAGES = ("queue_time_ms", "executor_time_ms", "worker_time_ms", "transpilation_time_ms", "execution_time_ms")


async def hub_pass(session: aiohttp.ClientSession, url: str, token: str, suite: str, problems: int,
                   stages: dict[str, list[float]] | None = None) -> tuple[float, list[float]]:
    headers = {"Authorization": f"Bearer {token}"}
    t = time.perf_counter()

    async def one(index: int) -> float:
        started = time.perf_counter()
        async with session.post(f"{url}/benchmarks/run", params={"suite_name": suite, "problem_idx": index,
                                                                 "backend": "qiskit_aer"}, headers=headers) as resp:
            body = await resp.json()
            assert resp.status == 201, body
        run_id = body["runs"][0]["id"]
        async with session.ws_connect(f"{url}/ws/runs/{run_id}?token={token}") as ws:
            async for msg in ws:
                data = msg.json()
                if data["status"] in ("completed", "failed", "cancelled"):
                    assert data["status"] == "completed" and data["benchmark"], data
                    if stages is not None:
                        stages.setdefault("POST -> completed seen", []).append((time.perf_counter() - started) * 1000)
                        for key in STAGES:
                            if isinstance((data.get("metrics") or {}).get(key), (int, float)):
                                stages.setdefault(key, []).append(data["metrics"][key])
                    return data["benchmark"]["score"]
        raise AssertionError("socket closed early")

    scores = await asyncio.gather(*(one(i) for i in range(problems)))
    return time.perf_counter() - t, scores


async def measure(url: str, suite: str, passes: int) -> dict:
    async with aiohttp.ClientSession() as session:
        body = {"email": "bench@example.org", "username": "bench", "password": PASSWORD, "name": "Bench"}
        async with session.post(f"{url}/auth/register", json=body) as resp:
            token = (await resp.json())["access_token"]
        async with session.get(f"{url}/benchmarks/suites/{suite}") as resp:
            problems = len((await resp.json())["problems"])
        cold, scores = await hub_pass(session, url, token, suite, problems)
        stages: dict[str, list[float]] = {}
        warm = [(await hub_pass(session, url, token, suite, problems, stages))[0] for _ in range(passes)]
    return {"cold": cold, "warm": statistics.median(warm), "problems": problems, "scores": scores, "stages": stages}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--suite", default="ghz")
    parser.add_argument("--passes", type=int, default=5)
    parser.add_argument("--workers", type=int, default=1, help="simulator workers (1: serial, like the bare loop)")
    parser.add_argument("--default-config", action="store_true",
                        help="also time a hub in its default [runs] configuration (a second, separate row)")
    args = parser.parse_args()
    run_only, with_score = bare(args.suite, args.passes)
    env = {"QUBITHUB_LITE_RUNS_WORKERS": str(args.workers), "QUBITHUB_LITE_RUNS_PER_USER_CONCURRENCY": str(args.workers),
           "QUBITHUB_LITE_RUNS_PRESTART_WORKERS": "true"}
    with qubithub_server(env) as (url, _, _):
        got = asyncio.run(measure(url, args.suite, args.passes))
    default = None
    if args.default_config:
        from qubithub_lite.config import RunsConfig

        shipped = RunsConfig()
        with qubithub_server({"QUBITHUB_LITE_RUNS_PRESTART_WORKERS": "true"}) as (url, _, _):
            default = (shipped.workers, shipped.per_user_concurrency, asyncio.run(measure(url, args.suite, args.passes)))
    n = got["problems"]
    print(f"suite {args.suite}: {n} problems on qiskit_aer, {args.workers} workers; scores "
          f"{', '.join(f'{s:.3f}' for s in got['scores'])}")
    print(f"bare Aer loop, run only        {run_only * 1000:8.1f} ms per suite")
    print(f"bare Aer loop, run + scoring   {with_score * 1000:8.1f} ms per suite")
    print(f"hub, warm (median of {args.passes})       {got['warm'] * 1000:8.1f} ms per suite   "
          f"ratio {got['warm'] / run_only:5.2f}x run-only, {got['warm'] / with_score:5.2f}x run+scoring (goal <= 2x)")
    rows = [("scored suite vs bare run-only", got["warm"] / run_only, "<=", 2),
            ("scored suite vs bare run+scoring", got["warm"] / with_score, "<=", None)]
    if default is not None:
        workers, cap, other = default
        print(f"hub, default config ({workers} workers, per-user cap {cap}), warm (median of {args.passes}) "
              f"{other['warm'] * 1000:8.1f} ms per suite   ratio {other['warm'] / run_only:5.2f}x run-only, "
              f"{other['warm'] / with_score:5.2f}x run+scoring")
        rows.append((f"scored suite, default config ({workers} workers), vs bare run-only", other["warm"] / run_only, "<=", None))
    emit("benchmarks", rows)
    print(f"hub, first pass (cold)         {got['cold'] * 1000:8.1f} ms per suite (creates the suite circuits)")
    print("where a warm run's time goes (medians over the warm passes' runs; the runs of a pass overlap):")
    for key, values in got["stages"].items():
        print(f"  {key:26} {statistics.median(values):8.1f} ms")


if __name__ == "__main__":
    main()
