"""What a protocol is written against: the training context, collection rules and the round loop.

A protocol is a SimPy process ``train(run)`` that receives a :class:`Training` and drives the
engine through it. Round-based protocols only say when a round stops and how gradients are
weighted (a :class:`CollectionRule`) and reuse :func:`train_in_rounds`, the loop of Algorithm 1;
asynchronous servers write their own loop with ``run.sim.dispatch`` and
``run.sim.next_arrival`` (see :mod:`asyncsim.methods.asynchronous`). Either way, every update is
reported with ``run.updated(...)``, which also says when the budget is spent.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Generator
from dataclasses import dataclass
from functools import partial
from itertools import count
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import Field

from asyncsim.registry import Context, Params

if TYPE_CHECKING:
    from asyncsim.engine.simulation import Simulation
    from asyncsim.methods.optimizers import Optimizer
    from asyncsim.oracles.base import GradientResult
    from asyncsim.recorder import IterationRecorder

__all__ = [
    "BatchParams",
    "CollectionRule",
    "Training",
    "batch_bound",
    "batch_exact_round",
    "rounds",
    "train_in_rounds",
]


@dataclass
class Training:
    """One method's run as its protocol sees it.

    Attributes:
        sim: the engine (``collect`` for rounds; ``dispatch``/``next_arrival`` for servers;
            ``now``, ``cluster.n``, ``oracle.initial_point()``).
        optimizer: the method's update rule, hyper-parameters bound.
        params: the method's resolved parameters (protocol and optimizer fields).
        recorder: the iteration table and budget.
    """

    sim: Simulation
    optimizer: Optimizer
    params: Any
    recorder: IterationRecorder

    def updated(
        self,
        iteration: int,
        start: float,
        gradient: GradientResult,
        model: np.ndarray,
        **columns: Any,
    ) -> bool:
        """Report update ``iteration`` (applied now, begun at ``start``, from ``gradient``, giving
        ``model``): trace it, append its row (with protocol ``columns``); True when the run ends."""
        self.sim.record_update(iteration)
        return self.recorder.record(iteration, start, gradient, model, **columns)


class CollectionRule(ABC):
    """The protocol-specific part of a round: when to stop and how to weight gradients.

    A rule is made for each round as ``Rule(n, params, iteration)``; the engine calls
    :meth:`on_gradient` at each completion (in time order, ties in agent order) and
    :meth:`weight` when it forms the aggregate ĝ = Σ_i weight(i, B_i) · Σ_k g_{i,k}.
    """

    #: whether an agent starts another gradient after finishing one in the same round
    keeps_computing: bool = True

    @abstractmethod
    def __init__(self, n: int, params: Any, iteration: int) -> None:
        """A rule for round ``iteration`` of n agents with the method's parameters."""

    @abstractmethod
    def on_gradient(self, agent: int) -> bool:
        """Record a finished gradient of ``agent`` (0-based); True when the round must stop."""

    @abstractmethod
    def weight(self, agent: int, count: int) -> float:
        """Weight of each of the ``count`` gradients of ``agent`` in the aggregate."""

    def patience(self, agent: int) -> float | None:
        """Seconds after which ``agent`` abandons a computation and starts a new one at the same
        point (None: never)."""
        return None


class BatchParams(Params):
    """Batch sizes of a protocol that collects M gradients per round (M_init in round 0)."""

    batch: int | None = Field(None, ge=1, description="M, gradients per round (default n)")
    initial_batch: int | None = Field(
        None, ge=1, description="M_init, gradients of round 0 (default M)"
    )

    def resolve(self, context: Context) -> BatchParams:
        params = super().resolve(context)
        batch = params.batch or context.n
        return params.model_copy(
            update={"batch": batch, "initial_batch": params.initial_batch or batch}
        )

    def batch_of(self, iteration: int) -> int:
        """M_init for round 0, M afterwards."""
        return self.initial_batch if iteration == 0 else self.batch


def batch_exact_round(exact: Callable[..., Any]) -> Callable[..., Any]:
    """The ``exact_round`` of a protocol collecting M gradients a round (M_init in round 0)
    whose closed form is ``exact(tau, batch, offsets, uplink, topology, allreduce)`` (e.g.
    ``theory.rennala_collection_exact``), for a round starting at absolute time ``start``."""

    def exact_round(times: Any, params: BatchParams, iteration: int, start: float = 0.0) -> Any:
        return exact(
            times.tau,
            params.batch_of(iteration),
            start + times.offsets,
            times.uplink,
            times.topology,
            times.allreduce,
        )

    return exact_round


def batch_bound(bound: Callable[..., float]) -> Callable[..., float]:
    """The ``round_bound`` of such a protocol from ``bound(tau, kappa, batch)`` (e.g. Lemma C.1,
    ``theory.rennala_collection_bound``), κ covering the uplink and the broadcast."""

    def round_bound(times: Any, params: BatchParams, iteration: int) -> float:
        return bound(times.tau, times.kappa_round, params.batch_of(iteration))

    return round_bound


def train_in_rounds(
    run: Training, make_rule: Callable[[int, Any, int], CollectionRule]
) -> Generator[Any, Any, None]:
    """Algorithm 1 driven by a round-based aggregation procedure (SimPy process):

        d_0 = Aggregate(θ_0, M_init)
        for t = 0, 1, ...:
            θ_{t+1} = θ_t + α · d_t / ||d_t||
            θ̃_{t+1} = θ_{t+1} + ((1-η)/η) · (θ_{t+1} − θ_t)
            g_{t+1} = Aggregate(θ̃_{t+1}, M)
            d_{t+1} = (1-η) d_t + η g_{t+1}

    with the optimizer's update (NIGT as above, or a plain step) and the rule's aggregation.
    Only g is communicated; θ and d are the same on every node.
    """
    sim = run.sim
    state = run.optimizer.init(sim.oracle.initial_point())
    for t in count():
        round_start = sim.now
        outcome = yield from sim.collect(state.query, t, make_rule(sim.cluster.n, run.params, t))
        state = run.optimizer.update(state, outcome.gradient.vector)
        if run.updated(
            t,
            round_start,
            outcome.gradient,
            state.theta,
            stop_time=outcome.stop_time,
            participants=len(outcome.counts),
        ):
            return


def rounds(rule: Callable[[int, Any, int], CollectionRule]) -> Callable[[Training], Generator]:
    """The ``train`` process of a round-based protocol with collection rule ``rule``."""
    return partial(train_in_rounds, make_rule=rule)
