"""FedBuff (Nguyen et al., AISTATS 2022, arXiv 2106.06639) as an asyncsim plug-in: an
asynchronous server that buffers arriving gradients and takes one step per ``buffer`` of them.

    every agent receives θ_0 and computes at it
    when agent j's gradient g_j arrives: append it to the buffer; agent j receives the
        server's current point and starts again at once (it does not wait for the step)
    when the buffer holds K gradients: θ ← update(θ, (1/K) Σ buffer); empty the buffer

Choices the paper leaves to its code: the step uses the mean of the buffer (the authors' FLSim
sums and folds 1/K into the server step size) with constant staleness weights; the update rule
is the method's optimizer (the plain step for ``fedbuff``). Written against asyncsim's public
API only; load it with ``plugins: [fedbuff.py]`` (and ``--trust-plugins``) or ``--plugin
fedbuff.py``.
"""

from __future__ import annotations

from collections.abc import Generator
from itertools import count
from typing import Any

from pydantic import Field

import asyncsim
from asyncsim import theory


class FedBuffParams(asyncsim.Params):
    """FedBuff's own parameter."""

    buffer: int = Field(3, ge=1, description="K, arriving gradients per server step")


def fedbuff(run: asyncsim.Training) -> Generator[Any, Any, None]:
    """The server (a SimPy process): one row of the iteration table per server step."""
    sim = run.sim
    state = run.optimizer.init(sim.oracle.initial_point())
    for agent in range(sim.cluster.n):
        sim.dispatch(agent, state.query, 0)
    for step in count():
        start, arrivals = sim.now, []
        while len(arrivals) < run.params.buffer:
            arrival = yield sim.next_arrival()
            arrivals.append(arrival)
            sim.dispatch(arrival.agent, state.query, step)
        gradient = asyncsim.average([arrival.gradient() for arrival in arrivals])
        delay = max(step - arrival.version for arrival in arrivals)
        state = run.optimizer.update(state, gradient.vector, delay)
        if run.updated(step, start, gradient, state.theta, delay=delay):
            return


asyncsim.register_protocol(
    "fedbuff",
    fedbuff,
    description="FedBuff: one server step per K buffered arrivals; senders restart at once",
    params=FedBuffParams,
    round_based=False,
    server_only=True,
    family="FedBuff",
    # every arrival is re-dispatched at once, so agent i delivers every b_i + τ_i + κ_i seconds
    gradient_cost=lambda times, params: theory.asynchronous_gradient_cost(
        times.tau, times.offsets, times.uplink
    ),
)
asyncsim.register_method("fedbuff", "fedbuff", "sgd", "Nguyen et al., AISTATS 2022", "FedBuff")
