"""Resource guards: lower bounds of what a scenario costs, and the refusal of one that cannot
finish on this machine, before anything runs.

:func:`estimate` bounds from below the memory and the real time of a validated scenario from
its fields alone (no environment or oracle is built), as named parts:

- memory: per-agent engine state ``n · AGENT_BYTES``; the vectors ``8·d·(VECTOR_COPIES + n·c)``
  (d the oracle's dimension or a lower bound of the policy's parameter count, c = 1 when the
  oracle keeps one vector per agent); a round's list of the gradients it uses (8 bytes each);
  the rollout buffers of the trajectories of one update (allocated for all H steps); the
  iteration table (one row per update) and the trace (one row per event) of every method,
  kept until the run is written; an evaluation's episodes;
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

import functools
import math
import os
import re
import resource
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from asyncsim.config import MethodConfig, Scenario
from asyncsim.errors import ConfigError
from asyncsim.methods.m_synchronous import MSynchronousParams
from asyncsim.methods.protocol import BatchParams, train_in_rounds

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
    "Estimate",
    "Part",
    "ResourceError",
    "available_memory",
    "check",
    "check_sweep_size",
    "estimate",
    "policy_parameters",
]

AGENT_BYTES = 3000
"""Memory per agent: 3.8-4.9 kB resident were measured per agent over the eight built-in
protocols (n = 10^5, synthetic oracle, no trace): three random-stream seeds (1.1 kB), a SimPy
process per agent (0.7 kB), the oracle's noise generator (0.6 kB), lists and allocator overhead."""

VECTOR_COPIES = 4
"""d-vectors every method holds at least: θ, the query point (or momentum), the aggregated
estimate and the oracle's running sum; float64, 8·d bytes each."""

ROW_BYTES = 500
"""Memory per row of the iteration table (a dict of about 13 columns): 611-644 B measured."""

TRACE_ROW_BYTES = 48
"""Memory per trace row (five atoms in one flat list): 55-67 B measured."""

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
"""Refuse when the run provably needs more than a week. The bounds are 10-25 times below the
measured costs, so such a run would take months."""

SWEEP_POINTS_LIMIT = 100_000
"""Most points of a sweep. Expansion validates and keeps every point before the first one runs
(0.1 ms and 6.7 kB per point measured: 10^6 points take minutes and 7 GB before anything
happens) and every point writes its own directory of at least six files; the largest shipped
sweep has 160 points."""

_FLOAT64 = 8
_INDEX_BYTES = 8  # a list slot per gradient a round uses


class ResourceError(ConfigError):
    """A scenario that cannot finish on this machine; ``--force`` runs it anyway."""


@dataclass(frozen=True)
class Part:
    """One named part of an estimate.

    Attributes:
        field: the scenario field that drives it (``cluster.n``).
        amount: bytes or seconds (a lower bound).
        what: how it arises, in words, for the refusal.
        persistent: memory kept after its method ends (results are written at the end of the
            run), so it adds up over methods; transient memory is the most of any method.
    """

    field: str
    amount: float
    what: str
    persistent: bool = False


@dataclass(frozen=True)
class Estimate:
    """Lower bounds of a scenario's memory (bytes) and real time (seconds), by part."""

    memory: tuple[Part, ...]
    time: tuple[Part, ...]

    @property
    def bytes(self) -> float:
        """Σ persistent parts of every method + the largest transient part set of one method
        (methods run one after the other); :func:`_memory_parts` has folded that already."""
        return sum(part.amount for part in self.memory)

    @property
    def seconds(self) -> float:
        """Σ of every part: methods run one after the other."""
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
    hidden = [int(h) for h in getattr(policy, "hidden", ())] if policy.kind != "linear" else []
    widths = [1, *hidden]
    trunk = sum(a * b + b for a, b in zip(widths, widths[1:], strict=False))
    mean_head = widths[-1] + 1
    std_head = widths[-1] + 1 if hidden else 1
    return trunk + mean_head + std_head


