"""POST /spaces/{id}/execute and /visualize through the real app and the real sandbox."""

from __future__ import annotations

import asyncio
import base64
import shutil
import time
import xml.etree.ElementTree as ET

import pytest

from qubithub_lite.services.svg_safety import check_svg
from tests.conftest import make_settings

from .helpers import add_file, create_space

pytestmark = pytest.mark.sandbox

BELL = "from qiskit import QuantumCircuit\nqc = QuantumCircuit(2)\nqc.h(0)\nqc.cx(0, 1)\nprint(qc)"


@pytest.fixture
def settings(tmp_path, sandbox_driver):
    return make_settings(tmp_path, spaces={"max_concurrent_per_user": 1, "queue_wait_seconds": 0.5})


async def execute(client, user, sid, **body):
    resp = await client.post(f"/spaces/{sid}/execute", json=body, headers=user.headers)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def visualize(client, user, sid, **body):
    resp = await client.post(f"/spaces/{sid}/visualize", json=body, headers=user.headers)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def test_reference_bell_example_returns_the_drawing(client, alice):
    sid = (await create_space(client, alice))["id"]
    result = await execute(client, alice, sid, code=BELL)
    assert result["status"] == "success", result
    assert "q_0: ┤ H ├──■──" in result["output"] and "q_1: ─────┤ X ├" in result["output"]
    assert result["error"] is None and 0 < result["execution_time"] < 30


async def test_space_files_are_in_the_work_dir_and_file_to_run(client, alice):
    sid = (await create_space(client, alice, sdk="cirq"))["id"]
    assert (await add_file(client, alice, sid, "lib/helper.py", "VALUE = 41\n")).status == 201
    run_me = "import os, cirq\nfrom lib.helper import VALUE\nprint(VALUE + 1, sorted(os.listdir('.')), cirq.__name__)\n"
    assert (await add_file(client, alice, sid, "apps/run_me.py", run_me)).status == 201
    result = await execute(client, alice, sid, file_to_run="apps/run_me.py")
    assert result["status"] == "success", result
    assert result["output"].strip() == "42 ['apps', 'lib'] cirq"


async def test_code_that_raises_reports_the_traceback(client, alice):
    sid = (await create_space(client, alice))["id"]
    result = await execute(client, alice, sid, code="print('before')\ndef f():\n    return 1 / 0\nf()\n")
    assert result["status"] == "error"
    assert result["output"] == "before\n"
    assert "Traceback (most recent call last)" in result["error"]
    assert "ZeroDivisionError: division by zero" in result["error"] and "in f" in result["error"]
    assert ", in _run" not in result["error"]  # the runner's own frames are trimmed
    exit_code = await execute(client, alice, sid, code="raise SystemExit(3)")
    assert exit_code["status"] == "error" and "status 3" in exit_code["error"]


async def test_code_that_loops_forever_times_out(client, alice):
    sid = (await create_space(client, alice))["id"]
    started = time.monotonic()
    result = await execute(client, alice, sid, code="print('spinning', flush=True)\nwhile True:\n    pass\n", timeout=1)
    assert result["status"] == "timeout"
    assert "timed out after 1 s" in result["error"] and result["output"] == "spinning\n"
    assert 1 <= result["execution_time"] < 5 and time.monotonic() - started < 30


async def test_limits_hit_are_reported(client, alice):
    sid = (await create_space(client, alice))["id"]
    big = await execute(client, alice, sid, code="print('x' * 200_000)")
    assert big["status"] == "success" and big["output"].endswith("[output truncated]")
    assert len(big["output"]) < 70_000
    memory = await execute(client, alice, sid, code="b = bytearray(16 * 1024 ** 3)")
    assert memory["status"] == "error" and "MemoryError" in memory["error"] and "memory limit" in memory["error"]


