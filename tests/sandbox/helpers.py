"""Helpers the sandbox tests share (tests/sandbox and tests/security)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest

from qubithub_lite.sandbox import Sandbox, SandboxResult

#: Run a test once per execution path: ``cold`` (a new process) and ``warm`` (a pre-started interpreter).
both_paths = pytest.mark.parametrize("mode", ["cold", "warm"])


async def execute(sandbox: Sandbox, mode: str, code: str, limits=None, **kw) -> SandboxResult:
    """Run ``code`` cold (``run``: prlimit + python3) or warm (``run_python``)."""
    if mode == "cold":
        return await sandbox.run({}, ["python3", "-c", code], limits, **kw)
    return await sandbox.run_python({}, code=code, limits=limits, **kw)


@contextlib.asynccontextmanager
async def closing(box: Sandbox) -> AsyncIterator[Sandbox]:
    """``box``, closed (its warm interpreters and work root gone) when the block ends."""
    try:
        yield box
    finally:
        await box.close()
