"""Figures of runs and sweeps: progress, scaling vs theory, round bounds, timelines, utilization.

Every ``plot_*`` figure function builds a matplotlib :class:`~matplotlib.figure.Figure` without
pyplot (no global state, no display backend needed) and returns it; given ``out`` it also saves
it as ``out.png`` and ``out.pdf``. ``plot_run`` and ``plot_sweep`` write the standard figure sets
of a run directory and a sweep directory. Theory lines come from :mod:`asyncsim.theory`, with
τ_i = h_i·H from the mean of the scenario's compute model (SPEC §5).
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import NullLocator

from asyncsim import theory
from asyncsim.config import Scenario
from asyncsim.methods.registry import METHODS
from asyncsim.runner import MethodResult, RunResult, build_cluster, vector_dimension

__all__ = [
    "gradient_times",
    "plot_progress",
    "plot_round_bounds",
    "plot_run",
    "plot_scaling",
    "plot_sweep",
    "plot_timeline",
    "plot_utilization",
]

_METRIC_LABELS = {
    "grad_norm": r"$\|\nabla f(\theta)\|$",
    "return_mean": "average return (training batch)",
    "eval_return": "average return (evaluation)",
}
#: ε-complexity shape (theory.COMPLEXITY_SHAPES) of each aggregation protocol
_SHAPE_OF_PROTOCOL = {
    "rennala": "rennala_nigt",
    "malenia": "malenia_nigt",
    "synchronized": "synchronized_nigt",
    "asynchronous": "afedpg",
}
_MARKERS = "os^Dv<>PX*"
_KIND_COLORS = {
    "compute": "tab:green",
    "upload": "tab:blue",
    "discarded": "tab:orange",
    "lost": "tab:red",
    "idle": "0.85",
}
#: trace event that ends a computation → timeline kind of that computation
_COMPUTE_OUTCOMES = {"compute_end": "compute", "discarded": "discarded", "lost": "lost"}
_NOT_FINISHED = {"failed", "error", "pending", "running"}
_INDEX_COLUMNS = ("hash", "status", "error")

Spans = dict[int, dict[str, list[tuple[float, float]]]]


# ---------------------------------------------------------------- scenario quantities


def gradient_times(scenario: Scenario) -> np.ndarray:
    """τ_i = h_i·H: the mean per-gradient compute time of each agent (SPEC §4)."""
    return _means(scenario)["compute"] * scenario.horizon


def _means(scenario: Scenario) -> dict[str, np.ndarray]:
    """Per-agent mean durations of the ``compute`` (h_i), ``uplink`` and ``downlink`` models."""
    seed = np.random.SeedSequence(scenario.seed)
    cluster = build_cluster(scenario, vector_dimension(scenario), seed)
    return {role: model.means(scenario.cluster.n) for role, model in cluster.models.items()}


def _protocol(scenario: Scenario, key: str) -> str:
    """Aggregation protocol (registry) of the method whose output key is ``key``."""
    method = next(m for m in scenario.methods if m.key == key)
    return METHODS[method.name].protocol


def _batches(scenario: Scenario, key: str) -> tuple[int, int]:
    """(M_init, M) of a method, defaulted as the runner does (M = n, M_init = M)."""
    method = next(m for m in scenario.methods if m.key == key)
    batch = method.batch or scenario.cluster.n
    return method.initial_batch or batch, batch


def _method_keys(runs: Iterable[RunResult]) -> list[str]:
    """Method keys in order of first appearance (fixes each method's colour C0, C1, ...)."""
    return list(dict.fromkeys(key for run in runs for key in run.methods))


# ---------------------------------------------------------------- (a) progress


def plot_progress(
    runs: Sequence[RunResult],
    metric: str = "auto",
    band: str = "minmax",
    out: str | Path | None = None,
) -> Figure:
    """Metric versus simulated time, one line per method: the mean over seeds and a band.

    Args:
        runs: Runs of one scenario with different seeds (one run: its rows are drawn as is).
        metric: A row column; ``"auto"`` picks ``eval_return``, else ``return_mean`` (RL),
            else ``grad_norm`` (synthetic, log y axis).
        band: ``"minmax"`` (min–max over seeds) or ``"std"`` (mean ± one standard deviation).
        out: Save as ``out.png`` and ``out.pdf`` when given.

    Seeds are interpolated linearly on 200 times spanning the interval all of them cover.
    """
    metric = _auto_metric(runs) if metric == "auto" else metric
    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.subplots()
    for index, key in enumerate(_method_keys(runs)):
        curves = [_curve(run.methods[key].rows, metric) for run in runs if key in run.methods]
        curves = [curve for curve in curves if curve[0].size]
        if not curves:
            continue
        times, mean, low, high = _mean_band(curves, band)
        ax.plot(times, mean, color=f"C{index}", label=key)
        if len(curves) > 1:
            ax.fill_between(times, low, high, color=f"C{index}", alpha=0.2, linewidth=0)
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel(_METRIC_LABELS.get(metric, metric))
    if metric == "grad_norm":
        ax.set_yscale("log")
    ax.set_title(f"{runs[0].scenario.name} ({len(runs)} seed{'s' * (len(runs) > 1)})")
    ax.grid(alpha=0.3)
    ax.legend(frameon=False)
    return _saved(fig, out)


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
    """(times, mean, low, high) of the curves on a common time grid."""
    if len(curves) == 1:
        times, values = curves[0]
        return times, values, values, values
    start = max(times[0] for times, _ in curves)
    stop = max(start, min(times[-1] for times, _ in curves))
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
    theory_h: Callable[[Scenario], np.ndarray] = gradient_times,
    eps: float | None = None,
    constants: Mapping[str, float] | None = None,
    out: str | Path | None = None,
) -> Figure:
    """Measured time-to-target versus a swept parameter, with the theory's shapes fitted.

    Each method's measurement is its summary's ``time_to_target`` (``total_time`` when the
    target was not reached). Its shape (``theory.COMPLEXITY_SHAPES`` of its protocol) is
    evaluated per point with h = ``theory_h(scenario)`` (default τ_i = h_i·H) and κ = max_i of
    the mean uplink times, then scaled by one constant per method fitted by least squares in
    log space, c = exp(mean(log measured − log shape)), which the legend shows.

    Args:
        points: (parameter value, run) pairs; several seeds may share a value.
        parameter: x-axis label (``"n"``, ``"α"``, ...).
        theory_h: The per-agent times passed to the shapes as h.
        eps: ε of the shapes (default: the first run's ``budget.target_grad_norm``, else 1).
        constants: ``L_g``, ``L_h``, ``sigma2``, ``delta`` for the shapes (default all 1).
        out: Save as ``out.png`` and ``out.pdf`` when given.

    The y axis is logarithmic; so is the x axis when every parameter value is positive.
    """
    eps = eps or points[0][1].scenario.budget.target_grad_norm or 1.0
    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.subplots()
    for index, key in enumerate(_method_keys(run for _, run in points)):
        chosen = [(x, run) for x, run in points if key in run.methods]
        x = np.array([value for value, _ in chosen], dtype=float)
        measured = np.array([_time_to_target(run.methods[key]) for _, run in chosen])
        color, marker = f"C{index}", _MARKERS[index % len(_MARKERS)]
        ax.plot(x, measured, marker=marker, linestyle="none", color=color, label=key)
        shape_name = _SHAPE_OF_PROTOCOL[_protocol(chosen[0][1].scenario, key)]
        shape = np.array([_shape(shape_name, run.scenario, theory_h, eps, constants)
                          for _, run in chosen])  # fmt: skip
        scale = float(np.exp(np.mean(np.log(measured) - np.log(shape))))
        order = np.argsort(x, kind="stable")
        label = f"{shape_name} theory ×{scale:.1e}"
        ax.plot(x[order], scale * shape[order], color=color, linestyle="--", label=label)
    ax.set_xlabel(parameter)
    ax.set_ylabel("time to target (s)")
    ax.set_yscale("log")
    if all(x > 0 for x, _ in points):
        ax.set_xscale("log")
    values = sorted({float(x) for x, _ in points})
    if len(values) <= 12:
        ax.set_xticks(values, labels=[f"{v:g}" for v in values])
        ax.xaxis.set_minor_locator(NullLocator())
    ax.grid(alpha=0.3, which="both")
    ax.legend(frameon=False, fontsize="small")
    return _saved(fig, out)


