"""GPOMDP estimator: reward-to-go algebra, one-backward weighted sums, and unbiasedness against
the exact gradient of a linear-quadratic problem (where a wrong discounting must fail)."""

from __future__ import annotations

import numpy as np
import pytest
import rl_helpers
import torch

from asyncsim.oracles.base import GradientJob, GradientRequest
from asyncsim.oracles.policy_gradient import PolicyGradientOracle
from asyncsim.rl.estimator import (
    Baseline,
    Trajectory,
    gpomdp_coefficients,
    gpomdp_surrogate,
    rewards_to_go,
    weighted_gradients,
)
from asyncsim.rl.policy import GaussianMLPPolicy
from asyncsim.rl.rollout import GRADIENT_STREAM, BatchRoller

HORIZON, DISCOUNT = 6, 0.8
THETA = np.array([-0.3, 0.1, 0.2, -0.5])  # linear policy: W = (-0.3, 0.1), b = 0.2, log σ = -0.5
GROUPS, GROUP_SIZE = 40, 250
Z_MAX = 4.0


def test_rewards_to_go_matches_definition():
    rng = np.random.default_rng(0)
    rewards, lengths, gamma = rng.normal(size=(3, 5)), np.array([5, 2, 0]), 0.7
    psi = rewards_to_go(rewards, lengths, gamma)
    for b, n in enumerate(lengths):
        for t in range(5):
            expected = sum(gamma**h * rewards[b, h] for h in range(t, n)) if t < n else 0.0
            assert psi[b, t] == pytest.approx(expected)


def test_leave_one_out_baseline_and_weights():
    rewards, lengths = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]]), np.full(4, 2)
    psi = rewards_to_go(rewards, lengths, 1.0)
    groups = np.array([0, 0, 0, 1])
    c = gpomdp_coefficients(rewards, lengths, np.array([1.0, 1.0, 2.0, 3.0]), 1.0, Baseline(groups))
    assert c[0] == pytest.approx(psi[0] - (psi[1] + psi[2]) / 2)
    assert c[2] == pytest.approx(2 * (psi[2] - (psi[0] + psi[1]) / 2))
    assert c[3] == pytest.approx(3 * psi[3])  # alone in its group: no baseline


def test_running_baseline_rows_are_subtracted_while_the_episode_runs():
    rewards, lengths = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 0.0]]), np.array([3, 2])
    psi = rewards_to_go(rewards, lengths, 0.9)
    rows = np.array([[0.5, 0.25, 0.125, 9.0], [1.0, 2.0, 3.0, 9.0]])  # longer than T: cut
    c = gpomdp_coefficients(rewards, lengths, np.array([1.0, 2.0]), 0.9, Baseline(rows=rows))
    assert c[0] == pytest.approx(psi[0] - rows[0, :3])
    assert c[1] == pytest.approx(2 * np.array([psi[1, 0] - 1.0, psi[1, 1] - 2.0, 0.0]))


def test_one_backward_gives_weighted_sum_per_point():
    gen = torch.Generator().manual_seed(0)
    policy = GaussianMLPPolicy(3, 2, hidden=(8,), generator=gen)
    rng = np.random.default_rng(1)
    points = np.stack(
        [policy.get_flat(), policy.get_flat() + 0.1 * rng.normal(size=policy.num_params)]
    )
    trajs = [
        Trajectory(
            rng.normal(size=(n, 3)).astype(np.float32),
            rng.normal(size=(n, 2)).astype(np.float32),
            rng.normal(size=n),
        )
        for n in (4, 7, 2)
    ]
    which, weights = np.array([0, 1, 0]), np.array([0.5, 2.0, -1.0])
    total = weighted_gradients(policy, points, trajs, which, weights, 0.9)
    for p in range(2):
        expected = sum(
            w
            * weighted_gradients(
                policy, points[p : p + 1], [tr], np.zeros(1, int), np.ones(1), 0.9
            )[0]
            for tr, q, w in zip(trajs, which, weights, strict=True)
            if q == p
        )
        np.testing.assert_allclose(total[p], expected, rtol=1e-5, atol=1e-5)


def _z_scores(estimates: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(mean − truth) / standard error, per coordinate, from independent group means."""
    se = estimates.std(axis=0, ddof=1) / np.sqrt(len(estimates))
    return (estimates.mean(axis=0) - truth) / se


def _lq_oracle(baseline: bool | str = False) -> PolicyGradientOracle:
    return PolicyGradientOracle(
        rl_helpers.LQ_ID,
        1,
        3,
        horizon=HORIZON,
        discount=DISCOUNT,
        policy="linear",
        baseline=baseline,
        workers=1,
    )


RUNNING_BASELINE = 3.0 * DISCOUNT ** np.arange(HORIZON)[::-1]
"""A fixed running baseline far from the rewards-to-go (any b_t set in advance is unbiased)."""


@pytest.mark.parametrize("baseline", [False, True, "running"])
def test_gpomdp_is_unbiased_on_linear_quadratic(baseline):
    truth = rl_helpers.lq_gradient(THETA, HORIZON, DISCOUNT)
    context = RUNNING_BASELINE if baseline == "running" else None
    with _lq_oracle(baseline) as oracle:
        assert oracle.config.action_scale is None  # unbounded actions: a = u, no tanh
        estimates = np.array(
            [
                oracle.compute(
                    [
                        GradientRequest(
                            THETA,
                            (GradientJob(0, k * GROUP_SIZE, GROUP_SIZE, 1 / GROUP_SIZE),),
                            context,
                        )
                    ]
                )[0].vector
                for k in range(GROUPS)
            ]
        )
    assert np.abs(_z_scores(estimates, truth)).max() < Z_MAX


def test_relative_discounting_fails_the_same_check():
    """Ψ_t = Σ_{h≥t} γ^{h-t} r_h (discounting from t instead of from 0) is biased: detected."""
    truth = rl_helpers.lq_gradient(THETA, HORIZON, DISCOUNT)
    with _lq_oracle() as oracle:
        roller, policy = BatchRoller(oracle.config), oracle.policy
    estimates = []
    for k in range(GROUPS):
        items = [(0, 0, (GRADIENT_STREAM, 0, k * GROUP_SIZE + i)) for i in range(GROUP_SIZE)]
        trajs = roller.rollout(THETA[None], items)
        rewards = np.stack([tr.rewards for tr in trajs])
        wrong = rewards_to_go(
            rewards, np.full(GROUP_SIZE, HORIZON), DISCOUNT
        ) / DISCOUNT ** np.arange(HORIZON)
        flat = torch.tensor(THETA[None], dtype=torch.float32, requires_grad=True)
        log_probs = policy.log_prob_batched(
            flat,
            torch.zeros(GROUP_SIZE, dtype=torch.long),
            torch.from_numpy(np.stack([tr.obs for tr in trajs])),
            torch.from_numpy(np.stack([tr.u for tr in trajs])),
        )
        gpomdp_surrogate(log_probs, wrong / GROUP_SIZE).backward()
        estimates.append(flat.grad[0].double().numpy())
    roller.close()
    assert np.abs(_z_scores(np.array(estimates), truth)).max() >= Z_MAX


def test_closed_form_objective_matches_sampled_returns():
    with _lq_oracle() as oracle:
        stats = oracle.evaluate(THETA, 4000)
    j = rl_helpers.lq_objective(torch.tensor(THETA), HORIZON, DISCOUNT).item()
    assert stats["discounted_return_mean"] == pytest.approx(j, rel=0.03)
