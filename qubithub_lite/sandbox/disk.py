"""A job's work dir on the host: its size (the work-dir quota) and its removal.

Everything under a work dir was made by untrusted code: the size walk opens each directory
relative to its parent without following symlinks (no path-length limit, no escape) and
without recursion, and removal copes with trees ``shutil.rmtree`` cannot delete.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from ..logs import fields

logger = logging.getLogger(__name__)

#: How often a running job's work dir is measured.
CHECK_INTERVAL_SECONDS = 0.2
#: Every file, directory or link counts at least this much (one block), so a flood of
#: empty files is bounded by the quota too (and so is the cost of a walk).
MIN_ENTRY_BYTES = 4096
#: Deeper directory nesting is not measured: it counts as exceeding any quota.
MAX_DEPTH = 128
#: What :func:`workdir_usage` returns for a tree it cannot measure (too deep, or with
#: directories the job made unreadable).
UNMEASURABLE = sys.maxsize
#: A walk slower than this moves the job's later walks off the event loop to a thread.
INLINE_WALK_SECONDS = 0.002

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def workdir_usage(root: Path, stop_above: int | None = None) -> int:
    """Bytes allocated under ``root`` (not ``root`` itself): ``st_blocks``, so sparse
    files count what they really use; each inode once, so hard links neither multiply nor
    hide a file; symlinks not followed; every entry at least :data:`MIN_ENTRY_BYTES`.
    Stops as soon as the total passes ``stop_above``. Entries removed during the walk are
    skipped; a tree nested deeper than :data:`MAX_DEPTH` or with directories we cannot
    read (the job took the permissions away) is :data:`UNMEASURABLE`.
    """
    try:
        top = os.open(root, DIR_FLAGS)
    except FileNotFoundError:
        return 0
    except PermissionError:
        return UNMEASURABLE
    seen: set[int] = set()
    #: The open directories from ``root`` down, each with the subdirectories left to visit.
    stack: list[tuple[int, list[str]]] = [(top, [])]
    try:
        total = _scan(top, stack[-1][1], seen)
        while stack:
            if stop_above is not None and total > stop_above:
                return total
            parent, pending = stack[-1]
            if not pending:
                os.close(stack.pop()[0])
                continue
            if len(stack) > MAX_DEPTH:
                return UNMEASURABLE
            try:
                fd = os.open(pending.pop(), DIR_FLAGS, dir_fd=parent)
            except (FileNotFoundError, NotADirectoryError):
                continue  # moved away or replaced since it was listed
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    continue  # now a symlink (not followed)
                raise
            stack.append((fd, []))
            total += _scan(fd, stack[-1][1], seen)
        return total
    except PermissionError:
        return UNMEASURABLE
    finally:
        for fd, _ in stack:
            os.close(fd)


def _scan(dir_fd: int, subdirs: list[str], seen: set[int]) -> int:
    """Bytes of the entries of one open directory; appends its subdirectory names."""
    total = 0
    with os.scandir(dir_fd) as entries:
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            total += _charge(info, seen)
            if stat.S_ISDIR(info.st_mode):
                subdirs.append(entry.name)
    return total


def _charge(info: os.stat_result, seen: set[int]) -> int:
    if info.st_nlink > 1 and not stat.S_ISDIR(info.st_mode):
        if info.st_ino in seen:  # one file system: the inode number is enough
            return 0
        seen.add(info.st_ino)
    return max(info.st_blocks * 512, MIN_ENTRY_BYTES)


def input_allowance(files: Mapping[str, bytes]) -> int:
    """What the job's input files occupy under :func:`workdir_usage`'s rules (whole
    blocks, at least :data:`MIN_ENTRY_BYTES` per file and per directory): the quota
    counts what a job adds, so a space with large data files is not refused for them."""
    block = MIN_ENTRY_BYTES
    dirs: set[tuple[str, ...]] = set()
    total = 0
    for name, data in files.items():
        parts = tuple(p for p in name.replace("\\", "/").split("/") if p not in ("", "."))
        dirs.update(parts[:i] for i in range(1, len(parts)))
        total += max(-(-len(data) // block) * block, block)
    return total + block * len(dirs)


class WorkdirQuota:
    """The work-dir quota of one running job: :meth:`watch` returns once it is exceeded.

    A walk over a few files takes microseconds and runs on the event loop; once one takes
    longer than :data:`INLINE_WALK_SECONDS`, the job's later walks run in a thread.
    """

    def __init__(self, workdir: Path, quota: int,
                 interval: float = CHECK_INTERVAL_SECONDS) -> None:
        self.workdir = workdir
        self.quota = quota
        self.interval = interval
        self.used = 0
        self._threaded = False

    async def exceeded(self) -> bool:
        """Measure now; True when the work dir holds more than the quota. A failure of
        ours (e.g. no file descriptor left) is logged and never stops the job."""
        try:
            if self._threaded:
                self.used = await asyncio.to_thread(workdir_usage, self.workdir, self.quota)
            else:
                started = time.perf_counter()
                self.used = workdir_usage(self.workdir, self.quota)
                self._threaded = time.perf_counter() - started > INLINE_WALK_SECONDS
        except Exception:
            logger.exception("sandbox.quota_check_failed", extra=fields(workdir=str(self.workdir)))
            return False
        if self.used <= self.quota:
            return False
        logger.info("sandbox.disk_quota_exceeded", extra=fields(
            workdir=str(self.workdir), quota=self.quota, used=None if self.used == UNMEASURABLE else self.used))
        return True

    async def watch(self) -> None:
        """Measure every ``interval`` seconds; return once the quota is exceeded."""
        while not await self.exceeded():
            await asyncio.sleep(self.interval)


def remove_tree(path: Path) -> None:
    """Delete a work dir however the job left it. ``shutil.rmtree`` first; a tree it cannot
    remove (nested deeper than it recurses, or directories the job made unreadable: they
    are ours on the host) goes to ``chmod -R u+rwx`` and ``rm -rf``. Never raises."""
    try:
        shutil.rmtree(path)
    except (OSError, RecursionError):
        pass
    if not os.path.lexists(path):
        return
    for argv in (["chmod", "-R", "u+rwx", "--", str(path)], ["rm", "-rf", "--", str(path)]):
        try:
            subprocess.run(argv, capture_output=True, timeout=300, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            logger.warning("sandbox.cleanup_command_failed", extra=fields(argv=argv, error=str(exc)))
    if os.path.lexists(path):
        logger.warning("sandbox.workdir_not_removed", extra=fields(path=str(path)))


async def remove_tree_async(path: Path) -> None:
    """:func:`remove_tree` that leaves the event loop free when the slow fallback is needed."""
    try:
        shutil.rmtree(path)
    except (OSError, RecursionError):
        pass
    if os.path.lexists(path):
        await asyncio.to_thread(remove_tree, path)
