"""Theory check: measured round times and time-to-target scaling against asyncsim.theory.

Usage::

    python -m analysis.theory_check SWEEP_DIR_or_RUN_DIR... --out report.md

writes a markdown report (and ``scaling_*.png/pdf`` figures next to it) with two parts:

1. **Round times** (SPEC §3, §5). For every point and every round-based method (Rennala,
   Malenia, Synchronized) whose times are fixed, each round of ``iterations.csv`` is compared
   with the exact closed form of :mod:`asyncsim.theory` (``rennala_collection_exact``,
   ``malenia_collection_exact``, ``synchronized_round_time``) evaluated at the round's
   *absolute* start: the broadcast reaches agent i at ``time_start + b_i``, so the closed form
   repeats the simulator's float additions and reproduces its tie-breaking exactly (see
   tests/test_engine_exact.py). The relative error of the round duration (and of the stop time)
   must stay below 1e-9; the number of gradients used and of participants must match the
   closed form's counts B_i. Asynchronous methods have no rounds, and random, time-varying or
   traced times, outages and per-step timing have no fixed closed form: those are skipped with
   a note.
2. **Scaling** (SPEC §5, ε-complexities). For sweeps over ``cluster.n`` or over
   ``cluster.compute.h = i**α``, each method's time to target is compared with its shape in
   ``theory.COMPLEXITY_SHAPES`` (Rennala: harmonic-like, Malenia: mean-like, Synchronized:
   max-like, AFedPG: the Table 1 bound), evaluated with h = τ_i = mean h_i·H and κ = max_i κ_i.
   One constant per method is fitted by least squares in log space, c = exp(mean(log measured
   − log shape)) over all reached runs (as :func:`asyncsim.plots.plot_scaling` does). Reported:
   the agreement max_x |log(measured_x / (c·shape_x))| with measured_x the geometric mean over
   seeds, Spearman's rank correlation, the trend of both curves, and a verdict line.

The shapes' constants (L_g, L_h, σ², Δ) are by default those the synthetic oracle knows about
itself (``NonconvexOracle.constants``). Where the oracle does not know them (RL) they are set
so that the scenario's batch M is the theory's best one: L_g = Δ = 1, L_h = 0, σ² = M·ε²
(:data:`CONSTANTS_MODES`); with all constants 1 instead, the Rennala shape's best batch would be
m ≈ 1 and it would be flat in n whatever M the scenario uses.

Tolerances (justified where they are defined): :data:`ROUND_TOLERANCE`,
:data:`AGREEMENT_TOLERANCE`, :data:`TREND_TOLERANCE`.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from asyncsim import theory
from asyncsim.config import Scenario, build_time_model
from asyncsim.methods.registry import METHODS
from asyncsim.plots import gradient_times, plot_scaling
from asyncsim.results import is_complete, load_run
from asyncsim.runner import RunResult, vector_dimension
from asyncsim.sweep import read_index

__all__ = [
    "AGREEMENT_TOLERANCE",
    "ROUND_TOLERANCE",
    "TREND_TOLERANCE",
    "FixedRoundTimes",
    "Point",
    "RoundCheck",
    "ScalingFit",
    "Skip",
    "TheoryReport",
    "axis_value",
    "check_rounds",
    "classify_trend",
    "fit_constant",
    "fit_scaling",
    "fixed_round_times",
    "load_points",
    "main",
    "max_log_deviation",
    "rank_correlation",
    "render_report",
    "theory_check",
]

ROUND_TOLERANCE = 1e-9
"""Relative error above which a round time counts as a mismatch. The closed form is evaluated
with the same float operations as the simulator, so agreement is to a few ulps (≈1e-15); 1e-9
leaves room for any reordering of additions while still catching a wrong event or a wrong
agent (which change a round by at least the smallest τ_i or κ_i)."""

AGREEMENT_TOLERANCE = math.log(1.5)
"""Largest acceptable max_x |log(measured_x / (c·shape_x))|: a factor of 1.5. The shapes drop all
O-constants and logs and are built on the round-time *bounds* (Lemmas C.1, C.2), so even a
perfect simulation deviates from them: with a constant iteration count, the exact round times
of the synthetic sweeps differ from the fitted shapes by at most 0.12 (Rennala NIGT, n =
1..1024, h_i = √i, M = 16), 0.36 (Malenia NIGT: its bound counts the mean term twice) and
≤ 0.08 (α = 0..2), computed from asyncsim.theory alone. 0.405 covers these, while a wrong
family is rejected: the Rennala measurements against the max-like shape deviate by 0.67 on
the five points n = 1, 4, ..., 256 and by more than 1 on n = 1..1024."""

TREND_TOLERANCE = math.log(1.5)
"""Changes of log time smaller than this (a factor 1.5) count as flat when a curve's trend is
classified: between consecutive points of a sweep the seed noise stays below it, while the
trends the theory predicts (√n growth from n = 256 to 1024 is a factor 2) exceed it."""

SCALING_AXES = {"cluster.n": "n", "cluster.compute.h": "α"}
"""Swept fields whose scaling is compared with theory, and their parameter symbol."""

SHAPE_OF_PROTOCOL = {
    "rennala": "rennala_nigt",
    "malenia": "malenia_nigt",
    "synchronized": "synchronized_nigt",
    "asynchronous": "afedpg",
}
FAMILY = {
    "rennala_nigt": "harmonic-like",
    "malenia_nigt": "mean-like",
    "synchronized_nigt": "max-like",
    "afedpg": "Table 1 bound",
}
ROUND_PROTOCOLS = ("rennala", "malenia", "synchronized")
_CHECK, _CROSS = "✓", "✗"


# ---------------------------------------------------------------- loading


@dataclass(frozen=True)
class Point:
    """One finished run: where it came from, its swept values (seed included) and its data."""

    source: str
    key: str
    values: Mapping[str, Any]
    run: RunResult


def load_points(path: str | Path, source: str | None = None) -> tuple[list[Point], list[str]]:
    """The finished runs of a sweep directory (``index.csv`` + ``points/<hash>``) or of one run
    directory, and notes about points that are not finished (failed or pending).

    Args:
        path: The directory.
        source: Name of the directory in the report (default: its last component).

    Raises:
        FileNotFoundError: ``path`` is neither a sweep directory nor a finished run directory.
    """
    path = Path(path)
    source = source or path.name or str(path)
    if (path / "index.csv").is_file():
        points, notes = [], []
        cache: dict[str, RunResult] = {}
        for row in read_index(path):
            values = {k: v for k, v in row.items() if k not in ("hash", "status", "error")}
            directory = path / "points" / row["hash"]
            if row.get("status") != "done" or not is_complete(directory):
                notes.append(
                    f"{source}: point {row['hash']} {_values_text(values)} is "
                    f"{row.get('status') or 'missing'}; skipped"
                )
                continue
            if row["hash"] not in cache:
                cache[row["hash"]] = load_run(directory)
            points.append(Point(source, row["hash"], values, cache[row["hash"]]))
        return points, notes
    if is_complete(path):
        return [Point(source, source, {}, load_run(path))], []
    raise FileNotFoundError(f"{path}: neither a sweep directory (index.csv) nor a finished run")


def _values_text(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items())


def _protocol(scenario: Scenario, key: str) -> tuple[str, str]:
    """(registry name, protocol) of the method whose output key is ``key``."""
    method = next(m for m in scenario.methods if m.key == key)
    return method.name, METHODS[method.name].protocol


def _batches(scenario: Scenario, key: str) -> tuple[int, int]:
    """(M_init, M) as the runner defaults them (M = n, M_init = M)."""
    method = next(m for m in scenario.methods if m.key == key)
    batch = method.batch or scenario.cluster.n
    return method.initial_batch or batch, batch


def _display_name(name: str) -> str:
    """'Rennala NIGT' for 'rennala_nigt' (the registry description up to its first bracket)."""
    description = METHODS[name].description if name in METHODS else name
    return re.split(r" \(|,", description)[0]


# ---------------------------------------------------------------- (1) round times


@dataclass(frozen=True)
class FixedRoundTimes:
    """Per-agent fixed times of a scenario, as the closed forms take them (agents 0-based)."""

    tau: np.ndarray
    uplink: np.ndarray
    offsets: np.ndarray
    topology: str
    allreduce: str


def fixed_round_times(scenario: Scenario) -> FixedRoundTimes | str:
    """τ_i = h_i·H, κ_i and the broadcast offsets b_i (0 under AllReduce) if every time of the
    scenario is fixed; otherwise the reason why rounds have no fixed closed form."""
    cluster = scenario.cluster
    if cluster.timing == "per_step":
        return "per-step timing (τ depends on the episode length)"
    if cluster.outages:
        return "outages"
    dim = vector_dimension(scenario)
    models = {
        "compute": build_time_model(cluster.compute, cluster.n, "cluster.compute", "compute"),
        "uplink": build_time_model(
            cluster.uplink, cluster.n, "cluster.uplink", "communication", dim
        ),
    }
    downlink = cluster.downlink or cluster.uplink
    models["downlink"] = build_time_model(
        downlink, cluster.n, "cluster.downlink", "communication", dim
    )
    fixed = {role: model.fixed_values() for role, model in models.items()}
    for role, values in fixed.items():
        if values is None:
            kind = {"compute": cluster.compute, "uplink": cluster.uplink}.get(role, downlink).kind
            return f"{kind} {role} times (not fixed)"
    offsets = fixed["downlink"] if cluster.topology == "server" else np.zeros(cluster.n)
    return FixedRoundTimes(
        np.asarray(fixed["compute"], dtype=float) * scenario.horizon,
        np.asarray(fixed["uplink"], dtype=float),
        np.asarray(offsets, dtype=float),
        cluster.topology,
        cluster.allreduce,
    )


def _exact_round(
    protocol: str, times: FixedRoundTimes, batch: int, start: float
) -> theory.Collection:
    """The closed form of one round that starts (broadcast sent) at absolute time ``start``."""
    offsets = start + times.offsets
    args = (offsets, times.uplink, times.topology, times.allreduce)
    if protocol == "rennala":
        return theory.rennala_collection_exact(times.tau, batch, *args)
    if protocol == "malenia":
        return theory.malenia_collection_exact(times.tau, batch, *args)
    ready = offsets + times.tau
    end = theory.synchronized_round_time(times.tau, *args)
    return theory.Collection(float(ready.max()), (1,) * times.tau.size, end)


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
    """Compare every round of every round-based method of ``run`` with its closed form.

    A round is a mismatch when the relative error of its duration (``time_end − time_start``)
    or of its stop time (``stop_time − time_start``) exceeds ``tolerance``; a count mismatch when
    ``gradients_used`` ≠ Σ_i B_i or ``participants`` ≠ #{i : B_i > 0} of the closed form.

    Returns:
        One RoundCheck per checked method, and one Skip per method that was not checked.
    """
    scenario = run.scenario
    times = fixed_round_times(scenario)
    checks, skips = [], []
    for key, result in run.methods.items():
        protocol = _protocol(scenario, key)[1]
        if protocol not in ROUND_PROTOCOLS:
            skips.append(Skip(source, point, key, "asynchronous: no rounds"))
            continue
        if isinstance(times, str):
            skips.append(Skip(source, point, key, times))
            continue
        initial, batch = _batches(scenario, key)
        worst, worst_iteration, mismatches, counts_off = 0.0, None, 0, 0
        for row in result.rows:
            start = float(row["time_start"])
            exact = _exact_round(
                protocol, times, initial if row["iteration"] == 0 else batch, start
            )
            errors = [_relative(row["time_end"] - start, exact.round_time - start)]
            if row.get("stop_time") is not None:
                errors.append(_relative(row["stop_time"] - start, exact.stop_time - start))
            error = max(errors)
            if error > worst or worst_iteration is None:
                worst, worst_iteration = max(error, worst), row["iteration"]
            mismatches += error > tolerance
            used = sum(exact.counts)
            participants = sum(count > 0 for count in exact.counts)
            counts_off += row.get("gradients_used") != used or (
                row.get("participants") is not None and row["participants"] != participants
            )
        checks.append(
            RoundCheck(
                source,
                point,
                dict(values or {}),
                key,
                protocol,
                len(result.rows),
                worst,
                mismatches,
                counts_off,
                worst_iteration,
            )
        )
    return checks, skips


# ---------------------------------------------------------------- (2) scaling


_POWER = re.compile(r"^i\s*\*\*\s*\(?\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*\)?$")


def axis_value(axis: str, value: Any) -> float | None:
    """The parameter of a swept value: n for ``cluster.n``, α for ``cluster.compute.h = i**α``
    (``sqrt(i)`` → 0.5, ``i`` → 1, a constant → 0); None when it is not of that form."""
    if axis == "cluster.compute.h":
        if isinstance(value, int | float):
            return 0.0
        text = str(value).replace(" ", "")
        match = _POWER.match(text)
        return {"sqrt(i)": 0.5, "i": 1.0}.get(text, float(match[1]) if match else None)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def classify_trend(values: Sequence[float], tol: float = TREND_TOLERANCE) -> str:
    """Shape of a positive curve ordered by its parameter, read on a log scale.

    The tail is the last max(2, ⌈len/4⌉) points: it ``grows`` or ``decreases`` when its log
    change exceeds ``tol``, else the curve ``saturates``. The head is compared with the extremes
    before the tail. Returns one of "decreases, then saturates", "grows, then saturates",
    "flat", "grows", "decreases, then grows", "decreases", "grows, then decreases", or
    "too few points" (fewer than 3).
    """
    r = np.log(np.asarray(values, dtype=float))
    if r.size < 3:
        return "too few points"
    k = max(2, math.ceil(r.size / 4))
    change = r[-1] - r[-k]
    body = r[: r.size - k + 1]
    drop, rise = r[0] - body.min(), body.max() - r[0]
    if change > tol:
        return "decreases, then grows" if drop > tol else "grows"
    if change < -tol:
        return "grows, then decreases" if rise > tol else "decreases"
    if drop > tol and drop >= rise:
        return "decreases, then saturates"
    if rise > tol:
        return "grows, then saturates"
    return "flat"


def _tail(trend: str) -> str:
    """What a trend does at its end: grows, decreases or saturates (flat)."""
    last = trend.split(", then ")[-1]
    return "saturates" if last == "flat" else last


def _ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties given their average rank."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(values.size)
    ranks[order] = np.arange(1, values.size + 1)
    for value in np.unique(values):
        tied = values == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def rank_correlation(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman's ρ (Pearson correlation of average ranks); NaN if a side is constant."""
    x, y = _ranks(np.asarray(a, dtype=float)), _ranks(np.asarray(b, dtype=float))
    if x.size < 2 or x.std() == 0 or y.std() == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def fit_constant(measured: Sequence[float], shape: Sequence[float]) -> float:
    """Least squares in log space: c = exp(mean(log measured − log shape)); NaN if empty."""
    if not len(measured):
        return float("nan")
    return float(np.exp(np.mean(np.log(measured) - np.log(shape))))


