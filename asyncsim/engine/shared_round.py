"""A round on the server's star over shared links, without a SimPy process per agent
(docs/algorithms.md §3, "Event order"; §4, "Shared links").

Over ``cluster.network`` the point's copies and the uploads are transfers of
:class:`~asyncsim.engine.links.LiveLinks`, whose wake-ups, settlings, latency timers and
arrivals are SimPy events; an agent's computation needs no process: the round puts each
agent's next computation end into SimPy's own queue as the entry its
:class:`~asyncsim.engine.clock.AgentTimeout` would be, ``(time, AGENT_PRIORITY + agent, id)``,
and steps the queue itself, handling those entries inline and every other event as SimPy's
``step`` does. The queue holds the same entries in the same order as with one process per agent,
so the network sees the same changes at the same instants (every tie of an instant included)
and the trace gets the same rows in the same order; the reduce then runs as before.

One difference: the entries of the computations still running at the stop leave the queue,
where the processes' timeouts would stay until their instants and then do nothing (their
processes return at once). The network reads the queue only to ask whether more events are due
at the present instant, to arm its next wake-up at once or after them (``_arm_later``). An
entry left there changes that answer only at an instant where nothing else is due: then only
such entries, which send nothing, come in between, the wake-up is armed for the same instant
either way and before any message that could be due at that instant is sent, so the same
transfers start and end at the same instants in the same order (the tests run both).
"""

from __future__ import annotations

from functools import partial
from heapq import heapify, heappop, heappush, heapreplace
from typing import Any

import numpy as np

from asyncsim.core.engine import CollectionRule
from asyncsim.core.trace import TraceEvent
from asyncsim.engine.clock import AGENT_PRIORITY
from asyncsim.engine.schedule import VectorRound, computation_ended
from asyncsim.engine.upload_round import run_upload_round
from asyncsim.topology.links import delivery_order

__all__ = ["run_shared_round", "shared_round_runs"]

RECEIVED, START = TraceEvent.BROADCAST_RECEIVED, TraceEvent.COMPUTE_START


def shared_round_runs(sim: Any, rule: CollectionRule) -> bool:
    """Whether :func:`run_shared_round` runs the round of ``rule`` in ``sim`` (a
    :class:`~asyncsim.engine.simulation.Simulation`): shared links on the server's star (a
    broadcast, no collective, no graph), no outages, per-trajectory times and no patience."""
    links, topology = sim._links, sim.cluster.topology
    return (
        links is not None
        and topology.broadcasts
        and topology.collective is None
        and sim.graph is None
        and not sim._outages
        and not sim.per_step_timing
        and type(rule).patience is CollectionRule.patience
    )


def run_shared_round(sim: Any, round_: Any, watch_events: int) -> float | None:
    """The round ``round_`` of ``sim`` over shared links up to its stop (see
    :func:`_events_round`). When the point's copies arrive as a cohort (:func:`_copies_alone`),
    a rule that keeps every agent computing sends nothing more: the round runs as on private
    wires from the arrivals (:meth:`VectorRound.run_from
    <asyncsim.engine.schedule.VectorRound.run_from>`); a round of one gradient per agent, each
    uploaded at its end, is made in arrays, its uploads run without events where nothing delays
    them (:func:`~asyncsim.engine.upload_round.run_upload_round`). Returns the stop time, or
    None when the time budget ends (or the events run out) first."""
    keeps_computing = round_.rule.keeps_computing
    copies = None
    if keeps_computing or sim._links.uploads_alone():
        copies = _copies_alone(sim, round_, watch_events)
    if copies is None:
        return _events_round(sim, round_, watch_events)
    vector, tau, arrival, link = copies
    if not keeps_computing:
        return run_upload_round(sim, round_, vector, (tau, arrival, link), watch_events)
    rank = np.empty(len(arrival), np.int64)
    rank[delivery_order(arrival, link)] = np.arange(len(arrival))
    return vector.run_from(arrival, rank)


def _copies_alone(sim: Any, round_: Any, watch_events: int) -> tuple | None:
    """(the round's :class:`VectorRound`, each agent's next duration, its copy's arrival, the
    link that delivers it) where the copies arrive as a cohort (no event pending but the time
    budget's, no message on its way: :meth:`LiveLinks.cohort
    <asyncsim.engine.links.LiveLinks.cohort>`) and the durations can be read ahead; None
    otherwise."""
    if not all(entry[3] is sim._budget for entry in sim.env._queue):
        return None
    vector = VectorRound(sim, round_, watch_events)
    tau = vector.next_durations()
    if tau is None:
        return None
    found = sim._links.cohort(sim._links.links.broadcast_paths, sim.env.now)
    return None if found is None else (vector, tau, *found)


def _events_round(sim: Any, round_: Any, watch_events: int) -> float | None:
    """The round ``round_`` of ``sim`` as its ``_round_agent`` processes run it over shared
    links, up to its stop: the point sent to every agent (one copy each, together), each agent
    computing from its copy's arrival on, an agent that computes one gradient a round uploading
    it at its end; ``sim``'s check runs every ``watch_events`` events. Returns the stop time, or
    None when the time budget ends (or the events run out) first."""
    env, links, version = sim.env, sim._links, round_.version
    queue, ids, budget_time = env._queue, env._eid, sim._deadline
    running, rule, counters, add = round_.running, round_.rule, sim.counters, sim.trace.add
    on_gradient, keeps_computing = rule.on_gradient, rule.keeps_computing
    next_index, duration = sim._next_index, sim._durations(version)
    mine = object()  # the "event" of this round's entries in the queue

    def start(agent: int, now: float) -> None:
        index = running[agent] = next_index[agent]
        next_index[agent] = index + 1
        counters.started += 1
        add((now, agent + 1, START, version, version))
        heappush(queue, (now + duration(agent), AGENT_PRIORITY + agent, next(ids), mine))

    def received(agent: int, _: Any) -> None:
        del round_.receiving[agent]
        if round_.done:
            return
        now = env._now
        add((now, agent + 1, RECEIVED, version, version))
        start(agent, now)

    with links.together():  # the copies leave at once, as the processes' first steps send them
        for agent, path in enumerate(links.links.broadcast_paths):
            copy = round_.receiving[agent] = links.send(path)
            copy.done.callbacks.append(partial(received, agent))
    left = sim._unwatched
    try:
        while queue:
            time, priority, _, event = queue[0]
            if time >= budget_time:  # the budget's timeout comes first, and stops the run
                return None
            left -= 1
            if not left:
                left = watch_events
                if sim._watch is not None:
                    sim._watch()
            if event is not mine:
                env.step()  # a network event, as SimPy runs it
                continue
            env._now, agent = time, priority - AGENT_PRIORITY
            computation_ended(sim, round_, agent, time)
            if not keeps_computing:
                heappop(queue)
                round_.uploading[agent] = sim._upload(agent, version)
                if on_gradient(agent):
                    round_.done = True
                    return time
                continue
            if on_gradient(agent):
                heappop(queue)
                round_.done = True
                return time
            index = running[agent] = next_index[agent]  # start(agent, time), on the same entry
            next_index[agent] = index + 1
            counters.started += 1
            add((time, agent + 1, START, version, version))
            heapreplace(queue, (time + duration(agent), priority, next(ids), mine))
        return None
    finally:
        sim._unwatched = left
        if running:  # computations running at the stop: their entries leave the queue
            queue[:] = [entry for entry in queue if entry[3] is not mine]
            heapify(queue)
