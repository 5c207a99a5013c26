"""Closed forms of a scenario: per-agent times → exact and bound round times, per-gradient
costs, ε-complexity shapes, and the check of measured rounds against the exact forms.

The formulas are in :mod:`asyncsim.theory`; which one applies to a method is its protocol's
record (:class:`~asyncsim.core.registry.ProtocolSpec`): a protocol without a closed form simply gets
``None`` here, and nothing downstream assumes one. Used by ``asyncsim bounds``, the figures and
the theory check.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from asyncsim import theory
from asyncsim.scenario.parts import build_cluster, vector_dimension
from asyncsim.scenario.schema import MethodConfig, Scenario
from asyncsim.store.run_data import RunResult

__all__ = [
    "CONSTANTS_MODES",
    "ROUND_TOLERANCE",
    "Constants",
    "MethodBounds",
    "RoundCheck",
    "Skip",
    "check_rounds",
    "constants_text",
    "epsilon",
    "fixed_times",
    "mean_times",
    "method_bounds",
    "shape_constants",
    "shape_table",
    "shape_value",
]

ROUND_TOLERANCE = 1e-9
"""Relative error above which a round time counts as a mismatch. The closed form is evaluated
with the same float operations as the simulator, so agreement is to a few ulps (≈1e-15); 1e-9
leaves room for any reordering of additions while still catching a wrong event or a wrong
agent (which change a round by at least the smallest τ_i or κ_i)."""


# ---------------------------------------------------------------- per-agent times


def _time_models(scenario: Scenario) -> dict[str, Any]:
    return build_cluster(scenario, vector_dimension(scenario), np.random.SeedSequence(0)).models


def mean_times(scenario: Scenario) -> theory.AgentTimes:
    """τ_i = mean h_i·H, mean κ_i and mean broadcast offsets b_i (0 on a topology that does not
    broadcast, such as allreduce).

    The one place that turns a scenario into the per-agent times of every closed form: the
    round times, the costs per gradient and the ε-complexity shapes all take τ_i = h_i·H, the
    seconds one gradient takes in the scenario, whatever the discount γ (docs/algorithms.md
    §5, "Which per-agent time")."""
    cluster, n = scenario.cluster, scenario.cluster.n
    models = _time_models(scenario)
    broadcasts = cluster.topology_spec.broadcasts
    tau = models["compute"].means(n) * scenario.horizon
    if cluster.network is not None:
        return _times_over_links(scenario, tau)
    offsets = models["downlink"].means(n) if broadcasts else np.zeros(n)
    return theory.AgentTimes(
        tau, models["uplink"].means(n), offsets, cluster.topology_spec, cluster.allreduce
    )


def _times_over_links(scenario: Scenario, tau: np.ndarray) -> theory.AgentTimes:
    """Times over shared links: b_i the arrivals of a broadcast to all n at once
    (:meth:`Links.broadcast_times`), κ_i an upload's time alone on its links."""
    cluster = scenario.cluster
    links = cluster.links(vector_dimension(scenario))
    if cluster.topology_spec.decentralized:  # a graph: its protocols time their own messages
        none = np.zeros(cluster.n)
        return theory.AgentTimes(tau, none, none, cluster.topology_spec, cluster.allreduce, links)
    broadcasts = cluster.topology_spec.broadcasts
    offsets = links.broadcast_times() if broadcasts else np.zeros(cluster.n)
    alone = links.alone_upload_times()
    return theory.AgentTimes(tau, alone, offsets, cluster.topology_spec, cluster.allreduce, links)


def fixed_times(scenario: Scenario) -> theory.AgentTimes | str:
    """The scenario's times if every one of them is fixed, else why rounds have no fixed
    closed form (random, time-varying or traced times, outages, per-step timing)."""
    cluster = scenario.cluster
    if cluster.timing == "per_step" and scenario.oracle.kind == "policy_gradient":
        return "per-step timing (τ depends on the episode length)"
    if cluster.outages:
        return "outages"
    if cluster.network is not None and cluster.network.traces:
        return "bandwidth traces (capacities vary)"
    for role, model in _time_models(scenario).items():
        if model.fixed_values() is None:
            return f"{getattr(cluster, role).kind} {role} times (not fixed)"
    return mean_times(scenario)


# ---------------------------------------------------------------- per method


@dataclass(frozen=True)
class MethodBounds:
    """The closed forms of one method of a scenario (None where its protocol has none).

    Attributes:
        round_bound: bound on one round after the first (Lemma C.1 / C.2 ...), mean times.
        first_round, round_time: exact t(M_init) and t(M) for fixed times.
        total: t(M_init) + T·t(M) when the budget is T iterations.
        gradient_cost: seconds per gradient: exact for fixed times (a round's time over its
            gradients, or the asynchronous steady state), else at the mean times.
    """

    round_bound: float | None
    first_round: float | None
    round_time: float | None
    total: float | None
    gradient_cost: float | None


