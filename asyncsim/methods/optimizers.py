"""Update rules applied to an aggregated gradient, as factories in the style of optax.

``nigt(lr, momentum)`` and ``sgd(lr)`` return an :class:`Optimizer`: a pair of pure functions
``init(θ_0) -> state`` and ``update(state, g, delay) -> state``. A state holds the model θ and
the *query point* where the next gradient is taken. Methods ascend (they maximise returns J;
synthetic oracles hand back −∇f). ``delay`` is the number of updates the server applied since
the gradient's point was sent (0 for synchronous rounds); only delay-adaptive rules read it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Literal

import numpy as np
from pydantic import Field

from asyncsim.core.linalg import norm
from asyncsim.core.optimizer import Optimizer
from asyncsim.core.registry import Context, Params

__all__ = [
    "DelayAdaptiveParams",
    "NIGTParams",
    "NIGTState",
    "Optimizer",
    "SGDParams",
    "SGDState",
    "delay_adaptive_sgd",
    "nigt",
    "sgd",
]

StepSize = Annotated[float, Field(gt=0, description="step size α")]


# ---------------------------------------------------------------- NIGT (Algorithm 1)


@dataclass(frozen=True)
class NIGTState:
    """θ_t, the query point θ̃ where the next gradient is taken, the momentum d_t (None before
    the first aggregate) and t, the updates applied so far."""

    theta: np.ndarray
    query: np.ndarray
    direction: np.ndarray | None = None
    updates: int = 0


class NIGTParams(Params):
    """Step size α, momentum η and the optional step decay T₀ of NIGT."""

    lr: StepSize = 0.01
    momentum: Annotated[float, Field(gt=0, le=1, description="momentum η")] = 0.1
    lr_decay: Annotated[float, Field(gt=0)] | None = Field(
        None,
        description="T₀ (updates): step α_t = α/√(1 + t/T₀); none: the constant α of Alg. 1",
    )


def nigt(lr: float, momentum: float, lr_decay: float | None = None) -> Optimizer:
    """Algorithm 1 (normalized ascent with implicit gradient transport), one iteration:

        d_t     = (1-η) d_{t-1} + η g_t        (d_0 = g_0, the initial aggregate)
        θ_{t+1} = θ_t + α_t · d_t / ||d_t||    (no step while d_t = 0)
        θ̃_{t+1} = θ_{t+1} + ((1-η)/η) · (θ_{t+1} − θ_t)   ← the next query point

    Gradients are first taken at θ_0 itself (d_0 = Aggregate(θ_0, M_init)). The step is the
    constant α_t = α of the paper, or with ``lr_decay`` = T₀ the decreasing α_t = α/√(1 + t/T₀)
    (t = updates applied before this one): a normalized step moves θ by α_t whatever the
    gradient's size, so at a constant α the iterate keeps wandering at distance ~α around a
    stationary point (docs/algorithms.md §2).
    """

    def step(updates: int) -> float:
        return lr if lr_decay is None else lr / math.sqrt(1.0 + updates / lr_decay)

    def init(theta0: np.ndarray) -> NIGTState:
        return NIGTState(theta0, theta0, None)

    def update(state: NIGTState, g: np.ndarray, delay: int = 0) -> NIGTState:
        d = g if state.direction is None else (1.0 - momentum) * state.direction + momentum * g
        length = norm(d)
        alpha = step(state.updates)
        theta = state.theta + (alpha / length) * d if length > 0 else state.theta
        query = theta + ((1.0 - momentum) / momentum) * (theta - state.theta)
        return NIGTState(theta, query, d, state.updates + 1)

    return Optimizer(init, update)


# ---------------------------------------------------------------- plain (stochastic) gradient step


@dataclass(frozen=True)
class SGDState:
    """θ_t; the next gradient is taken at θ_t itself."""

    theta: np.ndarray

    @property
    def query(self) -> np.ndarray:
        return self.theta


class SGDParams(Params):
    """Step size α of the plain gradient step."""

    lr: StepSize = 0.01


def sgd(lr: float) -> Optimizer:
    """The plain step θ_{t+1} = θ_t + α g_t (SGD on −f; vanilla policy-gradient ascent on J)."""

    def init(theta0: np.ndarray) -> SGDState:
        return SGDState(theta0)

    def update(state: SGDState, g: np.ndarray, delay: int = 0) -> SGDState:
        return SGDState(state.theta + lr * g)

    return Optimizer(init, update)


# ---------------------------------------------------------------- delay-adaptive step sizes


class DelayAdaptiveParams(Params):
    """Step size α, the delay rule and the concurrency τ_C of delay-adaptive asynchronous SGD."""

    lr: StepSize = 0.01
    rule: Literal["mishchenko", "koloskova"] = Field(
        "mishchenko",
        description="mishchenko: α·min{1, τ_C/δ}; koloskova: α if δ <= τ_C, else α/δ",
    )
    concurrency: int | None = Field(
        None, ge=1, description="τ_C, gradients in flight (default n, every agent busy)"
    )

    def resolve(self, context: Context) -> DelayAdaptiveParams:
        params = super().resolve(context)
        return params.model_copy(update={"concurrency": params.concurrency or context.n})


_LARGE_DELAY_STEP = {
    "mishchenko": lambda lr, concurrency, delay: lr * concurrency / delay,
    "koloskova": lambda lr, concurrency, delay: lr / delay,
}
"""The step size of a gradient whose delay exceeds the concurrency, by rule."""


def delay_adaptive_sgd(lr: float, rule: str, concurrency: int) -> Optimizer:
    """The plain step with a step size that shrinks with the gradient's delay δ (Asynchronous SGD
    with delay-adaptive step sizes):

    - Mishchenko, Bach, Even, Woodworth (NeurIPS 2022): α_k = α · min{1, τ_C/δ_k} (their code:
      α·n/max(n, δ_k));
    - Koloskova, Stich, Jaggi (NeurIPS 2022, Theorem 8 and the remark after it): α_k = α when
      δ_k <= τ_C, else α/δ_k.
    """

    large_delay = _LARGE_DELAY_STEP[rule]

    def step_size(delay: int) -> float:
        return lr if delay <= concurrency else large_delay(lr, concurrency, delay)

    def init(theta0: np.ndarray) -> SGDState:
        return SGDState(theta0)

    def update(state: SGDState, g: np.ndarray, delay: int = 0) -> SGDState:
        return SGDState(state.theta + step_size(delay) * g)

    return Optimizer(init, update)
