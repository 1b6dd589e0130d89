"""Several real ``qubithub-lite serve`` processes on one PostgreSQL database and one data dir.

Everything here needs PostgreSQL (``QUBITHUB_LITE_TEST_DATABASE``, see tests/pg/start_postgres.sh);
without it the tests are skipped with that reason. Each server is a subprocess started by
:func:`tests.conftest.start_server`: the same data dir means the same database, the same blobs
and the same signing secret, so a token issued by one process is valid on every other.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.conftest import ON_POSTGRES, PASSWORD, start_server
from tests.pg import pgtest

NEEDS_PG = "several API processes share one database only on PostgreSQL (set QUBITHUB_LITE_TEST_DATABASE)"


def pytest_collection_modifyitems(config, items):
    if ON_POSTGRES:
        return
    for item in items:
        if "tests/multiproc/" in item.nodeid:
            item.add_marker(pytest.mark.skip(reason=NEEDS_PG))


def start_many(data_dir, count: int, env: dict[str, str] | None = None) -> list:
    """``count`` servers on ``data_dir``, started at the same moment (each waits for its own /health)."""
    pgtest.database_for(data_dir)  # create the (empty) database once, before they race on it
    with ThreadPoolExecutor(count) as pool:
        futures = [pool.submit(start_server, data_dir, env) for _ in range(count)]
        servers, errors = [], []
        for future in futures:
            try:
                servers.append(future.result())
            except Exception as exc:  # keep the others to stop them
                errors.append(exc)
    if errors:
        for server in servers:
            server.stop(9)
        raise errors[0]
    return servers


@pytest.fixture
def cluster(tmp_path):
    """A factory of servers on one data dir (and so one database); all stopped at the end."""
    started: list = []

    def make(count: int = 2, **env: str):
        servers = start_many(tmp_path / "shared-data", count, {k.upper(): v for k, v in env.items()} or None)
        started.extend(servers)
        return servers

    yield make
    for server in started:
        server.stop(9)


def login(api: str, username: str) -> dict[str, str]:
    resp = requests.post(f"{api}/auth/login", json={"identifier": username, "password": PASSWORD}, timeout=30)
    assert resp.status_code == 200, resp.text
    return {"Authorization": f"Bearer {resp.json()['access_token']}"}


def register(api: str, username: str) -> dict[str, str]:
    resp = requests.post(f"{api}/auth/register", json={"email": f"{username}@example.org", "username": username,
                                                        "password": PASSWORD, "name": username.title()}, timeout=30)
    assert resp.status_code == 201, resp.text
    return {"Authorization": f"Bearer {resp.json()['access_token']}"}


def upload(api: str, headers: dict, name: str, files: dict[str, str], qubits: int = 1) -> str:
    circuit = requests.post(f"{api}/circuits", json={"name": name, "title": name, "framework": "qiskit",
                                                     "qubits": qubits}, headers=headers, timeout=30)
    assert circuit.status_code == 201, circuit.text
    circuit_id = circuit.json()["id"]
    r = requests.post(f"{api}/circuits/{circuit_id}/upload-batch", headers=headers, timeout=60,
                      files=[("files", (path, text.encode())) for path, text in files.items()])
    assert r.status_code in (200, 201), r.text
    return circuit_id


def submit(api: str, headers: dict, circuit_id: str, **body) -> dict:
    resp = requests.post(f"{api}/runs", json={"circuit_id": circuit_id, **body}, headers=headers, timeout=30)
    assert resp.status_code == 201, resp.text
    return resp.json()


def wait_run(api: str, headers: dict, run_id: str, statuses=("completed", "failed", "cancelled"), timeout=180) -> dict:
    deadline = time.monotonic() + timeout
    run: dict = {}
    while time.monotonic() < deadline:
        run = requests.get(f"{api}/runs/{run_id}", headers=headers, timeout=30).json()
        if run.get("status") in statuses:
            return run
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} still {run.get('status')} after {timeout} s")


def row(data_dir, sql: str, params=()) -> tuple:
    rows = pgtest.rows(data_dir, sql, params)
    return rows[0] if rows else ()


def owner_pid(data_dir, run_id: str) -> int | None:
    """The pid in the lease owner of the run (``host:pid:random``), or None."""
    owner = row(data_dir, 'SELECT "lease_owner" FROM "run" WHERE "id" = ?', [run_id])
    return int(owner[0].split(":")[-2]) if owner and owner[0] else None


def audit_actions(data_dir, run_id: str) -> list[str]:
    return [a for (a,) in pgtest.rows(data_dir, 'SELECT "action" FROM "audit_log" WHERE "target_id" = ? '
                                                'ORDER BY "created_at", "id"', [run_id])]
