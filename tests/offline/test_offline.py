"""Offline: the whole flow inside a network namespace with only loopback, and not one attempt
to reach another host (every Python process of the server — API, simulator workers — records
its socket connects and name look-ups through an audit hook)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

HOOK = r'''
import os, sys
_log = os.environ.get("QH_NET_LOG")
_LOCAL = ("127.", "::1", "localhost", "0.0.0.0")

def _hook(event, args):
    if event == "socket.connect" or event == "socket.sendto":
        address = args[1]
    elif event == "socket.getaddrinfo":
        address = (args[0], args[1])
    else:
        return
    if isinstance(address, tuple) and address:
        host = str(address[0])
    elif isinstance(address, (str, bytes)):  # a Unix socket path
        return
    else:
        host = str(address)
    if not host or host.startswith(_LOCAL) or host in ("localhost", "ip6-localhost"):
        return
    with open(_log, "a") as fh:
        fh.write(f"{os.getpid()} {event} {address!r} {' '.join(sys.argv)[:200]}\n")

if _log:
    sys.addaudithook(_hook)
'''


def _netns_works() -> str | None:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "unshare and ip (util-linux, iproute2) are needed"
    probe = subprocess.run(["unshare", "-n", "sh", "-c", "ip link set lo up"], capture_output=True, text=True)
    return None if probe.returncode == 0 else f"cannot make a network namespace here: {probe.stderr.strip()}"


@pytest.mark.sandbox
def test_the_whole_flow_works_with_no_network_and_reaches_no_other_host(tmp_path):
    reason = _netns_works()
    if reason:
        pytest.skip(reason)
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(HOOK)
    log = tmp_path / "net.log"
    log.touch()
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUBITHUB_LITE_")}
    proc = subprocess.run(
        ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$0" -m tests.offline._flow "$1" "$2" "$3"',
         sys.executable, str(tmp_path / "data"), str(hook), str(log)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert all(status == "completed" for status, _ in summary["runs"].values()), summary["runs"]
    assert len(summary["runs"]) == 6
    assert summary["space"] == ["success", "2"] and summary["preview_rows"] == 2
    attempts = log.read_text()
    assert attempts == "", f"tried to reach another host:\n{attempts}"

    # The control: the same hook does record an attempt (made inside the namespace, where it
    # fails at once with "network unreachable" and nothing leaves the machine).
    control = subprocess.run(
        ["unshare", "-n", sys.executable, "-c",
         "import socket\ns = socket.socket()\ntry:\n    s.connect(('192.0.2.1', 9))\nexcept OSError:\n    pass"],
        env={**env, "PYTHONPATH": str(hook), "QH_NET_LOG": str(log)}, capture_output=True, text=True, timeout=60,
    )
    assert control.returncode == 0, control.stderr
    assert "192.0.2.1" in log.read_text()
