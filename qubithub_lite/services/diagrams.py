"""Circuit diagrams for the web UI: a circuit version's files drawn by the same sandboxed
visualizer as ``POST /spaces/{id}/visualize`` (the framework's own drawer; the SVG is checked
for scripts, handlers and external references). A version never changes, so its diagram is
drawn once and kept (bounded, in memory); concurrent requests for one version share one job."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable

from ..errors import ApiError
from ..logs import fields
from ..sandbox import SandboxUnavailable
from .spaces import visualize_response
from .visualize import CODE_FILE, DRIVER_SOURCE, STATUS_FILE, SVG_FILE, VISUALIZE_PRELOAD

log = logging.getLogger(__name__)

#: OpenQASM 3 has no Python drawer of its own: Qiskit imports it and draws it.
QASM_LOADER = "from qiskit import qasm3\nwith open({path!r}) as f:\n    circuit = qasm3.loads(f.read())\n"


@dataclass
class Diagram:
    svg: bytes | None
    error: str | None


class CircuitDiagrams:
    CACHE_SIZE = 256

    def __init__(self, db, circuits, blobs, slots, spaces_settings, require_sandbox: Callable[[], Any]):
        self.db = db
        self.circuits = circuits
        self.blobs = blobs
        self.slots = slots  # the spaces' per-user sandbox slots (a drawing is a sandbox job too)
        self.settings = spaces_settings
        self.require_sandbox = require_sandbox
        self._cache: OrderedDict[str, Diagram] = OrderedDict()
        self._pending: dict[str, asyncio.Future] = {}

    async def diagram(self, user_id: str | None, circuit_id: str, version: str | None) -> Diagram:
        """404 unless the caller may see the circuit; otherwise the diagram or why there is none."""
        circuit = await self.circuits.get_visible(user_id, circuit_id)
        listing = await self.circuits.list_files(user_id, circuit.id, version)
        entry = ((circuit.manifest or {}).get("project") or {}).get("entry_point")
        by_name = {f["name"]: f for f in listing["files"]}
        if not entry or entry not in by_name:
            return Diagram(None, "this version has no manifest entry point to draw")
        key = hashlib.sha256(json.dumps([circuit.framework, entry, sorted((f["name"], f["sha256"])
                                         for f in listing["files"])]).encode()).hexdigest()
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        pending = self._pending.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            result = await self._draw(user_id, circuit, entry, listing["files"])
            if result.svg is not None or "timeout" not in (result.error or ""):
                self._cache[key] = result
                while len(self._cache) > self.CACHE_SIZE:
                    self._cache.popitem(last=False)
            future.set_result(result)
            return result
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning when nobody else waits
            raise
        finally:
            self._pending.pop(key, None)

    async def _draw(self, user_id: str | None, circuit: Any, entry: str, files: list[dict[str, Any]]) -> Diagram:
        limit = self.settings.max_run_bytes
        if sum(f["size"] for f in files) > limit:
            return Diagram(None, f"the circuit's files exceed the {limit} bytes a drawing may copy")
        try:
            sandbox = self.require_sandbox()
        except ApiError as exc:
            return Diagram(None, exc.detail)

        def read_all() -> dict[str, bytes]:
            return {f["name"]: self.blobs.path_for(f["sha256"]).read_bytes() for f in files}

        try:
            job_files = await asyncio.to_thread(read_all)
        except OSError:
            return Diagram(None, "a file of this circuit is missing from storage")
        framework = circuit.framework
        path = entry
        if framework == "openqasm3":
            job_files[CODE_FILE] = QASM_LOADER.format(path=entry).encode()
            framework, path = "qiskit", CODE_FILE
        if framework not in VISUALIZE_PRELOAD:
            return Diagram(None, f"no drawer for {framework} circuits")
        timeout = min(self.settings.visualize_timeout_seconds, sandbox.config.max_timeout_seconds)
        config = {"path": path, "display": entry, "framework": framework, "auto": False, "svg": SVG_FILE,
                  "status": STATUS_FILE}
        job_files.setdefault(STATUS_FILE, b"")
        try:  # drawing takes seconds: don't hold a pooled connection
            async with self.db.idle(), self.slots.slot(user_id or "anonymous"):
                result = await sandbox.run_python(
                    files=job_files, code=DRIVER_SOURCE, args=[json.dumps(config)], limits=sandbox.limits(timeout),
                    preload=VISUALIZE_PRELOAD[framework], outputs=[SVG_FILE, STATUS_FILE])
        except SandboxUnavailable as exc:
            return Diagram(None, f"code execution is unavailable: {exc}")
        out = visualize_response(result, framework, timeout, sandbox.config.output_file_bytes)
        if out["status"] != "success":
            log.info("circuit.diagram_failed", extra=fields(circuit_id=circuit.id, error=(out["error"] or "")[:200]))
            return Diagram(None, out["error"] or out["status"])
        import base64

        return Diagram(base64.b64decode(out["diagram"]), None)
