"""Shared code of the RL tests: a linear-quadratic environment with a closed-form J_H(θ)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch

LQ_ID = "AsyncsimTest/LinearQuadratic-v0"

# s_{t+1} = A s_t + B a_t + w_t, w_t ~ N(0, σ_w² I), s_0 ~ N(m_0, σ_0² I), r_t = -(|s_t|² + |a_t|²)
A = np.array([[0.9, 0.3], [-0.2, 0.8]])
B = np.array([[0.1], [0.6]])
M0 = np.array([1.0, -0.5])
SIGMA0, SIGMA_W = 0.3, 0.2


class LinearQuadraticEnv(gym.Env):
    """Linear dynamics, quadratic cost, no termination (the time limit ends episodes)."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (2,), np.float64)
    action_space = gym.spaces.Box(-np.inf, np.inf, (1,), np.float64)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.s = M0 + SIGMA0 * self.np_random.standard_normal(2)
        return self.s.copy(), {}

    def step(self, action):
        a = np.asarray(action, dtype=np.float64)
        reward = -(self.s @ self.s + a @ a)
        self.s = A @ self.s + B @ a + SIGMA_W * self.np_random.standard_normal(2)
        return self.s.copy(), float(reward), False, False, {}


if LQ_ID not in gym.registry:
    gym.register(LQ_ID, entry_point=LinearQuadraticEnv)


def lq_objective(theta: torch.Tensor, horizon: int, discount: float) -> torch.Tensor:
    """Exact J_H(θ) = Σ_{t<H} γ^t E[-(|s_t|² + |a_t|²)] for the linear policy θ = (W, b, log σ).

    With a_t = W s_t + b + σ ε_t the state stays Gaussian, N(m_t, Σ_t):
        E|s_t|² = tr Σ_t + |m_t|²,  E|a_t|² = tr(W Σ_t Wᵀ) + |W m_t + b|² + σ²,
        m_{t+1} = (A + BW) m_t + B b,  Σ_{t+1} = (A+BW) Σ_t (A+BW)ᵀ + σ² B Bᵀ + σ_w² I.
    """
    a, b_mat = torch.tensor(A), torch.tensor(B)
    w, bias, var = theta[:2].reshape(1, 2), theta[2:3], torch.exp(2 * theta[3])
    m, cov = torch.tensor(M0), SIGMA0**2 * torch.eye(2, dtype=torch.float64)
    closed = a + b_mat @ w
    total = torch.zeros((), dtype=torch.float64)
    for t in range(horizon):
        mean_a = w @ m + bias
        cost = torch.trace(cov) + m @ m + torch.trace(w @ cov @ w.T) + mean_a @ mean_a + var
        total = total - discount**t * cost
        m = closed @ m + b_mat @ bias
        cov = closed @ cov @ closed.T + var * b_mat @ b_mat.T + SIGMA_W**2 * torch.eye(2)
    return total


def lq_gradient(theta: np.ndarray, horizon: int, discount: float) -> np.ndarray:
    """∇J_H(θ) by autograd through :func:`lq_objective`."""
    t = torch.tensor(theta, dtype=torch.float64, requires_grad=True)
    lq_objective(t, horizon, discount).backward()
    return t.grad.numpy()
