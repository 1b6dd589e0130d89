"""Processes starting together on one (shared) data dir agree on one signing secret."""

from __future__ import annotations

import multiprocessing
import stat

from qubithub_lite.services.secrets_file import load_or_create_secret


def _load(path, barrier, out) -> None:
    barrier.wait()
    out.put(load_or_create_secret(path))


def test_processes_creating_the_secret_at_once_all_get_the_same_complete_one(tmp_path):
    path = tmp_path / "data" / "secret.key"
    ctx = multiprocessing.get_context("fork")
    barrier, out = ctx.Barrier(8), ctx.Queue()
    procs = [ctx.Process(target=_load, args=(path, barrier, out)) for _ in range(8)]
    for p in procs:
        p.start()
    secrets = {out.get(timeout=60) for _ in procs}
    for p in procs:
        p.join(timeout=60)
    assert len(secrets) == 1 and len(secrets.pop()) == 128
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["secret.key"]  # no temp file left behind
