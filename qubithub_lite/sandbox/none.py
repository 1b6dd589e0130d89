"""The ``none`` driver: NO isolation. Only for a trusted single-user machine."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

from .base import Sandbox

logger = logging.getLogger(__name__)


class NoSandbox(Sandbox):
    """Runs jobs as plain child processes of the server, in their own session and work
    dir, with the same rlimits, wall clock, output caps and (if available) pids cgroup —
    but with the server's network, filesystem and user. Never chosen automatically."""

    name = "none"
    isolated = False

    def preflight(self) -> None:
        logger.warning(
            "SANDBOX DISABLED: [sandbox] driver = \"none\" runs untrusted user code directly "
            "on this host with the server's permissions (network, files, secrets). Use it "
            "only on a trusted single-user machine."
        )

    def workdir_inside(self, workdir: Path) -> str:
        return str(workdir)

    def process_limit(self) -> str:
        return super().process_limit() + " — no pid namespace, no isolation"

    def wrap(self, workdir: Path, command: Sequence[str], env: Mapping[str, str],
             pass_fds: Sequence[int]) -> list[str]:
        return list(command)
