"""Synchronized aggregation, the baseline of the paper's Table 1 (docs/algorithms.md).

    broadcast θ; every agent computes exactly one gradient; everybody sends;
    ĝ = (1/n) Σ_i g_i

Round time for fixed times: max_i (b_i + τ_i + κ_i) (``theory.synchronized_collection_exact``).
With the plain step it is Minibatch SGD.
"""

from __future__ import annotations

from asyncsim import theory
from asyncsim.core.registry import Params, ProtocolSpec
from asyncsim.methods.protocol import CollectionRule, rounds

__all__ = ["PROTOCOL", "SynchronizedRule"]


class SynchronizedRule(CollectionRule):
    """Each agent computes one gradient; stop when all n have; every gradient weighs 1/n."""

    keeps_computing = False

    def __init__(self, n: int, params: Params, iteration: int) -> None:
        self.n = n
        self.collected = 0

    def on_gradient(self, agent: int) -> bool:
        self.collected += 1
        return self.collected >= self.n

    def weight(self, agent: int, count: int) -> float:
        return 1.0 / self.n


def exact_round(
    times: theory.AgentTimes, params: Params, iteration: int, start: float = 0.0
) -> theory.Collection | None:
    """The round that starts at absolute time ``start``, for fixed times (None: none in
    closed form over shared links)."""
    return theory.synchronized_collection_exact(
        times.tau, start + times.offsets, times.uplink, times.topology, times.allreduce,
        times.links,
    )  # fmt: skip


def round_bound(times: theory.AgentTimes, params: Params, iteration: int) -> float:
    """max_i τ_i + 2κ."""
    return theory.synchronized_collection_bound(times.tau, times.kappa_round)


PROTOCOL = ProtocolSpec(
    name="synchronized",
    description="every agent computes one gradient per round; everybody sends",
    train=rounds(SynchronizedRule),
    family="Synchronized",
    exact_round=exact_round,
    round_bound=round_bound,
    shapes={"nigt": "synchronized_nigt", "sgd": "minibatch_sgd"},
    scaling="max-like",
)
