"""The engine a protocol sees under emulation: the simulator's interface over real workers.

:class:`EmulatedEngine` implements the engine port (:class:`asyncsim.core.engine.Engine`:
``collect``, ``dispatch``, ``next_arrival``, ``restart``, ``now``, ``cluster``, ``oracle``,
``counters``, ``trace``, ``record_update``, ``drive``), as the simulation does, so the
registered protocol code, a plug-in's included, runs unchanged; its decisions are made on real
arrivals. The protocol's process is a generator: where it waits (``yield`` inside ``collect``, or
the token of ``next_arrival``), :meth:`EmulatedEngine.drive` blocks on the agents' notices and
handles them until the wait is over, then sends the result back in.

The driver keeps the simulator's bookkeeping, event by event, in the order notices arrive: an
agent starts a computation when its broadcast notice arrives and after each gradient it
completes while its round goes on (the gradient indices and counters the simulation would
have for that event order); at a round's stop the computations it believes running are
discarded, and a notice of work it has stopped is dropped. So for the same event order the
iteration table, the gradient indices and the parameters equal the simulation's. ``now`` is
the real time since the start over the time scale S; agents' events are traced at their own
(wall-clock) times over S, the server's at the driver's.
"""

from __future__ import annotations

import heapq
import itertools
import math
import statistics
import time
from collections import deque
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from asyncsim.core.engine import CollectionRule, Counters, ProtocolProcess, RoundOutcome, Watchdog
from asyncsim.core.errors import AsyncSimError
from asyncsim.core.oracle import GradientOracle, GradientResult, sum_reports
from asyncsim.core.trace import SERVER, Trace, TraceEvent
from asyncsim.emulation.agent import combine_stats
from asyncsim.emulation.executors import Agents
from asyncsim.emulation.messages import Event, Failure, Ready, Setup, Start, Stop, Upload
from asyncsim.engine.cluster import ClusterRuntime

if TYPE_CHECKING:
    from asyncsim.scenario.schema import Scenario

__all__ = ["EmulatedArrival", "EmulatedEngine", "EventTimes"]


@dataclass
class _Wait:
    """What a protocol waits for: ``ready()`` says when, ``value()`` is sent back in."""

    ready: Callable[[], bool]
    value: Callable[[], Any] = lambda: None


@dataclass
class EmulatedArrival:
    """A gradient that reached the server (the interface of the simulator's Arrival)."""

    agent: int
    version: int
    result: GradientResult
    engine: EmulatedEngine

    def gradient(self) -> GradientResult:
        """Its value; the gradient counts as used and the server's context takes its report."""
        self.engine.counters.used += 1
        return self.engine.take(self.result)

    def ignore(self) -> None:
        """The server drops it unused: counted as discarded and traced as ``ignored``."""
        engine = self.engine
        engine.counters.discarded += 1
        engine.trace.record(engine.now, self.agent, TraceEvent.IGNORED, self.version, self.version)


@dataclass
class _Round:
    version: int
    rule: CollectionRule
    used: dict[int, list[int]] = field(default_factory=dict)
    running: dict[int, int] = field(default_factory=dict)
    uploads: dict[int, Upload] = field(default_factory=dict)
    senders: set[int] = field(default_factory=set)
    stop_time: float | None = None


@dataclass
class _Agent:
    """The driver's view of one agent's current job."""

    job: int = 0
    version: int = 0
    round: _Round | None = None  # None: an asynchronous dispatch
    phase: str = "idle"  # broadcast (point on its way), computing, uploading, idle
    index: int = -1  # the running computation's gradient index


@dataclass
class EventTimes:
    """Real-time figures of the notices an emulated run handled, in seconds.

    Attributes:
        latency: per notice, its receipt by the driver minus the agent's time stamp
            (messaging and serialisation; clocks of different machines add their offset);
            for an upload, when the driver took it minus its modelled end.
        late: per event notice, how long after its modelled instant the agent's timer woke.
        driver: seconds the driver spent outside waiting for notices (protocol code,
            updates, bookkeeping, sending).
        messages: notices handled.
    """

    latency: list[float] = field(default_factory=list)
    late: list[float] = field(default_factory=list)
    driver: float = 0.0
    messages: int = 0

    def summary(self) -> dict[str, Any]:
        """Median, 90th percentile and maximum of latency and lateness; the driver's time
        per notice; ``overhead_s``, all of them summed: every real second the emulated run
        can have lost against its modelled times (timers that woke late, notices in transit,
        the driver busy), so |T_emulated − T_simulated|·S cannot exceed it."""
        positive = sum(max(0.0, value) for value in (*self.latency, *self.late))
        return {
            "messages": self.messages,
            "latency_s": _spread(self.latency),
            "timer_late_s": _spread(self.late),
            "driver_s_per_message": self.driver / self.messages if self.messages else None,
            "overhead_s": positive + self.driver,
        }


