"""A long-lived, trusted simulator worker process.

Started by :class:`qubithub_lite.jobs.executor.LocalProcessExecutor` as
``python -m qubithub_lite.jobs.simworker --preload qiskit,qiskit_aer``.  It imports the
frameworks once (warm), keeps an LRU of deserialized/compiled artifacts keyed by artifact hash
(``qubithub_lite.backends.artifacts.CACHE``), and answers requests over stdin/stdout with
length-prefixed pickle frames (both ends are our own trusted code; untrusted circuit.py never
runs here, only exported artifacts).

Frames parent → worker: ``{"op": "run", "task": {...SimTask fields...}}``, ``{"op": "ping"}``,
``{"op": "exit"}``.  Worker → parent: ``{"op": "ready", "pid", "preload_ms"}``,
``{"op": "result", "task_id", "status", "results", "metrics", "error_class", "error_message"}``,
``{"op": "pong"}``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from typing import Any

from qubithub_lite.backends.frameworks import SIMWORKER_PRELOAD
from qubithub_lite.jobs.wire import read_frame, write_frame
from qubithub_lite.run_status import RunStatus

#: A frame's status is a plain string (the parent unpickles replies as plain data only).
COMPLETED, FAILED = RunStatus.COMPLETED.value, RunStatus.FAILED.value



def warm_up(preload: list[str]) -> None:
    for name in preload:
        importlib.import_module(name)
    if "qiskit_aer" in preload:
        # One tiny run through the driver: builds Aer's target and JITs the hot path.
        import io

        from qiskit import QuantumCircuit, qpy

        from qubithub_lite.backends.base import Artifact
        from qubithub_lite.backends.registry import get_backend

        qc = QuantumCircuit(2)
        qc.h(0)
        qc.cx(0, 1)
        qc.measure_all()
        buf = io.BytesIO()
        qpy.dump(qc, buf)
        get_backend("qiskit_aer").run(Artifact("qpy", buf.getvalue(), "qiskit"), 16, 1, {}, {})


def run_task(task: dict[str, Any]) -> dict[str, Any]:
    from qubithub_lite.backends.base import Artifact, BackendError
    from qubithub_lite.backends.registry import get_backend

    t0 = time.perf_counter()
    base = {"op": "result", "task_id": task["task_id"]}
    try:
        driver = get_backend(task["backend"])
        avail = driver.availability()
        if not avail.ok:
            raise BackendError("backend_unavailable", f"backend {driver.name} is unavailable: {avail.reason}")
        artifact = Artifact(
            kind=task["artifact_kind"],
            data=task["artifact"],
            framework=task.get("framework"),
            hash=task.get("artifact_hash"),
        )
        analysis = None
        if task.get("analysis"):
            from qubithub_lite.backends import benchmark_analysis

            analysis = benchmark_analysis.prepare(
                driver, artifact, task.get("parameters") or {}, task.get("options") or {}, task["analysis"])
        result = driver.run(artifact, int(task["shots"]), task.get("seed"), task.get("parameters") or {}, task.get("options") or {})
        metrics = dict(result.metrics)
        metrics["worker_time_ms"] = round((time.perf_counter() - t0) * 1000, 3)
        metrics["worker_pid"] = os.getpid()
        results = {
            "counts": result.counts,
            "shots": result.shots,
            "seed": result.seed,
            "memory": result.memory,
            "statevector": result.statevector,
        }
        if analysis is not None:
            results["benchmark"] = benchmark_analysis.finish(analysis, driver, result.counts, result.seed)
        return {**base, "status": COMPLETED, "results": results, "metrics": metrics, "error_class": None, "error_message": None}
    except BackendError as exc:
        return {**base, "status": FAILED, "results": None, "metrics": {}, "error_class": exc.error_class, "error_message": exc.message}
    except MemoryError:
        return {**base, "status": FAILED, "results": None, "metrics": {}, "error_class": "quota_exceeded", "error_message": "the simulation ran out of memory"}
    except Exception as exc:  # noqa: BLE001
        msg = f"{type(exc).__name__}: {exc}"
        return {**base, "status": FAILED, "results": None, "metrics": {}, "error_class": "internal_error", "error_message": msg[:500]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preload", default=",".join(SIMWORKER_PRELOAD), help="comma-separated modules to import at start")
    args = parser.parse_args(argv)
    # Keep the protocol channel private: anything printed to fd 1 goes to stderr instead.
    proto_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    proto_in = sys.stdin.buffer
    t0 = time.perf_counter()
    preload = [m for m in args.preload.split(",") if m]
    try:
        warm_up(preload)
    except Exception as exc:  # noqa: BLE001 - report, keep serving what works
        print(f"simworker: preload failed: {exc}", file=sys.stderr)
    write_frame(proto_out, {"op": "ready", "pid": os.getpid(), "preload_ms": round((time.perf_counter() - t0) * 1000, 1)})
    while True:
        message = read_frame(proto_in)
        if message is None or message.get("op") == "exit":
            return 0
        op = message.get("op")
        if op == "ping":
            write_frame(proto_out, {"op": "pong", "pid": os.getpid()})
        elif op == "run":
            write_frame(proto_out, run_task(message["task"]))
        else:
            write_frame(proto_out, {"op": "error", "error_message": f"unknown op {op!r}"})


if __name__ == "__main__":
    sys.exit(main())
