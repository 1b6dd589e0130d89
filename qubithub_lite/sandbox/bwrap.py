"""bubblewrap driver (Debian package ``bubblewrap``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from .namespaces import HOSTNAME, NamespaceSandbox, etc_entries, system_mounts


class BwrapSandbox(NamespaceSandbox):
    """Each job gets new user, pid, net, ipc, uts and cgroup namespaces, a read-only
    tmpfs root with only the system dirs and the interpreter prefix bound read-only, a
    fresh /proc, /dev and /tmp, and its work dir at /job. All capabilities are dropped,
    nested user namespaces are disabled, and the job dies with its bwrap."""

    name = "bwrap"

    def preflight(self) -> None:
        help_text = self._find_tool("bwrap", "bwrap not found on PATH (install the 'bubblewrap' package)")
        self._disable_userns = "--disable-userns" in help_text

    def wrap(self, workdir: Path, command: Sequence[str], env: Mapping[str, str],
             pass_fds: Sequence[int]) -> list[str]:
        uid = str(self.config.sandbox_uid)
        argv = [
            self.binary,
            "--unshare-user", "--unshare-pid", "--unshare-net", "--unshare-ipc",
            "--unshare-uts", "--unshare-cgroup-try",
            "--uid", uid, "--gid", uid, "--hostname", HOSTNAME,
            "--cap-drop", "ALL", "--die-with-parent", "--new-session",
        ]
        if self._disable_userns:
            argv.append("--disable-userns")
        argv.append("--clearenv")
        for key, value in env.items():
            argv += ["--setenv", key, value]
        links, dirs = system_mounts()
        for path in dirs + etc_entries():
            argv += ["--ro-bind", path, path]
        for target, link in links:
            argv += ["--symlink", target, link]
        for source, dest in self._etc.items():
            argv += ["--ro-bind", source, dest]
        argv += [
            "--proc", "/proc",
            "--dev", "/dev",
            # --dev puts /dev/shm on /dev's own tmpfs (half the host's RAM): give it a
            # small tmpfs of its own and make the rest of /dev read-only.
            "--size", str(self.config.shm_bytes), "--perms", "1777", "--tmpfs", "/dev/shm",
            "--remount-ro", "/dev",
            "--size", str(self.config.tmp_bytes), "--tmpfs", "/tmp",
        ]
        # After /tmp: a one-file binary's unpacked bundle usually lives under /tmp.
        for path in self.ro_paths:
            argv += ["--ro-bind", path, path]
        argv += [
            "--bind", str(workdir), self.inner_workdir,
            "--remount-ro", "/",
            "--chdir", self.inner_workdir,
            "--",
            *command,
        ]
        return argv
