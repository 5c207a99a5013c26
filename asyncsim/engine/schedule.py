"""A synchronous round on private wires, run without SimPy (``Simulation.collect``).

When nothing but the round can happen (private wires, no outages, per-trajectory times, no
patience, no event pending but the time budget's), the round of one SimPy process per agent is
replayed from its events alone: an agent receives the point (after its broadcast delay), then
each computation ends at the previous event's time plus its duration. SimPy processes events by
time, then agent index (:class:`~asyncsim.engine.clock.AgentTimeout`); agents whose point
arrives at once start first, in agent order (SimPy starts processes before other events). Trace,
counters, indices and the collection rule see the same calls in the same order, and the clock
the same floats: an agent's event times are running sums ``((b + τ_1) + τ_2) + ...`` exactly as
``now + duration`` makes them.

Two ways run the events:

* :class:`VectorRound`, for rules that keep computing until the stop (Rennala, Malenia): the
  events of a window of simulated time are made with NumPy, one level at a time (every agent's
  next event, then the one after, ...), ordered by (time, agent, level) and applied in bulk: trace
  rows packed straight into records, counters, indices and the durations taken.
* :class:`HeapRound`, for the others (and where durations cannot be read ahead): a heap of each
  agent's next event, one event at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from heapq import heapify, heappop, heapreplace
from typing import Any

import numpy as np

from asyncsim.core.trace import CODES, TraceEvent, records

__all__ = ["HeapRound", "VectorRound", "computation_ended", "scheduled_round"]

_GO_ON = object()
"""A window applied in part: make the next one from where it stopped."""

RECEIVED, START, END = (
    CODES[TraceEvent.BROADCAST_RECEIVED],
    CODES[TraceEvent.COMPUTE_START],
    CODES[TraceEvent.COMPUTE_END],
)


def scheduled_round(sim: Any, round_: Any, watch_every: int) -> float | None:
    """Run the round ``round_`` of ``sim`` (the :class:`~asyncsim.engine.simulation.Simulation`
    and its round's state; drive's watch every ``watch_every`` events); returns the stop time,
    or None when the time budget ends (or the events run out) first."""
    delays = sim.cluster.broadcast_delays(round_.version)
    delay = [delays(agent) for agent in range(sim.cluster.n)]  # drawn in agent order
    if round_.rule.keeps_computing:
        return VectorRound(sim, round_, watch_every).run(delay)
    return HeapRound(sim, round_, watch_every).run(delay)


def computation_ended(sim: Any, round_: Any, agent: int, time: float) -> None:
    """The agent's running computation ends at ``time``: traced, and its gradient counted in the
    round (an agent that computes one gradient a round has then finished)."""
    version = round_.version
    sim.trace.add((time, agent + 1, TraceEvent.COMPUTE_END, version, version))
    mine = round_.used.get(agent)
    if mine is None:
        mine = round_.used[agent] = []
    mine.append(round_.running.pop(agent))
    sim.counters.used += 1
    if not round_.rule.keeps_computing:
        round_.finished[agent] = time


class HeapRound:
    """The round's events taken one at a time from a heap of each agent's next one."""

    def __init__(self, sim: Any, round_: Any, watch_every: int) -> None:
        self.sim, self.round_, self.watch_every = sim, round_, watch_every
        self.by_rank: list[int] = []  # agents by arrival rank (shared links: see VectorRound)

    def run(self, delay: list[float]) -> float | None:
        now = self.sim.env.now
        pending = [(now + d, agent, False) for agent, d in enumerate(delay) if d > 0]
        start = self.starter()
        for agent, d in enumerate(delay):
            if not d > 0:  # the point is there at once
                pending.append((now + start(agent, now, True), agent, True))
        heapify(pending)
        return self.resume(pending, start)

    def starter(self) -> Callable[[int, float, bool], float]:
        """``start(agent, now, received)``: the agent starts a computation at ``now`` (traced,
        after its ``broadcast_received`` when ``received``); returns its duration."""
        sim, round_ = self.sim, self.round_
        add, version, running = sim.trace.add, round_.version, round_.running
        counters, next_index, duration = sim.counters, sim._next_index, sim._durations(version)
        received_event, start_event = TraceEvent.BROADCAST_RECEIVED, TraceEvent.COMPUTE_START

        def start(agent: int, now: float, received: bool) -> float:
            if received:
                add((now, agent + 1, received_event, version, version))
            index = running[agent] = next_index[agent]
            next_index[agent] = index + 1
            counters.started += 1
            add((now, agent + 1, start_event, version, version))
            return duration(agent)

        return start

    def resume(self, pending: list, start: Callable[[int, float, bool], float]) -> float | None:
        """Process the ``pending`` events (a heap of (time, agent, computing)) until the rule
        stops the round; drive's check runs every ``watch_every`` events, as in SimPy's loop."""
        sim, round_ = self.sim, self.round_
        deadline, watch, left = sim._deadline, sim._watch, sim._unwatched
        on_gradient, keeps_computing = round_.rule.on_gradient, round_.rule.keeps_computing
        try:
            while pending:
                time, agent, computing = pending[0]
                if time >= deadline:  # the budget's timeout comes first, and stops the run
                    return None
                if agent < 0:  # a point's arrival over shared links, keyed by its rank
                    agent = self.by_rank[agent]
                left -= 1
                if not left:
                    left = self.watch_every
                    if watch is not None:
                        sim._clock = time  # what the check reports
                        watch()
                if computing:
                    computation_ended(sim, round_, agent, time)
                    if on_gradient(agent):
                        round_.done = True
                        return time
                    if not keeps_computing:
                        heappop(pending)
                        continue
                heapreplace(pending, (time + start(agent, time, not computing), agent, True))
            return None
        finally:
            sim._unwatched, sim._clock = left, None


class VectorRound:
    """The round's events made and applied in bulk, window by window of simulated time, for a
    rule that keeps every agent computing until the stop.

    A window holds every event up to a time T: level 0 is each agent's next event, level k + 1
    follows level k by the duration of the computation started there. The events, ordered by
    (time, agent, level), are applied up to the first of: the gradient that stops the round
    (``rule.on_gradients``), the time budget (an event at or after it is not processed), drive's
    watch (before its event, as SimPy's loop calls it), or an event whose next duration is not
    drawn yet (an agent that holds ``block`` durations and needs more: then it is drawn and the
    window made again). Nothing is applied ahead of its event: durations are read ahead, and
    taken only for the computations really started."""

    LEVELS = 1024
    """Levels of one window at most (an agent of durations 0 makes events without end at one
    instant: they are then applied a window at a time and the watch sees them)."""

    def __init__(self, sim: Any, round_: Any, watch_every: int) -> None:
        self.sim, self.round_, self.watch_every = sim, round_, watch_every
        n = self.n = sim.cluster.n
        self.version = round_.version
        self.first_index = np.array(sim._next_index, dtype=np.int64)  # at the round's start
        self.started = np.zeros(n, np.int64)  # computations started in the round, per agent
        self.ended = np.zeros(n, np.int64)  # and gradients finished
        self.time = np.zeros(n)  # each agent's next event
        self.received = np.zeros(n, bool)  # whether its next event is a computation's end
        self.left = sim._unwatched
        fixed = sim._fixed_tau
        self.tau = None if fixed is None else np.array(fixed, dtype=float)
        self.role = sim.cluster.compute_durations
        self.scale = sim.oracle.horizon
        self.rank: np.ndarray | None = None  # arrival ranks over shared links (run_from)

    def next_durations(self) -> np.ndarray | None:
        """τ of each agent's next computation, read ahead (drawn ahead if need be); None when
        durations cannot be read ahead."""
        tau = self._durations(np.arange(self.n), 0)
        return None if tau is None or np.isnan(tau).any() else tau

    def run_from(self, arrival: np.ndarray, rank: np.ndarray) -> float | None:
        """The round from each agent's point arriving at ``arrival[i]`` over shared links: the
        arrivals of one instant come in ``rank`` order and before every computation's end
        there (the network's deliveries are events of a higher priority than an agent's)."""
        self.time[:] = arrival
        self.rank = rank
        try:
            return self._run_windows(self.sim.env.now)
        finally:
            self.sim._clock = None

    def run(self, delay: list[float]) -> float | None:
        now, delays = self.sim.env.now, np.array(delay, dtype=float)
        self.time[:] = now + delays
        at_once = np.flatnonzero(~(delays > 0))
        if at_once.size and not self._start_at_once(at_once, now):
            return HeapRound(self.sim, self.round_, self.watch_every).run(delay)
        try:
            return self._run_windows(now)
        finally:
            self.sim._clock = None

    def _start_at_once(self, agents: np.ndarray, now: float) -> bool:
        """The agents whose point is there at once start computing now, in agent order; False
        (nothing done) when their durations cannot be read ahead."""
        tau = self._durations(agents, 0)
        if tau is None:
            return False
        self._trace(np.full(len(agents), now), agents, RECEIVED, int_times=type(now) is int)
        counts = np.zeros(self.n, np.int64)
        counts[agents] = 1
        self._take(counts)
        self.time[agents] = now + tau
        self.received[agents] = True
        return True

    def _trace(
        self,
        time: np.ndarray,
        agents: np.ndarray,
        first: np.ndarray,
        stopped: bool = False,
        int_times: bool = False,
    ) -> None:
        """Trace each event: its row ``first`` (a computation's end, or the point's arrival),
        then the next computation's start, but after the event that stopped the round;
        ``int_times``: the times are an int (the run's first instant)."""
        trace = self.sim.trace
        if not trace.enabled:
            return
        events = np.empty(2 * len(time), np.uint8)
        events[0::2], events[1::2] = first, START
        rows = records(len(events), np.repeat(time, 2), np.repeat(agents + 1, 2), events,
                       self.version, self.version)  # fmt: skip
        kept = len(rows) - stopped
        trace.extend_records(rows[:kept], tuple(range(kept)) if int_times else ())

    def _durations(self, agents: np.ndarray, level: int) -> np.ndarray | None:
        """τ of each of ``agents``' computation started at its event of ``level`` (NaN where
        not drawn and the agent holds no room to draw it); None when durations cannot be read
        ahead (the model draws one at a time, or one drawn was not a valid time)."""
        if self.tau is not None:
            return self.tau[agents]
        role = self.role
        if not role.peekable:
            return None
        values, drawn = role.ahead(agents, level)
        if not drawn.all():
            role.top_up(agents[~drawn])
            if not role.peekable:
                return None
            values, drawn = role.ahead(agents, level)
        tau = values * self.scale
        tau[~drawn] = np.nan
        return tau

    def _take(self, counts: np.ndarray) -> None:
        """Agent i starts ``counts[i]`` more computations (indices, durations, counter)."""
        self.started += counts
        self.sim.counters.started += int(counts.sum())
        if self.tau is None:
            self.role.take(counts)

    def _run_windows(self, now: float) -> float | None:
        """Make and apply windows until the rule stops the round or the budget ends it; a
        window spans the last round's length (the first one: up to half the agents' next
        events), twice as long after each window applied whole."""
        span = self.sim._round_span
        while True:
            start = float(self.time.min())
            end = max(start + span, self._spread_end())
            window = self._window(end)
            if window is None:
                return self._hand_over()
            outcome = self._apply(*window)
            if outcome is None:
                span = 2 * (end - start)
            elif outcome is not _GO_ON:
                stop, stopped = outcome
                if stopped:
                    self.sim._round_span = stop - now
                return stop

    def _spread_end(self) -> float:
        """A window end that holds the next events of about half the agents."""
        middle = self.n // 2
        return float(np.partition(self.time, middle)[middle])

    def _window(self, end: float) -> tuple[np.ndarray, ...] | None:
        """Events at or before ``end``, in order: (time, agent, level, next event's time: NaN
        where its duration is not drawn yet); None when durations cannot be read ahead."""
        agents = np.flatnonzero(self.time <= end)
        time = self.time[agents]
        levels = []  # (time, agent, next event's time) of each level's events
        for level in range(self.LEVELS):
            if not agents.size:
                break
            tau = self._durations(agents, level)
            if tau is None:
                return None
            following = time + tau
            levels.append((time, agents, following))
            going = following <= end  # False for NaN
            agents, time = agents[going], following[going]
        else:  # events left beyond the last level: the first of them bounds the window
            levels.append((time, agents, time + np.nan))
        level = np.repeat(np.arange(len(levels)), [len(events) for _, events, _ in levels])
        time, agents, following = (np.concatenate(c) for c in zip(*levels, strict=True))
        key = agents
        if self.rank is not None:  # an arrival's key: its rank - n, before every agent's
            arriving = (level == 0) & ~self.received[agents]
            key = np.where(arriving, self.rank[agents] - self.n, agents)
        order = np.lexsort((level, key, time))
        return time[order], agents[order], level[order], following[order]

    def _apply(
        self,
        time: np.ndarray,
        agents: np.ndarray,
        level: np.ndarray,
        following: np.ndarray,
    ) -> tuple[float | None, bool] | object | None:
        """Apply the window's events up to the first bound, drive's watch called on the way;
        (stop time, True) when the rule stopped the round, (None, False) when the time budget
        ended it; None when every event was applied, :data:`_GO_ON` when some were not."""
        sim, count = self.sim, len(time)
        unknown = np.isnan(following)
        blocked = int(np.argmax(unknown)) if unknown.any() else count
        budget = int(np.searchsorted(time, sim._deadline, "left"))
        applied = np.zeros(self.n, np.int64)  # events of each agent applied in the window
        done = 0
        while True:
            watch = done + self.left - 1
            cut = min(blocked, budget, watch)
            ends = done + np.flatnonzero((level[done:cut] > 0) | self.received[agents[done:cut]])
            stop = self.round_.rule.on_gradients(agents[ends].tolist())
            if stop is not None:
                cut = int(ends[stop]) + 1
            events = slice(done, cut)
            self._commit(time[events], agents[events], level[events], following[events],
                         applied, stop is not None)  # fmt: skip
            if stop is not None:
                self.round_.done = True
                self._finish(int(agents[cut - 1]))
                return float(time[cut - 1]), True
            if cut == budget < count:  # the budget's timeout comes first, and stops the run
                self._finish(None)
                return None, False
            if cut != watch or cut == count:
                return None if cut == count else _GO_ON
            self.left = self.watch_every + 1  # its event, applied next, counts down to it
            if sim._watch is not None:  # it reads the clock and the counters (not indices)
                sim._clock = float(time[cut])  # what the check reports
                sim._watch()
            done = cut

    def _commit(
        self,
        time: np.ndarray,
        agents: np.ndarray,
        level: np.ndarray,
        following: np.ndarray,
        applied: np.ndarray,
        stopped: bool,
    ) -> None:
        """Apply events in order: each traces its end (or the point's arrival) and the start of
        the next computation, but the event that stops the round, which starts none.
        ``applied``: each agent's events of the window applied before (counted on)."""
        count = len(time)
        if not count:
            return
        ending = (level > 0) | self.received[agents]
        self._trace(time, agents, np.where(ending, END, RECEIVED), stopped)
        starting = agents[:-1] if stopped else agents
        self._take(np.bincount(starting, minlength=self.n))
        finished = agents[ending]
        self.ended += np.bincount(finished, minlength=self.n)
        self.sim.counters.used += len(finished)
        applied += np.bincount(agents, minlength=self.n)
        last = level == applied[agents] - 1  # each agent's last event: its next one follows
        self.time[agents[last]] = following[last]
        self.received[agents] = True
        self.left -= count

    def _finish(self, stopper: int | None) -> None:
        """The round's state as the processes leave it: agents' next indices, the computations
        running (all agents holding the point but the one that stopped the round), the
        gradients each finished (one run of indices; agents in index order: the order of the
        contributions does not matter), and the events until drive's next check."""
        sim, round_ = self.sim, self.round_
        next_index = self.first_index + self.started
        sim._next_index[:] = next_index.tolist()
        computing = self.received.copy()
        if stopper is not None:
            computing[stopper] = False
        agents = np.flatnonzero(computing)
        round_.running.clear()
        round_.running.update(zip(agents.tolist(), (next_index[agents] - 1).tolist(), strict=True))
        finished = np.flatnonzero(self.ended)
        firsts = self.first_index[finished].tolist()
        round_.used.clear()
        round_.used.update(
            (agent, range(first, first + count))
            for agent, first, count in zip(
                finished.tolist(), firsts, self.ended[finished].tolist(), strict=True
            )
        )
        sim._unwatched = self.left

    def _hand_over(self) -> float | None:
        """Go on one event at a time (:class:`HeapRound`) from where the round is."""
        self._finish(None)
        round_ = self.round_
        for agent, indices in round_.used.items():
            round_.used[agent] = list(indices)
        keys = np.arange(self.n)
        heap = HeapRound(self.sim, round_, self.watch_every)
        if self.rank is not None:  # arrivals keyed as in _window
            keys = np.where(self.received, keys, self.rank - self.n)
            heap.by_rank = np.argsort(self.rank).tolist()
        pending = list(zip(self.time.tolist(), keys.tolist(), self.received.tolist(), strict=True))
        heapify(pending)
        return heap.resume(pending, heap.starter())
