"""Closed forms of the theory (docs/algorithms.md §5): collection times, round times and
ε-complexity shapes.

Everything here is pure arithmetic on NumPy arrays, and a topology's reduce comes from its
record (:mod:`asyncsim.topology`, looked up by name); importing this module never imports simpy,
torch or gymnasium. Conventions (all times relative to the start of a round):

* agents are 0-based in arrays;
* ``tau[i]`` = τ_i = h_i·H, the time agent i needs for one gradient;
* ``uplink[i]`` = κ_i, the time agent i needs to send one vector;
* ``offsets[i]`` = b_i, the time at which the broadcast point reaches agent i (its downlink time;
  the caller passes zeros for the allreduce topology).

The *exact* functions reproduce what the discrete-event simulator does for fixed times: agent i's
k-th completion time is accumulated as ``t = b_i; t = t + τ_i; ...`` (the simulator's
``now + τ``), and completions at the same instant are processed in increasing agent index
(docs/algorithms.md §3, "Event order"). The *bound* functions are the lemmas of Tyurin,
Spiridonov, Rudenko
(arXiv 2509.24305). The ε-complexities are shapes: logs dropped, O-constants set to 1, and
evaluated at the per-gradient times τ_i (docs/algorithms.md §5, "Which per-agent time").
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from asyncsim import graph_theory
from asyncsim.core.event_order import mth_event
from asyncsim.core.registry import TOPOLOGIES, TopologyContext, TopologySpec
from asyncsim.graph_theory import GRAPH_SHAPES, ProblemConstants, complexity_shape
from asyncsim.topology.network import Links

__all__ = [
    "COMPLEXITY_SHAPES",
    "GRAPH_SHAPES",
    "AgentTimes",
    "Collection",
    "MaleniaCounts",
    "afedpg_complexity",
    "asynchronous_gradient_cost",
    "asynchronous_sgd_complexity",
    "lower_bound_complexity",
    "m_synchronous_collection_exact",
    "m_synchronous_sgd_complexity",
    "malenia_collection_bound",
    "malenia_collection_exact",
    "malenia_nigt_complexity",
    "malenia_sgd_complexity",
    "malenia_stop_reached",
    "minibatch_sgd_complexity",
    "reduce_time",
    "rennala_collection_bound",
    "rennala_collection_exact",
    "rennala_nigt_complexity",
    "rennala_optimal_m",
    "rennala_sgd_complexity",
    "rennala_time_varying_bound",
    "senders",
    "synchronized_collection_bound",
    "synchronized_collection_exact",
    "synchronized_nigt_complexity",
    "synchronized_round_time",
    "total_time",
]

_REL_TOL = 1e-12
"""Relative tolerance of the Malenia stop test (see :func:`malenia_stop_reached`)."""


# --------------------------------------------------------------------------------------------
# Reduce and stop rules
# --------------------------------------------------------------------------------------------


def _vector(values: ArrayLike | None, size: int = 0) -> np.ndarray:
    """A flat float array; zeros of length ``size`` when ``values`` is None."""
    return np.zeros(size) if values is None else np.asarray(values, dtype=float).ravel()


Topology = str | TopologySpec
"""A topology by registered name (``"server"``, ``"allreduce"``) or its record."""


def _topology(topology: Topology) -> TopologySpec:
    """The topology's record (:mod:`asyncsim.topology`); ValueError for an unknown name."""
    return topology if isinstance(topology, TopologySpec) else TOPOLOGIES.get(topology)


def _reduce(kappa: np.ndarray, spec: TopologySpec, n: int, allreduce: str) -> float:
    """The topology's reduce time of senders with uplink times ``kappa`` in a cluster of n."""
    return spec.reduce_time(kappa, TopologyContext(n, allreduce))


