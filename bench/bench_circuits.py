"""Circuits bench: list throughput with 10,000 circuits stored, and a 1 GiB
upload + download (server RSS growth, download speed vs a bare sendfile).

    python bench/bench_circuits.py [--seconds 5] [--circuits 10000] [--file-mib 1024]

Every figure is a ratio to a bare aiohttp baseline measured in the same run
(goals: list ≥ 15 % of a bare JSON handler; RSS growth < 64 MiB; download
≥ 50 % of a bare FileResponse of the same file). Loopback only, bounded in
time and count; temp files are removed.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT.parent))
from _harness import (RssSampler, bare_server, bench_options, emit, insert_circuits_rows,  # noqa: E402
                      qubithub_server, requests_per_second, rss_bytes)

MiB = 1024 * 1024


def post_json(url: str, body: dict, headers: dict | None = None) -> dict:
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json", **(headers or {})})
    with urllib.request.urlopen(req) as resp:
        return json.loads(resp.read())


async def insert_circuits(data_dir: Path, owner_id: str, count: int) -> None:
    """10,000 public circuits straight through the DB layer (one transaction, batched inserts)."""
    from qubithub_lite.db.core import open_database

    db = open_database(f"sqlite:///{data_dir / 'qubithub.db'}", pool_size=1)
    try:
        await insert_circuits_rows(db, 0, count, lambda i: (owner_id, None, True), batch=500)
    finally:
        await db.close()


async def upload(url: str, token: str, path: Path) -> dict:
    timeout = aiohttp.ClientTimeout(total=None)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        with open(path, "rb") as fh:
            form = aiohttp.FormData()
            form.add_field("file", fh, filename="big.qpy", content_type="application/octet-stream")
            async with session.post(url, data=form, headers={"Authorization": f"Bearer {token}"}) as resp:
                body = await resp.json()
                assert resp.status == 201, body
                return body


async def download(url: str) -> tuple[int, float]:
    timeout = aiohttp.ClientTimeout(total=None)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        start = time.perf_counter()
        total = 0
        async with session.get(url) as resp:
            assert resp.status == 200, resp.status
            async for chunk in resp.content.iter_chunked(4 * MiB):
                total += len(chunk)
        return total, time.perf_counter() - start


def best_download(url: str, runs: int = 3) -> float:
    speeds = []
    for _ in range(runs):
        size, seconds = asyncio.run(download(url))
        speeds.append(size / seconds)
    return max(speeds)


def make_file(path: Path, size: int) -> None:
    block = os.urandom(MiB)
    with open(path, "wb") as fh:
        for i in range(size // MiB):
            fh.write(block[i % 251:] + block[:i % 251])  # distinct blocks, cheap to make


def main() -> None:
    args = bench_options(seconds=5.0, circuits=10_000, file_mib=1024)
    size = args.file_mib * MiB
    env = {"QUBITHUB_LITE_STORAGE_MAX_FILE_BYTES": str(size + MiB),
           "QUBITHUB_LITE_STORAGE_USER_QUOTA_BYTES": str(4 * size + 64 * MiB)}
    with tempfile.TemporaryDirectory(prefix="qh-bench-circuits-") as tmp:
        big = Path(tmp) / "big.qpy"
        make_file(big, size)
        with qubithub_server(env) as (url, proc, data_dir):
            auth = post_json(url + "/auth/register", {"email": "bench@example.org", "username": "bench",
                                                       "password": "Bench!pass#2026"})
            token, user_id = auth["access_token"], auth["user"]["id"]
            t0 = time.perf_counter()
            asyncio.run(insert_circuits(data_dir, user_id, args.circuits))
            print(f"inserted {args.circuits} circuits in {time.perf_counter() - t0:.1f} s")
            listing = json.loads(urllib.request.urlopen(url + "/circuits?limit=20").read())
            assert listing["total"] >= args.circuits and len(listing["circuits"]) == 20
            list_rps = requests_per_second(url + "/circuits?limit=20", seconds=args.seconds, concurrency=16)
            search_rps = requests_per_second(url + "/circuits?limit=20&q=number&tags=bench&sort=stars_count",
                                             seconds=args.seconds, concurrency=16)

            circuit = post_json(url + "/api/circuits", {"name": "big-one", "title": "Big", "framework": "qiskit"},
                                {"Authorization": f"Bearer {token}"})
            time.sleep(0.5)
            base_rss = rss_bytes(proc.pid)
            sampler = RssSampler(proc.pid)
            sampler.start()
            t0 = time.perf_counter()
            result = asyncio.run(upload(f"{url}/api/circuits/{circuit['id']}/upload?commit_message=big", token, big))
            up_seconds = time.perf_counter() - t0
            file_url = f"{url}/api/files/{result['files'][0]['path']}"
            ours = best_download(file_url)
            peak = sampler.stop()
        with bare_server(big) as (bare_url, _):
            bare_json = requests_per_second(bare_url + "/json", seconds=args.seconds, concurrency=16)
            bare_file = best_download(bare_url + "/file")

    print(f"bare aiohttp JSON handler      : {bare_json:9.0f} req/s")
    print(f"GET /circuits?limit=20 ({args.circuits} stored): {list_rps:9.0f} req/s  ratio {list_rps / bare_json:.2f}  (goal >= 0.15)")
    print(f"  with q + tags + sort         : {search_rps:9.0f} req/s  ratio {search_rps / bare_json:.2f}")
    print(f"upload {args.file_mib} MiB               : {size / up_seconds / MiB:9.0f} MiB/s")
    print(f"server RSS growth (up+down)    : {(peak - base_rss) / MiB:9.1f} MiB  (goal < 64 MiB; base {base_rss / MiB:.0f} MiB)")
    print(f"download /files                : {ours / MiB:9.0f} MiB/s")
    print(f"bare FileResponse (sendfile)   : {bare_file / MiB:9.0f} MiB/s  ratio {ours / bare_file:.2f}  (goal >= 0.50)")
    emit("circuits", [("anonymous list vs bare JSON", list_rps / bare_json, ">=", 0.15),
                      ("anonymous search vs bare JSON", search_rps / bare_json, ">=", None),
                      ("RSS growth MiB (up+down)", (peak - base_rss) / MiB, "<=", 64),
                      ("download vs bare sendfile", ours / bare_file, ">=", 0.5)])


if __name__ == "__main__":
    main()
