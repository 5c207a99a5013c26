"""The update rules against steps computed by hand, as optax tests its optimizers: NIGT
(Algorithm 1: momentum, normalized step, look-ahead query point), the plain step, and both
delay-adaptive rules, each built directly and through the registry from a method's parameters.
Numbers are chosen so that every norm is a whole number."""

from __future__ import annotations

import numpy as np
import pytest

from asyncsim.config import validate_scenario
from asyncsim.methods.optimizers import delay_adaptive_sgd, nigt, sgd
from asyncsim.runner import simulate


def built(method: str, **params: object):
    """The optimizer a run of ``method`` with ``params`` uses (n = 4 agents), as the runner
    builds it: from the validated scenario's resolved parameters."""
    scenario = validate_scenario({
        "name": "optimizer",
        "oracle": {"kind": "quadratic", "dim": 2},
        "cluster": {"n": 4, "compute": {"kind": "fixed", "h": 1.0}},
        "methods": [{"name": method, **params}],
        "budget": {"iterations": 1},
    })  # fmt: skip
    (config,) = scenario.methods
    return config.spec.optimizer_spec.build(config.params)


def test_nigt_two_steps_by_hand() -> None:
    """α = 0.5, η = 0.25, θ_0 = 0:
    g_0 = (3, 4): d_0 = g_0, ||d_0|| = 5, θ_1 = 0.5·(3, 4)/5 = (0.3, 0.4),
        θ̃_1 = θ_1 + (0.75/0.25)(θ_1 − θ_0) = (1.2, 1.6);
    g_1 = (−9, 12): d_1 = 0.75·(3, 4) + 0.25·(−9, 12) = (0, 6), θ_2 = θ_1 + 0.5·(0, 1)
        = (0.3, 0.9), θ̃_2 = θ_2 + 3·(0, 0.5) = (0.3, 2.4)."""
    for optimizer in (nigt(0.5, 0.25), built("rennala_nigt", lr=0.5, momentum=0.25)):
        state = optimizer.init(np.zeros(2))
        np.testing.assert_array_equal(state.query, [0.0, 0.0])  # d_0 is taken at θ_0 itself
        assert state.direction is None
        state = optimizer.update(state, np.array([3.0, 4.0]))
        np.testing.assert_allclose(state.direction, [3.0, 4.0], rtol=0, atol=1e-15)
        np.testing.assert_allclose(state.theta, [0.3, 0.4], rtol=0, atol=1e-15)
        np.testing.assert_allclose(state.query, [1.2, 1.6], rtol=0, atol=1e-15)
        state = optimizer.update(state, np.array([-9.0, 12.0]))
        np.testing.assert_allclose(state.direction, [0.0, 6.0], rtol=0, atol=1e-15)
        np.testing.assert_allclose(state.theta, [0.3, 0.9], rtol=0, atol=1e-15)
        np.testing.assert_allclose(state.query, [0.3, 2.4], rtol=0, atol=1e-15)


def test_nigt_ignores_the_delay_and_does_not_step_on_a_zero_direction() -> None:
    optimizer = nigt(0.5, 0.25)
    state = optimizer.init(np.array([1.0, -1.0]))
    late = optimizer.update(state, np.array([3.0, 4.0]), 7)
    np.testing.assert_array_equal(late.theta, optimizer.update(state, np.array([3.0, 4.0])).theta)
    still = optimizer.update(state, np.zeros(2))
    np.testing.assert_array_equal(still.theta, [1.0, -1.0])
    np.testing.assert_array_equal(still.query, [1.0, -1.0])


def test_nigt_with_momentum_one_queries_at_the_iterate() -> None:
    """η = 1: d_t = g_t and the look-ahead coefficient (1 − η)/η is 0."""
    optimizer = nigt(1.0, 1.0)
    state = optimizer.update(optimizer.init(np.zeros(2)), np.array([0.0, -2.0]))
    np.testing.assert_array_equal(state.theta, [0.0, -1.0])
    np.testing.assert_array_equal(state.query, state.theta)
    state = optimizer.update(state, np.array([6.0, 8.0]))
    np.testing.assert_allclose(state.theta, [0.6, -0.2], rtol=0, atol=1e-15)