def reduce_time(uplink: ArrayLike, topology: Topology = "server", allreduce: str = "max") -> float:
    """Time from the stop of a collection until the aggregate is held (docs/algorithms.md §4):
    the reduce of the topology's record (:mod:`asyncsim.topology`).

    ``uplink`` holds the κ_i of the agents that send (:func:`senders`): the participants on a
    server, all n agents under allreduce (one collective, in which an agent without a gradient
    takes part with a zero vector). With p of them:

    * ``server`` (star reduce, ends when the last vector arrives): max_i κ_i;
    * ``allreduce`` with ``allreduce="max"``: max_i κ_i;
    * ``allreduce`` with ``allreduce="ring"``: 2(p-1)/p · max_i κ_i.

    Args:
        uplink: Uplink times κ_i of the agents that send.
        topology: a registered topology, e.g. ``"server"`` or ``"allreduce"``.
        allreduce: Collective model for the allreduce topology, ``"max"`` or ``"ring"``.

    Returns:
        The reduce time; 0.0 when nobody sends.

    Raises:
        ValueError: For an unknown topology or collective model.
    """
    kappa = _vector(uplink)
    return _reduce(kappa, _topology(topology), kappa.size, allreduce)


def senders(counts: ArrayLike, topology: Topology) -> np.ndarray:
    """Which agents send in a reduce, by the topology's record: those with B_i > 0 on a server
    (an agent without a gradient sends nothing), every agent under allreduce (a collective of
    all n)."""
    return _topology(topology).senders(np.asarray(counts))


def malenia_stop_reached(n: int, batch: int, inverse_sum: float, missing: int) -> bool:
    """Stop test of AggregateMalenia (Algorithm 3).

    Stop when every B_i ≥ 1 and (1/n Σ_i 1/B_i)^{-1} ≥ M/n, i.e. n² ≥ M·Σ_i 1/B_i. The
    comparison uses a relative tolerance of 1e-12, ``n*n >= M*S*(1 - 1e-12)``, so that an
    incrementally accumulated S = Σ 1/B_i and a freshly summed one decide equality cases alike.

    Args:
        n: Number of agents.
        batch: Batch size M.
        inverse_sum: Σ_i 1/B_i over the agents with B_i ≥ 1.
        missing: Number of agents with B_i = 0.

    Returns:
        Whether the collection stops.
    """
    return missing == 0 and n * n >= batch * inverse_sum * (1.0 - _REL_TOL)


class MaleniaCounts:
    """The counts of an AggregateMalenia round (Algorithm 3) and its stop test, O(1) per
    gradient: B_i, the number of agents with B_i = 0 and Σ_i 1/B_i over the others, kept
    incrementally (the closed form :func:`malenia_collection_exact` and the engine's rule share
    it, so both sum in the same order)."""

    def __init__(self, n: int, batch: int) -> None:
        self.n = n
        self.batch = batch
        self.counts = [0] * n
        self.missing = n
        self.inverse_sum = 0.0

    def add(self, agent: int) -> bool:
        """Count one more gradient of ``agent``; True when :func:`malenia_stop_reached`."""
        count = self.counts[agent] = self.counts[agent] + 1
        if count == 1:
            self.missing -= 1
            self.inverse_sum += 1.0
        else:
            self.inverse_sum += 1.0 / count - 1.0 / (count - 1)
        return malenia_stop_reached(self.n, self.batch, self.inverse_sum, self.missing)


# --------------------------------------------------------------------------------------------
# Exact collections for fixed times
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Collection:
    """Outcome of one exact collection round.

    Attributes:
        stop_time: Time from the round start to the stop event.
        counts: B_i, the number of gradients of agent i counted in the aggregate.
        round_time: ``stop_time`` plus the reduce time of the participants (agents with
            B_i > 0).
    """

    stop_time: float
    counts: tuple[int, ...]
    round_time: float


