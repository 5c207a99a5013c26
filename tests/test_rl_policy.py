"""Gaussian policies: flat parameters, deterministic initialisation, the three forward paths."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from asyncsim.rl.policy import GaussianMLPPolicy, LinearGaussianPolicy, make_policy


def _mlp(seed: int = 0, **kwargs) -> GaussianMLPPolicy:
    return GaussianMLPPolicy(11, 3, generator=torch.Generator().manual_seed(seed), **kwargs)


def test_mlp_shape_and_flat_round_trip():
    policy = _mlp()
    assert policy.num_params == (11 * 64 + 64) + (64 * 64 + 64) + 2 * (64 * 3 + 3)
    theta = policy.get_flat()
    assert theta.dtype == np.float64 and theta.shape == (policy.num_params,)
    policy.set_flat(2 * theta)
    np.testing.assert_allclose(policy.get_flat(), 2 * theta, rtol=1e-6)
    with pytest.raises(ValueError, match="expected shape"):
        policy.set_flat(theta[:-1])


def test_initialisation_is_deterministic_and_leaves_global_rng_alone():
    state = torch.random.get_rng_state()
    np.testing.assert_array_equal(_mlp(1).get_flat(), _mlp(1).get_flat())
    assert not np.array_equal(_mlp(1).get_flat(), _mlp(2).get_flat())
    assert torch.equal(state, torch.random.get_rng_state())


def test_log_prob_is_diagonal_gaussian_in_u():
    policy = _mlp(hidden=(16,))
    obs, u = torch.randn(5, 11), torch.randn(5, 3)
    mean, std = policy(obs)
    expected = torch.distributions.Normal(mean, std).log_prob(u).sum(-1)
    torch.testing.assert_close(policy.log_prob(obs, u), expected)


def test_actions_are_squashed_or_identity():
    u = torch.tensor([[-3.0, 0.0, 0.5]])
    torch.testing.assert_close(_mlp(action_scale=0.4).action(u), 0.4 * torch.tanh(u))
    linear = LinearGaussianPolicy(2, 3)
    assert linear.action(u) is u


@pytest.mark.parametrize("kind", ["mlp", "linear"])
def test_rollout_step_is_batch_independent_and_matches_forward(kind):
    gen = torch.Generator().manual_seed(3)
    policy = make_policy(kind, 7, 3, hidden=(40, 24), action_scale=2.0, generator=gen)
    base = policy.get_flat()
    points = torch.tensor(np.stack([base, 1.3 * base, -base]))
    params = policy.rollout_params(points)
    which, obs = torch.tensor([0, 2, 1, 1, 0, 2, 2]), torch.randn(7, 7, generator=gen)
    noise = torch.zeros(7, policy.lanes)
    noise[:, :3] = torch.randn(7, 3, generator=gen)
    u, a = policy.rollout_step([p[which] for p in params], obs, noise)
    for b in range(7):
        ub, ab = policy.rollout_step(
            [p[which[b : b + 1]] for p in params], obs[b : b + 1], noise[b : b + 1]
        )
        assert torch.equal(ub, u[b : b + 1]) and torch.equal(ab, a[b : b + 1])
        policy.set_flat(points[which[b]].numpy())
        mean, std = policy(obs[b])
        torch.testing.assert_close(u[b, :3], mean + std * noise[b, :3], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(a[b, :3], policy.action(u[b, :3]), rtol=1e-5, atol=1e-5)


def test_log_prob_batched_routes_gradients_to_each_point():
    policy = _mlp(hidden=(16, 16))
    base = policy.get_flat()
    points = np.stack([base, 0.5 * base])
    obs, u = torch.randn(3, 4, 11), torch.randn(3, 4, 3)
    which = torch.tensor([1, 0, 1])
    flat = torch.tensor(points, dtype=torch.float32, requires_grad=True)
    policy.log_prob_batched(flat, which, obs, u).sum().backward()
    for p in range(2):
        policy.set_flat(points[p])
        policy.zero_grad()
        sum(policy.log_prob(obs[b], u[b]).sum() for b in range(3) if which[b] == p).backward()
        expected = torch.cat([q.grad.reshape(-1) for q in policy.params])
        torch.testing.assert_close(flat.grad[p], expected, rtol=1e-4, atol=1e-5)


def test_unknown_policy_kind():
    with pytest.raises(ValueError, match="unknown kind 'mpl'"):
        make_policy("mpl", 2, 1)
