"""Ringmaster ASGD (Maranjyan, Tyurin, Richtárik, ICML 2025, arXiv 2501.16168;
docs/algorithms.md §7): asynchronous SGD that ignores gradients with delay at least R.

    k = 0; every agent receives x^0 and computes at it
    when agent i's gradient arrives, computed at x^{k−δ} (δ: accepted updates since its point
    was sent):
        if δ < R:  x^{k+1} = x^k − γ g;  k ← k + 1;  agent i receives x^{k+1}     (Algorithm 4)
        else:      ignore the gradient (never computed); agent i receives x^k
    with ``stop_stale`` (Algorithm 5, "with calculation stops"), after every accepted update:
        every agent still working for a point with k − v_j >= R stops (its computation is
        discarded) and receives x^k

[choice] Delays count accepted updates only, so an ignored arrival delays nobody; a gradient
already being uploaded is not stopped (it is judged when it arrives); ties go in agent order,
one arrival at a time. Each row is one accepted update. Default R = max{1, ⌈σ²/ε'⌉} with
ε' = ε² the papers' target of ||∇f||² (the oracle's σ², the budget's ``target_grad_norm``).
Time complexity: optimal, the Rennala SGD form (``theory.rennala_sgd_complexity``).
"""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import Any

from pydantic import Field

from asyncsim.core.errors import ConfigError
from asyncsim.core.registry import Context, Params, ProtocolSpec
from asyncsim.methods.protocol import Training

__all__ = ["PROTOCOL", "RingmasterParams", "train_ringmaster"]


class RingmasterParams(Params):
    """The delay threshold R and whether stale computations are stopped."""

    max_delay: int | None = Field(
        None, ge=1, description="R: gradients with delay >= R are ignored (default max{1, ⌈σ²/ε²⌉})"
    )
    stop_stale: bool = Field(
        False, description="stop computations whose delay reached R (the paper's Algorithm 5)"
    )

    def resolve(self, context: Context) -> RingmasterParams:
        params = super().resolve(context)
        if params.max_delay is not None:
            return params
        sigma2 = getattr(context.oracle, "sigma2", None)
        eps = getattr(context.budget, "target_grad_norm", None)
        if sigma2 is None or eps is None:
            raise ConfigError(
                f"{context.field}.max_delay",
                "required: the default max{1, ⌈σ²/ε²⌉} needs an oracle that knows its σ² and "
                "budget.target_grad_norm (ε)",
            )
        return params.model_copy(update={"max_delay": max(1, math.ceil(sigma2 / eps**2))})


def train_ringmaster(run: Training) -> Generator[Any, Any, None]:
    """SimPy process of the Ringmaster server; stops when the budget is spent."""
    sim, limit = run.sim, run.params.max_delay
    n = sim.cluster.n
    state = run.optimizer.init(sim.oracle.initial_point())
    sent = [0] * n  # the version of the point each agent works for
    for agent in range(n):
        sim.dispatch(agent, state.query, 0)
    k, start = 0, sim.now
    while True:
        arrival = yield sim.next_arrival()
        delay = k - arrival.version
        if delay >= limit:
            arrival.ignore()
            sim.dispatch(arrival.agent, state.query, k)
            sent[arrival.agent] = k
            continue
        gradient = arrival.gradient()
        state = run.optimizer.update(state, gradient.vector, delay)
        k += 1
        sim.dispatch(arrival.agent, state.query, k)
        sent[arrival.agent] = k
        if run.params.stop_stale:
            for agent in range(n):
                if k - sent[agent] >= limit and sim.restart(agent, state.query, k):
                    sent[agent] = k
        if run.updated(k - 1, start, gradient, state.theta, agent=arrival.agent + 1, delay=delay):
            return
        start = sim.now


PROTOCOL = ProtocolSpec(
    name="ringmaster",
    description="asynchronous server ignoring gradients with delay >= R (Alg. 4; 5 with stops)",
    train=train_ringmaster,
    params=RingmasterParams,
    round_based=False,
    server_only=True,
    family="Ringmaster",
    shapes={"sgd": "rennala_sgd"},
    scaling="harmonic-like (optimal)",
)