@dataclass(frozen=True)
class AgentTimes:
    """Per-agent times of a scenario as the closed forms take them (agents 0-based).

    Attributes:
        tau: τ_i = h_i·H, seconds per gradient.
        uplink: κ_i, seconds to send one vector.
        offsets: b_i, when the broadcast point reaches agent i (its downlink time; zeros under
            allreduce, where the collective leaves the aggregate on every node).
        topology: a registered topology, e.g. ``"server"`` or ``"allreduce"``, or its record.
        allreduce: ``"max"`` or ``"ring"``.
        links: shared links (``cluster.network``), None for private wires. With them, b_i are
            the broadcast's shared arrivals (:meth:`Links.broadcast_times`), κ_i an upload's
            time alone, and a reduce shares the links (:meth:`Links.reduce_time`).
    """

    tau: np.ndarray
    uplink: np.ndarray
    offsets: np.ndarray
    topology: Topology = "server"
    allreduce: str = "max"
    links: Links | None = None

    @property
    def kappa(self) -> float:
        """κ = max_i κ_i (uplink), the κ of the complexity shapes."""
        return float(np.max(self.uplink))

    @property
    def kappa_round(self) -> float:
        """κ of the round bounds: the slower of uplink and broadcast, so that 2κ covers both."""
        return max(self.kappa, float(np.max(self.offsets)))


def _first_events(
    tau: ArrayLike, offsets: ArrayLike | None
) -> tuple[list[float], list[tuple[float, int]]]:
    """Per-agent τ_i as Python floats and the heap of first completions (b_i + τ_i, i)."""
    times = _vector(tau).tolist()
    starts = _vector(offsets, len(times)).tolist()
    heap = [(b + t, i) for i, (b, t) in enumerate(zip(starts, times, strict=True))]
    heapq.heapify(heap)
    return times, heap


def _finish(
    stop: float,
    counts: list[int],
    uplink: ArrayLike | None,
    topology: Topology,
    allreduce: str,
    links: Links | None = None,
) -> Collection:
    """Build a :class:`Collection`: the round ends when the reduce of :func:`senders` does
    (over shared ``links`` when given: :meth:`Links.reduce_time`)."""
    spec = _topology(topology)
    sending = spec.senders(np.asarray(counts))
    if links is not None:
        reduce = links.reduce_time(sending, spec.collective is not None, allreduce)
        return Collection(stop, tuple(counts), stop + reduce)
    kappa = _vector(uplink, len(counts))[sending]
    return Collection(stop, tuple(counts), stop + _reduce(kappa, spec, len(counts), allreduce))


def rennala_collection_exact(
    tau: ArrayLike,
    batch: int,
    offsets: ArrayLike | None = None,
    uplink: ArrayLike | None = None,
    topology: Topology = "server",
    allreduce: str = "max",
    links: Links | None = None,
) -> Collection:
    """Exact AggregateRennala round for fixed times (docs/algorithms.md §5, Lemma C.1 exact).

    The stop time is the M-th smallest element of the multiset {b_i + k·τ_i : k ≥ 1, i ∈ [n]},
    events ordered by (time, agent index); B_i counts agent i's completions up to and including
    the stopping one. Runs in O(n + M log n).

    Args:
        tau: Per-gradient compute times τ_i.
        batch: Batch size M ≥ 1.
        offsets: Broadcast arrival times b_i (default zeros).
        uplink: Uplink times κ_i (default zeros).
        topology: a registered topology, e.g. ``"server"`` or ``"allreduce"``
            (see :func:`reduce_time`).
        allreduce: ``"max"`` or ``"ring"`` (see :func:`reduce_time`).
        links: shared links: the reduce shares them (:meth:`Links.reduce_time`).

    Returns:
        The stop time, the counts B_i and the round time.
    """
    times, starts = _vector(tau), _vector(offsets, np.size(tau))
    if np.all((times > 0) & (times < np.inf)) and np.all(np.isfinite(starts)):
        stop, counts = mth_event(times, starts, batch)
        return _finish(stop, counts, uplink, topology, allreduce, links)
    times, heap = _first_events(tau, offsets)  # times of 0 or infinite: one event at a time
    counts = [0] * len(times)
    stop = 0.0
    for _ in range(batch):
        stop, i = heapq.heappop(heap)
        counts[i] += 1
        heapq.heappush(heap, (stop + times[i], i))
    return _finish(stop, counts, uplink, topology, allreduce, links)


