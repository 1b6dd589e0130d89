"""Benchmark suites as data: ``data/suites.toml`` (what a suite is) merged with
``data/generated/<suite>.json`` (its circuits, generated from MQT Bench by ``generate.py``).

Framework-free: the API process reads the QASM text and the counts, never a circuit object.
"""

from __future__ import annotations

import functools
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).with_name("data")
GENERATED_DIR = DATA_DIR / "generated"
SCORING = "qedc-normalized-hellinger"


@dataclass(frozen=True)
class SuiteCircuit:
    index: int
    name: str
    qubits: int
    clbits: int
    depth: int
    two_qubit_gates: int
    sha256: str
    qasm: str = field(repr=False)


@dataclass(frozen=True)
class Problem:
    id: str
    index: int
    title: str
    qubits: int
    #: "statevector" (computed in the worker) or {"known": {bitstring: probability}}
    ideal: Any
    circuits: tuple[SuiteCircuit, ...]

    @property
    def known_ideal(self) -> dict[str, float] | None:
        return dict(self.ideal["known"]) if isinstance(self.ideal, dict) else None


@dataclass(frozen=True)
class Suite:
    name: str
    title: str
    description: str
    version: str
    shots: int
    backends: tuple[str, ...]
    featured: tuple[str, ...]  # problem ids with a featured leaderboard
    problems: tuple[Problem, ...]
    scoring: str = SCORING

    def problem(self, problem_id: str) -> Problem | None:
        return next((p for p in self.problems if p.id == problem_id), None)


def read_declarations(path: Path) -> list[dict[str, Any]]:
    with path.open("rb") as f:
        return tomllib.load(f)["suite"]


def _suite(decl: dict[str, Any], generated: dict[str, Any]) -> Suite:
    if generated["version"] != decl["version"]:
        raise ValueError(f"suite {decl['name']}: generated circuits are of version {generated['version']}, "
                         f"suites.toml says {decl['version']}; run the generator")
    problems = tuple(
        Problem(id=p["id"], index=p["index"], title=p["title"], qubits=p["qubits"], ideal=p["ideal"],
                circuits=tuple(SuiteCircuit(index=c["index"], name=c["name"], qubits=c["qubits"], clbits=c["clbits"],
                                            depth=c["depth"], two_qubit_gates=c["two_qubit_gates"], sha256=c["sha256"],
                                            qasm=c["qasm"]) for c in p["circuits"]))
        for p in generated["problems"]
    )
    return Suite(name=decl["name"], title=decl["title"], description=decl["description"], version=decl["version"],
                 shots=int(decl.get("shots", 1024)), backends=tuple(decl["backends"]),
                 featured=tuple(decl.get("featured", ())), problems=problems)


@functools.cache
def load_suites(data_dir: Path = DATA_DIR) -> dict[str, Suite]:
    """name -> Suite, in declaration order (read once per process)."""
    suites: dict[str, Suite] = {}
    for decl in read_declarations(data_dir / "suites.toml"):
        generated = json.loads((data_dir / "generated" / f"{decl['name']}.json").read_text())
        suites[decl["name"]] = _suite(decl, generated)
    return suites
