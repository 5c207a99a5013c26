"""The simulated cluster: per-agent durations, outages and the topology's reduce
(docs/algorithms.md §4).

Every agent has one random stream per role (compute, uplink, downlink), spawned from the run's
timing seed. The j-th draw of agent i is therefore the same in every method of a scenario
(common random numbers), whatever else happens in the run.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from asyncsim.core.plugins import origin_of
from asyncsim.core.registry import TOPOLOGIES, TopologyContext, TopologySpec
from asyncsim.core.seeds import child_pcg64_states, child_seed
from asyncsim.timing.models import Outage, TimeModel, check_time
from asyncsim.topology.network import Links

__all__ = ["ClusterRuntime", "Reduce"]


@dataclass(frozen=True)
class Reduce:
    """The upload phase of a round: each sender's uplink time and the total duration."""

    uplinks: dict[int, float]
    duration: float


class _Role:
    """One time model with lazily created per-agent random streams: agent i's stream is seeded
    by the i-th child of ``seed`` (what ``seed.spawn(n)[i]`` gives), made on its first draw,
    so that building a cluster of 10^6 agents costs no 10^6 seeds up front.

    A model that draws k-independent durations (``TimeModel.sample_block``) is drawn
    ``block`` durations of an agent at a time, which the agent's next calls take in turn:
    the same values in the same order as one draw per call, without a NumPy call per event (at
    n = 10^4, exponential times: 1.0 of 1.9 µs a draw was NumPy's scalar call and its check).
    Its streams then share one PCG64 generator, seated with the agent's saved state for each
    block: about 150 B an agent instead of a generator of its own (930 B, 0.9 GB at 10^6).
    Seating costs as much as drawing 16 durations, so a block is as long as
    :data:`AHEAD_BYTES` for all agents allow: from :data:`BLOCK` (16, n >= 262,144) to
    :data:`LONGEST_BLOCK` durations (the values do not depend on it).

    The durations drawn ahead lie in one n x 2·block array (at most twice AHEAD_BYTES, in
    pages of agents that drew), agent i's next ones in row i from column ``first[i]`` to
    ``end[i]``: a scheduled round reads many agents' next durations at once (:meth:`ahead`)
    and takes only those its agents really started (:meth:`take`), and :meth:`top_up` draws
    an agent's next block behind the durations it still holds (values drawn ahead are never
    lost, so drawing early changes none). At n = 10^5 (``benchmarks.bench_scale``, four runs)
    the whole command's peak was 0.86-0.96 GB, 0.87-0.92 GB with an array per agent."""

    BLOCK = 16
    LONGEST_BLOCK = 256
    AHEAD_BYTES = 1 << 25
    """Bytes of durations drawn ahead of all agents in one role, at most (32 MB; but at least
    BLOCK durations each)."""

    def __init__(self, model: TimeModel, seed: np.random.SeedSequence, n: int, field: str):
        self.model = model
        self.field = field
        self.source = origin_of(model)
        self.fixed = model.fixed_values()
        self._seed = seed
        self._streams: list[np.random.Generator | None] = [None] * n
        self.block = max(self.BLOCK, min(self.LONGEST_BLOCK, self.AHEAD_BYTES // (8 * n)))
        #: durations drawn ahead (pages of agents that never draw are never touched)
        self.values = np.empty((n, 2 * self.block)) if self.fixed is None else np.empty((0, 0))
        self.first = np.zeros(len(self.values), np.int64)  # each agent's next duration
        self.end = np.zeros(len(self.values), np.int64)  # and the column after its last
        self._value_at, self._first_at, self._end_at = map(
            memoryview, (self.values, self.first, self.end)
        )
        #: each agent's stream after its last block: PCG64 (state, inc, has_uint32, uinteger)
        self._saved: list[tuple[int, int, int, int] | None] = [None] * n
        self._shared = np.random.Generator(np.random.PCG64(0))  # seated with one agent's state
        self._blockwise = True  # until the model says it draws one duration at a time
        self._checked = True  # every duration drawn ahead was finite and >= 0

    @property
    def peekable(self) -> bool:
        """Whether durations drawn ahead can be read at once (:meth:`ahead`): a model drawn
        in blocks whose every duration drawn so far was finite and >= 0."""
        return self.fixed is None and self._blockwise and self._checked

    def sample(self, agent: int, k: int) -> float:
        if self.fixed is not None:
            return float(self.fixed[agent])
        if self._first_at[agent] == self._end_at[agent] and not self._draw_ahead(agent):
            value = self.model.sample(agent, k, self._stream(agent))
            return check_time(value, self.field, agent, k, self.source)
        column = self._first_at[agent]
        self._first_at[agent] = column + 1
        value = self._value_at[agent, column]
        return value if self._checked else check_time(value, self.field, agent, k, self.source)

    def samples(self, agents: np.ndarray, k: int) -> np.ndarray:
        """``sample(agent, k)`` of each of ``agents`` in turn (fixed values: read at once)."""
        if self.fixed is not None:
            return np.asarray(self.fixed, dtype=float)[agents]
        sample = self.sample
        return np.array([sample(agent, k) for agent in agents.tolist()], dtype=float)

    def drawer(self, k: int, scale: float | None = None) -> Callable[[int], float]:
        """``agent → sample(agent, k)`` (times ``scale`` if given), the same values taken in
        the same order, as one cheap function (the engine's hot path: a duration drawn ahead is
        read inline)."""
        if self.fixed is not None:
            if scale is None:
                return [float(h) for h in self.fixed].__getitem__
            return [float(h) * scale for h in self.fixed].__getitem__
        value_at, first_at, end_at = self._value_at, self._first_at, self._end_at
        sample = self.sample

        def draw(agent: int) -> float:
            column = first_at[agent]
            if column < end_at[agent] and self._checked:
                first_at[agent] = column + 1
                value = value_at[agent, column]
            else:
                value = sample(agent, k)
            return value if scale is None else value * scale

        return draw

    def ahead(self, agents: np.ndarray, offset: int) -> tuple[np.ndarray, np.ndarray]:
        """Of each of ``agents``, the duration ``offset`` places after its next one (not taken),
        and whether it is drawn yet (where not, the value is meaningless)."""
        column = self.first[agents] + offset
        drawn = column < self.end[agents]
        return self.values[agents, np.minimum(column, self.values.shape[1] - 1)], drawn

    def take(self, counts: np.ndarray) -> None:
        """Agent i takes its next ``counts[i]`` durations drawn ahead (as many calls of
        :meth:`sample` would)."""
        self.first += counts

    def top_up(self, agents: np.ndarray) -> None:
        """Draw the next block of each of ``agents`` that holds fewer than ``block`` durations,
        behind those (an agent that holds more has no room: it is left as it is)."""
        roomy = agents[self.end[agents] - self.first[agents] < self.block].tolist()
        self._seed_streams(roomy)
        for agent in roomy:
            if not self._draw_ahead(agent):
                break

    def _seed_streams(self, agents: list[int]) -> None:
        """Save the first state of the streams of ``agents`` that never drew, all at once:
        ``np.random.PCG64`` of each agent's child of the seed."""
        saved = self._saved
        new = [agent for agent in agents if saved[agent] is None]
        if self._blockwise and new:
            for agent, (state, inc) in zip(new, child_pcg64_states(self._seed, new), strict=True):
                saved[agent] = (state, inc, 0, 0)

    def _draw_ahead(self, agent: int) -> bool:
        """Draw the agent's next ``block`` durations behind those it holds (False for a model
        that has no blocks)."""
        if not self._blockwise:
            return False
        block = self.model.sample_block(agent, self.block, self._seated(agent))
        if block is None:  # nothing drawn: the agent's own stream starts where it was
            self._blockwise = False
            return False
        state = self._shared.bit_generator.state
        words = state["state"]
        self._saved[agent] = (words["state"], words["inc"], state["has_uint32"], state["uinteger"])
        row, first, end = self.values[agent], self._first_at[agent], self._end_at[agent]
        held = end - first
        row[:held] = row[first:end]
        row[held : held + self.block] = block
        self._first_at[agent], self._end_at[agent] = 0, held + self.block
        if not ((block >= 0.0) & (block < math.inf)).all():  # NaN fails both
            self._checked = False  # each is checked when taken, naming its iteration
        return True

    def _seated(self, agent: int) -> np.random.Generator:
        """The shared generator, seated where the agent's stream is."""
        if self._saved[agent] is None:
            self._seed_streams([agent])
        state, inc, has_uint32, uinteger = self._saved[agent]
        self._shared.bit_generator.state = {
            "bit_generator": "PCG64",
            "state": {"state": state, "inc": inc},
            "has_uint32": has_uint32,
            "uinteger": uinteger,
        }
        return self._shared

    def _stream(self, agent: int) -> np.random.Generator:
        stream = self._streams[agent]
        if stream is None:
            stream = self._streams[agent] = np.random.default_rng(child_seed(self._seed, agent))
        return stream


class ClusterRuntime:
    """Durations of computations and transfers for n agents, plus outages and reduce times.

    Args:
        n: number of agents.
        compute: model of h_i (seconds per transition).
        uplink: model of κ_i; ``downlink``: broadcast time per agent (default: same as uplink).
        seed: timing seed of the run.
        topology: a registered topology (:mod:`asyncsim.topology`) or its record: ``server``
            (broadcast, then a star reduce) or ``allreduce`` (no broadcast: the collective
            leaves the aggregate on every node); its record is ``self.topology``.
        allreduce: ``max`` or ``ring`` collective-time model.
        outages: intervals during which agents cannot compute.
        links: shared links (``cluster.network``): transfers then cross them at max-min fair
            rates (:mod:`asyncsim.engine.links`) and the uplink and downlink models are unused;
            None: every agent has private wires timed by those models.
    """

    def __init__(
        self,
        n: int,
        compute: TimeModel,
        uplink: TimeModel,
        downlink: TimeModel | None,
        seed: np.random.SeedSequence,
        topology: str | TopologySpec = "server",
        allreduce: str = "max",
        outages: Sequence[Outage] = (),
        links: Links | None = None,
    ) -> None:
        self.n = n
        self.links = links
        self.topology = (
            TOPOLOGIES.get(topology, "cluster.topology") if isinstance(topology, str) else topology
        )
        self.topology_context = TopologyContext(n, allreduce)
        compute_seed, uplink_seed, downlink_seed = seed.spawn(3)
        self._compute = _Role(compute, compute_seed, n, "cluster.compute")
        self._uplink = _Role(uplink, uplink_seed, n, "cluster.uplink")
        self._downlink = _Role(downlink or uplink, downlink_seed, n, "cluster.downlink")
        # agent → its outages by start (only agents that have some: n may be 10^6)
        self._outages: dict[int, list[tuple[float, float]]] = {}
        for outage in sorted(outages, key=lambda o: o.start):
            self._outages.setdefault(outage.agent, []).append((outage.start, outage.end))
        self._outage_starts = {a: [s for s, _ in spans] for a, spans in self._outages.items()}
        self.has_outages = bool(outages)
        self.models = {"compute": compute, "uplink": uplink, "downlink": downlink or uplink}

    def compute_time(self, agent: int, k: int, transitions: int) -> float:
        """τ = h_{i,k} · transitions (per-trajectory timing passes transitions = H)."""
        return self._compute.sample(agent, k) * transitions

    def compute_times(self, k: int, transitions: int) -> Callable[[int], float]:
        """``agent → compute_time(agent, k, transitions)``, as one cheap function."""
        return self._compute.drawer(k, transitions)

    @property
    def compute_durations(self) -> _Role:
        """The h_{i,k} drawn ahead (read at once by a scheduled round)."""
        return self._compute

    def uplink_time(self, agent: int, k: int) -> float:
        """κ_i: seconds for the agent to send one vector."""
        return self._uplink.sample(agent, k)

    def broadcast_delay(self, agent: int, k: int) -> float:
        """Seconds until the agent holds a point the server sent now (0 on a topology that
        does not broadcast, such as AllReduce)."""
        return self._downlink.sample(agent, k) if self.topology.broadcasts else 0.0

    def broadcast_delays(self, k: int) -> Callable[[int], float]:
        """``agent → broadcast_delay(agent, k)``, as one cheap function."""
        if not self.topology.broadcasts:
            return lambda agent: 0.0
        return self._downlink.drawer(k)

    def reduce(self, participants: Sequence[int], k: int) -> Reduce:
        """Uplinks of the agents that send and the reduce duration, by the topology's record:
        the participants on a server, every agent under allreduce (``senders``)."""
        counts = np.zeros(self.n, dtype=int)
        counts[list(participants)] = 1
        sending = np.flatnonzero(self.topology.senders(counts))
        kappa = self._uplink.samples(sending, k)
        uplinks = dict(zip(sending.tolist(), kappa.tolist(), strict=True))
        return Reduce(uplinks, self.topology.reduce_time(kappa, self.topology_context))

    def available_from(self, agent: int, time: float) -> float:
        """The first instant >= time at which the agent is not in an outage."""
        for start, end in self._outages.get(agent, ()):
            if start <= time < end:
                time = end
        return time

    def outage_between(self, agent: int, start: float, end: float) -> float | None:
        """Start of the first outage in [start, end), which loses a computation running then."""
        starts = self._outage_starts.get(agent, [])
        position = bisect.bisect_left(starts, start)
        if position < len(starts) and starts[position] < end:
            return starts[position]
        return None
