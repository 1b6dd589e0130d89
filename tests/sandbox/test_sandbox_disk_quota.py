"""The work-dir disk quota (``max_workdir_bytes``): a job cannot fill the server's disk."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from qubithub_lite.sandbox import Sandbox, SandboxConfig, get_sandbox
from qubithub_lite.sandbox.disk import MAX_DEPTH, UNMEASURABLE, remove_tree, workdir_usage
from tests.sandbox.helpers import both_paths, closing, execute

pytestmark = pytest.mark.sandbox

MIB = 1 << 20
QUOTA = 4 * MIB

@pytest.fixture
async def quota_sandbox(
    sandbox_available: str, data_dir: Path, test_config: dict
) -> AsyncIterator[Sandbox]:
    """A sandbox whose configured work-dir quota is 4 MiB (warm pool on)."""
    config = SandboxConfig(**{**test_config, "warm_pool_size": 1, "max_workdir_bytes": QUOTA})
    async with closing(get_sandbox(config, protected_paths=[data_dir])) as box:
        yield box


def leftovers(sandbox: Sandbox, marker: str) -> list[Path]:
    """Files or dirs named ``marker`` still anywhere under the sandbox's work root."""
    return list(sandbox._work_root.rglob(marker))


def quota_watchers() -> list[asyncio.Task]:
    return [t for t in asyncio.all_tasks() if "WorkdirQuota" in repr(t.get_coro())]


def many_files(marker: str, then: str) -> str:
    """64 files of 256 KiB (16 MiB in all, each far under the per-file cap), then ``then``.
    ``wrote`` is printed after the first 15 files (3.75 MiB, still under the quota), so the job
    has always printed it before it can be stopped, however slowly a loaded machine writes."""
    return (
        "import os, time\n"
        f"os.mkdir({marker!r})\n"
        "def write(i):\n"
        f"    with open(os.path.join({marker!r}, f'f{{i}}'), 'wb') as f:\n"
        "        f.write(b'x' * (256 << 10))\n"
        "for i in range(15):\n"
        "    write(i)\n"
        "print('wrote', flush=True)\n"
        "for i in range(15, 64):\n"
        "    write(i)\n"
        f"{then}\n"
    )


@both_paths
async def test_many_small_files_are_stopped_at_the_quota(quota_sandbox: Sandbox, mode: str) -> None:
    marker = f"quota-{uuid.uuid4().hex}"
    limits = quota_sandbox.limits(timeout=20)
    assert limits.max_workdir_bytes == QUOTA  # from the config
    started = time.monotonic()
    result = await execute(quota_sandbox, mode, many_files(marker, "time.sleep(60)"), limits)
    assert result.limit_hit == "disk", (result.stdout_text, result.stderr_text)
    assert result.stdout == b"wrote\n"
    assert result.exit_code != 0  # killed while sleeping
    assert result.wall_time < 5 and time.monotonic() - started < 10  # not the 20 s wall limit
    assert leftovers(quota_sandbox, marker) == []  # what it wrote is gone
    assert quota_watchers() == []


@both_paths
async def test_quota_passed_in_the_last_instant_is_reported(
    quota_sandbox: Sandbox, mode: str
) -> None:
    marker = f"quota-{uuid.uuid4().hex}"
    result = await execute(quota_sandbox, mode, many_files(marker, "raise SystemExit(0)"))
    assert result.stdout == b"wrote\n"
    assert result.limit_hit == "disk"
    assert not result.ok
    assert leftovers(quota_sandbox, marker) == []


@both_paths
async def test_job_under_the_quota_runs_normally(quota_sandbox: Sandbox, mode: str) -> None:
    code = (
        "import os, time\n"
        "os.makedirs('out/parts')\n"
        "for i in range(8):\n"
        "    open(f'out/parts/p{i}', 'wb').write(b'y' * (256 << 10))\n"
        "time.sleep(0.6)\n"  # a few watchdog checks see 2 MiB
        "open('out/result.txt', 'w').write('done')\n"
        "print(sum(os.path.getsize(f'out/parts/p{i}') for i in range(8)))\n"
    )
    result = await execute(quota_sandbox, mode, code, outputs=["out/result.txt", "out/parts/p7"])
    assert result.ok, (result.limit_hit, result.stderr_text)
    assert result.limit_hit is None
    assert result.stdout == f"{8 * 256 << 10}\n".encode()
    assert result.files == {"out/result.txt": b"done", "out/parts/p7": b"y" * (256 << 10)}


@both_paths
async def test_one_file_larger_than_the_quota_hits_the_file_size_limit(
    quota_sandbox: Sandbox, mode: str
) -> None:
    limits = quota_sandbox.limits()
    assert limits.max_file_bytes == 64 * MIB  # the per-file setting alone would allow 8 MiB
    assert limits.file_size_limit == QUOTA
    assert f"--fsize={QUOTA}" in limits.prlimit_args("prlimit")
    code = "open('big.bin', 'wb').write(b'z' * (8 << 20))\nprint('not reached')"
    result = await execute(quota_sandbox, mode, code, limits, outputs=["big.bin"])
    assert b"not reached" not in result.stdout
    assert result.exit_code != 0
    assert result.limit_hit == "file_size", result.stderr_text
    assert len(result.files["big.bin"]) == QUOTA  # cut at the quota, not at 64 MiB


