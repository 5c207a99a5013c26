"""Amelie SGD (Tyurin & Richtárik, NeurIPS 2024, Algorithms 5-7), for heterogeneous functions
f = (1/n) Σ_i f_i on a graph: Malenia's stop and weights gathered along a spanning tree
(docs/algorithms.md §8).

    Process 0 (at j*), iteration k: broadcast x^k down the tree;
        wait until s^k = n / b_{j*} >= S/n (b: the counter Process j* holds);
        all-reduce g^k = (1/n) Σ_i (1/s_i) g_i along the tree; x^{k+1} = x^k − γ g^k
    Process i: on x^k: g_i = 0, s_i = 0, the children's counters b_{i,p} = ∞;
        compute gradients at x^k one after another (g_i += ∇f_i, s_i += 1);
        on b_p from a child p: b_{i,p} = b_p;
        send b_i = Σ_p b_{i,p} + 1/s_i (one number) to its parent, wait until it has arrived,
        again and again

So s^k is the harmonic mean of the agents' counts and the stop needs a gradient of every agent.

Choices the paper leaves open (docs/algorithms.md): the trees, j* and "again and again" as in
Fragile SGD (:mod:`asyncsim.methods.spanning_tree`; an agent sends its counter when it has
changed since its last send); a counter and a stop signal are messages of
:data:`COUNTER_BYTES`; the all-reduce is a reduce to j* along the tree: j* sends a stop signal
down the tree, an agent that receives it stops computing (its g_i, s_i are frozen), and once it
holds its children's partial sums sends its own, Σ (1/s_p) g_p over its subtree, to its
parent; x^{k+1} then goes down the tree as the next iteration's point. Counters are kept exact
(rationals), so the stop does not depend on rounding.

Time (Corollary 2, eq. 18): (LΔ/ε') max{max_{i,j} τ_{i→j}, max_i h_i, (σ²/(nε')) (1/n) Σ_i h_i}
(:func:`asyncsim.graph_theory.amelie_sgd_complexity`).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from asyncsim.core.oracle import GradientJob
from asyncsim.methods.protocol import Training
from asyncsim.methods.spanning_tree import TreeAgents, at_pivot, pivot_protocol

__all__ = ["COUNTER_BYTES", "PROTOCOL", "train_amelie"]

COUNTER_BYTES = 8.0
"""Bytes of a counter b_i or a stop signal (one float64)."""

INFINITE = None
"""A counter of ∞ (an agent of the subtree without a gradient yet)."""


class _Amelie(TreeAgents):
    """Algorithm 7 at every agent and Process 0's stop and reduce."""

    def __init__(self, run: Training, pivot: int) -> None:
        super().__init__(run, pivot)
        self.indices: list[list[int]] = [[] for _ in range(self.n)]
        self.counters: list[dict[int, Fraction | None]] = [{} for _ in range(self.n)]
        self.sent: list[Fraction | None] = [INFINITE] * self.n  # the parent's b_{p,i}
        self.sending = [False] * self.n
        self.stopped = [False] * self.n
        self.partials: list[dict[int, list[GradientJob]]] = [{} for _ in range(self.n)]
        self.reduced = [False] * self.n
        self.threshold = Fraction(0)
        self.done: Any = None

    def start_iteration(self, version: int, point: Any, batch: int) -> Any:
        """Process 0 broadcasts x^k; the returned event fires with the reduce's jobs."""
        self.threshold = Fraction(self.n * self.n, batch)  # s^k >= S/n  ⟺  b <= n²/S
        self.done = self.graph.event()
        self.receive_point(self.pivot, version, point)
        return self.done

    def on_point(self, agent: int) -> None:
        self.indices[agent] = []
        self.counters[agent] = dict.fromkeys(self.children[agent], INFINITE)
        self.sent[agent], self.stopped[agent], self.reduced[agent] = INFINITE, False, False
        self.partials[agent] = {}

    def on_gradient(self, agent: int, index: int) -> None:
        self.indices[agent].append(index)

    def counter(self, agent: int) -> Fraction | None:
        """b_i = Σ_p b_{i,p} + 1/s_i (None: ∞)."""
        values = [*self.counters[agent].values(), len(self.indices[agent])]
        if INFINITE in values[:-1] or values[-1] == 0:
            return INFINITE
        return sum(values[:-1], Fraction(0)) + Fraction(1, values[-1])

    def flush(self, agent: int) -> None:
        if self.stopped[agent]:
            self._reduce(agent)
            return
        value = self.counter(agent)
        if agent == self.pivot:
            if value is not INFINITE and value <= self.threshold:
                self._receive_stop(agent, self.agents[agent].version)
            return
        if self.sending[agent] or value == self.sent[agent]:
            return
        self.sending[agent], self.sent[agent] = True, value
        parent, version = self.parent[agent], self.agents[agent].version
        delivered = self.graph.send(agent, parent, COUNTER_BYTES, direct=True)
        delivered.callbacks.append(lambda _: self._counted(agent, parent, version, value))

    def _counted(self, agent: int, parent: int, version: int, value: Fraction | None) -> None:
        self.sending[agent] = False
        if version == self.agents[parent].version and not self.stopped[parent]:
            self.counters[parent][agent] = value
            self.react(parent)
        self.react(agent)

    def _receive_stop(self, agent: int, version: int) -> None:
        """The stop signal: freeze g_i, s_i, pass it on, reduce once the children's sums are in."""
        if version != self.agents[agent].version or self.stopped[agent]:
            return
        self.stopped[agent] = True
        self.stop_computing(agent)
        for child in self.children[agent]:
            delivered = self.graph.send(agent, child, COUNTER_BYTES, direct=True)
            delivered.callbacks.append(lambda _, c=child: self._receive_stop(c, version))
        self.react(agent)

    def _reduce(self, agent: int) -> None:
        """Send Σ (1/s_p) g_p over the subtree to the parent once every child's is in."""
        if self.reduced[agent] or len(self.partials[agent]) < len(self.children[agent]):
            return
        self.reduced[agent] = True
        weight = 1.0 / (self.n * len(self.indices[agent]))
        jobs = [GradientJob(agent, index, 1, weight) for index in self.indices[agent]]
        for child in sorted(self.partials[agent]):
            jobs += self.partials[agent][child]
        if agent == self.pivot:
            self.done.succeed(jobs)
            return
        parent, version = self.parent[agent], self.agents[agent].version
        delivered = self.graph.send(agent, parent, direct=True)
        delivered.callbacks.append(lambda _: self._summed(agent, parent, version, jobs))

    def _summed(self, agent: int, parent: int, version: int, jobs: list[GradientJob]) -> None:
        if version == self.agents[parent].version:
            self.partials[parent][agent] = jobs
            self.react(parent)


train_amelie = at_pivot(_Amelie)
"""SimPy process of Amelie SGD (Algorithm 6 at j*, Algorithm 7 at every agent)."""


PROTOCOL = pivot_protocol(
    "amelie",
    train_amelie,
    description="Tyurin & Richtárik 2024, Alg. 5-7: Malenia's stop gathered to a pivot on a graph",
    scaling="the slowest agent and the graph's diameter, harmonic-like in the noise term",
)
