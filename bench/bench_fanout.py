"""Live fan-out (goal 5 of issue 16): 500 WebSocket subscribers on one run.

    python bench/bench_fanout.py [--subscribers 500] [--quick]

A real ``qubithub-lite serve`` with one worker and one run per user at a time: a slow run
(a 20-qubit random circuit) holds the worker, a Bell run waits behind it, and
``--subscribers`` WebSockets subscribe to the Bell run. The figure is the time from the Bell
run's ``completed_at`` to the moment the last subscriber has the ``completed`` message, over
the same for a bare aiohttp server broadcasting a message of the same size to as many sockets
(``send_str`` in a loop, the plain way), from the moment it is told to (goal ≤ 2×). The same
client code receives both.
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
from _harness import emit, free_port, qubithub_server, wait_http  # noqa: E402
from bench_class import register, ts  # noqa: E402
from bench_runs import BELL, run_to_completion, upload  # noqa: E402

SLOW = """
from qiskit.circuit.random import random_circuit

def create_circuit():
    return random_circuit({qubits}, {depth}, measure=True, seed=7)
"""

BARE_BROADCAST = r'''
import sys
from aiohttp import web
sockets = set()
async def ws(request):
    sock = web.WebSocketResponse()
    await sock.prepare(request)
    await sock.send_str('{"status": "queued"}')
    sockets.add(sock)
    async for _ in sock:
        pass
    sockets.discard(sock)
    return sock
async def fire(request):
    message = await request.text()
    for sock in list(sockets):
        await sock.send_str(message)
    return web.Response(text="ok")
app = web.Application()
app.router.add_get("/ws", ws)
app.router.add_post("/fire", fire)
app.router.add_get("/json", lambda r: web.json_response({}))
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
'''


async def subscribe_all(session: aiohttp.ClientSession, ws_url: str, n: int, headers: dict,
                        final: str) -> tuple[list[asyncio.Task], asyncio.Event]:
    """``n`` sockets; each task returns the time it saw a message whose status is ``final``."""
    ready, connected = asyncio.Event(), [0]
    sem = asyncio.Semaphore(50)  # connect 50 at a time

    async def one() -> float:
        async with sem:
            ws = await session.ws_connect(ws_url, headers=headers, max_msg_size=0)
        async with ws:
            first = True
            async for msg in ws:
                status = json.loads(msg.data)["status"]
                if first:
                    first = False
                    connected[0] += 1
                    if connected[0] == n:
                        ready.set()
                if status == final:
                    return time.time()
                if status in ("completed", "failed", "cancelled"):
                    raise RuntimeError(f"run ended {status}")
        raise RuntimeError("socket closed early")

    return [asyncio.create_task(one()) for _ in range(n)], ready


async def hub_fanout(url: str, n: int) -> dict:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        h = await register(session, url, "fan")
        bell = await upload(session, url, h, "bell", BELL)
        await run_to_completion(session, url, h, bell)
        depth = 6
        for attempt in range(4):
            slow = await upload(session, url, h, f"slow{attempt}", SLOW.format(qubits=20, depth=depth))
            async with session.post(f"{url}/runs", json={"circuit_id": slow, "shots": 100}, headers=h) as r:
                slow_run = (await r.json())["id"]
            while True:  # compiled and running
                async with session.get(f"{url}/runs/{slow_run}", headers=h) as r:
                    status = (await r.json())["status"]
                if status in ("running", "completed", "failed"):
                    break
                await asyncio.sleep(0.05)
            async with session.post(f"{url}/runs", json={"circuit_id": bell, "shots": 1024}, headers=h) as r:
                run_id = (await r.json())["id"]
            tasks, ready = await subscribe_all(session, url.replace("http", "ws") + f"/ws/runs/{run_id}", n, h,
                                               "completed")
            try:
                await asyncio.wait_for(ready.wait(), 120)
                got = await asyncio.gather(*tasks)
            except RuntimeError:
                for t in tasks:
                    t.cancel()
                depth *= 2
                print(f"  the Bell run ended before {n} sockets were connected: slow circuit depth {depth}")
                continue
            async with session.get(f"{url}/runs/{run_id}", headers=h) as r:
                body = await r.text()
            done = ts(json.loads(body)["completed_at"])
            return {"size": len(body), "last": max(got) - done, "first": min(got) - done, "median": statistics.median(got) - done}
    raise RuntimeError("could not hold the run long enough")


async def bare_fanout(url: str, n: int, message: str) -> dict:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        tasks, ready = await subscribe_all(session, url.replace("http", "ws") + "/ws", n, {}, "completed")
        await asyncio.wait_for(ready.wait(), 120)
        await asyncio.sleep(0.2)
        t0 = time.time()
        async with session.post(url + "/fire", data=message) as r:
            await r.read()
        got = await asyncio.gather(*tasks)
    return {"last": max(got) - t0, "first": min(got) - t0, "median": statistics.median(got) - t0}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=500)
    parser.add_argument("--quick", action="store_true", help="200 subscribers")
    args = parser.parse_args()
    n = min(args.subscribers, 200) if args.quick else args.subscribers
    env = {"QUBITHUB_LITE_RUNS_WORKERS": "1", "QUBITHUB_LITE_RUNS_PER_USER_CONCURRENCY": "1"}
    with qubithub_server(env) as (url, _proc, _):
        time.sleep(2)
        hub = asyncio.run(hub_fanout(url, n))
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", BARE_BROADCAST, str(port)])
    try:
        wait_http(f"http://127.0.0.1:{port}/json", proc)
        message = json.dumps({"status": "completed", "pad": "x" * max(0, hub["size"] - 30)})  # the same size
        bare = asyncio.run(bare_fanout(f"http://127.0.0.1:{port}", n, message))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print(f"bare broadcast to {n} sockets: first {bare['first'] * 1e3:7.1f} ms  median {bare['median'] * 1e3:7.1f} ms"
          f"  last {bare['last'] * 1e3:7.1f} ms")
    print(f"hub completion to {n} subscribers: first {hub['first'] * 1e3:7.1f} ms  median {hub['median'] * 1e3:7.1f} ms"
          f"  last {hub['last'] * 1e3:7.1f} ms   ratio {hub['last'] / bare['last']:.2f} (goal <= 2)")
    emit("fanout", [(f"{n} subscribers: last completed vs bare broadcast", hub["last"] / bare["last"], "<=", 2)])


if __name__ == "__main__":
    main()
