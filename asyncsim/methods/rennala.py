"""Algorithm 2 — AggregateRennala(θ, M), homogeneous agents (docs/algorithms.md).

    broadcast θ; every agent i: g_i = 0, B_i = 0, and starts computing g(τ, θ)
    whenever agent j finishes one:  g_j += g(τ, θ);  B_j += 1;  m += 1;  j starts another
    when m = M: stop (running computations are discarded); ĝ = (1/M) Σ_i g_i
    agents with B_i = 0 send nothing

Time: Lemma C.1, t_R(M) = 2κ + min_m (M + m) / Σ_{i≤m} 1/τ_i (``theory.rennala_collection_bound``);
exactly, the M-th smallest of {b_i + k·τ_i} plus the reduce (``theory.rennala_collection_exact``).
"""

from __future__ import annotations

from asyncsim import theory
from asyncsim.methods.protocol import BatchParams, CountRule, batch_protocol

__all__ = ["PROTOCOL", "RennalaRule"]


class RennalaRule(CountRule):
    """Stop at the M-th gradient overall; every gradient weighs 1/M."""

    keeps_computing = True

    def target_of(self, n: int, params: BatchParams, iteration: int) -> int:
        return params.batch_of(iteration)


PROTOCOL = batch_protocol(
    name="rennala",
    description="Alg. 2: every agent computes at the point until M gradients are in",
    rule=RennalaRule,
    exact=theory.rennala_collection_exact,
    bound=theory.rennala_collection_bound,
    family="Rennala",
    shapes={"nigt": "rennala_nigt", "sgd": "rennala_sgd"},
    scaling="harmonic-like",
)
