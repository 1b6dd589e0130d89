"""Flat run costs as the hub grows (goal 6 of issue 16): claiming the next run with 10 vs
10,000 runs queued, and run statistics / the run list with few vs many runs stored.

    python bench/bench_growth.py [--small 10] [--large 10000] [--stored-small 100] [--stored-large 10000] [--users 30]
                                 [--samples 40] [--rounds 7]

1. Two real ``qubithub-lite serve``, up at once: each with ``--users`` users and a Bell circuit
   compiled by one run; then runs (copies of that completed run, counted in the caller's
   statistics as a completion would) go straight into their databases through the db layer,
   ``--stored-small`` into one and ``--stored-large`` into the other. ``GET
   /runs/users/me/stats`` and ``GET /runs?limit=20`` on a kept-alive connection, the servers
   taking turns: ``--rounds`` medians of ``--samples`` requests each, the best median per
   server; large / small (stats goal ≤ 1.2×; the list: info).
2. The server stopped, the same database opened in this process: ``Runs.claim_next`` (the fair
   claim the queue's slots call, one transaction) with ``--small`` and then ``--large`` runs
   queued across the users: median claim time large / small (goal ≤ 1.5×).
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import statistics
from collections import Counter
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import aiohttp

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT.parent))
from _harness import bench_options, emit, qubithub_server  # noqa: E402
from bench_class import register  # noqa: E402
from bench_runs import BELL, run_to_completion, upload  # noqa: E402


async def setup(url: str, users: int) -> dict:
    async with aiohttp.ClientSession() as session:
        heads = [await register(session, url, f"user{i:02d}") for i in range(users)]
        cid = await upload(session, url, heads[0], "bell", BELL)
        await run_to_completion(session, url, heads[0], cid)
        async with session.get(f"{url}/runs?limit=1", headers=heads[0]) as r:
            run_id = (await r.json())["runs"][0]["id"]
        user_ids = []
        for h in heads:
            async with session.get(f"{url}/auth/me", headers=h) as r:
                user_ids.append((await r.json())["id"])
    return {"headers": heads, "circuit": cid, "run": run_id, "users": user_ids}


async def insert_runs(db_url: str, template_id: str, user_ids: list[str], n: int, status: str) -> None:
    """``n`` copies of the template run, spread over ``user_ids``, with status ``status``."""
    from qubithub_lite.db.core import open_database
    from qubithub_lite.db.fields import new_id, utcnow
    from qubithub_lite.db.runs import Run

    db = open_database(db_url, pool_size=1)
    try:
        template = (await db.list(Run.select().where(Run.id == template_id)))[0]
        data = dict(template.__data__)  # raw column values (foreign keys as ids)
        async with db.tx():
            for base in range(0, n, 1000):
                rows = []
                for i in range(base, min(n, base + 1000)):
                    row = {**data, "id": new_id(), "user": user_ids[i % len(user_ids)], "status": status,
                           "created_at": utcnow()}
                    if status != "completed":
                        row.update(results=None, metrics=None, started_at=None, completed_at=None, attempts=0)
                    rows.append(row)
                await db.execute(Run.insert_many(rows))
            if status == "completed":  # what submit + completion would have counted (one UPDATE)
                from qubithub_lite.db.run_statements import RunStatements

                sql = RunStatements(db.engine.param)
                for user_id, k in Counter(user_ids[i % len(user_ids)] for i in range(n)).items():
                    await db.write([sql.bump_stats(user_id, template.circuit_id, {
                        "total_runs": k, "completed_runs": k, "total_shots": k * template.shots})])
    finally:
        await db.close()


def median_latency(conn: http.client.HTTPConnection, path: str, headers: dict, n: int) -> float:
    """Median of ``n`` requests on one kept-alive connection (no connect cost in the figure)."""
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        resp.read()
        times.append(time.perf_counter() - t0)
        assert resp.status == 200, (path, resp.status)
    return statistics.median(times)


def interleaved(servers: dict[int, tuple[str, dict]], path: str, samples: int, rounds: int) -> dict[int, float]:
    """The best (lowest) of ``rounds`` medians of ``samples`` requests per server, the servers
    taking turns (in alternating order) so the machine's load drifts over all of them alike."""
    conns = {k: http.client.HTTPConnection(urlparse(url).hostname, urlparse(url).port, timeout=30)
             for k, (url, _) in servers.items()}
    best = {k: float("inf") for k in servers}
    order = list(servers)
    try:
        for k in order:  # warm-up: caches, the connection, the first request's imports
            median_latency(conns[k], path, servers[k][1], 5)
        for r in range(rounds):
            for k in (order if r % 2 == 0 else order[::-1]):
                best[k] = min(best[k], median_latency(conns[k], path, servers[k][1], samples))
    finally:
        for c in conns.values():
            c.close()
    return best