def malenia_collection_exact(
    tau: ArrayLike,
    batch: int,
    offsets: ArrayLike | None = None,
    uplink: ArrayLike | None = None,
    topology: Topology = "server",
    allreduce: str = "max",
    links: Links | None = None,
) -> Collection:
    """Exact AggregateMalenia round for fixed times (docs/algorithms.md §5, Lemma C.2 exact).

    The stop time is the first event, in (time, agent index) order, after which
    :func:`malenia_stop_reached` holds: all B_i ≥ 1 and (1/n Σ 1/B_i)^{-1} ≥ M/n. Σ 1/B_i is
    kept incrementally (O(1) per event, :class:`MaleniaCounts`). All agents participate in the
    reduce. Arguments and result as in :func:`rennala_collection_exact`; the τ_i must be
    positive and finite.

    Raises:
        ValueError: If some τ_i is not positive and finite (the loop would never stop).
    """
    times, heap = _first_events(tau, offsets)
    if not all(0.0 < t < float("inf") for t in times):
        raise ValueError("malenia_collection_exact needs positive finite compute times")
    round_counts = MaleniaCounts(len(times), batch)
    while True:
        stop, i = heapq.heappop(heap)
        if round_counts.add(i):
            return _finish(stop, round_counts.counts, uplink, topology, allreduce, links)
        heapq.heappush(heap, (stop + times[i], i))


def synchronized_round_time(
    tau: ArrayLike,
    offsets: ArrayLike | None = None,
    uplink: ArrayLike | None = None,
    topology: Topology = "server",
    allreduce: str = "max",
    links: Links | None = None,
) -> float | None:
    """Exact synchronized round time for fixed times (docs/algorithms.md §3).

    * a star (``server``): max_i (b_i + τ_i + κ_i) (each vector is sent as soon as it is ready);
    * a collective (``allreduce``): max_i (b_i + τ_i) + :func:`reduce_time` of all uplinks.

    Arguments as in :func:`rennala_collection_exact` (no batch). Over shared ``links`` the
    uploads of a star share the ingress from their instants on, which has a closed form only
    when they all start together (else None is returned); a collective shares them.
    """
    times = _vector(tau)
    ready = _vector(offsets, times.size) + times
    everyone = np.ones(times.size, dtype=int)
    spec = _topology(topology)
    return _synchronous_end(float(ready.max()), ready, everyone, uplink, spec, allreduce, links)


def _synchronous_end(
    stop: float,
    ready: np.ndarray,
    counts: np.ndarray,
    uplink: ArrayLike | None,
    spec: TopologySpec,
    allreduce: str,
    links: Links | None,
) -> float | None:
    """The end of a round whose participants (B_i > 0) each hold one gradient at ``ready``
    (b_i + τ_i) and the last of them at ``stop``: on a star each sends as soon as it is ready,
    max_{B_i > 0} (b_i + τ_i + κ_i); a collective starts at ``stop`` (the reduce of
    :func:`senders`); over shared links :meth:`Links.round_end` (None: no closed form)."""
    taking_part = counts > 0
    if links is not None:
        return links.round_end(ready, taking_part, spec, allreduce)
    kappa = _vector(uplink, ready.size)
    if spec.collective is None:
        return float((ready + kappa)[taking_part].max())
    return stop + _reduce(kappa[spec.senders(counts)], spec, ready.size, allreduce)


def synchronized_collection_exact(
    tau: ArrayLike,
    offsets: ArrayLike | None = None,
    uplink: ArrayLike | None = None,
    topology: Topology = "server",
    allreduce: str = "max",
    links: Links | None = None,
) -> Collection | None:
    """The synchronized round as a :class:`Collection`: it stops when the last of the n
    gradients is computed (max_i (b_i + τ_i)), every B_i = 1, and ends at
    :func:`synchronized_round_time` (None where that has no closed form)."""
    times = _vector(tau)
    ready = _vector(offsets, times.size) + times
    end = synchronized_round_time(times, offsets, uplink, topology, allreduce, links)
    return None if end is None else Collection(float(ready.max()), (1,) * times.size, end)


