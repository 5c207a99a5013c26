"""Figures of runs and sweeps: progress, scaling vs theory, round bounds, timelines, utilization.

Every ``plot_*`` figure function builds a matplotlib :class:`~matplotlib.figure.Figure` without
pyplot (no global state, no display backend needed) and returns it; given ``out`` it also saves
it as ``out.png``, ``out.pdf`` and ``out.csv``, the data it draws (:class:`DataFigure`).
``plot_run`` and ``plot_sweep`` write the standard figure sets of a run directory and a sweep
directory. What a method's protocol offers (rounds, a bound, a complexity shape) comes from its
registry record through :mod:`asyncsim.analysis.bounds`, with τ_i = h_i·H from the mean of the
scenario's compute model; a method without a shape gets no theory line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.collections import PolyCollection
from matplotlib.colors import to_rgba_array
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator, NullLocator
from numpy.typing import ArrayLike

from asyncsim.analysis import bounds, fitting, intervals
from asyncsim.analysis.intervals import TraceColumns
from asyncsim.core.csvtables import table_text
from asyncsim.scenario.schema import MethodConfig, Scenario
from asyncsim.store.run_data import RunResult
from asyncsim.store.runs import atomic_write

__all__ = [
    "AGENT_ROWS",
    "DATA_COLUMNS",
    "DataFigure",
    "plot_emulation",
    "plot_progress",
    "plot_round_bounds",
    "plot_run",
    "plot_scaling",
    "plot_sweep",
    "plot_timeline",
    "plot_utilization",
    "regime",
]

_METRIC_LABELS = {
    "grad_norm": r"$\|\nabla f(\theta)\|$",
    "return_mean": "average return (training batch)",
    "eval_return": "average return (evaluation)",
}
_MARKERS = "os^Dv<>PX*"
_KIND_COLORS = {
    "downlink": "tab:purple",
    "compute": "tab:green",
    "upload": "tab:blue",
    "discarded": "tab:orange",
    "lost": "tab:red",
    "idle": "0.85",
}
_NOT_FINISHED = {"failed", "error", "pending", "running"}
_INDEX_COLUMNS = ("hash", "status", "error")

DATA_COLUMNS = ("series", "x", "y", "x_end", "constant")
"""Columns of a figure's NAME.csv: one row per point drawn; ``x_end`` ends an interval (the
bars of a timeline), ``constant`` is the fitted constant c of a theory series (y = c·shape)."""


class DataFigure(Figure):
    """A figure that keeps the data it draws, one row per point (:data:`DATA_COLUMNS`), so that
    it can be checked without looking at it: ``_save`` writes them beside the image."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.data: list[tuple[str, float | None, float, float | None, float | None]] = []

    def record(
        self,
        series: str,
        x: ArrayLike | None,
        y: ArrayLike,
        x_end: ArrayLike | None = None,
        constant: float | None = None,
    ) -> None:
        """Record the points (x, y) of ``series`` (x None: a horizontal line at y)."""
        ys = np.atleast_1d(np.asarray(y, dtype=float))
        xs = [None] * ys.size if x is None else np.atleast_1d(np.asarray(x, dtype=float))
        ends = [None] * ys.size if x_end is None else np.atleast_1d(np.asarray(x_end, float))
        for a, b, c in zip(xs, ys, ends, strict=True):
            self.data.append((series, _number(a), float(b), _number(c), constant))


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


# ---------------------------------------------------------------- scenario quantities


def _method(scenario: Scenario, key: str) -> MethodConfig:
    """The method of ``scenario`` whose output key is ``key``."""
    return next(m for m in scenario.methods if m.key == key)


def _method_keys(runs: Iterable[RunResult]) -> list[str]:
    """Method keys in order of first appearance (fixes each method's colour C0, C1, ...)."""
    return list(dict.fromkeys(key for run in runs for key in run.methods))


# ---------------------------------------------------------------- (a) progress


