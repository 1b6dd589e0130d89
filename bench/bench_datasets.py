"""Datasets bench: preview latency through the HTTP API for a ~1 GiB CSV and a
~1 GiB Parquet file against the same data at ~1 MiB (goal: ratio ≤ 2×), and the
server's RSS during the 1 GiB previews.

    python bench/bench_datasets.py [--size-mb 1024] [--repeats 9] [--rows 100] [--dir /tmp]

A real ``qubithub-lite serve`` subprocess (bench/_harness.py) gets the four
files as dataset versions (upload time includes the content check and the
one-off row count), then ``GET /datasets/{id}/preview?rows=N`` is timed from a
client: the first call and the median of the next ones. RSS is sampled every
20 ms while the big previews run (sequential, then 8 at once). Figures are
printed as ratios; nothing asserts absolute times. Temp files are removed.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT.parent))
from _harness import RssSampler, bench_options, emit, qubithub_server, rss_bytes  # noqa: E402
from bench_formats import make_table, write_csv, write_parquet  # noqa: E402

MiB = 1024 * 1024
GiB = 1024 * MiB


def call(method: str, url: str, body: dict | None = None, headers: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data, {"Content-Type": "application/json", **(headers or {})}, method=method)
    with urllib.request.urlopen(req, timeout=600) as resp:
        return json.loads(resp.read())


async def upload(url: str, headers: dict, path: Path) -> dict:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as session:
        with open(path, "rb") as fh:
            form = aiohttp.FormData()
            form.add_field("file", fh, filename=path.name, content_type="application/octet-stream")
            async with session.post(url, data=form, headers=headers) as resp:
                body = await resp.json()
                if resp.status != 201:
                    raise RuntimeError(f"upload of {path.name} failed: {resp.status} {body}")
                return body


async def time_previews(url: str, repeats: int, concurrency: int = 1) -> list[float]:
    """Latency of each preview (seconds); ``concurrency`` callers at once."""
    times: list[float] = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as session:
        async def one() -> None:
            start = time.perf_counter()
            async with session.get(url) as resp:
                body = await resp.read()
                if resp.status != 200:
                    raise RuntimeError(f"preview failed: {resp.status} {body[:200]!r}")
            times.append(time.perf_counter() - start)

        for _ in range(repeats):
            await asyncio.gather(*(one() for _ in range(concurrency)))
    return times


def main() -> None:
    args = bench_options(__doc__, size_mb=(1024, "size of the big files"), small_mb=1.0, repeats=9, rows=100,
                         dir=(None, "where to put the temporary files"))

    env = {
        "QUBITHUB_LITE_STORAGE_MAX_FILE_BYTES": str(4 * GiB),
        "QUBITHUB_LITE_STORAGE_USER_QUOTA_BYTES": str(16 * GiB),
        "QUBITHUB_LITE_RUNS_PRESTART_WORKERS": "false",
    }
    chunk = make_table(1_000_000)
    with tempfile.TemporaryDirectory(prefix="qh-bench-datasets-", dir=args.dir) as tmp:
        files: dict[tuple[str, str], Path] = {}
        for fmt, writer in (("csv", write_csv), ("parquet", write_parquet)):
            for label, size in (("small", int(args.small_mb * MiB)), ("big", args.size_mb * MiB)):
                path = Path(tmp) / f"{label}.{fmt}"
                writer(path, size, chunk)
                files[(fmt, label)] = path
                print(f"generated {path.name:14} {path.stat().st_size / MiB:9.1f} MiB", flush=True)

        with qubithub_server(env, data_dir=Path(tmp) / "server-data") as (url, proc, _data):
            reg = call("POST", f"{url}/auth/register", {"email": "bench@example.org", "username": "bench",
                                                        "password": "Bench!pass123", "name": "Bench"})
            headers = {"Authorization": f"Bearer {reg['access_token']}"}
            ids: dict[tuple[str, str], str] = {}
            print()
            for (fmt, label), path in files.items():
                d = call("POST", f"{url}/datasets", {"name": f"{fmt}-{label}", "title": f"{fmt} {label}",
                                                      "format": fmt}, headers)
                start = time.perf_counter()
                v = asyncio.run(upload(f"{url}/datasets/{d['id']}/versions", headers, path))
                secs = time.perf_counter() - start
                print(f"upload {path.name:14} {secs:6.2f} s  ({path.stat().st_size / MiB / secs:6.0f} MiB/s, "
                      f"incl. format check + row count; total_rows={v['total_rows']})", flush=True)
                ids[(fmt, label)] = d["id"]
                path.unlink()  # the server holds its own copy; free the disk early
            # Uploads are done: the token may have aged, but previews of public datasets need none.
            print(f"\npreview rows={args.rows} over HTTP: first call, then median of {args.repeats}")
            print(f"{'format':8} {'file':>6} {'first ms':>9} {'median ms':>10}")
            base_rss = rss_bytes(proc.pid)
            results: dict[tuple[str, str], float] = {}
            peak_seq = 0
            for fmt in ("csv", "parquet"):
                for label in ("small", "big"):
                    purl = f"{url}/datasets/{ids[(fmt, label)]}/preview?rows={args.rows}"
                    sampler = RssSampler(proc.pid) if label == "big" else None
                    if sampler:
                        sampler.start()
                    first = asyncio.run(time_previews(purl, 1))[0]
                    times = asyncio.run(time_previews(purl, args.repeats))
                    if sampler:
                        peak_seq = max(peak_seq, sampler.stop())
                    results[(fmt, label)] = statistics.median(times)
                    print(f"{fmt:8} {label:>6} {first * 1e3:9.2f} {results[(fmt, label)] * 1e3:10.2f}", flush=True)
                ratio = results[(fmt, "big")] / results[(fmt, "small")]
                print(f"{fmt:8} ratio {args.size_mb} MiB / {args.small_mb:g} MiB median: {ratio:.2f}x  (goal <= 2x)")
                emit("datasets", [(f"{fmt} preview {args.size_mb} MiB / {args.small_mb:g} MiB (HTTP)", ratio, "<=", 1.5)])

            sampler = RssSampler(proc.pid)
            sampler.start()
            conc: dict[str, float] = {}
            for fmt in ("csv", "parquet"):
                purl = f"{url}/datasets/{ids[(fmt, 'big')]}/preview?rows=1000"
                conc[fmt] = statistics.median(asyncio.run(time_previews(purl, 3, concurrency=8)))
            peak_conc = sampler.stop()
            print(f"\n8 concurrent rows=1000 previews of the big files: median csv {conc['csv'] * 1e3:.1f} ms, "
                  f"parquet {conc['parquet'] * 1e3:.1f} ms")
            print(f"server RSS before previews        : {base_rss / MiB:8.1f} MiB")
            print(f"peak during 1 GiB previews (seq.) : {peak_seq / MiB:8.1f} MiB  "
                  f"(+{max(0, peak_seq - base_rss) / MiB:.1f} MiB, {peak_seq / base_rss:.2f}x of before)")
            print(f"peak during 8 concurrent previews : {peak_conc / MiB:8.1f} MiB  "
                  f"(+{max(0, peak_conc - base_rss) / MiB:.1f} MiB; file size {args.size_mb} MiB)")


if __name__ == "__main__":
    main()
