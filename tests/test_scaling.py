"""Scaling in n (docs/algorithms.md §5): time to an ε-stationary point on the nonconvex
synthetic oracle.

With h_i = √i and κ = 0, Rennala NIGT's round time with a fixed batch M is the Lemma C.1
harmonic-mean term: it falls as agents join and saturates once the extra agents are too slow to
finish a gradient before M have arrived (about n ≈ M). Synchronized NIGT waits for the slowest
agent, √n per round, so it gets slower once slow agents join. Times are averaged over seeds.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
from conftest import TINY, deep_merge

from asyncsim import theory
from asyncsim.runner import simulate

NS = (1, 2, 4, 8, 16, 32, 64)
SEEDS = (0, 1, 2)
BATCH = 16
EPSILON = 0.5


def _scenario(n: int, seed: int) -> dict:
    return deep_merge(
        TINY,
        {
            "seed": seed,
            "oracle": {"kind": "nonconvex", "dim": 4, "noise": 10.0, "init_scale": 1.0},
            "cluster": {
                "n": n,
                "compute": {"kind": "fixed", "h": "sqrt(i)"},
                "uplink": {"kind": "fixed", "time": 0.0},
            },
            "methods": [
                {"name": "rennala_nigt", "lr": 0.02, "momentum": 0.1, "batch": BATCH},
                {"name": "synchronized_nigt", "lr": 0.02, "momentum": 0.1},
            ],
            "budget": {"iterations": 2000, "target_grad_norm": EPSILON},
        },
    )


@pytest.fixture(scope="module")
def times() -> dict[str, dict[int, float]]:
    """Mean time_to_target over the seeds, per method and n (every run must reach ε)."""
    found: dict[str, dict[int, list[float]]] = {"rennala_nigt": {}, "synchronized_nigt": {}}
    for n in NS:
        for seed in SEEDS:
            result = simulate(_scenario(n, seed))
            for key, method in result.methods.items():
                summary = method.summary
                assert summary["stop_reason"] == "target", (key, n, seed)
                assert method.rows[-1]["grad_norm"] <= EPSILON
                assert all(row["grad_norm"] > EPSILON for row in method.rows[:-1])
                found[key].setdefault(n, []).append(summary["time_to_target"])
                # every round takes the exact Rennala / synchronized time, so the time to target
                # is (rounds) × (round time)
                tau = np.sqrt(np.arange(1, n + 1))
                if key == "rennala_nigt":
                    round_time = theory.rennala_collection_exact(tau, BATCH).round_time
                else:
                    round_time = theory.synchronized_round_time(tau)
                expected = round_time * len(method.rows)
                assert summary["time_to_target"] == pytest.approx(expected, rel=1e-9)
    return {key: {n: float(np.mean(v)) for n, v in by_n.items()} for key, by_n in found.items()}


def test_rennala_time_decreases_then_saturates(times) -> None:
    rennala = times["rennala_nigt"]
    first_doublings = [rennala[n] for n in (1, 2, 4, 8, 16)]
    assert all(a > b for a, b in pairwise(first_doublings)), rennala
    assert rennala[16] < 0.5 * rennala[1]
    assert 0.7 < rennala[64] / rennala[32] <= 1.05, rennala
    assert 0.7 < rennala[32] / rennala[16] <= 1.05, rennala


def test_synchronized_time_grows_once_slow_agents_join(times) -> None:
    synchronized = times["synchronized_nigt"]
    assert synchronized[64] > 1.5 * synchronized[4], synchronized
    assert synchronized[64] > synchronized[16] > synchronized[4], synchronized
    # with many agents Rennala NIGT is the faster method
    assert times["rennala_nigt"][64] < synchronized[64]
