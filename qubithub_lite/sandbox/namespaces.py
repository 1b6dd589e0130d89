"""What the namespace drivers (bwrap, nsjail) show inside the sandbox."""

from __future__ import annotations

import os
from pathlib import Path

from .base import Sandbox

#: Top-level system directories mirrored read-only (symlinks are recreated as symlinks).
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
#: Harmless /etc entries the dynamic loader and common libraries read.
ETC_ENTRIES = (
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/alternatives",
    "/etc/localtime",
    "/etc/nsswitch.conf",
)
HOSTNAME = "sandbox"


def system_mounts() -> tuple[list[tuple[str, str]], list[str]]:
    """``(symlinks as (target, link), directories to bind)`` for :data:`SYSTEM_DIRS`."""
    links: list[tuple[str, str]] = []
    dirs: list[str] = []
    for path in SYSTEM_DIRS:
        if os.path.islink(path):
            links.append((os.readlink(path), path))
        elif os.path.isdir(path):
            dirs.append(path)
    return links, dirs


def etc_entries() -> list[str]:
    return [p for p in ETC_ENTRIES if os.path.exists(p)]


def synthetic_etc(root: Path, uid: int) -> dict[str, str]:
    """Write passwd/group/hosts naming only the sandbox user; returns {host file: dest}."""
    root.mkdir(mode=0o755, exist_ok=True)
    contents = {
        "passwd": f"root:x:0:0::/:/usr/sbin/nologin\nsandbox:x:{uid}:{uid}::/job:/usr/sbin/nologin\n",
        "group": f"root:x:0:\nsandbox:x:{uid}:\n",
        "hosts": f"127.0.0.1 localhost {HOSTNAME}\n::1 localhost\n",
    }
    mapping = {}
    for name, text in contents.items():
        path = root / name
        path.write_text(text)
        path.chmod(0o644)
        mapping[str(path)] = f"/etc/{name}"
    return mapping


class NamespaceSandbox(Sandbox):
    """What the bwrap and nsjail drivers share: the job's filesystem is the system mounts and a
    synthetic /etc (prepared by ``_find_tool``), bound read-only."""

    _etc: dict[str, str]

    def _find_tool(self, name: str, missing: str) -> str:
        """``_find_binary`` (its ``--help`` text), then the synthetic /etc for the sandbox user."""
        help_text = self._find_binary(name, missing)
        self._etc = synthetic_etc(self._work_root / ".etc", self.config.sandbox_uid)
        return help_text

    def bound_paths(self) -> list[str]:
        return system_mounts()[1] + etc_entries() + super().bound_paths()
