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

from qubithub_lite.sandbox import Sandbox, SandboxConfig, SandboxUnavailable, get_sandbox
from tests.processes import processes_with
from tests.sandbox.helpers import both_paths, closing, execute

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
    async with closing(_box(data_dir)) as box:
        yield box


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
    "import os\nline = b'{\"done\": true, \"exit\": 0, \"kind\": \"memory\"}\\n'\n"
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


# --- #10 point 11: the simulator workers ----------------------------------------------

def _descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (host view)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                children = Path(f"/proc/{current}/task/{task}/children").read_text().split()
                todo += [int(c) for c in children]
        except OSError:
            continue
    return found


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


@pytest.fixture
def server_secret_env(monkeypatch) -> str:
    """A secret in the server's environment (as a deployment's credentials would be)."""
    marker = f"SERVER-SECRET-{uuid.uuid4().hex}"
    monkeypatch.setenv("QH_TEST_SERVER_SECRET", marker)
    monkeypatch.setenv("QUBITHUB_LITE_TEST_ONLY_SECRET", marker)
    return marker


async def test_simulator_workers_run_sandboxed(server_secret_env, client, hub, alice, settings) -> None:
    """The workers parse artifacts made by untrusted circuit.py: they had the server's
    user, environment, files and network. Look at the real worker processes from outside."""
    from tests.runs.helpers import BELL, make_circuit, submit, wait_run

    circuit = await make_circuit(client, alice, "bell", {"circuit.py": BELL})
    run = await wait_run(client, alice, (await submit(client, alice, circuit["id"]))["id"])
    assert run["status"] == "completed", run
    executor = hub.run_queue.executor
    assert executor.stats()["isolated"] is True
    workers = [pid for top in executor.stats()["worker_pids"] for pid in _descendants(top)
               if _cmdline(pid).split(b"\0")[1:3] == [b"-m", b"qubithub_lite.jobs.simworker"]]
    assert workers, "no simulator worker process found"
    own_net = os.readlink("/proc/self/ns/net")
    data_dir = Path(settings.data_dir).resolve()
    for pid in workers:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
        assert server_secret_env.encode() not in environ
        assert b"QUBITHUB_LITE_" not in environ
        assert os.readlink(f"/proc/{pid}/ns/net") != own_net  # no network of the host
        assert os.readlink(f"/proc/{pid}/ns/pid") != os.readlink("/proc/self/ns/pid")
        root = Path(f"/proc/{pid}/root")
        assert not (root / str(data_dir).lstrip("/")).exists()  # no data dir, db or secret
        assert not (root / str(settings.secret_file).lstrip("/")).exists()
        assert (root / "usr").exists()  # (the view into its root works)


async def test_worker_doctor_check_looks_inside(data_dir: Path, tmp_path: Path) -> None:
    from qubithub_lite.jobs.workers import probe_workers
    from tests.conftest import make_settings

    settings = make_settings(tmp_path)
    box = _box(data_dir)
    try:
        ok, text = await probe_workers(settings, box)
        assert ok, text
        assert "sandbox" in text and "no network" in text
        ok, text = await probe_workers(settings, None, "bwrap missing")
        assert ok and "NOT sandboxed" in text and "bwrap missing" in text
    finally:
        await box.close()


EVIL_WORKER = r'''
import os, pickle, struct, sys
out = os.fdopen(1, "wb")
def frame(payload):
    out.write(struct.pack(">I", len(payload)) + payload); out.flush()
frame(pickle.dumps({"op": "ready", "pid": os.getpid(), "preload_ms": 0}))
sys.stdin.buffer.read(4)
mode = sys.argv[1]
class Evil:
    def __reduce__(self):
        return (os.system, ("touch " + sys.argv[2],))
if mode == "pickle":
    frame(pickle.dumps({"op": "result", "status": "completed", "results": Evil()}))
else:
    out.write(struct.pack(">I", 0xFFFFFFF0)); out.flush()
sys.stdin.buffer.read()
'''


