"""Space tests that run code need a working sandbox driver; skipped with the reason otherwise."""

from __future__ import annotations

import pytest

from qubithub_lite.sandbox import SandboxConfig, SandboxUnavailable, get_sandbox


@pytest.fixture(scope="session")
def sandbox_driver() -> str:
    """Name of the working driver, or skip saying why no sandbox can run here."""
    try:
        sandbox = get_sandbox(SandboxConfig(warm_pool_size=0, warm_preload=[]))
    except SandboxUnavailable as exc:
        pytest.skip(f"no working sandbox driver: {exc}")
    return sandbox.name
