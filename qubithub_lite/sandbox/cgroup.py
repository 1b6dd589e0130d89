"""Per-job cgroups: a hard cap on processes + threads (pids), on the memory of all the
job's processes together (memory, where that controller is writable) and a way to kill
them all."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import uuid
from pathlib import Path

logger = logging.getLogger(__name__)

V1_PIDS = Path("/sys/fs/cgroup/pids")
V1_MEMORY = Path("/sys/fs/cgroup/memory")
V2_ROOT = Path("/sys/fs/cgroup")
PARENT_NAME = "qubithub-lite"


class PidsCgroups:
    """Factory for per-job cgroups below one parent directory we own."""

    def __init__(self, parent: Path, version: int) -> None:
        self.parent = parent
        self.version = version
        #: Where per-job memory cgroups go (v1: the memory hierarchy; v2: ``parent``), or
        #: None when no memory controller is writable (see :meth:`enable_memory`).
        self.memory_parent: Path | None = None

    @classmethod
    def detect(cls, memory: bool = True) -> PidsCgroups | None:
        """A usable pids hierarchy (cgroup v1 ``pids`` or v2 with the pids controller),
        or None when none is writable by this process. With ``memory``, also a memory
        controller when one is writable (:attr:`memory_parent`)."""
        for candidate in (cls._try_v1, cls._try_v2):
            try:
                found = candidate()
            except OSError as exc:
                logger.debug("pids cgroup probe failed", extra={"error": str(exc)})
                continue
            if found is not None:
                if memory:
                    found.enable_memory()
                return found
        return None

    def enable_memory(self) -> bool:
        """Find a writable memory controller for per-job memory cgroups."""
        try:
            if self.version == 1:
                if not (V1_MEMORY / "cgroup.procs").exists():
                    return False
                parent = V1_MEMORY / PARENT_NAME
                parent.mkdir(exist_ok=True)
            else:
                controllers = (V2_ROOT / "cgroup.controllers").read_text().split()
                if "memory" not in controllers:
                    return False
                (V2_ROOT / "cgroup.subtree_control").write_text("+memory")
                parent = self.parent
                (parent / "cgroup.subtree_control").write_text("+memory")
            self.memory_parent = parent
            probe = self.create(1, memory_bytes=64 * 1024 * 1024)
            probe.remove_now()
        except OSError as exc:
            logger.debug("memory cgroup probe failed", extra={"error": str(exc)})
            self.memory_parent = None
            return False
        return True

    @classmethod
    def _try_v1(cls) -> PidsCgroups | None:
        if not (V1_PIDS / "cgroup.procs").exists():
            return None
        parent = V1_PIDS / PARENT_NAME
        parent.mkdir(exist_ok=True)
        return cls._verified(parent, 1)

    @classmethod
    def _try_v2(cls) -> PidsCgroups | None:
        controllers = V2_ROOT / "cgroup.controllers"
        if not controllers.exists() or "pids" not in controllers.read_text().split():
            return None
        (V2_ROOT / "cgroup.subtree_control").write_text("+pids")
        parent = V2_ROOT / PARENT_NAME
        parent.mkdir(exist_ok=True)
        (parent / "cgroup.subtree_control").write_text("+pids")
        return cls._verified(parent, 2)

    @classmethod
    def _verified(cls, parent: Path, version: int) -> PidsCgroups:
        factory = cls(parent, version)
        probe = factory.create(1)
        probe.remove_now()
        return factory

    def describe(self) -> str:
        return f"cgroup v{self.version} pids ({self.parent})"

    def describe_memory(self) -> str | None:
        if self.memory_parent is None:
            return None
        return f"cgroup v{self.version} memory ({self.memory_parent})"

    def create(self, max_pids: int, memory_bytes: int | None = None) -> JobCgroup:
        """A new job cgroup; with a memory controller, capped at ``memory_bytes`` too."""
        name = f"job-{uuid.uuid4().hex[:16]}"
        path = self.parent / name
        path.mkdir()
        memory_path = None
        if self.memory_parent is not None:
            memory_path = self.memory_parent / name
            if memory_path != path:
                try:
                    memory_path.mkdir()
                except BaseException:
                    path.rmdir()
                    raise
        group = JobCgroup(path, memory_path, self.version)
        try:
            group.set_max(max_pids)
            if memory_path is not None and memory_bytes is not None:
                group.set_memory(memory_bytes)
        except BaseException:
            group.remove_now()
            raise
        return group


class JobCgroup:
    """One job's cgroup (pids, and memory when available). Processes join it through
    :meth:`wrap`."""

    def __init__(self, path: Path, memory_path: Path | None = None, version: int = 1) -> None:
        self.path = path
        self.memory_path = memory_path
        self.version = version

    def _proc_files(self) -> list[str]:
        files = [str(self.path / "cgroup.procs")]
        if self.memory_path is not None and self.memory_path != self.path:
            files.append(str(self.memory_path / "cgroup.procs"))
        return files

    def wrap(self, argv: list[str]) -> list[str]:
        """argv that moves itself into this cgroup, then execs ``argv`` (before any fork)."""
        files = self._proc_files()
        if len(files) == 1:
            script = 'echo $$ > "$0" && exec "$@"'
            return ["/bin/sh", "-c", script, files[0], *argv]
        script = 'echo $$ > "$0" && echo $$ > "$1" && shift && exec "$@"'
        return ["/bin/sh", "-c", script, files[0], files[1], *argv]

    def set_max(self, max_pids: int) -> None:
        (self.path / "pids.max").write_text(str(max_pids))

    def set_memory(self, memory_bytes: int) -> bool:
        """Cap the memory of all the job's processes together (their tmpfs pages
        included); False when no memory controller is used or the cap cannot be set
        (v1 refuses a cap below the current usage)."""
        if self.memory_path is None:
            return False
        try:
            if self.version == 1:
                memory = self.memory_path / "memory.limit_in_bytes"
                memsw = self.memory_path / "memory.memsw.limit_in_bytes"  # absent without swap accounting
                try:
                    memory.write_text(str(memory_bytes))
                except OSError:  # raising it above memsw: memsw first (memsw >= memory always)
                    with contextlib.suppress(OSError):
                        memsw.write_text(str(memory_bytes))
                    memory.write_text(str(memory_bytes))
                with contextlib.suppress(OSError):
                    memsw.write_text(str(memory_bytes))
            else:
                (self.memory_path / "memory.max").write_text(str(memory_bytes))
                with contextlib.suppress(OSError):
                    (self.memory_path / "memory.swap.max").write_text("0")
        except OSError as exc:
            logger.warning("could not set a job's memory cap", extra={"error": str(exc)})
            return False
        return True

    def oom_kills(self) -> int:
        """How many of the job's processes the kernel killed for the memory cap."""
        if self.memory_path is None:
            return 0
        name = "memory.oom_control" if self.version == 1 else "memory.events"
        return _event_count(self.memory_path / name, "oom_kill")

    def limit_events(self) -> int:
        """How many forks were refused because pids.max was reached."""
        return _event_count(self.path / "pids.events", "max")

    def pids(self) -> list[int]:
        try:
            return [int(p) for p in (self.path / "cgroup.procs").read_text().split()]
        except OSError:
            return []

    def kill_all(self) -> None:
        """SIGKILL every process currently in the cgroup."""
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def remove_now(self) -> bool:
        done = True
        for path in {self.path, self.memory_path} - {None}:
            try:
                path.rmdir()
            except FileNotFoundError:
                pass
            except OSError:
                done = False
        return done

    async def destroy(self, timeout: float = 5.0) -> None:
        """Kill whatever is left and remove the cgroup."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            self.kill_all()
            if self.remove_now():
                return
            if loop.time() > deadline:
                logger.error("could not remove job cgroup", extra={"cgroup": str(self.path)})
                return
            await asyncio.sleep(0.01)


def _event_count(path: Path, key: str) -> int:
    """The count after ``key`` in a cgroup ``KEY VALUE`` events file (0 when unreadable)."""
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        pass
    return 0
