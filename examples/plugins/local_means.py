"""A round-based method as an asyncsim plug-in: Rennala's stop rule with Malenia's weights.

    broadcast θ; every agent computes gradients at θ until M have arrived (Algorithm 2's stop)
    ĝ = (1/p) Σ_{i ∈ S} g_i / B_i    (S: the p agents with B_i ≥ 1; each agent's local mean
                                      weighs the same, as in Algorithm 3)

The round's time is Rennala's (the same stop rule), so the protocol declares Rennala's exact
round; ``asyncsim.check_method("local_means_nigt")`` then compares every simulated round with it.
"""

from __future__ import annotations

import asyncsim
from asyncsim import theory


class LocalMeansRule(asyncsim.CollectionRule):
    """Stop at the M-th gradient overall; every participant's local mean weighs 1/p."""

    def __init__(self, n: int, params: asyncsim.BatchParams, iteration: int) -> None:
        self.batch = params.batch_of(iteration)
        self.counts: dict[int, int] = {}

    def on_gradient(self, agent: int) -> bool:
        self.counts[agent] = self.counts.get(agent, 0) + 1
        return sum(self.counts.values()) >= self.batch

    def weight(self, agent: int, count: int) -> float:
        return 1.0 / (len(self.counts) * count)


asyncsim.register_protocol(
    "local_means",
    asyncsim.rounds(LocalMeansRule),
    description="Alg. 2's stop rule with each participant's local mean weighing the same",
    params=asyncsim.BatchParams,
    family="Rennala",
    exact_round=asyncsim.batch_exact_round(theory.rennala_collection_exact),
)
asyncsim.register_method(
    "local_means_nigt", "local_means", "nigt", "NIGT on Rennala rounds, per-agent means",
    "Local-means NIGT",
)  # fmt: skip
