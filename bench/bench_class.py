"""A class pressing Run at the same moment (goals 2 and 3 of issue 16).

    python bench/bench_class.py [--users 30] [--runs 30] [--quick]

A real ``qubithub-lite serve``; a teacher's public Bell circuit, compiled once before the
burst. ``--users`` users each submit ``--runs`` Bell runs (1,024 shots) over HTTP, all users at
once: round k is every user's k-th run, submitted concurrently (a student clicks Run again
when the previous click answered). From the runs' own timestamps:

- **throughput**: runs / (last ``completed_at`` − burst start) over a bare in-process
  ``AerSimulator().run()`` loop of the same circuit in the same bench (goal ≥ 0.5);
- **fairness**: every user's first run completes before any user's third run starts (the
  figure is the number of users whose third run started before the last first run completed,
  goal 0); the p50/p99 time from the burst start to a user's first result, reported as a
  ratio to one bare Aer run (info) and in seconds on stdout.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import statistics
import sys
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import bench_options, emit, qubithub_server, register  # noqa: E402
from bench_runs import BELL, bare_aer, pct, run_to_completion, upload  # noqa: E402



def ts(value: str) -> float:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


async def burst(url: str, users: int, runs: int) -> dict:
    connector = aiohttp.TCPConnector(limit=users + 4)
    async with aiohttp.ClientSession(connector=connector) as session:
        teacher = await register(session, url, "teacher")
        cid = await upload(session, url, teacher, "bell", BELL)
        await run_to_completion(session, url, teacher, cid)  # compiled + workers warm
        await run_to_completion(session, url, teacher, cid)
        students = [await register(session, url, f"student{i:02d}") for i in range(users)]

        async def submit(headers: dict) -> str:
            async with session.post(f"{url}/runs", json={"circuit_id": cid, "shots": 1024}, headers=headers) as r:
                assert r.status == 201, await r.text()
                return (await r.json())["id"]

        t0 = time.time()
        for _ in range(runs):
            await asyncio.gather(*(submit(h) for h in students))
        submitted = time.time() - t0
        pending = list(range(users))
        while pending:  # one gentle poller: the figures come from the runs' own timestamps
            i = pending[0]
            async with session.get(f"{url}/runs/users/me/stats", headers=students[i]) as r:
                s = await r.json()
            if s["pending_runs"] + s["queued_runs"] + s["running_runs"] == 0:
                pending.pop(0)
            else:
                await asyncio.sleep(0.2)
        per_user = []
        for h in students:
            async with session.get(f"{url}/runs?limit=100", headers=h) as r:
                cards = (await r.json())["runs"]
            per_user.append(sorted(cards, key=lambda c: (c["created_at"], c["id"])))
    failed = sum(1 for cards in per_user for c in cards if c["status"] != "completed")
    done = [ts(c["completed_at"]) for cards in per_user for c in cards if c["completed_at"]]
    firsts = [ts(cards[0]["completed_at"]) for cards in per_user]
    thirds = [ts(cards[2]["started_at"]) for cards in per_user if len(cards) > 2 and cards[2]["started_at"]]
    last_first = max(firsts)
    return {"throughput": users * runs / (max(done) - t0), "submit_s": submitted, "failed": failed,
            "first_result": [f - t0 for f in firsts], "unfair": sum(1 for t in thirds if t < last_first),
            "elapsed": max(done) - t0}


def main() -> None:
    args = bench_options(users=30, runs=30, quick=(False, "10 users x 10 runs"))
    if args.quick:
        args.users, args.runs = min(args.users, 10), min(args.runs, 10)
    bare_lat, bare_tp = bare_aer(30, 300)
    env = {"QUBITHUB_LITE_RUNS_MAX_QUEUED_PER_USER": str(args.runs + 10)}
    with qubithub_server(env) as (url, _proc, _):
        time.sleep(3)  # warm workers and sandboxes
        got = asyncio.run(burst(url, args.users, args.runs))
    lat2, tp2 = bare_aer(30, 300)  # again after: the faster of the two (the machine is shared)
    b50, bare_tp = min(statistics.median(bare_lat), statistics.median(lat2)), max(bare_tp, tp2)
    n = args.users * args.runs
    f50, f99 = pct(got["first_result"], 0.5), pct(got["first_result"], 0.99)
    print(f"bare AerSimulator().run() loop      {bare_tp:8.1f} runs/s   one run p50 {b50 * 1e3:.2f} ms")
    print(f"{args.users} users x {args.runs} runs ({n}): {got['throughput']:8.1f} runs/s   ratio "
          f"{got['throughput'] / bare_tp:.3f} (goal >= 0.5); all done in {got['elapsed']:.1f} s, "
          f"submitting took {got['submit_s']:.1f} s; failed {got['failed']}")
    print(f"time to a user's first result       p50 {f50:.2f} s   p99 {f99:.2f} s")
    print(f"users whose 3rd run started before the last 1st run completed: {got['unfair']} (goal 0)")
    emit("class", [
        (f"{args.users}x{args.runs} burst runs/s vs bare Aer loop", got["throughput"] / bare_tp, ">=", 0.5),
        ("3rd runs started before last 1st completed", got["unfair"], "<=", 0),
        ("first result p50 / bare Aer run", f50 / b50, "<=", None),
        ("first result p99 / bare Aer run", f99 / b50, "<=", None),
        ("failed runs", got["failed"], "<=", 0),
    ])


if __name__ == "__main__":
    main()
