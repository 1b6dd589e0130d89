"""Generate the benchmark suites' circuits from MQT Bench (build time, not in the server).

    python -m qubithub_lite.services.benchmarks.generate [--out DIR]

Reads ``data/suites.toml`` and writes ``data/generated/<suite>.json``: for each problem size
the target-independent circuit(s) of MQT Bench (``get_benchmark(name, BenchmarkLevel.INDEP,
size)``, with ``generate_mirror_circuit=True`` for mirror suites) as OpenQASM 3 text, with
its depth and two-qubit gate count. Needs ``pip install 'qubithub-lite[benchmarks]'``
(mqt.bench, pinned); the server itself never imports it (nor qiskit: the circuits are run,
and their ideal distributions computed, in the simulator workers).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from .suites import DATA_DIR, GENERATED_DIR, read_declarations

#: Instructions that are not gates for the counts below.
NON_GATES = {"barrier", "measure", "delay", "reset"}


def circuit_stats(qc: Any) -> dict[str, int]:
    bare = qc.remove_final_measurements(inplace=False)
    two = sum(1 for inst in bare.data if inst.operation.num_qubits == 2 and inst.operation.name not in NON_GATES)
    return {"qubits": qc.num_qubits, "clbits": qc.num_clbits, "depth": qc.depth(), "two_qubit_gates": two}


def build_circuit(benchmark: str, size: int, mirror: bool) -> Any:
    from mqt.bench import BenchmarkLevel, get_benchmark

    qc = get_benchmark(benchmark, BenchmarkLevel.INDEP, size, generate_mirror_circuit=mirror)
    if qc.num_clbits == 0:  # e.g. QAOA comes without measurements
        qc.measure_all()
    return qc


def generate_suite(decl: dict[str, Any]) -> dict[str, Any]:
    from importlib.metadata import version

    from qiskit import qasm3

    names = decl["mqt_benchmark"]
    names = [names] if isinstance(names, str) else list(names)
    mirror = bool(decl.get("mirror", False))
    problems = []
    for index, size in enumerate(decl["sizes"]):
        circuits = []
        for c_index, benchmark in enumerate(names):
            qc = build_circuit(benchmark, size, mirror)
            text = qasm3.dumps(qc)
            circuits.append({
                "index": c_index,
                "name": f"{benchmark}{'-mirror' if mirror else ''}-n{size}",
                "mqt_benchmark": benchmark,
                **circuit_stats(qc),
                "sha256": hashlib.sha256(text.encode()).hexdigest(),
                "qasm": text,
            })
        clbits = circuits[0]["clbits"]
        problems.append({
            "id": f"{decl['name']}-n{size}",
            "index": index,
            "title": f"{decl['title']}, {size} qubits",
            "qubits": size,
            # Mirror circuits undo themselves: the ideal output is known without simulation.
            "ideal": {"known": {"0" * clbits: 1.0}} if mirror else "statevector",
            "circuits": circuits,
        })
    return {
        "name": decl["name"],
        "version": decl["version"],
        "generator": {"mqt.bench": version("mqt.bench"), "qiskit": version("qiskit"), "level": "indep"},
        "problems": problems,
    }


def write_all(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for decl in read_declarations(DATA_DIR / "suites.toml"):
        path = out / f"{decl['name']}.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(generate_suite(decl), indent=1, sort_keys=True) + "\n")
        tmp.replace(path)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=GENERATED_DIR)
    args = parser.parse_args(argv)
    if os.environ.get("PYTHONHASHSEED") != "0":
        # The order of terms in the parameter expressions of gate definitions that qiskit's
        # OpenQASM 3 exporter writes follows string hashing, mostly: a fixed hash seed makes
        # the output reproducible nearly always (the test compares any remaining difference
        # as unitaries).
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        return subprocess.run([sys.executable, "-m", __spec__.name, "--out", str(args.out)], env=env).returncode
    for path in write_all(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
