"""The slot board as the leases and the cross-process relay see it (``jobs.leases.LocalSlots``):
what executes here, and stopping a run unless it is writing its own end."""

from __future__ import annotations

import asyncio

from qubithub_lite.jobs.scheduler import SlotBoard


class RecordingExecutor:
    def __init__(self) -> None:
        self.cancelled: list[str] = []

    async def cancel(self, task_id: str) -> None:
        self.cancelled.append(task_id)


async def test_stop_run_cancels_a_run_executing_here_unless_it_is_finishing():
    executor = RecordingExecutor()
    board = SlotBoard(executor)
    tasks = {run_id: asyncio.create_task(asyncio.sleep(60)) for run_id in ("a", "b")}
    board.active.update(tasks)
    assert sorted(board.executing()) == ["a", "b"] and board.is_executing("a") and not board.is_executing("c")

    board.finishing.add("b")  # writing its own result: nothing left to stop
    await board.stop_run("b")
    await board.stop_run("a")
    await asyncio.sleep(0)
    assert tasks["a"].cancelled() and not tasks["b"].done()
    assert executor.cancelled == ["a"]
    tasks["b"].cancel()


def test_wake_sets_the_signal_the_slots_wait_on():
    board = SlotBoard(RecordingExecutor())
    assert not board.signal.is_set()
    board.wake()
    assert board.signal.is_set()