def plot_progress(
    runs: Sequence[RunResult],
    metric: str = "auto",
    band: str = "minmax",
    out: str | Path | None = None,
    title: str | None = None,
) -> Figure:
    """Metric versus simulated time, one line per method: the mean over seeds and a band.

    Args:
        runs: Runs of one scenario with different seeds (one run: its rows are drawn as is).
        metric: A row column; ``"auto"`` picks ``eval_return``, else ``return_mean`` (RL),
            else ``grad_norm`` (synthetic, log y axis).
        band: ``"minmax"`` (min–max over seeds) or ``"std"`` (mean ± one standard deviation).
        out: Save as ``out.png`` and ``out.pdf`` when given.
        title: The figure's title (default: the scenario's name); the number of seeds follows.

    Seeds are interpolated linearly on 200 times up to the end of the longest run; a run that
    stopped earlier (at its target) keeps its last value, as its model does. With a target,
    each seed's time to target is marked on its own curve (▼), and a seed that missed the
    target is marked at the end of its run (×). A return target is drawn as a dashed line.
    The x axis has at most 5 ticks, so that long times do not run together.
    """
    metric = _auto_metric(runs) if metric == "auto" else metric
    fig = DataFigure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.subplots()
    marked: set[str] = set()
    for index, key in enumerate(_method_keys(runs)):
        chosen = [run for run in runs if key in run.methods]
        curves = [_curve(run.methods[key].rows, metric) for run in chosen]
        if not any(curve[0].size for curve in curves):
            continue
        times, mean, low, high = _mean_band([c for c in curves if c[0].size], band)
        ax.plot(times, mean, color=f"C{index}", label=key)
        fig.record(key, times, mean)
        if len(curves) > 1:
            ax.fill_between(times, low, high, color=f"C{index}", alpha=0.2, linewidth=0)
            edges = ("min", "max") if band == "minmax" else ("mean - std", "mean + std")
            fig.record(f"{key} {edges[0]}", times, low)
            fig.record(f"{key} {edges[1]}", times, high)
        marked |= _mark_seeds(fig, ax, key, chosen, curves, f"C{index}")
    target = runs[0].scenario.budget.target_return
    if target is not None and metric in ("eval_return", "return_mean"):
        ax.axhline(target, color="0.4", linestyle="--", linewidth=1, label="target return")
        fig.record("target return", None, target)
    for outcome in sorted(marked, reverse=True):  # the legend's key: reached, then missed
        marker, label = _SEED_MARKERS[outcome]
        ax.scatter([], [], marker=marker, color="0.3", label=label)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=5))
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel(_METRIC_LABELS.get(metric, metric))
    if metric == "grad_norm":
        ax.set_yscale("log")
    seeds = f"{len(runs)} seed{'s' * (len(runs) > 1)}"
    ax.set_title(f"{title or runs[0].scenario.name} ({seeds})")
    ax.grid(alpha=0.3)
    _legend_outside(fig, ax)
    return _saved(fig, out)


_SEED_MARKERS = {
    "reached": ("v", "a seed reaches the target"),
    "missed": ("x", "a seed missed it (end of its run)"),
}


def _has_target(run: RunResult) -> bool:
    budget = run.scenario.budget
    return budget.target_return is not None or budget.target_grad_norm is not None


def _mark_seeds(
    fig: DataFigure,
    ax: Any,
    key: str,
    runs: Sequence[RunResult],
    curves: Sequence[tuple[np.ndarray, np.ndarray]],
    color: str,
) -> set[str]:
    """Each seed's time to target on its own curve, or the end of a seed that missed it;
    which of the two were drawn."""
    points: dict[str, list[tuple[float, float]]] = {"reached": [], "missed": []}
    for run, (times, values) in zip(runs, curves, strict=True):
        if not _has_target(run) or not times.size:
            continue
        reached = fitting.time_to_target(run, key)
        if reached is None:
            points["missed"].append((float(times[-1]), float(values[-1])))
        else:
            points["reached"].append((reached, float(np.interp(reached, times, values))))
    for outcome, xy in points.items():
        if xy:
            x, y = zip(*xy, strict=True)
            ax.scatter(x, y, marker=_SEED_MARKERS[outcome][0], color=color, zorder=3)
            fig.record(f"{key}: {outcome}", x, y)
    return {outcome for outcome, xy in points.items() if xy}


def _legend_outside(fig: Figure, ax: Any, **options: Any) -> None:
    """The legend of ``ax`` beside the axes (right of them), so that it never covers data."""
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right upper", frameon=False, **options)


