"""Attacks a student could run from circuit.py or a space, each asserting the safe outcome.

Every test drives the real sandbox (bubblewrap or nsjail, real cgroups when writable) or the
real simulator workers; nothing of ours is mocked.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from qubithub_lite.sandbox import Sandbox, SandboxConfig, SandboxResult, SandboxUnavailable, get_sandbox

pytestmark = pytest.mark.sandbox

MIB = 1 << 20
GIB = 1 << 30
#: Small, fast defaults (the same spirit as tests/sandbox).
BASE = {"warm_pool_size": 1, "warm_preload": [], "timeout_seconds": 20}


def _box(data_dir: Path | None = None, **overrides) -> Sandbox:
    try:
        return get_sandbox(SandboxConfig(**{**BASE, **overrides}),
                           protected_paths=[data_dir] if data_dir else [])
    except SandboxUnavailable as exc:
        pytest.skip(f"no working sandbox driver: {exc}")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A fake server data dir: database, signing secret, config, another user's files."""
    secret = f"TOPSECRET-{os.urandom(8).hex()}"
    root = tmp_path / "qubithub-data"
    (root / "blobs" / "ab").mkdir(parents=True)
    (root / "qubithub.db").write_text(f"SQLite format 3 {secret}")
    (root / "secret.key").write_text(secret)
    (root / "qubithub-lite.toml").write_text(f'secret_key = "{secret}"\n')
    (root / "blobs" / "ab" / "other-users-file").write_text(f"private {secret}")
    return root


@pytest.fixture
async def sandbox(data_dir: Path) -> AsyncIterator[Sandbox]:
    box = _box(data_dir)
    try:
        yield box
    finally:
        await box.close()


async def execute(box: Sandbox, mode: str, code: str, limits=None, **kw) -> SandboxResult:
    if mode == "cold":
        return await box.run({}, ["python3", "-c", code], limits, **kw)
    return await box.run_python({}, code=code, limits=limits, **kw)


both_paths = pytest.mark.parametrize("mode", ["cold", "warm"])


