"""Benchmark scoring, as the field does it (pure Python: the API process uses it).

- Hellinger fidelity ``HF(p, q) = (Σ_x √(p(x)·q(x)))²`` of the measured distribution ``p``
  (counts / shots) and the ideal distribution ``q`` — the quantity qiskit's
  ``hellinger_fidelity`` computes.
- QED-C normalized fidelity (Lubinski et al., "Application-Oriented Performance Benchmarks
  for Quantum Computing", 2021): ``floor = HF(uniform, q)``, the fidelity a device that
  outputs pure noise would get, and ``score = clip((HF − floor) / (1 − floor), 0, 1)``.
  When the ideal itself is uniform (floor = 1) the score is the HF.
- Confidence interval: a seeded percentile bootstrap over the shots — resample ``shots``
  outcomes from the measured counts (multinomial with the observed frequencies),
  ``resamples`` times, score each resample, and take the 2.5th and 97.5th percentiles
  (:func:`bootstrap_interval`; it uses numpy and runs in the simulator worker).
"""

from __future__ import annotations

import math
from typing import Mapping

RESAMPLES = 200
LEVEL = 0.95


def distribution(counts: Mapping[str, float]) -> dict[str, float]:
    """Normalise counts (or weights) to probabilities; spaces in keys (register separators) are dropped."""
    total = 0.0
    merged: dict[str, float] = {}
    for key, value in counts.items():
        v = float(value)
        if not math.isfinite(v) or v < 0:
            raise ValueError(f"not a count: {value!r}")
        k = key.replace(" ", "")
        merged[k] = merged.get(k, 0.0) + v
        total += v
    if total <= 0:
        raise ValueError("empty distribution")
    return {k: v / total for k, v in merged.items() if v > 0}


def hellinger_fidelity(p: Mapping[str, float], q: Mapping[str, float]) -> float:
    p, q = distribution(p), distribution(q)
    overlap = sum(math.sqrt(pv * q[k]) for k, pv in p.items() if k in q)
    return min(1.0, overlap * overlap)


def uniform_floor(q: Mapping[str, float], num_bits: int) -> float:
    """HF(uniform over 2**num_bits outcomes, q) = (Σ √q(x))² / 2**num_bits."""
    q = distribution(q)
    root = sum(math.sqrt(v) for v in q.values())
    return min(1.0, root * root / (2 ** num_bits))


def normalized_fidelity(hf: float, floor: float) -> float:
    if floor >= 1.0 - 1e-12:
        return max(0.0, min(1.0, hf))
    return max(0.0, min(1.0, (hf - floor) / (1.0 - floor)))


def score(counts: Mapping[str, float], ideal: Mapping[str, float], num_bits: int) -> tuple[float, float]:
    """(QED-C normalized score, Hellinger fidelity) of measured ``counts`` against ``ideal``."""
    hf = hellinger_fidelity(counts, ideal)
    return normalized_fidelity(hf, uniform_floor(ideal, num_bits)), hf


def bootstrap_interval(counts: Mapping[str, int], ideal: Mapping[str, float], num_bits: int, seed: int,
                       resamples: int = RESAMPLES, level: float = LEVEL) -> tuple[float, float]:
    """Percentile bootstrap of the normalized score over the shots (see the module docstring)."""
    import numpy as np

    observed = distribution(counts)
    q = distribution(ideal)
    keys = list(observed)
    shots = int(round(sum(float(v) for v in counts.values())))
    p_obs = np.array([observed[k] for k in keys])
    q_vec = np.array([q.get(k, 0.0) for k in keys])
    floor = uniform_floor(q, num_bits)
    rng = np.random.default_rng(seed)
    samples = rng.multinomial(shots, p_obs / p_obs.sum(), size=resamples) / shots
    hf = np.minimum(1.0, np.sqrt(samples * q_vec).sum(axis=1) ** 2)
    scores = np.clip(hf, 0.0, 1.0) if floor >= 1.0 - 1e-12 else np.clip((hf - floor) / (1.0 - floor), 0.0, 1.0)
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(scores, [tail, 100 - tail])
    return float(low), float(high)


def intervals_overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]
