"""The GPOMDP policy-gradient estimator (docs/algorithms.md §1), vectorised over a batch of
trajectories.

For one trajectory τ = (s_0, u_0, r_0, …, s_{L-1}, u_{L-1}, r_{L-1}) of length L ≤ H
(L < H when the episode terminates; it then contributes zero reward afterwards)

    g(τ, θ) = Σ_{t<H} Ψ_t ∇_θ log π_θ(u_t | s_t),     Ψ_t = Σ_{h=t}^{H-1} γ^h r_h

(reward-to-go with *absolute* discounting γ^h, not γ^{h-t}), an unbiased estimate of ∇J_H(θ),
J_H(θ) = E[Σ_{t<H} γ^t r_t]. A batch with weights w_b is reduced to the scalar surrogate

    S(θ) = Σ_b w_b Σ_t Ψ_{b,t} log π_θ(u_{b,t} | s_{b,t}),     ∇S = Σ_b w_b g(τ_b, θ),

so ONE backward pass yields the weighted sum of the per-trajectory gradients.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from asyncsim.rl.policy import GaussianPolicy

__all__ = [
    "Baseline",
    "Trajectory",
    "gpomdp_coefficients",
    "gpomdp_surrogate",
    "rewards_to_go",
    "weighted_gradients",
]


@dataclass(frozen=True, slots=True)
class Trajectory:
    """One rolled-out trajectory of length L = len(rewards).

    Attributes:
        obs: (L, d_s) float32 policy inputs s_t (after the agent's observation transform).
        u: (L, d_a) float32 pre-squash Gaussian samples u_t.
        rewards: (L,) float64 rewards r_t.
    """

    obs: np.ndarray
    u: np.ndarray
    rewards: np.ndarray

    @property
    def length(self) -> int:
        """Number of transitions L."""
        return len(self.rewards)


def rewards_to_go(rewards: np.ndarray, lengths: np.ndarray, discount: float) -> np.ndarray:
    """Ψ_{b,t} = Σ_{h=t}^{L_b-1} γ^h r_{b,h} for t < L_b, and 0 for t ≥ L_b.

    Args:
        rewards: (B, T) rewards, any values beyond each length are ignored.
        lengths: (B,) trajectory lengths L_b ≤ T.
        discount: γ.
    """
    steps = np.arange(rewards.shape[1])
    mask = steps[None, :] < np.asarray(lengths)[:, None]
    discounted = np.where(mask, rewards * discount ** steps[None, :], 0.0)
    return np.cumsum(discounted[:, ::-1], axis=1)[:, ::-1] * mask


@dataclass(frozen=True)
class Baseline:
    """β_{b,t}, subtracted from Ψ_{b,t} (either part, or both; None: none).

    Attributes:
        groups: (B,) ints: β_{b,t} is the mean of Ψ_{b',t} over the *other* trajectories
            b' ≠ b of b's group (leave-one-out batch mean per time step, 0 for a group of one):
            β_{b,t} is independent of τ_b, so the estimator stays unbiased.
        rows: (B, ≥T): β_{b,t} = rows[b, t], given in advance (the running baseline: it
            depends on earlier trajectories only, so the estimator stays unbiased too).
    """

    groups: np.ndarray | None = None
    rows: np.ndarray | None = None


def gpomdp_coefficients(
    rewards: np.ndarray,
    lengths: np.ndarray,
    weights: np.ndarray,
    discount: float,
    baseline: Baseline | None = None,
) -> np.ndarray:
    """c_{b,t} = w_b (Ψ_{b,t} − β_{b,t}) for t < L_b, else 0: the surrogate's coefficients;
    β = 0 without a :class:`Baseline`."""
    psi = rewards_to_go(rewards, lengths, discount)
    if baseline is not None:
        if baseline.groups is not None:
            psi = psi - _leave_one_out_mean(psi, np.asarray(baseline.groups))
        if baseline.rows is not None:
            psi = psi - baseline.rows[:, : psi.shape[1]]
        psi *= np.arange(psi.shape[1])[None, :] < np.asarray(lengths)[:, None]
    return np.asarray(weights, dtype=np.float64)[:, None] * psi


def _leave_one_out_mean(psi: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """(Σ_{b' in group(b)} Ψ_{b',t} − Ψ_{b,t}) / (|group(b)| − 1), 0 for a group of one."""
    _, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    sums = np.zeros((len(counts), psi.shape[1]))
    np.add.at(sums, inverse, psi)
    others = (counts[inverse] - 1)[:, None]
    return np.divide(sums[inverse] - psi, others, out=np.zeros_like(psi), where=others > 0)


def gpomdp_surrogate(log_probs: torch.Tensor, coefficients: np.ndarray) -> torch.Tensor:
    """S = Σ_{b,t} c_{b,t} log π(u_{b,t} | s_{b,t}); ∇S = Σ_b w_b g(τ_b, θ) (see module doc)."""
    c = torch.as_tensor(coefficients, dtype=log_probs.dtype)
    return (c * log_probs).sum()


def _pad(arrays: Sequence[np.ndarray], length: int, dtype) -> np.ndarray:
    out = np.zeros((len(arrays), length, *arrays[0].shape[1:]), dtype=dtype)
    for b, a in enumerate(arrays):
        out[b, : len(a)] = a
    return out


def weighted_gradients(
    policy: GaussianPolicy,
    points: np.ndarray,
    trajectories: Sequence[Trajectory],
    which: np.ndarray,
    weights: np.ndarray,
    discount: float,
    baseline: Baseline | None = None,
) -> np.ndarray:
    """G_p = Σ_{b : which[b] = p} w_b g(τ_b, θ_p) for every point p, with one backward pass.

    Args:
        policy: defines the parameterisation (its own parameters are not used).
        points: (P, n) float64 parameter vectors θ_p.
        trajectories: B trajectories, trajectory b sampled at θ_{which[b]}.
        which: (B,) point index of each trajectory.
        weights: (B,) weights w_b.
        discount: γ.
        baseline: β (None: no baseline).

    Returns:
        (P, n) float64 weighted gradient sums (zero for a point without trajectories).
    """
    if not trajectories:
        return np.zeros_like(points, dtype=np.float64)
    lengths = np.array([tr.length for tr in trajectories])
    horizon = int(lengths.max())
    rewards = _pad([tr.rewards for tr in trajectories], horizon, np.float64)
    coefficients = gpomdp_coefficients(rewards, lengths, weights, discount, baseline)
    # One leaf per parameter tensor, not slices of one (P, n) leaf: a slice's backward fills a
    # zero (P, n) tensor per parameter tensor (8 × 5 × 28,706 floats for 5 Humanoid points),
    # which was ~30% of the backward of a small AFedPG call.
    flat = torch.tensor(points, dtype=torch.float32)
    leaves = [p.requires_grad_() for p in policy.unflatten(flat)]  # views of flat, no copies
    log_probs = policy.log_prob_per_point(
        leaves,
        torch.as_tensor(which, dtype=torch.long),
        torch.from_numpy(_pad([tr.obs for tr in trajectories], horizon, np.float32)),
        torch.from_numpy(_pad([tr.u for tr in trajectories], horizon, np.float32)),
    )
    gpomdp_surrogate(log_probs, coefficients).backward()
    grads = [leaf.grad.reshape(len(points), -1) for leaf in leaves]
    return torch.cat(grads, dim=1).double().numpy()