def _time_to_target(result: MethodResult) -> float:
    """The summary's time_to_target, or total_time when the target was not reached."""
    reached = result.summary.get("time_to_target")
    return float(result.summary["total_time"] if reached is None else reached)


def _shape(
    name: str,
    scenario: Scenario,
    theory_h: Callable[[Scenario], np.ndarray],
    eps: float,
    constants: Mapping[str, float] | None,
) -> float:
    """One ε-complexity shape at a scenario's times (κ = max mean uplink)."""
    kappa = float(_means(scenario)["uplink"].max())
    return theory.COMPLEXITY_SHAPES[name](theory_h(scenario), kappa, eps, **(constants or {}))


# ---------------------------------------------------------------- (c) round bounds


def plot_round_bounds(run: RunResult, out: str | Path | None = None) -> Figure:
    """Every round's measured duration against its Lemma C.1 / C.2 bound (y = x dashed).

    Rennala rounds use ``theory.rennala_collection_bound`` with that round's batch (M_init for
    iteration 0), Malenia rounds ``malenia_collection_bound`` and synchronized rounds
    ``synchronized_collection_bound``; τ_i = mean h_i·H and κ = max of the mean uplink and
    downlink times. For fixed times every point lies on or below y = x. Asynchronous methods
    have no rounds and are skipped.
    """
    scenario = run.scenario
    means = _means(scenario)
    tau = means["compute"] * scenario.horizon
    kappa = float(max(means["uplink"].max(), means["downlink"].max()))
    fig = Figure(figsize=(5.2, 4.8), layout="constrained")
    ax = fig.subplots()
    largest = 0.0
    for index, (key, result) in enumerate(run.methods.items()):
        protocol = _protocol(scenario, key)
        if protocol == "asynchronous":
            continue
        initial, batch = _batches(scenario, key)
        bounds = [_round_bound(protocol, tau, kappa, initial if row["iteration"] == 0 else batch)
                  for row in result.rows]  # fmt: skip
        measured = [row["time_end"] - row["time_start"] for row in result.rows]
        ax.scatter(bounds, measured, s=14, color=f"C{index}", label=key)
        largest = max(largest, *bounds, *measured)
    ax.plot([0.0, largest], [0.0, largest], "k--", linewidth=1, label="y = x")
    ax.set_xlabel("Lemma C.1 / C.2 bound on the round time (s)")
    ax.set_ylabel("measured round time (s)")
    ax.set_title(scenario.name)
    ax.grid(alpha=0.3)
    ax.legend(frameon=False)
    return _saved(fig, out)


