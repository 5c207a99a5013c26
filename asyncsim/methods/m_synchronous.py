"""m-Synchronous SGD (Begunov & Tyurin 2026, arXiv 2602.03802; docs/algorithms.md §7).

    broadcast θ; every agent starts one gradient at θ
    when m gradients are done (at most one per agent): stop; the other computations are discarded
    ĝ = (1/m) Σ_{i ∈ S} g_i      (S: the m agents that finished first)

[choice] "first" means first to finish computing (ties by agent index); each participant sends
as soon as it is done, as in the synchronized round (with m = n this is Minibatch SGD).
Round time for fixed times: ``theory.m_synchronous_collection_exact``.
"""

from __future__ import annotations

from pydantic import Field

from asyncsim import theory
from asyncsim.core.errors import ConfigError
from asyncsim.core.registry import Context, Params, ProtocolSpec
from asyncsim.methods.protocol import CountRule, closed_form_round, rounds

__all__ = ["PROTOCOL", "MSynchronousParams", "MSynchronousRule"]


class MSynchronousParams(Params):
    """How many gradients a round waits for."""

    m: int | None = Field(None, ge=1, description="gradients per round, one per agent (default n)")

    def resolve(self, context: Context) -> MSynchronousParams:
        params = super().resolve(context)
        m = params.m or context.n
        if m > context.n:
            raise ConfigError(f"{context.field}.m", f"must be <= n = {context.n}, got {m}")
        return params.model_copy(update={"m": m})

    def gradients_per_update(self) -> tuple[int, int, str]:
        return self.m, self.m, "m"


class MSynchronousRule(CountRule):
    """Each agent computes one gradient; stop at the m-th; every gradient weighs 1/m."""

    keeps_computing = False

    def target_of(self, n: int, params: MSynchronousParams, iteration: int) -> int:
        return params.m


def exact_round(
    times: theory.AgentTimes, params: MSynchronousParams, iteration: int, start: float = 0.0
) -> theory.Collection | None:
    """The round that starts at absolute time ``start``, for fixed times."""
    return closed_form_round(theory.m_synchronous_collection_exact, times, start, params.m)


def round_bound(times: theory.AgentTimes, params: MSynchronousParams, iteration: int) -> float:
    """τ_(m) + 2κ: the m-th smallest τ_i, a broadcast and an upload."""
    return float(sorted(times.tau)[params.m - 1]) + 2.0 * times.kappa_round


PROTOCOL = ProtocolSpec(
    name="m_synchronous",
    description="every agent starts one gradient; the round takes the first m, drops the rest",
    train=rounds(MSynchronousRule),
    params=MSynchronousParams,
    family="m-Synchronous",
    exact_round=exact_round,
    round_bound=round_bound,
    shapes={"sgd": "m_synchronous_sgd"},
    shape_arguments=lambda params: {"m": params.m},
    scaling="max-like over the m fastest",
)
