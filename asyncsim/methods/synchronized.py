"""Synchronized aggregation (the baseline of SPEC §3).

    broadcast θ; every agent computes exactly one gradient; everybody sends;
    ĝ = (1/n) Σ_i g_i

Round time for fixed times: max_i (b_i + τ_i + κ_i) (``theory.synchronized_round_time``).
"""

from __future__ import annotations

from asyncsim.engine.simulation import CollectionRule

__all__ = ["SynchronizedRule"]


class SynchronizedRule(CollectionRule):
    """Each agent computes one gradient; stop when all n have; every gradient weighs 1/n."""

    keeps_computing = False

    def __init__(self, n: int, batch: int | None = None) -> None:
        self.n = n
        self.collected = 0

    def on_gradient(self, agent: int) -> bool:
        self.collected += 1
        return self.collected >= self.n

    def weight(self, agent: int, count: int) -> float:
        return 1.0 / self.n