def _round_bound(protocol: str, tau: np.ndarray, kappa: float, batch: int) -> float:
    """The collection-time bound of one round of ``protocol``."""
    if protocol == "rennala":
        return theory.rennala_collection_bound(tau, kappa, batch)
    if protocol == "malenia":
        return theory.malenia_collection_bound(tau, kappa, batch)
    return theory.synchronized_collection_bound(tau, kappa)


# ---------------------------------------------------------------- (d) timeline, (e) utilization


def plot_timeline(
    run: RunResult, method: str, rounds: int = 3, out: str | Path | None = None
) -> Figure:
    """Per-agent timeline of the first ``rounds`` rounds of one method, from its trace.

    Bars: compute (compute_start → compute_end), upload (upload_start → upload_end), discarded
    and lost work (compute_start → discarded / lost) and idle (every gap, including waiting for
    the broadcast); thin white edges separate consecutive gradients. An asynchronous method
    has no rounds: there a "round" is n updates.
    Each bar collection has the gid ``"<kind>:<agent>"``.
    """
    result = run.methods[method]
    if not result.trace:
        raise ValueError(f"method {method!r} has no trace (output.trace was off)")
    n = run.scenario.cluster.n
    asynchronous = _protocol(run.scenario, method) == "asynchronous"
    updates = rounds * n if asynchronous else rounds
    end = result.rows[min(updates, len(result.rows)) - 1]["time_end"]
    spans = _with_idle(_spans(result.trace, end), n, end)
    fig = Figure(figsize=(8.0, 1.2 + 0.35 * n), layout="constrained")
    ax = fig.subplots()
    for agent, kinds in spans.items():
        for kind, bars in kinds.items():
            widths = [(start, stop - start) for start, stop in bars]
            ax.broken_barh(widths, (agent - 0.4, 0.8), facecolors=_KIND_COLORS[kind],
                           edgecolors="white", linewidth=0.5, gid=f"{kind}:{agent}")  # fmt: skip
    shown = [kind for kind in _KIND_COLORS if any(kind in kinds for kinds in spans.values())]
    handles = [Patch(color=_KIND_COLORS[kind], label=kind) for kind in shown]
    fig.legend(handles=handles, loc="outside lower center", ncols=len(shown), frameon=False)
    ax.set_xlim(0.0, end)
    ax.set_ylim(0.4, n + 0.6)
    ax.set_yticks(range(1, n + 1))
    ax.invert_yaxis()
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel("agent")
    ax.set_title(f"{method}: first {rounds} {'rounds of n updates' if asynchronous else 'rounds'}")
    return _saved(fig, out)


