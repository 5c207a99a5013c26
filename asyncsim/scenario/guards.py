"""Resource guards: lower bounds of what a scenario costs, and the refusal of one that cannot
finish on this machine, before anything runs.

:func:`estimate` bounds from below the memory and the real time of a validated scenario from
its fields alone (no environment or oracle is built), as named parts:

- memory: per-agent engine state ``n · AGENT_BYTES``; the vectors ``8·d·(VECTOR_COPIES + n·c)``
  (d the oracle's dimension or a lower bound of the policy's parameter count, c = 1 when the
  oracle keeps one vector per agent); a round's list of the gradients it uses (8 bytes each);
  the rollout buffers of the trajectories of one update (allocated for all H steps); the
  iteration table (one row per update) and the trace (one row per event) of every method,
  kept until the run is written; an evaluation's episodes; once the methods have run, the
  block of rows writing a table holds at once (:data:`WRITE_ROW_BYTES` a row);
- real time: simulation events × EVENT_SECONDS, environment transitions × TRANSITION_SECONDS,
  evaluation transitions likewise.

The number of updates is the budget's: ``iterations + 1``; at least ``gradients`` (or
``transitions / H``) gradient computations; or, for ``time``, one computation per slowest
agent cycle ``max_i (b_i + τ_i + κ_i)`` at the mean times (every built-in protocol keeps each
agent computing or communicating), minus the longest total outage of an agent. The run stops at
the first limit reached, so each count is the least over the limits. A target (``target_return``,
``target_grad_norm``) may stop a run earlier: it does not lower the estimate, because a run that
misses its target must still end within its budget.

:func:`check` refuses (a one-line :class:`ResourceError` naming the field of the largest part and
the estimate) when the memory bound exceeds what this process may use (:func:`available_memory`)
or the time bound exceeds :data:`TIME_LIMIT`, and a budget bounded only by simulated time when
no agent's cycle takes any time (the clock could never reach it). :func:`check_sweep_size`
refuses a sweep of more than :data:`SWEEP_POINTS_LIMIT` points before its points are expanded
(expansion validates each one). Every constant below is a lower bound, with the measurement it
stays under, so that nothing reasonable is refused; ``--force`` runs a refused scenario anyway.
"""

from __future__ import annotations

import itertools
import math
import os
import re
import resource
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from asyncsim.core.csvtables import BLOCK_ROWS
from asyncsim.core.errors import ConfigError, switch
from asyncsim.scenario.schema import MethodConfig, Scenario

__all__ = [
    "AGENT_BYTES",
    "EPISODE_BYTES",
    "EVENT_SECONDS",
    "ROLLOUT_BYTES",
    "ROW_BYTES",
    "SWEEP_POINTS_LIMIT",
    "TIME_LIMIT",
    "TRACE_ROW_BYTES",
    "TRANSITION_SECONDS",
    "VECTOR_COPIES",
    "WRITE_ROW_BYTES",
    "Estimate",
    "Part",
    "ResourceError",
    "available_memory",
    "check",
    "check_agents",
    "check_sweep_size",
    "duration_text",
    "estimate",
    "policy_parameters",
    "size_text",
]

AGENT_BYTES = 800
"""Memory per agent, at least. A round on private wires keeps no SimPy process per agent
(a heap entry, the round's dicts and lists): Python's own allocations of m-Synchronous SGD at
n = 2,000 (fixed times, synthetic oracle, no trace, 10 rounds) were 2.2 MB in all, 1.1 kB an
agent; asynchronous methods keep a SimPy process per agent (about 0.7 kB); a random time model
adds the seeds of the agent's random streams (1.1 kB) at its first draw and its durations
drawn ahead; resident memory adds the allocator's overhead."""

VECTOR_COPIES = 4
"""d-vectors every method holds at least: θ, the query point (or momentum), the aggregated
estimate and the oracle's running sum; float64, 8·d bytes each."""

ROW_BYTES = 500
"""Memory per row of the iteration table (a dict of about 13 columns): 611-644 B measured."""

TRACE_ROW_BYTES = 48
"""Memory per trace row (five atoms in one flat list): 55-67 B measured."""

