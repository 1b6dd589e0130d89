"""Warm pool: sandboxed interpreters started ahead of time with heavy modules imported.

Each warm interpreter runs ``_runner.py`` inside its own, fresh sandbox (own work dir,
namespaces and pids cgroup), serves exactly one job and is then discarded; the pool
replaces it in the background.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Sequence
from typing import Protocol

from .cgroup import JobCgroup
from .disk import remove_tree_async
from .errors import SandboxUnavailable
from .process import kill_process_group

logger = logging.getLogger(__name__)

RUNNER_SOURCE = (Path(__file__).with_name("_runner.py")).read_text()
#: How long a warm interpreter may take to import its preload modules.
READY_TIMEOUT_SECONDS = 120.0


class Launcher(Protocol):
    """What the warm pool needs from a sandbox: how to run Python in it and how to start
    one sandboxed process (``Sandbox`` provides both; this module never imports it)."""

    def python_argv(self, *args: str) -> list[str]: ...

    async def launch(
        self, command: Sequence[str], *, pass_fds: Sequence[int] = (), stdin_pipe: bool = False
    ) -> tuple[asyncio.subprocess.Process, Path, JobCgroup | None]: ...


@dataclass
class WarmProcess:
    """One started sandbox waiting for its job."""

    proc: asyncio.subprocess.Process
    workdir: Path
    cgroup: JobCgroup | None
    status: asyncio.StreamReader
    status_transport: asyncio.ReadTransport
    preload_errors: dict[str, str] = field(default_factory=dict)

    async def read_status(self, timeout: float) -> dict | None:
        """The runner's next status line, or None (none in time, or not one valid line:
        an over-long line, for one, is a ValueError from the stream, never ours)."""
        try:
            line = await asyncio.wait_for(self.status.readline(), timeout)
        except (asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError, OSError):
            return None
        try:
            message = json.loads(line) if line else None
        except ValueError:
            return None
        return message if isinstance(message, dict) else None

    def kill(self) -> None:
        kill_process_group(self.proc.pid)
        if self.cgroup is not None:
            self.cgroup.kill_all()

    async def discard(self) -> None:
        """Kill it (if still running) and remove its work dir and cgroup."""
        if self.proc.returncode is None:
            self.kill()
            await self.proc.wait()
        self.status_transport.close()
        if self.cgroup is not None:
            await self.cgroup.destroy()
        await remove_tree_async(self.workdir)


async def start_warm(sandbox: Launcher, preload: tuple[str, ...]) -> WarmProcess:
    """Start one sandboxed runner and wait until its preload imports are done."""
    read_fd, write_fd = os.pipe()
    os.set_inheritable(write_fd, True)
    config = json.dumps({"status_fd": write_fd, "preload": list(preload)})
    command = sandbox.python_argv("-I", "-B", "-c", RUNNER_SOURCE, config)
    try:
        proc, workdir, cgroup = await sandbox.launch(command, pass_fds=(write_fd,), stdin_pipe=True)
    except BaseException:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(read_fd, "rb", buffering=0)
    )
    warm = WarmProcess(
        proc=proc, workdir=workdir, cgroup=cgroup, status=reader, status_transport=transport
    )
    try:
        message = await warm.read_status(READY_TIMEOUT_SECONDS)
        if not message or not message.get("ready"):
            stderr = b""
            if proc.stderr is not None:
                with contextlib.suppress(asyncio.TimeoutError):
                    stderr = await asyncio.wait_for(proc.stderr.read(4096), 1)
            raise SandboxUnavailable(f"warm sandbox did not start: {stderr.decode(errors='replace')}")
    except BaseException:
        await warm.discard()
        raise
    warm.preload_errors = message.get("preload_errors") or {}
    if warm.preload_errors:
        logger.warning("warm preload failed", extra={"errors": warm.preload_errors})
    return warm


class WarmPool:
    """Keeps ``size`` ready :class:`WarmProcess` es for one preload set.

    With ``idle_seconds``, a pool nobody used for that long stops its ready interpreters
    (their memory goes back) and starts new ones only at its next use.
    """

    def __init__(self, sandbox: Launcher, preload: tuple[str, ...], size: int,
                 idle_seconds: float | None = None) -> None:
        self.sandbox = sandbox
        self.preload = preload
        self.size = size
        self.idle_seconds = idle_seconds if idle_seconds else None
        self.last_used = time.monotonic()
        self._ready: list[WarmProcess] = []
        self._filler: asyncio.Task[None] | None = None
        self._expiry: asyncio.Task[None] | None = None
        self._closed = False
        self.full = asyncio.Event()

    @property
    def ready_count(self) -> int:
        return len(self._ready)

    async def acquire(self) -> WarmProcess:
        """A ready interpreter (started now if none is waiting); triggers a refill."""
        while self._ready:
            warm = self._ready.pop()
            if warm.proc.returncode is None:
                self.refill()
                return warm
            await warm.discard()
        self.refill()
        return await start_warm(self.sandbox, self.preload)

    def refill(self) -> None:
        """Start topping the pool up in the background (one interpreter at a time)."""
        self.last_used = time.monotonic()
        if self._closed or self.size == 0:
            return
        if self._filler is None or self._filler.done():
            self.full.clear()
            self._filler = asyncio.ensure_future(self._fill())
        if self.idle_seconds is not None and (self._expiry is None or self._expiry.done()):
            self._expiry = asyncio.ensure_future(self._expire())

    async def _expire(self) -> None:
        """Stop the ready interpreters once the pool was unused for ``idle_seconds``."""
        assert self.idle_seconds is not None
        while not self._closed:
            left = self.last_used + self.idle_seconds - time.monotonic()
            if left > 0:
                await asyncio.sleep(left)
                continue
            if self._filler is not None and not self._filler.done():
                self._filler.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._filler
            ready, self._ready = self._ready, []
            self.full.clear()
            if ready:
                logger.info("stopping idle warm sandboxes", extra={"preload": self.preload, "count": len(ready)})
            await asyncio.gather(*(warm.discard() for warm in ready), return_exceptions=True)
            return

    async def _fill(self) -> None:
        failures = 0
        while not self._closed and len(self._ready) < self.size:
            try:
                self._ready.append(await start_warm(self.sandbox, self.preload))
                failures = 0
            except Exception:
                failures += 1
                logger.exception("could not start a warm sandbox", extra={"preload": self.preload})
                if failures >= 3:
                    return
                await asyncio.sleep(1.0 * failures)
        if len(self._ready) >= self.size:
            self.full.set()

    async def close(self) -> None:
        self._closed = True
        for task in (self._filler, self._expiry):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        ready, self._ready = self._ready, []
        await asyncio.gather(*(warm.discard() for warm in ready), return_exceptions=True)
