"""The server's simulator worker pool shrinks when idle, and the next run starts a worker."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.conftest import make_settings
from tests.runs.helpers import BELL, make_circuit, submit, wait_run


@pytest.fixture
def settings(tmp_path):
    return make_settings(tmp_path, runs={"workers": 1, "worker_idle_seconds": 3, "compile_timeout_seconds": 30})


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except OSError:
        return True


async def _worker_pids(hub) -> list[int]:
    return list((await hub.health())["queue"]["executor"]["worker_pids"])


async def test_idle_workers_exit_and_the_next_run_still_works(client, hub, alice):
    circuit = await make_circuit(client, alice, "bell", {"circuit.py": BELL})
    first = await wait_run(client, alice, (await submit(client, alice, circuit["id"], seed=7))["id"])
    assert first["status"] == "completed"
    pids = await _worker_pids(hub)
    assert pids  # warm right after the run
    deadline = time.monotonic() + 30
    while await _worker_pids(hub) or not all(_gone(pid) for pid in pids):
        assert time.monotonic() < deadline, "idle simulator workers did not exit"
        await asyncio.sleep(0.2)
    again = await wait_run(client, alice, (await submit(client, alice, circuit["id"], seed=7))["id"])
    assert again["status"] == "completed"
    assert again["results"]["counts"] == first["results"]["counts"]