@pytest.mark.parametrize("body, needle", [
    ({"code": "print(1)", "file_to_run": "main.py"}, "exactly one"),
    ({}, "exactly one"),
    ({"code": None, "file_to_run": None, "timeout": 30}, "exactly one"),
    ({"code": "print(1)", "timeout": 0}, "body.timeout"),
    ({"code": "print(1)", "timeout": 301}, "body.timeout"),
    ({"code": "print(1)", "timeout": "soon"}, "body.timeout"),
    ({"file_to_run": "missing.py"}, "no file 'missing.py'"),
    ({"file_to_run": "../main.py"}, "file_to_run"),
])
async def test_execute_bad_input_is_400(client, alice, body, needle):
    sid = (await create_space(client, alice))["id"]
    await add_file(client, alice, sid, "main.py", "print(1)")
    resp = await client.post(f"/spaces/{sid}/execute", json=body, headers=alice.headers)
    assert resp.status == 400
    assert needle in (await resp.json())["detail"]


async def test_execute_needs_write_access(client, alice, bob):
    sid = (await create_space(client, alice))["id"]
    assert (await client.post(f"/spaces/{sid}/execute", json={"code": "print(1)"}, headers=bob.headers)).status == 403
    assert (await client.post(f"/spaces/{sid}/execute", json={"code": "print(1)"})).status == 401


async def test_per_user_concurrency_limit_answers_429_with_retry_after(client, alice, bob):
    sid = (await create_space(client, alice))["id"]
    bob_sid = (await create_space(client, bob))["id"]
    slow = asyncio.ensure_future(execute(client, alice, sid, code="import time; time.sleep(3); print('slow')"))
    await asyncio.sleep(0.3)
    resp = await client.post(f"/spaces/{sid}/execute", json={"code": "print(2)"}, headers=alice.headers)
    assert resp.status == 429 and int(resp.headers["Retry-After"]) >= 1
    assert "for you" in (await resp.json())["detail"]
    other = await execute(client, bob, bob_sid, code="print('bob')")  # another user is not blocked
    assert other["status"] == "success" and other["output"] == "bob\n"
    assert (await slow)["output"] == "slow\n"


async def test_excess_calls_wait_for_a_slot(tmp_path, aiohttp_client, sandbox_driver):
    from qubithub_lite.app import create_app
    from tests.conftest import register

    settings = make_settings(tmp_path, spaces={"max_concurrent_executions": 1, "queue_wait_seconds": 60})
    client = await aiohttp_client(create_app(settings))
    users = [await register(client) for _ in range(2)]
    sids = [(await create_space(client, u))["id"] for u in users]
    results = await asyncio.gather(*(
        execute(client, u, sid, code="import time; t = time.time(); time.sleep(1); print(t)")
        for u, sid in zip(users, sids)
    ))
    assert [r["status"] for r in results] == ["success", "success"]
    starts = sorted(float(r["output"]) for r in results)
    assert starts[1] - starts[0] >= 0.9  # the second waited for the first


# Visualize -----------------------------------------------------------------------------------
QISKIT = "from qiskit import QuantumCircuit\n\ndef create_circuit():\n    qc = QuantumCircuit(2)\n    qc.h(0)\n    qc.cx(0, 1)\n    qc.measure_all()\n    return qc\n"
CIRQ = "import cirq\n\ndef create_circuit():\n    a, b = cirq.LineQubit.range(2)\n    return cirq.Circuit(cirq.H(a), cirq.CNOT(a, b), cirq.measure(a, b, key='m'))\n"
PENNYLANE = ("import pennylane as qml\n\ndev = qml.device('default.qubit', wires=2)\n\n@qml.qnode(dev)\n"
             "def circuit(theta):\n    qml.Hadamard(0)\n    qml.CNOT([0, 1])\n    qml.RY(theta, wires=1)\n"
             "    return qml.counts()\n")


def decoded_svg(result) -> bytes:
    svg = base64.b64decode(result["diagram"])
    check_svg(svg)
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    return svg


@pytest.mark.parametrize("framework, code", [("qiskit", QISKIT), ("cirq", CIRQ), ("pennylane", PENNYLANE)])
async def test_visualize_draws_a_valid_svg(client, alice, framework, code):
    sid = (await create_space(client, alice))["id"]  # a qiskit space: the framework is detected from the code
    result = await visualize(client, alice, sid, code=code)
    assert result["status"] == "success", result
    assert result["framework"] == framework and result["format"] == "svg" and result["error"] is None
    svg = decoded_svg(result)
    assert len(svg) > 500