class _EvilLauncher:
    """Starts a compromised 'worker' (a real process) instead of simworker."""

    isolated = False

    def __init__(self, mode: str, marker: Path) -> None:
        self.mode, self.marker = mode, marker

    async def launch(self, args):
        from qubithub_lite.jobs.workers import LaunchedWorker

        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", EVIL_WORKER, self.mode, str(self.marker),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, start_new_session=True)
        return LaunchedWorker(proc)

    def describe(self) -> str:
        return "evil"

    async def close(self) -> None:
        pass


@pytest.mark.parametrize("mode", ["pickle", "huge"])
async def test_a_compromised_worker_cannot_attack_the_server(tmp_path: Path, mode: str) -> None:
    """A worker that a parser exploit took over sends a pickle that would run code in the
    server, or announces a 4 GiB reply: the task fails, nothing runs, nothing is allocated."""
    from qubithub_lite.jobs.executor import LocalProcessExecutor, SimTask

    marker = tmp_path / "pwned"
    executor = LocalProcessExecutor(workers=1, launcher=_EvilLauncher(mode, marker), start_timeout=30)
    await executor.start()
    try:
        result = await asyncio.wait_for(executor.submit(SimTask("t1", "qiskit_aer", b"x", "qpy")), 30)
    finally:
        await executor.close()
    assert result.status == "failed" and result.error_class == "internal_error", result
    assert not marker.exists()


# --- the rest of the attack suite -------------------------------------------------------

@both_paths
async def test_fork_bomb_is_contained(sandbox: Sandbox, mode: str) -> None:
    token = f"bomb-{uuid.uuid4().hex}"
    code = (
        "import os, sys\n"
        "while True:\n"
        "    try:\n        os.fork()\n"
        "    except OSError:\n        pass\n"
    )
    limits = sandbox.limits(3).with_(max_processes=24)
    if mode == "cold":
        result = await sandbox.run({}, ["python3", "-c", code, token], limits)
    else:
        result = await sandbox.run_python({}, code=code, args=[token], limits=limits)
    assert result.limit_hit in ("processes", "wall")
    assert processes_with(token) == []
    assert subprocess.run(["true"], check=False).returncode == 0  # the host still forks


@both_paths
async def test_server_files_and_other_users_files_are_invisible(sandbox: Sandbox, data_dir: Path, mode: str) -> None:
    secret = (data_dir / "secret.key").read_text()
    targets = [str(p) for p in sorted(data_dir.rglob("*")) if p.is_file()] + [
        str(data_dir), f"/proc/{os.getpid()}/environ", f"/proc/{os.getpid()}/cmdline",
        f"/proc/{os.getpid()}/root/{data_dir}", "/sys/fs/cgroup", "/etc/shadow",
    ]
    code = (
        "import os, json, sys\nseen = {}\n"
        "for path in sys.argv[1:]:\n"
        "    try:\n"
        "        seen[path] = os.listdir(path) if os.path.isdir(path) else open(path, 'rb').read().decode('latin-1')\n"
        "    except OSError as exc:\n        seen[path] = type(exc).__name__\n"
        "print(json.dumps(seen))\n"
    )
    if mode == "cold":
        result = await sandbox.run({}, ["python3", "-c", code, *targets])
    else:
        result = await sandbox.run_python({}, code=code, args=targets)
    assert result.ok, result.stderr_text
    assert secret not in result.stdout_text
    seen = json.loads(result.stdout)
    for path in targets:
        assert seen[path] in ("FileNotFoundError", "PermissionError"), (path, seen[path])


