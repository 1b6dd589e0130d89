"""The signing secret: generated on first start, stored with mode 0600, never logged."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def load_or_create_secret(path: Path) -> bytes:
    """The secret in ``path``, created on first use. Several processes starting at once on one
    data dir agree on one secret: it is written to a temp file (fsync) and linked into place,
    which fails for all but the first; the others read the complete file it published."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            try:
                os.write(fd, secrets.token_hex(64).encode())
                os.fsync(fd)
            finally:
                os.close(fd)
            try:
                os.link(tmp, path)  # never replaces a secret another process published first
            except FileExistsError:
                pass
        finally:
            tmp.unlink(missing_ok=True)
    data = path.read_bytes().strip()
    if len(data) < 32:
        raise RuntimeError(f"signing secret {path} is too short; delete it to generate a new one")
    return data
