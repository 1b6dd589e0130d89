"""End-to-end over HTTP against a real ``qubithub-lite serve``: a run in every framework on
the backends that take it (OpenQASM 3 included), and space code that starts
``sys.executable`` the ways Python programs do (``-c``, ``-m``, a script, multiprocessing's
spawn and forkserver start methods).

The server is whatever ``tests.conftest.CLI_CMD`` starts: ``python -m qubithub_lite``, or the
one-file binary when ``QUBITHUB_LITE_TEST_SERVER_CMD`` names it (``packaging/ci-binary.sh``),
where each of these is something a frozen executable gets wrong unless built for it.
"""

from __future__ import annotations

import time

import pytest
import requests

from tests.conftest import PASSWORD, start_server
from tests.runs.helpers import BELL, CIRQ, PENNYLANE, QASM3
from tests.spaces.conftest import sandbox_driver  # noqa: F401  (fixture)

pytestmark = pytest.mark.xdist_group("test_live_server")  # one module server: one worker

# QASM3 is X on qubit 0 (counts "01"); BELL and PENNYLANE give only 00/11; CIRQ is X on q0 of (q0, q1).
CASES = [
    ("qiskit", {"circuit.py": BELL}, "qiskit_aer", {"00", "11"}),
    ("openqasm3", {"circuit.qasm": QASM3}, "qiskit_aer", {"01"}),
    ("openqasm3", {"circuit.qasm": QASM3}, "cirq_simulator", {"01"}),
    ("qiskit", {"circuit.py": BELL}, "cirq_simulator", {"00", "11"}),
    ("cirq", {"circuit.py": CIRQ}, "cirq_simulator", {"01"}),
    ("pennylane", {"circuit.py": PENNYLANE}, "pennylane_default", {"00", "11"}),
    ("pennylane", {"circuit.py": PENNYLANE}, "pennylane_lightning", {"00", "11"}),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    live = start_server(tmp_path_factory.mktemp("live") / "data")
    api = live.api
    reg = requests.post(f"{api}/auth/register", timeout=60,
                        json={"email": "ada@example.org", "username": "ada", "password": PASSWORD, "name": "Ada"})
    assert reg.status_code == 201, reg.text
    live.headers = {"Authorization": f"Bearer {reg.json()['access_token']}"}
    yield live
    live.stop()


def _circuit(server, name, framework, files):
    circuit = requests.post(f"{server.api}/circuits", headers=server.headers, timeout=60, json={
        "name": name, "title": name, "framework": framework, "qubits": 2, "tags": ["e2e"]})
    assert circuit.status_code == 201, circuit.text
    cid = circuit.json()["id"]
    up = requests.post(f"{server.api}/circuits/{cid}/upload-batch", headers=server.headers, timeout=60,
                       files=[("files", (path, text.encode())) for path, text in files.items()])
    assert up.status_code in (200, 201), up.text
    return cid


def _wait(server, run_id, timeout=240):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = requests.get(f"{server.api}/runs/{run_id}", headers=server.headers, timeout=60).json()
        if run["status"] in ("completed", "failed", "cancelled"):
            return run
        time.sleep(0.5)
    raise AssertionError(f"run {run_id} not finished within {timeout} s: {run}")


@pytest.mark.parametrize(("framework", "files", "backend", "states"), CASES,
                         ids=[f"{c[0]}-on-{c[2]}" for c in CASES])
def test_a_run_in_every_framework(server, sandbox_driver, framework, files, backend, states):  # noqa: F811
    cid = _circuit(server, f"{framework}-{backend}".replace("_", "-"), framework, files)
    sub = requests.post(f"{server.api}/runs", headers=server.headers, timeout=60,
                        json={"circuit_id": cid, "backend_name": backend, "shots": 64})
    assert sub.status_code == 201, sub.text
    run = _wait(server, sub.json()["id"])
    assert run["status"] == "completed", (run.get("error_class"), run.get("error_message"))
    counts = run["results"]["counts"]
    assert set(counts) <= states and sum(counts.values()) == 64, counts


SUBPROCESSES = r'''
import json, multiprocessing, os, pathlib, subprocess, sys

def py(*args, **kw):
    done = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=120, **kw)
    assert done.returncode == 0, (args, done.returncode, done.stdout, done.stderr)
    return done.stdout.strip()

print("c:", py("-c", "import sys; print(sys.argv[1:])", "x", "y"))
print("IBc:", py("-IBc", "import sys; print(sys.dont_write_bytecode)"))
print("m:", json.loads(py("-m", "json.tool", input='{"a": [1, 2]}')))
pathlib.Path("child.py").write_text("import sys\nprint(__name__, sys.argv[1:])\n")
print("script:", py("child.py", "z"))
print("stdin:", py("-", input="print(6 * 7)"))
failed = subprocess.run([sys.executable, "-c", "raise ValueError('from the child')"], capture_output=True, text=True, timeout=120)
print("raise:", failed.returncode, failed.stderr.strip().splitlines()[-1])

pathlib.Path("worker.py").write_text("def square(conn, x):\n    conn.send(x * x)\n    conn.close()\n")
sys.path.insert(0, os.getcwd())
import worker

for method in ("spawn", "forkserver"):
    ctx = multiprocessing.get_context(method)
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=worker.square, args=(child, 7))
    proc.start()
    print(method + ":", parent.recv(), end=" ")
    proc.join(60)
    print(proc.exitcode)
'''


def test_space_code_starts_sys_executable_as_a_python(server, sandbox_driver):  # noqa: F811
    space = requests.post(f"{server.api}/spaces", headers=server.headers, timeout=60,
                          json={"name": "subprocesses", "title": "Subprocesses"})
    assert space.status_code == 201, space.text
    resp = requests.post(f"{server.api}/spaces/{space.json()['id']}/execute", headers=server.headers, timeout=300,
                         json={"code": SUBPROCESSES, "timeout": 240})
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert out["status"] == "success", out
    lines = dict(line.split(": ", 1) for line in out["output"].splitlines() if ": " in line)
    assert lines["c"] == "['x', 'y']"
    assert lines["IBc"] == "True"
    assert lines["m"] == "{'a': [1, 2]}"
    assert lines["script"] == "__main__ ['z']"
    assert lines["stdin"] == "42"
    assert lines["raise"] == "1 ValueError: from the child"
    assert lines["spawn"] == "49 0" and lines["forkserver"] == "49 0"