def _dimension(scenario: Scenario) -> tuple[int, str, str]:
    """(d or a lower bound of it, its field, how it is known)."""
    oracle = scenario.oracle
    policy = getattr(oracle, "policy", None)
    if policy is not None and getattr(oracle, "dim", None) is None:
        hidden = getattr(policy, "hidden", [])
        what = f"a policy with hidden widths {hidden} has at least"
        return policy_parameters(policy), "oracle.policy.hidden", what
    return int(getattr(oracle, "dim", 1) or 1), "oracle.dim", "d ="


def _rollouts(scenario: Scenario) -> bool:
    """Whether gradients and evaluations roll out environment episodes (a policy oracle)."""
    return getattr(scenario.oracle, "policy", None) is not None


@dataclass(frozen=True)
class _Work:
    """Lower bounds of one method's run until its budget ends, and the field that limits it."""

    field: str
    updates: float
    gradients: float
    events: float
    trace_rows: float


def _per_update(method: MethodConfig, n: int, index: int) -> tuple[int, int, str, bool]:
    """(gradients of the first update, of later ones, the field that sets them, whether every
    agent is started each round), lower bounds from the method's parameters."""
    params, field = method.params, f"methods[{index}]"
    collects = _collects(method)
    if isinstance(params, BatchParams):
        first, later = params.batch_of(0), params.batch_of(1)
        name = "initial_batch" if first > later else "batch"
        return first, later, f"{field}.{name}", collects
    if isinstance(params, MSynchronousParams):
        return params.m, params.m, f"{field}.m", collects
    return 1, 1, f"{field}.name", collects


def _collects(method: MethodConfig) -> bool:
    """A round-based protocol built with ``asyncsim.rounds`` starts every agent each round."""
    train = method.spec.protocol_spec.train
    return isinstance(train, functools.partial) and train.func is train_in_rounds


def _work(scenario: Scenario, method: MethodConfig, index: int, cycle: float | None) -> _Work:
    """The least work over the budget's limits (the run ends at the first one reached)."""
    budget, n, horizon = scenario.budget, scenario.cluster.n, scenario.horizon
    first, later, _, collects = _per_update(method, n, index)
    started = n if collects else 0
    limits: list[_Work] = []
    if budget.iterations is not None:
        updates = budget.iterations + 1.0
        gradients = first + budget.iterations * float(later)
        events = gradients + updates * started
        trace_rows = 2 * gradients + updates
        limits.append(_Work("budget.iterations", updates, gradients, events, trace_rows))
    for field, gradients in (
        ("budget.gradients", budget.gradients),
        ("budget.transitions", None if budget.transitions is None else budget.transitions / horizon),
        ("budget.time", _timed_gradients(scenario, cycle)),
    ):
        if gradients is not None:  # each gradient is a computation: a start and an end
            limits.append(_Work(field, 1.0, float(gradients), float(gradients), 2.0 * gradients))
    return min(limits, key=lambda work: work.events)


def _timed_gradients(scenario: Scenario, cycle: float | None) -> float | None:
    """Gradients computed before ``budget.time``: one per slowest-agent cycle at least."""
    budget = scenario.budget.time
    if budget is None:
        return None
    if cycle is None:
        return 1.0
    span = max(0.0, budget - _longest_outage(scenario, budget))
    if span == 0.0:
        return 1.0
    return math.inf if cycle == 0.0 else span / cycle


def _longest_outage(scenario: Scenario, until: float) -> float:
    """The most seconds of [0, until) that one agent spends in outages."""
    total: dict[int, float] = {}
    for outage in scenario.cluster.outages:
        overlap = max(0.0, min(outage.end, until) - min(outage.start, until))
        total[outage.agent] = total.get(outage.agent, 0.0) + overlap
    return max(total.values(), default=0.0)


