"""Fixtures for the sandbox suite: skipped, with the reason, where no driver works."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from qubithub_lite.sandbox import Sandbox, SandboxConfig, SandboxUnavailable, get_sandbox
from tests.processes import processes_with
from tests.sandbox.helpers import closing

#: Small, fast defaults for tests; individual tests tighten further.
TEST_CONFIG = {"warm_pool_size": 1, "warm_preload": [], "timeout_seconds": 20}


@pytest.fixture(scope="session")
def sandbox_available() -> str:
    """Name of the working driver, or skip the whole suite saying why."""
    try:
        sandbox = get_sandbox(SandboxConfig(**TEST_CONFIG))
    except SandboxUnavailable as exc:
        pytest.skip(f"no working sandbox driver: {exc}")
    sandbox.remove_work_root()
    return sandbox.name


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A fake server data dir holding a database, a signing secret and a config."""
    secret = f"TOPSECRET-{os.urandom(8).hex()}"
    root = tmp_path / "qubithub-data"
    root.mkdir()
    (root / "qubithub.db").write_text(f"SQLite format 3 {secret}")
    (root / "secret.key").write_text(secret)
    (root / "qubithub-lite.toml").write_text(f'secret_key = "{secret}"\n')
    for path in root.iterdir():
        path.chmod(0o600)
    return root


@pytest.fixture
async def sandbox(sandbox_available: str, data_dir: Path) -> AsyncIterator[Sandbox]:
    async with closing(get_sandbox(SandboxConfig(**TEST_CONFIG), protected_paths=[data_dir])) as box:
        yield box


@pytest.fixture
def test_config() -> dict:
    """Keyword arguments for a small, fast SandboxConfig."""
    return dict(TEST_CONFIG)


@pytest.fixture
def find_processes():
    """``find_processes(token)``: host pids whose command line contains ``token``."""
    return processes_with


