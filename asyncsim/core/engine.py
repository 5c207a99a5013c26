"""The engine port: everything a protocol may do with the run it drives, and nothing more.

A protocol (:class:`~asyncsim.core.registry.ProtocolSpec`) is a generator ``train(run)`` that
talks to an :class:`Engine` through ``run.sim``. It waits only through :meth:`Engine.collect`
(one synchronous round) and :meth:`Engine.next_arrival` (the asynchronous server): it never
sees how the engine keeps its clock, so the same protocol code runs in the SimPy simulation
(:class:`asyncsim.engine.simulation.Simulation`) and on real workers
(:class:`asyncsim.emulation.engine.EmulatedEngine`). A round-based protocol supplies the
engine with a :class:`CollectionRule` per round: when the round stops and how its gradients
are weighted.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from asyncsim.core.oracle import GradientOracle, GradientResult
from asyncsim.core.trace import Trace

__all__ = [
    "Arrival",
    "Cluster",
    "CollectionRule",
    "Counters",
    "Engine",
    "ProtocolProcess",
    "RoundOutcome",
    "Watchdog",
]

ProtocolProcess = Generator[Any, Any, Any]
"""A protocol's process, ``train(run)``, as an engine drives it."""

Watchdog = Callable[[], None]
"""Called while an engine drives a run; it raises to stop a run that makes no progress."""


class CollectionRule(ABC):
    """The protocol-specific part of a round: when to stop and how to weight gradients.

    A rule is made for each round as ``Rule(n, params, iteration)``; the engine calls
    :meth:`on_gradient` at each completion (in time order, ties in agent order) and
    :meth:`weight` when it forms the aggregate ĝ = Σ_i weight(i, B_i) · Σ_k g_{i,k}.
    """

    #: whether an agent starts another gradient after finishing one in the same round
    keeps_computing: bool = True

    @abstractmethod
    def __init__(self, n: int, params: Any, iteration: int) -> None:
        """A rule for round ``iteration`` of n agents with the method's parameters."""

    @abstractmethod
    def on_gradient(self, agent: int) -> bool:
        """Record a finished gradient of ``agent`` (0-based); True when the round must stop."""

    def on_gradients(self, agents: Sequence[int]) -> int | None:
        """:meth:`on_gradient` for each of ``agents`` in turn, up to the gradient that stops
        the round: its position in ``agents``; None when none does."""
        on_gradient = self.on_gradient
        for position, agent in enumerate(agents):
            if on_gradient(agent):
                return position
        return None

    @abstractmethod
    def weight(self, agent: int, count: int) -> float:
        """Weight of each of the ``count`` gradients of ``agent`` in the aggregate."""

    def patience(self, agent: int) -> float | None:
        """Seconds after which ``agent`` abandons a computation and starts a new one at the same
        point (None: never)."""
        return None


@dataclass
class Counters:
    """Running totals of a run (deltas between updates fill the iteration table)."""

    started: int = 0
    used: int = 0
    discarded: int = 0
    lost: int = 0
    uploads: int = 0


@dataclass
class RoundOutcome:
    """What one aggregation round produced: the aggregate, the instant the rule stopped the
    round, and the number of gradients each participant contributed."""

    gradient: GradientResult
    stop_time: float
    counts: dict[int, int]


class Arrival(Protocol):
    """A gradient that reached the asynchronous server (what :meth:`Engine.next_arrival`
    gives)."""

    agent: int
    version: int

    def gradient(self) -> GradientResult:
        """Its value; the gradient counts as used and the server's context takes its report."""
        ...

    def ignore(self) -> None:
        """The server drops it unused (counted as discarded, traced as ``ignored``)."""
        ...


class Cluster(Protocol):
    """What a protocol reads of the cluster: the number of agents."""

    n: int


class Engine(Protocol):
    """A run as its protocol drives it (attributes: ``cluster``, ``oracle`` for θ_0, the
    ``trace``, the ``counters`` the iteration table reads).

    ``drive(process, time_budget, watchdog)`` is the runner's side: it runs the protocol's
    process until it returns or ``time_budget`` seconds of the engine's clock have passed,
    calling ``watchdog()`` now and then where the engine can (it raises to stop a run that
    makes no progress).
    """

    cluster: Cluster
    oracle: GradientOracle
    trace: Trace
    counters: Counters

    @property
    def now(self) -> float:
        """The engine's clock, in modelled seconds."""
        ...

    def collect(
        self, point: np.ndarray, version: int, rule: CollectionRule
    ) -> Generator[Any, Any, RoundOutcome]:
        """One aggregation round at ``point``, stopped by ``rule`` (``yield from`` it)."""
        ...

    def dispatch(self, agent: int, point: np.ndarray, version: int) -> None:
        """Send ``point`` to one agent, which computes one gradient there and uploads it."""
        ...

    def restart(self, agent: int, point: np.ndarray, version: int) -> bool:
        """Drop the agent's work for an earlier point and dispatch ``point``; False (and
        nothing done) while the agent is uploading."""
        ...

    def next_arrival(self) -> Any:
        """What the protocol yields to wait for the next :class:`Arrival` (its value)."""
        ...

    def record_update(self, iteration: int) -> None:
        """Trace the update applied at the end of ``iteration``."""
        ...

    def drive(
        self, process: ProtocolProcess, time_budget: float | None, watchdog: Watchdog | None = None
    ) -> None:
        """Run the protocol's process to its end or the time budget."""
        ...