def plot_utilization(run: RunResult, out: str | Path | None = None) -> Figure:
    """Per-agent fraction of the run's simulated time spent computing, as stacked bars.

    The lower bar is computation whose gradient was used (ended by compute_end), the upper one
    wasted computation (discarded or lost). One panel per method with a trace.
    """
    traced = {key: result for key, result in run.methods.items() if result.trace}
    if not traced:
        raise ValueError("no method has a trace (output.trace was off)")
    n = run.scenario.cluster.n
    agents = np.arange(1, n + 1)
    fig = Figure(figsize=(3.2 * len(traced) + 1.0, 3.6), layout="constrained")
    axes = fig.subplots(1, len(traced), sharey=True, squeeze=False)[0]
    for ax, (key, result) in zip(axes, traced.items(), strict=True):
        total = result.rows[-1]["time_end"]
        used, wasted = _utilization(_spans(result.trace, total), n, total)
        ax.bar(agents, used, color=_KIND_COLORS["compute"], label="computing, used")
        ax.bar(agents, wasted, bottom=used, color=_KIND_COLORS["discarded"],
               label="computing, wasted (discarded / lost)")  # fmt: skip
        ax.set_title(key)
        ax.set_xlabel("agent")
        ax.set_xticks(agents)
        ax.set_ylim(0.0, 1.0)
    axes[0].set_ylabel("fraction of simulated time")
    axes[0].legend(frameon=False, fontsize="small", loc="upper left")
    return _saved(fig, out)


def _spans(trace: Sequence[tuple[float, int, str, int, int]], end: float) -> Spans:
    """Busy intervals per agent and kind, clipped to [0, end] (the server, agent 0, is left out)."""
    spans: Spans = {}
    opened: dict[tuple[int, str], float] = {}
    for time, agent, event, _, _ in trace:
        if agent == 0 or (time > end and event in ("compute_start", "upload_start")):
            continue
        if event in ("compute_start", "upload_start"):
            opened[agent, event.split("_")[0]] = time
        elif event in _COMPUTE_OUTCOMES or event == "upload_end":
            kind = _COMPUTE_OUTCOMES.get(event, "upload")
            start = opened.pop((agent, "upload" if kind == "upload" else "compute"), None)
            if start is not None:
                kinds = spans.setdefault(agent, {})
                kinds.setdefault(kind, []).append((start, min(time, end)))
    return spans


def _with_idle(spans: Spans, n: int, end: float) -> Spans:
    """``spans`` plus, for every agent 1..n, the gaps of [0, end] it is not busy in."""
    result: Spans = {}
    for agent in range(1, n + 1):
        kinds = dict(spans.get(agent, {}))
        busy = sorted(span for bars in kinds.values() for span in bars)
        gaps, cursor = [], 0.0
        for start, stop in busy:
            if start > cursor:
                gaps.append((cursor, start))
            cursor = max(cursor, stop)
        if cursor < end:
            gaps.append((cursor, end))
        if gaps:
            kinds["idle"] = gaps
        result[agent] = kinds
    return result