WRITE_ROW_BYTES = 40
"""Memory per row of the block a table is written in (at most
:data:`~asyncsim.core.csvtables.BLOCK_ROWS` rows at once): its five list slots at least; 168 B
measured (16-17 MiB for blocks of 10^5 trace rows, whatever the trace's length; before tables
were written in blocks, a trace's whole text was held three times over: 259 MiB for 2·10^6
rows)."""

ROLLOUT_BYTES = 16
"""Bytes per step of a trajectory's rollout buffers, allocated for all H steps before the
episode runs: an observation and an action of at least one float32 each and a float64 reward."""

EPISODE_BYTES = 400
"""Bookkeeping per evaluation episode (its work item, its trajectory and three arrays); an
evaluation holds all of its episodes at once: 13.6 kB per episode measured (Pendulum, H = 10)."""

EVENT_SECONDS = 0.5e-6
"""Real seconds per simulation event: a bare SimPy timeout loop takes 1.09 µs here and the
engine 7-11 µs per traced event; half the bare loop allows a machine twice as fast."""

TRANSITION_SECONDS = 1e-6
"""Real seconds per environment transition: the fastest measured here is 26 µs (Pendulum-v1,
64 trajectories per batch); 1 µs allows for much faster environments and machines."""

TIME_LIMIT = 7 * 86400.0
"""Refuse when the run provably needs more than a week. The bounds are 14-26 times below the
measured costs, so such a run would take months."""

SWEEP_POINTS_LIMIT = 100_000
"""Most points of a sweep. Expansion validates and keeps every point before the first one runs
(0.1-0.3 ms and 6.7 kB per point measured: 10^6 points take minutes and 7 GB before anything
happens) and every point writes its own directory of at least six files; the largest shipped
sweep has 33 points."""

_FLOAT64 = 8
_INDEX_BYTES = 8  # a list slot per gradient a round uses


class ResourceError(ConfigError):
    """A scenario that cannot finish on this machine; ``--force`` runs it anyway."""


@dataclass(frozen=True)
class Part:
    """One named part of an estimate: ``amount`` bytes or seconds (a lower bound), driven by the
    scenario field ``field``, arising as ``what`` says (for the refusal)."""

    field: str
    amount: float
    what: str


@dataclass(frozen=True)
class Estimate:
    """Lower bounds of a scenario's memory and real time, by part.

    Attributes:
        transient: the memory of one update of the method that needs the most (agents,
            vectors, a round's lists, rollout buffers, an evaluation): methods run one at a time.
        persistent: the iteration tables and traces of all methods, kept until the run is
            written, added up by field.
        time: real seconds of all methods, added up by field.
        writing: the block of the largest table being written, once the methods have run
            (so with the persistent part, instead of the transient one).
    """

    transient: tuple[Part, ...]
    persistent: tuple[Part, ...]
    time: tuple[Part, ...]
    writing: tuple[Part, ...] = ()

    @property
    def bytes(self) -> float:
        running = sum(part.amount for part in self.transient)
        writing = sum(part.amount for part in self.writing)
        return max(running, writing) + sum(part.amount for part in self.persistent)

    @property
    def seconds(self) -> float:
        return sum(part.amount for part in self.time)


# ---------------------------------------------------------------- the machine


def available_memory() -> tuple[float, str]:
    """The bytes this process may still use, and what sets the limit: the machine's memory,
    a container's limit (cgroup v2 ``memory.max``) or the address-space limit (``ulimit -v``)
    less the address space already in use; infinity if none can be read."""
    limits = [(math.inf, "no known limit")]
    try:
        physical = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        limits.append((float(physical), "this machine's memory"))
    except (ValueError, OSError, AttributeError):
        pass
    container = _read_number("/sys/fs/cgroup/memory.max")
    if container is not None:
        limits.append((container, "this container's memory limit"))
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        limits.append((soft - _address_space(), "the address-space limit (ulimit -v)"))
    return min(limits)


def _read_number(path: str) -> float | None:
    try:
        with open(path) as handle:
            text = handle.read().strip()
    except OSError:
        return None
    return float(text) if text.isdigit() else None  # "max": no limit


