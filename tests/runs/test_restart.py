"""Kill the server with a queued and a running run; restart; nothing stays non-terminal."""

import time

import requests

from tests.conftest import PASSWORD, start_server
from tests.runs.helpers import BELL, SLEEPY


def wait(api, headers, run_id, statuses=("completed", "failed", "cancelled"), timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = requests.get(f"{api}/runs/{run_id}", headers=headers, timeout=10).json()
        if run["status"] in statuses:
            return run
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} still {run['status']}")


def upload(api, headers, name, files, qubits=1):
    circuit = requests.post(f"{api}/circuits", json={"name": name, "title": name, "framework": "qiskit", "qubits": qubits},
                            headers=headers).json()
    r = requests.post(f"{api}/circuits/{circuit['id']}/upload-batch", headers=headers,
                      files=[("files", (path, text.encode())) for path, text in files.items()])
    assert r.status_code in (200, 201), r.text
    return circuit["id"]


def test_kill_and_restart_recovers_queued_and_running_runs(tmp_path):
    env = {"QUBITHUB_LITE_RUNS_WORKERS": "1", "QUBITHUB_LITE_RUNS_PER_USER_CONCURRENCY": "1"}
    server = start_server(tmp_path / "data", env)
    try:
        api = server.api
        token = requests.post(f"{api}/auth/register", json={"email": "k@example.org", "username": "kim",
                                                            "password": PASSWORD}).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        slow = upload(api, headers, "slow", {"circuit.py": SLEEPY, "sleep.json": "4"})
        bell = upload(api, headers, "bell", {"circuit.py": BELL}, qubits=2)
        running = requests.post(f"{api}/runs", json={"circuit_id": slow}, headers=headers).json()
        wait(api, headers, running["id"], statuses=("running",), timeout=30)
        queued = requests.post(f"{api}/runs", json={"circuit_id": bell}, headers=headers).json()
        assert requests.get(f"{api}/runs/{queued['id']}", headers=headers).json()["status"] == "queued"
        server.stop(9)  # SIGKILL: no graceful shutdown
    finally:
        server.stop()
    server = start_server(tmp_path / "data", env, port=int(server.url.rsplit(":", 1)[1]))
    try:
        api = server.api
        token = requests.post(f"{api}/auth/login", json={"identifier": "kim", "password": PASSWORD}).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        first = wait(api, headers, running["id"])
        second = wait(api, headers, queued["id"])
        assert first["status"] == "completed", first  # retried once after the crash
        assert second["status"] == "completed" and second["results"]["counts"]
        stats = requests.get(f"{api}/runs/users/me/stats", headers=headers).json()
        assert stats["completed_runs"] == 2 and stats["running_runs"] == 0 and stats["queued_runs"] == 0
    finally:
        server.stop()
