"""Starting a sandbox process and supervising one job: capped output, wall clock, kill."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .disk import WorkdirQuota
from .limits import LimitName, Limits

READ_CHUNK = 64 * 1024
#: How long to wait for the output pipes to close once the job's main process is gone.
PIPE_GRACE_SECONDS = 1.0


@dataclass
class Outcome:
    """Raw facts about a finished job, before limit classification."""

    returncode: int
    stdout: bytes
    stderr: bytes
    stdout_truncated: bool
    stderr_truncated: bool
    killed_for: LimitName | None
    wall_time: float
    #: The work dir was over its quota when the job ended (it was not stopped for it).
    over_quota: bool = False

    @property
    def exit_code(self) -> int:
        """Shell-style status: negative returncodes (killed by signal N) become 128+N."""
        return 128 - self.returncode if self.returncode < 0 else self.returncode


async def spawn(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    pass_fds: Sequence[int] = (),
    stdin_pipe: bool = False,
) -> asyncio.subprocess.Process:
    """Start ``argv`` in a new session (so its process group can be killed) with piped
    stdout/stderr and only ``pass_fds`` inherited."""
    return await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE if stdin_pipe else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=dict(env),
        cwd=cwd,
        pass_fds=tuple(pass_fds),
        start_new_session=True,
    )


class _CappedReader:
    """Reads a pipe to EOF keeping at most ``cap`` bytes; signals when ``kill_after`` is
    passed so the job can be stopped (output is never buffered beyond the cap)."""

    def __init__(self, cap: int, kill_after: int, overflow: asyncio.Event) -> None:
        self.cap = cap
        self.kill_after = kill_after
        self.overflow = overflow
        self.data = bytearray()
        self.total = 0

    async def pump(self, stream: asyncio.StreamReader) -> None:
        while chunk := await stream.read(READ_CHUNK):
            room = self.cap - len(self.data)
            if room > 0:
                self.data += chunk[:room]
            self.total += len(chunk)
            if self.total > self.kill_after:
                self.overflow.set()

    @property
    def truncated(self) -> bool:
        return self.total > self.cap


async def supervise(
    proc: asyncio.subprocess.Process,
    limits: Limits,
    *,
    kill_tree: Callable[[], None],
    stdin: bytes | None = None,
    quota: WorkdirQuota | None = None,
) -> Outcome:
    """Feed ``stdin``, collect capped output and wait for ``proc``, killing the whole
    tree (``kill_tree``) at the wall-clock limit, on output overflow or when the work dir
    passes its ``quota`` (measured again once the job has ended)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    overflow = asyncio.Event()
    assert proc.stdout is not None and proc.stderr is not None
    out = _CappedReader(limits.stdout_bytes, limits.output_kill_bytes, overflow)
    err = _CappedReader(limits.stderr_bytes, limits.output_kill_bytes, overflow)
    readers = [
        asyncio.ensure_future(out.pump(proc.stdout)),
        asyncio.ensure_future(err.pump(proc.stderr)),
    ]
    feeder = asyncio.ensure_future(_feed(proc, stdin))
    waiter = asyncio.ensure_future(proc.wait())
    overflowed = asyncio.ensure_future(overflow.wait())
    watchdogs: list[asyncio.Future[Any]] = [overflowed]
    over_quota: asyncio.Future[None] | None = None
    if quota is not None:
        over_quota = asyncio.ensure_future(quota.watch())
        watchdogs.append(over_quota)
    killed_for: LimitName | None = None
    over_quota_at_end = False
    try:
        done, _ = await asyncio.wait(
            {waiter, *watchdogs},
            timeout=limits.wall_seconds,
            return_when=asyncio.FIRST_COMPLETED,
        )
        if waiter not in done:
            killed_for = (
                "output" if overflowed in done else "disk" if over_quota in done else "wall"
            )
            kill_tree()
        await waiter
        wall_time = loop.time() - started
        if over_quota is not None:
            over_quota.cancel()
        _, pending = await asyncio.wait(readers, timeout=PIPE_GRACE_SECONDS)
        if pending:  # a stray descendant still holds the pipes (only possible without pid ns)
            kill_tree()
        if killed_for is None and quota is not None:
            over_quota_at_end = await quota.exceeded()  # written in its last instant
    finally:
        for task in (*readers, feeder, waiter, *watchdogs):
            task.cancel()
        await asyncio.gather(*readers, feeder, waiter, *watchdogs, return_exceptions=True)
    assert proc.returncode is not None
    return Outcome(
        returncode=proc.returncode,
        stdout=bytes(out.data),
        stderr=bytes(err.data),
        stdout_truncated=out.truncated,
        stderr_truncated=err.truncated,
        killed_for=killed_for,
        wall_time=wall_time,
        over_quota=over_quota_at_end,
    )


async def _feed(proc: asyncio.subprocess.Process, data: bytes | None) -> None:
    if proc.stdin is None:
        return
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        if data:
            proc.stdin.write(data)
            await proc.stdin.drain()
        proc.stdin.close()


def kill_process_group(pid: int) -> None:
    """SIGKILL the process group led by ``pid`` (our sandbox launcher)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def signal_of(exit_code: int) -> int | None:
    """The signal number behind a shell-style exit status, if any."""
    if 128 < exit_code < 128 + signal.NSIG:
        return exit_code - 128
    return None


def classify(
    outcome: Outcome,
    *,
    runner_kind: str | None,
    pids_refused: int,
    stderr_heuristics: bool,
    oom_kills: int = 0,
) -> LimitName | None:
    """Which limit stopped (or hampered) the job.

    Precedence: what we killed it for (wall, output, disk), then the memory cgroup's OOM
    kills, then the kernel's signals (SIGXCPU,
    SIGXFSZ), then what the in-sandbox runner saw (MemoryError, EFBIG), then — for jobs
    not run by our runner — the interpreter's error text, then a work dir found over its
    quota after the job ended (a file stopped at the per-file cap may leave it just over),
    and finally refused forks.
    """
    if outcome.killed_for is not None:
        return outcome.killed_for
    if oom_kills > 0:
        return "memory"
    sig = signal_of(outcome.exit_code)
    if sig == signal.SIGXCPU:
        return "cpu"
    if sig == signal.SIGXFSZ:
        return "file_size"
    if runner_kind in ("memory", "file_size"):
        return runner_kind  # type: ignore[return-value]
    if stderr_heuristics and outcome.exit_code != 0:
        tail = outcome.stderr[-4096:]
        if b"MemoryError" in tail or b"Cannot allocate memory" in tail:
            return "memory"
        if b"File too large" in tail:
            return "file_size"
    if outcome.over_quota:
        return "disk"
    if pids_refused > 0:
        return "processes"
    return None
