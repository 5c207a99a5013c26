"""Theory check: measured round times and time-to-target scaling against asyncsim.theory
(report rendering and command line; the checks are :func:`asyncsim.bounds.check_rounds` and
:func:`asyncsim.fitting.fit_scaling`).

Usage::

    python -m analysis.theory_check SWEEP_DIR_or_RUN_DIR... --out report.md

writes a markdown report (and ``scaling_*.png/pdf`` figures next to it) with two parts:

1. **Round times** (docs/algorithms.md, "Closed forms"). For every point and every method whose
   protocol declares an exact round, with fixed times, each round of ``iterations.csv`` is
   compared with that closed form evaluated at the round's *absolute* start: the broadcast
   reaches agent i at ``time_start + b_i``, so the closed form repeats the simulator's float
   additions and reproduces its tie-breaking exactly. The relative error of the round duration
   (and of the stop time) must stay below 1e-9; the number of gradients used and of participants
   must match the closed form's counts B_i. Protocols without rounds, and random, time-varying
   or traced times, outages and per-step timing, have no fixed closed form: those are skipped
   with a note.
2. **Scaling** (ε-complexities). For sweeps over ``cluster.n`` or over
   ``cluster.compute.h = i**α``, each method's time to target is compared with its
   protocol's shape for its optimizer (Rennala: harmonic-like, Malenia: mean-like,
   Synchronized: max-like, AFedPG: the Table 1 bound ...), evaluated with h = τ_i = mean h_i·H
   and κ = max_i κ_i. One constant per method is fitted by least squares in log space over all
   reached runs. Reported: the agreement max_x |log(measured_x / (c·shape_x))| with measured_x
   the geometric mean over seeds, Spearman's rank correlation, the trend of both curves, and a
   verdict line. Methods without a shape get none.

The shapes' constants (L_g, L_h, σ², Δ) are by default those the synthetic oracle knows about
itself (``NonconvexOracle.constants``). Where the oracle does not know them (RL) they are set
so that the scenario's batch M is the theory's best one: L_g = Δ = 1, L_h = 0, σ² = M·ε²
(:data:`asyncsim.bounds.CONSTANTS_MODES`); with all constants 1 instead, the Rennala shape's
best batch would be m ≈ 1 and it would be flat in n whatever M the scenario uses.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asyncsim.analysis.bounds import (
    CONSTANTS_MODES,
    ROUND_TOLERANCE,
    Constants,
    RoundCheck,
    Skip,
    check_rounds,
    constants_text,
)
from asyncsim.analysis.fitting import (
    AGREEMENT_TOLERANCE,
    SCALING_AXES,
    TREND_TOLERANCE,
    Point,
    ScalingFit,
    axis_label,
    axis_value,
    fit_scaling,
)
from asyncsim.analysis.plots import plot_scaling
from asyncsim.core.registry import METHODS
from asyncsim.store.run_data import RunResult
from asyncsim.store.runs import is_complete, is_readable, load_run
from asyncsim.store.sweep_index import read_index

__all__ = ["TheoryReport", "load_points", "main", "render_report", "theory_check", "verdict_line"]

_CHECK, _CROSS = "✓", "✗"


# ---------------------------------------------------------------- loading


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
            if row.get("status") != "done" or not is_readable(directory):
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


def _display_name(name: str) -> str:
    """'Rennala NIGT' for 'rennala_nigt' (the registry's title of the name as written)."""
    return METHODS.get(name).title_of(name) if name in METHODS else name


def verdict_line(fit: ScalingFit) -> str:
    """The verdict line of a fit, e.g. 'Rennala NIGT: harmonic-like (decreases, then saturates
    with n) ✓ — ...'."""
    head = f"{_display_name(fit.name)}: {fit.scaling}"
    if not fit.enough:
        return (
            f"{head}: n/a — target reached at {fit.reached}/{fit.runs} runs, fewer "
            f"than 3 values of {fit.parameter}{_censored_note(fit)}"
        )
    mark = _CHECK if fit.verdict else _CROSS
    relation = "≤" if fit.fit_ok else ">"
    return (
        f"{head} ({fit.trend_measured} with {fit.parameter}) {mark} — theory: "
        f"{fit.trend_theory} (trend {_CHECK if fit.trend_ok else _CROSS}); "
        f"fit c = {fit.constant:.3g}, max |log(measured/fit)| = {fit.max_log_dev:.2f} "
        f"{relation} {fit.tolerance:.2f} (fit {_CHECK if fit.fit_ok else _CROSS}), "
        f"ρ = {fit.rank_correlation:.2f}{_censored_note(fit)}"
    )


def _censored_note(fit: ScalingFit) -> str:
    if not fit.censored_x:
        return ""
    values = ", ".join(f"{x:g}" for x in fit.censored_x)
    return f"; target not reached at {fit.parameter} = {values} (censored, not fitted)"


def _scaling_figure(
    points: Sequence[Point],
    axis: str,
    group: Mapping[str, Any],
    constants: Constants,
    out: Path,
) -> Path:
    """plot_scaling of one group (censored runs drawn hollow, not fitted); the PNG path."""
    chosen = [
        (axis_value(axis, point.values.get(axis)), point.run)
        for point in points
        if axis_value(axis, point.values.get(axis)) is not None
        and {k: v for k, v in point.values.items() if k not in (axis, "seed")} == dict(group)
    ]
    plot_scaling(chosen, axis_label(axis), constants=constants, out=out)
    return out.with_name(out.name + ".png")


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
        lines.append(f"- `{fit.source}`, scaling in {fit.parameter}: {verdict_line(fit)}")
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
        lines += ["Verdicts:", "", *(f"- {verdict_line(fit)}" for fit in fits), ""]
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
    return constants_text(fits[0].constants if fits else {}, constants)


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
        print(f"[{fit.source}] {verdict_line(fit)}")
    print(f"report written to {args.out}")
    return 1 if report.mismatches or report.count_mismatches else 0


if __name__ == "__main__":
    raise SystemExit(main())
