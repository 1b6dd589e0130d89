"""Big circuits (goal 7 of issue 16).

    python bench/bench_bigcircuits.py [--qubits 22] [--depth 4] [--shots 1000] [--quick]

1. A ``--qubits`` random circuit (``qiskit.circuit.random.random_circuit``, fixed seed), 1,000
   shots: POST /runs → ``completed`` on the WebSocket (the circuit already compiled by a first
   run) over a bare in-process ``transpile`` + ``AerSimulator().run()`` of the same circuit in
   the same bench (goal ≤ 1.2×: the hub's overhead disappears in real work).
2. A 26-qubit circuit (not Clifford; a statevector of 2^26 × 16 B = 1 GiB) on a hub whose
   simulations may use 512 MiB (``QUBITHUB_SIM_MEMORY_CAP_BYTES``; without it a worker's budget
   is its sandbox memory limit): the run must end ``failed`` with a clear message, fast —
   the figure is the time to that answer over the bare 22-qubit run (info), and whether it
   failed cleanly (goal: 1 = failed with an error class, not hung, not completed).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import bench_options, emit, qubithub_server  # noqa: E402
from bench_class import register  # noqa: E402
from bench_runs import upload  # noqa: E402

RANDOM = """
from qiskit.circuit.random import random_circuit

def create_circuit():
    return random_circuit({qubits}, {depth}, measure=True, seed=7)
"""
WIDE = """
from qiskit import QuantumCircuit

def create_circuit():
    qc = QuantumCircuit({qubits})
    qc.h(range({qubits}))
    qc.t(range({qubits}))  # not Clifford: Aer cannot fall back to the stabilizer method
    for q in range({qubits} - 1):
        qc.cx(q, q + 1)
    qc.measure_all()
    return qc
"""


def bare(qubits: int, depth: int, shots: int, repeats: int) -> list[float]:
    from qiskit import transpile
    from qiskit.circuit.random import random_circuit
    from qiskit_aer import AerSimulator

    sim = AerSimulator()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        qc = random_circuit(qubits, depth, measure=True, seed=7)
        sim.run(transpile(qc, sim), shots=shots).result().get_counts()
        times.append(time.perf_counter() - t0)
    return times


async def final_state(session, url, headers, run_id, timeout: float) -> dict:
    async with session.ws_connect(url.replace("http", "ws") + f"/ws/runs/{run_id}", headers=headers) as ws:
        async for msg in ws:
            data = json.loads(msg.data)
            if data["status"] in ("completed", "failed", "cancelled"):
                return data
    raise RuntimeError("socket closed early")


async def hub_random(url: str, qubits: int, depth: int, shots: int, repeats: int) -> list[float]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as session:
        h = await register(session, url, "wide")
        cid = await upload(session, url, h, "random", RANDOM.format(qubits=qubits, depth=depth))
        async with session.post(f"{url}/runs", json={"circuit_id": cid, "shots": shots}, headers=h) as r:
            first = (await r.json())["id"]
        state = await final_state(session, url, h, first, 600)  # compiles the version
        assert state["status"] == "completed", state
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            async with session.post(f"{url}/runs", json={"circuit_id": cid, "shots": shots}, headers=h) as r:
                run_id = (await r.json())["id"]
            state = await final_state(session, url, h, run_id, 600)
            times.append(time.perf_counter() - t0)
            assert state["status"] == "completed", state
        return times


async def hub_too_wide(url: str, qubits: int) -> tuple[float, dict]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as session:
        h = await register(session, url, "wider")
        cid = await upload(session, url, h, "wide", WIDE.format(qubits=qubits))
        t0 = time.perf_counter()
        async with session.post(f"{url}/runs", json={"circuit_id": cid, "shots": 100}, headers=h) as r:
            run = await r.json()
        if "id" not in run:  # refused at submission: that is failing fast, too
            return time.perf_counter() - t0, {"status": "failed", "error_class": f"http {r.status}",
                                              "error_message": str(run.get("detail"))}
        state = await final_state(session, url, h, run["id"], 600)
        return time.perf_counter() - t0, state


def main() -> None:
    args = bench_options(qubits=22, depth=4, shots=1000, repeats=3, wide=26,
                         memory_mib=(512, "simulation memory cap for the wide run"), quick=(False, "one repeat"))
    if args.quick:
        args.repeats = 1
    bare_times = bare(args.qubits, args.depth, args.shots, args.repeats)
    with qubithub_server() as (url, _proc, _):
        hub_times = asyncio.run(hub_random(url, args.qubits, args.depth, args.shots, args.repeats))
    bare_times += bare(args.qubits, args.depth, args.shots, 1)  # once more after (shared machine)
    b, hub = min(bare_times), statistics.median(hub_times)
    env = {"QUBITHUB_SIM_MEMORY_CAP_BYTES": str(args.memory_mib << 20)}
    with qubithub_server(env) as (url, _proc, _):
        wide_s, state = asyncio.run(hub_too_wide(url, args.wide))
    clean = state["status"] == "failed" and bool(state.get("error_class"))
    print(f"{args.qubits}-qubit random depth {args.depth}, {args.shots} shots: bare {b:.2f} s, hub {hub:.2f} s, "
          f"ratio {hub / b:.2f} (goal <= 1.2)")
    print(f"{args.wide}-qubit under {args.memory_mib} MiB: {state['status']} ({state.get('error_class')}: "
          f"{(state.get('error_message') or '')[:160]}) after {wide_s:.2f} s")
    emit("bigcircuits", [
        (f"{args.qubits}-qubit random, {args.shots} shots vs bare Aer", hub / b, "<=", 1.2),
        (f"{args.wide}-qubit under {args.memory_mib} MiB fails cleanly (1 = yes)", 1.0 if clean else 0.0, ">=", 1),
        (f"{args.wide}-qubit time to failure / bare {args.qubits}-qubit run", wide_s / b, "<=", None),
    ])


if __name__ == "__main__":
    main()
