"""AD-PSGD, asynchronous decentralized parallel SGD (Lian, Zhang, Zhang, Liu, ICML 2018,
Algorithm 1) on a graph (docs/algorithms.md §4, "Graphs").

    every agent i, again and again:
        take its model x̂_i; pick a neighbour j
        compute g = ∇F(x̂_i; ξ)  while  exchanging models with j (x_i → j and x_j → i)
        once both are done: x_i, x_j ← (x_i + x_j)/2   (atomic averaging)
                            x_i ← x_i − γ g

Choices the paper leaves open (docs/algorithms.md): agent i visits its neighbours in turn, in
increasing order (the paper samples one uniformly at random; the cycle gives each neighbour
the same share and makes every time reproducible without a draw); the gradient and the
exchange run in parallel (the paper's computation and communication threads) and the
averaging uses the models the two agents hold when the later of the two messages arrives;
each message is one vector relayed along the shortest-time route. The reported model is the
average of the n local models, x̄ (the quantity of the paper's Theorem 1). Each row of the
iteration table is one agent's update, from the previous update of any agent to it (as the
asynchronous server's rows); ``delay`` counts the updates of all agents between its model's
snapshot and its step.

Time: neither paper states a wall-clock complexity; asyncsim's shape
(:func:`asyncsim.graph_theory.ad_psgd_complexity`) times an asynchronous SGD count of iterations
at agent i's cycle c_i = max(τ_i, its exchanges' mean time alone).
"""

from __future__ import annotations

from collections.abc import Generator
from itertools import count
from typing import Any

from asyncsim.core.oracle import GradientJob
from asyncsim.core.registry import ProtocolSpec
from asyncsim.methods.protocol import Training

__all__ = ["PROTOCOL", "train_ad_psgd"]


class _Models:
    """The agents' local models (optimizer states) and their running sum (x̄ = sum / n)."""

    def __init__(self, run: Training, n: int) -> None:
        x0 = run.sim.oracle.initial_point()
        self.optimizer, self.n = run.optimizer, n
        self.states = [self.optimizer.init(x0) for _ in range(n)]
        self.total = x0 * n
        self.applied = 0  # updates applied so far, by every agent
        self.last = 0.0  # when the latest of them was applied
        self.finished = run.sim.graph.event()

    def average_and_step(self, agent: int, neighbour: int, gradient: Any, delay: int) -> None:
        """x_i, x_j ← (x_i + x_j)/2, then x_i's step (the sum moves by the step alone)."""
        states, init = self.states, self.optimizer.init
        average = (states[agent].theta + states[neighbour].theta) / 2
        states[agent] = states[neighbour] = init(average)
        states[agent] = self.optimizer.update(states[agent], gradient, delay)
        self.total = self.total + (states[agent].theta - average)
        self.applied += 1

    @property
    def mean(self) -> Any:
        return self.total / self.n


def train_ad_psgd(run: Training) -> Generator[Any, Any, None]:
    """SimPy process of AD-PSGD: starts every agent's loop and returns when the budget is
    spent."""
    graph = run.sim.graph
    models = _Models(run, graph.n)
    for agent in range(graph.n):
        graph.start(_loop(run, models, agent))
    yield models.finished


def _loop(run: Training, models: _Models, agent: int) -> Generator[Any, Any, None]:
    """Agent i's loop (Algorithm 1, lines 2-6, its neighbours in turn)."""
    graph = run.sim.graph
    neighbours = graph.links.neighbours[agent]
    for visit in count():
        neighbour = neighbours[visit % len(neighbours)]
        point, snapshot = models.states[agent].query, models.applied
        computation = graph.compute(agent, point, snapshot)
        there, back = graph.send(agent, neighbour), graph.send(neighbour, agent)
        yield graph.all_of([computation.done, there, back])
        if models.finished.triggered:
            return
        gradient = graph.gradient(point, [GradientJob(agent, computation.done.value, 1, 1.0)])
        iteration = models.applied
        delay = iteration - snapshot
        models.average_and_step(agent, neighbour, gradient.vector, delay)
        start, models.last = models.last, graph.now  # a row spans the time since the last update
        if run.updated(iteration, start, gradient, models.mean, agent=agent + 1, delay=delay):
            models.finished.succeed()
            return


PROTOCOL = ProtocolSpec(
    name="ad_psgd",
    description="Lian et al. 2018, Alg. 1: gradient and model averaging with a neighbour",
    train=train_ad_psgd,
    round_based=False,
    family="AD-PSGD",
    shapes={"sgd": "ad_psgd"},
    scaling="harmonic-like over the agents' cycles",
    decentralized=True,
)