def m_synchronous_collection_exact(
    tau: ArrayLike,
    m: int,
    offsets: ArrayLike | None = None,
    uplink: ArrayLike | None = None,
    topology: Topology = "server",
    allreduce: str = "max",
    links: Links | None = None,
) -> Collection | None:
    """The m-Synchronous round for fixed times: the first m agents to finish their gradient
    (ordered by (b_i + τ_i, i)) take part, the others' computations are discarded.

    A star (server): each participant sends as soon as it is done, the round ends at
    max_{i ∈ S} (b_i + τ_i + κ_i); a collective (allreduce): at the m-th completion plus the
    collective of all n agents (:func:`reduce_time`). With m = n it is
    :func:`synchronized_collection_exact`. Over shared ``links``: see
    :func:`synchronized_round_time` (None: no closed form).
    """
    times = _vector(tau)
    ready = _vector(offsets, times.size) + times
    first = sorted(range(times.size), key=lambda i: (ready[i], i))[:m]
    counts = [int(i in first) for i in range(times.size)]
    stop = float(ready[first[-1]])
    spec = _topology(topology)
    end = _synchronous_end(stop, ready, np.asarray(counts), uplink, spec, allreduce, links)
    return None if end is None else Collection(stop, tuple(counts), end)


def asynchronous_gradient_cost(
    tau: ArrayLike, offsets: ArrayLike | None = None, uplink: ArrayLike | None = None
) -> float:
    """Steady-state seconds per gradient of the asynchronous server for fixed times.

    Agent i receives a point (b_i), computes (τ_i) and sends (κ_i), then receives the next
    point: one gradient every c_i = b_i + τ_i + κ_i seconds, so the server gets
    Σ_i 1/c_i gradients per second and a gradient costs (Σ_i 1/c_i)^{-1}.
    """
    times = _vector(tau)
    cycle = _vector(offsets, times.size) + times + _vector(uplink, times.size)
    return float(1.0 / np.sum(1.0 / cycle))


# --------------------------------------------------------------------------------------------
# Collection-time bounds
# --------------------------------------------------------------------------------------------


def _best_prefix(times: ArrayLike, a: float, b: float) -> tuple[float, int]:
    """min over m ∈ [n] of (a·m + b) / Σ_{i≤m} 1/t_i, with t sorted ascending.

    Equivalently (1/m Σ_{i≤m} 1/t_i)^{-1} (a + b/m): a prefix harmonic mean of the m fastest
    agents times a per-round cost. Ties go to the smallest m.

    Returns:
        The minimum and the minimizing m (1-based number of fastest agents).
    """
    ordered = np.sort(_vector(times))
    m = np.arange(1, ordered.size + 1)
    values = (a * m + b) / np.cumsum(1.0 / ordered)
    best = int(np.argmin(values))
    return float(values[best]), best + 1


def rennala_collection_bound(tau: ArrayLike, kappa: float, batch: int) -> float:
    """Lemma C.1: t_R(M) = 2κ + min_{m∈[n]} (M + m) / Σ_{i≤m} 1/τ_i, τ sorted ascending.

    Args:
        tau: Per-gradient compute times τ_i (any order).
        kappa: κ = max_i κ_i.
        batch: Batch size M.

    Returns:
        The upper bound on one Rennala round.
    """
    return 2.0 * kappa + _best_prefix(tau, 1.0, batch)[0]


def rennala_optimal_m(tau: ArrayLike, batch: int) -> int:
    """The minimizing m of Lemma C.1: how many of the fastest agents the bound uses (1-based).

    Args:
        tau: Per-gradient compute times τ_i (any order).
        batch: Batch size M.

    Returns:
        argmin_{m∈[n]} (M + m) / Σ_{i≤m} 1/τ_i (smallest m on ties).
    """
    return _best_prefix(tau, 1.0, batch)[1]


