"""What the pivot methods on a graph share (Fragile SGD, Amelie SGD; Tyurin & Richtárik,
NeurIPS 2024): a pivot agent j*, the shortest-path tree of j* (an agent's parent is its next
hop towards j*, :meth:`~asyncsim.topology.graph.GraphLinks.next_hop`; its reverse is the
broadcast tree, edges having the same time both ways), the point spread down the tree (each
agent passes it on without waiting, drops its computation at the older point and computes at
the new one, gradient after gradient), and reactions deferred to the end of an instant
(docs/algorithms.md §8).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from functools import partial
from itertools import count
from typing import Any

import numpy as np
from pydantic import Field

from asyncsim import graph_theory
from asyncsim.core.errors import ConfigError
from asyncsim.core.registry import Context, ProtocolSpec
from asyncsim.methods.protocol import BatchParams, Training

__all__ = ["PivotParams", "TreeAgents", "at_pivot", "pivot_of", "pivot_protocol", "train_at_pivot"]


class PivotParams(BatchParams):
    """S (``batch``) and the pivot agent j*."""

    pivot: int | None = Field(
        None,
        ge=1,
        description="j*, the agent that applies the updates (1-based; default: "
        "argmin_j t*(S, h, τ_{·→j} + τ_{j→·}) at the mean times)",
    )

    def resolve(self, context: Context) -> PivotParams:
        params = super().resolve(context)
        if params.pivot is not None and params.pivot > context.n:
            raise ConfigError(
                f"{context.field}.pivot", f"must be in 1..{context.n}, got {params.pivot}"
            )
        return params


def pivot_of(sim: Any, params: PivotParams) -> int:
    """j* (0-based): the ``pivot`` parameter, else Corollary 1's choice at the mean times."""
    if params.pivot is not None:
        return params.pivot - 1
    compute = sim.cluster.models["compute"]
    fixed = compute.fixed_values()
    h = np.asarray(fixed if fixed is not None else compute.means(sim.cluster.n), dtype=float)
    return graph_theory.fragile_pivot(
        h * sim.oracle.horizon, sim.graph.links.path_times, params.batch
    )


class _Agent:
    """Process i as the tree sees it: the newest iteration it knows, its point, its running
    computation, and whether a reaction of this instant is due; a method adds its own state."""

    def __init__(self) -> None:
        self.version, self.point, self.computation, self.reacting = -1, None, None, False


class TreeAgents:
    """The agents' processes of a pivot method; a subclass says what an agent does with a new
    point (:meth:`on_point`), a gradient (:meth:`on_gradient`) and at the end of an instant
    (:meth:`flush`)."""

    def __init__(self, run: Training, pivot: int) -> None:
        self.graph = graph = run.sim.graph
        self.n, self.pivot = graph.n, pivot
        self.parent = [graph.links.next_hop(i, pivot) if i != pivot else -1 for i in range(self.n)]
        self.children = [[c for c in range(self.n) if self.parent[c] == i] for i in range(self.n)]
        self.agents = [_Agent() for _ in range(self.n)]

    def receive_point(self, agent: int, version: int, point: Any) -> None:
        """A new point reaches ``agent``: pass it on, drop the older computation, compute."""
        state = self.agents[agent]
        if version <= state.version:
            return
        graph = self.graph
        state.version, state.point = version, point
        self.on_point(agent)
        for child in self.children[agent]:
            delivered = graph.send(agent, child, direct=True)
            delivered.callbacks.append(lambda _, c=child: self.receive_point(c, version, point))
        self.stop_computing(agent)
        self._compute(agent)

    def stop_computing(self, agent: int) -> None:
        state = self.agents[agent]
        self.graph.cancel(state.computation)
        state.computation = None

    def _compute(self, agent: int) -> None:
        state = self.agents[agent]
        computation = state.computation = self.graph.compute(agent, state.point, state.version)
        computation.done.callbacks.append(lambda event: self._computed(computation, event.value))

    def _computed(self, computation: Any, index: int) -> None:
        agent = computation.agent
        if computation is not self.agents[agent].computation:
            return
        self.on_gradient(agent, index)
        self._compute(agent)
        self.react(agent)

    def react(self, agent: int) -> None:
        """Call :meth:`flush` for ``agent`` once this instant's events are in (once)."""
        state = self.agents[agent]
        if not state.reacting:
            state.reacting = True
            self.graph.at_end_of_instant(agent, lambda: self._flush(agent))

    def _flush(self, agent: int) -> None:
        self.agents[agent].reacting = False
        self.flush(agent)

    def on_point(self, agent: int) -> None:
        """Reset the agent's state for its new iteration."""
        raise NotImplementedError

    def on_gradient(self, agent: int, index: int) -> None:
        """The agent finished gradient ``index`` at its current point."""
        raise NotImplementedError

    def flush(self, agent: int) -> None:
        """What the agent sends once this instant's events are in."""
        raise NotImplementedError


def train_at_pivot(
    run: Training, method: Callable[[Training, int], Any]
) -> Generator[Any, Any, None]:
    """Process 0 at j* (Algorithm 3 / 6): each iteration hands x^k to the agents
    (``start_iteration``, whose event gives the update's gradient jobs), applies the step and
    reports it; ``method(run, pivot)`` builds the agents' processes."""
    sim = run.sim
    agents = method(run, pivot_of(sim, run.params))
    state = run.optimizer.init(sim.oracle.initial_point())
    for t in count():
        start = sim.now
        jobs = yield agents.start_iteration(t, state.query, run.params.batch_of(t))
        gradient = sim.graph.gradient(state.query, jobs)
        state = run.optimizer.update(state, gradient.vector)
        participants = len({job.agent for job in jobs})
        if run.updated(
            t, start, gradient, state.theta, stop_time=sim.now, participants=participants
        ):
            return


def at_pivot(method: Callable[[Training, int], Any]) -> Callable[[Training], Generator]:
    """The ``train`` process of a spanning-tree protocol whose agents ``method(run, pivot)``
    builds (:func:`train_at_pivot`), as :func:`asyncsim.methods.protocol.rounds` is for a
    round rule."""
    return partial(train_at_pivot, method=method)


def pivot_protocol(
    name: str, train: Callable[[Training], Generator], **record: Any
) -> ProtocolSpec:
    """The record of the pivot method ``name`` on a graph running ``train`` (:func:`at_pivot`):
    it takes S and j* (:class:`PivotParams`), runs on agents on a graph only
    (``decentralized``), is a family of its own (``Name``) and has its own SGD shape
    (``name_sgd``); ``record``: its other :class:`~asyncsim.core.registry.ProtocolSpec`
    fields."""
    own = {"family": name.capitalize(), "shapes": {"sgd": f"{name}_sgd"}}
    return ProtocolSpec(name, train=train, params=PivotParams, decentralized=True, **own, **record)
