"""The scoring formula against hand-computed distributions, and the rank rule."""

from __future__ import annotations

import math

import pytest

from qubithub_lite.services.benchmarks import scoring
from qubithub_lite.services.benchmarks.service import assign_ranks

GHZ2 = {"00": 0.5, "11": 0.5}


def test_hellinger_fidelity_by_hand():
    # p = (0.5, 0.3, 0.2) on 00, 11, 01; q = GHZ: HF = (sqrt(.5*.5) + sqrt(.3*.5))^2
    counts = {"00": 50, "11": 30, "01": 20}
    assert scoring.hellinger_fidelity(counts, GHZ2) == pytest.approx((0.5 + math.sqrt(0.15)) ** 2)
    assert scoring.hellinger_fidelity({"00": 7, "11": 7}, GHZ2) == pytest.approx(1.0)
    assert scoring.hellinger_fidelity({"01": 3, "10": 1}, GHZ2) == 0.0


def test_hellinger_fidelity_agrees_with_qiskit():
    from qiskit.quantum_info import hellinger_fidelity

    counts = {"000": 400, "111": 380, "010": 120, "101": 100}
    ideal = {"000": 0.5, "111": 0.5}
    assert scoring.hellinger_fidelity(counts, ideal) == pytest.approx(hellinger_fidelity(counts, ideal))


def test_uniform_floor_by_hand():
    # GHZ on 2 bits: (sqrt(.5) + sqrt(.5))^2 / 4 = 2 / 4
    assert scoring.uniform_floor(GHZ2, 2) == pytest.approx(0.5)
    # A single marked string on 3 bits (Bernstein-Vazirani): 1 / 8
    assert scoring.uniform_floor({"101": 1.0}, 3) == pytest.approx(1 / 8)
    # A uniform ideal: the floor is 1
    assert scoring.uniform_floor({format(i, "02b"): 0.25 for i in range(4)}, 2) == pytest.approx(1.0)


def test_normalized_score_by_hand():
    counts = {"00": 50, "11": 30, "01": 20}
    hf = (0.5 + math.sqrt(0.15)) ** 2
    score, got_hf = scoring.score(counts, GHZ2, 2)
    assert got_hf == pytest.approx(hf)
    assert score == pytest.approx((hf - 0.5) / (1 - 0.5))
    # Pure noise scores 0; below the floor is clipped to 0; perfect output scores 1.
    uniform = {format(i, "02b"): 25 for i in range(4)}
    assert scoring.score(uniform, GHZ2, 2)[0] == pytest.approx(0.0)
    assert scoring.score({"01": 10, "10": 10}, GHZ2, 2)[0] == 0.0
    assert scoring.score({"00": 512, "11": 512}, GHZ2, 2)[0] == pytest.approx(1.0)
    # Against a uniform ideal the score is the Hellinger fidelity itself.
    ideal = {format(i, "02b"): 0.25 for i in range(4)}
    assert scoring.score({"00": 1}, ideal, 2)[0] == pytest.approx(0.25)


def test_bad_counts_are_refused():
    with pytest.raises(ValueError):
        scoring.distribution({})
    with pytest.raises(ValueError):
        scoring.distribution({"0": -1})
    with pytest.raises(ValueError):
        scoring.distribution({"0": float("nan")})


def test_bootstrap_interval_is_seeded_and_brackets_the_score():
    counts = {"000": 420, "111": 400, "010": 104, "101": 100}
    ideal = {"000": 0.5, "111": 0.5}
    point = scoring.score(counts, ideal, 3)[0]
    a = scoring.bootstrap_interval(counts, ideal, 3, seed=7)
    assert a == scoring.bootstrap_interval(counts, ideal, 3, seed=7)
    assert a[0] < point < a[1]
    # Ten times the shots, same frequencies: a narrower interval.
    wide = scoring.bootstrap_interval({k: v * 10 for k, v in counts.items()}, ideal, 3, seed=7)
    assert wide[1] - wide[0] < a[1] - a[0]
    # A single observed outcome that is the whole ideal cannot resample into anything else.
    assert scoring.bootstrap_interval({"101": 1000}, {"101": 1.0}, 3, seed=1) == pytest.approx((1.0, 1.0))


def _entry(score, low, high):
    return {"score": score, "score_ci": [low, high]}


def test_overlapping_intervals_share_a_rank():
    entries = assign_ranks([
        _entry(0.99, 0.97, 1.0),   # 1
        _entry(0.98, 0.96, 0.99),  # overlaps the leader: 1
        _entry(0.90, 0.88, 0.92),  # new rank at its position: 3
        _entry(0.89, 0.86, 0.91),  # overlaps the 3rd: 3
        _entry(0.70, 0.65, 0.75),  # 5
    ])
    assert [e["rank"] for e in entries] == [1, 1, 3, 3, 5]


def test_ties_chain_only_through_the_rank_leader():
    # b overlaps a, c overlaps b but not a: c starts its own rank.
    entries = assign_ranks([_entry(0.9, 0.85, 0.95), _entry(0.85, 0.8, 0.9), _entry(0.8, 0.75, 0.84)])
    assert [e["rank"] for e in entries] == [1, 1, 3]