def malenia_collection_bound(tau: ArrayLike, kappa: float, batch: int) -> float:
    """Lemma C.2: t_M(M) ≤ 2κ + τ_n + (2M/n²) Σ_i τ_i, the upper bound on one Malenia round
    (arguments as in :func:`rennala_collection_bound`)."""
    times = _vector(tau)
    n = times.size
    return 2.0 * kappa + float(times.max()) + 2.0 * batch / n**2 * float(times.sum())


def synchronized_collection_bound(tau: ArrayLike, kappa: float) -> float:
    """Synchronized round (docs/algorithms.md §5): max_i τ_i + 2κ, the time of one round
    (arguments as in :func:`rennala_collection_bound`)."""
    return float(np.max(tau)) + 2.0 * kappa


def rennala_time_varying_bound(
    tau_rounds: ArrayLike, kappa: float, batch: int, initial_batch: int | None = None
) -> float:
    """Theorem 4.3: total time Σ_k t_R(M_k; τ_{·,k}) with per-round compute times.

    Round 0 collects ``initial_batch`` gradients (M_init), every later round ``batch`` (M);
    each round's term is Lemma C.1 with that round's times.

    Args:
        tau_rounds: (K, n) array; row k holds τ_{i,k}.
        kappa: κ = max_i κ_i.
        batch: Batch size M of rounds 1..K-1.
        initial_batch: Batch size M_init of round 0 (default ``batch``).

    Returns:
        The summed bound.
    """
    rows = np.atleast_2d(np.asarray(tau_rounds, dtype=float))
    first = batch if initial_batch is None else initial_batch
    sizes = [first] + [batch] * (rows.shape[0] - 1)
    return sum(rennala_collection_bound(row, kappa, m) for row, m in zip(rows, sizes, strict=True))


def total_time(initial_round: float, round_time: float, iterations: int) -> float:
    """Total time (docs/algorithms.md §5): t(M_init) + T·t(M).

    Args:
        initial_round: Time of the initial round t(M_init).
        round_time: Time of one later round t(M).
        iterations: Number T of later rounds.

    Returns:
        The total time.
    """
    return initial_round + iterations * round_time


# --------------------------------------------------------------------------------------------
# ε-complexity shapes (logs dropped, O-constants = 1)
# --------------------------------------------------------------------------------------------


def _ascending(tau: ArrayLike) -> np.ndarray:
    """The per-gradient times τ_i sorted ascending (τ_1 ≤ … ≤ τ_n, as the shapes index them)."""
    return np.sort(_vector(tau))


def _iterations(eps: float, c: ProblemConstants) -> float:
    """L_gΔ/ε² + √L_h Δ/ε^{3/2}: the deterministic iteration count of NIGT."""
    return c.L_g * c.delta / eps**2 + np.sqrt(c.L_h) * c.delta / eps**1.5


@complexity_shape
def rennala_nigt_complexity(tau: ArrayLike, kappa: float, eps: float, c: ProblemConstants) -> float:
    """Rennala NIGT time complexity shape (Theorems 4.2/4.4).

    κ(L_gΔ/ε² + √L_h Δ/ε^{3/2})
    + min_m (1/m Σ_{i≤m} 1/τ_i)^{-1} (L_gΔ/ε² + √L_h Δ/ε^{3/2} + σ²/(mε²) + σ²√L_h Δ/(mε^{7/2})).

    Arguments as every shape's (:func:`~asyncsim.graph_theory.complexity_shape`).
    """
    iters = _iterations(eps, c)
    noise = c.sigma2 / eps**2 + c.sigma2 * np.sqrt(c.L_h) * c.delta / eps**3.5
    return kappa * iters + _best_prefix(_ascending(tau), iters, noise)[0]