def test_nigt_step_decay_by_hand() -> None:
    """α = 1, η = 1, T₀ = 2: steps α_t = 1/√(1 + t/2) = 1, √(2/3), 1/√2 along g/||g||; without
    T₀ every step is α (the paper's constant step)."""
    for optimizer in (
        nigt(1.0, 1.0, 2.0),
        built("rennala_nigt", lr=1.0, momentum=1.0, lr_decay=2.0),
    ):
        state = optimizer.init(np.zeros(2))
        for g, theta in (
            ((0.0, 3.0), (0.0, 1.0)),
            ((4.0, 0.0), (np.sqrt(2 / 3), 1.0)),
            ((0.0, -5.0), (np.sqrt(2 / 3), 1.0 - np.sqrt(0.5))),
        ):
            state = optimizer.update(state, np.array(g))
            np.testing.assert_allclose(state.theta, theta, rtol=0, atol=1e-15)
        assert state.updates == 3
    constant = nigt(1.0, 1.0)
    state = constant.init(np.zeros(2))
    for _ in range(3):
        state = constant.update(state, np.array([0.0, 2.0]))
    np.testing.assert_array_equal(state.theta, [0.0, 3.0])


def test_sgd_step_by_hand() -> None:
    """θ_1 = θ_0 + α g = (1, 2) + 0.1·(10, −20) = (2, 0); the query point is the iterate."""
    for optimizer in (sgd(0.1), built("rennala_sgd", lr=0.1)):
        state = optimizer.init(np.array([1.0, 2.0]))
        state = optimizer.update(state, np.array([10.0, -20.0]), 9)  # the delay is not read
        np.testing.assert_allclose(state.theta, [2.0, 0.0], rtol=0, atol=1e-15)
        np.testing.assert_array_equal(state.query, state.theta)


#: delay δ → the step size of each rule with α = 0.1 and τ_C = 4
STEPS = {
    "mishchenko": {0: 0.1, 1: 0.1, 4: 0.1, 5: 0.1 * 4 / 5, 8: 0.05, 40: 0.01},
    "koloskova": {0: 0.1, 1: 0.1, 4: 0.1, 5: 0.02, 8: 0.0125, 40: 0.0025},
}


@pytest.mark.parametrize("rule", sorted(STEPS))
def test_delay_adaptive_steps_by_hand(rule: str) -> None:
    """Mishchenko et al.: α·min{1, τ_C/δ}; Koloskova et al.: α if δ ≤ τ_C, else α/δ."""
    by_params = built("delay_adaptive_asgd", lr=0.1, rule=rule)  # τ_C defaults to n = 4
    for optimizer in (delay_adaptive_sgd(0.1, rule, 4), by_params):
        for delay, step in STEPS[rule].items():
            state = optimizer.update(optimizer.init(np.array([1.0])), np.array([2.0]), delay)
            assert state.theta[0] == pytest.approx(1.0 + 2.0 * step, rel=1e-15), (rule, delay)
            np.testing.assert_array_equal(state.query, state.theta)


def test_the_concurrency_parameter_is_the_threshold() -> None:
    optimizer = built("delay_adaptive_asgd", lr=0.1, rule="koloskova", concurrency=2)
    state = optimizer.update(optimizer.init(np.zeros(1)), np.ones(1), 3)
    assert state.theta[0] == pytest.approx(0.1 / 3)
    state = optimizer.update(optimizer.init(np.zeros(1)), np.ones(1), 2)
    assert state.theta[0] == pytest.approx(0.1)


def test_the_asynchronous_server_passes_each_gradient_its_delay() -> None:
    """Through a run: with τ_C above every delay the delay-adaptive step is the plain one (the
    same iterates as asynchronous SGD), with τ_C = 1 the delayed gradients take shorter steps."""
    methods = [
        {"name": "asynchronous_sgd"},
        {"name": "delay_adaptive_asgd", "rule": "koloskova", "concurrency": 1000, "label": "wide"},
        {"name": "delay_adaptive_asgd", "rule": "koloskova", "concurrency": 1, "label": "narrow"},
    ]
    run = simulate({
        "name": "delays",
        "oracle": {"kind": "quadratic", "dim": 3, "noise": 0.5},
        "cluster": {"n": 4, "compute": {"kind": "fixed", "h": "sqrt(i)"}},
        "method_defaults": {"lr": 0.05},
        "methods": methods,
        "budget": {"iterations": 40},
    })  # fmt: skip
    norms = {key: [row["grad_norm"] for row in m.rows] for key, m in run.methods.items()}
    assert max(row["delay"] for row in run.methods["narrow"].rows) > 1
    assert norms["wide"] == norms["asynchronous_sgd"]
    assert norms["narrow"] != norms["asynchronous_sgd"]