def max_log_deviation(
    measured: Sequence[float], shape: Sequence[float], constant: float | None = None
) -> float:
    """max |log(measured / (c·shape))|, with c fitted by :func:`fit_constant` unless given."""
    c = fit_constant(measured, shape) if constant is None else constant
    return float(np.max(np.abs(np.log(measured) - np.log(c * np.asarray(shape, dtype=float)))))


@dataclass
class ScalingFit:
    """One method's measured time to target along one swept parameter, against its shape."""

    source: str
    axis: str
    group: Mapping[str, Any]
    method: str
    name: str
    shape: str
    x: list[float]
    measured: list[float | None]
    theory: list[float]
    runs: int
    reached: int
    censored_x: list[float]
    constant: float
    max_log_dev: float
    rank_correlation: float
    trend_measured: str
    trend_theory: str
    tolerance: float = AGREEMENT_TOLERANCE
    constants: Mapping[str, float] = field(default_factory=dict)
    figure: Path | None = field(default=None, compare=False)

    @property
    def parameter(self) -> str:
        """The parameter symbol (n or α)."""
        return SCALING_AXES.get(self.axis, self.axis)

    @property
    def enough(self) -> bool:
        """At least 3 parameter values where the target was reached."""
        return sum(m is not None for m in self.measured) >= 3

    @property
    def trend_ok(self) -> bool:
        """The measured curve ends like the theory's (saturates / grows / decreases)."""
        return self.enough and _tail(self.trend_measured) == _tail(self.trend_theory)

    @property
    def fit_ok(self) -> bool:
        """max |log(measured / fit)| within the tolerance."""
        return self.enough and self.max_log_dev <= self.tolerance

    @property
    def verdict(self) -> bool | None:
        """Both the trend and the fit agree; None with fewer than 3 reached parameter values."""
        return (self.trend_ok and self.fit_ok) if self.enough else None

    def line(self) -> str:
        """The verdict line, e.g. 'Rennala NIGT: harmonic-like (decreases, then saturates with
        n) ✓ — ...'."""
        family = FAMILY.get(self.shape, self.shape)
        head = f"{_display_name(self.name)}: {family}"
        if not self.enough:
            return (
                f"{head}: n/a — target reached at {self.reached}/{self.runs} runs, fewer "
                f"than 3 values of {self.parameter}{self._censored_note()}"
            )
        mark = _CHECK if self.verdict else _CROSS
        relation = "≤" if self.fit_ok else ">"
        return (
            f"{head} ({self.trend_measured} with {self.parameter}) {mark} — theory: "
            f"{self.trend_theory} (trend {_CHECK if self.trend_ok else _CROSS}); "
            f"fit c = {self.constant:.3g}, max |log(measured/fit)| = {self.max_log_dev:.2f} "
            f"{relation} {self.tolerance:.2f} (fit {_CHECK if self.fit_ok else _CROSS}), "
            f"ρ = {self.rank_correlation:.2f}{self._censored_note()}"
        )

    def _censored_note(self) -> str:
        if not self.censored_x:
            return ""
        values = ", ".join(f"{x:g}" for x in self.censored_x)
        return f"; target not reached at {self.parameter} = {values} (censored, not fitted)"


