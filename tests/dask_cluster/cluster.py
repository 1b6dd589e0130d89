"""A real ``distributed`` cluster for tests and benches: ``dask scheduler`` plus N ``dask worker``
processes (the CLI, as an operator starts them), on free loopback ports."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DaskCluster:
    def __init__(self, workdir: Path, workers: int = 2, nthreads: int = 1) -> None:
        self.workdir = Path(workdir)
        self.workers = workers
        self.nthreads = nthreads
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.scheduler: subprocess.Popen | None = None
        self.worker_procs: list[subprocess.Popen] = []
        # Workers get no server configuration (QUBITHUB_LITE_*): they know only what tasks carry.
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("QUBITHUB_LITE_")}
        self.env.update({"DASK_LOGGING__DISTRIBUTED": "warning", "PYTHONUNBUFFERED": "1"})

    def _spawn(self, name: str, *args: str) -> subprocess.Popen:
        log = open(self.workdir / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        return subprocess.Popen([sys.executable, "-m", "dask", *args], env=self.env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)

    def start(self, timeout: float = 240) -> DaskCluster:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.scheduler = self._spawn("scheduler", "scheduler", "--host", "127.0.0.1", "--port", str(self.port),
                                     "--no-dashboard")
        deadline = time.monotonic() + timeout
        while True:
            if self.scheduler.poll() is not None:
                raise RuntimeError(f"dask scheduler exited: {self.logs('scheduler')}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("dask scheduler did not listen") from None
                time.sleep(0.2)
        for i in range(self.workers):
            local = self.workdir / f"worker-{i}"
            local.mkdir(exist_ok=True)
            self.worker_procs.append(self._spawn(
                f"worker-{i}", "worker", self.address, "--host", "127.0.0.1", "--nthreads", str(self.nthreads),
                "--no-nanny", "--no-dashboard", "--local-directory", str(local), "--name", f"w{i}"))
        from distributed import Client

        with Client(self.address, timeout=30) as client:
            client.wait_for_workers(self.workers, timeout=max(1.0, deadline - time.monotonic()))
        return self

    def logs(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def stop(self) -> None:
        """Workers first (each stops its simulator processes), then the scheduler."""
        for group in (self.worker_procs, [self.scheduler]):
            for proc in group:
                if proc is not None and proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            for proc in group:
                if proc is None:
                    continue
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()

    def __enter__(self) -> DaskCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
