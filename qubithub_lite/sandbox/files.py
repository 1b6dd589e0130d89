"""Moving files into a job's work dir and reading its outputs back safely."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath


class UnsafePath(ValueError):
    """A job file name that would escape the work dir."""


def safe_relpath(name: str) -> PurePosixPath:
    """``name`` as a relative path inside the work dir, or :class:`UnsafePath`."""
    path = PurePosixPath(name)
    if (
        not name
        or "\x00" in name
        or path.is_absolute()
        or any(part in ("..", "") for part in path.parts)
        or path == PurePosixPath(".")
    ):
        raise UnsafePath(f"unsafe job file name: {name!r}")
    return path


def write_job_files(workdir: Path, files: Mapping[str, bytes]) -> None:
    """Write the job's input files (the work dir must not yet be used by the job)."""
    for name, data in files.items():
        dest = workdir.joinpath(*safe_relpath(name).parts)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)


def read_outputs(
    workdir: Path, names: Iterable[str], max_bytes: int
) -> tuple[dict[str, bytes], dict[str, str]]:
    """Read requested output files without following any symlink, each at most
    ``max_bytes``. Returns ``(files, errors)`` keyed by the requested name."""
    files: dict[str, bytes] = {}
    errors: dict[str, str] = {}
    for name in names:
        try:
            files[name] = _read_nofollow(workdir, safe_relpath(name).parts, max_bytes)
        except (UnsafePath, OutputRefused) as exc:
            errors[name] = str(exc)
    return files, errors


class OutputRefused(Exception):
    """An output file that is missing, a symlink, not regular or too large."""


def _read_nofollow(workdir: Path, parts: tuple[str, ...], max_bytes: int) -> bytes:
    dir_flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    fds = [os.open(workdir, dir_flags)]
    try:
        for part in parts[:-1]:
            fds.append(_open_at(part, fds[-1], dir_flags))
        fd = _open_at(parts[-1], fds[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        fds.append(fd)
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OutputRefused("not a regular file")
        if info.st_size > max_bytes:
            raise OutputRefused(f"larger than {max_bytes} bytes")
        data = bytearray()
        while chunk := os.read(fd, max_bytes + 1 - len(data)):
            data += chunk
            if len(data) > max_bytes:
                raise OutputRefused(f"larger than {max_bytes} bytes")
        return bytes(data)
    finally:
        for fd in fds:
            os.close(fd)


def _open_at(part: str, dir_fd: int, flags: int) -> int:
    try:
        return os.open(part, flags, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            raise OutputRefused("missing") from None
        if _is_symlink(part, dir_fd):
            raise OutputRefused("is a symlink (not followed)") from None
        if exc.errno == errno.ENOTDIR:
            raise OutputRefused("a parent is not a directory") from None
        raise OutputRefused(f"unreadable ({exc.strerror})") from None


def _is_symlink(part: str, dir_fd: int) -> bool:
    try:
        return stat.S_ISLNK(os.stat(part, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False