def _slowest_cycle(scenario: Scenario) -> float | None:
    """max_i (b_i + τ_i + κ_i) at the mean times (b_i = 0 under AllReduce), τ_i = h_i·H an
    upper bound of a gradient's compute time; None when it cannot be known without building
    the oracle (communication times depending on a policy's parameter count)."""
    cluster = scenario.cluster
    links = [cluster.uplink, cluster.downlink]
    if _rollouts(scenario) and any(_uses_dimension(link) for link in links):
        return None
    models = cluster.time_models(_dimension(scenario)[0])
    n = cluster.n
    means = {role: _means(model, n) for role, model in models.items()}
    broadcast = 0.0 * means["downlink"] if cluster.topology == "allreduce" else means["downlink"]
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
    _check_agents(scenario)  # the rest builds per-agent arrays: refuse absurd n first
    cycle = _slowest_cycle(scenario) if scenario.budget.time is not None else None
    memory: list[Part] = []
    time: list[Part] = []
    for index, method in enumerate(scenario.methods):
        work = _work(scenario, method, index, cycle)
        memory += _memory_parts(scenario, method, index, work)
        time += _time_parts(scenario, method, index, work)
    return Estimate(_fold_memory(memory), _fold(time))


def _check_agents(scenario: Scenario) -> None:
    """Refuse on the agents' memory alone, before anything of size n is computed."""
    n = scenario.cluster.n
    part = Part("cluster.n", float(n) * AGENT_BYTES, f"{n} agents need {AGENT_BYTES} B each")
    _refuse_memory(part, part.amount)


def _memory_parts(
    scenario: Scenario, method: MethodConfig, index: int, work: _Work
) -> list[Part]:
    n = scenario.cluster.n
    dim, dim_field, dim_what = _dimension(scenario)
    per_agent = n if hasattr(scenario.oracle, "heterogeneity") and hasattr(
        scenario.oracle, "min_curvature"
    ) else 0  # the quadratic oracle keeps one centre c_i per agent
    copies = VECTOR_COPIES + per_agent
    first, later, batch_field, _ = _per_update(method, n, index)
    parts = [
        Part("cluster.n", float(n) * AGENT_BYTES, f"{n} agents need {AGENT_BYTES} B each"),
        Part(dim_field, _FLOAT64 * dim * float(copies),
             f"{dim_what} {dim} parameters, {copies} float64 vectors of them"),
        Part(batch_field, _INDEX_BYTES * float(max(first, later)),
             f"a round lists its {max(first, later)} gradients"),
        Part(_budget_field(work), ROW_BYTES * work.updates,
             f"{work.updates:.3g} updates add a {ROW_BYTES}-byte row each", persistent=True),
    ]  # fmt: skip
    if scenario.output.trace:
        parts.append(
            Part("output.trace", TRACE_ROW_BYTES * work.trace_rows,
                 f"the trace holds {work.trace_rows:.3g} rows at least "
                 f"({TRACE_ROW_BYTES} B each; output.trace: false drops it)", persistent=True)
        )  # fmt: skip
    if _rollouts(scenario):
        horizon = scenario.horizon
        parts.append(
            Part(_horizon_field(scenario), ROLLOUT_BYTES * (horizon + 1.0) * max(first, later),
                 f"{max(first, later)} trajectories of an update allocate {horizon} steps each")
        )  # fmt: skip
        episodes = scenario.evaluation.episodes
        if episodes:
            per_episode = EPISODE_BYTES + ROLLOUT_BYTES * (horizon + 1.0)
            parts.append(
                Part("evaluation.episodes", episodes * per_episode,
                     f"an evaluation holds its {episodes} episodes at once")
            )  # fmt: skip
    return parts


def _time_parts(scenario: Scenario, method: MethodConfig, index: int, work: _Work) -> list[Part]:
    field = _budget_field(work)
    parts = [
        Part(field, work.events * EVENT_SECONDS,
             f"{work.events:.3g} simulation events at least (method {method.key})")
    ]  # fmt: skip
    if _rollouts(scenario):
        parts.append(
            Part(field, work.gradients * TRANSITION_SECONDS,
                 f"{work.gradients:.3g} trajectories to roll out at least")
        )  # fmt: skip
        evaluation = scenario.evaluation
        if evaluation.episodes:
            every = 1 if evaluation.period is not None else evaluation.every
            evaluations = 1 + (work.updates - 1) // every
            parts.append(
                Part("evaluation.episodes", evaluations * evaluation.episodes * TRANSITION_SECONDS,
                     f"{evaluations:.3g} evaluations of {evaluation.episodes} episodes")
            )  # fmt: skip
    return parts