def processes_with(token: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            if token.encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
                found.append(int(entry))
        except OSError:
            continue
    return found


# --- #10 point 8: /dev/shm and /dev ---------------------------------------------------

WRITE_MIB = (
    "import sys\npath, mib = sys.argv[1], int(sys.argv[2])\nwritten = 0\n"
    "try:\n"
    "    with open(path, 'wb') as f:\n"
    "        for _ in range(mib):\n"
    "            f.write(b'x' * (1 << 20)); f.flush(); written += 1\n"
    "except OSError as exc:\n    print('refused', exc.errno)\n"
    "print('written', written)\n"
)


@both_paths
async def test_dev_shm_fill_is_capped(sandbox: Sandbox, mode: str) -> None:
    """bwrap's --dev gave /dev/shm half the host's RAM: 384 MiB went there unaccounted."""
    limits = sandbox.limits(20)
    if mode == "cold":
        result = await sandbox.run({}, ["python3", "-c", WRITE_MIB, "/dev/shm/fill", "128"], limits)
    else:
        result = await sandbox.run_python({}, code=WRITE_MIB, args=["/dev/shm/fill", "128"], limits=limits)
    assert result.exit_code == 0, result.stderr_text
    assert "refused" in result.stdout_text
    written = int(result.stdout_text.split("written")[1])
    assert written * MIB <= sandbox.config.shm_bytes


async def test_dev_itself_is_read_only(sandbox: Sandbox) -> None:
    code = (
        "import os\n"
        "for path in ('/dev/fill', '/dev/pts/fill', '/dev/mqueue'):\n"
        "    try:\n        open(path, 'wb').write(b'x'); print('WROTE', path)\n"
        "    except OSError as exc:\n        print('refused', path)\n"
        "open('/dev/null', 'wb').write(b'fine')\nprint(len(open('/dev/urandom', 'rb').read(8)))\n"
    )
    result = await execute(sandbox, "warm", code)
    assert result.ok, result.stderr_text
    assert "WROTE" not in result.stdout_text and result.stdout_text.strip().endswith("8")


@both_paths
async def test_tmp_fill_is_capped(sandbox: Sandbox, mode: str) -> None:
    limits = sandbox.limits(20)
    argv = ["/tmp/fill", str(sandbox.config.tmp_bytes // MIB + 32)]
    if mode == "cold":
        result = await sandbox.run({}, ["python3", "-c", WRITE_MIB, *argv], limits)
    else:
        result = await sandbox.run_python({}, code=WRITE_MIB, args=argv, limits=limits)
    assert result.exit_code == 0, result.stderr_text
    assert "refused" in result.stdout_text
    assert int(result.stdout_text.split("written")[1]) * MIB <= sandbox.config.tmp_bytes


# --- #10 point 9: a job's memory, all processes together --------------------------------

HOG_CHILDREN = (
    "import os, sys, time\nmib = int(sys.argv[1])\npids = []\n"
    "for _ in range(4):\n"
    "    pid = os.fork()\n"
    "    if pid == 0:\n"
    "        block = bytearray(mib << 20)\n"
    "        for i in range(0, len(block), 4096):\n            block[i] = 1\n"
    "        time.sleep(3)\n        os._exit(0)\n"
    "    pids.append(pid)\n"
    "ok = all(os.waitpid(p, 0)[1] == 0 for p in pids)\n"
    "print('all held' if ok else 'some died')\n"
)


@both_paths
async def test_memory_across_child_processes_is_capped(data_dir: Path, mode: str) -> None:
    """4 children x 300 MiB (each far under RLIMIT_AS) passed before: 6 GiB across 4 was seen."""
    box = _box(data_dir, job_memory_bytes=512 * MIB)
    try:
        limits = box.limits(20)
        if not box.memory_cgroup:
            # No memory cgroup: the job may not have more than a few processes instead.
            assert limits.max_processes <= box.config.no_memory_cgroup_max_processes
            assert "NO memory cgroup" in box.memory_limit()
            pytest.skip("no writable memory cgroup here: the fallback is the process cap")
        if mode == "cold":
            result = await box.run({}, ["python3", "-c", HOG_CHILDREN, "300"], limits)
        else:
            result = await box.run_python({}, code=HOG_CHILDREN, args=["300"], limits=limits)
        assert "all held" not in result.stdout_text
        assert result.limit_hit == "memory", (result.exit_code, result.stdout_text, result.stderr_text)
        # the same job under the cap runs normally
        if mode == "cold":
            small = await box.run({}, ["python3", "-c", HOG_CHILDREN, "40"], limits)
        else:
            small = await box.run_python({}, code=HOG_CHILDREN, args=["40"], limits=limits)
        assert small.ok and "all held" in small.stdout_text, small.stderr_text
    finally:
        await box.close()


async def test_tmpfs_pages_count_in_the_job_memory(data_dir: Path) -> None:
    """/tmp and /dev/shm are RAM: what a job parks there counts in its memory cap."""
    box = _box(data_dir, job_memory_bytes=160 * MIB, tmp_bytes=128 * MIB, shm_bytes=64 * MIB)
    try:
        if not box.memory_cgroup:
            pytest.skip("no writable memory cgroup here")
        code = (
            "import os\n"
            "for path, mib in (('/tmp/a', 60), ('/tmp/b', 60), ('/dev/shm/c', 60)):\n"
            "    with open(path, 'wb') as f:\n"
            "        for _ in range(mib):\n            f.write(b'x' * (1 << 20))\n"
            "block = bytearray(100 << 20)\nfor i in range(0, len(block), 4096):\n    block[i] = 1\n"
            "print('held 280 MiB')\n"
        )
        result = await box.run_python({}, code=code, limits=box.limits(20))
        assert "held" not in result.stdout_text
        assert result.limit_hit == "memory", (result.exit_code, result.stderr_text)
    finally:
        await box.close()


def test_without_a_memory_cgroup_a_job_gets_few_processes(data_dir: Path) -> None:
    box = _box(data_dir, memory_cgroup="off", max_processes=64, no_memory_cgroup_max_processes=6)
    try:
        assert not box.memory_cgroup
        assert box.capped(box.limits()).max_processes == 6
        assert "NO memory cgroup" in box.memory_limit() and "6 processes" in box.memory_limit()
    finally:
        box.remove_work_root()


async def test_without_a_memory_cgroup_forks_beyond_the_cap_are_refused(data_dir: Path) -> None:
    box = _box(data_dir, memory_cgroup="off", no_memory_cgroup_max_processes=4)
    try:
        if box.cgroups is None and os.geteuid() == 0:
            pytest.skip("no pids cgroup")
        code = (
            "import os, time\nn = 0\n"
            "try:\n"
            "    for _ in range(50):\n"
            "        if os.fork() == 0:\n            time.sleep(30); os._exit(0)\n"
            "        n += 1\n"
            "except OSError:\n    pass\nprint('children', n)\n"
        )
        for mode in ("cold", "warm"):
            result = await execute(box, mode, code, box.limits(20))
            assert result.exit_code == 0, result.stderr_text
            assert int(result.stdout_text.split("children")[1]) < 4
    finally:
        await box.close()


# --- #10 point 10: the warm runner's protocol -----------------------------------------

FLOOD_ALL_FDS = (
    "import os\nline = sys_line = b'{\"done\": true, \"exit\": 0, \"kind\": \"memory\"}\\n'\n"
    "junk = b'x' * (300 * 1024)\nhit = []\n"
    "for fd in range(3, 1024):\n"
    "    try:\n"
    "        os.set_blocking(fd, False)\n"
    "        for data in (junk, line):\n            os.write(fd, data)\n"
    "        hit.append(fd)\n"
    "    except OSError:\n        pass\n"
    "print('flooded', hit)\n"
)


async def test_user_code_cannot_flood_or_forge_the_runner_status(sandbox: Sandbox) -> None:
    """Writing junk and a forged 'done' line to every descriptor once made execute a 500."""
    result = await sandbox.run_python({}, code=FLOOD_ALL_FDS)
    assert result.exit_code == 0, result.stderr_text
    assert result.limit_hit is None  # the forged "memory" verdict was not believed
    assert "flooded" in result.stdout_text


async def test_runner_status_survives_user_code_breaking_the_interpreter(sandbox: Sandbox) -> None:
    code = (
        "import json, os, sys, threading, atexit\n"
        "json.dumps = None\njson.loads = None\nos._exit = None\n"
        "threading._shutdown = lambda: None\n"
        "for fd in range(3, 256):\n"
        "    try:\n        os.close(fd)\n    except OSError:\n        pass\n"
        "sys.exit(7)\n"
    )
    result = await sandbox.run_python({}, code=code)
    assert result.exit_code == 7, result.stderr_text
    assert result.limit_hit is None


async def test_user_code_cannot_reach_the_runner_process(sandbox: Sandbox) -> None:
    """The supervising runner is not dumpable: no ptrace, no /proc/<pid>/fd/N, mem, environ."""
    code = (
        "import os, json\nparent = os.getppid()\nseen = {}\n"
        "for name in ['mem', 'environ', 'maps'] + [f'fd/{n}' for n in range(3, 64)]:\n"
        "    try:\n"
        "        path = f'/proc/{parent}/{name}'\n"
        "        with open(path, 'wb' if name.startswith('fd/') else 'rb') as f:\n"
        "            seen[name] = 'OPENED'\n"
        "    except FileNotFoundError:\n        pass\n"
        "    except OSError as exc:\n        seen[name] = type(exc).__name__\n"
        "try:\n"
        "    import ctypes\n"
        "    seen['ptrace'] = ctypes.CDLL(None).ptrace(16, parent, 0, 0)\n"  # PTRACE_ATTACH
        "except OSError as exc:\n    seen['ptrace'] = str(exc)\n"
        "print(json.dumps(seen))\n"
    )
    result = await sandbox.run_python({}, code=code)
    assert result.ok, result.stderr_text
    seen = json.loads(result.stdout)
    assert seen.pop("ptrace") == -1
    assert any(name.startswith("fd/") for name in seen), seen  # the status fd was there
    assert all(value == "PermissionError" for value in seen.values()), seen


async def test_killing_the_runner_fails_the_job_cleanly(sandbox: Sandbox) -> None:
    code = "import os, signal, time\nos.kill(os.getppid(), signal.SIGKILL)\ntime.sleep(2)\nprint('after')\n"
    result = await sandbox.run_python({}, code=code, limits=sandbox.limits(10))
    assert not result.ok
    assert result.limit_hit is None
    # the sandbox keeps working for the next job
    assert (await sandbox.run_python({}, code="print('next')")).stdout_text.strip() == "next"
