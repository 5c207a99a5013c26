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

from collections.abc import Generator
from dataclasses import dataclass, field
from itertools import count
from typing import Any

import numpy as np
from pydantic import Field

from asyncsim import graph_theory
from asyncsim.core.errors import ConfigError
from asyncsim.core.oracle import GradientJob
from asyncsim.core.registry import Context, ProtocolSpec
from asyncsim.methods.protocol import BatchParams, Training

__all__ = ["PROTOCOL", "FragileParams", "pivot_of", "train_fragile"]


class FragileParams(BatchParams):
    """S, gradients per update (``batch``), and the pivot agent j*."""

    pivot: int | None = Field(
        None, ge=1, description="j*, the agent that applies the updates (1-based; default: "
        "argmin_j t*(S, h, τ_{·→j} + τ_{j→·}) at the mean times)",
    )  # fmt: skip

    def resolve(self, context: Context) -> FragileParams:
        params = super().resolve(context)
        if params.pivot is not None and params.pivot > context.n:
            raise ConfigError(
                f"{context.field}.pivot", f"must be in 1..{context.n}, got {params.pivot}"
            )
        return params


def pivot_of(sim: Any, params: FragileParams) -> int:
    """j* (0-based): the ``pivot`` parameter, else Corollary 1's choice at the mean times."""
    if params.pivot is not None:
        return params.pivot - 1
    compute = sim.cluster.models["compute"]
    fixed = compute.fixed_values()
    h = np.asarray(fixed if fixed is not None else compute.means(sim.cluster.n), dtype=float)
    return graph_theory.fragile_pivot(
        h * sim.oracle.horizon, sim.graph.links.path_times, params.batch
    )


@dataclass
class _Agent:
    """Process i: the newest iteration it knows, its point, its running computation, what it
    has gathered for that iteration ((agent, index) of each gradient) and whether a message of
    its is on its way to the parent."""

    version: int = -1
    point: Any = None
    computation: Any = None
    gathered: list[tuple[int, int]] = field(default_factory=list)
    sending: bool = False
    reacting: bool = False


class _Fragile:
    """The agents' processes of one run (Algorithm 4) and Process 0's collection."""

    def __init__(self, run: Training, pivot: int) -> None:
        self.graph = graph = run.sim.graph
        self.pivot = pivot
        self.parent = [graph.links.next_hop(i, pivot) if i != pivot else -1 for i in range(graph.n)]
        self.children = [[c for c in range(graph.n) if self.parent[c] == i] for i in range(graph.n)]
        self.agents = [_Agent() for _ in range(graph.n)]
        self.version, self.batch = -1, 0
        self.collected: list[tuple[int, int]] = []
        self.enough: Any = None

    def start_iteration(self, version: int, point: Any, batch: int) -> Any:
        """Process 0 hands x^k to Process j*; the returned event fires when s >= S."""
        self.version, self.batch, self.collected = version, batch, []
        self.enough = self.graph.event()
        self._receive_point(self.pivot, version, point)
        return self.enough

    def _receive_point(self, agent: int, version: int, point: Any) -> None:
        state = self.agents[agent]
        if version <= state.version:
            return
        graph = self.graph
        state.version, state.point, state.gathered = version, point, []
        for child in self.children[agent]:
            delivered = graph.send(agent, child, direct=True)
            delivered.callbacks.append(lambda _, c=child: self._receive_point(c, version, point))
        graph.cancel(state.computation)
        self._compute(agent)

    def _compute(self, agent: int) -> None:
        state = self.agents[agent]
        computation = state.computation = self.graph.compute(agent, state.point, state.version)
        computation.done.callbacks.append(lambda event: self._computed(computation, event.value))

    def _computed(self, computation: Any, index: int) -> None:
        state = self.agents[computation.agent]
        if computation.version != state.version:
            return
        state.gathered.append((computation.agent, index))
        self._compute(computation.agent)
        self._react(computation.agent)

    def _receive_gradients(self, agent: int, version: int, items: list[tuple[int, int]]) -> None:
        state = self.agents[agent]
        if version == state.version:
            state.gathered += items
            self._react(agent)

    def _react(self, agent: int) -> None:
        """Send what the agent gathered once this instant's events are in."""
        state = self.agents[agent]
        if not state.reacting:
            state.reacting = True
            self.graph.at_end_of_instant(agent, lambda: self._send(agent))

    def _send(self, agent: int) -> None:
        state = self.agents[agent]
        state.reacting = False
        if state.sending or not state.gathered:
            return
        items, version, state.gathered = state.gathered, state.version, []
        if agent == self.pivot:
            self._collect(version, items)
            return
        state.sending = True
        parent = self.parent[agent]
        delivered = self.graph.send(agent, parent, direct=True)
        delivered.callbacks.append(lambda _: self._sent(agent, parent, version, items))

    def _sent(self, agent: int, parent: int, version: int, items: list[tuple[int, int]]) -> None:
        self.agents[agent].sending = False
        self._receive_gradients(parent, version, items)
        self._react(agent)

    def _collect(self, version: int, items: list[tuple[int, int]]) -> None:
        """Process 0 adds what Process j* passes on, and stops at s >= S."""
        if version != self.version or self.enough.triggered:
            return
        self.collected += items
        if len(self.collected) >= self.batch:
            self.enough.succeed()

    def jobs(self) -> list[GradientJob]:
        """The gradients of the update, each weighing 1/s^k."""
        weight = 1.0 / len(self.collected)
        return [GradientJob(agent, index, 1, weight) for agent, index in sorted(self.collected)]


def train_fragile(run: Training) -> Generator[Any, Any, None]:
    """SimPy process of Fragile SGD (Algorithm 3 at j*, Algorithm 4 at every agent)."""
    sim = run.sim
    method = _Fragile(run, pivot_of(sim, run.params))
    state = run.optimizer.init(sim.oracle.initial_point())
    for t in count():
        start = sim.now
        yield method.start_iteration(t, state.query, run.params.batch_of(t))
        gradient = sim.graph.gradient(state.query, method.jobs())
        state = run.optimizer.update(state, gradient.vector)
        participants = len({agent for agent, _ in method.collected})
        if run.updated(
            t, start, gradient, state.theta, stop_time=sim.now, participants=participants
        ):
            return


PROTOCOL = ProtocolSpec(
    name="fragile",
    description="Tyurin & Richtárik 2024, Alg. 2-4: S gradients gathered to a pivot on a graph",
    train=train_fragile,
    params=FragileParams,
    family="Fragile",
    shapes={"sgd": "fragile_sgd"},
    scaling="harmonic-like over the agents near the pivot",
    decentralized=True,
)
