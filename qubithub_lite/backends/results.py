"""Result helpers shared by all drivers (import-light: no quantum frameworks)."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from typing import Any


def new_seed() -> int:
    """A fresh seed that fits every simulator's seed type (uint32)."""
    return secrets.randbelow(2**31 - 1)


def normalize_counts(counts: Mapping[Any, Any]) -> dict[str, int]:
    """Plain ``{bitstring: int}``; Qiskit's register separators (spaces) are removed."""
    out: dict[str, int] = {}
    for key, value in counts.items():
        k = str(key).replace(" ", "")
        out[k] = out.get(k, 0) + int(value)
    return dict(sorted(out.items()))


def counts_from_rows(rows: Iterable[Iterable[int]]) -> dict[str, int]:
    """Counts from per-shot rows of bits where row[i] is classical bit i (→ bit 0 rightmost)."""
    out: dict[str, int] = {}
    for row in rows:
        key = "".join("1" if b else "0" for b in reversed(list(row)))
        out[key] = out.get(key, 0) + 1
    return dict(sorted(out.items()))


def memory_from_rows(rows: Iterable[Iterable[int]]) -> list[str]:
    return ["".join("1" if b else "0" for b in reversed(list(row))) for row in rows]


def statevector_to_json(vec: Any) -> list[list[float]]:
    """Complex amplitudes → JSON-safe ``[[re, im], ...]``."""
    return [[float(complex(a).real), float(complex(a).imag)] for a in vec]


def check_expected_output(
    counts: Mapping[str, int],
    dominant_states: Iterable[str] | None,
    probability_range: Iterable[float] | None = None,
) -> dict[str, Any]:
    """Compare counts with a manifest's ``[expected_output]``.

    The check passes when every dominant state was observed and (when given) the
    probability of *each* dominant state lies within ``probability_range`` = [min, max]
    (a Bell pair: ``["00", "11"]`` with ``[0.35, 0.65]``). ``probability`` is the dominant
    states' total, for information.  Bitstrings are compared in Qiskit order, ignoring
    spaces.
    """
    norm = normalize_counts(counts)
    total = sum(norm.values())
    states = [str(s).replace(" ", "") for s in (dominant_states or [])]
    found = [s for s in states if norm.get(s, 0) > 0]
    missing = [s for s in states if norm.get(s, 0) == 0]
    probability = (sum(norm.get(s, 0) for s in states) / total) if total else 0.0
    per_state = {s: (norm.get(s, 0) / total if total else 0.0) for s in states}
    rng = list(probability_range) if probability_range is not None else None
    out_of_range: list[str] = []
    if rng is not None:
        if len(rng) != 2:
            raise ValueError("probability_range must be [min, max]")
        lo, hi = float(rng[0]), float(rng[1])
        out_of_range = [s for s in states if not lo <= per_state[s] <= hi]
    in_range = not out_of_range
    top = sorted(norm.items(), key=lambda kv: -kv[1])[: max(len(states), 1)]
    passed = bool(states) and not missing and in_range if states else in_range
    return {
        "passed": passed,
        "dominant_states": states,
        "dominant_states_found": found,
        "missing_states": missing,
        "probability": round(probability, 6),
        "state_probabilities": {k: round(v, 6) for k, v in per_state.items()},
        "probability_range": rng,
        "probability_in_range": in_range,
        "states_out_of_range": out_of_range,
        "most_frequent": [k for k, _ in top],
        "total_shots": total,
    }
