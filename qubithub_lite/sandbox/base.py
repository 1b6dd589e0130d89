"""The sandbox interface shared by all drivers."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import subprocess
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from ..counters import record_sandbox_result
from ..frozen import bundle_paths, child_env, is_frozen_interpreter, python_command
from .cgroup import JobCgroup, PidsCgroups
from .config import GIB, SandboxConfig
from .disk import WorkdirQuota, input_allowance, remove_tree, remove_tree_async
from .errors import SandboxUnavailable
from .files import read_outputs, write_job_files
from .limits import Limits, SandboxResult
from .process import Outcome, classify, kill_process_group, signal_of, spawn, supervise
from .warm import WarmPool

logger = logging.getLogger(__name__)

#: Processes the launcher itself keeps inside the job's pids cgroup (sh→driver, sandbox init).
LAUNCHER_PIDS = 2
#: The warm runner's supervising process, which stays outside the user's code (_runner.py).
RUNNER_PIDS = 1
THREAD_ENV = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "RAYON_NUM_THREADS",
)


class Sandbox(ABC):
    """Runs untrusted jobs. Drivers only say how to wrap a command (:meth:`wrap`);
    work dirs, limits, output capture, killing and the warm pool live here."""

    name: ClassVar[str]
    #: False only for the ``none`` driver.
    isolated: ClassVar[bool] = True
    #: Path of the job's work dir as the job sees it.
    inner_workdir: ClassVar[str] = "/job"

    def __init__(
        self, config: SandboxConfig, *, protected_paths: Iterable[str | os.PathLike[str]] = ()
    ) -> None:
        self.config = config
        self.protected_paths = tuple(Path(p).resolve() for p in protected_paths)
        self.python = config.python
        #: The interpreter is this PyInstaller binary (qubithub_lite.frozen): it runs as
        #: ``binary python-compat ...`` and its unpacked bundle is what gets bound.
        self.frozen = is_frozen_interpreter(self.python)
        self.prlimit = shutil.which("prlimit") or ""
        if not self.prlimit:
            raise SandboxUnavailable("util-linux 'prlimit' is not on PATH (needed for rlimits)")
        self.cgroups = (PidsCgroups.detect(memory=config.memory_cgroup == "auto")
                        if config.cgroup == "auto" else None)
        #: A job's processes share one memory cap (else they are few: see :meth:`capped`).
        self.memory_cgroup = self.cgroups is not None and self.cgroups.memory_parent is not None
        if self.isolated and self.cgroups is None and os.geteuid() == 0:
            raise SandboxUnavailable(
                "no writable pids cgroup and the server runs as root, so the kernel would "
                "ignore RLIMIT_NPROC: run as a dedicated non-root user or make "
                "/sys/fs/cgroup/pids (v1) or /sys/fs/cgroup (v2) writable"
            )
        self.ro_paths = self._interpreter_paths() + [
            str(Path(p).resolve()) for p in config.extra_ro_paths
        ]
        self._owns_work_root = config.work_root is None
        self._work_root = Path(config.work_root or tempfile.mkdtemp(prefix="qubithub-sandbox-"))
        self._work_root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._pools: dict[tuple[str, ...], WarmPool] = {}
        try:
            self.preflight()
            self._check_protected(self.bound_paths())
        except BaseException:
            self.remove_work_root()
            raise

    # --- driver hooks -----------------------------------------------------------------

    @abstractmethod
    def preflight(self) -> None:
        """Cheap static checks (binary present, kernel features); raise SandboxUnavailable."""

    def _find_binary(self, name: str, missing: str) -> str:
        """Set ``self.binary`` to ``name`` on PATH and return its ``--help`` text (stdout and
        stderr), from which a driver learns the flags it supports; SandboxUnavailable saying
        ``missing`` when it is not there, or saying why when it does not run."""
        binary = shutil.which(name)
        if binary is None:
            raise SandboxUnavailable(missing)
        self.binary = binary
        try:
            done = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=10, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SandboxUnavailable(f"{name} does not run: {exc}") from exc
        return done.stdout + done.stderr

    @abstractmethod
    def wrap(self, workdir: Path, command: Sequence[str], env: Mapping[str, str],
             pass_fds: Sequence[int]) -> list[str]:
        """argv that runs ``command`` in a fresh sandbox with ``workdir`` as its work dir."""

    def bound_paths(self) -> list[str]:
        """Host paths visible inside the sandbox (checked against protected paths)."""
        return list(self.ro_paths)

    def python_argv(self, *args: str) -> list[str]:
        """argv that runs the sandbox interpreter with ``args`` (``python -I -c ...``)."""
        return python_command(*args, python=self.python)

    def process_limit(self) -> str:
        """How the process/thread cap is enforced (shown by doctor)."""
        if self.cgroups is not None:
            return f"{self.cgroups.describe()} pids.max per job"
        return f"RLIMIT_NPROC (uid {os.geteuid()} on the host, own user namespace)"

    def memory_limit(self) -> str:
        """How a job's total memory is capped (shown by doctor)."""
        per_process = f"RLIMIT_AS {self.config.memory_bytes / GIB:g} GiB per process"
        if self.memory_cgroup:
            assert self.cgroups is not None
            return (f"{self.cgroups.describe_memory()}: {self.config.job_memory_bytes / GIB:g} GiB "
                    f"per job, /tmp and /dev/shm included ({per_process})")
        most = min(self.config.max_processes, self.config.no_memory_cgroup_max_processes)
        how = ("by its pids cgroup" if self.cgroups is not None else
               f"by RLIMIT_NPROC, which counts every process of uid {os.geteuid()} (the server's "
               "and other jobs' too), so forks may be refused sooner")
        return (f"NO memory cgroup is writable: {per_process}, and a job is held to {most} "
                f"processes + threads {how} (at most {most * self.config.memory_bytes / GIB:g} GiB per job)")

    def capped(self, limits: Limits) -> Limits:
        """``limits`` as enforced here: without a memory cgroup, few processes per job."""
        if self.memory_cgroup:
            return limits
        most = self.config.no_memory_cgroup_max_processes
        return limits if limits.max_processes <= most else limits.with_(max_processes=most)

    # --- public API -------------------------------------------------------------------

    def limits(self, timeout: float | None = None) -> Limits:
        """Configured default limits with an optional wall-clock ``timeout``."""
        return Limits.from_config(self.config, timeout)

    async def run(
        self,
        files: Mapping[str, bytes],
        command: Sequence[str],
        limits: Limits | None = None,
        *,
        outputs: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        stdin: bytes | None = None,
    ) -> SandboxResult:
        """Run ``command`` (resolved on the sandbox PATH) in a fresh sandbox whose work dir
        holds ``files``; return its result and the requested ``outputs``."""
        limits = self.capped(limits or self.limits())
        argv = limits.prlimit_args(self.prlimit) + list(command)
        proc, workdir, cgroup = await self.launch(
            argv, files=files, env=env, stdin_pipe=stdin is not None, limits=limits
        )
        try:
            outcome = await supervise(proc, limits, kill_tree=self._killer(proc, cgroup),
                                      stdin=stdin, quota=self._quota(workdir, limits, files))
            return self._result(outcome, limits, workdir, cgroup, outputs, None, True)
        finally:
            await self._cleanup(workdir, cgroup)

    async def run_python(
        self,
        files: Mapping[str, bytes],
        *,
        code: str | None = None,
        script: str | None = None,
        args: Sequence[str] = (),
        limits: Limits | None = None,
        preload: Sequence[str] | None = None,
        outputs: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
    ) -> SandboxResult:
        """Run Python ``code`` or the work-dir file ``script`` (exactly one) on a warm
        interpreter that has already imported ``preload`` (default: the configured
        ``warm_preload``). Same isolation and limits as :meth:`run`."""
        if (code is None) == (script is None):
            raise ValueError("give exactly one of code= or script=")
        limits = self.capped(limits or self.limits())
        pool = self._pool(tuple(self.config.warm_preload if preload is None else preload))
        warm = await pool.acquire()
        try:
            write_job_files(warm.workdir, files)
            if warm.cgroup is not None:
                warm.cgroup.set_max(limits.max_processes + LAUNCHER_PIDS + RUNNER_PIDS)
                warm.cgroup.set_memory(limits.job_memory_bytes)
            job = {
                "cwd": self.workdir_inside(warm.workdir),
                "env": self.job_env(warm.workdir, env),
                "argv": [script, *args] if script is not None else ["-c", *args],
                "code": code,
                "script": script,
                "limits": {
                    "cpu": limits.cpu_seconds,
                    "as": limits.memory_bytes,
                    "fsize": limits.file_size_limit,
                    "nproc": limits.max_processes + 1,
                    "nofile": limits.max_open_files,
                },
            }
            outcome = await supervise(
                warm.proc, limits, kill_tree=warm.kill, stdin=json.dumps(job).encode() + b"\n",
                quota=self._quota(warm.workdir, limits, files),
            )
            status = await warm.read_status(0.2)
            kind = status.get("kind") if status and status.get("done") else None
            kind = kind if kind in ("memory", "file_size") else None
            return self._result(outcome, limits, warm.workdir, warm.cgroup, outputs, kind, False)
        finally:
            await warm.discard()

    async def start(self) -> None:
        """Fill the warm pool for the configured preload set (in the background)."""
        self._pool(tuple(self.config.warm_preload)).refill()

    async def wait_warm(self, preload: Sequence[str] | None = None) -> None:
        """Wait until the pool for ``preload`` is full (benchmarks, tests)."""
        pool = self._pool(tuple(self.config.warm_preload if preload is None else preload))
        pool.refill()
        if pool.size:
            await pool.full.wait()

    async def close(self) -> None:
        """Stop all warm interpreters and remove their work dirs."""
        pools, self._pools = list(self._pools.values()), {}
        await asyncio.gather(*(pool.close() for pool in pools))
        self.remove_work_root()

    def remove_work_root(self) -> None:
        """Delete the work root if this instance created it (after :meth:`close`)."""
        if self._owns_work_root:
            remove_tree(self._work_root)

    def probe(self) -> None:
        """Start a real sandbox running the interpreter once; SandboxUnavailable if it fails."""
        workdir = Path(tempfile.mkdtemp(dir=self._work_root))
        try:
            argv = self.wrap(workdir, self.python_argv("-I", "-c", "print('sandbox-ok')"),
                             self.job_env(workdir, None), ())
            done = subprocess.run(argv, env=self.job_env(workdir, None), cwd=workdir,
                                  capture_output=True, timeout=60, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SandboxUnavailable(f"{self.name}: cannot start a sandbox: {exc}") from exc
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        if done.returncode != 0 or done.stdout.strip() != b"sandbox-ok":
            why = done.stderr.decode(errors="replace").strip()[-500:] or f"exit {done.returncode}"
            raise SandboxUnavailable(f"{self.name}: cannot start a sandbox: {why}")

    async def doctor(self) -> dict[str, Any]:
        """Which driver is active, whether it really works, and how limits are enforced."""
        report: dict[str, Any] = {
            "driver": self.name,
            "isolated": self.isolated,
            "process_limit": self.process_limit(),
            "memory_limit": self.memory_limit(),
            "python": self.python,
            "read_only_paths": self.bound_paths(),
            "work_root": str(self._work_root),
            "warm_pool": {
                "size": self.config.warm_pool_size,
                "preload": list(self.config.warm_preload),
                "ready": {",".join(k) or "-": p.ready_count for k, p in self._pools.items()},
            },
        }
        try:
            result = await self.run({}, self.python_argv("-I", "-c", "print('sandbox-ok')"),
                                    self.limits(30))
            report["works"] = result.ok and result.stdout.strip() == b"sandbox-ok"
            report["why"] = None if report["works"] else result.stderr_text[-500:]
        except (OSError, SandboxUnavailable) as exc:
            report["works"], report["why"] = False, str(exc)
        return report

    # --- helpers for drivers and the warm pool -----------------------------------------

    def workdir_inside(self, workdir: Path) -> str:
        return self.inner_workdir

    def job_env(self, workdir: Path, extra: Mapping[str, str] | None) -> dict[str, str]:
        """The job's whole environment: a minimal base plus ``extra``."""
        home = self.workdir_inside(workdir)
        env = {
            "PATH": f"{Path(self.python).parent}:/usr/local/bin:/usr/bin:/bin",
            "HOME": home,
            "LANG": "C.UTF-8",
            "TMPDIR": "/tmp",
            "PYTHONDONTWRITEBYTECODE": "1",
            "MALLOC_ARENA_MAX": "2",
            "MPLBACKEND": "Agg",
            "MPLCONFIGDIR": "/tmp/matplotlib",
            "XDG_CACHE_HOME": "/tmp/.cache",
        }
        env.update({name: "1" for name in THREAD_ENV})
        if self.frozen:
            env.update(child_env())  # reuse the bound, already unpacked bundle
        env.update(extra or {})
        return env

    async def launch(
        self,
        command: Sequence[str],
        *,
        files: Mapping[str, bytes] | None = None,
        env: Mapping[str, str] | None = None,
        pass_fds: Sequence[int] = (),
        stdin_pipe: bool = False,
        limits: Limits | None = None,
    ) -> tuple[asyncio.subprocess.Process, Path, JobCgroup | None]:
        """Create a work dir (with ``files``) and a pids cgroup, and start ``command`` in a
        new sandbox. The caller owns the returned process, work dir and cgroup."""
        limits = self.capped(limits or self.limits())
        workdir = Path(tempfile.mkdtemp(dir=self._work_root))
        cgroup = None
        try:
            write_job_files(workdir, files or {})
            job_env = self.job_env(workdir, env)
            argv = self.wrap(workdir, command, job_env, pass_fds)
            if self.cgroups is not None:
                cgroup = self.cgroups.create(limits.max_processes + LAUNCHER_PIDS,
                                             limits.job_memory_bytes)
                argv = cgroup.wrap(argv)
            proc = await spawn(argv, env=job_env, cwd=workdir, pass_fds=pass_fds,
                               stdin_pipe=stdin_pipe)
        except BaseException:
            await self._cleanup(workdir, cgroup)
            raise
        return proc, workdir, cgroup

    # --- internals ----------------------------------------------------------------------

    def _pool(self, preload: tuple[str, ...]) -> WarmPool:
        if preload not in self._pools:
            size = self.config.warm_pool_size
            if preload != tuple(self.config.warm_preload):
                size = min(size, self.config.warm_extra_pool_size)
            self._pools[preload] = WarmPool(self, preload, size, self.config.warm_idle_seconds)
        return self._pools[preload]

    @staticmethod
    def _quota(workdir: Path, limits: Limits, files: Mapping[str, bytes] | None) -> WorkdirQuota:
        """The job may add ``max_workdir_bytes`` to what its input files occupy."""
        return WorkdirQuota(workdir, limits.max_workdir_bytes + input_allowance(files or {}))

    @staticmethod
    def _killer(proc: asyncio.subprocess.Process, cgroup: JobCgroup | None) -> Callable[[], None]:
        def kill_tree() -> None:
            kill_process_group(proc.pid)
            if cgroup is not None:
                cgroup.kill_all()

        return kill_tree

    def _result(
        self,
        outcome: Outcome,
        limits: Limits,
        workdir: Path,
        cgroup: JobCgroup | None,
        outputs: Sequence[str],
        runner_kind: str | None,
        stderr_heuristics: bool,
    ) -> SandboxResult:
        if cgroup is not None:
            cgroup.kill_all()  # nothing may outlive the job, even without a pid namespace
        limit_hit = classify(
            outcome,
            runner_kind=runner_kind,
            pids_refused=cgroup.limit_events() if cgroup is not None else 0,
            oom_kills=cgroup.oom_kills() if cgroup is not None else 0,
            stderr_heuristics=stderr_heuristics,
        )
        files, file_errors = read_outputs(workdir, outputs, limits.output_file_bytes)
        return record_sandbox_result(SandboxResult(
            exit_code=outcome.exit_code,
            signal=signal_of(outcome.exit_code),
            stdout=outcome.stdout,
            stderr=outcome.stderr,
            stdout_truncated=outcome.stdout_truncated,
            stderr_truncated=outcome.stderr_truncated,
            limit_hit=limit_hit,
            wall_time=outcome.wall_time,
            files=files,
            file_errors=file_errors,
        ))

    @staticmethod
    async def _cleanup(workdir: Path, cgroup: JobCgroup | None) -> None:
        if cgroup is not None:
            await cgroup.destroy()
        await remove_tree_async(workdir)

    def _interpreter_paths(self) -> list[str]:
        """The interpreter's prefixes (venv and base), as real paths, minus system dirs.
        For the frozen binary: its unpacked bundle (``sys._MEIPASS``) and the binary."""
        if self.frozen:
            return self._without_system(set(bundle_paths()))
        try:
            done = subprocess.run(
                [self.python, "-I", "-c", "import sys, json; print(json.dumps([sys.prefix, "
                 "sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, sys.executable]))"],
                capture_output=True, timeout=30, check=True, env={"PATH": "/usr/bin:/bin"},
            )
            paths = json.loads(done.stdout)
        except (OSError, subprocess.SubprocessError, ValueError) as exc:
            raise SandboxUnavailable(f"interpreter {self.python!r} is not usable: {exc}") from exc
        executable = Path(paths.pop())
        candidates = {str(Path(p).resolve()) for p in paths}
        candidates |= set(paths)
        candidates.add(str(executable.resolve().parent))
        candidates.add(str(executable.parent))
        return self._without_system(candidates)

    @staticmethod
    def _without_system(candidates: set[str]) -> list[str]:
        system = ("/usr", "/bin", "/lib", "/lib64", "/sbin")
        keep = sorted(p for p in candidates if not any(
            p == s or p.startswith(s + "/") for s in system))
        return [p for p in keep if not any(p.startswith(q + "/") for q in keep if q != p)]

    def _check_protected(self, paths: Iterable[str]) -> None:
        for bound in paths:
            root = Path(bound).resolve()
            for secret in self.protected_paths:
                if secret == root or root in secret.parents:
                    raise SandboxUnavailable(
                        f"refusing to expose {bound} in the sandbox: it contains {secret}"
                    )
