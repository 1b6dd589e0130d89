"""The ``[sandbox]`` section of the server configuration."""

from __future__ import annotations

import sys
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..backends.frameworks import DEFAULT_WARM_PRELOAD

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB


class SandboxConfig(BaseModel):
    """How untrusted Python is isolated. Loaded from ``[sandbox]``; every key can be
    overridden with ``QUBITHUB_LITE_SANDBOX_<KEY>``."""

    model_config = ConfigDict(extra="forbid")

    driver: str = Field(
        "auto",
        description=(
            'Sandbox driver: "auto" (nsjail if on PATH, else bubblewrap), "nsjail", "bwrap", '
            'a plugin name from the qubithub_lite.sandboxes entry-point group, or "none" '
            "(NO isolation: only for a trusted single-user machine; logged loudly). If the "
            "chosen driver cannot start a sandbox, execution is refused."
        ),
    )
    timeout_seconds: float = Field(
        30, gt=0, description="Default wall-clock limit of one job, in seconds."
    )
    max_timeout_seconds: float = Field(
        300, gt=0, description="Largest wall-clock limit a request may ask for, in seconds."
    )
    cpu_seconds: int = Field(
        60, ge=1, description="CPU-time limit of one job (RLIMIT_CPU), in seconds."
    )
    memory_bytes: int = Field(
        4 * GIB,
        ge=64 * MIB,
        description=(
            "Address-space limit of each sandboxed process (RLIMIT_AS), in bytes. Importing "
            "qiskit, cirq and pennylane together needs about 1.5 GiB of address space."
        ),
    )
    job_memory_bytes: int = Field(
        2 * GIB,
        ge=64 * MIB,
        description=(
            "Memory of all the processes of one job together, its /tmp and /dev/shm pages "
            "included (a per-job memory cgroup, where one is writable; the job is killed "
            "with limit 'memory' above it). Without a memory cgroup a job is held to "
            "no_memory_cgroup_max_processes processes and threads instead."
        ),
    )
    memory_cgroup: Literal["auto", "off"] = Field(
        "auto",
        description='Use a per-job memory cgroup when one is writable ("auto"), or never ("off").',
    )
    no_memory_cgroup_max_processes: int = Field(
        8,
        ge=1,
        description=(
            "Without a memory cgroup, the most processes plus threads of one job (each "
            "process is still capped by RLIMIT_AS, so a job holds at most this many times "
            "memory_bytes)."
        ),
    )
    max_processes: int = Field(
        64,
        ge=1,
        description=(
            "Most processes plus threads a job may have at once (cgroup pids.max when a pids "
            "cgroup is writable, else RLIMIT_NPROC, which only works when the server is not root)."
        ),
    )
    max_file_bytes: int = Field(
        64 * MIB, ge=0, description="Largest file a job may write (RLIMIT_FSIZE), in bytes."
    )
    max_workdir_bytes: int = Field(
        256 * MIB,
        ge=MIB,
        description=(
            "Most bytes a job may add to its work dir on top of its input files (allocated "
            "size, each inode once, at least 4 KiB per entry); a job over it is stopped "
            "(limit 'disk'). Checked by a watchdog every ~0.2 s, so a fast writer may briefly "
            "overshoot by what it writes in one interval. The per-file cap stays "
            "max_file_bytes (RLIMIT_FSIZE is the smaller of the two)."
        ),
    )
    max_open_files: int = Field(
        256, ge=16, description="Most open file descriptors per process (RLIMIT_NOFILE)."
    )
    stdout_bytes: int = Field(
        64 * KIB, ge=0, description="stdout kept per job; beyond it the output is marked truncated."
    )
    stderr_bytes: int = Field(
        64 * KIB, ge=0, description="stderr kept per job; beyond it the output is marked truncated."
    )
    output_kill_bytes: int = Field(
        1 * MIB,
        ge=0,
        description=(
            "A job writing more than this to stdout or to stderr is killed (limit 'output'); "
            "output between the cap and this value is read and discarded."
        ),
    )
    output_file_bytes: int = Field(
        8 * MIB, ge=0, description="Largest output file read back from a job's work dir, in bytes."
    )
    tmp_bytes: int = Field(
        64 * MIB, ge=MIB, description="Size of the private /tmp tmpfs of each job, in bytes."
    )
    shm_bytes: int = Field(
        8 * MIB,
        ge=MIB,
        description=(
            "Size of the private /dev/shm tmpfs of each job, in bytes (the rest of /dev is "
            "read-only). Its pages, like /tmp's, count in the job's memory cgroup."
        ),
    )
    warm_pool_size: int = Field(
        2,
        ge=0,
        description=(
            "Pre-started sandboxed interpreters kept ready per preload set; each serves one "
            "job and is then replaced. 0 disables the warm pool."
        ),
    )
    warm_extra_pool_size: int = Field(
        1,
        ge=0,
        description=(
            "Ready interpreters kept for each preload set other than warm_preload (another "
            "SDK's execute, a visualize call); at most warm_pool_size."
        ),
    )
    warm_idle_seconds: float = Field(
        600,
        ge=0,
        description=(
            "A warm pool unused for this many seconds stops its interpreters until its next "
            "job (0: never)."
        ),
    )
    warm_preload: list[str] = Field(
        default_factory=lambda: list(DEFAULT_WARM_PRELOAD),
        description="Modules the default warm interpreters import before waiting for a job.",
    )
    python: str = Field(
        default_factory=lambda: sys.executable,
        description="Interpreter used inside the sandbox; its prefix is bound read-only.",
    )
    extra_ro_paths: list[str] = Field(
        default_factory=list,
        description=(
            "Extra host paths bound read-only into the sandbox at the same path (for example "
            "a second site-packages). Never list the data dir, database, secret or config."
        ),
    )
    work_root: str | None = Field(
        None,
        description=(
            "Host directory under which per-job work dirs are created (default: a private "
            "directory under the system temp dir). Must not be inside the data dir."
        ),
    )
    cgroup: Literal["auto", "off"] = Field(
        "auto",
        description=(
            'Use a per-job pids cgroup when one is writable ("auto"), or never ("off"). '
            "Without it the process cap is RLIMIT_NPROC, which the kernel ignores for root."
        ),
    )
    sandbox_uid: int = Field(
        65534, ge=1, description="uid (and gid) the job sees inside its user namespace."
    )

    @model_validator(mode="after")
    def _check_ranges(self) -> SandboxConfig:
        if self.timeout_seconds > self.max_timeout_seconds:
            raise ValueError("timeout_seconds must not exceed max_timeout_seconds")
        if self.output_kill_bytes < max(self.stdout_bytes, self.stderr_bytes):
            raise ValueError("output_kill_bytes must be at least stdout_bytes and stderr_bytes")
        return self
