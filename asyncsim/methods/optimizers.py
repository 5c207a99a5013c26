"""Pure update rules applied to an aggregated gradient (SPEC §2), in the style of optax.

A state holds the model θ and the *query point* where the next gradient is taken. Methods
ascend (they maximise returns J). Both rules are pure functions of (state, gradient).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np

__all__ = ["OPTIMIZERS", "Optimizer", "OptimizerState", "make_optimizer", "nigt_update",
           "vanilla_update"]  # fmt: skip


@dataclass(frozen=True)
class OptimizerState:
    """θ_t, the query point where the next gradient is taken, and the NIGT momentum d_t."""

    theta: np.ndarray
    query: np.ndarray
    direction: np.ndarray | None = None


def initial_state(theta0: np.ndarray) -> OptimizerState:
    """Gradients are first taken at θ_0 itself (d_0 = Aggregate(θ_0, M_init))."""
    return OptimizerState(theta0, theta0, None)


def nigt_update(state: OptimizerState, g: np.ndarray, lr: float, momentum: float) -> OptimizerState:
    """Algorithm 1 (normalized ascent with implicit gradient transport), one iteration:

    d_t     = (1-η) d_{t-1} + η g_t        (d_0 = g_0, the initial aggregate)
    θ_{t+1} = θ_t + α · d_t / ||d_t||      (no step while d_t = 0)
    θ̃_{t+1} = θ_{t+1} + ((1-η)/η) · (θ_{t+1} − θ_t)   ← the next query point
    """
    d = g if state.direction is None else (1.0 - momentum) * state.direction + momentum * g
    norm = float(np.linalg.norm(d))
    theta = state.theta + (lr / norm) * d if norm > 0 else state.theta
    query = theta + ((1.0 - momentum) / momentum) * (theta - state.theta)
    return OptimizerState(theta, query, d)


def vanilla_update(
    state: OptimizerState, g: np.ndarray, lr: float, momentum: float
) -> OptimizerState:
    """Vanilla policy-gradient ascent θ_{t+1} = θ_t + α g_t; the next gradient is at θ_{t+1}.
    ``momentum`` is unused (kept so that both rules share one signature)."""
    theta = state.theta + lr * g
    return OptimizerState(theta, theta, None)


OPTIMIZERS: dict[str, Callable[..., OptimizerState]] = {
    "nigt": nigt_update,
    "vanilla": vanilla_update,
}


@dataclass(frozen=True)
class Optimizer:
    """An update rule with its hyper-parameters bound."""

    name: str
    update: Callable[[OptimizerState, np.ndarray], OptimizerState]

    @staticmethod
    def init(theta0: np.ndarray) -> OptimizerState:
        return initial_state(theta0)


def make_optimizer(name: str, lr: float, momentum: float) -> Optimizer:
    """Bind α and η to the update rule ``name`` ("nigt" or "vanilla")."""
    return Optimizer(name, partial(OPTIMIZERS[name], lr=lr, momentum=momentum))
