#!/usr/bin/env python3
"""End-to-end smoke test of a built one-file binary (not part of pytest: the build is slow).

    python packaging/smoke_test.py dist/qubithub-lite [--core]

Copies the binary into a fresh temp dir and runs it there with a minimal environment
(PATH=/usr/bin:/bin, no PYTHONPATH, no virtualenv): ``--version``, ``doctor``, then
``serve`` on a free port, and over HTTP: register, create a circuit, upload a Bell
``circuit.py``, submit a run and wait for it to complete (sandboxed export + simulator
worker, both started through the binary), run cirq and pennylane circuits too, execute
``print(1)`` and an ``import qiskit`` in a space. Checks that every helper process the
server started is the binary itself. Uses only the standard library; exits non-zero on the
first failure. ``--core`` expects a core build: frameworks reported missing, and runs
failing with a clear error instead of completing.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

#: The circuits it runs are the bundled Bell examples, read from the source tree next to this file.
EXAMPLES = Path(__file__).resolve().parent.parent / "qubithub_lite" / "examples" / "circuits"


def example(name: str) -> str:
    return next((EXAMPLES / name).glob("circuit.*")).read_text(encoding="utf-8")


BELL, CIRQ, PENNYLANE, QASM3 = (example(f"bell-{sdk}") for sdk in ("qiskit", "cirq", "pennylane", "qasm"))
FRAMEWORKS = ("qiskit", "qiskit_aer", "cirq", "pennylane")


def step(message: str) -> None:
    print(f"[smoke {time.strftime('%H:%M:%S')}] {message}", flush=True)


def fail(message: str) -> None:
    print(f"[smoke] FAIL: {message}", flush=True)
    raise SystemExit(1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Api:
    def __init__(self, base: str) -> None:
        self.base = base
        self.token: str | None = None

    def call(self, method: str, path: str, body=None, *, data: bytes | None = None,
             content_type: str = "application/json", timeout: float = 300):
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        if body is not None:
            data = json.dumps(body).encode()
        if data is not None:
            headers["Content-Type"] = content_type
        status, payload = 429, None
        for _ in range(5):
            req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
            try:
                with urllib.request.urlopen(req, timeout=timeout) as resp:
                    return resp.status, json.loads(resp.read() or b"null")
            except urllib.error.HTTPError as exc:
                status, payload = exc.code, json.loads(exc.read() or b"null")
                if status != 429:
                    return status, payload
                # the server's rate limit (60/min by default): polling runs can reach it
                time.sleep(min(float(exc.headers.get("Retry-After") or 5), 60))
        return status, payload  # still rate limited after five tries

    def ok(self, method: str, path: str, body=None, **kw):
        status, payload = self.call(method, path, body, **kw)
        if status >= 300:
            fail(f"{method} {path} -> {status} {payload}")
        return payload

    def upload(self, circuit_id: str, name: str, text: str):
        boundary = uuid.uuid4().hex
        data = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
                f"Content-Type: application/octet-stream\r\n\r\n{text}\r\n--{boundary}--\r\n").encode()
        return self.ok("POST", f"/circuits/{circuit_id}/upload", data=data,
                       content_type=f"multipart/form-data; boundary={boundary}")

    def circuit(self, name: str, framework: str, source: str) -> str:
        circuit = self.ok("POST", "/circuits", {"name": name, "title": name, "framework": framework, "qubits": 2})
        self.upload(circuit["id"], "circuit.qasm" if framework == "openqasm3" else "circuit.py", source)
        return circuit["id"]

    def run(self, circuit_id: str, timeout: float = 600) -> dict:
        run = self.ok("POST", "/runs", {"circuit_id": circuit_id, "shots": 256, "seed": 7})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.ok("GET", f"/runs/{run['id']}")
            if run["status"] in ("completed", "failed", "cancelled"):
                return run
            time.sleep(1.0)
        fail(f"run {run['id']} still {run['status']} after {timeout} s")
        raise AssertionError


def children_of(pid: int) -> list[int]:
    """All descendants of ``pid`` (from /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    core = "--core" in sys.argv
    if len(args) != 1:
        raise SystemExit(__doc__)
    source = Path(args[0]).resolve()
    work = Path(tempfile.mkdtemp(prefix="qubithub-smoke-"))
    binary = work / "qubithub-lite"
    shutil.copy2(source, binary)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(work), "LANG": "C.UTF-8",
           "TMPDIR": os.environ.get("TMPDIR", "/tmp")}
    step(f"binary {source} ({source.stat().st_size / 2**20:.0f} MiB) copied to {work}; env {env}")
    run = lambda *a, **kw: subprocess.run([str(binary), *a], cwd=work, env=env, capture_output=True,  # noqa: E731
                                          text=True, timeout=900, **kw)
    t0 = time.monotonic()
    version = run("--version")
    step(f"--version -> {version.stdout.strip()!r} (exit {version.returncode}, {time.monotonic() - t0:.1f} s)")
    if version.returncode != 0 or "qubithub-lite" not in version.stdout:
        fail(version.stderr[-2000:])

    t0 = time.monotonic()
    doctor = run("doctor")
    print(doctor.stdout, end="", flush=True)
    step(f"doctor exit {doctor.returncode} ({time.monotonic() - t0:.1f} s)")
    lines = doctor.stdout.splitlines()
    for must in ("[ok] data dir", "[ok] database", "[ok] sandbox:", "[ok] python: numpy", "[ok] python: pyarrow",
                 "[ok] python: h5py"):
        if not any(line.startswith(must) for line in lines):
            fail(f"doctor has no line starting {must!r}\n{doctor.stderr[-2000:]}")
    for module in FRAMEWORKS:
        expect = f"[FAIL] python: {module}: missing" if core else f"[ok] python: {module}"
        if not any(line.startswith(expect) for line in lines):
            fail(f"doctor: expected {expect!r}")

    port = free_port()
    log = open(work / "serve.log", "w")
    t0 = time.monotonic()
    server = subprocess.Popen([str(binary), "serve", "--port", str(port)], cwd=work, env=env,
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    api = Api(f"http://127.0.0.1:{port}")
    try:
        while True:
            if server.poll() is not None:
                fail(f"serve exited {server.returncode}: {(work / 'serve.log').read_text()[-3000:]}")
            try:
                if api.call("GET", "/health", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() - t0 > 180:
                fail("server did not answer /health within 180 s")
            time.sleep(0.3)
        step(f"serve: /health 200 after {time.monotonic() - t0:.1f} s on port {port}")

        auth = api.ok("POST", "/auth/register", {"email": "smoke@lab.lan", "username": "smoke",
                                                 "password": "Qu4ntum!Leap#42"})
        api.token = auth["access_token"]
        step(f"registered user {auth['user']['username']}")

        t0 = time.monotonic()
        bell_id = api.circuit("bell", "qiskit", BELL)
        if core:  # refused up front with a clear reason, or failing with one
            status, bell = api.call("POST", "/runs", {"circuit_id": bell_id})
            step(f"core build: POST /runs -> {status} {bell}")
            if status == 400 and "not installed" in bell.get("detail", ""):
                bell = {"status": "failed", "error_message": bell["detail"]}
            elif status == 201:
                bell = api.run(bell_id)
            else:
                fail(f"core build: unexpected answer to POST /runs: {status} {bell}")
        else:
            bell = api.run(bell_id)
        step(f"qiskit Bell run: {bell['status']} in {time.monotonic() - t0:.1f} s, backend {bell.get('backend_name')}, "
             f"counts {(bell.get('results') or {}).get('counts')}, error {bell.get('error_message')}")
        if core:
            if bell["status"] != "failed" or not bell.get("error_message"):
                fail("core build: the qiskit run should fail with a clear error")
        else:
            counts = (bell.get("results") or {}).get("counts") or {}
            if bell["status"] != "completed" or set(counts) != {"00", "11"} or sum(counts.values()) != 256:
                fail(f"Bell run did not complete as expected: {bell}")
            for name, framework, src in (("cirq-bell", "cirq", CIRQ), ("pl-bell", "pennylane", PENNYLANE),
                                         ("qasm3-bell", "openqasm3", QASM3)):
                t0 = time.monotonic()
                result = api.run(api.circuit(name, framework, src))
                step(f"{framework} run: {result['status']} in {time.monotonic() - t0:.1f} s, "
                     f"counts {(result.get('results') or {}).get('counts')}, error {result.get('error_message')}")
                if result["status"] != "completed":
                    fail(f"{framework} run did not complete: {result}")

        backends = api.ok("GET", "/backends")
        names = sorted({b["id"] for b in backends["backends"]})
        step(f"/backends: {len(names)} drivers (entry points + fallbacks): {', '.join(names)[:300]}")
        if not core:
            for must in ("qiskit_aer", "cirq_simulator", "pennylane_default", "pennylane_lightning", "fake_manila"):
                if must not in names:
                    fail(f"backend {must} missing from /backends")
            t0 = time.monotonic()
            cal = api.ok("GET", "/backends/fake_manila/calibration/latest")
            step(f"fake_manila calibration (calibration subprocess): {len(json.dumps(cal))} bytes of JSON, "
                 f"keys {sorted(cal)[:6]} ({time.monotonic() - t0:.1f} s)")
            t0 = time.monotonic()
            emu = api.ok("POST", "/runs", {"circuit_id": bell_id, "backend_type": "emulation",
                                           "backend_name": "fake_manila", "shots": 256, "seed": 7})
            while emu["status"] not in ("completed", "failed", "cancelled"):
                time.sleep(0.5)
                emu = api.ok("GET", f"/runs/{emu['id']}")
            step(f"emulation run on fake_manila: {emu['status']} in {time.monotonic() - t0:.1f} s, counts "
                 f"{(emu.get('results') or {}).get('counts')}, error {emu.get('error_message')}")
            if emu["status"] != "completed":
                fail(f"fake_manila run did not complete: {emu}")

        space = api.ok("POST", "/spaces", {"name": "smoke", "title": "smoke", "sdk": "qiskit"})
        child = "import subprocess, sys; print(subprocess.run([sys.executable, '-c', 'print(6 * 7)'], " \
                "capture_output=True, text=True).stdout.strip())"
        for code, expect in (("print(1)", "1"), (child, "42"),
                             ("import qiskit, sys; print(qiskit.__version__ if True else '', sys.platform)", None)):
            t0 = time.monotonic()
            out = api.ok("POST", f"/spaces/{space['id']}/execute", {"code": code, "timeout": 120})
            step(f"space execute {code!r}: {out['status']} output {out.get('output')!r} error "
                 f"{(out.get('error') or '')[-300:]!r} ({time.monotonic() - t0:.1f} s)")
            if expect is not None and (out["status"] != "success" or (out.get("output") or "").strip() != expect):
                fail(f"space execute {code!r} -> {out}")
            if expect is None and not core and out["status"] != "success":
                fail(f"space execute {code!r} -> {out}")
        # Isolation still holds in the binary: the bundle is read-only, the data dir invisible.
        probe = (f"import os, sys\nb = sys._MEIPASS\ntry:\n    open(os.path.join(b, 'x'), 'w')\n    print('bundle-writable')\n"
                 f"except OSError:\n    print('bundle-ro')\nprint('data-visible' if os.path.exists({str(work / 'qubithub-data')!r}) "
                 f"else 'data-hidden', 'net' if os.path.exists('/sys/class/net/eth0') else 'no-net')\n")
        out = api.ok("POST", f"/spaces/{space['id']}/execute", {"code": probe, "timeout": 60})
        step(f"sandbox isolation probe: {out['status']} {(out.get('output') or '').split()} {(out.get('error') or '')[-200:]!r}")
        if (out.get("output") or "").split()[:2] != ["bundle-ro", "data-hidden"]:
            fail(f"isolation probe -> {out}")

        real = binary.resolve()
        bundle = ""
        helpers = []
        for pid in children_of(server.pid):
            try:
                exe = Path(os.readlink(f"/proc/{pid}/exe"))
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            helpers.append((pid, exe, b" ".join(cmd[:5]).decode(errors="replace")))
        for pid, exe, cmd in helpers:
            print(f"    helper pid {pid}: {exe} :: {cmd[:160]}")
        # Every helper reuses the server's unpacked bundle (no second unpack per process).
        homes = set()
        for pid, exe, _ in helpers:
            if exe == real:
                try:
                    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
                except OSError:
                    continue
                homes |= {v.split(b"=", 1)[1].decode() for v in environ if v.startswith(b"_PYI_APPLICATION_HOME_DIR=")}
        if len(homes) != 1:
            fail(f"helpers use {len(homes)} unpacked bundles: {homes}")
        bundle = homes.pop()
        size = subprocess.run(["du", "-sm", bundle], capture_output=True, text=True).stdout.split()[0]
        step(f"one unpacked bundle shared by the server and all helpers: {bundle} ({size} MiB)")
        pythons = [h for h in helpers if "python" in h[1].name and h[1] != real]
        if pythons:
            fail(f"helper processes run a Python interpreter instead of the binary: {pythons}")
        if not core and not any("qubithub_lite.jobs.simworker" in cmd for _, _, cmd in helpers):
            fail("no simulator worker started through the binary")
        step(f"{len(helpers)} helper processes, all started from {real.name} (no system Python)")
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()
    step(f"serve stopped (exit {server.returncode}); bundle removed: {not Path(bundle).exists()}; server log tail:")
    print("    " + "\n    ".join((work / "serve.log").read_text().splitlines()[-8:]))
    shutil.rmtree(work, ignore_errors=True)
    step("PASS")


if __name__ == "__main__":
    main()
