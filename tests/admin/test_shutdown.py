"""Graceful shutdown of a real ``qubithub-lite serve`` process (SIGTERM), and a port in use."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import time

import aiohttp
import requests

from tests.conftest import PASSWORD, free_port, start_server
from tests.pg import pgtest
from tests.runs.helpers import SLEEPY
from tests.runs.test_restart import upload, wait


def _setup(server, sleep: str):
    api = server.api
    token = requests.post(f"{api}/auth/register", json={"email": "k@example.org", "username": "kim",
                                                        "password": PASSWORD}).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    circuit = upload(api, headers, "slow", {"circuit.py": SLEEPY, "sleep.json": sleep})
    run = requests.post(f"{api}/runs", json={"circuit_id": circuit}, headers=headers).json()
    wait(api, headers, run["id"], statuses=("running",), timeout=60)
    return token, headers, run["id"]


def _refused(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return False
    except OSError:
        return True


async def _watch(server, token: str, run_id: str) -> dict:
    """Open the run's WebSocket, SIGTERM the server, and record what the socket sees."""
    port = int(server.url.rsplit(":", 1)[1])
    seen: dict = {"messages": [], "refused_before_close": False}
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"{server.url}/ws/runs/{run_id}?token={token}") as ws:
            seen["messages"].append(json.loads((await ws.receive()).data)["status"])
            server.process.send_signal(signal.SIGTERM)
            seen["signalled"] = time.monotonic()
            receive = asyncio.ensure_future(ws.receive())
            while not receive.done():
                if await asyncio.to_thread(_refused, port):
                    seen["refused_before_close"] = True
                await asyncio.wait({receive}, timeout=0.2)
            msg = receive.result()
            while msg.type == aiohttp.WSMsgType.TEXT:
                seen["messages"].append(json.loads(msg.data)["status"])
                msg = await ws.receive()
            seen.update(type=msg.type, code=ws.close_code, reason=msg.extra)
    return seen


def _db_run(data_dir, run_id):
    found = pgtest.rows(data_dir, "SELECT status, attempts FROM run WHERE id = ?", (run_id,))
    return found[0] if found else None


def test_sigterm_requeues_a_run_that_does_not_finish_and_closes_websockets_with_a_reason(tmp_path):
    env = {"QUBITHUB_LITE_RUNS_WORKERS": "1", "QUBITHUB_LITE_SERVER_SHUTDOWN_TIMEOUT": "2",
           "QUBITHUB_LITE_LOGGING_LEVEL": "info"}
    server = start_server(tmp_path / "data", env)
    try:
        token, headers, run_id = _setup(server, "8")
        seen = asyncio.run(_watch(server, token, run_id))
        code = server.process.wait(timeout=60)  # the bound: drain 2 s + requests 2 s + closing
        output = server.process.stdout.read().decode()
    finally:
        server.stop()
    assert code == 0, output
    assert seen["type"] == aiohttp.WSMsgType.CLOSE and seen["code"] == aiohttp.WSCloseCode.GOING_AWAY, seen
    assert "shutting down" in seen["reason"]
    assert seen["refused_before_close"], "new connections must be refused while draining"
    assert seen["messages"] == ["running"]
    assert _db_run(tmp_path / "data", run_id) == ("queued", 0)  # re-queued, its retry not used up
    assert "Traceback" not in output
    drained = [json.loads(line) for line in output.splitlines() if '"server.drained"' in line]
    assert len(drained) == 1 and drained[0]["runs_requeued"] == 1 and drained[0]["websockets_closed"] == 1, output

    server = start_server(tmp_path / "data", env, port=int(server.url.rsplit(":", 1)[1]))
    try:
        login = requests.post(f"{server.api}/auth/login", json={"identifier": "kim", "password": PASSWORD}).json()
        done = wait(server.api, {"Authorization": f"Bearer {login['access_token']}"}, run_id)
    finally:
        server.stop()
    assert done["status"] == "completed", done


def test_sigterm_lets_a_short_run_finish(tmp_path):
    env = {"QUBITHUB_LITE_RUNS_WORKERS": "1", "QUBITHUB_LITE_SERVER_SHUTDOWN_TIMEOUT": "30"}
    server = start_server(tmp_path / "data", env)
    try:
        token, headers, run_id = _setup(server, "3")
        seen = asyncio.run(_watch(server, token, run_id))
        code = server.process.wait(timeout=60)
    finally:
        server.stop()
    assert code == 0
    assert seen["messages"][-1] == "completed", seen  # it finished during the drain, and the socket said so
    assert _db_run(tmp_path / "data", run_id)[0] == "completed"


def test_serve_on_a_port_in_use_is_one_clear_line_and_creates_nothing(tmp_path):
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        data = tmp_path / "data"
        out = subprocess.run([sys.executable, "-m", "qubithub_lite", "serve", "--port", str(port), "--data-dir", str(data)],
                             capture_output=True, text=True, timeout=60,
                             env={"PATH": "/usr/bin:/bin", "QUBITHUB_LITE_LOGGING_LEVEL": "warning"})
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "already in use" in lines[0] and str(port) in lines[0], out.stderr
    assert "Traceback" not in out.stderr + out.stdout
    assert not data.exists()