Constants = Mapping[str, float] | str
CONSTANTS_MODES = {
    "oracle": "the synthetic oracle's own L_g, L_h, σ², Δ (NonconvexOracle.constants); "
    "'batch' for oracles that do not know theirs (RL)",
    "batch": "L_g = Δ = 1, L_h = 0, σ² = M·ε²: the regime in which the scenario's batch M is "
    "the theory's best one",
    "unit": "all 1",
}
"""How the shapes' constants are chosen (a mapping gives them explicitly)."""


def _shape_constants(scenario: Scenario, constants: Constants, cache: dict) -> dict[str, float]:
    """L_g, L_h, σ², Δ for the shapes (see :data:`CONSTANTS_MODES`)."""
    if not isinstance(constants, str):
        return dict(constants)
    if constants not in CONSTANTS_MODES:
        raise ValueError(f"constants must be one of {list(CONSTANTS_MODES)} or a mapping, "
                         f"got {constants!r}")  # fmt: skip
    if constants == "unit":
        return {}
    if constants == "batch" or scenario.oracle.kind == "policy_gradient":
        return _batch_constants(scenario)
    key = json.dumps(scenario.oracle.model_dump(mode="json"), sort_keys=True)
    if key not in cache:
        from asyncsim.oracles import build_oracle

        oracle = build_oracle(scenario.oracle, scenario.cluster.n, np.random.SeedSequence(0))
        try:
            cache[key] = dict(getattr(oracle, "constants", {}) or {})
        finally:
            oracle.close()
    return cache[key] or _batch_constants(scenario)


