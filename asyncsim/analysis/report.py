"""The paper-style report of a sweep or run directory (``asyncsim report DIR``).

Per method and per value of the swept fields other than ``seed``: the time to target (the total
time when the scenario has no target) as mean ± standard error over the seeds (one seed: its
time), a run that missed the target counted at the end of its budget as the paper's plots do
(the mean is then a lower bound, shown as "≥", with the number of missed runs); the closed-form
cost per gradient (:func:`asyncsim.analysis.bounds.method_bounds`); the mean gradients used and
uploads. For each group, one sentence says whether the measured order of the methods agrees with the
order of their closed-form costs per gradient (:func:`agreement`), and claims no more than the
runs show: ties are ties, methods that missed the target are ordered only where their lower
bounds decide it, and runs that neither reach a common target nor use the same number of
gradients are not compared at all.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from asyncsim.analysis import bounds
from asyncsim.analysis.tables import load_run_frame, load_sweep
from asyncsim.scenario.schema import Scenario, scenario_warnings
from asyncsim.store.runs import read_run_scenario

__all__ = [
    "TIE_TOLERANCE",
    "ReportRow",
    "agreement",
    "format_number",
    "format_table",
    "format_time",
    "report_rows",
    "report_text",
    "report_warnings",
]

TIE_TOLERANCE = 1e-9
"""Two times (or two costs) whose relative difference is at most this are equal: a tie, not
an order. Methods of one protocol share their closed form exactly, and with fixed times their
runs take the same time to the last few bits (float sums in another order)."""

_SUMMARY_COLUMNS = ("name", "protocol", "optimizer", "seed")


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Plain-text table: first column left-aligned, the others right-aligned; floats with 6
    significant digits, None as '-'."""
    cells = [list(headers), *([_cell(v) for v in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        first = row[0].ljust(widths[0])
        return "  ".join([first, *(c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True))])

    return "\n".join(line(row) for row in cells)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float | np.floating):
        return f"{value:.6g}"
    return str(value)


@dataclass(frozen=True)
class ReportRow:
    """One method in one group of swept values, over its seeds."""

    group: tuple[tuple[str, Any], ...]
    method: str
    runs: int
    missed: int
    mean: float
    standard_error: float
    cost: float | None
    gradients: float
    uploads: float
    targeted: bool = True
    """The scenario has a target (else ``mean`` is the total time of the budget)."""


def report_rows(path: str | Path) -> list[ReportRow]:
    """The rows of the report of a sweep directory (``index.csv``) or a run directory."""
    path = Path(path)
    sweep = (path / "index.csv").is_file()
    frame = load_sweep(path) if sweep else load_run_frame(path)
    if frame.empty:
        return []
    swept = list(frame.columns[: list(frame.columns).index("hash")]) if sweep else []
    group_by = [c for c in swept if c != "seed"]
    rows = []
    for keys, part in frame.groupby([*group_by, "method"], sort=False, dropna=False):
        keys = keys if isinstance(keys, tuple) else (keys,)
        method = keys[-1]
        times = part["time_to_target_censored"].astype(float).tolist()
        point = (path / "points" / str(part["hash"].iloc[0])) if sweep else path
        scenario = read_run_scenario(point)
        budget = scenario.budget
        rows.append(
            ReportRow(
                group=tuple(zip(group_by, keys[:-1], strict=True)),
                method=method,
                runs=len(times),
                missed=int((~part["reached"]).sum()),
                mean=float(sum(times) / len(times)),
                standard_error=_standard_error(times),
                cost=_gradient_cost(scenario, method),
                gradients=float(part["gradients_used"].mean()),
                uploads=float(part["uploads"].mean()),
                targeted=budget.target_grad_norm is not None or budget.target_return is not None,
            )
        )
    return rows


def report_warnings(path: str | Path) -> list[str]:
    """What :func:`asyncsim.scenario.schema.scenario_warnings` says of the scenarios of a sweep or
    run directory's finished points (each warning once)."""
    path = Path(path)
    if not (path / "index.csv").is_file():
        return scenario_warnings(read_run_scenario(path))
    from asyncsim.store.sweep_index import read_index

    hashes = {row["hash"] for row in read_index(path) if row.get("status") == "done"}
    found = [
        warning
        for point in sorted(hashes)
        if (path / "points" / point / "scenario.yaml").is_file()
        for warning in scenario_warnings(read_run_scenario(path / "points" / point))
    ]
    return list(dict.fromkeys(found))


def _standard_error(values: Sequence[float]) -> float:
    n = len(values)
    if n < 2:
        return 0.0
    mean = sum(values) / n
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1) / n)


def _gradient_cost(scenario: Scenario, key: str) -> float | None:
    """The closed-form seconds per gradient of method ``key`` in ``scenario``."""
    method = next(m for m in scenario.methods if m.key == key)
    return bounds.method_bounds(scenario, method).gradient_cost


def format_number(value: float) -> str:
    """A reader's number: whole from 100 on (``3454``), else 3 significant digits (``0.505``)."""
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"


def format_time(row: ReportRow) -> str:
    """``420 ± 118``; one run: ``420``; ``≥ 804 ± 200 (1/3 missed)`` when some runs missed
    the target."""
    text = format_number(row.mean)
    if row.runs > 1:
        text += f" ± {format_number(row.standard_error)}"
    return f"≥ {text} ({row.missed}/{row.runs} missed)" if row.missed else text


