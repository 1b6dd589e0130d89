"""Fixtures of the attack suite: a real server process on a real TCP port, a user, and
``watch_attack`` (run an attack while probing ``/health`` and sampling the server's memory).

Each report's one-line summary is printed at the end of the run (``-rA`` not needed), and
appended to the file named by ``QUBITHUB_SECURITY_FIGURES`` when that is set.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.conftest import PASSWORD, free_port, server_env, wait_healthy
from tests.pg import pgtest

from .latency import AttackReport, watch


@dataclass
class Server:
    url: str
    pid: int
    process: subprocess.Popen
    data_dir: Path
    log: Path


def _start(data_dir: Path, extra_env: dict[str, str] | None = None) -> Server:
    port = free_port()
    # PostgreSQL: the data dir's database
    env = server_env(extra_env, database_url=pgtest.database_for(data_dir) if pgtest.TEST_DATABASE else None)
    data_dir.mkdir(parents=True, exist_ok=True)
    log = data_dir.parent / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "qubithub_lite", "serve", "--port", str(port), "--data-dir", str(data_dir)],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url, proc, 90, lambda: log.read_text(errors="replace"))
    return Server(url, proc.pid, proc, data_dir, log)


def _stop(server: Server) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


@pytest.fixture
def server(tmp_path_factory):
    """A fresh real server process per test (``qubithub-lite serve`` on a free port), so one
    attack's heap does not hide the next one's growth."""
    srv = _start(tmp_path_factory.mktemp("security-server") / "data")
    yield srv
    _stop(srv)


@dataclass
class User:
    username: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


_users = iter(range(1, 1 << 30))


@pytest.fixture
def user(server) -> User:
    name = f"student{next(_users)}"
    resp = requests.post(f"{server.url}/auth/register", json={
        "email": f"{name}@school.lan", "username": name, "password": PASSWORD, "name": name.title()}, timeout=30)
    assert resp.status_code == 201, resp.text
    return User(name, resp.json()["access_token"])


@pytest.fixture
def watch_attack(server, request):
    """``watch_attack(attack, name=...)`` -> :class:`AttackReport` (printed at the end of the run)."""

    def run(attack, *, name: str | None = None, **kwargs) -> AttackReport:
        report = watch(server.url, server.pid, attack, name=name or request.node.name, **kwargs)
        # printed at the end by tests/conftest.py (through the test report, which also
        # reaches pytest-xdist's controller process)
        request.node.user_properties.append(("attack_report", report.summary()))
        figures = os.environ.get("QUBITHUB_SECURITY_FIGURES")
        if figures:
            with open(figures, "a", encoding="utf-8") as fh:
                fh.write(report.summary() + "\n")
        return report

    return run


