"""The naive reference: one trajectory, one environment, one policy forward per step.

Written independently of the batched path (own reward-to-go loop, ``torch.distributions``) so
that tests can check the batched oracle against it, and benchmarks can measure the speed-up.
It uses the same randomness as the oracle (:func:`asyncsim.rl.rollout.trajectory_randomness`
of stream ``(1, agent, index)``), so both sample the same trajectory up to float rounding.
"""

from __future__ import annotations

import numpy as np
import torch

from asyncsim.rl.envs import AgentEnvSpec, apply_observation, make_env
from asyncsim.rl.policy import GaussianPolicy
from asyncsim.rl.rollout import (
    GRADIENT_STREAM,
    ObservationNormalizer,
    stream,
    trajectory_randomness,
)

__all__ = ["reference_gradient"]


def reference_gradient(
    policy: GaussianPolicy,
    spec: AgentEnvSpec,
    point: np.ndarray,
    seed: int | np.random.SeedSequence,
    agent: int,
    index: int,
    *,
    horizon: int,
    discount: float,
    normalizer: ObservationNormalizer | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """g(τ, θ) = Σ_t (Σ_{h=t}^{L-1} γ^h r_h) ∇_θ log π_θ(u_t | s_t) for trajectory (agent, index).

    Args:
        policy: the policy (its parameters are overwritten with ``point``).
        spec: the agent's environment.
        point: θ, float64.
        seed: the oracle's seed.
        agent, index: which trajectory.
        horizon: H; discount: γ.
        normalizer: the oracle's observation normalizer, if it has one.

    Returns:
        (gradient as float64, the trajectory's rewards).
    """
    root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    reset_seed, noise = trajectory_randomness(
        stream(root, GRADIENT_STREAM, agent, index), horizon, policy.act_dim
    )
    policy.set_flat(point)
    env = make_env(spec, horizon)
    s, _ = env.reset(seed=reset_seed)
    log_probs, rewards = [], []
    for t in range(horizon):
        x = apply_observation(spec.observation, s)
        if normalizer is not None:
            x = normalizer(x)
        x = torch.as_tensor(x, dtype=torch.float32)
        mean, std = policy(x)
        dist = torch.distributions.Normal(mean, std)
        u = (mean + std * torch.as_tensor(noise[t], dtype=torch.float32)).detach()
        log_probs.append(dist.log_prob(u).sum())
        s, r, terminated, truncated, _ = env.step(policy.action(u).numpy())
        rewards.append(float(r))
        if terminated or truncated:
            break
    env.close()
    to_go, psi = 0.0, []
    for h in reversed(range(len(rewards))):
        to_go += discount**h * rewards[h]
        psi.append(to_go)
    surrogate = sum(c * lp for c, lp in zip(reversed(psi), log_probs, strict=True))
    policy.zero_grad()
    surrogate.backward()
    grad = torch.cat([p.grad.reshape(-1) for p in policy.params]).double().numpy()
    return grad, np.array(rewards)
