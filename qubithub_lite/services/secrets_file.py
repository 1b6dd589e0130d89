"""The signing secret: generated on first start, stored with mode 0600, never logged."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def load_or_create_secret(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        data = path.read_bytes().strip()
        if len(data) < 32:
            raise RuntimeError(f"signing secret {path} is too short; delete it to generate a new one") from None
        return data
    try:
        os.write(fd, secrets.token_hex(64).encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    return path.read_bytes().strip()
