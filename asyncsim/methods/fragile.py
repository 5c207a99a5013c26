"""Fragile SGD (Tyurin & Richtárik, NeurIPS 2024, Algorithms 2-4): agents on a graph, a pivot
agent j* that applies every update, gradients gathered to it along a spanning tree
(docs/algorithms.md §4, "Graphs").

    Process 0 (at j*), iteration k: hand x^k to Process j*; g = 0, s = 0;
        until s >= S: add every (g_send, s_send) Process j* passes on;
        x^{k+1} = x^k − γ g / s
    Process i: on a new point x^k from its parent in the broadcast tree: pass it to its
        children (without waiting), drop the computation running at the older point, compute
        gradients at x^k one after another, adding each to (g_i, s_i) of iteration k;
        on (g_p, s_p) of iteration k from a child: add it to (g_i, s_i) (an older iteration's
        is dropped: the efficient form of Algorithm 4);
        send (g_i, s_i) to its parent in the gathering tree and wait until it has arrived,
        again and again (Process j* hands it to Process 0 at once)

Choices the paper leaves open (docs/algorithms.md): both trees are the shortest-path tree of
j* (an agent's parent is its next hop towards j*, :meth:`GraphLinks.next_hop`; edges are
full-duplex with the same time both ways, so its reverse is a shortest-path broadcast tree);
an agent sends only when it holds something (an empty message carries nothing); j* is the
``pivot`` parameter or, by default, Corollary 1's argmin_j t*(S, h, [τ_{i→j} + τ_{j→i}]) at
the mean compute times (:func:`asyncsim.graph_theory.fragile_pivot`). Gradients of an older
iteration that reach an agent after the new point are dropped; messages already on their way
keep their links until they arrive.

Time (Theorem 5, Corollary 1): (L∆/ε) · min_j t*(σ²/ε, h, [τ_{i→j} + τ_{j→i}])
(:func:`asyncsim.graph_theory.fragile_sgd_complexity`).
"""

from __future__ import annotations

from typing import Any

from asyncsim.core.oracle import GradientJob
from asyncsim.methods.protocol import Training
from asyncsim.methods.spanning_tree import TreeAgents, at_pivot, pivot_protocol

__all__ = ["PROTOCOL", "train_fragile"]


class _Fragile(TreeAgents):
    """Algorithm 4 at every agent (what it gathered for its iteration, (agent, index) of each
    gradient, and whether a message of its is on its way) and Process 0's collection."""

    def __init__(self, run: Training, pivot: int) -> None:
        super().__init__(run, pivot)
        self.gathered: list[list[tuple[int, int]]] = [[] for _ in range(self.n)]
        self.sending = [False] * self.n
        self.version, self.batch = -1, 0
        self.collected: list[tuple[int, int]] = []
        self.enough: Any = None

    def start_iteration(self, version: int, point: Any, batch: int) -> Any:
        """Process 0 hands x^k to Process j*; the returned event fires with the update's
        gradients once s >= S."""
        self.version, self.batch, self.collected = version, batch, []
        self.enough = self.graph.event()
        self.receive_point(self.pivot, version, point)
        return self.enough

    def on_point(self, agent: int) -> None:
        self.gathered[agent] = []

    def on_gradient(self, agent: int, index: int) -> None:
        self.gathered[agent].append((agent, index))

    def flush(self, agent: int) -> None:
        """Send what the agent gathered to its parent (Process j*: to Process 0, at once)."""
        if self.sending[agent] or not self.gathered[agent]:
            return
        items, version = self.gathered[agent], self.agents[agent].version
        self.gathered[agent] = []
        if agent == self.pivot:
            self._collect(version, items)
            return
        self.sending[agent] = True
        parent = self.parent[agent]
        delivered = self.graph.send(agent, parent, direct=True)
        delivered.callbacks.append(lambda _: self._sent(agent, parent, version, items))

    def _sent(self, agent: int, parent: int, version: int, items: list[tuple[int, int]]) -> None:
        self.sending[agent] = False
        if version == self.agents[parent].version:
            self.gathered[parent] += items
            self.react(parent)
        self.react(agent)

    def _collect(self, version: int, items: list[tuple[int, int]]) -> None:
        """Process 0 adds what Process j* passes on, and stops at s >= S."""
        if version != self.version or self.enough.triggered:
            return
        self.collected += items
        if len(self.collected) >= self.batch:
            weight = 1.0 / len(self.collected)  # each gradient of the update weighs 1/s^k
            jobs = [GradientJob(agent, index, 1, weight) for agent, index in sorted(self.collected)]
            self.enough.succeed(jobs)


train_fragile = at_pivot(_Fragile)
"""SimPy process of Fragile SGD (Algorithm 3 at j*, Algorithm 4 at every agent)."""


PROTOCOL = pivot_protocol(
    "fragile",
    train_fragile,
    description="Tyurin & Richtárik 2024, Alg. 2-4: S gradients gathered to a pivot on a graph",
    scaling="harmonic-like over the agents near the pivot",
)
