"""Protocols bench: ``git clone`` of a circuit with 100 versions over smart HTTP, and dataset
download speed through the Hugging Face–compatible ``resolve`` against
``GET /datasets/{id}/download``.

    python bench/bench_protocols.py [--versions 100] [--size-mb 64] [--repeats 5]

A real ``qubithub-lite serve`` subprocess (bench/_harness.py). Clone: the circuit gets
``--versions`` uploads (one changed file each, three files per tree); ``git clone`` over HTTP
is timed cold (the repository is materialized from the blob store on first use), warm, and
again after deleting the cache, each against a bare ``git clone`` of the same repository from
the local disk (no server). Download: a ``--size-mb`` CSV dataset fetched through both routes,
alternately, median MB/s. Figures are printed as ratios; nothing asserts absolute times.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
from _harness import bench_options, emit, qubithub_server  # noqa: E402

MiB = 1024 * 1024
PASSWORD = "Qu4ntum!Leap#42"


def signed_in(url: str) -> dict[str, str]:
    resp = requests.post(f"{url}/auth/register", json={"email": "bench@example.org", "username": "bench",
                                                       "password": PASSWORD, "name": "Bench"})
    resp.raise_for_status()
    return {"Authorization": f"Bearer {resp.json()['access_token']}"}


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def clone(src: str, dest: Path) -> None:
    shutil.rmtree(dest, ignore_errors=True)
    subprocess.run(["git", "clone", "-q", src, str(dest)], check=True, capture_output=True,
                   env={"PATH": "/usr/bin:/bin", "HOME": str(dest.parent), "GIT_TERMINAL_PROMPT": "0"})


def bench_clone(url: str, data: Path, headers: dict, versions: int, repeats: int, tmp: Path) -> None:
    c = requests.post(f"{url}/circuits", json={"name": "hundred", "title": "Hundred", "framework": "qiskit"},
                      headers=headers).json()
    start = time.perf_counter()
    for i in range(versions):
        files = [("files", ("circuit.py", f"# version {i}\nfrom qiskit import QuantumCircuit\n".encode()))]
        if i == 0:
            files += [("files", ("README.md", b"# hundred\n")), ("files", ("params/angles.json", b"[0.1, 0.2]"))]
        requests.post(f"{url}/circuits/{c['id']}/upload-batch", files=files, params={"commit_message": f"v{i + 1}"},
                      headers=headers).raise_for_status()
    print(f"{versions} uploads: {time.perf_counter() - start:.2f} s")
    remote = f"{url}/bench/hundred.git"
    cache = data / "git-cache" / f"{c['id']}.git"
    cold = timed(lambda: clone(remote, tmp / "cold"))
    commits = subprocess.run(["git", "rev-list", "--count", "HEAD"], cwd=tmp / "cold", capture_output=True,
                             text=True, check=True).stdout.strip()
    assert commits == str(versions), commits
    warm = statistics.median(timed(lambda: clone(remote, tmp / "warm")) for _ in range(repeats))
    local = statistics.median(timed(lambda: clone(f"file://{cache}", tmp / "local")) for _ in range(repeats))
    shutil.rmtree(data / "git-cache")
    rebuilt = timed(lambda: clone(remote, tmp / "rebuilt"))
    print(f"git clone, {versions} versions: cold {cold * 1000:.0f} ms, warm {warm * 1000:.0f} ms (median of {repeats}), "
          f"after deleting the cache {rebuilt * 1000:.0f} ms; bare local clone {local * 1000:.0f} ms")
    print(f"  ratio warm / bare local clone: {warm / local:.2f}x; cold / warm: {cold / warm:.2f}x; "
          f"rebuilt / warm: {rebuilt / warm:.2f}x")
    emit("protocols", [("git clone warm vs bare local clone", warm / local, "<=", None)])


def download(url: str, headers: dict | None = None) -> float:
    size = 0
    start = time.perf_counter()
    with requests.get(url, stream=True, headers=headers) as resp:
        resp.raise_for_status()
        for chunk in resp.iter_content(1024 * 1024):
            size += len(chunk)
    return size / MiB / (time.perf_counter() - start)


def bench_download(url: str, headers: dict, size_mb: int, repeats: int, tmp: Path) -> None:
    path = tmp / "big.csv"
    row = b"0.123456789,-1.123456789,label-xyz\n"
    with open(path, "wb") as fh:
        fh.write(b"bond_distance,energy,label\n")
        block = row * (MiB // len(row))
        for _ in range(size_mb):
            fh.write(block)
    d = requests.post(f"{url}/datasets", json={"name": "big", "title": "Big", "format": "csv"}, headers=headers).json()
    with open(path, "rb") as fh:
        requests.post(f"{url}/datasets/{d['id']}/versions", files={"file": ("big.csv", fh)},
                      headers=headers).raise_for_status()
    path.unlink()
    plain, hf = [], []
    for _ in range(repeats):
        plain.append(download(f"{url}/datasets/{d['id']}/download"))
        hf.append(download(f"{url}/hf/datasets/bench/big/resolve/main/big.csv"))
    p, h = statistics.median(plain), statistics.median(hf)
    print(f"download {size_mb} MiB: /datasets/{{id}}/download {p:.0f} MB/s, /hf resolve {h:.0f} MB/s "
          f"(median of {repeats}); ratio resolve / download: {h / p:.2f}x")
    emit("protocols", [("/hf resolve vs /datasets download speed", h / p, ">=", None)])


def main() -> None:
    args = bench_options(versions=100, size_mb=64, repeats=5)
    with tempfile.TemporaryDirectory(prefix="qh-bench-protocols-") as tmp, qubithub_server() as (url, _, data):
        headers = signed_in(url)
        bench_clone(url, data, headers, args.versions, args.repeats, Path(tmp))
        bench_download(url, headers, args.size_mb, args.repeats, Path(tmp))


if __name__ == "__main__":
    main()