async def claim_times(db_url: str, claims: int) -> list[float]:
    from qubithub_lite.config import Settings
    from qubithub_lite.db.core import open_database
    from qubithub_lite.jobs.events import RunEvents
    from qubithub_lite.jobs.scheduler import Fairness
    from qubithub_lite.services.runs import Runs

    db = open_database(db_url, pool_size=1)
    try:
        runs = Runs(db, RunEvents(), Settings(), lambda: {})
        served: dict[str, int] = {}
        times = []
        for k in range(claims):
            t0 = time.perf_counter()
            run = await runs.claim_next(Fairness(served=dict(served), cap=10**9))
            times.append(time.perf_counter() - t0)
            assert run is not None
            served[run.user_id] = k + 1
        return times
    finally:
        await db.close()


def main() -> None:
    args = bench_options(small=10, large=10_000, stored_small=100, stored_large=10_000, users=30, samples=40,
                         rounds=(7, "interleaved rounds of --samples requests per size"), claims=8)
    env = {"QUBITHUB_LITE_RUNS_MAX_QUEUED_PER_USER": str(args.large + 10)}
    tmp = tempfile.TemporaryDirectory(prefix="qh-bench-growth-")
    sizes = (args.stored_small, args.stored_large)
    # One server per data size, both up at once, measured in turns: the same moment for both.
    with contextlib.ExitStack() as stack:
        servers, setups, db_urls = {}, {}, {}
        for stored in sizes:
            data_dir = Path(tmp.name) / f"data-{stored}"
            url, _proc, _ = stack.enter_context(qubithub_server(env, data_dir=data_dir))
            db_urls[stored] = f"sqlite:///{data_dir / 'qubithub.db'}"
            setups[stored] = asyncio.run(setup(url, args.users))
            asyncio.run(insert_runs(db_urls[stored], setups[stored]["run"], setups[stored]["users"][:1], stored - 1, "completed"))
            servers[stored] = (url, setups[stored]["headers"][0])
            with urllib.request.urlopen(urllib.request.Request(url + "/runs/users/me/stats", headers=servers[stored][1])) as r:
                total = json.loads(r.read())["total_runs"]
            assert total == stored, (total, stored)  # the aggregates count what is stored
        lat = {"stats": interleaved(servers, "/runs/users/me/stats", args.samples, args.rounds),
               "list": interleaved(servers, "/runs?limit=20", args.samples, args.rounds)}
        for stored in sizes:
            print(f"  {stored} runs stored: stats {lat['stats'][stored] * 1e3:.2f} ms, list {lat['list'][stored] * 1e3:.2f} ms"
                  f" (best of {args.rounds} medians of {args.samples})", flush=True)
        # Nothing queued yet while the servers run (they would claim them): stop them first.
    db_url, s = db_urls[args.stored_large], setups[args.stored_large]
    claim: dict[int, float] = {}
    have = 0
    for queued in (args.small, args.large):
        asyncio.run(insert_runs(db_url, s["run"], s["users"], queued + args.claims - have, "queued"))
        times = asyncio.run(claim_times(db_url, args.claims))
        have = queued  # the claimed ones are running now
        claim[queued] = statistics.median(times)
        print(f"  {queued} queued: claim median {claim[queued] * 1e3:.2f} ms", flush=True)
    stats_ratio = lat["stats"][args.stored_large] / lat["stats"][args.stored_small]
    list_ratio = lat["list"][args.stored_large] / lat["list"][args.stored_small]
    claim_ratio = claim[args.large] / claim[args.small]
    tmp.cleanup()
    print(f"run stats {args.stored_large} / {args.stored_small} runs: {stats_ratio:.2f} (goal <= 1.2)")
    print(f"run list  {args.stored_large} / {args.stored_small} runs: {list_ratio:.2f}")
    print(f"claim     {args.large} / {args.small} queued: {claim_ratio:.2f} (goal <= 1.5)")
    emit("growth", [
        (f"claim next run {args.large} / {args.small} queued", claim_ratio, "<=", 1.5),
        (f"run stats {args.stored_large} / {args.stored_small} runs", stats_ratio, "<=", 1.2),
        (f"run list {args.stored_large} / {args.stored_small} runs", list_ratio, "<=", None),
    ])


if __name__ == "__main__":
    main()