def _batch_constants(scenario: Scenario) -> dict[str, float]:
    """L_g = Δ = 1, L_h = 0 and σ² = M·ε²: the shapes of a problem for which the scenario's
    batch M (of its first Rennala or Malenia method, else n) is the theory's best one (the
    Rennala shape's minimizing m is then ≈ M)."""
    batch = scenario.cluster.n
    for method in scenario.methods:
        if METHODS[method.name].protocol in ("rennala", "malenia"):
            batch = method.batch or scenario.cluster.n
            break
    return {"L_g": 1.0, "L_h": 0.0, "sigma2": batch * _epsilon(scenario) ** 2, "delta": 1.0}


def _epsilon(scenario: Scenario) -> float:
    """ε of the shapes: the target gradient norm, else 1 (return targets have no ε)."""
    return scenario.budget.target_grad_norm or 1.0


def _has_target(scenario: Scenario) -> bool:
    budget = scenario.budget
    return budget.target_grad_norm is not None or budget.target_return is not None


def _measured(run: RunResult, key: str) -> float | None:
    """Time to target; None when a target was set and not reached; total time without one."""
    summary = run.methods[key].summary
    if _has_target(run.scenario):
        reached = summary.get("time_to_target")
        return None if reached is None else float(reached)
    return float(summary["total_time"])


