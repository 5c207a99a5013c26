"""Algorithm 1 — the NIGT core, driven by a round-based aggregation procedure.

    d_0 = Aggregate(θ_0, M_init)
    for t = 0, 1, ...:
        θ_{t+1} = θ_t + α · d_t / ||d_t||
        θ̃_{t+1} = θ_{t+1} + ((1-η)/η) · (θ_{t+1} − θ_t)
        g_{t+1} = Aggregate(θ̃_{t+1}, M)
        d_{t+1} = (1-η) d_t + η g_{t+1}

The update is the optimizer's (NIGT or vanilla PG); the aggregation is the protocol's rule
(Rennala, Malenia or synchronized). Only g is communicated; θ and d are the same on every node.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from itertools import count
from typing import Any

from asyncsim.engine.recorder import IterationRecorder
from asyncsim.engine.simulation import CollectionRule, Simulation
from asyncsim.methods.optimizers import Optimizer

__all__ = ["train_in_rounds"]


def train_in_rounds(
    sim: Simulation,
    make_rule: Callable[[int, int], CollectionRule],
    optimizer: Optimizer,
    batch: int,
    initial_batch: int,
    recorder: IterationRecorder,
) -> Generator[Any, Any, None]:
    """SimPy process: one aggregation round per iteration until the recorder's budget stops it."""
    state = optimizer.init(sim.oracle.initial_point())
    for t in count():
        round_start = sim.now
        rule = make_rule(sim.cluster.n, initial_batch if t == 0 else batch)
        outcome = yield from sim.collect(state.query, t, rule)
        state = optimizer.update(state, outcome.gradient.vector)
        sim.record_update(t)
        participants = len(outcome.counts)
        if recorder.record(t, round_start, outcome.gradient, state.theta,
                           stop_time=outcome.stop_time, participants=participants):  # fmt: skip
            return
