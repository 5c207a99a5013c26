"""The running baseline (docs/algorithms.md §1): what the server sends with the point, what the
agents report, and how the server's baseline follows the gradients it takes, in the simulator
and in the emulation alike."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import rl_helpers

import asyncsim
import asyncsim.config  # the built-ins are registered before restore_registries saves them
import asyncsim.methods.registry
from asyncsim.oracles.base import GradientJob, GradientRequest
from asyncsim.oracles.policy_gradient import PolicyGradientOracle, RewardsToGo
from asyncsim.rl.estimator import rewards_to_go

HORIZON = 6


def _oracle(baseline: str, window: int = 4) -> PolicyGradientOracle:
    return PolicyGradientOracle(
        rl_helpers.LQ_ID,
        2,
        0,
        horizon=HORIZON,
        discount=0.9,
        policy="linear",
        baseline=baseline,
        baseline_window=window,
        workers=1,
    )


def _request(point: np.ndarray, first: int, count: int, context=None) -> GradientRequest:
    return GradientRequest(point, (GradientJob(0, first, count, 1.0),), context)


def test_zero_running_baseline_is_the_papers_estimator():
    with _oracle("running") as running, _oracle("none") as plain:
        point = running.initial_point()
        context = running.initial_context()
        assert np.array_equal(context, np.zeros(HORIZON))
        first = running.compute([_request(point, 0, 3, context)])[0]
        reference = plain.compute([_request(point, 0, 3)])[0]
    assert np.array_equal(first.vector, reference.vector)
    assert plain.initial_context() is None and reference.report is None


def test_report_is_the_sum_of_the_rewards_to_go_and_the_baseline_moves_k_over_w():
    with _oracle("running", window=4) as oracle:
        point = oracle.initial_point()
        result = oracle.compute([_request(point, 0, 3, oracle.initial_context())])[0]
        trajectories = oracle._rollout(point[None], [(0, 0, i) for i in range(3)])
        rewards = np.zeros((3, HORIZON))
        for b, tr in enumerate(trajectories):
            rewards[b, : tr.length] = tr.rewards
        lengths = np.array([tr.length for tr in trajectories])
        psi = rewards_to_go(rewards, lengths, 0.9)
        assert result.report.count == 3
        np.testing.assert_allclose(result.report.total, psi.sum(0))
        before = np.arange(HORIZON, dtype=float)
        after = oracle.next_context(before, result)
        np.testing.assert_allclose(after, before + 0.75 * (psi.mean(0) - before))
        many = result.__class__(result.vector, result.stats, result.report + result.report)
        np.testing.assert_allclose(oracle.next_context(before, many), psi.mean(0))  # k >= W


def test_a_given_baseline_shifts_the_gradient_by_its_score_term():
    """g(b) − g(0) = −Σ_t b_t ∇log π(u_t|s_t): linear in b, so g(2b) − g(b) = g(b) − g(0)."""
    with _oracle("running") as oracle:
        point, b = oracle.initial_point(), np.linspace(1.0, 2.0, HORIZON)
        g = [oracle.compute([_request(point, 5, 2, k * b)])[0].vector for k in (0, 1, 2)]
    np.testing.assert_allclose(g[2] - g[1], g[1] - g[0], rtol=1e-5, atol=1e-6)
    assert np.linalg.norm(g[1] - g[0]) > 0


def test_reports_add_up():
    a = RewardsToGo(np.array([1.0, 2.0]), 1)
    b = RewardsToGo(np.array([3.0, 5.0]), 2)
    total = a + b
    assert total.count == 3 and np.array_equal(total.total, [4.0, 7.0])


@pytest.mark.parametrize("value", ["mean", "Running"])
def test_unknown_baseline_is_one_line(value):
    from asyncsim.errors import ConfigError

    with pytest.raises(ConfigError, match=r"oracle\.baseline"):
        _oracle(value)


# ---------------------------------------------------------------- the server's context, engines

CONTEXT_ORACLE = '''
"""An oracle whose gradient is the server's context: how many gradients the server had taken
when it sent the point (each gradient reports 1)."""
from typing import Literal

import numpy as np

import asyncsim
import asyncsim.config  # the built-ins are registered before restore_registries saves them
import asyncsim.methods.registry
from asyncsim.oracles.base import GradientResult

SEEN = []


class CountingOracle(asyncsim.GradientOracle):
    dim, horizon = 1, 1

    def __init__(self, n):
        self.n_agents = n

    def initial_point(self):
        return np.zeros(1)

    def compute(self, requests):
        SEEN.extend(r.context for r in requests)
        return [
            GradientResult(
                np.array([r.context * sum(j.weight * j.count for j in r.jobs)]),
                {},
                sum(j.count for j in r.jobs),
            )
            for r in requests
        ]

    def initial_context(self):
        return 0

    def next_context(self, context, result):
        return context + result.report


class CountingConfig(asyncsim.Params):
    kind: Literal["counting"]

    def build(self, n_agents, seed):
        return CountingOracle(n_agents)


asyncsim.register_oracle("counting", CountingConfig, "gradient = the server's context")
'''

TAU = [1.0, 1.5, 2.2]


def _counting_scenario(tmp_path, methods, iterations):
    from asyncsim.plugins import trust_plugins

    trust_plugins()  # the test's own plug-in (restore_registries withdraws the trust)
    plugin = tmp_path / "counting.py"
    plugin.write_text(CONTEXT_ORACLE)
    return {
        "name": "context",
        "plugins": [str(plugin)],
        "oracle": {"kind": "counting"},
        "cluster": {
            "n": 3,
            "compute": {"kind": "fixed", "h": TAU},
            "uplink": {"kind": "fixed", "time": 0},
            "downlink": {"kind": "fixed", "time": 0},
        },
        "methods": methods,
        "budget": {"iterations": iterations},
    }


def _seen(tmp_path) -> list:
    """The contexts of every request the plug-in oracle computed, in order."""
    plugin = str(tmp_path / "counting.py")
    module = next(m for m in list(sys.modules.values()) if getattr(m, "__file__", None) == plugin)
    return module.SEEN


def test_rounds_send_the_context_of_the_gradients_taken_before(tmp_path, restore_registries):
    """Minibatch SGD, n = 3: round t's point goes out with 3t gradients taken; Rennala SGD with
    M = 2: 2t. The gradient is that count, so θ_T = α Σ_t (gradients taken before round t)."""

    methods = [{"name": "minibatch_sgd", "lr": 1.0}, {"name": "rennala_sgd", "lr": 1.0, "batch": 2}]
    asyncsim.simulate(_counting_scenario(tmp_path, methods, 4))
    seen = _seen(tmp_path)
    assert seen[:5] == [0, 3, 6, 9, 12]  # minibatch: one request per round
    assert seen[5:] == [0, 2, 4, 6, 8]


def test_the_asynchronous_server_sends_its_context_with_each_point(tmp_path, restore_registries):
    """Asynchronous SGD: a gradient started at a point sent after the server took j gradients
    has value j, whatever it arrives; checked against an event-by-event count."""

    methods = [{"name": "asynchronous_sgd", "lr": 1.0}]
    asyncsim.simulate(_counting_scenario(tmp_path, methods, 12))
    arrivals = sorted((k * tau, agent) for agent, tau in enumerate(TAU) for k in range(1, 9))
    sent_with, expected = [0, 0, 0], []
    for taken, (_, agent) in enumerate(arrivals[:13], start=1):
        expected.append(sent_with[agent])
        sent_with[agent] = taken
    seen = _seen(tmp_path)  # in the order requests were computed: compare as multisets
    assert len(seen) >= 13 and sorted(seen)[:13] == sorted(expected)[:13]


def test_emulation_sends_and_updates_the_context_as_the_simulation(tmp_path, restore_registries):
    """The emulated server keeps the same context: the same iteration tables and parameters
    (the gradients are the contexts, so any other context would change them)."""
    import json

    import yaml
    from click.testing import CliRunner

    from asyncsim.cli import main

    data = _counting_scenario(
        tmp_path,
        [{"name": "minibatch_sgd", "lr": 1.0}, {"name": "asynchronous_sgd", "lr": 1.0}],
        4,
    )
    data["cluster"]["compute"]["h"] = [0.100, 0.165, 0.237]  # no decision within 30 ms of a tie
    path = tmp_path / "context.yaml"
    path.write_text(yaml.safe_dump(data))
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["emulate", str(path), "--out", str(out), "--no-plots", "-q", "--trust-plugins"]
    )
    assert result.exit_code == 0, result.output
    for key, method in json.loads((out / "emulation.json").read_text())["methods"].items():
        assert method["same_iteration_table"], (key, method["first_table_difference"])
        assert method["parameter_difference"] == 0, key
