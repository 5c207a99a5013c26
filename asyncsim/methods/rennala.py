"""Algorithm 2 — AggregateRennala(θ, M), homogeneous agents.

    broadcast θ; every agent i: g_i = 0, B_i = 0, and starts computing g(τ, θ)
    whenever agent j finishes one:  g_j += g(τ, θ);  B_j += 1;  m += 1;  j starts another
    when m = M: stop (running computations are discarded); ĝ = (1/M) Σ_i g_i
    agents with B_i = 0 send nothing

Time: Lemma C.1, t_R(M) = 2κ + min_m (M + m) / Σ_{i≤m} 1/τ_i (``theory.rennala_collection_bound``).
"""

from __future__ import annotations

from asyncsim.engine.simulation import CollectionRule

__all__ = ["RennalaRule"]


class RennalaRule(CollectionRule):
    """Stop at the M-th gradient overall; every gradient weighs 1/M."""

    keeps_computing = True

    def __init__(self, n: int, batch: int) -> None:
        self.batch = batch
        self.collected = 0

    def on_gradient(self, agent: int) -> bool:
        self.collected += 1
        return self.collected >= self.batch

    def weight(self, agent: int, count: int) -> float:
        return 1.0 / self.batch
