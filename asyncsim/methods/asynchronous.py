"""AFedPG (Lan et al. 2025) and Asynchronous PG: the greedy asynchronous server of SPEC §3.

    every agent receives θ_0 and computes at it
    when agent j's gradient g_j arrives (after τ_j, then the uplink κ_j):
        d ← (1-η) d + η g_j     (the first arrival sets d = g_j)
        θ_prev ← θ;  θ ← θ + α d/||d||
        send the lookahead θ̃ = θ + ((1-η)/η)(θ − θ_prev) to agent j only (downlink time)
    other agents keep computing at stale points; one uplink per gradient, no AllReduce

"Asynchronous PG" is the same server with the plain step θ ← θ + α g_j. Each row of the
iteration table is one update; ``delay`` is the number of updates since the point was sent.
"""

from __future__ import annotations

from collections.abc import Generator
from itertools import count
from typing import Any

from asyncsim.engine.recorder import IterationRecorder
from asyncsim.engine.simulation import Simulation
from asyncsim.methods.optimizers import Optimizer

__all__ = ["train_asynchronously"]


def train_asynchronously(
    sim: Simulation, optimizer: Optimizer, recorder: IterationRecorder
) -> Generator[Any, Any, None]:
    """SimPy process of the asynchronous server; stops when the recorder's budget is spent."""
    state = optimizer.init(sim.oracle.initial_point())
    for agent in range(sim.cluster.n):
        sim.dispatch(agent, state.query, 0)
    for t in count():
        update_start = sim.now
        arrival = yield sim.next_arrival()
        gradient = arrival.gradient()
        state = optimizer.update(state, gradient.vector)
        sim.record_update(t)
        sim.dispatch(arrival.agent, state.query, t + 1)
        if recorder.record(t, update_start, gradient, state.theta,
                           agent=arrival.agent + 1, delay=t - arrival.version):  # fmt: skip
            return
