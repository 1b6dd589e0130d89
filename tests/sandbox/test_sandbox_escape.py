"""Escape regression suite: every test is a real attack that must keep failing."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from qubithub_lite.sandbox import Sandbox, SandboxResult
from tests.sandbox.helpers import both_paths, execute

pytestmark = pytest.mark.sandbox

GIB = 1 << 30


def host_addresses() -> list[str]:
    addresses = {"127.0.0.1"}
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            addresses.add(info[4][0])
    except OSError:
        pass
    return sorted(addresses)


async def test_cannot_open_tcp_connection_to_host_listener(sandbox: Sandbox) -> None:
    accepted = []
    server = await asyncio.start_server(
        lambda r, w: (accepted.append(1), w.close()), "0.0.0.0", 0
    )
    port = server.sockets[0].getsockname()[1]
    # prove the listener is reachable from the host itself
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.close()
    await asyncio.sleep(0.05)
    assert accepted == [1]
    code = (
        "import socket, json, sys\nresults = {}\n"
        f"for host in {host_addresses()!r}:\n"
        "    try:\n"
        f"        socket.create_connection((host, {port}), timeout=3).close()\n"
        "        results[host] = 'CONNECTED'\n"
        "    except OSError as exc:\n"
        "        results[host] = type(exc).__name__\n"
        "print(json.dumps(results))\n"
    )
    try:
        result = await execute(sandbox, "warm", code)
    finally:
        server.close()
        await server.wait_closed()
    assert result.ok, result.stderr_text
    outcomes = json.loads(result.stdout)
    assert outcomes and "CONNECTED" not in outcomes.values()
    assert accepted == [1]


async def test_cannot_resolve_host_names(sandbox: Sandbox) -> None:
    code = (
        "import socket\nfor name in ('example.com', 'pypi.org'):\n"
        "    try:\n        print(name, socket.getaddrinfo(name, 443))\n"
        "    except socket.gaierror as exc:\n        print('gaierror', exc.errno)\n"
    )
    result = await execute(sandbox, "cold", code)
    assert result.ok, result.stderr_text
    assert result.stdout_text.count("gaierror") == 2


async def test_cannot_read_server_secrets(sandbox: Sandbox, data_dir: Path) -> None:
    secret = (data_dir / "secret.key").read_text()
    os.environ["QUBITHUB_LITE_SECRET_KEY"] = secret
    targets = [str(p) for p in sorted(data_dir.iterdir())] + [
        f"/proc/{os.getpid()}/environ",
        f"/proc/{os.getppid()}/environ",
        "/proc/1/environ",
        "/proc/self/environ",
        str(Path(sys.prefix).parent.parent / "version"),  # pyenv root file outside the prefix
        "/etc/shadow",
    ]
    code = (
        "import os, json\nseen = {}\n"
        f"for path in {targets!r}:\n"
        "    try:\n        seen[path] = open(path, 'rb').read().decode('latin-1')\n"
        "    except OSError as exc:\n        seen[path] = type(exc).__name__\n"
        "seen['env'] = dict(os.environ)\n"
        "found = []\n"
        "for root, dirs, files in os.walk('/'):\n"
        "    dirs[:] = [d for d in dirs if os.path.join(root, d) not in ('/proc', '/usr', '/sys')]\n"
        "    found += [os.path.join(root, f) for f in files if f in ('secret.key', 'qubithub.db')]\n"
        "seen['found'] = found\nprint(json.dumps(seen))\n"
    )
    try:
        cold = await execute(sandbox, "cold", code)
        warm = await execute(sandbox, "warm", code)
    finally:
        del os.environ["QUBITHUB_LITE_SECRET_KEY"]
    for result in (cold, warm):
        assert result.ok, result.stderr_text
        assert secret not in result.stdout_text
        seen = json.loads(result.stdout)
        assert seen["found"] == []
        for path in targets[:3]:  # data dir files: invisible, not merely unreadable
            assert seen[path] == "FileNotFoundError"
        assert seen[f"/proc/{os.getpid()}/environ"] in ("FileNotFoundError", "PermissionError")
        assert "QUBITHUB_LITE_SECRET_KEY" not in seen["env"]


async def test_cannot_write_outside_the_work_dir(sandbox: Sandbox, tmp_path: Path) -> None:
    marker = f"escape-{uuid.uuid4().hex}"
    host_target = tmp_path / marker
    targets = [
        str(host_target),
        f"/usr/{marker}",
        f"/etc/{marker}",
        f"/{marker}",
        f"{sys.prefix}/{marker}",
        f"{sys.prefix}/lib/python3.11/site-packages/{marker}.pth",
    ]
    code = (
        "import json\nres = {}\n"
        f"for path in {targets!r}:\n"
        "    try:\n        open(path, 'w').write('x'); res[path] = 'WROTE'\n"
        "    except OSError as exc:\n        res[path] = type(exc).__name__\n"
        f"open('/tmp/{marker}', 'w').write('scratch')\n"
        "print(json.dumps(res))\n"
    )
    result = await execute(sandbox, "warm", code)
    assert result.ok, result.stderr_text
    assert "WROTE" not in json.loads(result.stdout).values()
    for path in targets + [f"/tmp/{marker}"]:
        assert not Path(path).exists(), path
    assert not host_target.exists()


async def test_fork_bomb_dies_without_hurting_the_host(sandbox: Sandbox, find_processes) -> None:
    token = f"forkbomb-{uuid.uuid4().hex}"
    code = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    limits = sandbox.limits(timeout=3).with_(max_processes=32)
    started = time.monotonic()
    result = await sandbox.run({}, ["python3", "-c", code, token], limits)
    assert time.monotonic() - started < 15
    assert result.limit_hit in ("processes", "wall")
    assert find_processes(token) == []
    assert subprocess.run(["true"], check=False).returncode == 0  # the host can still fork


async def test_fork_loop_is_capped(sandbox: Sandbox, find_processes) -> None:
    token = f"forkloop-{uuid.uuid4().hex}"
    code = (
        "import os, time, sys\nn = 0\n"
        "try:\n"
        "    for _ in range(500):\n"
        "        if os.fork() == 0:\n            time.sleep(60); os._exit(0)\n"
        "        n += 1\n"
        "except OSError as exc:\n    print('refused', type(exc).__name__)\n"
        "print('children', n)\n"
    )
    limits = sandbox.limits(timeout=20).with_(max_processes=16)
    result = await sandbox.run({}, ["python3", "-c", code, token], limits)
    assert result.exit_code == 0, result.stderr_text
    assert "refused BlockingIOError" in result.stdout_text
    children = int(result.stdout_text.split("children")[1])
    assert 0 < children < 16
    if "cgroup" in sandbox.process_limit():
        assert result.limit_hit == "processes"
    assert find_processes(token) == []  # the sleeping children died with the job


@both_paths
async def test_allocating_8_gib_fails(sandbox: Sandbox, mode: str) -> None:
    result = await execute(sandbox, mode, f"buf = bytearray({8 * GIB})\nprint('allocated')")
    assert b"allocated" not in result.stdout
    assert result.exit_code != 0
    assert result.limit_hit == "memory"


@both_paths
async def test_printing_100_mb_is_capped_and_stopped(sandbox: Sandbox, mode: str) -> None:
    code = "import sys\nchunk = 'x' * (1 << 20)\nfor _ in range(100):\n    sys.stdout.write(chunk)\n"
    started = time.monotonic()
    result = await execute(sandbox, mode, code)
    assert len(result.stdout) == sandbox.limits().stdout_bytes
    assert result.stdout_truncated and not result.stderr_truncated
    assert result.limit_hit == "output"
    assert time.monotonic() - started < 10


@both_paths
async def test_writing_a_1_gib_file_fails(sandbox: Sandbox, mode: str) -> None:
    limits = sandbox.limits().with_(max_file_bytes=8 << 20)
    code = (
        "chunk = b'x' * (1 << 20)\n"
        "with open('big.bin', 'wb') as f:\n"
        "    for _ in range(1024):\n        f.write(chunk); f.flush()\n"
    )
    result = await execute(sandbox, mode, code, limits)
    assert result.exit_code != 0
    assert result.limit_hit == "file_size"
    check = await execute(
        sandbox, mode,
        "import os\ntry:\n    open('f', 'wb').write(b'x' * (16 << 20))\n"
        "except OSError as e:\n    print(e.errno)\nprint(os.path.getsize('f'))",
        limits,
    )
    errno_line, size_line = check.stdout_text.split()
    assert int(errno_line) == 27 and int(size_line) <= 8 << 20  # EFBIG, capped file


@both_paths
async def test_sleeping_past_the_wall_limit_is_killed(sandbox: Sandbox, mode: str) -> None:
    result = await execute(sandbox, mode, "import time\ntime.sleep(60)", sandbox.limits(timeout=1))
    assert result.limit_hit == "wall"
    assert 1 <= result.wall_time < 5
    assert result.exit_code != 0


@both_paths
async def test_busy_loop_hits_the_cpu_limit(sandbox: Sandbox, mode: str) -> None:
    limits = sandbox.limits(timeout=20).with_(cpu_seconds=1)
    result = await execute(sandbox, mode, "while True:\n    pass", limits)
    assert result.limit_hit == "cpu"
    # Killed by the CPU limit, before the 20 s wall limit (under load 1 CPU second can take
    # several seconds of wall time, so the bound is the wall limit, not a guess of the load).
    assert result.wall_time < 20


async def test_symlinked_outputs_are_not_followed(sandbox: Sandbox, data_dir: Path) -> None:
    code = (
        "import os\n"
        "os.symlink('/etc/shadow', 'shadow.txt')\n"
        f"os.symlink({str(data_dir / 'secret.key')!r}, 'secret.txt')\n"
        "os.symlink('/etc', 'etcdir')\n"
        "os.mkfifo('pipe')\n"
        "open('real.txt', 'w').write('fine')\n"
    )
    outputs = ["shadow.txt", "secret.txt", "etcdir/passwd", "pipe", "real.txt"]
    result = await execute(sandbox, "warm", code, outputs=outputs)
    assert result.ok, result.stderr_text
    assert result.files == {"real.txt": b"fine"}
    assert result.file_errors["shadow.txt"] == "is a symlink (not followed)"
    assert result.file_errors["secret.txt"] == "is a symlink (not followed)"
    assert result.file_errors["etcdir/passwd"] == "is a symlink (not followed)"
    assert result.file_errors["pipe"] == "not a regular file"


@both_paths
async def test_child_ignoring_sigterm_is_gone_after_the_run(
    sandbox: Sandbox, mode: str, find_processes
) -> None:
    token = f"stubborn-{uuid.uuid4().hex}"
    child = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
        " open('started', 'w').close(); time.sleep(120)"
    )
    code = (
        "import subprocess, sys, os, time\n"
        f"subprocess.Popen([sys.executable, '-c', {child!r}, {token!r}], start_new_session=True)\n"
        "while not os.path.exists('started'):\n    time.sleep(0.01)\n"
        "print('child started')\n"
    )
    result = await execute(sandbox, mode, code)
    assert result.ok, result.stderr_text
    assert result.stdout == b"child started\n"
    assert find_processes(token) == []


async def test_concurrent_jobs_cannot_see_each_other(sandbox: Sandbox) -> None:
    marker = f"private-{uuid.uuid4().hex}"
    writer_code = (
        "import time, os\n"
        f"open({marker!r}, 'w').write('mine')\n"
        "print(time.time(), os.path.realpath('.'))\ntime.sleep(3)\nprint(time.time())\n"
    )
    work_root = str(sandbox._work_root)
    reader_code = (
        "import os, time, json\nfound = []\n"
        "for root, dirs, files in os.walk('/'):\n"
        "    dirs[:] = [d for d in dirs if os.path.join(root, d) not in ('/proc', '/usr', '/sys')]\n"
        f"    found += [os.path.join(root, f) for f in files if f == {marker!r}]\n"
        "try:\n"
        f"    listing = os.listdir({work_root!r})\n"
        "except OSError as exc:\n    listing = type(exc).__name__\n"
        "print(json.dumps({'t': time.time(), 'found': found, 'listing': listing}))\n"
    )

    async def reader_later() -> SandboxResult:
        await asyncio.sleep(1.0)
        return await sandbox.run({}, ["python3", "-c", reader_code])

    writer, reader = await asyncio.gather(
        execute(sandbox, "cold", writer_code, sandbox.limits(timeout=20)), reader_later()
    )
    assert writer.ok and reader.ok, (writer.stderr_text, reader.stderr_text)
    start, end = float(writer.stdout_text.split()[0]), float(writer.stdout_text.split()[-1])
    seen = json.loads(reader.stdout)
    assert start < seen["t"] < end  # both jobs really ran at the same time
    assert seen["found"] == []
    assert seen["listing"] == "FileNotFoundError"
