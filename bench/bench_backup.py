"""Backup bench: `qubithub-lite backup` of a live data dir with 1,000 circuits and 1 GiB of
datasets, against a bare `tar` of the same folder in the same run; and the same backup at
half the data, to show it grows linearly.

    python bench/bench_backup.py [--circuits 1000] [--dataset-mib 1024] [--repeats 3]

Prints time, archive size and the ratios (goal: backup ≤ 2× a bare `tar` + fsync of the same folder; full/half ≈ 2),
the fixed start-up and per-MiB cost of a linear fit through the two sizes, and the per-byte cost
(full - half) over bare tar's. Each time is the best of ``--repeats``, backup and tar in turns.
Loopback only; temp files are removed.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
from _harness import emit, qubithub_server  # noqa: E402

MiB = 1024 * 1024
PASSWORD = "Qu4ntum!Leap#42"


def call(url: str, body: dict | bytes | None = None, headers: dict | None = None, content_type="application/json"):
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    req = urllib.request.Request(url, data, {"Content-Type": content_type, **(headers or {})})
    with urllib.request.urlopen(req) as resp:
        return json.loads(resp.read())


def multipart(field: str, name: str, content: bytes) -> tuple[bytes, str]:
    boundary = "qhbench" + os.urandom(8).hex()
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{name}\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    return head + content + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def populate(api: str, circuits: int, dataset_bytes: int) -> None:
    token = call(f"{api}/auth/register", {"email": "b@example.org", "username": "bench", "password": PASSWORD})["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    for i in range(circuits):
        c = call(f"{api}/circuits", {"name": f"c{i}", "title": f"C {i}", "framework": "openqasm3", "qubits": 1}, auth)
        body, ctype = multipart("file", "circuit.qasm", f"OPENQASM 3.0;\nqubit q; // {i}\n".encode())
        call(f"{api}/circuits/{c['id']}/upload", body, auth, ctype)
    chunk = 256 * MiB
    for i in range(max(1, dataset_bytes // chunk)):
        d = call(f"{api}/datasets", {"name": f"d{i}", "title": f"D {i}", "format": "npy"}, auth)
        buf = io.BytesIO()
        np.save(buf, np.random.default_rng(i).random(min(chunk, dataset_bytes) // 8))
        body, ctype = multipart("file", "a.npy", buf.getvalue())
        call(f"{api}/datasets/{d['id']}/versions", body, auth, ctype)


def timed(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def measure(circuits: int, dataset_bytes: int, tmp: Path, repeats: int) -> dict:
    env = {"QUBITHUB_LITE_STORAGE_MAX_FILE_BYTES": str(2048 * MiB), "QUBITHUB_LITE_SERVER_MAX_BODY_BYTES": str(2048 * MiB)}
    with qubithub_server(env) as (url, _proc, data_dir):
        populate(url + "/api", circuits, dataset_bytes)
        archive = tmp / f"backup-{circuits}.tar"
        bare = tmp / f"bare-{circuits}.tar"
        backups, tars = [], []
        for _ in range(repeats):  # in turns; the best of each (the machine is shared)
            backups.append(timed([sys.executable, "-m", "qubithub_lite", "backup", str(archive), "--data-dir", str(data_dir)]))
            size = archive.stat().st_size
            archive.unlink()
            # the baseline writes the same bytes durably too (backup fsyncs its archive)
            tars.append(timed(["sh", "-c", f"tar cf '{bare}' -C '{data_dir}' . && sync '{bare}'"]))
            bare.unlink()
        backup_s, tar_s = min(backups), min(tars)
        return {"circuits": circuits, "dataset_mib": dataset_bytes // MiB, "backup_s": round(backup_s, 3),
                "bare_tar_s": round(tar_s, 3), "archive_mib": round(size / MiB, 1),
                "ratio_to_tar": round(backup_s / tar_s, 2), "archive_bytes": size}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--circuits", type=int, default=1000)
    parser.add_argument("--dataset-mib", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3, help="timings per size (the best is kept)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        half = measure(args.circuits // 2, args.dataset_mib * MiB // 2, Path(tmp), args.repeats)
        full = measure(args.circuits, args.dataset_mib * MiB, Path(tmp), args.repeats)
    # Linear growth: time = start-up + size x per-byte cost. Two sizes give both; the per-byte
    # cost (full - half) is compared with bare tar's over the same bytes.
    added = full["archive_bytes"] - half["archive_bytes"]
    marginal = (full["backup_s"] - half["backup_s"]) / max(1e-9, full["bare_tar_s"] - half["bare_tar_s"])
    per_mib = (full["backup_s"] - half["backup_s"]) / (added / MiB)
    startup = half["backup_s"] - per_mib * half["archive_bytes"] / MiB
    print(json.dumps({"half": half, "full": full,
                      "growth_full_over_half": round(full["backup_s"] / half["backup_s"], 2),
                      "per_mib_ms": round(per_mib * 1e3, 3), "startup_s": round(startup, 3),
                      "marginal_vs_tar": round(marginal, 2)}, indent=1))
    emit("backup", [("backup vs bare tar + fsync", full["ratio_to_tar"], "<=", 2),
                    ("backup time full / half data (linear: about 2)", full["backup_s"] / half["backup_s"], "<=", 2.5),
                    ("backup per-byte cost (full - half) vs bare tar's", marginal, "<=", 2)])


if __name__ == "__main__":
    main()
