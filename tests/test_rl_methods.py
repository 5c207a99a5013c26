"""Every method on real policy gradients (MuJoCo), determinism, and Malenia NIGT on the paper's
heterogeneous inverted-observation setup (App. H.3) on a small task."""

from __future__ import annotations

import math

import pytest

from asyncsim import simulate
from asyncsim.config import validate_scenario
from asyncsim.oracles import build_oracle
from asyncsim.registry import METHODS
from asyncsim.results import write_run
from asyncsim.runner import seeds

pytestmark = pytest.mark.mujoco

ON_A_SERVER = [name for name in METHODS if not METHODS.get(name).protocol_spec.decentralized]
"""Every method but those of agents on a graph (tests/test_graph_methods.py)."""

HOPPER = {
    "name": "tiny-hopper",
    "seed": 3,
    "oracle": {"kind": "policy_gradient", "env": "Hopper-v5", "horizon": 50, "workers": 1},
    "cluster": {"n": 3, "compute": {"h": "sqrt(i)"}, "uplink": {"time": 0.5}},
    "method_defaults": {"batch": 4, "lr": 0.01, "max_delay": 2},  # R: the RL oracle has no σ²
    "methods": [{"name": name} for name in ON_A_SERVER],
    "budget": {"iterations": 3},
}


def test_every_method_completes_a_tiny_hopper_run_deterministically(tmp_path):
    result = simulate(HOPPER)
    first = write_run(result, tmp_path / "first")
    second = write_run(simulate(HOPPER), tmp_path / "second")
    for name in ON_A_SERVER:
        for table in ("iterations.csv", "trace.csv"):
            assert (first / name / table).read_bytes() == (second / name / table).read_bytes()
    for name, method in result.methods.items():
        assert len(method.rows) == 4, name
        for row in method.rows:
            assert math.isfinite(row["return_mean"]) and math.isfinite(row["grad_norm"]), name
            assert row["transitions"] > 0


def test_malenia_nigt_improves_the_average_return_of_both_inverted_agents():
    """Agent 1 sees (s, 0), agent 2 sees (−s, 1), h = (1, 10): the shared policy's return,
    averaged over both agents' environments (evaluation episodes alternate between them),
    improves within the budget."""
    scenario = {
        "name": "h3-small",
        "oracle": {
            "kind": "policy_gradient",
            "env": "InvertedPendulum-v5",
            "horizon": 50,
            "heterogeneity": "inverted_observation",
            "workers": 1,
        },
        "cluster": {"n": 2, "compute": {"h": [1, 10]}},
        "methods": [{"name": "malenia_nigt", "lr": 0.015625, "batch": 4}],
        "budget": {"iterations": 40},
        "evaluation": {"episodes": 20, "every": 40},
    }
    rows = simulate(scenario).methods["malenia_nigt"].rows
    validated = validate_scenario(scenario)
    oracle = build_oracle(validated.oracle, 2, seeds(validated.seed)[1])
    before = oracle.evaluate(oracle.initial_point(), 20)
    oracle.close()
    after = rows[-1]
    assert after["eval_return"] > 1.5 * before["return_mean"], (before, after)
    # 10 episodes in each agent's environment: their mean is the average of the agents' returns
    halves = [after[f"eval_return_agent_{agent}"] for agent in (1, 2)]
    assert after["eval_return"] == pytest.approx(sum(halves) / 2)