def _utilization(spans: Spans, n: int, total: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-agent (used, wasted) computing time as fractions of ``total``."""

    def fraction(agent: int, kinds: tuple[str, ...]) -> float:
        bars = spans.get(agent, {})
        return sum(stop - start for kind in kinds for start, stop in bars.get(kind, ())) / total

    agents = range(1, n + 1)
    used = np.array([fraction(a, ("compute",)) for a in agents])
    return used, np.array([fraction(a, ("discarded", "lost")) for a in agents])


# ---------------------------------------------------------------- run and sweep directories


def plot_run(run: RunResult | str | Path, out_dir: str | Path) -> list[Path]:
    """Write a run's figures (PNG + PDF) into ``out_dir`` and return their paths.

    ``progress``, ``round_bounds`` (if a method is round-based), ``timeline_<method>`` for each
    round-based method and the first asynchronous one, and ``utilization`` (timelines and
    utilization only for methods whose trace was recorded).
    """
    if not isinstance(run, RunResult):
        from asyncsim.results import load_run

        run = load_run(run)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    protocols = {key: _protocol(run.scenario, key) for key in run.methods}
    paths = _save(plot_progress([run]), out / "progress")
    if any(p != "asynchronous" for p in protocols.values()):
        paths += _save(plot_round_bounds(run), out / "round_bounds")
    traced = [key for key in run.methods if run.methods[key].trace]
    first_async = [key for key in traced if protocols[key] == "asynchronous"][:1]
    for key in traced:
        if protocols[key] != "asynchronous" or key in first_async:
            paths += _save(plot_timeline(run, key), out / f"timeline_{_slug(key)}")
    if traced:
        paths += _save(plot_utilization(run), out / "utilization")
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
    from asyncsim.results import load_run

    sweep = Path(sweep_dir)
    with open(sweep / "index.csv", newline="") as handle:
        records = list(csv.DictReader(handle))
    fields = [f for f in (records[0] if records else {}) if f not in (*_INDEX_COLUMNS, "seed")]
    loaded = [(r, load_run(sweep / "points" / r["hash"])) for r in records if _finished(r, sweep)]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    groups = _group(loaded, fields)
    if len(groups) <= max_progress:
        for values, members in groups.items():
            name = "_".join(["progress", _assignments(fields, values)]).rstrip("_")
            paths += _save(plot_progress([run for _, run in members]), out / name)
    for field in fields:
        values = [_parameter_value(field, record[field]) for record, _ in loaded]
        if not values or None in values:
            continue
        others = [f for f in fields if f != field]
        for rest, members in _group(loaded, others).items():
            points = [(_parameter_value(field, r[field]), run) for r, run in members]
            name = "_".join(["scaling", _slug(field), _assignments(others, rest)]).rstrip("_")
            paths += _save(plot_scaling(points, _parameter_label(field)), out / name)
    return paths


def _finished(record: Mapping[str, str], sweep: Path) -> bool:
    """Whether a sweep point has results: no error, not failed or pending, and a directory."""
    status = (record.get("status") or "").strip().lower()
    point = sweep / "points" / record["hash"]
    failed = bool((record.get("error") or "").strip()) or status in _NOT_FINISHED
    return not failed and point.is_dir()


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


_POWER = re.compile(r"^i\s*\*\*\s*\(?\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*\)?$")


def _parameter_value(field: str, text: str) -> float | None:
    """The numeric value of a swept field; α for ``cluster.compute.h`` = i**α; None otherwise."""
    text = text.strip()
    if field == "cluster.compute.h":
        match = _POWER.match(text)
        return {"sqrt(i)": 0.5, "i": 1.0}.get(text, float(match[1]) if match else None)
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _parameter_label(field: str) -> str:
    """x-axis label of a swept field."""
    return "heterogeneity exponent α (h_i = i^α)" if field == "cluster.compute.h" else field


# ---------------------------------------------------------------- saving


def _slug(text: str, empty: str = "figure") -> str:
    """A file-name-safe version of ``text`` (``empty`` when nothing is left)."""
    return re.sub(r"[^A-Za-z0-9._=,-]+", "_", text).strip("_") or empty


def _save(fig: Figure, out: str | Path) -> list[Path]:
    """Save ``fig`` as ``out.png`` (150 dpi) and ``out.pdf``; return both paths."""
    base = Path(out)
    base.parent.mkdir(parents=True, exist_ok=True)
    paths = [base.with_name(f"{base.name}.{suffix}") for suffix in ("png", "pdf")]
    for path in paths:
        fig.savefig(path, dpi=150)
    return paths


def _saved(fig: Figure, out: str | Path | None) -> Figure:
    """Save ``fig`` when ``out`` is given; return it."""
    if out is not None:
        _save(fig, out)
    return fig