def _tied(a: float, b: float) -> bool:
    """Equal within :data:`TIE_TOLERANCE` (relative)."""
    return abs(a - b) <= TIE_TOLERANCE * max(abs(a), abs(b))


def _chain(rows: Sequence[ReportRow], value: Any, label: Any = None) -> str:
    """``a < b = c``: the rows (sorted by ``value``) joined by '<', or '=' for a tie."""
    label = label or (lambda row: row.method)
    parts = [label(rows[0])] if rows else []
    for before, after in itertools.pairwise(rows):
        parts += ["=" if _tied(value(before), value(after)) else "<", label(after)]
    return " ".join(parts)


def _measured_order(rows: Sequence[ReportRow]) -> tuple[str, list[tuple[ReportRow, ReportRow]]]:
    """The measured order as text and the pairs (faster, slower) it shows.

    Methods whose every run reached the target are ordered by their mean time (ties: '=').
    A method with missed runs has a lower bound for its mean: it is placed after the others
    only when that bound is at least all their means, several such methods are not ordered
    among themselves ({a, b}), and one whose bound is smaller is listed as not ordered."""
    reached = sorted((row for row in rows if not row.missed), key=lambda row: row.mean)
    missed = [row for row in rows if row.missed]
    slowest = max((row.mean for row in reached), default=0.0)
    after = [row for row in missed if row.mean >= slowest]
    unordered = [row for row in missed if row.mean < slowest]
    text = _chain(reached, lambda row: row.mean)
    if after:
        names = ", ".join(row.method for row in after)
        text += (" < " if text else "") + (names if len(after) == 1 else f"{{{names}}}")
    if unordered:
        names = ", ".join(row.method for row in unordered)
        text += f" ({names}: missed the target, a lower bound below others' times: not ordered)"
    return text, [(a, b) for a in rows for b in rows if _faster(a, b)]


def _faster(a: ReportRow, b: ReportRow) -> bool:
    """The runs show ``a`` faster than ``b``: every run of ``a`` reached the target, before
    ``b``'s mean time (not tied) or at most ``b``'s lower bound when ``b`` missed."""
    if a.missed or a is b:
        return False
    return a.mean <= b.mean if b.missed else a.mean < b.mean and not _tied(a.mean, b.mean)


def _comparable(rows: Sequence[ReportRow]) -> bool:
    """The runs reached a common target, or each method used the same number of gradients:
    only then can their times be set against costs per gradient."""
    return all(row.targeted for row in rows) or all(
        _tied(row.gradients, rows[0].gradients) for row in rows
    )


def agreement(rows: Sequence[ReportRow]) -> str:
    """One sentence: does the measured order (time to target) agree with the order of the
    closed-form costs per gradient? ``rows`` are the methods of one group. Only the pairs the
    runs order (:func:`_measured_order`) are set against the costs; a pair of equal costs
    agrees with any order."""
    costed = [row for row in rows if row.cost is not None]
    if len(costed) < 2:
        return "fewer than two methods have a closed-form cost per gradient: nothing to compare."
    if not _comparable(costed):
        used = ", ".join(f"{row.method} {format_number(row.gradients)}" for row in costed)
        return (
            "not compared: the runs neither reach a common target nor use the same number of "
            f"gradients (gradients used: {used}); give a target to compare them."
        )
    order, shown = _measured_order(costed)
    predicted = sorted(costed, key=lambda row: row.cost)
    costs = _chain(predicted, lambda row: row.cost, lambda row: f"{row.method} ({row.cost:.3g} s)")
    against = [(a, b) for a, b in shown if a.cost > b.cost and not _tied(a.cost, b.cost)]
    if against:
        verdict = (f"the measured order {order} differs from the closed-form costs per gradient "
                   f"{costs}")  # fmt: skip
    else:
        verdict = f"the measured order {order} agrees with the closed-form costs per gradient"
    missed = [row.method for row in costed if row.missed]
    caveat = f" (runs of {', '.join(missed)} missed the target: lower bounds)" if missed else ""
    return f"{verdict}{caveat}."


def report_text(path: str | Path) -> str:
    """The report as plain text: a table per group of swept values and its sentence."""
    rows = report_rows(path)
    if not rows:
        return "no finished run in this directory"
    groups: dict[tuple, list[ReportRow]] = {}
    for row in rows:
        groups.setdefault(row.group, []).append(row)
    parts = []
    for group, members in groups.items():
        title = ", ".join(f"{k} = {v}" for k, v in group)
        time = "time to target (s)" if all(r.targeted for r in members) else "total time (s)"
        headers = ["method", time, "s/gradient", "gradients used", "uploads", "seeds"]
        table = format_table(
            headers,
            [
                [
                    r.method,
                    format_time(r),
                    None if r.cost is None else format_number(r.cost),
                    format_number(r.gradients),
                    format_number(r.uploads),
                    r.runs,
                ]
                for r in members
            ],
        )
        sentence = "Closed forms: " + agreement(members)
        parts.append("\n".join(filter(None, [title, table, sentence])))
    return "\n\n".join(parts)
