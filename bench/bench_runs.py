"""Runs engine vs bare in-process ``AerSimulator().run()`` of the same Bell circuit.

Prints, in one run:
- p50/p99 of POST /runs -> ``completed`` seen on the WebSocket, already-compiled circuit
  (goals: p50 <= 4x, p99 <= 8x the bare p50);
- sustained throughput with 1,000 queued Bell runs (goal >= 1/6 of the bare loop);
- the first run of a new version (sandboxed export + run) vs a bare
  ``python -c`` that imports qiskit and builds the circuit (goal <= 1.5x).

    python bench/bench_runs.py [--samples 50] [--queued 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import emit, qubithub_server, register, submit_runs, wait_drained  # noqa: E402

#: The bundled example's Bell circuit (H, CX, measure both).
BELL = (Path(__file__).resolve().parent.parent / "qubithub_lite" / "examples" / "circuits" / "bell-qiskit"
        / "circuit.py").read_text(encoding="utf-8")
BARE_BUILD = "import qiskit; qc = qiskit.QuantumCircuit(2, 2); qc.h(0); qc.cx(0, 1); qc.measure([0, 1], [0, 1])"


def bare_aer(samples: int, loop: int) -> tuple[list[float], float]:
    from qiskit import QuantumCircuit
    from qiskit_aer import AerSimulator

    qc = QuantumCircuit(2, 2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure([0, 1], [0, 1])
    sim = AerSimulator()
    sim.run(qc, shots=1024).result()
    lat = []
    for _ in range(samples):
        t = time.perf_counter()
        sim.run(qc, shots=1024).result().get_counts()
        lat.append(time.perf_counter() - t)
    t = time.perf_counter()
    for _ in range(loop):
        sim.run(qc, shots=1024).result().get_counts()
    return lat, loop / (time.perf_counter() - t)


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


async def upload(session, url, headers, name, source) -> str:
    async with session.post(f"{url}/circuits", json={"name": name, "title": name, "framework": "qiskit", "qubits": 2},
                            headers=headers) as r:
        cid = (await r.json())["id"]
    form = aiohttp.FormData()
    form.add_field("files", source.encode(), filename="circuit.py")
    async with session.post(f"{url}/circuits/{cid}/upload-batch", data=form, headers=headers) as r:
        assert r.status in (200, 201), await r.text()
    return cid


async def run_to_completion(session, url, headers, cid) -> float:
    t = time.perf_counter()
    async with session.post(f"{url}/runs", json={"circuit_id": cid, "shots": 1024}, headers=headers) as r:
        run = await r.json()
    async with session.ws_connect(url.replace("http", "ws") + f"/ws/runs/{run['id']}", headers=headers) as ws:
        async for msg in ws:
            data = json.loads(msg.data)
            if data["status"] in ("completed", "failed", "cancelled"):
                assert data["status"] == "completed", data
                break
    return time.perf_counter() - t


async def measure(url: str, samples: int, queued: int) -> dict:
    async with aiohttp.ClientSession() as session:
        headers = await register(session, url, "bencher")
        cid = await upload(session, url, headers, "bell", BELL)
        await run_to_completion(session, url, headers, cid)  # compile + warm workers
        await run_to_completion(session, url, headers, cid)
        latencies = [await run_to_completion(session, url, headers, cid) for _ in range(samples)]
        # First run of a new version (new source -> sandboxed export).
        firsts = []
        for i in range(5):
            new = await upload(session, url, headers, f"fresh-{i}", BELL + f"\n# version {i}\n")
            firsts.append(await run_to_completion(session, url, headers, new))
        # Sustained throughput: queue everything, wait for the last.
        t = time.perf_counter()
        await submit_runs(session, url, headers, cid, queued, 16)  # a class submitting at once
        submitted = time.perf_counter() - t
        async with session.get(f"{url}/runs/users/me/stats", headers=headers) as r:
            at_submit = await r.json()
        backlog = at_submit["pending_runs"] + at_submit["queued_runs"] + at_submit["running_runs"]
        stats = await wait_drained(session, url, headers)
        elapsed = time.perf_counter() - t
        drain = time.perf_counter() - t - submitted
        return {"latencies": latencies, "firsts": firsts, "throughput": queued / elapsed, "submit_s": submitted,
                "failed": stats["failed_runs"], "backlog": backlog, "drain": backlog / drain if drain > 0 else 0.0}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--queued", type=int, default=1000)
    args = parser.parse_args()
    bare_lat, bare_tp = bare_aer(args.samples, args.queued)
    bare_build = []
    for _ in range(3):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", BARE_BUILD], check=True)
        bare_build.append(time.perf_counter() - t)
    env = {"QUBITHUB_LITE_RUNS_MAX_QUEUED_PER_USER": str(args.queued + 10)}
    with qubithub_server(env) as (url, _proc, _):
        time.sleep(3)  # let the warm workers and sandboxes start
        got = asyncio.run(measure(url, args.samples, args.queued))
    b50, p50, p99 = statistics.median(bare_lat), pct(got["latencies"], 0.5), pct(got["latencies"], 0.99)
    print(f"bare AerSimulator().run()   p50 {b50 * 1000:8.2f} ms   loop {bare_tp:8.1f} runs/s")
    print(f"POST /runs -> WS completed  p50 {p50 * 1000:8.2f} ms   p99 {p99 * 1000:8.2f} ms   "
          f"p50 ratio {p50 / b50:6.1f}x (goal <= 4x)  p99 ratio {p99 / b50:6.1f}x (goal <= 8x)")
    print(f"{args.queued} runs, submit to done  {got['throughput']:8.1f} runs/s   ratio {got['throughput'] / bare_tp:6.3f} "
          f"of bare (16 clients submitting took {got['submit_s']:.1f} s); failed {got['failed']}")
    print(f"queue drain ({got['backlog']} waiting) {got['drain']:8.1f} runs/s   ratio {got['drain'] / bare_tp:6.3f} "
          f"of bare (goal >= {1 / 6:.3f})")
    first, bare = statistics.median(got["firsts"]), statistics.median(bare_build)
    print(f"first run of a new version  {first * 1000:8.1f} ms vs bare python -c import qiskit {bare * 1000:8.1f} ms  "
          f"ratio {first / bare:5.2f}x (goal <= 1.5x)")
    emit("runs", [("cached Bell p50 vs bare Aer", p50 / b50, "<=", 4), ("cached Bell p99 vs bare Aer p50", p99 / b50, "<=", 8), ("queued runs throughput vs bare loop",
                   got["throughput"] / bare_tp, ">=", None), ("queue drain vs bare loop", got["drain"] / bare_tp, ">=", 1 / 6),
                  ("first run of a new version vs bare import", first / bare, "<=", 1.5)])


if __name__ == "__main__":
    main()
