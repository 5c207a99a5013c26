"""Closed forms against results: the check of measured rounds against the exact forms, and the
ε-complexity shapes with their constants.

A scenario's per-agent times and each method's round bound, exact rounds and cost per gradient
are :mod:`asyncsim.scenario.closed_forms` (re-exported here: ``mean_times``, ``fixed_times``,
``method_bounds``, ``MethodBounds``). A protocol without a closed form simply gets ``None``, and
nothing downstream assumes one. Used by ``asyncsim bounds``, the figures and the theory check.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from asyncsim import theory
from asyncsim.scenario.closed_forms import MethodBounds, fixed_times, mean_times, method_bounds
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


# ---------------------------------------------------------------- measured rounds vs exact


@dataclass(frozen=True)
class _Checked:
    """Where a checked (or skipped) method's run comes from: its results (``source``) and the
    key of its point there."""

    source: str
    point: str


@dataclass(frozen=True)
class RoundCheck(_Checked):
    """Measured versus closed-form round times of one method at one point."""

    values: Mapping[str, Any]
    method: str
    protocol: str
    rounds: int
    max_rel_error: float
    mismatches: int
    count_mismatches: int
    worst_iteration: int | None


@dataclass(frozen=True)
class Skip(_Checked):
    """A (point, method) whose rounds were not checked, and why."""

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