async def test_another_jobs_work_dir_is_invisible(sandbox: Sandbox) -> None:
    marker = f"job-a-{uuid.uuid4().hex}"
    job_a = asyncio.ensure_future(sandbox.run_python(
        {"mine.txt": marker.encode()}, code="import time\ntime.sleep(4)\n", limits=sandbox.limits(10)))
    await asyncio.sleep(1.0)
    work_root = str(sandbox._work_root)
    code = (
        "import os, sys\nfound = [sys.argv[1]] if os.path.exists(sys.argv[1]) else []\n"
        "for root in ('/job', '/tmp', '/dev/shm', '/run', '/var', '/home', '/mnt', '/srv'):\n"
        "    for top, dirs, files in os.walk(root):\n"
        "        for name in files:\n"
        "            try:\n"
        "                if sys.argv[2] in open(os.path.join(top, name), errors='ignore').read(4096):\n"
        "                    found.append(os.path.join(top, name))\n"
        "            except OSError:\n                pass\n"
        "print('found', found)\n"
    )
    job_b = await sandbox.run({}, ["python3", "-c", code, work_root, marker], sandbox.limits(20))
    await job_a
    assert job_b.ok, job_b.stderr_text
    assert job_b.stdout_text.strip() == "found []"


@both_paths
async def test_no_connection_to_the_servers_ports_or_abstract_sockets(client, sandbox: Sandbox, mode: str) -> None:
    import socket

    port = client.server.port
    abstract = f"\0qubithub-test-{uuid.uuid4().hex}"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(abstract)
    listener.listen(1)
    # the server really listens on that port
    assert (await client.get("/health")).status == 200
    code = (
        "import socket, sys, json\nout = {}\n"
        "for host in ('127.0.0.1', '::1', 'localhost'):\n"
        "    try:\n"
        "        socket.create_connection((host, int(sys.argv[1])), timeout=2).close(); out[host] = 'CONNECTED'\n"
        "    except OSError as exc:\n        out[host] = type(exc).__name__\n"
        "s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
        "try:\n    s.connect(sys.argv[2].replace('@', '\\0', 1)); out['abstract'] = 'CONNECTED'\n"
        "except OSError as exc:\n    out['abstract'] = type(exc).__name__\n"
        "print(json.dumps(out))\n"
    )
    args = [str(port), "@" + abstract[1:]]
    try:
        if mode == "cold":
            result = await sandbox.run({}, ["python3", "-c", code, *args])
        else:
            result = await sandbox.run_python({}, code=code, args=args)
    finally:
        listener.close()
    assert result.ok, result.stderr_text
    assert "CONNECTED" not in json.loads(result.stdout).values()


@both_paths
async def test_server_environment_does_not_leak(sandbox: Sandbox, monkeypatch, mode: str) -> None:
    marker = f"ENV-SECRET-{uuid.uuid4().hex}"
    monkeypatch.setenv("QUBITHUB_LITE_AUTH_SECRET_KEY", marker)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", marker)
    code = "import os\nprint(sorted(os.environ))\nprint(open('/proc/self/environ').read())\n"
    result = await execute(sandbox, mode, code)
    assert result.ok, result.stderr_text
    assert marker not in result.stdout_text
    assert "QUBITHUB_LITE" not in result.stdout_text and "AWS_" not in result.stdout_text


@both_paths
@pytest.mark.parametrize("stream", ["stdout", "stderr"])
async def test_output_floods_are_capped(sandbox: Sandbox, mode: str, stream: str) -> None:
    code = f"import sys, os\nchunk = b'x' * (1 << 20)\nfor _ in range(200):\n    os.write({1 if stream == 'stdout' else 2}, chunk)\n"
    result = await execute(sandbox, mode, code)
    kept = result.stdout if stream == "stdout" else result.stderr
    cap = sandbox.limits().stdout_bytes if stream == "stdout" else sandbox.limits().stderr_bytes
    assert len(kept) <= cap
    assert result.limit_hit == "output"


@both_paths
async def test_a_huge_sparse_file_is_refused(sandbox: Sandbox, mode: str) -> None:
    code = (
        "import os\nwith open('big', 'wb') as f:\n"
        "    try:\n        f.truncate(1 << 40); print('TRUNCATED')\n"
        "    except OSError as exc:\n        print('refused', exc.errno)\n"
        "    f.seek((1 << 40) - 1)\n    f.write(b'x')\n"
    )
    result = await execute(sandbox, mode, code)
    assert "TRUNCATED" not in result.stdout_text
    assert result.limit_hit == "file_size"


