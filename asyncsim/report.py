"""The paper-style report of a sweep or run directory (``asyncsim report DIR``).

Per method and per value of the swept fields other than ``seed``: the time to target as
mean ± standard error over the seeds, a run that missed the target counted at the end of its
budget as the paper's plots do (the mean is then a lower bound, shown as "≥", with the number
of missed runs); the closed-form cost per gradient (:func:`asyncsim.bounds.method_bounds`);
the mean gradients used and uploads. For each group, one sentence says whether the measured
order of the methods agrees with the order of their closed-form costs per gradient.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from asyncsim import bounds
from asyncsim.results import read_run_scenario
from asyncsim.tables import load_run, load_sweep

__all__ = [
    "ReportRow",
    "agreement",
    "format_number",
    "format_table",
    "format_time",
    "report_rows",
    "report_text",
]

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


def report_rows(path: str | Path) -> list[ReportRow]:
    """The rows of the report of a sweep directory (``index.csv``) or a run directory."""
    path = Path(path)
    sweep = (path / "index.csv").is_file()
    frame = load_sweep(path) if sweep else load_run(path)
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
        rows.append(
            ReportRow(
                group=tuple(zip(group_by, keys[:-1], strict=True)),
                method=method,
                runs=len(times),
                missed=int((~part["reached"]).sum()),
                mean=float(sum(times) / len(times)),
                standard_error=_standard_error(times),
                cost=_gradient_cost(point, method),
                gradients=float(part["gradients_used"].mean()),
                uploads=float(part["uploads"].mean()),
            )
        )
    return rows


def _standard_error(values: Sequence[float]) -> float:
    n = len(values)
    if n < 2:
        return 0.0
    mean = sum(values) / n
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1) / n)


def _gradient_cost(run_dir: Path, key: str) -> float | None:
    """The closed-form seconds per gradient of method ``key`` in a run directory's scenario."""
    scenario = read_run_scenario(run_dir)
    method = next(m for m in scenario.methods if m.key == key)
    return bounds.method_bounds(scenario, method).gradient_cost


def format_number(value: float) -> str:
    """A reader's number: whole from 100 on (``3454``), else 3 significant digits (``0.505``)."""
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"


def format_time(row: ReportRow) -> str:
    """``420 ± 118``, or ``≥ 804 ± 200 (1/3 missed)`` when some runs missed the target."""
    text = f"{format_number(row.mean)} ± {format_number(row.standard_error)}"
    return f"≥ {text} ({row.missed}/{row.runs} missed)" if row.missed else text


def agreement(rows: Sequence[ReportRow]) -> str:
    """One sentence: does the measured order (time to target) agree with the order of the
    closed-form costs per gradient? ``rows`` are the methods of one group."""
    costed = [row for row in rows if row.cost is not None]
    if len(costed) < 2:
        return "fewer than two methods have a closed-form cost per gradient: nothing to compare."
    measured = sorted(costed, key=lambda row: row.mean)
    predicted = sorted(costed, key=lambda row: row.cost)
    order = " < ".join(row.method for row in measured)
    if [r.method for r in measured] == [r.method for r in predicted]:
        verdict = f"the measured order {order} agrees with the closed-form costs per gradient"
    else:
        costs = " < ".join(f"{row.method} ({row.cost:.3g} s)" for row in predicted)
        verdict = (f"the measured order {order} differs from the closed-form costs per gradient "
                   f"{costs}")  # fmt: skip
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
    headers = ["method", "time to target (s)", "s/gradient", "gradients used", "uploads", "seeds"]
    for group, members in groups.items():
        title = ", ".join(f"{k} = {v}" for k, v in group)
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
