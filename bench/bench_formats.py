"""Dataset preview latency, every format (CSV, Parquet, JSON Lines, NumPy .npy, HDF5): a
~1 GiB file against the same data at ~1 MiB (goal: ratio ≤ 1.5×), and peak RSS growth during
the 1 GiB previews.

    python bench/bench_formats.py [--size-mb 1024] [--repeats 7] [--rows 100] [--formats csv,npy]
                                  [--cache-dir DIR | --dir /tmp]

Files are generated once (repeated chunks, so generation is quick) into ``--cache-dir``
(default ``~/.cache/qubithub-bench/formats``) and reused by later runs; ``--dir`` puts them in a
temporary directory removed afterwards instead. Each measurement runs in a fresh subprocess so the RSS figure
is that preview's own: peak RSS (VmHWM, reset via /proc/self/clear_refs once the
imports are done) during the previews minus RSS before them.
No absolute-time asserts; the figures are printed.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
MiB = 1 << 20

CHILD = r"""
import json, statistics, sys, time
from pathlib import Path
from qubithub_lite.formats import preview, count_rows
import pyarrow.parquet, numpy  # imports are not part of the preview cost

def status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(key)

def reset_peak():
    try:  # Linux >= 4.0: "5" resets VmHWM (peak RSS) to the current RSS
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False

path, fmt, rows, repeats, do_count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "1"
reset = reset_peak()
before = status("VmRSS") if reset else status("VmHWM")
times = []
for _ in range(repeats + 1):
    t = time.perf_counter()
    p = preview(path, fmt, rows)
    times.append(time.perf_counter() - t)
peak = status("VmHWM")
out = {"first": times[0], "median": statistics.median(times[1:]), "rss_growth": max(0, peak - before),
       "rows": len(p.rows), "total_rows": p.total_rows, "peak_reset": reset}
if do_count:
    t = time.perf_counter()
    out["count"] = count_rows(path, fmt)
    out["count_seconds"] = time.perf_counter() - t
