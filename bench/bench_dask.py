"""Run throughput on the local executor vs a 2-worker Dask cluster on this machine.

Bell runs over HTTP, submit to all completed (a class submitting at once), on:
  * ``[runs] executor = "local"`` with 2 warm worker processes (the default);
  * ``[runs] executor = "dask"``: a ``dask scheduler`` and 2 ``dask worker`` processes
    (1 thread each, so 2 warm simulator processes) on loopback, with 2 and 4 run slots.

Everything shares this machine's cores, so the figure is the cost of the Dask hop (the task's
round trip through the scheduler), not the gain of more machines: on a real cluster the
simulations leave the API machine and throughput grows with the workers' cores.

    python bench/bench_dask.py [--queued 200]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from _harness import emit, qubithub_server, register, submit_runs, wait_drained  # noqa: E402
from bench_runs import BELL, run_to_completion, upload  # noqa: E402


async def throughput(url: str, queued: int) -> dict:
    async with aiohttp.ClientSession() as session:
        headers = await register(session, url, "dasker")
        cid = await upload(session, url, headers, "bell", BELL)
        for _ in range(4):  # compile once, warm every worker process
            await run_to_completion(session, url, headers, cid)
        t = time.perf_counter()
        await submit_runs(session, url, headers, cid, queued, 8)
        stats = await wait_drained(session, url, headers, timeout=600)
        return {"runs_per_s": queued / (time.perf_counter() - t), "failed": stats["failed_runs"]}


def measure(env: dict[str, str], queued: int) -> dict:
    with qubithub_server({"QUBITHUB_LITE_RUNS_MAX_QUEUED_PER_USER": str(queued + 10), **env}) as (url, _proc, _):
        return asyncio.run(throughput(url, queued))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queued", type=int, default=500)
    args = parser.parse_args()
    from tests.dask_cluster.cluster import DaskCluster

    local = measure({"QUBITHUB_LITE_RUNS_WORKERS": "2"}, args.queued)
    print(f"local executor, 2 workers        {local['runs_per_s']:8.1f} runs/s  (failed {local['failed']})")
    with tempfile.TemporaryDirectory(prefix="qh-bench-dask-") as tmp, DaskCluster(Path(tmp), workers=2, nthreads=1) as cluster:
        on_dask = {"QUBITHUB_LITE_RUNS_EXECUTOR": "dask", "QUBITHUB_LITE_RUNS_DASK_SCHEDULER": cluster.address}
        dask2 = measure({**on_dask, "QUBITHUB_LITE_RUNS_WORKERS": "2"}, args.queued)
        print(f"dask, 2 workers x 1 thread, 2 slots {dask2['runs_per_s']:8.1f} runs/s  (failed {dask2['failed']})  "
              f"ratio {dask2['runs_per_s'] / local['runs_per_s']:5.2f} of local")
        dask4 = measure({**on_dask, "QUBITHUB_LITE_RUNS_WORKERS": "4", "QUBITHUB_LITE_RUNS_PER_USER_CONCURRENCY": "4"},
                        args.queued)
        print(f"dask, 2 workers x 1 thread, 4 slots {dask4['runs_per_s']:8.1f} runs/s  (failed {dask4['failed']})  "
              f"ratio {dask4['runs_per_s'] / local['runs_per_s']:5.2f} of local")
    if local["failed"] or dask2["failed"] or dask4["failed"]:
        raise SystemExit("some runs failed")
    emit("dask", [("dask 2-worker run throughput vs local executor (2 slots)", dask2["runs_per_s"] / local["runs_per_s"], ">=", None),
                  ("dask 2-worker run throughput vs local executor (4 slots)", dask4["runs_per_s"] / local["runs_per_s"], ">=", None)])


if __name__ == "__main__":
    main()
