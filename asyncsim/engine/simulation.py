"""SimPy glue: agents as processes, broadcasts, rounds, uploads, outages (no optimization math).

Two building blocks serve every protocol (docs/algorithms.md, "Aggregation procedures"):

* ``collect(point, version, rule)`` — one synchronous aggregation round: the server sends the
  point, every agent (a SimPy process) computes gradients at it until the protocol's collection
  rule (:class:`asyncsim.methods.protocol.CollectionRule`) says stop, running computations are
  discarded, the participants upload and the weighted sum of the gradients used is returned.
* ``dispatch(agent, point, version)`` + ``next_arrival()`` — the asynchronous server: one agent
  receives a point, computes one gradient, uploads it, and the arrival is queued for the server.

Gradients are requested from the oracle lazily (:class:`LazyGradients`); the simulated clock never
depends on gradient values under per-trajectory timing.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import numpy as np
import simpy

from asyncsim.core.engine import CollectionRule, Counters, ProtocolProcess, RoundOutcome, Watchdog
from asyncsim.core.oracle import GradientJob, GradientOracle, GradientRequest, GradientResult
from asyncsim.core.trace import CODES, SERVER, Trace, TraceEvent, records
from asyncsim.engine.clock import AgentTimeout, AllDone, At
from asyncsim.engine.cluster import ClusterRuntime
from asyncsim.engine.graph import GraphAgents
from asyncsim.engine.lazy import LazyGradients
from asyncsim.engine.links import LiveLinks, Transfer
from asyncsim.engine.schedule import scheduled_round
from asyncsim.engine.shared_round import run_shared_round, shared_round_runs
from asyncsim.topology.allreduce import COLLECTIVE_STEPS
from asyncsim.topology.links import delivery_order

__all__ = ["Counters", "RoundOutcome", "SimulatedArrival", "Simulation"]

COMPUTE_START, COMPUTE_END = TraceEvent.COMPUTE_START, TraceEvent.COMPUTE_END

Process = Generator[simpy.Event, Any, Any]


@dataclass
class SimulatedArrival:
    """A gradient that reached the asynchronous server (an
    :class:`~asyncsim.core.engine.Arrival`)."""

    agent: int
    version: int
    handle: int
    simulation: Simulation

    def gradient(self) -> GradientResult:
        """Its value (computed lazily, together with every gradient still in flight); the
        gradient counts as used and the server's context takes its report."""
        sim = self.simulation
        sim.counters.used += 1
        return sim.take(sim.lazy.value(self.handle))

    def ignore(self) -> None:
        """The server drops this gradient unused (it is never computed): counted as discarded
        and traced as ``ignored``."""
        sim = self.simulation
        sim.lazy.cancel(self.handle)
        sim.counters.discarded += 1
        sim.trace.record(sim.now, self.agent, TraceEvent.IGNORED, self.version, self.version)


@dataclass
class _Round:
    point: np.ndarray
    version: int
    rule: CollectionRule
    stopped: simpy.Event
    context: Any
    done: bool = False
    used: dict[int, list[int]] = field(default_factory=dict)
    running: dict[int, int] = field(default_factory=dict)
    finished: dict[int, float] = field(default_factory=dict)
    receiving: dict[int, Transfer] = field(default_factory=dict)  # broadcast copies on the way
    uploading: dict[int, simpy.Event] = field(default_factory=dict)  # over shared links
    uploads_ahead: tuple[list[float], list[int]] | None = None  # their arrivals, found at once