def _auto_metric(runs: Sequence[RunResult]) -> str:
    """eval_return if any row has it, else return_mean, else grad_norm."""
    columns = {c for run in runs for m in run.methods.values() for row in m.rows for c in row}
    return next(c for c in ("eval_return", "return_mean", "grad_norm") if c in columns)


def _curve(rows: Sequence[Mapping[str, Any]], metric: str) -> tuple[np.ndarray, np.ndarray]:
    """(time_end, metric) of the rows that hold the metric."""
    kept = [row for row in rows if row.get(metric) is not None]
    return np.array([r["time_end"] for r in kept]), np.array([r[metric] for r in kept])


def _mean_band(
    curves: Sequence[tuple[np.ndarray, np.ndarray]], band: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(times, mean, low, high) of the curves on a common time grid up to the last end (a
    curve that ended earlier keeps its last value)."""
    if len(curves) == 1:
        times, values = curves[0]
        return times, values, values, values
    start = max(times[0] for times, _ in curves)
    stop = max(start, max(times[-1] for times, _ in curves))
    grid = np.linspace(start, stop, 200)
    values = np.array([np.interp(grid, times, ys) for times, ys in curves])
    mean = values.mean(axis=0)
    if band == "std":
        spread = values.std(axis=0)
        return grid, mean, mean - spread, mean + spread
    if band != "minmax":
        raise ValueError(f"band must be 'minmax' or 'std', got {band!r}")
    return grid, mean, values.min(axis=0), values.max(axis=0)


# ---------------------------------------------------------------- (b) scaling


def plot_scaling(
    points: Sequence[tuple[float, RunResult]],
    parameter: str,
    eps: float | None = None,
    constants: bounds.Constants = "oracle",
    out: str | Path | None = None,
) -> Figure:
    """Measured time to target versus a swept parameter, with each method's shape fitted.

    A method's measurement is :func:`asyncsim.analysis.fitting.time_to_target`; a run that missed
    its target is drawn as a hollow marker at the end of its budget (censored) and left out of the
    fit. A method whose protocol has an ε-complexity shape for its optimizer gets that shape
    times one constant, both from :func:`asyncsim.analysis.fitting.fit_method` (the theory check's
    fit: the shape at τ_i = h_i·H and κ = max_i κ_i, c = exp(mean(log measured − log shape)) over
    the reached runs); the legend names the method and shows c. Others get no line.

    Args:
        points: (parameter value, run) pairs; several seeds may share a value.
        parameter: x-axis label (``"n"``, ``"α"``, ...).
        eps: ε of the shapes (default: each run's ``budget.target_grad_norm``, else 1).
        constants: L_g, L_h, σ², Δ of the shapes: a mode of
            :data:`asyncsim.analysis.bounds.CONSTANTS_MODES` (default ``"oracle"``, as the theory
            check) or a mapping.
        out: Save as ``out.png``, ``out.pdf`` and ``out.csv`` when given.

    The y axis is logarithmic; so is the x axis when every parameter value is positive. The y
    range is the measurements' (a factor 2 around them): a fitted shape extrapolated past them
    leaves the axes rather than squeezing the data.
    """
    fig = DataFigure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.subplots()
    drawn: list[float] = []
    cache: dict = {}
    for index, key in enumerate(_method_keys(run for _, run in points)):
        chosen = [(x, run) for x, run in points if key in run.methods]
        x = np.array([value for value, _ in chosen], dtype=float)
        reached = np.array([fitting.time_to_target(run, key) is not None for _, run in chosen])
        measured = np.array([fitting.time_to_target(run, key, "budget") for _, run in chosen])
        drawn += measured.tolist()
        color, marker = f"C{index}", _MARKERS[index % len(_MARKERS)]
        ax.plot(
            x[reached], measured[reached], marker=marker, linestyle="none", color=color, label=key
        )
        fig.record(key, x[reached], measured[reached])
        if not reached.all():
            censored = f"{key}: target not reached"
            ax.plot(
                x[~reached],
                measured[~reached],
                marker=marker,
                linestyle="none",
                markerfacecolor="none",
                color=color,
                label=censored,
            )
            fig.record(censored, x[~reached], measured[~reached])
        fit = fitting.fit_method(chosen, key, constants, eps=eps, cache=cache)
        if fit is None or not fit.reached:
            continue
        fitted = fit.constant * np.asarray(fit.theory)
        label = f"{key} theory ×{fit.constant:.1e}"
        ax.plot(fit.x, fitted, color=color, linestyle="--", label=label)
        fig.record(f"{key} theory", fit.x, fitted, constant=fit.constant)
    ax.set_xlabel(parameter)
    ax.set_ylabel("time to target (s)")
    ax.set_yscale("log")
    ax.set_ylim(min(drawn) / 2, max(drawn) * 2)
    if all(x > 0 for x, _ in points):
        ax.set_xscale("log")
    values = sorted({float(x) for x, _ in points})
    if len(values) <= 12:
        ax.set_xticks(values, labels=[f"{v:g}" for v in values])
        ax.xaxis.set_minor_locator(NullLocator())
        if len(values) > 8:
            ax.tick_params(axis="x", labelrotation=45)
    ax.grid(alpha=0.3, which="both")
    _legend_outside(fig, ax, fontsize="small")
    return _saved(fig, out)


# ---------------------------------------------------------------- (c) round bounds


def plot_round_bounds(run: RunResult, out: str | Path | None = None) -> Figure:
    """Every round's measured duration against its protocol's bound (y = x dashed).

    Each round uses the method's ``round_bound`` (Lemma C.1 for Rennala, C.2 for Malenia,
    max τ + 2κ for synchronized rounds ...) with that round's batch (M_init for iteration 0),
    τ_i = mean h_i·H and κ = max of the mean uplink and downlink times; the x label says
    "bound at mean times" when times are random. For fixed times every point lies on or below
    y = x. Methods whose protocol has no round bound are skipped.
    """
    scenario = run.scenario
    times = bounds.mean_times(scenario)
    random = isinstance(bounds.fixed_times(scenario), str)
    fig = DataFigure(figsize=(5.2, 4.8), layout="constrained")
    ax = fig.subplots()
    largest = 0.0
    for index, (key, result) in enumerate(run.methods.items()):
        method = _method(scenario, key)
        bound = method.spec.protocol_spec.round_bound
        if bound is None:
            continue
        bounds_ = [bound(times, method.params, row["iteration"]) for row in result.rows]
        measured = [row["time_end"] - row["time_start"] for row in result.rows]
        ax.scatter(bounds_, measured, s=14, color=f"C{index}", label=key)
        fig.record(key, bounds_, measured)
        largest = max(largest, *bounds_, *measured)
    ax.plot([0.0, largest], [0.0, largest], "k--", linewidth=1, label="y = x")
    fig.record("y = x", [0.0, largest], [0.0, largest])
    which = "bound at mean times" if random else "bound"
    ax.set_xlabel(f"round-time {which} (s)")
    ax.set_ylabel("measured round time (s)")
    ax.set_title(scenario.name)
    ax.grid(alpha=0.3)
    _legend_outside(fig, ax)
    return _saved(fig, out)


# ---------------------------------------------------------------- (d) timeline, (e) utilization

AGENT_ROWS = 40
"""The most agents a per-agent figure shows one by one; beyond, it shows a summary."""
TIMELINE_ROUNDS = 3
"""Rounds a timeline shows unless told otherwise (the one of ``plot_run``)."""


def plot_timeline(
    run: RunResult, method: str, rounds: int = TIMELINE_ROUNDS, out: str | Path | None = None
) -> Figure:
    """Per-agent timeline of the first ``rounds`` rounds of one method, from its trace.

    Bars (:mod:`asyncsim.analysis.intervals`): downlink (the point on its way: from the update that
    made it, or the end of the agent's previous work if later, to broadcast_received), compute
    (compute_start → compute_end), upload (upload_start → upload_end), discarded, abandoned and
    lost work (compute_start → discarded / abandoned / lost) and idle (every other gap); thin
    white edges separate consecutive gradients. An asynchronous method has no rounds: there a
    "round" is n updates.
    Up to :data:`AGENT_ROWS` agents, one row per agent and each bar collection has the gid
    ``"<kind>:<agent>"``. Beyond, the rows are :data:`AGENT_ROWS` evenly spaced agents (1 and
    n among them), drawn as one collection (gid ``"bars"``); the title says so, and so does
    the CSV (series ``summary: ...``).
    """
    if method not in _traced(run):
        raise ValueError(f"method {method!r} has no trace (output.trace was off)")
    return _saved(_timeline(run, method, rounds), out)


def _timeline(run: RunResult, method: str, rounds: int) -> DataFigure:
    """The figure of :func:`plot_timeline`, from the rows of the method's trace it shows."""
    result = run.methods[method]
    n = run.scenario.cluster.n
    asynchronous = not _method(run.scenario, method).spec.protocol_spec.round_based
    updates = rounds * n if asynchronous else rounds
    end = result.rows[min(updates, len(result.rows)) - 1]["time_end"]
    agents = _shown_agents(n)
    sampled = agents.size < n
    rows = intervals.timeline_rows(TraceColumns.blocks(result), agents if sampled else None, end)
    bars = intervals.with_idle(intervals.busy(rows, end), agents, end)
    fig = DataFigure(figsize=(8.0, 1.2 + 0.35 * agents.size), layout="constrained")
    ax = fig.subplots()
    for agent, kind, rows in bars.groups():
        fig.record(kind, bars.start[rows], bars.agent[rows], bars.stop[rows])
        if not sampled:
            widths = np.column_stack([bars.start[rows], bars.stop[rows] - bars.start[rows]])
            ax.broken_barh(widths, (agent - 0.4, 0.8), facecolors=_KIND_COLORS[kind],
                           edgecolors="white", linewidth=0.5, gid=f"{kind}:{agent}")  # fmt: skip
    if sampled:
        ax.add_collection(_bar_collection(bars, np.searchsorted(agents, bars.agent) + 1))
    shown = [kind for index, kind in enumerate(intervals.KINDS) if (bars.kind == index).any()]
    handles = [Patch(color=_KIND_COLORS[kind], label=kind) for kind in shown]
    fig.legend(handles=handles, loc="outside lower center", ncols=len(shown), frameon=False)
    ax.set_xlim(0.0, end)
    ax.set_ylim(0.4, agents.size + 0.6)
    if sampled:
        ax.set_yticks(range(1, agents.size + 1), labels=[str(a) for a in agents])
    else:
        ax.set_yticks(range(1, n + 1))
    ax.invert_yaxis()
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel("agent")
    title = f"{method}: first {rounds} {'rounds of n updates' if asynchronous else 'rounds'}"
    if sampled:
        title += "\n" + _summary(fig, f"{agents.size} of {n:,} agents, evenly spaced", agents.size)
    ax.set_title(title)
    return fig


def _shown_agents(n: int) -> np.ndarray:
    """Agents 1..n, or :data:`AGENT_ROWS` of them evenly spaced (1 and n included)."""
    if n <= AGENT_ROWS:
        return np.arange(1, n + 1)
    return np.unique(np.linspace(1, n, AGENT_ROWS).round().astype(np.int64))


def _bar_collection(bars: intervals.Intervals, rows: np.ndarray) -> PolyCollection:
    """Every bar as one collection: (start, stop) × (row ± 0.4), coloured by kind."""
    low, high = rows - 0.4, rows + 0.4
    corners = [(bars.start, low), (bars.start, high), (bars.stop, high), (bars.stop, low)]
    vertices = np.stack([np.column_stack(corner) for corner in corners], axis=1)
    colors = to_rgba_array([_KIND_COLORS[kind] for kind in intervals.KINDS])[bars.kind]
    return PolyCollection(vertices, facecolors=colors, edgecolors="white", linewidths=0.5,
                          gid="bars")  # fmt: skip


def _summary(fig: DataFigure, note: str, shown: int) -> str:
    """Record that ``fig`` shows a summary of its agents, as the series ``summary: <note>``
    (y: how many rows or bins it shows), and return ``note`` for its title."""
    fig.record(f"summary: {note}", None, shown)
    return note


def plot_utilization(run: RunResult, out: str | Path | None = None) -> Figure:
    """Per-agent fraction of the run's simulated time spent computing, as stacked bars.

    The lower bar is computation whose gradient was used (ended by compute_end), the upper one
    wasted computation (discarded or lost). One panel per method with a trace. Beyond
    :data:`AGENT_ROWS` agents, a bar is a bin of consecutive agents (:data:`AGENT_ROWS` bins):
    its height the bin's mean, and a line its min–max of used + wasted; the title says so,
    each CSV row gives its bin's first agent (x) and last (x_end), and a series
    ``summary: ...`` says that it is a summary.
    """
    traced = _traced(run)
    if not traced:
        raise ValueError("no method has a trace (output.trace was off)")
    return _saved(_utilization(run, traced), out)


def _traced(run: RunResult) -> list[str]:
    """The methods whose trace has rows."""
    return [
        key
        for key, result in run.methods.items()
        if any(len(block) for block in TraceColumns.blocks(result))
    ]


def _utilization(run: RunResult, traced: list[str]) -> DataFigure:
    """The figure of :func:`plot_utilization`, from the methods' traces read block by block."""
    n = run.scenario.cluster.n
    edges = _agent_bins(n)
    first, last = edges[:-1] + 1, edges[1:]
    binned = last.size < n
    fig = DataFigure(figsize=(3.2 * len(traced) + 1.0, 3.6), layout="constrained")
    axes = fig.subplots(1, len(traced), sharey=True, squeeze=False)[0]
    for ax, key in zip(axes, traced, strict=True):
        result = run.methods[key]
        total = result.rows[-1]["time_end"]
        computing = intervals.streamed_computing_time(TraceColumns.blocks(result), total, n)
        used, wasted = (t / total for t in computing)
        sizes = last - first + 1
        means = [np.add.reduceat(values, edges[:-1]) / sizes for values in (used, wasted)]
        ends = last if binned else None
        fig.record(f"{key}: computing, used", first, means[0], ends)
        fig.record(f"{key}: computing, wasted", first, means[1], ends)
        centers, widths = (first + last) / 2, (sizes if binned else 0.8)
        ax.bar(centers, means[0], widths, color=_KIND_COLORS["compute"], label="computing, used")
        ax.bar(centers, means[1], widths, bottom=means[0], color=_KIND_COLORS["discarded"],
               label="computing, wasted (discarded / lost)")  # fmt: skip
        if binned:
            low, high = (f.reduceat(used + wasted, edges[:-1]) for f in (np.minimum, np.maximum))
            fig.record(f"{key}: computing, used + wasted, min of bin", first, low, last)
            fig.record(f"{key}: computing, used + wasted, max of bin", first, high, last)
            ax.vlines(centers, low, high, color="0.2", linewidth=0.8,
                      label="used + wasted: min–max of a bin")  # fmt: skip
        else:
            ax.set_xticks(first)
        ax.set_title(key)
        ax.set_xlabel("agent")
        ax.set_ylim(0.0, 1.0)
    axes[0].set_ylabel("fraction of simulated time")
    if binned:
        fig.suptitle(_summary(fig, _bins_note(n, last.size, sizes), last.size), fontsize="medium")
    fig.legend(
        *axes[0].get_legend_handles_labels(),
        loc="outside lower center",
        ncols=1 if binned else 2,
        frameon=False,
        fontsize="small",
    )
    return fig


def _agent_bins(n: int) -> np.ndarray:
    """Edges e_0 = 0 < ... < e_B = n: bin b holds agents e_b + 1 .. e_(b+1); one agent per
    bin up to :data:`AGENT_ROWS` agents, else :data:`AGENT_ROWS` bins of equal size ±1."""
    return np.linspace(0, n, min(n, AGENT_ROWS) + 1).round().astype(np.int64)


def _bins_note(n: int, bins: int, sizes: np.ndarray) -> str:
    """The utilization summary in words."""
    size = f"{sizes.min():,}" + (f"–{sizes.max():,}" if sizes.max() > sizes.min() else "")
    return f"{n:,} agents in {bins} bins of {size}:\nbar = mean of a bin, line = its min–max"


# ---------------------------------------------------------------- emulated against simulated


_EMULATION_PANELS = ("duration", "end time")


def plot_emulation(report: Mapping[str, Any] | str | Path, out: str | Path | None = None) -> Figure:
    """Emulated against simulated times of every row (a round, or an asynchronous update) of
    every method, from ``asyncsim emulate``'s report (emulation.json or its contents): the rows'
    durations (left) and end times (right), y = x dashed. A point above the line is a row the
    real system took longer for; times are modelled seconds (real seconds ÷ S)."""
    if not isinstance(report, Mapping):
        report = json.loads(Path(report).read_text())
    fig = DataFigure(figsize=(9.6, 4.4), layout="constrained")
    axes = fig.subplots(1, 2)
    largest = [0.0, 0.0]
    for index, (key, method) in enumerate(report["methods"].items()):
        simulated, emulated = method["times"]["simulated"], method["times"]["emulated"]
        rows = min(len(simulated["time_end"]), len(emulated["time_end"]))
        ends = [np.asarray(t["time_end"][:rows], dtype=float) for t in (simulated, emulated)]
        starts = [np.asarray(t["time_start"][:rows], dtype=float) for t in (simulated, emulated)]
        durations = [end - start for end, start in zip(ends, starts, strict=True)]
        for panel, (x, y) in enumerate((durations, ends)):
            marker = _MARKERS[index % len(_MARKERS)]
            axes[panel].scatter(x, y, s=14, marker=marker, color=f"C{index}", label=key)
            fig.record(f"{key}: {_EMULATION_PANELS[panel]}", x, y)
            largest[panel] = max(largest[panel], *x, *y, 0.0)
    for ax, top, what in zip(axes, largest, _EMULATION_PANELS, strict=True):
        ax.plot([0.0, top], [0.0, top], "k--", linewidth=1, label="y = x")
        fig.record(f"y = x: {what}", [0.0, top], [0.0, top])
        ax.set_xlabel(f"simulated {what} (s)")
        ax.set_ylabel(f"emulated {what} (real s ÷ S)")
        ax.grid(alpha=0.3)
    axes[0].set_title("per round (update)")
    axes[1].set_title("cumulative")
    axes[1].legend(frameon=False, fontsize="small")
    fig.suptitle(f"emulated on {report['executor']}, S = {report['time_scale']:g}")
    return _saved(fig, out)


# ---------------------------------------------------------------- run and sweep directories


def plot_run(run: RunResult | str | Path, out_dir: str | Path) -> list[Path]:
    """Write a run's figures (PNG + PDF) into ``out_dir`` and return their paths.

    ``progress``, ``round_bounds`` (if a method's protocol has a round bound),
    ``timeline_<method>`` for every method and ``utilization`` (timelines and utilization only
    for methods whose trace was recorded); ``emulation`` for a directory written by ``asyncsim
    emulate``.
    """
    source = None if isinstance(run, RunResult) else Path(run)
    if source is not None:
        from asyncsim.store.runs import load_run

        run = load_run(source)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    protocols = {key: _method(run.scenario, key).spec.protocol_spec for key in run.methods}
    paths = _save(plot_progress([run]), out / "progress")
    if any(p.round_bound is not None for p in protocols.values()):
        paths += _save(plot_round_bounds(run), out / "round_bounds")
    traced = _traced(run)
    for key in traced:
        paths += _save(_timeline(run, key, TIMELINE_ROUNDS), out / f"timeline_{_slug(key)}")
    if traced:
        paths += _save(_utilization(run, traced), out / "utilization")
    if source is not None and (source / "emulation.json").is_file():
        paths += _save(plot_emulation(source / "emulation.json"), out / "emulation")
    return paths


def plot_sweep(sweep_dir: str | Path, out_dir: str | Path, max_progress: int = 12) -> list[Path]:
    """Write a sweep's figures (PNG + PDF) into ``out_dir`` and return their paths.

    Reads ``index.csv`` (hash, one column per swept field, status, error) and loads every
    finished point from ``points/<hash>/``. Points that differ only by ``seed`` form a group:
    with at most ``max_progress`` groups, each gets a ``progress_<values>`` figure. Every swept
    field whose values are all numbers (``cluster.n``), or a ``cluster.compute.h`` whose values
    are all ``i**α`` / ``sqrt(i)`` / ``i``, gets ``scaling_<field>`` figures against that value
    (or α), one per combination of the other swept fields.
    """
    from asyncsim.store.runs import load_run
    from asyncsim.store.sweep_index import index_records

    sweep = Path(sweep_dir)
    records = index_records(sweep)
    fields = [f for f in (records[0] if records else {}) if f not in (*_INDEX_COLUMNS, "seed")]
    loaded = [(r, load_run(sweep / "points" / r["hash"])) for r in records if _finished(r, sweep)]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    groups = _group(loaded, fields)
    if len(groups) <= max_progress:
        for values, members in groups.items():
            name = "_".join(["progress", _assignments(fields, values)]).rstrip("_")
            title = ", ".join(regime(f, v) for f, v in zip(fields, values, strict=True))
            runs = [run for _, run in members]
            paths += _save(plot_progress(runs, title=title or None), out / name)
    for field in fields:
        values = [fitting.axis_value(field, record[field]) for record, _ in loaded]
        if not values or None in values:
            continue
        others = [f for f in fields if f != field]
        for rest, members in _group(loaded, others).items():
            points = [(fitting.axis_value(field, r[field]), run) for r, run in members]
            name = "_".join(["scaling", _slug(field), _assignments(others, rest)]).rstrip("_")
            paths += _save(plot_scaling(points, fitting.axis_label(field)), out / name)
    return paths


_SYMBOLS = {
    "cluster.n": "n",
    "cluster.horizon": "H",
    "oracle.horizon": "H",
    "cluster.compute.h": "h_i",
    "cluster.uplink.time": "κ_i",
    "cluster.downlink.time": "broadcast b_i",
    "oracle.env": "environment",
    "oracle.discount": "γ",
}
"""A swept field's symbol in the figures' titles (others keep their path)."""


def regime(field: str, value: Any) -> str:
    """A swept value as a reader names it: ``κ_i = √i·d^(1/4)`` for ``cluster.uplink.time =
    sqrt(i) * d**0.25``; ``methods[0].lr = 0.01`` for a field without a symbol."""
    text = str(value)
    text = re.sub(r"sqrt\((\w+)\)", r"√\1", text)
    text = re.sub(r"\*\*\s*\(?([-\d.]+)\)?", lambda m: f"^{_exponent(m[1])}", text)
    text = re.sub(r"\s*\*\s*", "·", text)
    return f"{_SYMBOLS.get(field, field)} = {text}"


def _exponent(text: str) -> str:
    """``0.25`` → ``(1/4)``; a number that is no simple fraction, as written."""
    fraction = Fraction(text).limit_denominator(16)
    if fraction.denominator == 1 or float(fraction) != float(text):
        return text
    return f"({fraction.numerator}/{fraction.denominator})"


def _finished(record: Mapping[str, str], sweep: Path) -> bool:
    """Whether a sweep point has results: no error, not failed or pending, and readable."""
    from asyncsim.store.runs import is_readable

    status = (record.get("status") or "").strip().lower()
    point = sweep / "points" / record["hash"]
    failed = bool((record.get("error") or "").strip()) or status in _NOT_FINISHED
    return not failed and is_readable(point)


def _assignments(fields: Sequence[str], values: Sequence[str]) -> str:
    """``field=value,...`` made safe for a file name ("" when there are no fields)."""
    return _slug(",".join(f"{f}={v}" for f, v in zip(fields, values, strict=True)), "")


def _group(
    loaded: Sequence[tuple[Mapping[str, str], RunResult]], fields: Sequence[str]
) -> dict[tuple[str, ...], list[tuple[Mapping[str, str], RunResult]]]:
    """Sweep points grouped by their values of ``fields`` (in first-appearance order)."""
    groups: dict[tuple[str, ...], list[tuple[Mapping[str, str], RunResult]]] = {}
    for record, run in loaded:
        groups.setdefault(tuple(record[f] for f in fields), []).append((record, run))
    return groups


# ---------------------------------------------------------------- saving


def _slug(text: str, empty: str = "figure") -> str:
    """A file-name-safe version of ``text`` (``empty`` when nothing is left)."""
    return re.sub(r"[^A-Za-z0-9._=,-]+", "_", text).strip("_") or empty


def _save(fig: Figure, out: str | Path) -> list[Path]:
    """Save ``fig`` as ``out.png`` (150 dpi) and ``out.pdf``, and the data of a
    :class:`DataFigure` as ``out.csv``; return the PNG and PDF paths."""
    base = Path(out)
    base.parent.mkdir(parents=True, exist_ok=True)
    paths = [base.with_name(f"{base.name}.{suffix}") for suffix in ("png", "pdf")]
    for path in paths:
        fig.savefig(path, dpi=150)
    if isinstance(fig, DataFigure):
        atomic_write(base.with_name(f"{base.name}.csv"), table_text(DATA_COLUMNS, fig.data))
    return paths


def _saved(fig: Figure, out: str | Path | None) -> Figure:
    """Save ``fig`` when ``out`` is given; return it."""
    if out is not None:
        _save(fig, out)
    return fig