def _address_space() -> float:
    """Bytes of address space this process uses now (0 where /proc cannot tell)."""
    try:
        with open("/proc/self/statm") as handle:
            pages = int(handle.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0
    return float(pages * os.sysconf("SC_PAGE_SIZE"))


# ---------------------------------------------------------------- the estimate


def policy_parameters(policy: Any) -> int:
    """A lower bound of a policy's parameter count from its hidden widths alone: the network
    with observations and actions of one coordinate (no environment is built).

    An MLP [1, h_1, ..., h_k] has Σ_j (h_{j-1}·h_j + h_j) trunk weights and biases, a mean head
    and a standard-deviation head of h_k + 1 each; a linear policy has W, b and log σ (3).
    """
    mlp = policy.kind != "linear"
    widths = [1, *(int(h) for h in getattr(policy, "hidden", ()))] if mlp else [1]
    trunk = sum(a * b + b for a, b in itertools.pairwise(widths))
    return trunk + (widths[-1] + 1) + (widths[-1] + 1 if mlp else 1)


def _dimension(scenario: Scenario) -> tuple[int, str, str]:
    """(d or a lower bound of it, its field, how it is known, in words)."""
    oracle = scenario.oracle
    policy = getattr(oracle, "policy", None)
    if policy is not None and getattr(oracle, "dim", None) is None:
        hidden = list(getattr(policy, "hidden", []))
        dim = policy_parameters(policy)
        return (
            dim,
            "oracle.policy.hidden",
            f"the >= {dim} parameters of a policy of widths {hidden}",
        )
    dim = int(getattr(oracle, "dim", 1) or 1)
    return dim, "oracle.dim", f"d = {dim} coordinates"


def _rollouts(scenario: Scenario) -> bool:
    """Whether gradients and evaluations roll out environment episodes (a policy oracle)."""
    return getattr(scenario.oracle, "policy", None) is not None


@dataclass(frozen=True)
class _Update:
    """Lower bounds of one update of a method: gradients of the first and later updates, the
    field that sets them, and whether every agent is started each round."""

    first: int
    later: int
    field: str
    collects: bool

    @property
    def most(self) -> int:
        return max(self.first, self.later)


def _update(method: MethodConfig, index: int) -> _Update:
    first, later, name = method.params.gradients_per_update()
    return _Update(first, later, f"methods[{index}].{name}", method.spec.starts_every_agent)


@dataclass(frozen=True)
class _Work:
    """Lower bounds of one method's run until its budget ends: the budget field that limits
    it, how (in words, and how its events arise), and the updates, gradient computations,
    events and trace rows."""

    field: str
    what: str
    events_what: str
    updates: float
    gradients: float
    events: float
    trace_rows: float


def _work(scenario: Scenario, update: _Update, cycle: float | None) -> _Work:
    """The least work over the budget's limits (the run ends at the first one reached)."""
    budget, n, horizon = scenario.budget, scenario.cluster.n, scenario.horizon
    limits: list[_Work] = []
    if budget.iterations is not None:
        updates = budget.iterations + 1.0
        gradients = update.first + budget.iterations * float(update.later)
        started = n * updates if update.collects else 0.0
        what = f"{updates:.3g} updates of {update.later} gradient(s)"
        what += f" ({update.field})" if update.later > 1 else ""
        starting = f"{what}, each starting all {n} agents" if update.collects else what
        limits.append(
            _Work("budget.iterations", what, starting, updates, gradients, gradients + started,
                  2 * gradients + updates)
        )  # fmt: skip
    for field, gradients, what in _gradient_limits(scenario, cycle, horizon):
        # each gradient is at least one computation: an event, a start row and an end row
        limits.append(_Work(field, what, what, 1.0, gradients, gradients, 2.0 * gradients))
    return min(limits, key=lambda work: work.events)


def _gradient_limits(
    scenario: Scenario, cycle: float | None, horizon: int
) -> list[tuple[str, float, str]]:
    """(field, gradients, how) of the limits that count gradients rather than updates."""
    budget, limits = scenario.budget, []
    if budget.gradients is not None:
        limits.append(
            ("budget.gradients", float(budget.gradients), f"{budget.gradients} gradients")
        )
    if budget.transitions is not None:
        gradients = budget.transitions / horizon
        what = f"{budget.transitions} transitions of H = {horizon}: {gradients:.3g} gradients"
        limits.append(("budget.transitions", gradients, what))
    if budget.time is not None:
        limits.append(("budget.time", *_timed_gradients(scenario, cycle)))
    return limits


def _timed_gradients(scenario: Scenario, cycle: float | None) -> tuple[float, str]:
    """Gradients computed before ``budget.time``: one per cycle of the slowest agent at least,
    outside the longest total outage of an agent."""
    budget = scenario.budget.time
    span = max(0.0, budget - _longest_outage(scenario, budget))
    if cycle is None or span == 0.0:
        return 1.0, f"{budget:g} simulated s"
    gradients = math.inf if cycle == 0.0 else span / cycle
    what = f"{budget:g} simulated s at {cycle:.3g} s per cycle of the slowest agent"
    return gradients, f"{what}: {gradients:.3g} gradients"


def _longest_outage(scenario: Scenario, until: float) -> float:
    """The most seconds of [0, until) that one agent spends in outages."""
    total: dict[int, float] = {}
    for outage in scenario.cluster.outages:
        overlap = max(0.0, min(outage.end, until) - min(outage.start, until))
        total[outage.agent] = total.get(outage.agent, 0.0) + overlap
    return max(total.values(), default=0.0)


def _slowest_cycle(scenario: Scenario) -> float | None:
    """max_i (b_i + τ_i + κ_i) at the mean times (b_i = 0 on a topology that does not
    broadcast), τ_i = h_i·H an upper bound of a gradient's compute time; None when it cannot be
    known without building the oracle (communication times that depend on a policy's parameter
    count)."""
    cluster = scenario.cluster
    links = (cluster.uplink, cluster.downlink)
    if _rollouts(scenario) and any(_uses_dimension(link) for link in links):
        return None
    n = cluster.n
    means = {
        role: _means(model, n)
        for role, model in cluster.time_models(_dimension(scenario)[0]).items()
    }
    broadcast = means["downlink"] if cluster.topology_spec.broadcasts else 0.0
    return float((broadcast + means["compute"] * scenario.horizon + means["uplink"]).max())


def _means(model: Any, n: int) -> Any:
    fixed = model.fixed_values()
    return fixed if fixed is not None else model.means(n)


def _uses_dimension(link: Any) -> bool:
    return link.kind == "bandwidth" or bool(
        re.search(r"\bd\b", str(getattr(link, "time", None) or ""))
    )


def estimate(scenario: Scenario) -> Estimate:
    """Lower bounds of the memory and real time of every method of ``scenario`` (see the module
    docstring for each part)."""
    return _estimate(scenario, _cycle(scenario))


def _cycle(scenario: Scenario) -> float | None:
    """The slowest agent's cycle where a time budget needs it (it costs O(n) to compute)."""
    return _slowest_cycle(scenario) if scenario.budget.time is not None else None


def _estimate(scenario: Scenario, cycle: float | None) -> Estimate:
    transient: list[tuple[Part, ...]] = []
    persistent: list[Part] = []
    time: list[Part] = []
    writing: list[Part] = []
    for index, method in enumerate(scenario.methods):
        update = _update(method, index)
        work = _work(scenario, update, cycle)
        transient.append(_transient_parts(scenario, update))
        persistent += _persistent_parts(scenario, work)
        time += _time_parts(scenario, work)
        writing.append(_writing_part(scenario, work))
    largest = max(transient, key=lambda parts: sum(part.amount for part in parts))
    return Estimate(largest, _fold(persistent), _fold(time), (max(writing, key=_amount),))


def _agents_part(n: int) -> Part:
    return Part("cluster.n", float(n) * AGENT_BYTES, f"{n} agents at {AGENT_BYTES} B each")


def _transient_parts(scenario: Scenario, update: _Update) -> tuple[Part, ...]:
    n = scenario.cluster.n
    dim, dim_field, dim_what = _dimension(scenario)
    copies = VECTOR_COPIES + n * getattr(scenario.oracle, "vectors_per_agent", 0)
    parts = [
        _agents_part(n),
        Part(dim_field, _FLOAT64 * float(dim) * copies,
             f"{copies} float64 vectors of {dim_what}"),
        Part(update.field, _INDEX_BYTES * float(update.most),
             f"a round lists its {update.most} gradients"),
    ]  # fmt: skip
    if _rollouts(scenario):
        horizon = scenario.horizon
        parts.append(
            Part(_horizon_field(scenario), ROLLOUT_BYTES * (horizon + 1.0) * update.most,
                 f"{update.most} trajectories of an update allocate {horizon} steps each")
        )  # fmt: skip
        episodes = scenario.evaluation.episodes
        if episodes:
            per_episode = EPISODE_BYTES + ROLLOUT_BYTES * (horizon + 1.0)
            parts.append(
                Part("evaluation.episodes", episodes * per_episode,
                     f"an evaluation holds its {episodes} episodes at once")
            )  # fmt: skip
    return tuple(parts)


def _persistent_parts(scenario: Scenario, work: _Work) -> list[Part]:
    parts = [
        Part(work.field, ROW_BYTES * work.updates,
             f"{work.what} make iteration-table rows of {ROW_BYTES} B")
    ]  # fmt: skip
    if scenario.output.trace:
        parts.append(
            Part(work.field, TRACE_ROW_BYTES * work.trace_rows,
                 f"{work.what} trace at least {work.trace_rows:.3g} rows of {TRACE_ROW_BYTES} B "
                 "(output.trace: false drops them)")
        )  # fmt: skip
    return parts


def _writing_part(scenario: Scenario, work: _Work) -> Part:
    """The block of the method's largest table: its trace, else its iteration table."""
    rows = min(work.trace_rows if scenario.output.trace else work.updates, BLOCK_ROWS)
    return Part(work.field, WRITE_ROW_BYTES * rows,
                f"writing its tables holds a block of {rows:.3g} rows")  # fmt: skip


def _time_parts(scenario: Scenario, work: _Work) -> list[Part]:
    parts = [
        Part(work.field, work.events * EVENT_SECONDS,
             f"{work.events_what}: {work.events:.3g} simulation events at least")
    ]  # fmt: skip
    if _rollouts(scenario):  # at least one transition per trajectory (episodes may end early)
        parts.append(
            Part(work.field, work.gradients * TRANSITION_SECONDS,
                 f"{work.what}: {work.gradients:.3g} trajectories at least")
        )  # fmt: skip
        evaluation = scenario.evaluation
        if evaluation.episodes:
            # every `every` updates from the first; with a period, at least the first one
            evaluations = 1.0
            if evaluation.period is None:
                evaluations += (work.updates - 1) // evaluation.every
            parts.append(
                Part("evaluation.episodes",
                     evaluations * evaluation.episodes * TRANSITION_SECONDS,
                     f"{evaluations:.3g} evaluations of {evaluation.episodes} episodes")
            )  # fmt: skip
    return parts


def _horizon_field(scenario: Scenario) -> str:
    return "oracle.horizon" if getattr(scenario.oracle, "horizon", None) else "cluster.horizon"


def _fold(parts: Iterable[Part]) -> tuple[Part, ...]:
    """The parts of each field added up, described by the largest of them."""
    by_field: dict[str, list[Part]] = {}
    for part in parts:
        by_field.setdefault(part.field, []).append(part)
    return tuple(
        Part(field, sum(p.amount for p in group), max(group, key=_amount).what)
        for field, group in by_field.items()
    )


def _amount(part: Part) -> float:
    return part.amount


# ---------------------------------------------------------------- the refusals


def check(scenario: Scenario, where: str = "") -> Estimate:
    """Refuse ``scenario`` if it cannot finish here; return its estimate otherwise.

    In order: the agents' memory (before anything of size n is computed), a clock that cannot
    advance, one update's memory (so that e.g. a huge batch is named, not the trace it would
    make), all the memory, the real time.

    Args:
        scenario: a validated scenario.
        where: what to name before the field (``sweep point cluster.n=8``).

    Raises:
        ResourceError: one line naming the field of the largest part, the part and the total.
    """
    try:
        check_agents(scenario.cluster.n)
        cycle = _cycle(scenario)
        _check_clock(scenario, cycle)
        result = _estimate(scenario, cycle)
        transient = sum(part.amount for part in result.transient)
        _refuse_memory(max(result.transient, key=_amount), transient)
        _refuse_memory(max((*result.transient, *result.persistent), key=_amount), result.bytes)
        _refuse_time(max(result.time, key=_amount), result.seconds)
    except ResourceError as exc:
        if not where:
            raise
        raise ResourceError(where, str(exc)) from None
    return result


def check_agents(n: object) -> None:
    """Refuse n agents whose state alone cannot fit in memory. Validation builds per-agent
    arrays (n = 10^7 takes seconds, n = 10^9 more memory than there is), so the command line
    calls this with the raw ``cluster.n`` before validating; a value that is not a number is
    left to validation."""
    if isinstance(n, bool) or not isinstance(n, int | float | str):
        return
    try:
        count = float(n)
    except ValueError:
        return
    if math.isfinite(count) and count >= 1:
        part = _agents_part(int(count))
        _refuse_memory(part, part.amount)


def _check_clock(scenario: Scenario, cycle: float | None) -> None:
    """A budget bounded only by simulated time that the clock can never reach: every agent's
    cycle takes no time (a single agent's zero cycle is left to the recorder, which stops a run
    whose clock is stuck: a synchronized round still waits for the slowest agent)."""
    budget = scenario.budget
    if any(v is not None for v in (budget.iterations, budget.gradients, budget.transitions)):
        return
    if cycle != 0.0:
        return
    raise ResourceError(
        "budget.time",
        f"the simulated clock cannot advance to {budget.time:g} s: every agent's compute "
        "(cluster.compute) and communication times are 0 and the budget has no iterations, "
        "gradients or transitions limit; give positive times or set budget.iterations",
    )


def _refuse_memory(part: Part, total: float) -> None:
    available, source = available_memory()
    if total <= available:
        return
    raise ResourceError(
        part.field,
        f"{part.what}: at least {size_text(part.amount)}; the run needs at least "
        f"{size_text(total)} of memory, more than {source} ({size_text(available)}); "
        f"{switch('force')} runs it anyway",
    )


def _refuse_time(part: Part, total: float) -> None:
    if total <= TIME_LIMIT:
        return
    raise ResourceError(
        part.field,
        f"{part.what}: at least {duration_text(part.amount)}; the run needs at least "
        f"{duration_text(total)} of real time, more than {duration_text(TIME_LIMIT)}; "
        f"{switch('force')} runs it anyway",
    )


def check_sweep_size(axes: Mapping[str, list[Any]]) -> int:
    """Refuse a sweep of more than SWEEP_POINTS_LIMIT points; return its number of points.

    ``axes``: field path → values (as :func:`asyncsim.run.sweep.sweep_axes` returns them); the
    count is their product, known before any point is expanded.
    """
    points = math.prod(len(values) for values in axes.values())
    if points > SWEEP_POINTS_LIMIT:
        sizes = " × ".join(str(len(values)) for values in axes.values())
        raise ResourceError(
            "sweep",
            f"{points} points ({sizes}) are more than {SWEEP_POINTS_LIMIT}: expanding them "
            "alone takes minutes and gigabytes, and each writes a directory; split the sweep "
            f"or use {switch('force')}",
        )
    return points


# ---------------------------------------------------------------- words


def size_text(amount: float) -> str:
    """Bytes in words (``1.5 GiB``)."""
    if not math.isfinite(amount):
        return "unbounded memory"
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if amount >= scale:
            return f"{amount / scale:.3g} {unit}"
    return f"{amount:.0f} B"


def duration_text(seconds: float) -> str:
    """Seconds in words (``153 days``)."""
    if not math.isfinite(seconds):
        return "forever"
    for unit, scale in (("years", 365.25 * 86400), ("days", 86400), ("hours", 3600)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds:.3g} s"