def _kappa(scenario: Scenario) -> float:
    """κ = max_i of the mean uplink times."""
    cluster = scenario.cluster
    model = build_time_model(
        cluster.uplink, cluster.n, "cluster.uplink", "communication", vector_dimension(scenario)
    )
    return float(model.means(cluster.n).max())


def fit_scaling(
    points: Sequence[Point],
    axis: str,
    constants: Constants = "oracle",
    tolerance: float = AGREEMENT_TOLERANCE,
) -> list[ScalingFit]:
    """Fit every method's shape to its measured time to target along ``axis``.

    Points are grouped by the swept fields other than ``axis`` and ``seed``; each group and
    method gives one :class:`ScalingFit`. Runs that did not reach their target are censored:
    listed, not fitted.
    """
    cache: dict = {}
    groups: dict[str, list[tuple[float, Point]]] = defaultdict(list)
    for point in points:
        x = axis_value(axis, point.values.get(axis))
        if x is None:
            continue
        rest = {k: v for k, v in point.values.items() if k not in (axis, "seed")}
        groups[json.dumps(rest, sort_keys=True, default=str)].append((x, point))
    fits = []
    for group_key, members in groups.items():
        keys = list(dict.fromkeys(key for _, p in members for key in p.run.methods))
        for key in keys:
            chosen = [(x, p) for x, p in members if key in p.run.methods]
            fits.append(
                _fit_one(chosen, axis, json.loads(group_key), key, constants, tolerance, cache)
            )
    return fits


def _fit_one(
    chosen: Sequence[tuple[float, Point]],
    axis: str,
    group: Mapping[str, Any],
    key: str,
    constants: Constants,
    tolerance: float,
    cache: dict,
) -> ScalingFit:
    scenario0 = chosen[0][1].run.scenario
    name, protocol = _protocol(scenario0, key)
    shape_name = SHAPE_OF_PROTOCOL[protocol]
    shape_of = theory.COMPLEXITY_SHAPES[shape_name]
    by_x: dict[float, list[float | None]] = defaultdict(list)
    shape_at: dict[float, float] = {}
    consts: dict[str, float] = {}
    for x, point in chosen:
        scenario = point.run.scenario
        by_x[x].append(_measured(point.run, key))
        if x not in shape_at:
            consts = _shape_constants(scenario, constants, cache)
            shape_at[x] = shape_of(
                gradient_times(scenario), _kappa(scenario), _epsilon(scenario), **consts
            )
    xs = sorted(by_x)
    reached = [(x, m) for x in xs for m in by_x[x] if m is not None]
    measured: list[float | None] = []
    for x in xs:
        values = [m for m in by_x[x] if m is not None]
        measured.append(float(np.exp(np.mean(np.log(values)))) if values else None)
    theory_values = [shape_at[x] for x in xs]
    constant = fit_constant([m for _, m in reached], [shape_at[x] for x, _ in reached])
    kept = [(x, m, shape_at[x]) for x, m in zip(xs, measured, strict=True) if m is not None]
    if kept:
        max_dev = max_log_deviation([m for _, m, _ in kept], [s for _, _, s in kept], constant)
        rho = rank_correlation([m for _, m, _ in kept], [s for _, _, s in kept])
        trend_measured = classify_trend([m for _, m, _ in kept])
        trend_theory = classify_trend([s for _, _, s in kept])
    else:
        max_dev, rho = float("inf"), float("nan")
        trend_measured = trend_theory = "too few points"
    censored = [x for x in xs if any(m is None for m in by_x[x])]
    return ScalingFit(
        source=chosen[0][1].source,
        axis=axis,
        group=group,
        method=key,
        name=name,
        shape=shape_name,
        x=xs,
        measured=measured,
        theory=theory_values,
        runs=sum(len(v) for v in by_x.values()),
        reached=len(reached),
        censored_x=censored,
        constant=constant,
        max_log_dev=max_dev,
        rank_correlation=rho,
        trend_measured=trend_measured,
        trend_theory=trend_theory,
        tolerance=tolerance,
        constants=consts,
    )