class Simulation:
    """One simulated run: the SimPy environment, the cluster, the oracle and the trace."""

    def __init__(
        self,
        cluster: ClusterRuntime,
        oracle: GradientOracle,
        trace: Trace,
        per_step_timing: bool = False,
    ) -> None:
        self.env = simpy.Environment()
        self.cluster = cluster
        self.oracle = oracle
        self.lazy = LazyGradients(oracle)
        self.trace = trace
        self.per_step_timing = per_step_timing
        self.counters = Counters()
        self._next_index = [0] * cluster.n
        self._arrivals = simpy.Store(self.env)
        self._workers: list[simpy.Process | None] = [None] * cluster.n
        self._stoppable = [False] * cluster.n
        self._outages = cluster.has_outages
        fixed_h = cluster.models["compute"].fixed_values()
        per_trajectory = fixed_h is not None and not per_step_timing
        self._fixed_tau = [float(h) * oracle.horizon for h in fixed_h] if per_trajectory else None
        self.context = oracle.initial_context()
        self._links = None if cluster.links is None else LiveLinks(self.env, cluster.links)
        decentralized = cluster.topology.decentralized
        self.graph = GraphAgents(self, self._links) if decentralized else None
        self._inbound: list[Transfer | None] = [None] * cluster.n  # points sent over links
        self._budget: simpy.Event | None = None  # the time budget's timeout (drive)
        self._deadline = math.inf  # when it fires
        self._watch: Callable[[], None] | None = None  # drive's check between events
        self._unwatched = len(_WATCH)  # events of scheduled rounds until the next check
        self._clock: float | None = None  # a scheduled round's time, ahead of SimPy's clock
        self._round_span = 0.0  # the last scheduled round's length (its first window's)

    @property
    def now(self) -> float:
        """The simulated time (within a scheduled round: of the event being processed)."""
        return self.env.now if self._clock is None else self._clock

    def take(self, result: GradientResult) -> GradientResult:
        """The server takes ``result``: its context follows the result's report
        (:meth:`GradientOracle.next_context`); returns ``result``."""
        self.context = self.oracle.next_context(self.context, result)
        return result

    def drive(
        self, process: ProtocolProcess, time_budget: float | None, watchdog: Watchdog | None = None
    ) -> None:
        """Run the protocol's process until it returns or ``time_budget`` simulated seconds
        have passed, the cyclic collector at rest; the trace spills its rows to disk and
        ``watchdog()`` is called after every
        :data:`WATCH_EVENTS` events (it raises to stop a run that makes no progress: under a
        budget of iterations the run may never end, and under a time budget computations of no
        time may keep the clock from moving)."""
        until = self.env.process(process)
        if time_budget is not None:
            self._deadline = self.env.now + time_budget  # the timeout's time, as SimPy sums it
            self._budget = self.env.timeout(time_budget)
            until = self.env.any_of([until, self._budget])
        trace = self.trace

        def watch() -> None:
            trace.spill()  # a long run's trace goes to disk, in bounded chunks
            if watchdog is not None:
                watchdog()

        self._watch = watch
        with _collector_at_rest():
            _run_watched(self.env, until, watch)

    # ------------------------------------------------------------------ one gradient

    def _begin(
        self, agent: int, point: np.ndarray, version: int, patience: float | None = None
    ) -> tuple[float, int, str | None]:
        """Start the agent's next step now: ``(seconds until it ends, index, its end event)``.

        An agent in an outage waits for its end (index -1, no end event). Otherwise a
        computation with a fresh index starts; it ends with ``compute_end``, or is ``lost`` when
        an outage begins first, or is ``abandoned`` when it would run past ``patience`` seconds
        (then it ends after exactly ``patience``).
        """
        now = self.env.now
        if self._outages:
            resume = self.cluster.available_from(agent, now)
            if resume > now:
                self.trace.add((now, agent + 1, TraceEvent.OUTAGE_WAIT, version, version))
                return resume - now, -1, None
        index = self._next_index[agent]
        self._next_index[agent] = index + 1
        self.counters.started += 1
        fixed_tau = self._fixed_tau
        if fixed_tau is not None:
            duration = fixed_tau[agent]
        else:
            duration = self._compute_time(agent, version, point, index)
        self.trace.add((now, agent + 1, TraceEvent.COMPUTE_START, version, version))
        lost_at = self._outages and self.cluster.outage_between(agent, now, now + duration)
        lost_first = lost_at and patience is not None and lost_at < now + patience
        if patience is not None and duration > patience and not lost_first:
            return patience, index, TraceEvent.ABANDONED
        if lost_at:
            return lost_at - now, index, TraceEvent.LOST
        return duration, index, TraceEvent.COMPUTE_END

    def _end(self, agent: int, index: int, ending: str | None, version: int) -> bool:
        """Close the step begun by ``_begin`` at its end; True when a gradient was completed."""
        if ending is not None:
            self.trace.add((self.env.now, agent + 1, ending, version, version))
        if ending == TraceEvent.LOST:
            self.counters.lost += 1
        elif ending == TraceEvent.ABANDONED:
            self.counters.discarded += 1
        return ending == TraceEvent.COMPUTE_END

    def _compute_time(self, agent: int, version: int, point: np.ndarray, index: int) -> float:
        """τ = h_{i,k} · transitions: H under per-trajectory timing, the trajectory's length
        under per-step timing."""
        if self.per_step_timing:
            transitions = self.oracle.trajectory_length(point, agent, index)
        else:
            transitions = self.oracle.horizon
        return self.cluster.compute_time(agent, version, transitions)

    # ------------------------------------------------------------------ synchronous rounds

    def collect(
        self, point: np.ndarray, version: int, rule: CollectionRule
    ) -> Generator[simpy.Event, Any, RoundOutcome]:
        """One aggregation round at ``point`` (Algorithms 2, 3 and the synchronized round).

        The round starts now (the server sends the point) and ends when the server holds
        ĝ = Σ_i rule.weight(i, B_i) · Σ_k g_{i,k}. Running computations at the stop are discarded.
        """
        round_ = _Round(point, version, rule, self.env.event(), self.context)
        if self.per_step_timing:  # every agent starts one computation at the point now
            self.oracle.prefetch(point, enumerate(self._next_index))
        if self._schedulable(rule):
            stop = self._scheduled_round(round_)
            yield self.env.event() if stop is None else At(self.env, stop)  # None: never
        elif shared_round_runs(self, rule):
            stop = run_shared_round(self, round_, WATCH_EVENTS)
            yield self.env.event() if stop is None else At(self.env, stop)
        else:
            for agent in range(self.cluster.n):
                self.env.process(self._round_agent(agent, round_))
            yield round_.stopped
        stop_time = self.env.now
        self._discard_running(round_, stop_time)
        counts = {agent: len(indices) for agent, indices in round_.used.items()}
        if self._links is not None:
            yield from self._reduce_over_links(round_, counts)
        else:
            reduce = self.cluster.reduce(list(counts), version)
            if self.cluster.topology.collective is not None:  # one collective, ending for all
                uploads = {a: (stop_time, stop_time + reduce.duration) for a in reduce.uplinks}
            elif rule.keeps_computing:
                uploads = {a: (stop_time, stop_time + d) for a, d in reduce.uplinks.items()}
            else:
                # An agent that computes one gradient per round holds its final contribution as
                # soon as it finishes, so it sends it at once: round = max_i (b_i + τ_i + κ_i)
                # (docs/algorithms.md §3).
                uploads = {a: (round_.finished[a], round_.finished[a] + d)
                           for a, d in reduce.uplinks.items()}  # fmt: skip
            self._record_uploads(uploads, version)
            end = max((upload_end for _, upload_end in uploads.values()), default=stop_time)
            if end > stop_time:
                yield self.env.timeout(end - stop_time)
        request = GradientRequest(point, tuple(self._jobs(round_)), round_.context)
        gradient = self.take(self.lazy.value(self.lazy.submit(request)))
        return RoundOutcome(gradient, stop_time, counts)

    def _schedulable(self, rule: CollectionRule) -> bool:
        """Whether the round can run as :meth:`_scheduled_round`: private wires, no outages,
        per-trajectory times, no patience, and no event pending but the time budget's."""
        plain = self._links is None and self.graph is None and not self._outages
        return (
            plain
            and not self.per_step_timing
            and type(rule).patience is CollectionRule.patience
            and all(entry[3] is self._budget for entry in self.env._queue)
        )

    def _scheduled_round(self, round_: _Round) -> float | None:
        """The round of :meth:`_round_agent` processes, run without SimPy
        (:func:`~asyncsim.engine.schedule.scheduled_round`): nothing else can happen meanwhile
        (:meth:`_schedulable`). Returns the stop time, or None when the time budget ends (or
        the events run out) first."""
        return scheduled_round(self, round_, len(_WATCH))

    def _durations(self, version: int) -> Callable[[int], float]:
        """``agent → τ`` of a computation started now (per-trajectory timing)."""
        if self._fixed_tau is not None:
            return self._fixed_tau.__getitem__
        return self.cluster.compute_times(version, self.oracle.horizon)

    def _round_agent(self, agent: int, round_: _Round) -> Process:
        env, version = self.env, round_.version
        if self._links is None:
            delay = self.cluster.broadcast_delay(agent, version)
            if delay > 0:
                yield AgentTimeout(env, delay, agent)
                if round_.done:
                    return
        elif self.cluster.topology.broadcasts:
            path = self._links.links.broadcast_path(agent)
            copy = round_.receiving[agent] = self._links.send(path)
            yield copy.done
            del round_.receiving[agent]
            if round_.done:
                return
        self.trace.record(env.now, agent, TraceEvent.BROADCAST_RECEIVED, version, version)
        running, point, rule, counters = round_.running, round_.point, round_.rule, self.counters
        add, next_index, keeps_computing = self.trace.add, self._next_index, rule.keeps_computing
        start_event, end_event = COMPUTE_START, COMPUTE_END
        number = agent + 1  # as the trace writes it
        patience = rule.patience(agent)
        # the hot path (per-trajectory times, no outages, no patience): _begin and _end inlined
        fast = not self._outages and not self.per_step_timing and patience is None
        fixed_tau = self._fixed_tau[agent] if fast and self._fixed_tau is not None else None
        compute_time, horizon = self.cluster.compute_time, self.oracle.horizon
        mine: list[int] = []  # indices of this agent's gradients used in the round
        while True:
            if fast:
                index = next_index[agent]
                next_index[agent] = index + 1
                counters.started += 1
                add((env.now, number, start_event, version, version))
                running[agent] = index
                if fixed_tau is None:
                    yield AgentTimeout(env, compute_time(agent, version, horizon), agent)
                else:
                    yield AgentTimeout(env, fixed_tau, agent)
                if round_.done:
                    return
                del running[agent]
                add((env.now, number, end_event, version, version))
            else:
                delay, index, ending = self._begin(agent, point, version, patience)
                if index >= 0:
                    running[agent] = index
                yield AgentTimeout(env, delay, agent)
                if round_.done:
                    return
                running.pop(agent, None)
                if not self._end(agent, index, ending, version):
                    continue
            if not mine:
                round_.used[agent] = mine
            mine.append(index)
            counters.used += 1
            if not keeps_computing:
                round_.finished[agent] = env.now
                if self._links is not None and self.cluster.topology.collective is None:
                    round_.uploading[agent] = self._upload(agent, version)
            if rule.on_gradient(agent):
                round_.done = True
                round_.stopped.succeed()
                return
            if not keeps_computing:
                return

    def _discard_running(self, round_: _Round, time: float) -> None:
        """The computations running at the round's stop are discarded (traced in agent
        order)."""
        agents = np.array(sorted(round_.running), dtype=np.int64)
        self.counters.discarded += len(agents)
        if self.trace.enabled and len(agents):
            version, discarded = round_.version, CODES[TraceEvent.DISCARDED]
            rows = records(len(agents), time, agents + 1, discarded, version, version)
            self.trace.extend_records(rows, tuple(range(len(rows))) if type(time) is int else ())
        round_.running.clear()

    def _reduce_over_links(self, round_: _Round, counts: dict[int, int]) -> Process:
        """The reduce over shared links, from the stop on: copies of the point still on their
        way are dropped; the participants upload (those that compute one gradient a round
        started at their gradient's end), or the topology's collective runs; it ends when the
        last message has arrived."""
        links = self._links
        with links.together():
            for copy in round_.receiving.values():
                links.cancel(copy)
            round_.receiving.clear()
        if self.cluster.topology.collective is not None:
            yield from self._collective(counts, round_.version)
            return
        if round_.rule.keeps_computing:
            agents = sorted(counts)
            last = self._uploads_alone(agents, round_.version)
            if last is not None:
                yield At(self.env, last)
                return
            with links.together():
                for agent in agents:
                    round_.uploading[agent] = self._upload(agent, round_.version)
        if round_.uploads_ahead is not None:
            yield from self._uploads_arriving(*round_.uploads_ahead, round_.version)
            return
        pending = [event for event in round_.uploading.values() if not event.processed]
        if pending:
            yield AllDone(self.env, pending)

    def _uploads_alone(self, agents: list[int], version: int) -> float | None:
        """The uploads of ``agents`` sent together now, nothing else on the network until they
        have arrived (the reduce of a rule that keeps computing), traced at once from their
        arrivals (:meth:`LiveLinks.cohort <asyncsim.engine.links.LiveLinks.cohort>`): the starts
        in agent order, the ends in the order of their deliveries. Returns the last arrival;
        None, nothing done, where they need the transfers' events (or the time budget ends
        before the last arrival)."""
        links, now = self._links, self.env.now
        paths = [links.links.upload_path(agent) for agent in agents]
        found = links.cohort(paths, now, before=self._deadline)
        if found is None:
            return None
        ends, link = found
        order = delivery_order(ends, link)
        count, delivered = len(agents), order.tolist()
        start, end = TraceEvent.UPLOAD_START, TraceEvent.UPLOAD_END
        times = [now] * count + ends[order].tolist()
        senders = agents + [agents[flow] for flow in delivered]
        self.trace.extend(_flat_rows(times, senders, [start] * count + [end] * count, version))
        self.counters.uploads += count
        return float(ends.max())

    def _uploads_arriving(self, times: list[float], agents: list[int], version: int) -> Process:
        """Uploads on their way at the stop whose arrivals are known (in order of delivery),
        traced as they arrive before the time budget's end; it ends at the last arrival (never,
        where the budget ends first)."""
        due = sum(time < self._deadline for time in times)  # a prefix: they are in time order
        ends = [TraceEvent.UPLOAD_END] * due
        self.trace.extend(_flat_rows(times[:due], agents[:due], ends, version))
        if times:  # the budget's end first: its timeout then ends the run before the last
            last = max(times)
            yield At(self.env, last) if last < self._deadline else self.env.event()

    def _upload(self, agent: int, version: int) -> simpy.Event:
        """Send the agent's vector to the server over the shared links, traced; the event fires
        on its arrival."""
        self.trace.record(self.env.now, agent, TraceEvent.UPLOAD_START, version, version)
        self.counters.uploads += 1
        done = self._links.send(self._links.links.upload_path(agent)).done
        trace, end = self.trace, TraceEvent.UPLOAD_END
        done.callbacks.append(lambda _: trace.record(self.env.now, agent, end, version, version))
        return done

    def _collective(self, counts: dict[int, int], version: int) -> Process:
        """The topology's collective over shared links: its senders in a ring, each step every
        sender passes a share of the vector to the next (``cluster.allreduce``:
        :data:`~asyncsim.topology.allreduce.COLLECTIVE_STEPS`), a step ends when its last
        message arrives."""
        mask = np.zeros(self.cluster.n, dtype=int)
        mask[list(counts)] = 1
        ring = np.flatnonzero(self.cluster.topology.senders(mask)).tolist()
        steps, share = COLLECTIVE_STEPS[self.cluster.topology_context.allreduce](len(ring))
        links, size = self._links, self._links.links.message_bytes * share
        for agent in ring:
            self.trace.record(self.env.now, agent, TraceEvent.UPLOAD_START, version, version)
        neighbours = ring[1:] + ring[:1]
        paths = [links.links.ring_path(a, b) for a, b in zip(ring, neighbours, strict=True)]
        for _ in range(steps):
            with links.together():
                messages = [links.send(path, size).done for path in paths]
            yield AllDone(self.env, messages)
        for agent in ring:
            self.trace.record(self.env.now, agent, TraceEvent.UPLOAD_END, version, version)
        self.counters.uploads += len(ring)

    def _record_uploads(self, uploads: dict[int, tuple[float, float]], version: int) -> None:
        """Trace the uploads (agent → (start, end)) of a reduce, scheduled now and so recorded
        ahead, in time order."""
        agents = sorted(uploads)
        times, events = [0.0] * (2 * len(agents)), [TraceEvent.UPLOAD_START, TraceEvent.UPLOAD_END]
        times[0::2] = [uploads[agent][0] for agent in agents]
        times[1::2] = [uploads[agent][1] for agent in agents]
        order = np.argsort(np.array(times, dtype=float), kind="stable").tolist()  # as sorted()
        rows = _flat_rows(
            [times[j] for j in order],
            [agents[j >> 1] for j in order],
            [events[j & 1] for j in order],
            version,
        )
        self.trace.extend(rows)
        self.counters.uploads += len(uploads)

    def _jobs(self, round_: _Round) -> list[GradientJob]:
        """One job per run of consecutive indices of each agent (an outage can split a run).
        Built a column at a time (``map``) when no run is split, the usual case: 60,000 jobs
        of a round at n = 10^5 took 0.17 s one agent at a time, 0.09 s so."""
        used = round_.used
        agents = sorted(used)
        indices = list(map(used.__getitem__, agents))
        counts = list(map(len, indices))
        firsts = list(map(itemgetter(0), indices))
        weights = list(map(round_.rule.weight, agents, counts))
        # each last - first >= count - 1, equal for one run: so are their sums
        if sum(map(itemgetter(-1), indices)) - sum(firsts) == sum(counts) - len(counts):
            return list(map(GradientJob, agents, firsts, counts, weights))
        jobs = []
        for agent, each, mine in zip(agents, weights, indices, strict=True):
            jobs += [GradientJob(agent, first, count, each) for first, count in _runs(mine)]
        return jobs

    # ------------------------------------------------------------------ asynchronous server

    def dispatch(self, agent: int, point: np.ndarray, version: int) -> None:
        """Send ``point`` (server version ``version``) and the server's context to one agent,
        which computes one gradient there and uploads it; the arrival is then queued for
        ``next_arrival``."""
        process = self._async_agent(agent, point, version, self.context)
        self._workers[agent] = self.env.process(process)

    def restart(self, agent: int, point: np.ndarray, version: int) -> bool:
        """Stop the agent's work for an earlier point (a running computation is discarded, a
        point still on its way is dropped) and :meth:`dispatch` ``point`` to it. An agent whose
        gradient is being uploaded is left alone: returns False then, True otherwise."""
        if not self._stoppable[agent]:
            return False
        self._workers[agent].interrupt()
        self.dispatch(agent, point, version)
        return True

    def _async_agent(self, agent: int, point: np.ndarray, version: int, context: Any) -> Process:
        env, lazy = self.env, self.lazy
        self._stoppable[agent] = True
        handle = None  # the running computation's request
        try:
            if self._links is None:
                delay = self.cluster.broadcast_delay(agent, version)
                if delay > 0:
                    yield AgentTimeout(env, delay, agent)
            else:
                point_copy = self._inbound[agent] = self._links.send(
                    self._links.links.unicast_path(agent)
                )
                yield point_copy.done
                self._inbound[agent] = None
            self.trace.record(env.now, agent, TraceEvent.BROADCAST_RECEIVED, version, version)
            while True:  # the request is submitted at the start, so in-flight gradients batch
                delay, index, ending = self._begin(agent, point, version)
                if index >= 0:
                    job = GradientJob(agent, index, 1, 1.0)
                    handle = lazy.submit(GradientRequest(point, (job,), context))
                yield AgentTimeout(env, delay, agent)
                if self._end(agent, index, ending, version):
                    break
                if handle is not None:
                    lazy.cancel(handle)
                    handle = None
        except simpy.Interrupt:  # restart(): the work is for a stale point
            if self._inbound[agent] is not None:
                self._links.cancel(self._inbound[agent])
                self._inbound[agent] = None
            if handle is not None:
                lazy.cancel(handle)
                self.counters.discarded += 1
                self.trace.record(env.now, agent, TraceEvent.DISCARDED, version, version)
            return
        self._stoppable[agent] = False
        if self._links is not None:
            yield self._upload(agent, version)
        else:
            uplink = self.cluster.uplink_time(agent, version)
            self.trace.record(env.now, agent, TraceEvent.UPLOAD_START, version, version)
            if uplink > 0:
                yield AgentTimeout(env, uplink, agent)
            self.trace.record(env.now, agent, TraceEvent.UPLOAD_END, version, version)
            self.counters.uploads += 1
        yield self._arrivals.put(SimulatedArrival(agent, version, handle, self))

    def next_arrival(self) -> simpy.Event:
        """Event whose value is the next :class:`SimulatedArrival` at the server."""
        return self._arrivals.get()

    # ------------------------------------------------------------------ bookkeeping

    def record_update(self, iteration: int) -> None:
        """Trace the update applied at the end of round ``iteration``."""
        self.trace.record(self.env.now, SERVER, TraceEvent.UPDATE, iteration, iteration + 1)