print(json.dumps(out))
"""


def make_table(n: int, seed: int = 7) -> pa.Table:
    rng = np.random.default_rng(seed)
    labels = np.array(["bell", "ghz", "w", "product"])
    return pa.table(
        {
            "qubit_0": rng.random(n),
            "qubit_1": rng.random(n),
            "shots": rng.integers(1, 100_000, n),
            "label": labels[rng.integers(0, len(labels), n)],
        }
    )


def _write_lines_up_to(fp, block: bytes, target: int) -> None:
    """Write ``block`` (whole lines) again and again, about ``target`` bytes in all; the last
    copy is cut at a line end."""
    written = 0
    while written < target:
        piece = block if written + len(block) <= target else block[: block.rfind(b"\n", 0, target - written) + 1]
        if not piece:
            break
        fp.write(piece)
        written += len(piece)


def write_csv(path: Path, target: int, chunk: pa.Table) -> None:
    lines = [
        f"{a:.6f},{b:.6f},{s},{label}\n"
        for a, b, s, label in zip(*(chunk.column(i).to_pylist() for i in range(4)))
    ]
    block = "".join(lines).encode()
    with path.open("wb") as fp:
        fp.write(b"qubit_0,qubit_1,shots,label\n")
        _write_lines_up_to(fp, block, target)


def write_parquet(path: Path, target: int, chunk: pa.Table) -> None:
    with pq.ParquetWriter(path, chunk.schema) as writer:
        probe = tempfile.NamedTemporaryFile(suffix=".parquet", delete=False)
        probe.close()
        pq.write_table(chunk, probe.name)
        per_chunk = os.path.getsize(probe.name)
        os.unlink(probe.name)
        if per_chunk >= target:  # small file: cut the chunk down to size
            chunk = chunk.slice(0, max(1, chunk.num_rows * target // per_chunk))
            writer.write_table(chunk)
            return
        for _ in range(max(1, round(target / per_chunk))):
            writer.write_table(chunk)


def write_jsonl(path: Path, target: int, chunk: pa.Table) -> None:
    rows = chunk.slice(0, 20_000).to_pylist()
    block = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in rows).encode()
    with path.open("wb") as fp:
        _write_lines_up_to(fp, block, target)


def _matrix_rows(target: int) -> int:
    return max(1, target // (4 * 8))  # 4 float64 columns


def write_npy(path: Path, target: int, chunk: pa.Table) -> None:
    n = _matrix_rows(target)
    block = np.column_stack([chunk.column(i).to_numpy().astype(np.float64) for i in range(3)] +
                            [chunk.column(0).to_numpy()])
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=(n, 4))
    for start in range(0, n, len(block)):
        stop = min(n, start + len(block))
        out[start:stop] = block[: stop - start]
    out.flush()
    del out


def write_hdf5(path: Path, target: int, chunk: pa.Table) -> None:
    import h5py

    n = _matrix_rows(target)
    block = np.column_stack([chunk.column(i).to_numpy().astype(np.float64) for i in range(3)] +
                            [chunk.column(0).to_numpy()])
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("shots", shape=(n, 4), dtype="f8", chunks=(min(n, 16_384), 4))
        for start in range(0, n, len(block)):
            stop = min(n, start + len(block))
            ds[start:stop] = block[: stop - start]


WRITERS = {"csv": (write_csv, "csv"), "parquet": (write_parquet, "parquet"), "json": (write_jsonl, "jsonl"),
           "npy": (write_npy, "npy"), "hdf5": (write_hdf5, "h5")}


def measure(path: Path, fmt: str, rows: int, repeats: int, count: bool) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), fmt, str(rows), str(repeats), "1" if count else "0"],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    return json.loads(result.stdout)


def main() -> None:
    from _harness import bench_options, emit

    args = bench_options(
        __doc__, size_mb=(1024, "size of the big files"), small_mb=1.0, repeats=7, rows=100,
        dir=(None, "temporary files here, removed afterwards (no cache)"),
        cache_dir=(str(Path.home() / ".cache" / "qubithub-bench" / "formats"), "generated files are kept here and reused"),
        formats=(",".join(WRITERS), "comma-separated formats"), no_count=(False, "skip timing count_rows on the big files"))

    formats = [f for f in args.formats.split(",") if f]
    chunk = make_table(1_000_000)
    if args.dir is None:
        Path(args.cache_dir).mkdir(parents=True, exist_ok=True)
    with (tempfile.TemporaryDirectory(prefix="qh-bench-formats-", dir=args.dir) if args.dir is not None
          else contextlib.nullcontext(args.cache_dir)) as tmp:
        files: dict[tuple[str, str], Path] = {}
        for fmt in formats:
            writer, ext = WRITERS[fmt]
            for label, size in (("small", int(args.small_mb * MiB)), ("big", args.size_mb * MiB)):
                path = Path(tmp) / f"{label}-{size}.{ext}"
                files[(fmt, label)] = path
                if path.exists():  # generated by an earlier run
                    continue
                t = time.perf_counter()
                partial = path.with_suffix(path.suffix + ".part")
                writer(partial, size, chunk)
                partial.rename(path)
                print(f"generated {path.name:20} {path.stat().st_size / MiB:9.1f} MiB in {time.perf_counter() - t:5.1f} s",
                      flush=True)
        if "parquet" in formats:
            meta = pq.ParquetFile(files[("parquet", "big")]).metadata
            print(f"big parquet: {meta.num_rows} rows in {meta.num_row_groups} row groups\n")

        print(f"preview rows={args.rows}: first call, then median of {args.repeats} more (fresh process per file)")
        print(f"{'format':8} {'size':>10} {'first ms':>9} {'median ms':>10} {'RSS growth MiB':>15} {'total_rows':>11}")
        for fmt in formats:
            res = {}
            for label in ("small", "big"):
                path = files[(fmt, label)]
                res[label] = r = measure(path, fmt, args.rows, args.repeats, count=label == "big" and not args.no_count)
                print(f"{fmt:8} {path.stat().st_size / MiB:8.1f}Mi {r['first'] * 1e3:9.2f} {r['median'] * 1e3:10.2f} "
                      f"{r['rss_growth'] / MiB:15.1f} {str(r['total_rows']):>11}")
            ratio = res["big"]["median"] / res["small"]["median"]
            print(f"{fmt:8} ratio big/small median: {ratio:.2f}x  (goal <= 1.5x)")
            emit("formats", [(f"{fmt} preview big / small (in process)", ratio, "<=", 1.5)])
            if "count" in res["big"]:
                big = files[(fmt, "big")].stat().st_size / MiB
                secs = res["big"]["count_seconds"]
                print(f"{fmt:8} count_rows(big) = {res['big']['count']} in {secs:.2f} s ({big / max(secs, 1e-9):.0f} MiB/s)")
            print()


if __name__ == "__main__":
    main()
