"""Signed-in circuit lists (goal 4) and flat list/search costs as the hub grows (goal 6).

    python bench/bench_lists.py [--seconds 5] [--circuits 10000] [--small 1000] [--large 100000] [--quick]

A real ``qubithub-lite serve`` subprocess; circuits go straight into its database (public
ones, private ones of the caller, of the caller's 3 organizations and of another user).
The caller is a signed-in member of 3 organizations.

1. ``GET /circuits?limit=20`` and a broad search (``q`` + tags + sort) with ``--circuits``
   stored: req/s over a bare aiohttp JSON handler run in the same bench (goals ≥ 0.2 / ≥ 0.1).
2. The median latency of the same list and search with ``--small`` and then ``--large``
   circuits stored (same server, more rows inserted): large / small (goal ≤ 1.5×).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT.parent))
from _harness import (bare_server, bench_options, emit, insert_circuits_rows, qubithub_server,  # noqa: E402
                      requests_per_second)

LIST = "/circuits?limit=20"
SEARCH = "/circuits?limit=20&q=number&tags=bench&sort=stars_count"


def post_json(url: str, body: dict, headers: dict | None = None) -> dict:
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json", **(headers or {})})
    with urllib.request.urlopen(req) as resp:
        return json.loads(resp.read())


def get_json(url: str, headers: dict) -> dict:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers)) as resp:
        return json.loads(resp.read())


async def insert_circuits(data_dir: Path, me: str, other: str, org_ids: list[str], start: int, stop: int,
                          db=None) -> None:
    """Circuits ``start..stop``: 80 % public, the rest private (mine, my organizations', another user's)."""
    from qubithub_lite.db.core import open_database

    def placed(i: int) -> tuple[str, str | None, bool]:
        kind = i % 10
        if kind == 8:
            return (me, None, False) if i % 20 < 10 else (other, None, False)
        if kind == 9:
            return other, org_ids[i % len(org_ids)], False
        return me, None, True

    own = db is None
    db = db or open_database(f"sqlite:///{data_dir / 'qubithub.db'}", pool_size=1)
    try:
        await insert_circuits_rows(db, start, stop, placed)
    finally:
        if own:
            await db.close()


def median_latency(url: str, headers: dict, n: int, budget: float = 30.0) -> float:
    """Median of up to ``n`` sequential requests (at least 3), within about ``budget`` seconds."""
    times, deadline = [], time.perf_counter() + budget
    for _ in range(n):
        if len(times) >= 3 and time.perf_counter() > deadline:
            break
        t0 = time.perf_counter()
        urllib.request.urlopen(urllib.request.Request(url, headers=headers)).read()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    args = bench_options(seconds=5.0, circuits=10_000, small=1_000, large=100_000, samples=60,
                         quick=(False, "shorter load phases (same data sizes)"))
    if args.quick:
        args.seconds, args.samples = min(args.seconds, 3.0), min(args.samples, 40)

    with qubithub_server() as (url, proc, data_dir):
        me = post_json(url + "/auth/register", {"email": "bench@example.org", "username": "bench",
                                                 "password": "Bench!pass#2026"})
        other = post_json(url + "/auth/register", {"email": "other@example.org", "username": "other",
                                                    "password": "Bench!pass#2026"})
        headers = {"Authorization": f"Bearer {me['access_token']}"}
        org_ids = []
        for k in range(3):
            org = post_json(url + "/orgs", {"name": f"Org {k}", "slug": f"org-{k}"}, headers)
            org_ids.append(org["id"])
        me_id, other_id = me["user"]["id"], other["user"]["id"]

        def fill(n_total: int, have: int) -> None:
            t0 = time.perf_counter()
            asyncio.run(insert_circuits(data_dir, me_id, other_id, org_ids, have, n_total))
            print(f"  {n_total} circuits stored (+{n_total - have} in {time.perf_counter() - t0:.1f} s)", flush=True)
            time.sleep(1.2)  # past the cached totals' lifetime

        fill(args.small, 0)
        small = {p: median_latency(url + p, headers, args.samples) for p in (LIST, SEARCH)}
        fill(args.circuits, args.small)
        listing = get_json(url + LIST, headers)
        visible = int(args.circuits * 0.95)
        assert listing["total"] == visible and len(listing["circuits"]) == 20, listing["total"]
        list_rps = requests_per_second(url + LIST, headers, seconds=args.seconds)
        search_rps = requests_per_second(url + SEARCH, headers, seconds=args.seconds)
        fill(args.large, args.circuits)
        large = {p: median_latency(url + p, headers, args.samples) for p in (LIST, SEARCH)}
    with bare_server() as (bare_url, _):
        bare_json = requests_per_second(bare_url + "/json", seconds=args.seconds)

    print(f"bare aiohttp JSON handler          : {bare_json:9.0f} req/s")
    print(f"signed-in GET {LIST} ({args.circuits}): {list_rps:9.0f} req/s  ratio {list_rps / bare_json:.3f} (goal >= 0.2)")
    print(f"  search q + tags + sort           : {search_rps:9.0f} req/s  ratio {search_rps / bare_json:.3f} (goal >= 0.1)")
    for p, name in ((LIST, "list"), (SEARCH, "search")):
        print(f"{name:6} median {args.small}: {small[p] * 1e3:7.2f} ms  {args.large}: {large[p] * 1e3:7.2f} ms  "
              f"ratio {large[p] / small[p]:.2f} (goal <= 1.5)")
    emit("lists", [
        ("signed-in list vs bare JSON", list_rps / bare_json, ">=", 0.2),
        ("signed-in search vs bare JSON", search_rps / bare_json, ">=", 0.1),
        (f"list latency {args.large} / {args.small}", large[LIST] / small[LIST], "<=", 1.5),
        (f"search latency {args.large} / {args.small}", large[SEARCH] / small[SEARCH], "<=", 1.5),
    ])


if __name__ == "__main__":
    main()