@complexity_shape
def malenia_nigt_complexity(tau: ArrayLike, kappa: float, eps: float, c: ProblemConstants) -> float:
    """Malenia NIGT time complexity shape (Theorem 5.1).

    κ(L_gΔ/ε² + √L_h Δ/ε^{3/2}) + τ_n (L_gΔ/ε² + √L_h Δ/ε^{3/2})
    + (1/n Σ_i τ_i)(σ²/(nε²) + σ²√L_h Δ/(nε^{7/2})), with τ_n = max_i τ_i.

    Arguments as every shape's (:func:`~asyncsim.graph_theory.complexity_shape`).
    """
    hdot = _ascending(tau)
    n = hdot.size
    iters = _iterations(eps, c)
    noise = c.sigma2 / (n * eps**2) + c.sigma2 * np.sqrt(c.L_h) * c.delta / (n * eps**3.5)
    return (kappa + hdot[-1]) * iters + hdot.mean() * noise


@complexity_shape
def synchronized_nigt_complexity(
    tau: ArrayLike, kappa: float, eps: float, c: ProblemConstants
) -> float:
    """Synchronized NIGT time complexity shape (docs/algorithms.md §5).

    (max_i τ_i + κ)(L_gΔ/ε² + √L_h Δ/ε^{3/2} + σ²√L_h Δ/(nε^{7/2})).

    Arguments as every shape's (:func:`~asyncsim.graph_theory.complexity_shape`).
    """
    hdot = _ascending(tau)
    noise = c.sigma2 * np.sqrt(c.L_h) * c.delta / (hdot.size * eps**3.5)
    return (hdot[-1] + kappa) * (_iterations(eps, c) + noise)


@complexity_shape
def afedpg_complexity(tau: ArrayLike, kappa: float, eps: float, c: ProblemConstants) -> float:
    """AFedPG time complexity shape, as bounded in the paper's Table 1.

    (1/n Σ_i 1/τ_i)^{-1}(n^{4/3} ε^{-7/3} + 1/(n ε^{7/2})) computation + κ ε^{-3}
    communication. The table states this bound without L_g, L_h, σ², Δ: those arguments are
    accepted for a uniform signature and ignored.

    Arguments as every shape's (:func:`~asyncsim.graph_theory.complexity_shape`).
    """
    hdot = _ascending(tau)
    n = hdot.size
    harmonic = n / float(np.sum(1.0 / hdot))
    return harmonic * (n ** (4 / 3) / eps ** (7 / 3) + 1.0 / (n * eps**3.5)) + kappa / eps**3


@complexity_shape
def lower_bound_complexity(tau: ArrayLike, kappa: float, eps: float, c: ProblemConstants) -> float:
    """Lower bound shape (Theorem G.1).

    min_m (1/m Σ_{i≤m} 1/τ_i)^{-1}(√L_h Δ/ε^{3/2} + σ²√L_h Δ/(m ε^{7/2}))
    + κ L_g^{3/7} L_h^{2/7} Δ/ε^{12/7}.

    Arguments as every shape's (:func:`~asyncsim.graph_theory.complexity_shape`).
    """
    curvature = np.sqrt(c.L_h) * c.delta
    noise = c.sigma2 * curvature / eps**3.5
    compute, _ = _best_prefix(_ascending(tau), curvature / eps**1.5, noise)
    return compute + kappa * c.L_g ** (3 / 7) * c.L_h ** (2 / 7) * c.delta / eps ** (12 / 7)


@complexity_shape
def rennala_sgd_complexity(tau: ArrayLike, kappa: float, eps: float, c: ProblemConstants) -> float:
    """Rennala SGD (Tyurin & Richtárik, NeurIPS 2023) and Ringmaster ASGD (Maranjyan, Tyurin,
    Richtárik, ICML 2025), optimal in the fixed computation model:

    min_m [(1/m Σ_{i≤m} 1/τ_i)^{-1} (LΔ/ε + σ²LΔ/(mε²))].

    That model has no communication time: ``kappa`` (like L_h) is accepted for a uniform
    signature and ignored (:func:`~asyncsim.graph_theory.complexity_shape`).
    """
    deterministic, noise = c.sgd_terms(eps)
    return _best_prefix(_ascending(tau), deterministic, noise)[0]


