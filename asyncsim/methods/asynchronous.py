"""AFedPG (Lan et al. 2025) and Asynchronous SGD/PG: the greedy asynchronous server
(docs/algorithms.md).

    every agent receives θ_0 and computes at it
    when agent j's gradient g_j arrives (after τ_j, then the uplink κ_j):
        θ ← update(θ, g_j)      (NIGT: d ← (1-η) d + η g_j; θ ← θ + α d/||d||, the first
                                  arrival sets d = g_j; plain step: θ ← θ + α g_j)
        send the next query point (NIGT: the lookahead θ̃ = θ + ((1-η)/η)(θ − θ_prev)) to
        agent j only (downlink time)
    other agents keep computing at stale points; one uplink per gradient, no AllReduce

Each row of the iteration table is one update; ``delay`` is the number of updates since the
point was sent. For fixed times agent i delivers every b_i + τ_i + κ_i seconds, so a gradient
costs (Σ_i 1/(b_i + τ_i + κ_i))^{-1} in the steady state (``theory.asynchronous_gradient_cost``).
"""

from __future__ import annotations

from collections.abc import Generator
from itertools import count
from typing import Any

from asyncsim import theory
from asyncsim.core.registry import Params, ProtocolSpec
from asyncsim.methods.protocol import Training

__all__ = ["PROTOCOL", "train_asynchronously"]


def train_asynchronously(run: Training) -> Generator[Any, Any, None]:
    """SimPy process of the asynchronous server; stops when the budget is spent."""
    sim = run.sim
    state = run.optimizer.init(sim.oracle.initial_point())
    for agent in range(sim.cluster.n):
        sim.dispatch(agent, state.query, 0)
    for t in count():
        update_start = sim.now
        arrival = yield sim.next_arrival()
        gradient = arrival.gradient()
        delay = t - arrival.version
        state = run.optimizer.update(state, gradient.vector, delay)
        sim.dispatch(arrival.agent, state.query, t + 1)
        if run.updated(
            t, update_start, gradient, state.theta, agent=arrival.agent + 1, delay=delay
        ):
            return


def gradient_cost(times: theory.AgentTimes, params: Params) -> float:
    """Steady-state seconds per gradient for fixed times."""
    return theory.asynchronous_gradient_cost(times.tau, times.offsets, times.uplink)


PROTOCOL = ProtocolSpec(
    name="asynchronous",
    description="greedy server: one update per arriving gradient, the sender restarts",
    train=train_asynchronously,
    round_based=False,
    server_only=True,
    family="Asynchronous",
    gradient_cost=gradient_cost,
    shapes={"nigt": "afedpg", "sgd": "asynchronous_sgd", "delay_adaptive_sgd": "asynchronous_sgd"},
    scaling="harmonic-like",
)