@both_paths
async def test_rlimits_cannot_be_raised(sandbox: Sandbox, mode: str) -> None:
    code = (
        "import resource\nfor name in ('RLIMIT_AS', 'RLIMIT_CPU', 'RLIMIT_NPROC', 'RLIMIT_FSIZE', 'RLIMIT_NOFILE'):\n"
        "    limit = getattr(resource, name)\n"
        "    try:\n"
        "        resource.setrlimit(limit, (resource.RLIM_INFINITY, resource.RLIM_INFINITY)); print('RAISED', name)\n"
        "    except (ValueError, OSError):\n        print('refused', name)\n"
    )
    result = await execute(sandbox, mode, code)
    assert result.ok, result.stderr_text
    assert "RAISED" not in result.stdout_text and result.stdout_text.count("refused") == 5


async def test_no_nested_user_namespace_or_mounts(sandbox: Sandbox) -> None:
    result = await sandbox.run({}, ["/bin/sh", "-c",
                                    "unshare -Ur true && echo USERNS; mount -t tmpfs none /tmp 2>/dev/null && echo MOUNTED; echo done"])
    assert "USERNS" not in result.stdout_text and "MOUNTED" not in result.stdout_text
    assert "done" in result.stdout_text


async def test_job_symlinks_do_not_reach_host_files(sandbox: Sandbox, tmp_path: Path) -> None:
    """A job links its work dir to host paths: reading outputs, measuring and removing the
    work dir must not follow them."""
    canary_dir = tmp_path / "canary"
    canary_dir.mkdir()
    (canary_dir / "keep.txt").write_text("host file")
    code = (
        "import os, sys\n"
        "os.symlink(sys.argv[1], 'dir-link')\n"
        "os.symlink(os.path.join(sys.argv[1], 'keep.txt'), 'out.txt')\n"
        "os.makedirs('deep/er'); os.symlink(sys.argv[1], 'deep/er/x')\n"
        "print('linked')\n"
    )
    result = await sandbox.run_python({}, code=code, args=[str(canary_dir)],
                                      outputs=["out.txt", "dir-link/keep.txt"])
    assert result.ok and "linked" in result.stdout_text, result.stderr_text
    assert result.files == {}
    assert "symlink" in result.file_errors["out.txt"]
    assert (canary_dir / "keep.txt").read_text() == "host file"  # the work dir is gone, not the host's


def test_uploaded_names_cannot_escape_the_work_dir(tmp_path: Path) -> None:
    from qubithub_lite.sandbox.files import UnsafePath, write_job_files

    for name in ("../x", "a/../../x", "/etc/passwd", "", ".", "a/./..", "x\0y"):
        with pytest.raises(UnsafePath):
            write_job_files(tmp_path, {name: b"x"})
    assert list(tmp_path.iterdir()) == []


@both_paths
async def test_signals_do_not_reach_host_processes(sandbox: Sandbox, mode: str) -> None:
    victim = subprocess.Popen(["sleep", "60"])
    try:
        code = (
            "import os, signal, sys\nout = []\n"
            "for pid in (int(sys.argv[1]), int(sys.argv[2]), 1):\n"
            "    try:\n        os.kill(pid, signal.SIGKILL); out.append('sent')\n"
            "    except OSError as exc:\n        out.append(type(exc).__name__)\n"
            "print(out)\n"
            "try:\n    os.kill(-1, signal.SIGKILL)\nexcept OSError:\n    pass\n"
        )
        args = [str(victim.pid), str(os.getpid())]
        if mode == "cold":
            await sandbox.run({}, ["python3", "-c", code, *args])
        else:
            await sandbox.run_python({}, code=code, args=args)
        await asyncio.sleep(0.2)
        assert victim.poll() is None  # the host process lives
    finally:
        victim.kill()
        victim.wait()


