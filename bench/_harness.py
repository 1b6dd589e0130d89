"""Shared bench plumbing: start servers as subprocesses, drive load, read RSS.

Every figure a bench prints is a ratio to a bare baseline measured in the same
run, because these machines are noisy; nothing here asserts absolute times.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import aiohttp

BARE_SERVER = r'''
import sys
from aiohttp import web
async def ok(request):
    return web.json_response({"status": "ok", "version": "bare"})
async def file(request):
    return web.FileResponse(sys.argv[2])
app = web.Application()
app.router.add_get("/json", ok)
if len(sys.argv) > 2:
    app.router.add_get("/file", file)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
'''


def bench_options(doc: str | None = None, **options) -> argparse.Namespace:
    """A bench's command line, from its options' defaults: ``name=default`` is ``--name``
    (``_`` spelled ``-``), typed like its default (``False``: a flag; ``None`` or a string: a
    string); ``name=(default, "help")`` adds a help text. ``doc``: the bench's docstring, whose
    first line ``--help`` shows."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)
    for name, spec in options.items():
        default, help_text = spec if isinstance(spec, tuple) else (spec, None)
        flag = "--" + name.replace("_", "-")
        if default is False:
            parser.add_argument(flag, action="store_true", help=help_text)
        elif default is None or isinstance(default, str):
            parser.add_argument(flag, default=default, help=help_text)
        else:
            parser.add_argument(flag, type=type(default), default=default, help=help_text)
    return parser.parse_args()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early: {proc.stdout.read() if proc.stdout else ''}")
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")


def bare_bwrap_argv(code: str, python: str = sys.executable) -> list[str]:
    """bubblewrap with nothing but the system and Python read-only: the bare baseline of a sandbox."""
    prefix = str(Path(sys.base_prefix).resolve())
    return [
        "bwrap", "--unshare-all", "--die-with-parent", "--ro-bind", "/usr", "/usr",
        "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib",
        "--symlink", "usr/lib64", "/lib64", "--ro-bind", prefix, prefix,
        "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
        str(Path(python).resolve()), "-c", code,  # a venv's python is a link out of the bind
    ]


async def timed_process(argv: list[str]) -> float:
    """Seconds one process takes to run to its end (RuntimeError if it fails)."""
    started = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate()
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed: {err.decode()[-500:]}")
    return elapsed


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


