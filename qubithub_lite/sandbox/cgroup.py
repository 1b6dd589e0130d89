"""Per-job pids cgroups: a hard cap on processes + threads and a way to kill them all."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import uuid
from pathlib import Path

logger = logging.getLogger(__name__)

V1_PIDS = Path("/sys/fs/cgroup/pids")
V2_ROOT = Path("/sys/fs/cgroup")
PARENT_NAME = "qubithub-lite"


class PidsCgroups:
    """Factory for per-job cgroups below one parent directory we own."""

    def __init__(self, parent: Path, version: int) -> None:
        self.parent = parent
        self.version = version

    @classmethod
    def detect(cls) -> PidsCgroups | None:
        """A usable pids hierarchy (cgroup v1 ``pids`` or v2 with the pids controller),
        or None when none is writable by this process."""
        for candidate in (cls._try_v1, cls._try_v2):
            try:
                found = candidate()
            except OSError as exc:
                logger.debug("pids cgroup probe failed", extra={"error": str(exc)})
                continue
            if found is not None:
                return found
        return None

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

    def create(self, max_pids: int) -> JobCgroup:
        path = self.parent / f"job-{uuid.uuid4().hex[:16]}"
        path.mkdir()
        group = JobCgroup(path)
        group.set_max(max_pids)
        return group


class JobCgroup:
    """One job's pids cgroup. Processes join it through :meth:`wrap`."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def wrap(self, argv: list[str]) -> list[str]:
        """argv that moves itself into this cgroup, then execs ``argv`` (before any fork)."""
        script = 'echo $$ > "$0" && exec "$@"'
        return ["/bin/sh", "-c", script, str(self.path / "cgroup.procs"), *argv]

    def set_max(self, max_pids: int) -> None:
        (self.path / "pids.max").write_text(str(max_pids))

    def limit_events(self) -> int:
        """How many forks were refused because pids.max was reached."""
        try:
            for line in (self.path / "pids.events").read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "max":
                    return int(value)
        except (OSError, ValueError):
            pass
        return 0

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
        try:
            self.path.rmdir()
        except FileNotFoundError:
            return True
        except OSError:
            return False
        return True

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