@both_paths
async def test_closing_and_duplicating_its_descriptors(sandbox: Sandbox, mode: str) -> None:
    code = (
        "import os\n"
        "os.write(1, b'before\\n')\n"
        "os.dup2(2, 1)\nos.dup2(1, 0)\n"
        "for fd in range(3, 256):\n"
        "    try:\n        os.dup2(2, fd)\n    except OSError:\n        pass\n"
        "os.close(2)\nos.close(1)\nos._exit(5)\n"
    )
    result = await execute(sandbox, mode, code)
    assert result.exit_code == 5
    assert result.stdout_text == "before\n"
    assert result.limit_hit is None


async def test_warm_interpreter_state_never_reaches_the_next_job(data_dir: Path) -> None:
    """Job A (one user) poisons everything it can in its warm interpreter; job B (another
    user) starts right after on the pool and must see none of it."""
    box = _box(data_dir, warm_pool_size=1)
    token = f"linger-{uuid.uuid4().hex}"
    try:
        await box.wait_warm()
        poison = (
            "import builtins, json, os, sys, time\n"
            "builtins.PWNED = True\njson.dumps = lambda *a, **k: 'forged'\n"
            "sys.modules['qiskit'] = 'forged'\nos.environ['PWNED'] = '1'\n"
            "open('/tmp/leftover', 'w').write('x')\nopen('/dev/shm/leftover', 'w').write('x')\n"
            "open('/job/leftover', 'w').write('x')\n"
            "if os.fork() == 0:\n"
            "    os.setsid()\n"
            "    os.execvp('sleep', ['sleep', '120', sys.argv[1]])\n"
            "print('poisoned')\n"
        )
        first = await box.run_python({}, code=poison, args=[token])
        assert first.ok and "poisoned" in first.stdout_text, first.stderr_text
        assert processes_with(token) == []  # the lingering child died with job A
        check = (
            "import builtins, json, os, sys\n"
            "print(json.dumps({'pwned': hasattr(builtins, 'PWNED'), 'env': 'PWNED' in os.environ,\n"
            "    'forged': sys.modules.get('qiskit') == 'forged',\n"
            "    'files': [p for p in ('/tmp/leftover', '/dev/shm/leftover', '/job/leftover') if os.path.exists(p)],\n"
            "    'procs': sorted(p for p in os.listdir('/proc') if p.isdigit())}))\n"
        )
        second = await box.run_python({}, code=check)
        assert second.ok, second.stderr_text
        seen = json.loads(second.stdout)
        assert seen["pwned"] is False and seen["env"] is False and seen["forged"] is False
        assert seen["files"] == []
        assert len(seen["procs"]) <= 3  # its own sandbox: init, runner, the job itself
    finally:
        await box.close()


async def test_flooding_the_runner_through_execute_is_not_a_500(client, alice) -> None:
    """The observed failure: space code flooded the runner's status pipe and
    POST /spaces/{id}/execute answered 500."""
    from tests.spaces.helpers import create_space

    space = await create_space(client, alice)
    resp = await client.post(f"/spaces/{space['id']}/execute", json={"code": FLOOD_ALL_FDS},
                             headers=alice.headers)
    assert resp.status == 200, await resp.text()
    result = await resp.json()
    assert result["status"] == "success", result
    assert "flooded" in result["output"]


async def test_hardware_tasks_go_to_their_own_pool_and_simulations_stay_sandboxed(tmp_path: Path) -> None:
    import io

    from qiskit import QuantumCircuit, qpy

    from qubithub_lite.jobs.executor import LocalProcessExecutor, RoutingExecutor, SimTask
    from qubithub_lite.jobs.workers import PlainLauncher, SandboxLauncher, worker_sandbox_factory

    qc = QuantumCircuit(1)
    qc.x(0)
    qc.measure_all()
    buf = io.BytesIO()
    qpy.dump(qc, buf)
    box_config = SandboxConfig(**BASE)
    isolated = LocalProcessExecutor(workers=1, launcher=SandboxLauncher(worker_sandbox_factory(box_config, [])))
    made = []

    def make_trusted():
        made.append(LocalProcessExecutor(workers=1, launcher=PlainLauncher(sys.executable)))
        return made[-1]

    executor = RoutingExecutor(isolated, make_trusted, lambda name: name == "cirq_simulator")
    await executor.start()
    try:
        sim = await executor.submit(SimTask("s1", "qiskit_aer", buf.getvalue(), "qpy", shots=10))
        assert sim.ok, sim
        assert made == []  # no hardware run yet: no unsandboxed worker exists
        hw = await executor.submit(SimTask("h1", "cirq_simulator", buf.getvalue(), "qpy", shots=10))
        assert hw.ok, hw
        stats = executor.stats()
        assert stats["isolated"] is True and stats["completed"] == 1
        assert stats["hardware_pool"]["completed"] == 1 and stats["hardware_pool"]["isolated"] is False
    finally:
        await executor.close()


