"""Per-job limits and the result of one sandboxed job."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from .config import GIB, KIB, MIB, SandboxConfig

LimitName = Literal["wall", "cpu", "memory", "processes", "file_size", "output", "disk"]


@dataclass(frozen=True)
class Limits:
    """Resource limits of one job. Build them with :meth:`from_config`."""

    wall_seconds: float = 30.0
    cpu_seconds: int = 60
    memory_bytes: int = 4 * GIB
    job_memory_bytes: int = 2 * GIB
    max_processes: int = 64
    max_file_bytes: int = 64 * MIB
    max_workdir_bytes: int = 256 * MIB
    max_open_files: int = 256
    stdout_bytes: int = 64 * KIB
    stderr_bytes: int = 64 * KIB
    output_kill_bytes: int = 1 * MIB
    output_file_bytes: int = 8 * MIB

    @classmethod
    def from_config(cls, config: SandboxConfig, timeout: float | None = None) -> Limits:
        """The configured defaults, with the wall limit set to ``timeout`` when given.

        Raises ``ValueError`` when ``timeout`` is not in ``(0, max_timeout_seconds]``.
        """
        wall = config.timeout_seconds if timeout is None else float(timeout)
        if not 0 < wall <= config.max_timeout_seconds:
            raise ValueError(f"timeout must be in (0, {config.max_timeout_seconds:g}] seconds")
        return cls(
            wall_seconds=wall,
            cpu_seconds=config.cpu_seconds,
            memory_bytes=config.memory_bytes,
            job_memory_bytes=config.job_memory_bytes,
            max_processes=config.max_processes,
            max_file_bytes=config.max_file_bytes,
            max_workdir_bytes=config.max_workdir_bytes,
            max_open_files=config.max_open_files,
            stdout_bytes=config.stdout_bytes,
            stderr_bytes=config.stderr_bytes,
            output_kill_bytes=config.output_kill_bytes,
            output_file_bytes=config.output_file_bytes,
        )

    def with_(self, **changes: float | int) -> Limits:
        """A copy with some fields changed (e.g. ``limits.with_(wall_seconds=2)``)."""
        return replace(self, **changes)

    @property
    def file_size_limit(self) -> int:
        """RLIMIT_FSIZE: ``max_file_bytes``, but never more than the work-dir quota, so one
        file cannot run past the quota between two checks."""
        return min(self.max_file_bytes, self.max_workdir_bytes)

    def prlimit_args(self, prlimit: str) -> list[str]:
        """argv prefix that applies the rlimits with util-linux ``prlimit`` and execs."""
        cpu = self.cpu_seconds
        return [
            prlimit,
            f"--cpu={cpu}:{cpu + 1}",
            f"--as={self.memory_bytes}",
            f"--fsize={self.file_size_limit}",
            f"--nproc={self.max_processes + 1}",
            f"--nofile={self.max_open_files}",
            "--core=0",
            "--",
        ]


@dataclass
class SandboxResult:
    """What one job did. ``exit_code`` follows the shell convention (128+N when the job was
    killed by signal N, which is then also in ``signal``)."""

    exit_code: int
    signal: int | None
    stdout: bytes
    stderr: bytes
    stdout_truncated: bool
    stderr_truncated: bool
    limit_hit: LimitName | None
    wall_time: float
    files: dict[str, bytes] = field(default_factory=dict)
    file_errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when the job exited 0 without hitting a limit."""
        return self.exit_code == 0 and self.limit_hit is None

    @property
    def stdout_text(self) -> str:
        return self.stdout.decode("utf-8", "replace")

    @property
    def stderr_text(self) -> str:
        return self.stderr.decode("utf-8", "replace")
