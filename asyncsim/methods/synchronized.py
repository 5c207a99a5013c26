"""Synchronized aggregation, the baseline of the paper's Table 1 (docs/algorithms.md).

    broadcast θ; every agent computes exactly one gradient; everybody sends;
    ĝ = (1/n) Σ_i g_i

Round time for fixed times: max_i (b_i + τ_i + κ_i) (``theory.synchronized_collection_exact``).
With the plain step it is Minibatch SGD.
"""

from __future__ import annotations

from asyncsim import theory
from asyncsim.core.registry import Params, ProtocolSpec
from asyncsim.methods.protocol import CountRule, closed_form_round, rounds

__all__ = ["PROTOCOL", "SynchronizedRule"]


class SynchronizedRule(CountRule):
    """Each agent computes one gradient; stop when all n have; every gradient weighs 1/n."""

    keeps_computing = False

    def target_of(self, n: int, params: Params, iteration: int) -> int:
        return n


def exact_round(
    times: theory.AgentTimes, params: Params, iteration: int, start: float = 0.0
) -> theory.Collection | None:
    """The round that starts at absolute time ``start``, for fixed times (None: none in
    closed form over shared links)."""
    return closed_form_round(theory.synchronized_collection_exact, times, start)


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