async def test_hard_links_and_sparse_files_are_counted_by_real_usage(
    quota_sandbox: Sandbox,
) -> None:
    # 12 sparse files of 3 MiB apparent size (36 MiB) allocate a few KiB each, and 30 hard
    # links to one 3 MiB file are one file: about 3.1 MiB in all, under the 4 MiB quota.
    fits = (
        "import os, time\n"
        "for i in range(12):\n"
        "    with open(f's{i}', 'wb') as f:\n"
        "        f.seek((3 << 20) - 1); f.write(b'1')\n"
        "open('big', 'wb').write(b'x' * (3 << 20))\n"
        "for i in range(30):\n"
        "    os.link('big', f'link{i}')\n"
        "os.unlink('big')\n"  # the data stays, reachable through the links
        "print(sum(os.path.getsize(n) for n in os.listdir('.')) >> 20)\n"
        "time.sleep(0.6)\n"
    )
    result = await execute(quota_sandbox, "warm", fits)
    assert result.ok, (result.limit_hit, result.stderr_text)
    assert int(result.stdout) == 12 * 3 + 30 * 3  # apparent MiB, far over the quota
    # Two different 3 MiB files, each with a second link, are two files: over the quota.
    over = (
        "import os, time\n"
        "for name in ('a', 'b'):\n"
        "    open(name, 'wb').write(b'x' * (3 << 20))\n"
        "    os.link(name, name + '-link')\n"
        "time.sleep(60)\n"
    )
    result = await execute(quota_sandbox, "cold", over, quota_sandbox.limits(timeout=20))
    assert result.limit_hit == "disk"
    assert result.wall_time < 5


async def test_deep_nesting_is_stopped_and_removed(quota_sandbox: Sandbox) -> None:
    marker = f"deep-{uuid.uuid4().hex}"
    code = (
        "import os, time\n"
        f"os.mkdir({marker!r}); os.chdir({marker!r})\n"
        "for _ in range(600):\n"  # 600 dirs are 2.4 MiB: under the quota, but too deep
        "    os.mkdir('d'); os.chdir('d')\n"
        "print('nested', flush=True)\n"
        "time.sleep(60)\n"
    )
    result = await quota_sandbox.run({}, ["python3", "-c", code], quota_sandbox.limits(timeout=20))
    assert result.limit_hit == "disk"
    assert result.wall_time < 5
    assert leftovers(quota_sandbox, marker) == []


def test_remove_tree_deletes_what_rmtree_cannot(tmp_path: Path) -> None:
    root = tmp_path / "job"
    root.mkdir()
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(3000):  # deeper than shutil.rmtree recurses (and than PATH_MAX)
            os.mkdir("d", dir_fd=fd)
            child = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = child
        os.close(os.open("f", os.O_WRONLY | os.O_CREAT, dir_fd=fd))
    finally:
        os.close(fd)
    (root / "locked").mkdir()
    (root / "locked" / "f").write_bytes(b"x")
    (root / "locked").chmod(0)  # the job took its own permissions away
    remove_tree(root)
    assert not os.path.lexists(root)


def test_usage_walk_counts_allocation_once_and_follows_no_symlink(tmp_path: Path) -> None:
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"o" * (2 * MIB))
    root = tmp_path / "job"
    root.mkdir()
    assert workdir_usage(root) == 0
    (root / "a").write_bytes(b"a" * MIB)
    one = workdir_usage(root)
    assert MIB <= one < MIB + 16384
    for i in range(10):
        os.link(root / "a", root / f"a{i}")
    os.symlink(outside, root / "to-outside")
    os.symlink(tmp_path, root / "to-parent")
    with open(root / "sparse", "wb") as f:
        f.truncate(1 << 30)
    used = workdir_usage(root)
    assert one < used < one + 5 * 4096  # links once, symlinks and the sparse file tiny
    assert workdir_usage(root, stop_above=100) > 100  # stops early, still over
    deep = root
    for _ in range(MAX_DEPTH + 1):
        deep = deep / "d"
        deep.mkdir()
    assert workdir_usage(root) == UNMEASURABLE
    assert workdir_usage(tmp_path / "gone") == 0


def test_usage_walk_of_a_few_files_is_cheap(tmp_path: Path) -> None:
    for name in ("circuit.py", "data.json", "out/result.json", "out/.keep"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"x" * 1000)
    best = min(_timed(workdir_usage, tmp_path) for _ in range(50))
    assert best < 0.001  # well under a millisecond (typically tens of microseconds)


def _timed(func, *args) -> float:
    started = time.perf_counter()
    func(*args)
    return time.perf_counter() - started


@both_paths
async def test_input_files_do_not_count_against_the_quota(quota_sandbox: Sandbox, mode: str) -> None:
    """The quota bounds what a job adds: 6 MiB of inputs under a 4 MiB quota run fine,
    and the job may still write up to the quota on top of them, not more."""
    inputs = {"data/big.bin": os.urandom(6 * MIB), "circuit.py": b"print('hi')\n"}
    small = "open('out.bin', 'wb').write(b'x' * (2 << 20)); print(len(open('data/big.bin', 'rb').read()))"
    big = "import time\nfor i in range(3):\n    open(f'out{i}.bin', 'wb').write(b'x' * (2 << 20))\ntime.sleep(20)"
    for code, expect_ok in ((small, True), (big, False)):
        if mode == "cold":
            result = await quota_sandbox.run(inputs, ["python3", "-c", code])
        else:
            result = await quota_sandbox.run_python(inputs, code=code)
        if expect_ok:
            assert result.ok, (result.limit_hit, result.stderr)
            assert result.stdout.strip() == str(6 * MIB).encode()
        else:
            assert result.limit_hit == "disk" and result.wall_time < 10, (result.limit_hit, result.wall_time)