def method_bounds(scenario: Scenario, method: MethodConfig) -> MethodBounds:
    """The closed forms of ``method`` in ``scenario``."""
    protocol, params = method.spec.protocol_spec, method.params
    fixed = fixed_times(scenario)
    times = fixed if isinstance(fixed, theory.AgentTimes) else mean_times(scenario)
    shared = times.links is not None  # the lemmas and the steady state are of private wires
    bound = protocol.round_bound(times, params, 1) if protocol.round_bound and not shared else None
    first = later = total = cost = None
    if protocol.exact_round is not None:
        first_round = protocol.exact_round(times, params, 0, 0.0)
        later_round = protocol.exact_round(times, params, 1, 0.0)
        if first_round is None or later_round is None:
            return MethodBounds(bound, None, None, None, None)
        cost = later_round.round_time / sum(later_round.counts)
        if isinstance(fixed, theory.AgentTimes):
            first, later = first_round.round_time, later_round.round_time
            iterations = _iterations_only(scenario)
            if iterations is not None:
                total = theory.total_time(first, later, iterations)
    elif protocol.gradient_cost is not None and not shared:
        cost = protocol.gradient_cost(times, params)
    return MethodBounds(bound, first, later, total, cost)


def _iterations_only(scenario: Scenario) -> int | None:
    """T when the budget is a pure iteration count (then total time = t(M_init) + T·t(M))."""
    budget = scenario.budget.model_dump(exclude_none=True)
    return scenario.budget.iterations if set(budget) == {"iterations"} else None


# ---------------------------------------------------------------- measured rounds vs exact


@dataclass(frozen=True)
class RoundCheck:
    """Measured versus closed-form round times of one method at one point."""

    source: str
    point: str
    values: Mapping[str, Any]
    method: str
    protocol: str
    rounds: int
    max_rel_error: float
    mismatches: int
    count_mismatches: int
    worst_iteration: int | None


@dataclass(frozen=True)
class Skip:
    """A (point, method) whose rounds were not checked, and why."""

    source: str
    point: str
    method: str
    reason: str


def _relative(measured: float, exact: float) -> float:
    """|measured − exact| / |exact| (the absolute error when exact is 0)."""
    error = abs(measured - exact)
    return error / abs(exact) if exact != 0 else error


def check_rounds(
    run: RunResult,
    tolerance: float = ROUND_TOLERANCE,
    source: str = "",
    point: str = "",
    values: Mapping[str, Any] | None = None,
) -> tuple[list[RoundCheck], list[Skip]]:
    """Compare every round of every method of ``run`` whose protocol has an exact round with it.

    Each round's closed form is evaluated at the round's *absolute* start (the broadcast
    reaches agent i at ``time_start + b_i``), so it repeats the simulator's float additions and
    its ties. A round is a mismatch when the relative error of its duration
    (``time_end − time_start``) or of its stop time exceeds ``tolerance``; a count mismatch
    when ``gradients_used`` ≠ Σ_i B_i or ``participants`` ≠ #{i : B_i > 0}.

    Returns:
        One RoundCheck per checked method, and one Skip per method that was not checked.
    """
    scenario = run.scenario
    times = fixed_times(scenario)
    checks, skips = [], []
    for method in scenario.methods:
        protocol = method.spec.protocol_spec
        if protocol.exact_round is None:
            skips.append(Skip(source, point, method.key, f"{protocol.name}: no exact round"))
            continue
        if isinstance(times, str):
            skips.append(Skip(source, point, method.key, times))
            continue
        rows = run.methods[method.key].rows
        exacts = [
            protocol.exact_round(times, method.params, row["iteration"], float(row["time_start"]))
            for row in rows
        ]
        if None in exacts:
            reason = f"{protocol.name}: no closed form over shared links (staggered uploads)"
            skips.append(Skip(source, point, method.key, reason))
            continue
        worst, worst_iteration, mismatches, counts_off = 0.0, None, 0, 0
        for row, exact in zip(rows, exacts, strict=True):
            start = float(row["time_start"])
            errors = [_relative(row["time_end"] - start, exact.round_time - start)]
            if row.get("stop_time") is not None:
                errors.append(_relative(row["stop_time"] - start, exact.stop_time - start))
            error = max(errors)
            if error > worst or worst_iteration is None:
                worst, worst_iteration = max(error, worst), row["iteration"]
            mismatches += error > tolerance
            participants = sum(count > 0 for count in exact.counts)
            counts_off += row.get("gradients_used") != sum(exact.counts) or (
                row.get("participants") is not None and row["participants"] != participants
            )
        checks.append(
            RoundCheck(
                source,
                point,
                dict(values or {}),
                method.key,
                protocol.name,
                len(rows),
                worst,
                mismatches,
                counts_off,
                worst_iteration,
            )
        )
    return checks, skips


# ---------------------------------------------------------------- ε-complexity shapes

Constants = Mapping[str, float] | Literal["oracle", "batch", "unit"]
CONSTANTS_MODES = {
    "oracle": "the oracle's own L_g, L_h, σ², Δ (a synthetic oracle's constants), those of "
    "'batch' for an oracle that does not know them (RL)",
    "batch": "L_g = Δ = 1, L_h = 0, σ² = M·ε²: the regime in which the scenario's batch M is "
    "the theory's best one",
    "unit": "all 1",
}
"""How the shapes' constants are chosen (a mapping gives them explicitly)."""


