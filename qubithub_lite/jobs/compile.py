"""Compile once, run many: turn a circuit version into a portable artifact.

circuit.py is untrusted, so it runs only in the sandbox, through
``backends/export_circuit.py``, which calls the entry function and writes QPY
(Qiskit), Cirq JSON or OpenQASM. The export is cached in ``CompiledArtifact``
by (version, entry point, entry function, circuit-shaping keyword arguments),
so the next run of the same version — by anyone — skips the sandbox. OpenQASM
sources need no sandbox at all. PennyLane QNodes that cannot be exported are
remembered as such and executed in the sandbox on every run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from ..backends.frameworks import EXECUTE_PRELOAD
from ..db.circuits import Circuit, CircuitFile, CircuitVersion
from ..db.core import Db
from ..db.fields import utcnow
from ..db.runs import CompiledArtifact

SANDBOX_KIND = "pennylane-in-sandbox"
SOURCE_SUFFIXES = (".py", ".qasm", ".json", ".toml", ".txt", ".md")
MAX_SOURCE_BYTES = 8 * 1024 * 1024
OUT = "out"
OUTPUT_FILES = ("export_result.json", "circuit.qpy", "circuit.qasm3", "circuit.cirq.json", "circuit.qasm")
PRELOAD = EXECUTE_PRELOAD  # what the warm sandbox imports before compiling a circuit.py


class RunFailure(Exception):
    def __init__(self, error_class: str, message: str):
        super().__init__(message)
        self.error_class = error_class
        self.message = message


@dataclass
class Prepared:
    kind: str
    data: bytes | None
    framework: str
    num_qubits: int
    info: dict[str, Any] = field(default_factory=dict)
    cache_hit: bool = False
    compile_ms: float = 0.0
    kwargs_used: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, bytes] | None = None  # kept for sandbox-only execution


def entry_of(circuit: Circuit, paths: list[str]) -> tuple[str, str | None]:
    """(entry_point, entry_function) from the manifest, else the conventions."""
    manifest = circuit.manifest or {}
    project = manifest.get("project", {}) if isinstance(manifest, dict) else {}
    execution = manifest.get("execution", {}) if isinstance(manifest, dict) else {}
    entry = project.get("entry_point")
    if not entry:
        if circuit.framework == "openqasm3":
            qasm = sorted(p for p in paths if p.endswith(".qasm"))
            entry = "circuit.qasm" if "circuit.qasm" in qasm else (qasm[0] if qasm else None)
        else:
            py = sorted(p for p in paths if p.endswith(".py"))
            entry = "circuit.py" if "circuit.py" in py else (py[0] if len(py) == 1 else None)
    if not entry or entry not in paths:
        raise RunFailure("storage_miss", f"the circuit version has no entry point file ({entry or 'circuit.py'}); files: "
                         f"{', '.join(sorted(paths)[:20]) or 'none'}")
    return entry, execution.get("entry_function")


def cache_key(version_id: str, entry: str, function: str | None, kwargs: dict[str, Any]) -> str:
    raw = json.dumps([version_id, entry, function, kwargs], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()


class Compiler:
    def __init__(self, db: Db, blobs, sandbox_provider, compile_timeout: float):
        self.db = db
        self.blobs = blobs
        self._sandbox = sandbox_provider
        self.compile_timeout = compile_timeout
        self._script = resources.files("qubithub_lite.backends").joinpath("export_circuit.py").read_bytes()
        # Versions are immutable, so what was learnt about one never goes stale in memory:
        # its entry point, the keyword arguments its entry function takes, and its exports.
        self._entries: dict[str, tuple[str, str | None]] = {}
        self._accepted: dict[tuple[str, str, str | None], list[str]] = {}
        self._memo: OrderedDict[str, Prepared] = OrderedDict()
        self.memo_size = 256

    def _remember(self, key: str, prepared: Prepared) -> None:
        self._memo[key] = dataclasses.replace(prepared, cache_hit=True, compile_ms=0.0, sources=None)
        self._memo.move_to_end(key)
        while len(self._memo) > self.memo_size:
            self._memo.popitem(last=False)

    def _recall(self, key: str) -> Prepared | None:
        hit = self._memo.get(key)
        if hit is None:
            return None
        self._memo.move_to_end(key)
        return dataclasses.replace(hit)

    async def _files(self, version: CircuitVersion) -> dict[str, bytes]:
        rows = await self.db.list(CircuitFile.select().where(CircuitFile.version == version.id))
        files: dict[str, bytes] = {}
        for row in rows:
            if not row.path.endswith(SOURCE_SUFFIXES) or row.size > MAX_SOURCE_BYTES:
                continue
            path = self.blobs.path_for(row.sha256)
            try:
                files[row.path] = path.read_bytes()
            except FileNotFoundError:
                raise RunFailure("storage_miss", f"stored file {row.path} is missing from the blob store") from None
        return files

    def _stage_timeout(self, sandbox, timeout: float | None) -> float:
        """The sandbox time of one stage: the run's limit (the manifest's, capped by the
        server) when given, never more than the compile limit nor the sandbox's maximum."""
        limit = self.compile_timeout if timeout is None else min(self.compile_timeout, timeout)
        return max(0.001, min(limit, sandbox.config.max_timeout_seconds))

    async def prepare(self, circuit: Circuit, version: CircuitVersion, parameters: dict[str, Any],
                      timeout: float | None = None) -> Prepared:
        """The run's artifact; running circuit.py (on a cache miss) takes at most ``timeout``
        seconds (the run's limit) and never more than the compile limit."""
        if version.id not in self._entries:
            paths = [r.path for r in await self.db.list(
                CircuitFile.select(CircuitFile.path).where(CircuitFile.version == version.id))]
            self._entries[version.id] = entry_of(circuit, paths)
        entry, function = self._entries[version.id]
        if entry.endswith(".qasm"):
            key = cache_key(version.id, entry, None, {})
            prepared = self._recall(key)
            if prepared is None:
                prepared = await self._qasm(version, entry)
                self._remember(key, prepared)
            return prepared
        accepted = self._accepted.get((version.id, entry, function))
        if accepted is not None:
            kwargs = {k: parameters[k] for k in accepted if k in parameters}
            prepared = self._recall(cache_key(version.id, entry, function, kwargs))
            if prepared is not None:
                if prepared.kind == SANDBOX_KIND and prepared.sources is None:
                    prepared.sources = await self._files(version)
                return prepared
        prepared = await self._lookup(version, entry, function, parameters)
        if prepared is None:
            files = await self._files(version)
            prepared = await self._export(circuit, version, entry, function, parameters, files, timeout)
        self._accepted[(version.id, entry, function)] = list(prepared.info.get("accepted_kwargs") or [])
        self._remember(cache_key(version.id, entry, function, prepared.kwargs_used), prepared)
        return prepared

    async def _qasm(self, version: CircuitVersion, entry: str) -> Prepared:
        row = await CircuitFile.aget_or_none((CircuitFile.version == version.id) & (CircuitFile.path == entry))
        try:
            data = self.blobs.path_for(row.sha256).read_bytes()
        except (FileNotFoundError, AttributeError):
            raise RunFailure("storage_miss", f"stored file {entry} is missing from the blob store") from None
        head = data[:200].decode("utf-8", "replace")
        kind = "qasm2" if "OPENQASM 2" in head else "qasm3"
        return Prepared(kind, data, "openqasm3", 0, {"entry_point": entry}, cache_hit=True)

    async def _lookup(self, version, entry, function, parameters) -> Prepared | None:
        rows = await self.db.list(CompiledArtifact.select().where(CompiledArtifact.circuit_version == version.id))
        known = [r for r in rows if (r.info or {}).get("entry_point") == entry and (r.info or {}).get("entry_function_requested") == function]
        if not known:
            return None
        accepted = known[0].info.get("accepted_kwargs") or []
        kwargs = {k: parameters[k] for k in accepted if k in parameters}
        key = cache_key(version.id, entry, function, kwargs)
        row = next((r for r in known if r.cache_key == key), None)
        if row is None:
            return None
        prepared = Prepared(row.kind, row.data, row.framework, row.num_qubits, row.info or {}, cache_hit=True, kwargs_used=kwargs)
        if row.kind == SANDBOX_KIND:
            prepared.sources = await self._files(version)
        return prepared

    async def _export(self, circuit, version, entry, function, parameters, files, timeout=None) -> Prepared:
        sandbox = self._sandbox()
        limit = self._stage_timeout(sandbox, timeout)
        request = {"entry_point": entry, "framework": circuit.framework, "entry_function": function,
                   "parameters": parameters, "mode": "export", "output_dir": OUT, "result_path": "export_result.json"}
        job_files = {**files, "_qh_export.py": self._script, "_qh_request.json": json.dumps(request).encode(),
                     f"{OUT}/.keep": b""}
        started = time.perf_counter()
        async with self.db.idle():  # circuit.py may run for a while in the sandbox
            result = await sandbox.run_python(
                job_files, script="_qh_export.py", args=["_qh_request.json"],
                limits=sandbox.limits(limit), preload=PRELOAD.get(circuit.framework, ()),
                outputs=[f"{OUT}/{name}" for name in OUTPUT_FILES],
            )
        compile_ms = (time.perf_counter() - started) * 1000
        if result.limit_hit == "wall":
            raise RunFailure("sandbox_timeout", f"circuit.py did not finish within {limit:g} s in the sandbox")
        raw = result.files.get(f"{OUT}/export_result.json")
        if raw is None:
            tail = result.stderr_text[-800:]
            why = f"the sandbox stopped it ({result.limit_hit} limit)" if result.limit_hit else "it produced no result"
            raise RunFailure("parse_error", f"running circuit.py failed: {why}. {tail}".strip())
        outcome = json.loads(raw)
        if not outcome.get("ok"):
            message = outcome.get("error_message") or "circuit.py failed"
            if outcome.get("traceback"):
                message += "\n" + outcome["traceback"][-1500:]
            raise RunFailure(outcome.get("error_class") or "parse_error", message)
        artifact = outcome["artifact"]
        kind = artifact["kind"]
        data = None if kind == SANDBOX_KIND else result.files.get(f"{OUT}/{artifact['path']}")
        if kind != SANDBOX_KIND and data is None:
            raise RunFailure("internal_error", f"the export wrote no {artifact['path']}")
        kwargs_used = outcome.get("kwargs_used") or {}
        info = {k: outcome.get(k) for k in ("entry_function", "free_parameters", "accepted_kwargs", "depth", "gate_counts",
                                             "num_clbits", "measured_wires", "sandbox_only_reason")}
        info.update(entry_point=entry, entry_function_requested=function)
        key = cache_key(version.id, entry, function, kwargs_used)
        async with self.db.tx():
            await self.db.execute(CompiledArtifact.insert(
                cache_key=key, circuit_version=version.id, kind=kind, data=data, framework=outcome.get("framework") or circuit.framework,
                num_qubits=int(outcome.get("num_qubits") or 0), info=info, created_at=utcnow(),
            ).on_conflict_ignore())
        return Prepared(kind, data, outcome.get("framework") or circuit.framework, int(outcome.get("num_qubits") or 0), info,
                        cache_hit=False, compile_ms=compile_ms, kwargs_used=kwargs_used,
                        sources=files if kind == SANDBOX_KIND else None)

    async def run_in_sandbox(self, prepared: Prepared, entry: str, function: str | None, parameters: dict[str, Any],
                             shots: int, seed: int | None, device: str, timeout: float) -> dict[str, Any]:
        """Execute a non-exportable PennyLane QNode inside the sandbox; counts in Qiskit order."""
        sandbox = self._sandbox()
        timeout = max(0.001, min(timeout, sandbox.config.max_timeout_seconds))
        request = {"entry_point": entry, "framework": "pennylane", "entry_function": function, "parameters": parameters,
                   "mode": "run", "output_dir": OUT, "result_path": "export_result.json", "shots": shots, "seed": seed,
                   "device": device}
        job_files = {**(prepared.sources or {}), "_qh_export.py": self._script,
                     "_qh_request.json": json.dumps(request).encode(), f"{OUT}/.keep": b""}
        async with self.db.idle():  # the QNode may run for a while in the sandbox
            result = await sandbox.run_python(job_files, script="_qh_export.py", args=["_qh_request.json"],
                                              limits=sandbox.limits(timeout), preload=PRELOAD["pennylane"],
                                              outputs=[f"{OUT}/export_result.json"])
        if result.limit_hit == "wall":
            raise RunFailure("sandbox_timeout", f"the PennyLane circuit did not finish within {timeout:g} s")
        raw = result.files.get(f"{OUT}/export_result.json")
        if raw is None:
            raise RunFailure("parse_error", "running the PennyLane circuit in the sandbox produced no result")
        outcome = json.loads(raw)
        if not outcome.get("ok"):
            raise RunFailure(outcome.get("error_class") or "parse_error", outcome.get("error_message") or "run failed")
        return outcome
