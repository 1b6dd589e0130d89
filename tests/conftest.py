"""Shared fixtures: a real app on a real SQLite file in a temp dir."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Callable

import pytest

from qubithub_lite.app import create_app
from qubithub_lite.config import Settings, load_settings

PASSWORD = "Qu4ntum!Leap#42"
_counter = itertools.count(1)

# QUBITHUB_LITE_TEST_DATABASE=postgresql://user:pass@host:port/db runs the suite on PostgreSQL
# (tests/pg/start_postgres.sh starts a throw-away server): each test's settings and live
# servers get a fresh database on that server, named after the test's data dir (so a
# restarted server finds its data), dropped after the test.
from tests.pg import pgtest  # noqa: E402

TEST_DATABASE = pgtest.TEST_DATABASE
ON_POSTGRES = TEST_DATABASE is not None


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's, which reads the xdist_group marks
def pytest_collection_modifyitems(config, items):
    for item in items:
        if "watch_attack" in getattr(item, "fixturenames", ()):
            # the attack suite's latency probes: one attack at a time (--dist loadgroup), so two
            # attacks never starve each other's /health probes
            item.add_marker(pytest.mark.xdist_group("latency"))
        mark = item.get_closest_marker("sqlite_only" if ON_POSTGRES else "postgres_only")
        if mark is not None:
            reason = mark.kwargs.get("reason") or (mark.args[0] if mark.args else "")
            where = "SQLite" if ON_POSTGRES else "PostgreSQL (QUBITHUB_LITE_TEST_DATABASE)"
            item.add_marker(pytest.mark.skip(reason=f"only on {where}: {reason}"))


def pytest_sessionfinish(session):
    if ON_POSTGRES:
        pgtest.drop_template()


#: one-line attack summaries of tests/security (``watch_attack``), from each test's report:
#: under pytest-xdist the reports reach the controller, which prints them.
_ATTACK_REPORTS: list[str] = []


def pytest_runtest_logreport(report):
    if report.when == "call":
        _ATTACK_REPORTS.extend(value for key, value in report.user_properties if key == "attack_report")


def pytest_terminal_summary(terminalreporter):
    if _ATTACK_REPORTS:
        terminalreporter.section("attacks: /health latency and server memory")
        for line in _ATTACK_REPORTS:
            terminalreporter.write_line(line)


@pytest.fixture(autouse=True)
def _fresh_test_databases():
    """On PostgreSQL: drop the databases this test created."""
    if not ON_POSTGRES:
        yield
        return
    mark = pgtest.created_mark()
    yield
    pgtest.drop_created_since(mark)


def make_settings(tmp_path, **sections: dict[str, Any]) -> Settings:
    overrides: dict[str, dict[str, Any]] = {
        "server": {"data_dir": tmp_path / "data"},
        "auth": {"bcrypt_rounds": 4},
        "rate_limits": {"enabled": False},
        "logging": {"level": "warning"},
        # Keep idle apps cheap: tests that need warm workers/interpreters opt in.
        "runs": {"prestart_workers": False},
        "sandbox": {"warm_pool_size": 0},
    }
    if ON_POSTGRES:
        data_dir = sections.get("server", {}).get("data_dir", tmp_path / "data")
        overrides["database"] = {"url": pgtest.database_for(data_dir)}
    for section, values in sections.items():
        overrides.setdefault(section, {}).update(values)
    return load_settings(None, overrides, environ={})


@pytest.fixture
def settings(tmp_path) -> Settings:
    """Override in a test module (or parametrize) to change settings."""
    return make_settings(tmp_path)


@pytest.fixture
async def client(aiohttp_client, settings):
    return await aiohttp_client(create_app(settings))


@pytest.fixture
def hub(client):
    from qubithub_lite.api.routing import HUB_KEY

    return client.app[HUB_KEY]


@dataclass
class TestUser:
    id: str
    username: str
    email: str
    access_token: str
    refresh_token: str
    password: str = PASSWORD
    data: dict = field(default_factory=dict)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


async def register(client, username: str | None = None, **extra: Any) -> TestUser:
    username = username or f"user{next(_counter)}"
    body = {"email": f"{username}@example.org", "username": username, "password": PASSWORD, "name": username.title()}
    body.update(extra)
    resp = await client.post("/auth/register", json=body)
    assert resp.status == 201, await resp.text()
    data = await resp.json()
    return TestUser(data["user"]["id"], username, body["email"], data["access_token"], data["refresh_token"], data=data)


@pytest.fixture
def make_user(client):
    async def factory(username: str | None = None, **extra: Any) -> TestUser:
        return await register(client, username, **extra)

    return factory


@pytest.fixture
async def alice(make_user) -> TestUser:
    return await make_user("alice")


@pytest.fixture
async def bob(make_user) -> TestUser:
    return await make_user("bob")


# A real server process (for the official client and restart tests) -------------------
import os
import shlex
import socket
import subprocess
import sys
import time
import urllib.request


#: The qubithub-lite command that live-server tests start: ``python -m qubithub_lite``, or
#: e.g. the one-file binary (packaging/ci-binary.sh sets it to dist/qubithub-lite).
CLI_CMD = shlex.split(os.environ.get("QUBITHUB_LITE_TEST_SERVER_CMD", "")) or [sys.executable, "-m", "qubithub_lite"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LiveServer:
    url: str
    data_dir: Any
    process: subprocess.Popen
    env: dict

    @property
    def api(self) -> str:
        return self.url + "/api"

    def stop(self, sig: int = 15) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def server_env(extra_env: dict[str, str] | None = None, *, database_url: str | None = None) -> dict[str, str]:
    """The environment of a server process a test starts: none of the caller's QUBITHUB_LITE_*
    settings; fast password hashing, no rate limits, quiet logs, no prestarted workers or warm
    sandboxes; then ``database_url`` and ``extra_env``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUBITHUB_LITE_")}
    env.update({
        "QUBITHUB_LITE_AUTH_BCRYPT_ROUNDS": "4",
        "QUBITHUB_LITE_RATE_LIMITS_ENABLED": "false",
        "QUBITHUB_LITE_LOGGING_LEVEL": "warning",
        "QUBITHUB_LITE_RUNS_PRESTART_WORKERS": "false",
        "QUBITHUB_LITE_SANDBOX_WARM_POOL_SIZE": "0",
    })
    if database_url:
        env["QUBITHUB_LITE_DATABASE_URL"] = database_url
    env.update(extra_env or {})
    return env


def start_server(data_dir, extra_env: dict[str, str] | None = None, port: int | None = None) -> LiveServer:
    port = port or free_port()
    env = server_env(extra_env, database_url=pgtest.database_for(data_dir) if ON_POSTGRES else None)
    proc = subprocess.Popen(
        [*CLI_CMD, "serve", "--port", str(port), "--data-dir", str(data_dir)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url, proc, 60, lambda: proc.stdout.read().decode(errors="replace"))
    return LiveServer(url, data_dir, proc, env)


def wait_healthy(url: str, proc: subprocess.Popen, seconds: float, output: Callable[[], str]) -> None:
    """Return once the server process at ``url`` answers ``/health``; RuntimeError with its
    ``output()`` if it exits first, or (killed) if it does not answer within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {output()}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"server did not start within {seconds:g} s")


@pytest.fixture
def live_server(tmp_path):
    server = start_server(tmp_path / "live-data")
    yield server
    server.stop()