async def test_a_simulation_too_big_for_its_worker_fails_cleanly() -> None:
    """A 26-qubit statevector (1 GiB) in a worker capped at 512 MiB: the worker's memory
    cgroup stops it (not the host), the run fails as out of memory and the pool recovers."""
    import io

    from qiskit import QuantumCircuit, qpy

    from qubithub_lite.jobs.executor import LocalProcessExecutor, SimTask
    from qubithub_lite.jobs.workers import SandboxLauncher, worker_sandbox_factory

    config = SandboxConfig(**{**BASE, "memory_bytes": 512 * MIB, "job_memory_bytes": 512 * MIB})
    launcher = SandboxLauncher(worker_sandbox_factory(config, []))
    probe = await launcher.sandbox()
    if not probe.memory_cgroup:
        await launcher.close()
        pytest.skip("no writable memory cgroup here")
    qc = QuantumCircuit(26)
    qc.h(range(26))
    qc.measure_all()
    buf = io.BytesIO()
    qpy.dump(qc, buf)
    async with LocalProcessExecutor(workers=1, launcher=launcher) as executor:
        big = await executor.submit(SimTask("big", "qiskit_aer", buf.getvalue(), "qpy", shots=10,
                                            options={"method": "statevector"}))
        assert big.status == "failed" and big.error_class == "quota_exceeded", big
        small = QuantumCircuit(1)
        small.x(0)
        small.measure_all()
        buf = io.BytesIO()
        qpy.dump(small, buf)
        after = await executor.submit(SimTask("after", "qiskit_aer", buf.getvalue(), "qpy", shots=10))
        assert after.ok, after


async def test_signalling_the_runner_does_not_lose_the_job(sandbox: Sandbox) -> None:
    code = (
        "import os, signal\n"
        "for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGXCPU):\n"
        "    os.kill(os.getppid(), sig)\n"
        "print('still here')\nraise SystemExit(4)\n"
    )
    result = await sandbox.run_python({}, code=code)
    assert result.exit_code == 4, result.stderr_text
    assert result.stdout_text.strip() == "still here" and result.limit_hit is None
    # the job itself keeps the interpreter's usual signal behaviour
    own = await sandbox.run_python({}, code="import os, signal\nos.kill(os.getpid(), signal.SIGTERM)\n")
    assert own.exit_code == 128 + 15
    interrupted = await sandbox.run_python({}, code="import os, signal\nos.kill(os.getpid(), signal.SIGINT)\nimport time\ntime.sleep(1)\n")
    assert "KeyboardInterrupt" in interrupted.stderr_text


async def test_a_jobs_memory_cap_can_be_raised_and_lowered_on_a_warm_interpreter(data_dir: Path) -> None:
    box = _box(data_dir, job_memory_bytes=256 * MIB)
    try:
        if not box.memory_cgroup:
            pytest.skip("no writable memory cgroup here")
        hog = "b = bytearray(400 << 20)\nfor i in range(0, len(b), 4096):\n    b[i] = 1\nprint('held')\n"
        capped = await box.run_python({}, code=hog, limits=box.limits(20))
        assert capped.limit_hit == "memory" and "held" not in capped.stdout_text
        roomy = await box.run_python({}, code=hog, limits=box.limits(20).with_(job_memory_bytes=1 * GIB))
        assert roomy.ok and "held" in roomy.stdout_text, roomy.stderr_text
    finally:
        await box.close()