def _in_time_order(item: tuple[int, Any, float]) -> tuple[float, int]:
    """Sort key of a received notice: its time stamp, then its agent."""
    return getattr(item[1], "time", 0.0), item[0]


def _spread(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"median": None, "p90": None, "max": None}
    ordered = sorted(values)
    return {
        "median": statistics.median(ordered),
        "p90": ordered[min(len(ordered) - 1, math.ceil(0.9 * len(ordered)) - 1)],
        "max": ordered[-1],
    }


class EmulatedEngine:
    """A method's run on real agents (see the module docstring).

    Args:
        agents: the workers, one per agent.
        scenario: the scenario (each agent builds the oracle and its time streams from it).
        cluster: the run's cluster (its n, topology and the AllReduce collective's times).
        oracle: the driver's oracle (θ_0, ||∇f||, evaluation).
        trace: where events are recorded.
        scale: S, real seconds per modelled second.
    """

    def __init__(
        self,
        agents: Agents,
        scenario: Scenario,
        cluster: ClusterRuntime,
        oracle: GradientOracle,
        trace: Trace,
        scale: float,
    ) -> None:
        self.agents = agents
        self.cluster = cluster
        self.oracle = oracle
        self.trace = trace
        self.scale = scale
        self.per_step_timing = scenario.cluster.timing == "per_step"
        self.counters = Counters()
        #: (agent 1..n, version) of each gradient the server took, in the order it took them:
        #: completions in rounds, arrivals at an asynchronous server
        self.sequence: list[tuple[int, int]] = []
        self.times = EventTimes()
        self._agents = [_Agent() for _ in range(cluster.n)]
        self._next_index = [0] * cluster.n
        self._jobs = itertools.count(1)
        self._arrivals: deque[EmulatedArrival] = deque()
        self._stopped: list[tuple[float, int, int]] = []  # (time, agent, version)
        self._held: list[tuple[float, int, int, Upload]] = []  # uploads before their end
        self._order = itertools.count()  # ties in _held: arrival order
        self.context = oracle.initial_context()
        self._setup(scenario)
        self._start = time.perf_counter()
        self._wall_start = time.time()

    @property
    def now(self) -> float:
        """Real seconds since the run started, over S."""
        return (time.perf_counter() - self._start) / self.scale

    def take(self, result: GradientResult) -> GradientResult:
        """The server takes ``result``: its context follows the result's report."""
        self.context = self.oracle.next_context(self.context, result)
        return result

    @property
    def env(self) -> Any:
        raise AsyncSimError(
            "this method's protocol uses the SimPy environment (sim.env), which emulation "
            "cannot drive: protocols may wait only through sim.collect and sim.next_arrival"
        )

    def _setup(self, scenario: Scenario) -> None:
        """Have every agent build this method's oracle and time streams; wait until all have
        (notices of an earlier method's work still on their way are dropped)."""
        for agent in range(self.cluster.n):
            self.agents.send(agent, Setup(scenario, agent, self.scale))
        waiting = set(range(self.cluster.n))
        while waiting:
            for agent, notice, _ in self.agents.receive(None):
                if isinstance(notice, Failure):
                    raise AsyncSimError(f"agent {agent + 1}: {notice.text}")
                if isinstance(notice, Ready):
                    waiting.discard(agent)

    # ---------------------------------------------------------------- driving the protocol

    def drive(
        self, process: ProtocolProcess, time_budget: float | None, watchdog: Watchdog | None = None
    ) -> None:
        """Drive the protocol's process until it returns or ``time_budget`` modelled seconds
        have passed (``watchdog`` is not needed: real time always moves on)."""
        deadline = None if time_budget is None else time_budget * self.scale
        started = time.perf_counter()
        try:
            self._drive(process, deadline)
        finally:
            process.close()
            self.times.driver += time.perf_counter() - started

    def _drive(self, process: ProtocolProcess, deadline: float | None) -> None:
        value = None
        while True:
            try:
                wait = process.send(value)
            except StopIteration:
                return
            finally:
                self._count_stopped()
            if not isinstance(wait, _Wait):
                raise AsyncSimError(
                    f"this method's protocol waited on {type(wait).__name__}, which emulation "
                    "cannot drive: protocols may wait only through sim.collect and "
                    "sim.next_arrival"
                )
            while not wait.ready():
                if not self._receive(deadline):
                    return
            value = wait.value()

    def _count_stopped(self) -> None:
        """Count and trace the computations ``restart`` stopped."""
        for at, agent, version in self._stopped:
            self.counters.discarded += 1
            self.trace.record(at, agent, TraceEvent.DISCARDED, version, version)
        self._stopped.clear()

    def _receive(self, deadline: float | None) -> bool:
        """Handle the notices that arrive next and the uploads that end by then; False when
        the time budget (``deadline`` real seconds after the start) ran out first.

        An upload arrives as it starts (:class:`Upload`) and is held until its end."""
        elapsed = time.perf_counter() - self._start
        if deadline is not None and deadline <= elapsed:
            return False
        waits = [] if deadline is None else [deadline - elapsed]
        if self._held:
            waits.append(self._held[0][0] - self._wall_start - elapsed)
        waited = time.perf_counter()
        batch = self.agents.receive(max(0.0, min(waits)) if waits else None)
        self.times.driver -= time.perf_counter() - waited  # run() adds its whole time
        ready = []
        for agent, notice, received in batch:
            if isinstance(notice, Upload) and notice.time > received:
                heapq.heappush(self._held, (notice.time, next(self._order), agent, notice))
            else:
                ready.append((agent, notice, received))
        wall = time.time()
        while self._held and self._held[0][0] <= wall:
            _, _, agent, upload = heapq.heappop(self._held)
            ready.append((agent, upload, wall))
        for agent, notice, received in sorted(ready, key=_in_time_order):
            self._handle(agent, notice, received)
        return True

    # ---------------------------------------------------------------- synchronous rounds

    def collect(
        self, point: np.ndarray, version: int, rule: CollectionRule
    ) -> Generator[_Wait, Any, RoundOutcome]:
        """One aggregation round at ``point`` (see Simulation.collect), on the agents.

        Every agent receives the point and computes until the rule stops the round (agents
        report each gradient; the rule sees them in arrival order); then running work is
        dropped, the participants upload the sum of their gradients used (each as soon as it
        is done when the rule asks for one gradient per agent on a star topology; under a
        collective such as AllReduce every sender joins it) and
        ĝ = Σ_i rule.weight(i, B_i) · Σ_k g_{i,k}.
        """
        round_ = _Round(version, rule)
        upload_when_done = not rule.keeps_computing and self.cluster.topology.collective is None
        for agent in range(self.cluster.n):
            start = Start(
                next(self._jobs),
                time.time(),
                point,
                version,
                self._next_index[agent],
                rule.keeps_computing,
                upload_when_done,
                rule.patience(agent),
                self.context,
            )
            self._send_job(agent, start, round_)
        yield _Wait(lambda: round_.stop_time is not None)
        self._stop_round(round_)
        yield _Wait(lambda: round_.senders <= round_.uploads.keys())
        counts = {agent: len(indices) for agent, indices in round_.used.items()}
        parts = [
            (rule.weight(agent, count), round_.uploads[agent].result, count)
            for agent, count in sorted(counts.items())
        ]
        vector = sum(weight * result.vector for weight, result, _ in parts)
        stats = combine_stats([(result, count) for _, result, count in parts])
        report = sum_reports([result for _, result, _ in parts])
        gradient = self.take(GradientResult(vector, stats, report))
        return RoundOutcome(gradient, round_.stop_time, counts)

    def _stop_round(self, round_: _Round) -> None:
        """The rule said stop: discard what runs, choose the senders, tell every agent."""
        version, n = round_.version, len(self._agents)
        for agent in sorted(round_.running):
            self.counters.discarded += 1
            self.trace.record(round_.stop_time, agent, TraceEvent.DISCARDED, version, version)
        round_.running.clear()
        counts = {agent: len(indices) for agent, indices in round_.used.items()}
        if self.cluster.topology.collective is not None:  # one collective, ending for all
            reduce = self.cluster.reduce(list(counts), version)
            round_.senders = set(reduce.uplinks)
            stops = [(a, a in round_.senders, reduce.duration) for a in range(n)]
        elif round_.rule.keeps_computing:  # participants upload now, after their uplink time
            round_.senders = set(counts)
            stops = [(a, a in counts, None) for a in range(n)]
        else:  # participants upload since their gradient was done; the others stop
            round_.senders = set(counts)
            stops = [(a, False, None) for a in range(n) if a not in counts]
        for agent, upload, duration in stops:
            job = self._agents[agent].job
            self.agents.send(agent, Stop(job, counts.get(agent, 0), upload, duration))
        self.counters.uploads += len(round_.senders)

    # ---------------------------------------------------------------- asynchronous server

    def dispatch(self, agent: int, point: np.ndarray, version: int) -> None:
        """Send ``point`` (server version ``version``) to one agent, which computes one
        gradient there and uploads it; its arrival is then queued for ``next_arrival``."""
        index = self._next_index[agent]
        start = Start(
            next(self._jobs), time.time(), point, version, index, False, True, None, self.context
        )
        self._send_job(agent, start, None)

    def restart(self, agent: int, point: np.ndarray, version: int) -> bool:
        """Drop the agent's work for an earlier point (as far as the driver knows, it is
        receiving the point or computing) and dispatch ``point``; False, doing nothing, when
        its gradient is being uploaded (or it is idle)."""
        state = self._agents[agent]
        if state.round is not None or state.phase not in ("broadcast", "computing"):
            return False
        if state.phase == "computing":
            # the simulator counts it when the stopped agent's process resumes, after the
            # server's next yield: the row the server records before that does not count it
            self._stopped.append((self.now, agent, state.version))
        self.dispatch(agent, point, version)
        return True

    def next_arrival(self) -> _Wait:
        """What the server waits on for the next arrival (an :class:`EmulatedArrival`)."""
        return _Wait(lambda: bool(self._arrivals), self._arrivals.popleft)

    # ---------------------------------------------------------------- bookkeeping

    def record_update(self, iteration: int) -> None:
        """Trace the update applied at the end of round ``iteration``."""
        self.trace.record(self.now, SERVER, TraceEvent.UPDATE, iteration, iteration + 1)

    def _send_job(self, agent: int, start: Start, round_: _Round | None) -> None:
        self._agents[agent] = _Agent(start.job, start.version, round_, "broadcast")
        self.agents.send(agent, start)

    def _time(self, wall: float) -> float:
        """An agent's wall-clock time stamp on the run's clock."""
        return (wall - self._wall_start) / self.scale

    # ---------------------------------------------------------------- notices

    def _handle(self, agent: int, notice: Any, received: float) -> None:
        if isinstance(notice, Failure):
            raise AsyncSimError(f"agent {agent + 1}: {notice.text}")
        state = self._agents[agent]
        if not isinstance(notice, Event | Upload) or notice.job != state.job:
            return  # work the driver has moved on from
        self.times.messages += 1
        self.times.latency.append(received - notice.time)
        if isinstance(notice, Upload):
            self._on_upload(agent, notice, state)
            return
        self.times.late.append(notice.late)
        if state.round is not None and state.round.stop_time is not None:
            return  # work of a stopped round: discarded (or never started) at the stop
        if notice.kind == TraceEvent.BROADCAST_RECEIVED:
            at = self._time(notice.time)
            self.trace.record(at, agent, notice.kind, state.version, state.version)
            self._begin(agent, at, state)
        elif notice.kind == TraceEvent.COMPUTE_END:
            self._on_gradient(agent, self._time(notice.time), state)
        else:  # abandoned after the rule's patience: a fresh computation at the same point
            at = self._time(notice.time)
            state.round.running.pop(agent)
            self.counters.discarded += 1
            self.trace.record(at, agent, notice.kind, state.version, state.version)
            self._begin(agent, at, state)

    def _begin(self, agent: int, at: float, state: _Agent) -> None:
        """The agent starts a computation (its next gradient index) at time ``at``."""
        state.index = self._next_index[agent]
        self._next_index[agent] += 1
        self.counters.started += 1
        state.phase = "computing"
        self.trace.record(at, agent, TraceEvent.COMPUTE_START, state.version, state.version)
        if state.round is not None:
            state.round.running[agent] = state.index

    def _on_gradient(self, agent: int, at: float, state: _Agent) -> None:
        """A computation completed: an asynchronous agent uploads it; in a round it counts
        (the rule may stop the round) and the agent computes on if the rule says so."""
        self.trace.record(at, agent, TraceEvent.COMPUTE_END, state.version, state.version)
        round_ = state.round
        if round_ is None:
            state.phase = "uploading"
            return
        del round_.running[agent]
        round_.used.setdefault(agent, []).append(state.index)
        self.counters.used += 1
        self.sequence.append((agent + 1, state.version))
        state.phase = "uploading"
        if round_.rule.on_gradient(agent):
            round_.stop_time = self.now
        elif round_.rule.keeps_computing:
            self._begin(agent, at, state)

    def _on_upload(self, agent: int, upload: Upload, state: _Agent) -> None:
        round_ = state.round
        if round_ is not None and agent not in round_.used and agent not in round_.senders:
            return  # a gradient completed after the stop: it was discarded there
        version = state.version
        self.trace.record(
            self._time(upload.start), agent, TraceEvent.UPLOAD_START, version, version
        )
        self.trace.record(self._time(upload.time), agent, TraceEvent.UPLOAD_END, version, version)
        state.phase = "idle"
        if round_ is not None:
            round_.uploads[agent] = upload
            return
        self.counters.uploads += 1
        self.sequence.append((agent + 1, version))
        self._arrivals.append(EmulatedArrival(agent, version, upload.result, self))