def _scaling_figure(
    points: Sequence[Point],
    axis: str,
    group: Mapping[str, Any],
    constants: Constants,
    out: Path,
) -> Path:
    """plot_scaling of one group: reached runs only (censored runs would be drawn at their
    budget's end and pull the fitted line); returns the PNG path."""
    cache: dict = {}
    chosen = []
    for point in points:
        x = axis_value(axis, point.values.get(axis))
        rest = {k: v for k, v in point.values.items() if k not in (axis, "seed")}
        if x is None or json.dumps(rest, sort_keys=True, default=str) != json.dumps(
            dict(group), sort_keys=True, default=str
        ):
            continue
        run = point.run
        kept = {k: m for k, m in run.methods.items() if _measured(run, k) is not None}
        chosen.append((x, RunResult(run.scenario, kept)))
    scenario = chosen[0][1].scenario
    plot_scaling(
        chosen,
        _parameter_label(axis),
        eps=_epsilon(scenario),
        constants=_shape_constants(scenario, constants, cache),
        out=out,
    )
    return out.with_name(out.name + ".png")


def _parameter_label(axis: str) -> str:
    if axis == "cluster.compute.h":
        return "heterogeneity exponent α (h_i = i^α)"
    return "number of agents n" if axis == "cluster.n" else axis


# ---------------------------------------------------------------- the report


@dataclass
class TheoryReport:
    """Everything the report states; ``markdown`` is its text."""

    sources: list[str]
    round_checks: list[RoundCheck]
    skips: list[Skip]
    fits: list[ScalingFit]
    notes: list[str]
    constants: Constants
    tolerance: float
    agreement: float = AGREEMENT_TOLERANCE
    figures: list[Path] = field(default_factory=list)
    markdown: str = ""

    @property
    def mismatches(self) -> int:
        """Rounds whose time differs from the closed form by more than the tolerance."""
        return sum(check.mismatches for check in self.round_checks)

    @property
    def count_mismatches(self) -> int:
        """Rounds whose gradient or participant counts differ from the closed form."""
        return sum(check.count_mismatches for check in self.round_checks)

    @property
    def rounds_checked(self) -> int:
        """Number of rounds compared with a closed form."""
        return sum(check.rounds for check in self.round_checks)

    def fit(self, method: str, axis: str = "cluster.n", source: str | None = None) -> ScalingFit:
        """The first fit of a method key along an axis (optionally of one source)."""
        for candidate in self.fits:
            wanted = source is None or candidate.source == source
            if candidate.method == method and candidate.axis == axis and wanted:
                return candidate
        raise KeyError(f"no scaling fit for {method!r} along {axis!r}")


def theory_check(
    paths: Iterable[str | Path],
    out: str | Path | None = None,
    tolerance: float = ROUND_TOLERANCE,
    constants: Constants = "oracle",
    agreement: float = AGREEMENT_TOLERANCE,
    figures: bool = True,
) -> TheoryReport:
    """Check sweep or run directories against the theory; write the report if ``out`` is given.

    Args:
        paths: Sweep directories (``index.csv``) or finished run directories.
        out: Markdown file to write; the figures go next to it (when ``figures``).
        tolerance: Relative round-time error counted as a mismatch.
        constants: Shape constants: ``"oracle"``, ``"unit"`` or a mapping (see module doc).
        agreement: Tolerance on max |log(measured/fit)|.
        figures: Write ``scaling_*`` figures with :func:`asyncsim.plots.plot_scaling`.

    Returns:
        The report (``markdown`` holds its text).
    """
    report = TheoryReport([], [], [], [], [], constants, tolerance, agreement)
    per_source: list[tuple[str, list[Point]]] = []
    for path in paths:
        source = Path(path).name or str(path)
        if source in dict(per_source):  # two directories of the same name: use the full path
            source = str(path)
        points, notes = load_points(path, source)
        report.sources.append(str(path))
        report.notes += notes
        per_source.append((source, points))
        seen: set[str] = set()
        for point in points:
            if point.key in seen:
                continue
            seen.add(point.key)
            checks, skips = check_rounds(point.run, tolerance, source, point.key, point.values)
            report.round_checks += checks
            report.skips += skips
        axes = [axis for axis in SCALING_AXES if any(axis in p.values for p in points)]
        for axis in axes:
            report.fits += fit_scaling(points, axis, constants, agreement)
    if out is not None and figures:
        directory = Path(out).parent
        directory.mkdir(parents=True, exist_ok=True)
        sources = dict(per_source)
        figures_of: dict[tuple[str, str, str], Path] = {}
        for fit in report.fits:  # one figure per (source, axis, other swept values)
            key = (fit.source, fit.axis, _group_text(fit.group))
            if key not in figures_of:
                name = _slug(f"scaling_{fit.source}_{SCALING_AXES[fit.axis]}_{key[2]}")
                figures_of[key] = _scaling_figure(
                    sources[fit.source], fit.axis, fit.group, constants, directory / name
                )
                report.figures.append(figures_of[key])
            fit.figure = figures_of[key]
    report.markdown = render_report(report, Path(out).parent if out is not None else None)
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(report.markdown, encoding="utf-8")
    return report


def _slug(text: str) -> str:
    text = text.replace("α", "alpha")
    return re.sub(r"[^A-Za-z0-9._=,-]+", "_", text).strip("_")