@complexity_shape
def malenia_sgd_complexity(tau: ArrayLike, kappa: float, eps: float, c: ProblemConstants) -> float:
    """Malenia SGD (Tyurin & Richtárik, NeurIPS 2023), optimal for heterogeneous functions:

    τ_n LΔ/ε + (1/n Σ_i τ_i) σ²LΔ/(nε²), with τ_n = max_i τ_i.

    ``kappa`` and L_h are ignored (see :func:`rennala_sgd_complexity`).
    """
    times = _ascending(tau)
    deterministic, noise = c.sgd_terms(eps)
    return times[-1] * deterministic + times.mean() * noise / times.size


@complexity_shape
def minibatch_sgd_complexity(
    tau: ArrayLike, kappa: float, eps: float, c: ProblemConstants
) -> float:
    """Minibatch SGD (one gradient per worker per step):

    τ_n (LΔ/ε + σ²LΔ/(nε²)).

    ``kappa`` and L_h are ignored (see :func:`rennala_sgd_complexity`).
    """
    times = _ascending(tau)
    deterministic, noise = c.sgd_terms(eps)
    return times[-1] * (deterministic + noise / times.size)


@complexity_shape
def asynchronous_sgd_complexity(
    tau: ArrayLike, kappa: float, eps: float, c: ProblemConstants
) -> float:
    """Asynchronous SGD with delay-adaptive steps (Koloskova et al.; Mishchenko et al.,
    NeurIPS 2022), as stated in the fixed computation model:

    (1/n Σ_i 1/τ_i)^{-1} (LΔ/ε + σ²LΔ/(nε²)).

    ``kappa`` and L_h are ignored (see :func:`rennala_sgd_complexity`).
    """
    times = _ascending(tau)
    n = times.size
    deterministic, noise = c.sgd_terms(eps)
    return n / np.sum(1.0 / times) * (deterministic + noise / n)


@complexity_shape
def m_synchronous_sgd_complexity(
    tau: ArrayLike, kappa: float, eps: float, c: ProblemConstants, m: int | None = None
) -> float:
    """m-Synchronous SGD (Begunov & Tyurin 2026): Minibatch SGD on the m fastest agents,

    τ_(m) (LΔ/ε + σ²LΔ/(mε²)), τ_(m) the m-th smallest τ_i (m = n: Minibatch SGD).

    Our reading of a round that waits for the first m gradients; ``kappa`` and L_h are ignored
    (see :func:`rennala_sgd_complexity`).
    """
    times = _ascending(tau)
    m = times.size if m is None else m
    deterministic, noise = c.sgd_terms(eps)
    return times[m - 1] * (deterministic + noise / m)


COMPLEXITY_SHAPES: dict[str, Callable[..., float]] = {
    "rennala_nigt": rennala_nigt_complexity,
    "malenia_nigt": malenia_nigt_complexity,
    "synchronized_nigt": synchronized_nigt_complexity,
    "afedpg": afedpg_complexity,
    "rennala_sgd": rennala_sgd_complexity,
    "malenia_sgd": malenia_sgd_complexity,
    "minibatch_sgd": minibatch_sgd_complexity,
    "asynchronous_sgd": asynchronous_sgd_complexity,
    "m_synchronous_sgd": m_synchronous_sgd_complexity,
    "lower_bound": lower_bound_complexity,
    "fragile_sgd": graph_theory.fragile_sgd_complexity,
    "amelie_sgd": graph_theory.amelie_sgd_complexity,
    "ad_psgd": graph_theory.ad_psgd_complexity,
}
"""The ε-complexity shapes by name; all share one signature
(:func:`~asyncsim.graph_theory.complexity_shape`)."""