class RssSampler(threading.Thread):
    """The peak RSS of a process, sampled every 20 ms until :meth:`stop`."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak, self._halt = pid, 0, threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            self.peak = max(self.peak, rss_bytes(self.pid))
            time.sleep(0.02)

    def stop(self) -> int:
        self._halt.set()
        self.join()
        return self.peak


def drain(proc: subprocess.Popen) -> None:
    """Read a started server's output as it comes, in a thread: nobody else reads it, and a full
    pipe (64 KiB of log lines) would block the server at its next line."""
    def read() -> None:
        for _line in proc.stdout:
            pass

    if proc.stdout is not None:
        threading.Thread(target=read, daemon=True).start()


@contextmanager
def qubithub_server(extra_env: dict[str, str] | None = None, data_dir: Path | None = None) -> Iterator[tuple[str, subprocess.Popen, Path]]:
    """A real ``qubithub-lite serve`` with rate limits off (a trusted-LAN config)."""
    with tempfile.TemporaryDirectory(prefix="qh-bench-") as tmp:
        data = data_dir or Path(tmp) / "data"
        port = free_port()
        env = {**os.environ, "QUBITHUB_LITE_RATE_LIMITS_ENABLED": "false", "QUBITHUB_LITE_LOGGING_LEVEL": "warning",
               "QUBITHUB_LITE_AUTH_BCRYPT_ROUNDS": "4", **(extra_env or {})}
        proc = subprocess.Popen([sys.executable, "-m", "qubithub_lite", "serve", "--port", str(port), "--data-dir", str(data)],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_http(url + "/health", proc)
            drain(proc)
            yield url, proc, data
        finally:
            proc.terminate()
            proc.wait(timeout=30)


@contextmanager
def bare_server(file_path: Path | None = None) -> Iterator[tuple[str, subprocess.Popen]]:
    port = free_port()
    args = [sys.executable, "-c", BARE_SERVER, str(port)] + ([str(file_path)] if file_path else [])
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/json", proc)
        drain(proc)
        yield url, proc
    finally:
        proc.terminate()
        proc.wait(timeout=30)


async def _load(url: str, headers: dict[str, str], seconds: float, concurrency: int, max_requests: int) -> tuple[int, int]:
    done = errors = 0
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        async def worker() -> None:
            nonlocal done, errors
            while time.perf_counter() < deadline and done + errors < max_requests:
                async with session.get(url) as resp:
                    await resp.read()
                    if resp.status == 200:
                        done += 1
                    else:
                        errors += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done, errors


def requests_per_second(url: str, headers: dict[str, str] | None = None, seconds: float = 5.0,
                        concurrency: int = 16, max_requests: int = 200_000) -> float:
    """Closed-loop load on loopback, bounded in time and count."""
    asyncio.run(_load(url, headers or {}, 0.5, concurrency, 2_000))  # warm-up
    start = time.perf_counter()
    done, errors = asyncio.run(_load(url, headers or {}, seconds, concurrency, max_requests))
    elapsed = time.perf_counter() - start
    if errors:
        print(f"  warning: {errors} non-200 answers from {url}")
    return done / elapsed


#: The password of the users benches register.
PASSWORD = "Bench!pass#2026"


async def register(session: aiohttp.ClientSession, url: str, name: str) -> dict[str, str]:
    """Register user ``name`` (``name@example.org``); their authorization header."""
    async with session.post(f"{url}/auth/register", json={"email": f"{name}@example.org", "username": name,
                                                           "password": PASSWORD}) as r:
        assert r.status in (200, 201), await r.text()
        return {"Authorization": f"Bearer {(await r.json())['access_token']}"}


async def submit_runs(session: aiohttp.ClientSession, url: str, headers: dict[str, str], circuit_id: str,
                      count: int, concurrency: int, shots: int = 1024) -> None:
    """Submit ``count`` runs of one circuit from ``concurrency`` clients at once (a class)."""
    pending = iter(range(count))

    async def submitter() -> None:
        for _ in pending:
            async with session.post(f"{url}/runs", json={"circuit_id": circuit_id, "shots": shots}, headers=headers) as r:
                assert r.status == 201, await r.text()

    await asyncio.gather(*(submitter() for _ in range(concurrency)))


async def wait_drained(session: aiohttp.ClientSession, url: str, headers: dict[str, str],
                       timeout: float | None = None) -> dict:
    """Poll the caller's run stats until none of their runs is unfinished; returns the stats
    (RuntimeError after ``timeout`` seconds, if given)."""
    deadline = time.monotonic() + timeout if timeout is not None else None
    while True:
        async with session.get(f"{url}/runs/users/me/stats", headers=headers) as r:
            stats = await r.json()
        if stats["pending_runs"] + stats["queued_runs"] + stats["running_runs"] == 0:
            return stats
        if deadline is not None and time.monotonic() > deadline:
            raise RuntimeError(f"runs still unfinished after {timeout:g} s: {stats}")
        await asyncio.sleep(0.05)


async def insert_circuits_rows(db, start: int, stop: int, placed: Callable[[int], tuple[str, str | None, bool]],
                               batch: int = 1000) -> None:
    """Circuits ``start..stop`` straight through the DB layer (one transaction, batched inserts):
    circuit ``i`` is ``bench-i``, tagged ``bench`` and ``t<i % 50>``; ``placed(i)`` says its
    (owner id, organization id or None, public)."""
    from qubithub_lite.db.circuits import Circuit, CircuitTag
    from qubithub_lite.db.fields import new_id, utcnow

    frameworks = ("qiskit", "pennylane", "cirq", "openqasm3")
    async with db.tx():
        for base in range(start, stop, batch):
            rows, tags = [], []
            for i in range(base, min(stop, base + batch)):
                cid, now = new_id(), utcnow()
                owner, org, public = placed(i)
                t = ["bench", f"t{i % 50}"]
                rows.append({"id": cid, "name": f"bench-{i}", "namespace_id": org or owner, "owner": owner,
                             "organization": org, "title": f"Bench circuit {i}",
                             "description": f"Generated circuit number {i} for the bench",
                             "framework": frameworks[i % 4], "tags": t, "qubits": i % 30, "is_public": public,
                             "stars_count": i % 97, "created_at": now, "updated_at": now})
                tags += [{"circuit": cid, "tag": x} for x in t]
            await db.execute(Circuit.insert_many(rows))
            await db.execute(CircuitTag.insert_many(tags))


#: The line prefix run_all.py reads: ``BENCH_RESULT {"bench": ..., "results": [...]}``.
RESULT_PREFIX = "BENCH_RESULT "


def emit(bench: str, results: list[tuple[str, float, str, float | None]]) -> None:
    """Print one machine-readable line of ``(name, ratio, op, goal)`` figures (op ``<=`` or
    ``>=``; goal None: reported only) for ``bench/run_all.py``."""
    rows = [{"name": n, "ratio": round(float(r), 4), "op": op, "goal": g} for n, r, op, g in results]
    print(RESULT_PREFIX + json.dumps({"bench": bench, "results": rows}), flush=True)
