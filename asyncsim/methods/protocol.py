"""The round loop that round-based protocols share, and their batch parameters.

A protocol is a process ``train(run)`` that receives a
:class:`~asyncsim.core.training.Training` and drives the engine
(:class:`~asyncsim.core.engine.Engine`) through it. Round-based protocols only say when a round
stops and how gradients are weighted (a :class:`CollectionRule`) and reuse
:func:`train_in_rounds`, the loop of Algorithm 1; asynchronous servers write their own loop
with ``run.sim.dispatch`` and ``run.sim.next_arrival`` (see :mod:`asyncsim.methods.asynchronous`).
Either way, every update is reported with ``run.updated(...)``, which also says when the budget
is spent.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Generator, Sequence
from functools import partial
from itertools import count
from typing import Any

from pydantic import Field

from asyncsim.core.engine import CollectionRule
from asyncsim.core.registry import Context, Params, ProtocolSpec
from asyncsim.core.training import Training

__all__ = [
    "BatchParams",
    "CollectionRule",
    "CountRule",
    "Training",
    "batch_bound",
    "batch_exact_round",
    "batch_protocol",
    "closed_form_round",
    "rounds",
    "train_in_rounds",
]


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

    def gradients_per_update(self) -> tuple[int, int, str]:
        first, later = self.batch_of(0), self.batch_of(1)
        return first, later, "initial_batch" if first > later else "batch"

    def batch_of(self, iteration: int) -> int:
        """M_init for round 0, M afterwards."""
        return self.initial_batch if iteration == 0 else self.batch


class CountRule(CollectionRule):
    """Stop at the round's ``target``-th gradient overall; every gradient weighs 1/target, so
    ĝ = (1/target) Σ_i g_i: Rennala's round (target M, Algorithm 2), m-Synchronous (m) and the
    synchronized round (n, one gradient per agent). A subclass says how many:
    :meth:`target_of`."""

    def __init__(self, n: int, params: Any, iteration: int) -> None:
        self.target = self.target_of(n, params, iteration)
        self.collected = 0

    @abstractmethod
    def target_of(self, n: int, params: Any, iteration: int) -> int:
        """How many gradients round ``iteration`` of n agents collects."""

    def on_gradient(self, agent: int) -> bool:
        self.collected += 1
        return self.collected >= self.target

    def on_gradients(self, agents: Sequence[int]) -> int | None:
        """The round stops at gradient number ``target`` (counted without a call per
        gradient, unless a subclass counts its own way)."""
        if type(self).on_gradient is not CountRule.on_gradient:
            return super().on_gradients(agents)
        stop = max(self.target - self.collected, 1) - 1  # the position that reaches target
        if stop < len(agents):
            self.collected += stop + 1
            return stop
        self.collected += len(agents)
        return None

    def weight(self, agent: int, count: int) -> float:
        return 1.0 / self.target


def closed_form_round(
    exact: Callable[..., Any], times: Any, start: float, *size: int, tau: Any = None
) -> Any:
    """A closed form of :mod:`asyncsim.theory` ``exact(tau, *size, offsets, uplink, topology,
    allreduce, links)`` (e.g. ``theory.rennala_collection_exact`` with size M) at the scenario's
    times (:class:`~asyncsim.theory.AgentTimes`), for a round starting at absolute time
    ``start``: the broadcast reaches agent i at start + b_i. ``tau`` replaces the τ_i."""
    return exact(
        times.tau if tau is None else tau, *size, start + times.offsets, times.uplink,
        times.topology, times.allreduce, times.links,
    )  # fmt: skip


def batch_exact_round(exact: Callable[..., Any]) -> Callable[..., Any]:
    """The ``exact_round`` of a protocol collecting M gradients a round (M_init in round 0)
    whose closed form is ``exact(tau, batch, offsets, uplink, topology, allreduce, links)`` (e.g.
    ``theory.rennala_collection_exact``), for a round starting at absolute time ``start``."""

    def exact_round(times: Any, params: BatchParams, iteration: int, start: float = 0.0) -> Any:
        return closed_form_round(exact, times, start, params.batch_of(iteration))

    return exact_round


def batch_bound(bound: Callable[..., float]) -> Callable[..., float]:
    """The ``round_bound`` of such a protocol from ``bound(tau, kappa, batch)`` (e.g. Lemma C.1,
    ``theory.rennala_collection_bound``), κ covering the uplink and the broadcast."""

    def round_bound(times: Any, params: BatchParams, iteration: int) -> float:
        return bound(times.tau, times.kappa_round, params.batch_of(iteration))

    return round_bound


def batch_protocol(
    rule: Callable[[int, Any, int], CollectionRule],
    exact: Callable[..., Any],
    bound: Callable[..., float],
    **record: Any,
) -> ProtocolSpec:
    """The record of a round-based protocol that collects M gradients a round (M_init in round
    0, :class:`BatchParams`) with collection rule ``rule``, whose round is
    ``exact(tau, M, offsets, uplink, topology, allreduce, links)`` for fixed times
    (:func:`batch_exact_round`) and at most ``bound(tau, κ, M)`` (:func:`batch_bound`);
    ``record``: its other :class:`~asyncsim.core.registry.ProtocolSpec` fields."""
    return ProtocolSpec(
        train=rounds(rule),
        params=BatchParams,
        exact_round=batch_exact_round(exact),
        round_bound=batch_bound(bound),
        **record,
    )


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
    """The ``train`` process of a round-based protocol with collection rule ``rule``; it
    starts every agent each round (``starts_every_agent``, which the resource guards read)."""
    train = partial(train_in_rounds, make_rule=rule)
    train.starts_every_agent = True  # type: ignore[attr-defined]
    return train