def _flat_rows(times: list[float], agents: list[int], events: list[str], version: int) -> list:
    """Trace rows (time, agent 0-based, event) of round ``version``, flat (Trace.extend)."""
    rows: list[float | int | str] = [version] * (5 * len(agents))
    rows[0::5] = times
    rows[1::5] = [agent + 1 for agent in agents]
    rows[2::5] = events
    return rows


def _runs(indices: list[int]) -> list[tuple[int, int]]:
    """Split increasing indices into (first, count) runs of consecutive values."""
    runs: list[list[int]] = []
    for index in indices:
        if runs and index == runs[-1][0] + runs[-1][1]:
            runs[-1][1] += 1
        else:
            runs.append([index, 1])
    return [(first, count) for first, count in runs]


WATCH_EVENTS = 100_000
"""Events between two calls of a run's watchdog: the check costs nothing next to them."""

_WATCH = range(WATCH_EVENTS)


def _run_watched(env: simpy.Environment, until: simpy.Event, watchdog: Callable[[], None]) -> None:
    """``env.run(until)`` (SimPy's loop, in the same order), calling ``watchdog()`` every
    :data:`WATCH_EVENTS` events."""
    if until.callbacks is None:  # already processed
        return
    until.callbacks.append(simpy.core.StopSimulation.callback)
    step = env.step
    try:
        while True:
            for _ in _WATCH:
                step()
            watchdog()
    except simpy.core.StopSimulation:
        return
    except simpy.core.EmptySchedule:
        raise RuntimeError(
            f'No scheduled events left but "until" event was not triggered: {until}'
        ) from None


@contextmanager
def _collector_at_rest() -> Iterator[None]:
    """Python's cyclic garbage collector, made to pass less often during a run: its first
    threshold is raised from 700 to 10,000 net allocations (restored afterwards), so that its
    older, fuller passes come 14 times less often. A run keeps one generator per agent alive and
    a full pass visits them all: on the engine benchmark (n = 10,000, 1.1M gradients) 15 full
    passes of 90-160 ms took 1.9 s of a 6.6 s run; the ratio to bare SimPy went from 0.22 to
    0.29-0.32 (three medians of 3). Cycles are still collected, only later. (``gc.freeze`` of
    the objects alive at the start gained more, 0.34, but froze the garbage of the run before
    too: back-to-back runs in one process then never freed it, +500 objects and +1.3 MB a
    run.)"""
    threshold = gc.get_threshold()
    gc.set_threshold(10_000, *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
