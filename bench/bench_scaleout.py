"""Scale-out on PostgreSQL: run throughput with 1 vs 2 API processes on one database and data dir,
and circuit-list requests per second on PostgreSQL vs SQLite.

Prints, in one run:
- runs/s of N queued Bell runs (already compiled) submitted round robin through 1 process, then
  through 2 processes (each with its own simulator workers), until the database counts them all
  completed; the ratio 2 : 1 (reported: on a 2-core machine both share the same cores, so expect
  about 1; on separate machines, about 2 until the database becomes the limit);
- GET /api/circuits req/s (signed in, 20 per page of a few hundred public circuits) on PostgreSQL
  vs SQLite (the ratio PostgreSQL : SQLite, reported).

Uses ``QUBITHUB_LITE_TEST_DATABASE`` (a PostgreSQL URL whose role may CREATE DATABASE) or starts
a throw-away server with ``tests/pg/start_postgres.sh`` (and stops it at the end).

    python bench/bench_scaleout.py [--runs 300] [--circuits 500] [--seconds 5] [--workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

import aiohttp

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from _harness import emit, qubithub_server, requests_per_second  # noqa: E402
from tests.pg.pgtest import run_statements  # noqa: E402

ROOT = HERE.parent
PASSWORD = "Qu4ntum!Leap#42"
#: The bundled example's Bell circuit (H, CX, measure both).
BELL = (ROOT / "qubithub_lite" / "examples" / "circuits" / "bell-qiskit" / "circuit.py").read_text(encoding="utf-8")


@contextlib.contextmanager
def postgres_server():
    """(admin URL) of the configured server, or of a throw-away one started here."""
    url = os.environ.get("QUBITHUB_LITE_TEST_DATABASE")
    if url:
        yield url
        return
    out = subprocess.run(["bash", str(ROOT / "tests/pg/start_postgres.sh")], capture_output=True, text=True, check=True)
    values = dict(part.split("=", 1) for part in out.stdout.split()[1:])
    try:
        yield values["QUBITHUB_LITE_TEST_DATABASE"]
    finally:
        subprocess.run(["bash", str(ROOT / "tests/pg/start_postgres.sh"), "stop", values["QH_PG_DIR"]], check=False)


def fresh_database(admin_url: str) -> str:
    name = f"qh_bench_{secrets.token_hex(6)}"
    asyncio.run(run_statements(admin_url, [f'CREATE DATABASE "{name}"']))
    return urlparse(admin_url)._replace(path="/" + name).geturl()


def drop_database(admin_url: str, url: str) -> None:
    name = urlparse(url).path.lstrip("/")
    asyncio.run(run_statements(admin_url, [f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)']))


async def _json(session, method: str, url: str, **kw):
    async with session.request(method, url, **kw) as resp:
        body = await resp.json(content_type=None)
        if resp.status >= 300:
            raise RuntimeError(f"{method} {url}: {resp.status} {body}")
        return body


async def _setup_user(api: str, session, name: str) -> dict[str, str]:
    body = await _json(session, "POST", f"{api}/auth/register",
                       json={"email": f"{name}@example.org", "username": name, "password": PASSWORD, "name": name})
    return {"Authorization": f"Bearer {body['access_token']}"}


async def _bell(api: str, session, headers) -> str:
    circuit = await _json(session, "POST", f"{api}/circuits", headers=headers,
                          json={"name": "bell", "title": "Bell", "framework": "qiskit", "qubits": 2})
    form = aiohttp.FormData()
    form.add_field("files", BELL.encode(), filename="circuit.py", content_type="application/octet-stream")
    await _json(session, "POST", f"{api}/circuits/{circuit['id']}/upload-batch", headers=headers, data=form)
    return circuit["id"]


async def _wait_done(api: str, session, headers, run_id: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = await _json(session, "GET", f"{api}/runs/{run_id}", headers=headers)
        if run["status"] in ("completed", "failed", "cancelled"):
            if run["status"] != "completed":
                raise RuntimeError(f"warm-up run {run['status']}: {run.get('error_message')}")
            return
        await asyncio.sleep(0.1)
    raise RuntimeError("warm-up run did not finish")


async def _completed(url: str) -> int:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval("SELECT COUNT(*) FROM run WHERE status IN ('completed', 'failed', 'cancelled')")
    finally:
        await conn.close()


async def _throughput(urls: list[str], db_url: str, runs: int) -> float:
    apis = [u + "/api" for u in urls]
    async with aiohttp.ClientSession() as session:
        headers = await _setup_user(apis[0], session, "bench")
        circuit = await _bell(apis[0], session, headers)
        warm = [await _json(session, "POST", f"{api}/runs", headers=headers, json={"circuit_id": circuit, "shots": 64})
                for api in apis]  # compile once, and start each process's simulator workers
        for run in warm:
            await _wait_done(apis[0], session, headers, run["id"])
        before = await _completed(db_url)
        start = time.perf_counter()
        sem = asyncio.Semaphore(16)

        async def one(i: int) -> None:
            async with sem:
                await _json(session, "POST", f"{apis[i % len(apis)]}/runs", headers=headers,
                            json={"circuit_id": circuit, "shots": 64})

        await asyncio.gather(*(one(i) for i in range(runs)))
        import asyncpg

        conn = await asyncpg.connect(db_url)
        try:
            while True:
                done = await conn.fetchval("SELECT COUNT(*) FROM run WHERE status IN ('completed', 'failed', 'cancelled')")
                if done - before >= runs:
                    break
                if time.perf_counter() - start > 900:
                    raise RuntimeError(f"only {done - before} of {runs} runs finished")
                await asyncio.sleep(0.05)
            failed = await conn.fetchval("SELECT COUNT(*) FROM run WHERE status <> 'completed'")
        finally:
            await conn.close()
        elapsed = time.perf_counter() - start
        if failed:
            print(f"  warning: {failed} runs did not complete")
        return runs / elapsed


def run_throughput(admin_url: str, processes: int, runs: int, workers: int) -> float:
    db_url = fresh_database(admin_url)
    env = {"QUBITHUB_LITE_DATABASE_URL": db_url, "QUBITHUB_LITE_RUNS_WORKERS": str(workers),
           "QUBITHUB_LITE_RUNS_PER_USER_CONCURRENCY": "64", "QUBITHUB_LITE_RUNS_MAX_QUEUED_PER_USER": str(runs + 10),
           "QUBITHUB_LITE_SANDBOX_WARM_POOL_SIZE": "0"}
    try:
        with tempfile.TemporaryDirectory(prefix="qh-bench-scaleout-") as tmp, contextlib.ExitStack() as stack:
            data = Path(tmp) / "data"
            urls = [stack.enter_context(qubithub_server(env, data_dir=data))[0] for _ in range(processes)]
            return asyncio.run(_throughput(urls, db_url, runs))
    finally:
        drop_database(admin_url, db_url)


async def _circuits(api: str, count: int) -> dict[str, str]:
    async with aiohttp.ClientSession() as session:
        headers = await _setup_user(api, session, "lister")
        sem = asyncio.Semaphore(8)

        async def one(i: int) -> None:
            async with sem:
                await _json(session, "POST", f"{api}/circuits", headers=headers, json={
                    "name": f"c{i}", "title": f"Circuit {i}", "framework": "qiskit", "qubits": 2,
                    "is_public": True, "tags": ["bench", f"t{i % 7}"], "description": "a circuit to list"})

        await asyncio.gather(*(one(i) for i in range(count)))
        return headers


def list_rate(env: dict[str, str], circuits: int, seconds: float) -> float:
    with qubithub_server({**env, "QUBITHUB_LITE_RUNS_PRESTART_WORKERS": "false",
                          "QUBITHUB_LITE_SANDBOX_WARM_POOL_SIZE": "0"}) as (url, _proc, _data):
        headers = asyncio.run(_circuits(url + "/api", circuits))
        return requests_per_second(url + "/api/circuits?limit=20", headers, seconds=seconds)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument("--circuits", type=int, default=500)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--workers", type=int, default=2, help="simulator workers per API process")
    args = ap.parse_args()
    with postgres_server() as admin_url:
        one = run_throughput(admin_url, 1, args.runs, args.workers)
        print(f"run throughput, 1 API process on PostgreSQL:  {one:8.1f} runs/s ({args.runs} Bell runs)")
        two = run_throughput(admin_url, 2, args.runs, args.workers)
        print(f"run throughput, 2 API processes on PostgreSQL: {two:8.1f} runs/s ({two / one:.2f}x)")
        sqlite = list_rate({}, args.circuits, args.seconds)
        print(f"GET /api/circuits on SQLite:     {sqlite:8.0f} req/s ({args.circuits} circuits, signed in)")
        db_url = fresh_database(admin_url)
        try:
            pg = list_rate({"QUBITHUB_LITE_DATABASE_URL": db_url}, args.circuits, args.seconds)
        finally:
            drop_database(admin_url, db_url)
        print(f"GET /api/circuits on PostgreSQL: {pg:8.0f} req/s ({pg / sqlite:.2f}x SQLite)")
    emit("scaleout", [
        ("run throughput 2 processes / 1 process (PostgreSQL)", two / one, ">=", None),
        ("circuit list req/s PostgreSQL / SQLite", pg / sqlite, ">=", None),
    ])


if __name__ == "__main__":
    main()