def _group_text(group: Mapping[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in group.items())


def _fmt(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return f"{value:.{digits}g}"


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines


def render_report(report: TheoryReport, figure_dir: Path | None = None) -> str:
    """The markdown text of ``report`` (figure links relative to ``figure_dir``)."""
    lines = ["# Theory check: measured versus closed forms", ""]
    lines += ["Sources: " + ", ".join(f"`{s}`" for s in report.sources), ""]
    lines += _summary_section(report)
    lines += _round_section(report)
    lines += _scaling_section(report, figure_dir)
    if report.notes:
        lines += ["## Notes", "", *(f"- {note}" for note in report.notes), ""]
    return "\n".join(lines) + "\n"


def _summary_section(report: TheoryReport) -> list[str]:
    mark = _CHECK if not (report.mismatches or report.count_mismatches) else _CROSS
    lines = [
        "## Summary",
        "",
        f"- Round times: {report.rounds_checked} rounds of "
        f"{len({(c.source, c.point) for c in report.round_checks})} points compared with the "
        f"exact closed forms: **{report.mismatches} mismatches** above {report.tolerance:g} "
        f"(max relative error {_max_error(report):.2e}), {report.count_mismatches} count "
        f"mismatches {mark}",
    ]
    for fit in report.fits:
        lines.append(f"- `{fit.source}`, scaling in {fit.parameter}: {fit.line()}")
    lines += [
        "",
        "Reading the verdicts: ✓ needs both the measured trend at the end of the sweep "
        "(saturates / grows / decreases) to be the shape's and the fit to agree within a "
        f"factor {math.exp(report.agreement):.3g}. A trend ✓ with a fit ✗ means the family is "
        "right but the shape's "
        "worst-case terms, with all O-constants set to 1, do not match the simulated regime "
        "point by point (e.g. the σ²√L_h Δ/(n ε^{7/2}) noise term of Synchronized NIGT "
        "assumes a step and momentum tuned to ε, while the runs use the paper's fixed "
        "η = 0.1). AFedPG's shape is the paper's Table 1 *upper* bound, not expected to be "
        "tight; its censored points (target not reached within the budget) are listed and "
        "left out of the fit.",
        "",
    ]
    return lines


def _max_error(report: TheoryReport) -> float:
    return max((c.max_rel_error for c in report.round_checks), default=0.0)


def _round_section(report: TheoryReport) -> list[str]:
    lines = ["## 1. Round times versus the exact closed forms", ""]
    lines += [
        f"Every round of Rennala, Malenia and Synchronized NIGT at every point with fixed times "
        f"is compared with `theory.rennala_collection_exact`, `malenia_collection_exact` and "
        f"`synchronized_round_time`, evaluated at the round's absolute start (broadcast arrival "
        f"`time_start + b_i`), which reproduces the simulator's float ties. Mismatch: relative "
        f"error of the round duration or stop time > {report.tolerance:g}; count mismatch: "
        f"gradients used or participants differ from the closed form's B_i.",
        "",
        f"**Total: {report.rounds_checked} rounds checked, {report.mismatches} time mismatches, "
        f"{report.count_mismatches} count mismatches.**",
        "",
    ]
    summary: dict[tuple[str, str], list[RoundCheck]] = defaultdict(list)
    for check in report.round_checks:
        summary[check.source, check.method].append(check)
    rows = []
    for (source, method), checks in summary.items():
        rows.append(
            [
                source,
                method,
                len(checks),
                sum(c.rounds for c in checks),
                f"{max(c.max_rel_error for c in checks):.2e}",
                sum(c.mismatches for c in checks),
                sum(c.count_mismatches for c in checks),
            ]
        )
    headers = [
        "source",
        "method",
        "points",
        "rounds",
        "max rel. error",
        "mismatches > tol",
        "count mismatches",
    ]
    lines += [*_table(headers, rows), ""]
    skipped: dict[tuple[str, str, str], int] = defaultdict(int)
    for skip in report.skips:
        skipped[skip.source, skip.method, skip.reason] += 1
    if skipped:
        lines += ["Not checked (no fixed closed form):", ""]
        lines += [
            f"- `{source}` {method}: {reason} ({count} point{'s' * (count > 1)})"
            for (source, method, reason), count in skipped.items()
        ]
        lines += [""]
    if report.round_checks:
        lines += ["<details><summary>Per point</summary>", ""]
        rows = [
            [
                c.source,
                c.point,
                _values_text(c.values) or "—",
                c.method,
                c.rounds,
                f"{c.max_rel_error:.2e}",
                c.mismatches,
                c.count_mismatches,
            ]
            for c in report.round_checks
        ]
        headers = [
            "source",
            "point",
            "values",
            "method",
            "rounds",
            "max rel. error",
            "mismatches",
            "count mismatches",
        ]
        lines += [*_table(headers, rows), "", "</details>", ""]
    return lines


def _scaling_section(report: TheoryReport, figure_dir: Path | None) -> list[str]:
    lines = ["## 2. Scaling of the time to target versus the ε-complexity shapes", ""]
    if not report.fits:
        return [*lines, "No sweep over `cluster.n` or `cluster.compute.h` (i**α) was given.", ""]
    lines += [
        "Shapes: `theory.COMPLEXITY_SHAPES` (Rennala: harmonic-like, Malenia: mean-like, "
        "Synchronized: max-like, AFedPG: the paper's Table 1 bound) with h = τ_i = h_i·H, "
        "κ = max_i κ_i and ε = the target gradient norm (1 for return targets). One constant "
        "c per method, least squares in log space over every run that reached the target; "
        "measured = geometric mean over seeds; ρ = Spearman rank correlation of measured and "
        f"shape; agreement tolerance max |log(measured/fit)| ≤ {report.agreement:.2f} "
        f"(a factor {math.exp(report.agreement):.3g}), trends read with a factor "
        f"{math.exp(TREND_TOLERANCE):.3g} threshold "
        "(see `analysis/theory_check.py`).",
        "",
    ]
    sections: dict[tuple[str, str, str], list[ScalingFit]] = defaultdict(list)
    for fit in report.fits:
        sections[fit.source, fit.axis, _group_text(fit.group)].append(fit)
    for (source, axis, group), fits in sections.items():
        symbol = SCALING_AXES[axis]
        title = f"### `{source}`: scaling in {symbol}" + (f" ({group})" if group else "")
        lines += [title, ""]
        consts = _constants_text(report.constants, fits)
        lines += [f"Shape constants: {consts}.", ""]
        lines += ["Verdicts:", "", *(f"- {fit.line()}" for fit in fits), ""]
        headers = [
            "method",
            "shape",
            "fitted c",
            "max abs log dev",
            "ρ",
            "measured trend",
            "theory trend",
            "reached runs",
        ]
        rows = [
            [
                f.method,
                f.shape,
                _fmt(f.constant),
                _fmt(f.max_log_dev, 3),
                _fmt(f.rank_correlation, 3),
                f.trend_measured,
                f.trend_theory,
                f"{f.reached}/{f.runs}",
            ]
            for f in fits
        ]
        lines += [*_table(headers, rows), ""]
        xs = sorted({x for f in fits for x in f.x})
        headers = [symbol] + [f"{f.method} measured / fit" for f in fits]
        rows = []
        for x in xs:
            row: list[Any] = [f"{x:g}"]
            for f in fits:
                if x not in f.x:
                    row.append("")
                    continue
                i = f.x.index(x)
                fitted = f.constant * f.theory[i]
                row.append(f"{_fmt(f.measured[i])} / {_fmt(fitted)}")
            rows.append(row)
        lines += [*_table(headers, rows), ""]
        figure = next((f.figure for f in fits if f.figure is not None), None)
        if figure is not None:
            link = figure.name if figure_dir is None else _relative_link(figure, figure_dir)
            lines += [f"![scaling in {symbol}]({link})", ""]
    return lines


def _relative_link(path: Path, directory: Path) -> str:
    try:
        return str(path.relative_to(directory))
    except ValueError:
        return str(path)


def _constants_text(constants: Constants, fits: Sequence[ScalingFit]) -> str:
    used = fits[0].constants if fits else {}
    values = ", ".join(f"{k} = {v:.4g}" for k, v in used.items()) or "all 1"
    if not isinstance(constants, str):
        return f"{values} (given)"
    return f"{values} (mode '{constants}': {CONSTANTS_MODES[constants]})"


# ---------------------------------------------------------------- command line


def _parse_constants(text: str) -> Constants:
    if text in CONSTANTS_MODES:
        return text
    values = {}
    for item in text.split(","):
        key, _, value = item.partition("=")
        if key.strip() not in ("L_g", "L_h", "sigma2", "delta") or not value:
            raise argparse.ArgumentTypeError(
                f"expected one of {list(CONSTANTS_MODES)} or L_g=..,L_h=..,sigma2=..,delta=.., "
                f"got {text!r}"
            )
        values[key.strip()] = float(value)
    return values


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m analysis.theory_check DIR... --out report.md``."""
    parser = argparse.ArgumentParser(
        prog="python -m analysis.theory_check",
        description="Compare sweep or run directories with the closed forms of asyncsim.theory.",
    )
    parser.add_argument("paths", nargs="+", type=Path, help="sweep or run directories")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("results/theory_check/report.md"),
        help="markdown report; figures are written next to it [default: %(default)s]",
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=ROUND_TOLERANCE,
        help="relative round-time error counted as a mismatch [default: %(default)g]",
    )
    parser.add_argument(
        "--constants",
        type=_parse_constants,
        default="oracle",
        help="shape constants: oracle, batch, unit, or L_g=..,L_h=..,sigma2=..,delta=.. "
        "[default: oracle]",
    )
    parser.add_argument(
        "--agreement",
        type=float,
        default=AGREEMENT_TOLERANCE,
        help="tolerance on max |log(measured/fit)| [default: log 1.5]",
    )
    parser.add_argument("--no-figures", action="store_true", help="skip the scaling figures")
    args = parser.parse_args(argv)
    try:
        report = theory_check(
            args.paths,
            args.out,
            args.tolerance,
            args.constants,
            args.agreement,
            figures=not args.no_figures,
        )
    except (FileNotFoundError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"{report.rounds_checked} rounds checked: {report.mismatches} time mismatches, "
        f"{report.count_mismatches} count mismatches"
    )
    for fit in report.fits:
        print(f"[{fit.source}] {fit.line()}")
    print(f"report written to {args.out}")
    return 1 if report.mismatches or report.count_mismatches else 0


if __name__ == "__main__":
    raise SystemExit(main())