def _budget_field(work: _Work) -> str:
    return work.field


def _horizon_field(scenario: Scenario) -> str:
    return "oracle.horizon" if getattr(scenario.oracle, "horizon", None) else "cluster.horizon"


def _fold(parts: Iterable[Part]) -> tuple[Part, ...]:
    """Parts of the same field added up (the first one's words kept)."""
    by_field: dict[str, Part] = {}
    for part in parts:
        seen = by_field.get(part.field)
        by_field[part.field] = (
            part if seen is None else Part(seen.field, seen.amount + part.amount, seen.what)
        )
    return tuple(by_field.values())


def _fold_memory(parts: list[Part]) -> tuple[Part, ...]:
    """Persistent parts add up over methods; of transient ones, each field's largest counts."""
    persistent = _fold(p for p in parts if p.persistent)
    transient: dict[str, Part] = {}
    for part in parts:
        if not part.persistent and part.amount > transient.get(part.field, part).amount - 0:
            transient[part.field] = part
        transient.setdefault(part.field, part) if not part.persistent else None
    return (*persistent, *transient.values())


# ---------------------------------------------------------------- the refusals


def check(scenario: Scenario, where: str = "") -> Estimate:
    """Refuse ``scenario`` if it cannot finish here; return its estimate otherwise.

    Args:
        scenario: a validated scenario.
        where: prefix of the message (``sweep point cluster.n=8: ``).

    Raises:
        ResourceError: one line naming the field of the largest part, the part and the total.
    """
    try:
        _check_clock(scenario)
        result = estimate(scenario)
        _refuse_memory(max(result.memory, key=_amount), result.bytes)
        _refuse_time(max(result.time, key=_amount), result.seconds)
    except ResourceError as exc:
        if not where:
            raise
        raise ResourceError(where.rstrip(": "), str(exc)) from None
    return result


def _amount(part: Part) -> float:
    return part.amount


def _check_clock(scenario: Scenario) -> None:
    """A budget bounded only by simulated time that the clock can never reach."""
    budget = scenario.budget
    if any(v is not None for v in (budget.iterations, budget.gradients, budget.transitions)):
        return
    if budget.time is None or _slowest_cycle(scenario) != 0.0:
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
        f"{part.what}: at least {_size(part.amount)}; the run needs at least {_size(total)} "
        f"of memory, more than {source} ({_size(available)}); --force runs it anyway",
    )


def _refuse_time(part: Part, total: float) -> None:
    if total <= TIME_LIMIT:
        return
    raise ResourceError(
        part.field,
        f"{part.what}: at least {_duration(part.amount)}; the run needs at least "
        f"{_duration(total)} of real time, more than {_duration(TIME_LIMIT)}; "
        "--force runs it anyway",
    )


def check_sweep_size(axes: Mapping[str, list[Any]]) -> int:
    """Refuse a sweep of more than SWEEP_POINTS_LIMIT points; return its number of points.

    ``axes``: field path → values (as :func:`asyncsim.sweep.sweep_axes` returns them); the
    count is their product, known before any point is expanded.
    """
    points = math.prod(len(values) for values in axes.values())
    if points > SWEEP_POINTS_LIMIT:
        sizes = " × ".join(str(len(values)) for values in axes.values())
        raise ResourceError(
            "sweep",
            f"{points} points ({sizes}) are more than {SWEEP_POINTS_LIMIT}: expanding them "
            "alone takes minutes and gigabytes, and each writes a directory; split the sweep "
            "or use --force",
        )
    return points


# ---------------------------------------------------------------- words


def _size(amount: float) -> str:
    if not math.isfinite(amount):
        return "unbounded memory"
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if amount >= scale:
            return f"{amount / scale:.3g} {unit}"
    return f"{amount:.0f} B"


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "forever"
    for unit, scale in (("years", 365.25 * 86400), ("days", 86400), ("hours", 3600)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds:.3g} s"
