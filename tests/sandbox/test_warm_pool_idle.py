"""The warm pool shrinks when idle: its interpreters exit, and the next job still runs."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from qubithub_lite.sandbox import SandboxConfig, get_sandbox


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except OSError:
        return True


async def test_idle_warm_pool_stops_its_interpreters_and_the_next_job_runs(
        sandbox_available: str, data_dir: Path, test_config: dict) -> None:
    box = get_sandbox(SandboxConfig(**{**test_config, "warm_idle_seconds": 1.0}), protected_paths=[data_dir])
    try:
        await box.wait_warm()
        pool = box._pool(())
        assert pool.ready_count == 1
        pids = [warm.proc.pid for warm in pool._ready]
        deadline = time.monotonic() + 30
        while pool.ready_count or not all(_gone(pid) for pid in pids):
            assert time.monotonic() < deadline, "the idle warm interpreters did not exit"
            await asyncio.sleep(0.1)
        result = await box.run_python({}, code="print(6 * 7)", limits=box.limits(20))
        assert result.ok and result.stdout.strip() == b"42"
    finally:
        await box.close()


async def test_a_used_pool_stays_warm(sandbox_available: str, data_dir: Path, test_config: dict) -> None:
    box = get_sandbox(SandboxConfig(**{**test_config, "warm_idle_seconds": 3.0}), protected_paths=[data_dir])
    try:
        for _ in range(3):  # used more often than every 3 s: refilled each time, never emptied
            result = await box.run_python({}, code="print('hi')", limits=box.limits(20))
            assert result.ok
            await box.wait_warm()
            assert box._pool(()).ready_count == 1
    finally:
        await box.close()