async def test_visualize_a_space_file_with_module_level_circuit(client, alice):
    sid = (await create_space(client, alice, sdk="cirq"))["id"]
    code = "import cirq\nq = cirq.LineQubit(0)\ncircuit = cirq.Circuit(cirq.X(q))\nif __name__ == '__main__':\n    raise SystemExit('main must not run')\n"
    await add_file(client, alice, sid, "circuits/flip.py", code)
    result = await visualize(client, alice, sid, file_to_visualize="circuits/flip.py", framework="cirq")
    assert result["status"] == "success", result
    assert b"X" in decoded_svg(result)


async def test_visualize_failures_are_reported(client, alice):
    sid = (await create_space(client, alice))["id"]
    none = await visualize(client, alice, sid, code="x = 1\n")
    assert none["status"] == "error" and "no circuit found" in none["error"] and none["diagram"] is None
    raises = await visualize(client, alice, sid, code="import qiskit\nraise ValueError('bad circuit')\n")
    assert raises["status"] == "error" and "ValueError: bad circuit" in raises["error"] and "<code>" in raises["error"]
    mismatch = await visualize(client, alice, sid, code=CIRQ, framework="qiskit")
    assert mismatch["status"] == "error" and "cirq circuit" in mismatch["error"]
    for body, needle in (({"code": "x", "file_to_visualize": "a.py"}, "exactly one"), ({}, "exactly one"),
                         ({"code": "x", "framework": "braket"}, "body.framework"),
                         ({"file_to_visualize": "nope.py"}, "no file")):
        resp = await client.post(f"/spaces/{sid}/visualize", json=body, headers=alice.headers)
        assert resp.status == 400 and needle in (await resp.json())["detail"]


async def test_a_malicious_svg_is_refused(client, alice):
    """The user's code rewrites the diagram at exit with a scripted SVG: it must not come back."""
    sid = (await create_space(client, alice))["id"]
    code = QISKIT + (
        "import atexit, os\n"
        "def _swap():\n"
        "    with open(os.path.join('.qubithub', 'diagram.svg'), 'w') as fh:\n"
        "        fh.write('<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(document.cookie)</script></svg>')\n"
        "atexit.register(_swap)\n"
    )
    result = await visualize(client, alice, sid, code=code)
    assert result["status"] == "error" and result["diagram"] is None
    assert "refused" in result["error"] and "script" in result["error"]


# Sandbox unavailable, official client ------------------------------------------------------------
@pytest.mark.skipif(shutil.which("nsjail") is not None, reason="nsjail is installed here")
async def test_no_working_sandbox_means_503_never_unsandboxed(tmp_path, aiohttp_client):
    from qubithub_lite.app import create_app
    from tests.conftest import register

    client = await aiohttp_client(create_app(make_settings(tmp_path, sandbox={"driver": "nsjail"})))
    user = await register(client)
    sid = (await create_space(client, user))["id"]
    for path, body in (("execute", {"code": "print(1)"}), ("visualize", {"code": QISKIT})):
        resp = await client.post(f"/spaces/{sid}/{path}", json=body, headers=user.headers)
        assert resp.status == 503
        assert "nsjail" in (await resp.json())["detail"]


@pytest.mark.skipif(shutil.which("qubithub") is None, reason="official qubithub client not installed")
def test_official_client_execute_space(live_server, sandbox_driver):
    import requests
    from qubithub.client import QubitHubClient
    from qubithub.models import SpaceExecuteRequest

    from tests.conftest import PASSWORD

    reg = requests.post(f"{live_server.api}/auth/register", timeout=30,
                        json={"email": "eve@example.org", "username": "eve", "password": PASSWORD, "name": "Eve"})
    token = reg.json()["access_token"]
    space = requests.post(f"{live_server.api}/spaces", json={"name": "bell", "title": "Bell"}, timeout=30,
                          headers={"Authorization": f"Bearer {token}"}).json()
    client = QubitHubClient(base_url=live_server.api, token=token, timeout=120)
    result = client.execute_space(space["id"], SpaceExecuteRequest(code=BELL))
    assert result.status == "success", result
    assert "┤ H ├" in result.output and result.error is None and result.execution_time > 0
    failed = client.execute_space(space["id"], SpaceExecuteRequest(code="import sys; sys.exit('nope')"))
    assert failed.status == "error" and "nope" in failed.error
