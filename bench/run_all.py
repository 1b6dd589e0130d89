"""Run every bench in ``bench/`` (each a subprocess, bounded in time) and print one table of
ratio, goal and verdict; the table is also written as JSON.

    python bench/run_all.py [--full] [--only lists,runs] [--json bench/results.json] [--timeout 600]
    python bench/run_all.py --table     # print the table of the last results.json
    python bench/run_all.py --no-readme # do not rewrite README.md's table

``--only`` reruns some benches and updates their rows in an existing results file.

Default: quick settings (smaller files and fewer samples; the whole run stays within about 15
minutes on a 2-core machine). ``--full``: each bench's own defaults (1 GiB files, 100,000
circuits; much longer). Each bench prints ``BENCH_RESULT {json}`` lines (``_harness.emit``);
a bench that times out or fails is listed with its exit status and the tail of its output.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _harness import RESULT_PREFIX  # noqa: E402

#: bench → (quick arguments, seconds allowed in quick mode). Order: cheap first.
BENCHES: dict[str, tuple[list[str], int]] = {
    "api": (["--seconds", "3"], 120),
    "lists": (["--quick"], 300),
    "circuits": (["--seconds", "3", "--file-mib", "256"], 240),
    "runs": (["--samples", "30", "--queued", "300"], 300),
    "class": (["--quick"], 240),
    "fanout": (["--quick"], 240),
    "growth": (["--samples", "20"], 240),
    "bigcircuits": (["--quick", "--qubits", "20"], 300),
    "simulators": (["--n", "100", "--queued", "300"], 180),
    "benchmarks": (["--passes", "2"], 240),
    "sandbox": (["--repeat", "5"], 180),
    "spaces": (["--repeat", "5", "--pause", "1"], 180),
    "formats": (["--size-mb", "256", "--repeats", "5", "--no-count"], 240),
    "datasets": (["--size-mb", "256", "--repeats", "5"], 300),
    "protocols": (["--versions", "50", "--size-mb", "32", "--repeats", "3"], 240),
    "backup": (["--circuits", "500", "--dataset-mib", "128"], 240),
    "footprint": (["--load", "30", "--idle", "0", "--settle", "10"], 420),
    "scaleout": (["--runs", "100", "--circuits", "200", "--seconds", "3"], 480),
    "dask": (["--queued", "150"], 420),
}


def verdict(ratio: float, op: str, goal: float | None) -> str:
    if goal is None:
        return "info"
    ok = ratio <= goal if op in ("<=", "<") else ratio >= goal
    return "met" if ok else "NOT MET"


def run_one(name: str, args: list[str], timeout: float) -> dict:
    cmd = [sys.executable, str(HERE / f"bench_{name}.py"), *args]
    start = time.monotonic()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=HERE.parent,
                              env={**os.environ, "PYTHONUNBUFFERED": "1"})
        out, status = proc.stdout + proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        status = "timeout"
    results = []
    for line in out.splitlines():
        if line.startswith("  warning:"):
            print("   | " + line)
        if line.startswith(RESULT_PREFIX):
            for r in json.loads(line[len(RESULT_PREFIX):])["results"]:
                results.append({**r, "verdict": verdict(r["ratio"], r["op"], r["goal"])})
    return {"bench": name, "command": " ".join(["python", f"bench/bench_{name}.py", *args]), "status": status,
            "seconds": round(time.monotonic() - start, 1), "results": results,
            "tail": out.splitlines()[-15:] if status != 0 else []}


def table(runs: list[dict]) -> str:
    lines = [f"| {'bench':10} | {'figure':52} | {'ratio':>8} | {'goal':>8} | verdict |",
             f"|{'-' * 12}|{'-' * 54}|{'-' * 10}|{'-' * 10}|---------|"]
    for run in runs:
        if run["status"] != 0 and not run["results"]:
            lines.append(f"| {run['bench']:10} | {'(failed: ' + str(run['status']) + ')':52} | {'':>8} | {'':>8} | error   |")
        for r in run["results"]:
            goal = f"{r['op']} {r['goal']:.3g}" if r["goal"] is not None else ""
            lines.append(f"| {run['bench']:10} | {r['name'][:52]:52} | {r['ratio']:8.3f} | {goal:>8} | {r['verdict']:7} |")
    return "\n".join(lines)


def write_readme_table(readme: Path, text: str) -> bool:
    """Replace the bench table in ``readme`` (the lines from its ``| bench`` header to the
    first line that is not a table row) with ``text``; False if it has none."""
    lines = readme.read_text().splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.startswith("| bench ")), None)
    if start is None:
        return False
    end = start
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    readme.write_text("".join(lines[:start]) + text + "\n" + "".join(lines[end:]))
    return True


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--full", action="store_true", help="each bench's own (long) defaults")
    parser.add_argument("--only", default="", help="comma-separated bench names")
    parser.add_argument("--json", default=str(HERE / "results.json"))
    parser.add_argument("--timeout", type=float, default=None, help="seconds per bench (default: per bench)")
    parser.add_argument("--table", action="store_true", help="print the table of --json and exit")
    parser.add_argument("--no-readme", action="store_true", help="leave README.md's bench table alone")
    args = parser.parse_args()
    if args.table:
        print(table(json.loads(Path(args.json).read_text())["runs"]))
        return
    names = [n for n in BENCHES if not args.only or n in args.only.split(",")]
    runs = []
    for name in names:
        quick_args, limit = BENCHES[name]
        timeout = args.timeout or (limit * 6 if args.full else limit)
        print(f"== {name} (up to {timeout:.0f} s)", flush=True)
        run = run_one(name, [] if args.full else quick_args, timeout)
        runs.append(run)
        print(f"   {run['status']} in {run['seconds']} s, {len(run['results'])} figures", flush=True)
        for line in run["tail"]:
            print("   | " + line)
    if args.only and Path(args.json).exists():  # a partial run updates those benches in the last table
        done = {r["bench"] for r in runs}
        kept = [r for r in json.loads(Path(args.json).read_text())["runs"] if r["bench"] not in done]
        runs = sorted(kept + runs, key=lambda r: list(BENCHES).index(r["bench"]) if r["bench"] in BENCHES else 99)
    report = {"created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "mode": "full" if args.full else "quick",
              "machine": {"cpus": os.cpu_count(), "python": platform.python_version()}, "runs": runs}
    Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    print(table(runs))
    print(f"written: {args.json}")
    if not args.no_readme and write_readme_table(HERE.parent / "README.md", table(runs)):
        print("written: README.md (bench table)")


if __name__ == "__main__":
    main()
