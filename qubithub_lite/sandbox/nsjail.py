"""nsjail driver (https://nsjail.dev; used when the ``nsjail`` binary is on PATH).

Written from nsjail's documented command-line flags. Rlimits are applied by our own
wrapper (prlimit / the warm runner) like for bwrap, so nsjail's built-in rlimit
defaults are switched off; the wall clock and the pids cgroup are ours too.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from .namespaces import HOSTNAME, NamespaceSandbox, etc_entries, system_mounts

DEVICES_RW = ("/dev/null", "/dev/zero", "/dev/full")
DEVICES_RO = ("/dev/random", "/dev/urandom")


class NsjailSandbox(NamespaceSandbox):
    """Same filesystem view and namespaces as the bwrap driver, via nsjail ``--mode o``:
    new user/pid/net/ipc/uts/mount(/cgroup) namespaces, read-only tmpfs root, caps dropped,
    no_new_privs, setsid, cleared environment."""

    name = "nsjail"

    def preflight(self) -> None:
        help_text = self._find_tool("nsjail", "nsjail not found on PATH")
        if "--disable_rlimits" in help_text:
            self._rlimit_args = ["--disable_rlimits"]
        else:  # older nsjail: inherit our (unlimited) limits; prlimit/the runner set the real ones
            self._rlimit_args = [
                arg
                for name in ("as", "cpu", "fsize", "nofile", "nproc", "stack")
                for arg in (f"--rlimit_{name}", "max")
            ]

    def wrap(self, workdir: Path, command: Sequence[str], env: Mapping[str, str],
             pass_fds: Sequence[int]) -> list[str]:
        uid = str(self.config.sandbox_uid)
        argv = [
            self.binary,
            "--mode", "o",
            "--really_quiet",
            "--time_limit", "0",
            "--user", uid, "--group", uid,
            "--hostname", HOSTNAME,
            "--cwd", self.inner_workdir,
            "--nice_level", "0",
            *self._rlimit_args,
        ]
        for key, value in env.items():
            argv += ["--env", f"{key}={value}"]
        for fd in pass_fds:
            argv += ["--pass_fd", str(fd)]
        links, dirs = system_mounts()
        for path in dirs + etc_entries():
            argv += ["--bindmount_ro", path]
        for target, link in links:
            argv += ["--symlink", f"{target}:{link}"]
        for source, dest in self._etc.items():
            argv += ["--bindmount_ro", f"{source}:{dest}"]
        argv += ["--tmpfsmount", "/dev"]
        argv += [arg for dev in DEVICES_RW if os.path.exists(dev) for arg in ("--bindmount", dev)]
        argv += [arg for dev in DEVICES_RO if os.path.exists(dev)
                 for arg in ("--bindmount_ro", dev)]
        argv += [
            "--mount", f"none:/tmp:tmpfs:size={self.config.tmp_bytes}",
            "--mount", f"none:/dev/shm:tmpfs:size={self.config.shm_bytes}",
        ]
        # After /tmp: a one-file binary's unpacked bundle usually lives under /tmp.
        argv += [arg for path in self.ro_paths for arg in ("--bindmount_ro", path)]
        argv += [
            "--bindmount", f"{workdir}:{self.inner_workdir}",
            "--",
            *command,
        ]
        return argv
