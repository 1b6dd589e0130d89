"""The example systemd unit: valid for systemd, hardened, and its hardening leaves the sandbox working."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[2] / "packaging" / "systemd" / "qubithub-lite.service"
#: Options that make bubblewrap fail (see the unit's comment): the unit must not set them.
BREAKS_BWRAP = ("RestrictNamespaces", "ProtectKernelTunables", "ProtectKernelLogs", "ProtectProc", "ProcSubset",
                "ProtectHostname", "PrivateUsers", "CapabilityBoundingSet", "SystemCallFilter", "ProtectControlGroups",
                "MemoryDenyWriteExecute")


def service() -> dict[str, str]:
    parser = configparser.ConfigParser(strict=False, interpolation=None, comment_prefixes=("#", ";"))
    parser.optionxform = str
    parser.read_string(UNIT.read_text())
    return dict(parser["Service"])


def test_unit_is_hardened_without_what_breaks_the_sandbox():
    svc = service()
    for key, value in {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
                       "KillMode": "mixed", "KillSignal": "SIGTERM", "User": "qubithub"}.items():
        assert svc.get(key) == value, key
    assert not [k for k in BREAKS_BWRAP if k in svc]
    assert "--data-dir /var/lib/qubithub" in svc["ExecStart"] and svc["ReadWritePaths"] == "/var/lib/qubithub"
    # The stop timeout covers the graceful drain (2 x the default shutdown_timeout of 10 s).
    assert int(svc["TimeoutStopSec"]) > 20


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_accepts_the_unit(tmp_path):
    binary = Path(sys.executable).with_name("qubithub-lite")
    unit = tmp_path / "qubithub-lite.service"
    unit.write_text(UNIT.read_text().replace("/opt/qubithub/venv/bin/qubithub-lite", str(binary)))
    out = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    problems = [line for line in (out.stdout + out.stderr).splitlines() if "qubithub-lite.service" in line]
    assert out.returncode == 0 and not problems, out.stdout + out.stderr


@pytest.mark.sandbox
@pytest.mark.skipif(shutil.which("setpriv") is None or shutil.which("bwrap") is None, reason="needs setpriv and bwrap")
def test_the_sandbox_runs_jobs_under_no_new_privileges():
    """NoNewPrivileges=yes is what the unit sets; a job must still run (bubblewrap without setuid)."""
    code = ("import asyncio\n"
            "from qubithub_lite.sandbox import SandboxConfig, get_sandbox\n"
            "sb = get_sandbox(SandboxConfig(driver='bwrap', warm_pool_size=0, warm_preload=[]))\n"
            "r = asyncio.run(sb.run({}, ['python3', '-c', 'print(6 * 7)']))\n"
            "print(r.exit_code, r.stdout.decode().strip(), r.stderr.decode()[-300:])\n")
    out = subprocess.run(["setpriv", "--no-new-privs", sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[:2] == ["0", "42"], out.stdout + out.stderr
