"""Algorithm 3 — AggregateMalenia(θ, M), heterogeneous environments (docs/algorithms.md).

    same loop as Algorithm 2, but stop only when every B_i >= 1 and
        (1/n Σ_i 1/B_i)^{-1} >= M/n
    ĝ = (1/n) Σ_i g_i / B_i     (each agent's local mean, equal weight per agent)

The stop test is O(1) per event: Σ 1/B_i and the number of agents without a gradient are kept
incrementally by ``theory.MaleniaCounts``, the same counts the closed form keeps
(``theory.malenia_stop_reached`` decides, with its tolerance).
Time: Lemma C.2, t_M(M) <= 2κ + τ_n + (2M/n²) Σ_i τ_i.
"""

from __future__ import annotations

from asyncsim import theory
from asyncsim.methods.protocol import BatchParams, CollectionRule, batch_protocol

__all__ = ["PROTOCOL", "MaleniaRule"]


class MaleniaRule(CollectionRule):
    """Stop once all agents contributed and the harmonic mean of the B_i reaches M/n."""

    keeps_computing = True

    def __init__(self, n: int, params: BatchParams, iteration: int) -> None:
        self.n = n
        self.round_counts = theory.MaleniaCounts(n, params.batch_of(iteration))

    def on_gradient(self, agent: int) -> bool:
        return self.round_counts.add(agent)

    def weight(self, agent: int, count: int) -> float:
        return 1.0 / (self.n * count)


PROTOCOL = batch_protocol(
    name="malenia",
    description="Alg. 3: all B_i >= 1 and (1/n Σ 1/B_i)^-1 >= M/n; per-agent means",
    rule=MaleniaRule,
    exact=theory.malenia_collection_exact,
    bound=theory.malenia_collection_bound,
    family="Malenia",
    shapes={"nigt": "malenia_nigt", "sgd": "malenia_sgd"},
    scaling="mean-like",
)
