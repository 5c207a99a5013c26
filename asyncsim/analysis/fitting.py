"""Measured time to target against the ε-complexity shapes along a swept parameter.

One constant per method is fitted by least squares in log space, c = exp(mean(log measured −
log shape)); agreement is max_x |log(measured_x / (c·shape_x))|, with measured_x the geometric
mean over seeds; trends are read on a log scale. Used by the scaling figures
(:func:`asyncsim.analysis.plots.plot_scaling`) and the theory check (``analysis/theory_check.py``).
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from asyncsim.analysis import bounds
from asyncsim.store.run_data import RunResult, censored_time, time_to_target

__all__ = [
    "AGREEMENT_TOLERANCE",
    "SCALING_AXES",
    "TREND_TOLERANCE",
    "Point",
    "ScalingFit",
    "axis_label",
    "axis_value",
    "censored_time",
    "classify_trend",
    "fit_constant",
    "fit_method",
    "fit_scaling",
    "max_log_deviation",
    "rank_correlation",
    "time_to_target",
    "trend_tail",
]

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

_POWER = re.compile(r"^i\*\*\(?([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\)?$")


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


def axis_label(axis: str) -> str:
    """The x-axis label of a swept field."""
    labels = {
        "cluster.n": "number of agents n",
        "cluster.compute.h": "heterogeneity exponent α (h_i = i^α)",
    }
    return labels.get(axis, axis)


# ---------------------------------------------------------------- curve statistics


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


def trend_tail(trend: str) -> str:
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


# ---------------------------------------------------------------- scaling fits


@dataclass(frozen=True)
class Point:
    """One finished run: where it came from, its swept values (seed included) and its data."""

    source: str
    key: str
    values: Mapping[str, Any]
    run: RunResult


@dataclass
class ScalingFit:
    """One method's measured time to target along one swept parameter, against its shape."""

    source: str
    axis: str
    group: Mapping[str, Any]
    method: str
    name: str
    shape: str
    scaling: str
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
        return self.enough and trend_tail(self.trend_measured) == trend_tail(self.trend_theory)

    @property
    def fit_ok(self) -> bool:
        """max |log(measured / fit)| within the tolerance."""
        return self.enough and self.max_log_dev <= self.tolerance

    @property
    def verdict(self) -> bool | None:
        """Both the trend and the fit agree; None with fewer than 3 reached parameter values."""
        return (self.trend_ok and self.fit_ok) if self.enough else None


def fit_scaling(
    points: Sequence[Point],
    axis: str,
    constants: bounds.Constants = "oracle",
    tolerance: float = AGREEMENT_TOLERANCE,
) -> list[ScalingFit]:
    """Fit every method's shape to its measured time to target along ``axis``.

    Points are grouped by the swept fields other than ``axis`` and ``seed``; each group and
    method with a shape gives one :class:`ScalingFit` (:func:`fit_method`). Runs that did not
    reach their target are censored: listed, not fitted.
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
            chosen = [(x, p.run) for x, p in members if key in p.run.methods]
            fit = fit_method(
                chosen,
                key,
                constants,
                axis=axis,
                group=json.loads(group_key),
                source=members[0][1].source,
                tolerance=tolerance,
                cache=cache,
            )
            if fit is not None:
                fits.append(fit)
    return fits


def _method(run: RunResult, key: str) -> Any:
    return next(m for m in run.scenario.methods if m.key == key)


def fit_method(
    chosen: Sequence[tuple[float, RunResult]],
    key: str,
    constants: bounds.Constants = "oracle",
    *,
    eps: float | None = None,
    axis: str = "",
    group: Mapping[str, Any] | None = None,
    source: str = "",
    tolerance: float = AGREEMENT_TOLERANCE,
    cache: dict | None = None,
) -> ScalingFit | None:
    """Method ``key``'s measured time to target at each parameter value x of ``chosen``
    ((x, run) pairs, several seeds per x) against its shape, and the fitted constant.

    The shape is :func:`asyncsim.analysis.bounds.shape_value` at each x's scenario, with the
    constants of :func:`asyncsim.analysis.bounds.shape_constants` (``constants``) and ε = ``eps``,
    else the scenario's target (:func:`asyncsim.analysis.bounds.epsilon`). The constant is
    :func:`fit_constant` over every run that reached its target; the agreement and the trends
    use the geometric mean over the seeds at each x. The scaling figures and the theory check
    both fit through here. None for a method without a shape.
    """
    method0 = _method(chosen[0][1], key)
    if method0.spec.shape is None:
        return None
    cache = {} if cache is None else cache
    by_x: dict[float, list[float | None]] = defaultdict(list)
    shape_at: dict[float, float] = {}
    consts: dict[str, float] = {}
    for x, run in chosen:
        scenario = run.scenario
        by_x[x].append(time_to_target(run, key))
        if x not in shape_at:
            consts = bounds.shape_constants(scenario, constants, cache)
            target = bounds.epsilon(scenario) if eps is None else eps
            shape_at[x] = bounds.shape_value(scenario, _method(run, key), target, consts)
    xs = sorted(by_x)
    reached = [(x, m) for x in xs for m in by_x[x] if m is not None]
    measured: list[float | None] = []
    for x in xs:
        values = [m for m in by_x[x] if m is not None]
        measured.append(float(np.exp(np.mean(np.log(values)))) if values else None)
    constant = fit_constant([m for _, m in reached], [shape_at[x] for x, _ in reached])
    kept = [(m, shape_at[x]) for x, m in zip(xs, measured, strict=True) if m is not None]
    if kept:
        ms, ss = [m for m, _ in kept], [s for _, s in kept]
        max_dev, rho = max_log_deviation(ms, ss, constant), rank_correlation(ms, ss)
        trend_measured, trend_theory = classify_trend(ms), classify_trend(ss)
    else:
        max_dev, rho = float("inf"), float("nan")
        trend_measured = trend_theory = "too few points"
    return ScalingFit(
        source=source,
        axis=axis,
        group=dict(group or {}),
        method=key,
        name=method0.name,
        shape=method0.spec.shape,
        scaling=method0.spec.protocol_spec.scaling,
        x=xs,
        measured=measured,
        theory=[shape_at[x] for x in xs],
        runs=sum(len(v) for v in by_x.values()),
        reached=len(reached),
        censored_x=[x for x in xs if any(m is None for m in by_x[x])],
        constant=constant,
        max_log_dev=max_dev,
        rank_correlation=rho,
        trend_measured=trend_measured,
        trend_theory=trend_theory,
        tolerance=tolerance,
        constants=consts,
    )
