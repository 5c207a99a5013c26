"""Agents on a graph in the SimPy clock: what a decentralized protocol drives (docs/algorithms.md
§4, "Graphs"; :mod:`asyncsim.topology.graph` for the graph and its links).

A protocol on ``topology: graph`` reaches it as ``run.sim.graph``: an agent computes gradients
(:meth:`GraphAgents.compute`, cancellable), sends a vector to any agent (:meth:`GraphAgents.send`,
relayed hop by hop along the shortest-time path, store and forward, each hop a flow of the
shared-link model after its edge's latency), and the protocol reacts to what happens through
callbacks run at fixed places of an instant (:meth:`GraphAgents.at_end_of_instant`).

The order of one instant: the network's hops, then the agents' computations that end (by
agent), then the messages delivered (:data:`DELIVERY_PRIORITY`, by receiving agent), then the
reactions a protocol deferred to the end of the instant (:data:`REACTION_PRIORITY`, by agent),
so that what an agent holds at an instant does not depend on which of its simultaneous events
came first.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable
from heapq import heappush
from itertools import pairwise
from typing import Any

import simpy
from simpy.events import Event

from asyncsim.core.oracle import GradientJob, GradientRequest, GradientResult
from asyncsim.core.trace import TraceEvent
from asyncsim.engine.clock import AgentTimeout
from asyncsim.engine.links import SETTLE_PRIORITY, LiveLinks

__all__ = ["DELIVERY_PRIORITY", "REACTION_PRIORITY", "Computation", "GraphAgents"]

DELIVERY_PRIORITY = SETTLE_PRIORITY // 4
"""Priority of a message's delivery to agent i (plus i): after every computation's end."""
REACTION_PRIORITY = SETTLE_PRIORITY // 2
"""Priority of a deferred reaction of agent i (plus i): after every delivery of the instant."""


class Computation:
    """One gradient an agent computes: ``done`` fires with the gradient's index (the agent's
    computation counter); :meth:`GraphAgents.cancel` drops it."""

    __slots__ = ("agent", "done", "process", "version")

    def __init__(self, agent: int, version: int) -> None:
        self.agent, self.version = agent, version
        self.done: Event | None = None
        self.process: simpy.Process | None = None


class GraphAgents:
    """The agents of a run on a graph: their computations and messages."""

    def __init__(self, sim: Any, live: LiveLinks) -> None:
        """``sim``: the :class:`~asyncsim.engine.simulation.Simulation` that owns the agents
        (its counters, trace, oracle and the steps of a computation)."""
        self.sim, self.env, self.live = sim, sim.env, live
        self.links = live.links
        self.n = self.links.n

    @property
    def now(self) -> float:
        return self.env.now

    # ---------------------------------------------------------------- computations

    def compute(self, agent: int, point: Any, version: int) -> Computation:
        """Start one gradient of ``agent`` at ``point`` now (an outage delays or loses it as on
        a server: a lost one is computed again); ``done`` fires with its index."""
        computation = Computation(agent, version)
        computation.done = Event(self.env)
        computation.process = self.env.process(self._compute(computation, point))
        return computation

    def _compute(self, computation: Computation, point: Any) -> Generator[Event, Any, None]:
        sim, agent, version = self.sim, computation.agent, computation.version
        index = -1
        try:
            while True:
                delay, index, ending = sim._begin(agent, point, version)
                yield AgentTimeout(self.env, delay, agent)
                if sim._end(agent, index, ending, version):
                    break
        except simpy.Interrupt:
            if index >= 0:
                sim.counters.discarded += 1
                sim.trace.record(self.env.now, agent, TraceEvent.DISCARDED, version, version)
            return
        computation.process = None
        computation.done.succeed(index)

    def cancel(self, computation: Computation | None) -> None:
        """Drop a computation still running (counted and traced as discarded)."""
        if computation is not None and computation.process is not None:
            computation.process.interrupt()
            computation.process = None

    def gradient(self, point: Any, jobs: Iterable[GradientJob]) -> GradientResult:
        """The weighted sum of the agents' gradients ``jobs`` at ``point`` (the oracle's
        value), which count as used; the run's context takes its report."""
        sim = self.sim
        request = GradientRequest(point, tuple(jobs), sim.context)
        sim.counters.used += sum(job.count for job in request.jobs)
        return sim.take(sim.lazy.value(sim.lazy.submit(request)))

    # ---------------------------------------------------------------- messages

    def send(
        self, source: int, target: int, size: float | None = None, direct: bool = False
    ) -> Event:
        """Send one message (default: a vector) from ``source`` to ``target`` now, along the
        shortest-time route (``direct``: over their edge); the event fires when ``target``
        holds it, at the delivery priority of that instant. A vector message (``size`` None)
        counts as one of the run's ``uploads``, once however many hops it is relayed over."""
        if size is None:
            self.sim.counters.uploads += 1
        delivered = Event(self.env)
        route = [source, target] if direct else self.links.route(source, target)
        self.env.process(self._relay(route, size, delivered))
        return delivered

    def _relay(
        self, route: list[int], size: float | None, delivered: Event
    ) -> Generator[Event, Any, None]:
        """Store and forward along ``route``: each hop after its edge's latency, alone on its
        link or sharing it max-min fairly."""
        links, target = self.links, route[-1]
        for here, there in pairwise(route):
            hop = (links.link(here, there),)
            yield self.live.send(hop, size, links.hop_latency(here, there)).done
        self._at_now(DELIVERY_PRIORITY + target, lambda _: delivered.succeed())

    def at_end_of_instant(self, agent: int, reaction: Callable[[], None]) -> None:
        """Run ``reaction()`` once every computation's end and every delivery of this instant
        has been handled (agents in increasing order)."""
        self._at_now(REACTION_PRIORITY + agent, lambda _: reaction())

    def _at_now(self, priority: int, callback: Callable[[Event], None]) -> None:
        event = Event(self.env)
        event._ok, event._value = True, None
        event.callbacks.append(callback)
        env = self.env
        heappush(env._queue, (env.now, priority, next(env._eid), event))

    # ---------------------------------------------------------------- waiting

    def start(self, process: Generator[Event, Any, Any]) -> Event:
        """Run ``process`` alongside the protocol (an agent's loop)."""
        return self.env.process(process)

    def event(self) -> Event:
        """An event the protocol triggers itself (``succeed(value)``)."""
        return Event(self.env)

    def all_of(self, events: list[Event]) -> Event:
        return self.env.all_of(events)
