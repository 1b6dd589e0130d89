"""Space execute end to end (HTTP → sandbox → HTTP) vs bare baselines, in one run.

    python bench/bench_spaces.py [--repeat N] [--pause SECONDS]

A real ``qubithub-lite serve`` subprocess (rate limits off, default sandbox
config: warm pool of 2 interpreters with qiskit preloaded) serves a qiskit
space; each sample is one ``POST /spaces/{id}/execute`` on a keep-alive
connection, timed by the client, taken after a pause so the warm pool has
refilled (the steady state of an idle server).

1. ``print(1)`` through the API vs a bare ``bwrap … python3 -c 'print(1)'``
   (goal ≤ 1.5×).
2. A Qiskit Bell circuit built and printed through the API vs a bare, unsandboxed
   ``python -c "import qiskit; …"`` (goal ≤ 1.5×).

Medians are printed with the ratio API/bare. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._harness import bare_bwrap_argv, qubithub_server, timed_process  # noqa: E402

PASSWORD = "Qu4ntum!Leap#42"
BELL = "from qiskit import QuantumCircuit\nqc = QuantumCircuit(2)\nqc.h(0)\nqc.cx(0, 1)\nprint(qc)"
BARE_BELL = "import qiskit; qc = qiskit.QuantumCircuit(2); qc.h(0); qc.cx(0, 1); print(qc)"


async def setup(session: aiohttp.ClientSession, url: str) -> tuple[dict[str, str], str]:
    async with session.post(f"{url}/auth/register", json={"email": "bench@example.org", "username": "bench",
                                                           "password": PASSWORD, "name": "Bench"}) as resp:
        token = (await resp.json())["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    async with session.post(f"{url}/spaces", json={"name": "bench", "title": "Bench", "sdk": "qiskit"},
                            headers=headers) as resp:
        assert resp.status == 201, await resp.text()
        space_id = (await resp.json())["id"]
    return headers, space_id


async def execute(session, url: str, headers, space_id: str, code: str, expect: str) -> float:
    started = time.perf_counter()
    async with session.post(f"{url}/spaces/{space_id}/execute", json={"code": code}, headers=headers) as resp:
        body = await resp.json()
    elapsed = time.perf_counter() - started
    if resp.status != 200 or body.get("status") != "success" or expect not in (body.get("output") or ""):
        raise RuntimeError(f"execute failed: {resp.status} {body}")
    return elapsed


async def main(repeat: int, pause: float) -> None:
    with qubithub_server() as (url, proc, _):
        async with aiohttp.ClientSession() as session:
            headers, space_id = await setup(session, url)
            # Warm-up: the first calls may meet a pool that is still importing qiskit.
            for _ in range(2):
                await execute(session, url, headers, space_id, "print(1)", "1")
                await asyncio.sleep(pause * 2)
            rows = []
            for label, code, expect, bare_argv in (
                ("print(1)", "print(1)", "1", bare_bwrap_argv("print(1)")),
                ("qiskit Bell build", BELL, "┤ H ├", [sys.executable, "-c", BARE_BELL]),
            ):
                api, bare = [], []
                for _ in range(repeat):
                    await asyncio.sleep(pause)
                    api.append(await execute(session, url, headers, space_id, code, expect))
                    bare.append(await timed_process(bare_argv))
                rows.append((label, statistics.median(api), statistics.median(bare)))
    print(f"space execute end to end vs bare, median of {repeat} (pause {pause:g} s between samples)")
    for label, api, bare in rows:
        baseline = "bare bwrap python3 -c" if label == "print(1)" else "bare python -c (no sandbox)"
        print(f"  {label:<18} API {api * 1000:8.1f} ms   {baseline} {bare * 1000:8.1f} ms   ratio {api / bare:5.2f}x"
              f"   (goal <= 1.5x)")
    from _harness import emit
    emit("spaces", [(f"execute {label} vs bare", api / bare, "<=", 1.5) for label, api, bare in rows])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--pause", type=float, default=2.0, help="seconds between samples (warm pool refill)")
    args = parser.parse_args()
    asyncio.run(main(args.repeat, args.pause))