def epsilon(scenario: Scenario) -> float:
    """ε of the shapes: the target gradient norm, else 1 (return targets have no ε)."""
    return scenario.budget.target_grad_norm or 1.0


def _evaluate(
    name: str,
    times: theory.AgentTimes,
    eps: float,
    constants: Mapping[str, float],
    arguments: Mapping[str, Any],
) -> float:
    """Shape ``name`` at τ_i = h_i·H (:func:`mean_times`) and κ = max_i κ_i: the one
    evaluation behind every shape asyncsim prints or draws."""
    if name in theory.GRAPH_SHAPES:
        arguments = {**arguments, "graph": times.links}
    return theory.COMPLEXITY_SHAPES[name](times.tau, times.kappa, eps, **constants, **arguments)


def _shape_arguments(method: MethodConfig) -> dict[str, Any]:
    """The method's further shape arguments (m-Synchronous SGD: its m)."""
    protocol = method.spec.protocol_spec
    return protocol.shape_arguments(method.params) if protocol.shape_arguments else {}


def shape_value(
    scenario: Scenario, method: MethodConfig, eps: float, constants: Mapping[str, float]
) -> float | None:
    """The method's ε-complexity shape (None without one) at the scenario's mean times:
    τ_i = h_i·H (:func:`mean_times`) and κ = max_i κ_i."""
    name = method.spec.shape
    if name is None:
        return None
    return _evaluate(name, mean_times(scenario), eps, constants, _shape_arguments(method))


def shape_table(
    scenario: Scenario, eps: Sequence[float], constants: Mapping[str, float]
) -> list[tuple[str, list[float]]]:
    """Every shape of :data:`asyncsim.theory.COMPLEXITY_SHAPES` at each ε, as ``asyncsim
    bounds`` prints it: (row label, values); those of a graph (:data:`GRAPH_SHAPES`) only on
    one. A shape that takes further arguments (m of
    m-Synchronous SGD) gets one row per distinct value among the scenario's methods, labelled
    with it, and is evaluated at its default (m = n) when no method gives one."""
    times = mean_times(scenario)
    on_graph = scenario.cluster.topology_spec.decentralized
    rows = []
    for name in theory.COMPLEXITY_SHAPES:
        if name in theory.GRAPH_SHAPES and not on_graph:
            continue
        given = [_shape_arguments(m) for m in scenario.methods if m.spec.shape == name]
        variants = [a for i, a in enumerate(given) if a and a not in given[:i]] or [{}]
        for arguments in variants:
            values = ", ".join(f"{key} = {value}" for key, value in arguments.items())
            label = f"{name} ({values})" if values else name
            rows.append((label, [_evaluate(name, times, e, constants, arguments) for e in eps]))
    return rows


def shape_constants(scenario: Scenario, constants: Constants, cache: dict) -> dict[str, float]:
    """L_g, L_h, σ², Δ for the shapes (see :data:`CONSTANTS_MODES`); ``cache`` keeps the
    oracles' constants across scenarios."""
    if not isinstance(constants, str):
        return dict(constants)
    if constants not in CONSTANTS_MODES:
        raise ValueError(
            f"constants must be one of {list(CONSTANTS_MODES)} or a mapping, got {constants!r}"
        )
    if constants == "unit":
        return {}
    if constants == "batch" or getattr(scenario.oracle, "sigma2", None) is None:
        return _batch_constants(scenario)  # an oracle that does not know its constants (RL)
    key = json.dumps(scenario.oracle.model_dump(mode="json"), sort_keys=True)
    if key not in cache:
        oracle = scenario.oracle.build(scenario.cluster.n, np.random.SeedSequence(0))
        try:
            cache[key] = dict(getattr(oracle, "constants", {}) or {})
        finally:
            oracle.close()
    return cache[key] or _batch_constants(scenario)


def constants_text(values: Mapping[str, float], mode: Constants) -> str:
    """The shapes' constants for a reader: ``L_g = 5, ... (mode 'oracle': ...)``."""
    shown = ", ".join(f"{key} = {value:.4g}" for key, value in values.items()) or "all 1"
    if not isinstance(mode, str):
        return f"{shown} (given)"
    return f"{shown} (mode '{mode}': {CONSTANTS_MODES[mode]})"


def _batch_constants(scenario: Scenario) -> dict[str, float]:
    """L_g = Δ = 1, L_h = 0 and σ² = M·ε²: the shapes of a problem for which the scenario's
    batch M (of its first method with a batch, else n) is the theory's best one (the Rennala
    shape's minimizing m is then ≈ M)."""
    batch = next(
        (m.params.batch for m in scenario.methods if getattr(m.params, "batch", None)),
        scenario.cluster.n,
    )
    return {"L_g": 1.0, "L_h": 0.0, "sigma2": batch * epsilon(scenario) ** 2, "delta": 1.0}
