"""Where simulator worker processes run: in the sandbox, or (no sandbox) as plain children.

The workers deserialize QPY / Cirq JSON / OpenQASM that untrusted circuit.py files
produced, so a parser bug there must not hand a student the server. :class:`SandboxLauncher`
starts each worker in its own sandbox of the configured driver (bubblewrap or nsjail): no
network, a minimal environment (no secrets), no data dir, database, secret key or other
users' files, its own pid namespace, a private /tmp, and a per-worker cgroup. Only the
interpreter, the system directories and the code of qubithub_lite and its backend plugins
are visible, read-only. The worker stays warm: it imports its frameworks once and serves
many tasks over its stdin/stdout.

:class:`PlainLauncher` is for machines without a working sandbox (and for the trusted
``none`` driver): a plain child process, but still with the server's own configuration
variables (``QUBITHUB_LITE_*``, which may carry secrets) removed from its environment.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import os
import signal
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..backends.memory import MEMORY_CAP_ENV, memory_cap_setting
from ..frozen import is_frozen, python_command
from ..logs import fields
from ..backends.registry import GROUP as BACKEND_GROUP
from ..plugin_loader import plugin_modules
from .tasks import cancel_and_wait

if TYPE_CHECKING:
    from ..sandbox import Sandbox
    from ..sandbox.cgroup import JobCgroup

log = logging.getLogger(__name__)

#: The server's own configuration variables: never in a worker's environment.
SERVER_ENV_PREFIX = "QUBITHUB_LITE_"
#: Stream limit of a worker's stdout reader (frames are read with readexactly anyway).
STDOUT_LIMIT = 2**26
#: Lines of a worker's stderr logged per worker (the rest is read and dropped).
STDERR_LOG_LINES = 50


@dataclass
class LaunchedWorker:
    """A started worker process and what must be cleaned up after it."""

    proc: asyncio.subprocess.Process
    workdir: Path | None = None
    cgroup: JobCgroup | None = None
    stderr_task: asyncio.Task[None] | None = None
    _cleaned: bool = field(default=False, repr=False)

    def kill(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
        if self.cgroup is not None:
            self.cgroup.kill_all()
        if self.proc.stdin is not None:
            with contextlib.suppress(Exception):
                self.proc.stdin.close()  # its pipe transport, closed while our loop runs

    async def cleanup(self) -> None:
        """Kill what is left, wait for it, remove the work dir and cgroup (once)."""
        if self._cleaned:
            return
        self._cleaned = True
        self.kill()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.proc.wait(), 5)
        await cancel_and_wait(self.stderr_task)
        if self.cgroup is not None:
            await self.cgroup.destroy()
        if self.workdir is not None:
            from ..sandbox.disk import remove_tree_async

            await remove_tree_async(self.workdir)


class WorkerLauncher:
    """Starts ``python -m qubithub_lite.jobs.simworker ...`` somewhere."""

    isolated = False

    async def launch(self, args: Sequence[str]) -> LaunchedWorker:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    async def close(self) -> None:
        """Release what the launcher holds (a sandbox's work root)."""


def scrubbed_environ(environ: dict[str, str] | None = None) -> dict[str, str]:
    """``environ`` (default: ours) without the server's configuration variables."""
    source = dict(os.environ if environ is None else environ)
    return {k: v for k, v in source.items() if not k.upper().startswith(SERVER_ENV_PREFIX)}


class PlainLauncher(WorkerLauncher):
    """A plain child process of the server (no sandbox), with a scrubbed environment."""

    def __init__(self, python: str, env: dict[str, str] | None = None, reason: str = "") -> None:
        self.python = python
        self.env = env
        self.reason = reason

    async def launch(self, args: Sequence[str]) -> LaunchedWorker:
        env = self.env
        if env is None:
            # Make the package importable from a source checkout too.
            env = scrubbed_environ()
            env["PYTHONPATH"] = os.pathsep.join(p for p in (_source_root(), env.get("PYTHONPATH", "")) if p)
        proc = await asyncio.create_subprocess_exec(
            *python_command("-m", "qubithub_lite.jobs.simworker", *args, python=self.python),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=env,
            limit=STDOUT_LIMIT, start_new_session=True,
        )  # fmt: skip
        return LaunchedWorker(proc)

    def describe(self) -> str:
        why = f" ({self.reason})" if self.reason else ""
        return ("NOT sandboxed: plain child processes of the server, with its user, network and "
                f"files; only the server's QUBITHUB_LITE_* variables are removed{why}")


class SandboxLauncher(WorkerLauncher):
    """Each worker in a fresh sandbox (see the module docstring). ``make_sandbox`` builds
    the sandbox on first use, given the code paths that must be bound read-only."""

    isolated = True

    def __init__(self, make_sandbox: Callable[[list[str]], Sandbox]) -> None:
        self._make_sandbox = make_sandbox
        self._sandbox: Sandbox | None = None
        self._lock = asyncio.Lock()

    async def sandbox(self) -> Sandbox:
        async with self._lock:
            if self._sandbox is None:
                self._sandbox = await asyncio.to_thread(self._make_sandbox, code_paths())
            return self._sandbox

    async def launch(self, args: Sequence[str]) -> LaunchedWorker:
        box = await self.sandbox()
        limits = box.limits()
        # A worker is one long-lived process: its memory cap is the per-process one.
        limits = limits.with_(job_memory_bytes=max(limits.job_memory_bytes, limits.memory_bytes))
        env = {"PYTHONPATH": os.pathsep.join(_import_roots())} if not is_frozen() else {}
        # Its simulations check the state's size against this budget first (backends.memory):
        # a too-wide circuit fails at once with a clear message instead of being killed. An
        # operator's QUBITHUB_SIM_MEMORY_CAP_BYTES (our environment) lowers it further.
        env[MEMORY_CAP_ENV] = str(min(limits.job_memory_bytes, memory_cap_setting()))
        proc, workdir, cgroup = await box.launch(
            box.python_argv("-m", "qubithub_lite.jobs.simworker", *args),
            env=env, stdin_pipe=True, limits=limits,
        )
        worker = LaunchedWorker(proc, workdir, cgroup)
        worker.stderr_task = asyncio.ensure_future(_log_stderr(proc))
        return worker

    def describe(self) -> str:
        driver = self._sandbox.name if self._sandbox is not None else "configured"
        return (f"in the {driver} sandbox, one per worker: no network, minimal environment, "
                "no data dir, database, secret key or users' files; read-only code: "
                + ", ".join(code_paths()))

    async def close(self) -> None:
        if self._sandbox is not None:
            await self._sandbox.close()
            self._sandbox = None


async def _log_stderr(proc: asyncio.subprocess.Process) -> None:
    """Drain a sandboxed worker's stderr (its pipe must never fill) and log a little."""
    if proc.stderr is None:
        return
    logged = 0
    while True:
        try:
            line = await proc.stderr.readline()
        except ValueError:  # an over-long line: drop what is buffered
            with contextlib.suppress(Exception):
                await proc.stderr.read(2**16)
            continue
        if not line:
            return
        if logged < STDERR_LOG_LINES:
            logged += 1
            log.info("simworker.stderr", extra=fields(pid=proc.pid, line=line[:500].decode(errors="replace").rstrip()))


def _source_root() -> str:
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _package_dirs(modules: Iterable[str]) -> list[str]:
    dirs: set[str] = set()
    for name in modules:
        with contextlib.suppress(ImportError, ValueError, AttributeError):
            spec = importlib.util.find_spec(name)
            if spec is None:
                continue
            if spec.submodule_search_locations:
                dirs.update(os.path.realpath(p) for p in spec.submodule_search_locations)
            elif spec.origin:
                dirs.add(os.path.realpath(spec.origin))
    return sorted(dirs)


def _backend_modules() -> list[str]:
    names = {"qubithub_lite"}
    with contextlib.suppress(Exception):
        names.update(plugin_modules(BACKEND_GROUP, {}))  # (the built-ins live in qubithub_lite)
    return sorted(names)


def code_paths() -> list[str]:
    """Host paths of qubithub_lite and its backend plugins (bound read-only, same path)."""
    if is_frozen():
        return []  # the bundle is bound by the sandbox already
    return _package_dirs(_backend_modules())


def _import_roots() -> list[str]:
    """Directories to put on the worker's PYTHONPATH so the bound packages import."""
    return sorted({os.path.dirname(p) for p in code_paths()})


def worker_sandbox_factory(sandbox_config: Any, protected_paths: Sequence[Any]) -> Callable[[list[str]], Sandbox]:
    """``make_sandbox`` for :class:`SandboxLauncher`: the configured driver, with the code
    paths added to its read-only paths (refused if one would expose a protected path)."""

    def make(paths: list[str]) -> Sandbox:
        from ..sandbox import get_sandbox

        extra = list(sandbox_config.extra_ro_paths) + [p for p in paths if p not in sandbox_config.extra_ro_paths]
        config = sandbox_config.model_copy(update={"extra_ro_paths": extra, "warm_pool_size": 0})
        return get_sandbox(config, protected_paths=protected_paths)

    return make


def protected_paths(settings: Any) -> list[Any]:
    """What no worker may see: data dir, secret, database file, config file."""
    protected = [settings.data_dir, settings.secret_file]
    if settings.database_url.startswith("sqlite"):
        protected.append(settings.database_url.split("///", 1)[-1])
    if settings.config_file is not None:
        protected.append(settings.config_file)
    return protected


def launcher_for(settings: Any, sandbox: Sandbox | None, sandbox_error: str | None = None,
                 python: str | None = None) -> WorkerLauncher:
    """The launcher a server uses: the sandbox when the configured driver isolates jobs."""
    import sys

    python = python or sys.executable
    if not settings.runs.isolate_workers:
        return PlainLauncher(python, reason="[runs] isolate_workers = false")
    if sandbox is None:
        reason = f"no working sandbox: {sandbox_error or 'none configured'}"
        log.warning("simworker.not_sandboxed", extra=fields(reason=reason))
        return PlainLauncher(python, reason=reason)
    if not sandbox.isolated:
        return PlainLauncher(python, reason=f"[sandbox] driver = {sandbox.name!r}")
    return SandboxLauncher(worker_sandbox_factory(settings.sandbox, protected_paths(settings)))


#: Run inside a worker sandbox by doctor: the worker's code imports; the rest is hidden.
PROBE = """
import json, os, socket, sys
import qubithub_lite.jobs.simworker
seen = {"secret_env": sorted(k for k in os.environ if k.startswith("QUBITHUB_LITE_"))}
try:
    socket.create_connection(("1.1.1.1", 53), timeout=2).close()
    seen["network"] = True
except OSError:
    seen["network"] = False
seen["visible"] = [p for p in sys.argv[1:] if os.path.exists(p)]
print(json.dumps(seen))
"""


async def probe_workers(settings: Any, sandbox: Sandbox | None, sandbox_error: str | None = None) -> tuple[bool, str]:
    """(ok, what doctor shows) about where simulator workers run, checked for real."""
    import json

    launcher = launcher_for(settings, sandbox, sandbox_error)
    if not isinstance(launcher, SandboxLauncher):
        return True, launcher.describe()
    try:
        box = await launcher.sandbox()
        protected = [str(Path(p).resolve()) for p in protected_paths(settings)]
        env = {"PYTHONPATH": os.pathsep.join(_import_roots())} if not is_frozen() else {}
        result = await box.run({}, box.python_argv("-c", PROBE, *protected), box.limits(60), env=env)
        if not result.ok:
            return False, f"a worker sandbox does not start: {result.stderr_text[-300:] or result.limit_hit}"
        seen = json.loads(result.stdout)
        problems = ["network reachable" if seen["network"] else "",
                    f"sees {', '.join(seen['visible'])}" if seen["visible"] else "",
                    "server variables in its environment" if seen["secret_env"] else ""]
        problems = [p for p in problems if p]
        if problems:
            return False, "worker sandbox leaks: " + "; ".join(problems)
        return True, launcher.describe()
    except Exception as exc:  # noqa: BLE001 - doctor reports, never raises
        return False, f"a worker sandbox cannot be made: {exc}"
    finally:
        await launcher.close()


def needs_network(backend_name: str) -> bool:
    """Whether a backend sends circuits to a provider (hardware): its worker cannot be
    sandboxed without network and credentials. Unknown names stay in the sandbox."""
    from ..backends.registry import registry

    driver = registry().get(backend_name)
    return driver is not None and driver.type == "hardware"
