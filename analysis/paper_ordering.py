"""Check the paper's Fig. 1 ordering on finished sweeps of the (reduced) Fig. 1 scenarios.

    python -m analysis.paper_ordering --equal DIR_A --heterogeneous DIR_B --communication DIR_C
    python -m analysis.paper_ordering --run [--results DIR] [--set PATH=VALUE ...]

The second form first runs the three ``scenarios/paper/reduced/fig1*.yaml`` sweeps (5 seeds
each, resumable) into ``DIR/paper_ordering/<file stem>/``, with the overrides applied to every
file (``make check-paper``, which CI runs, uses it on the reduced budget as it is).

Claims (Tyurin et al., App. H; docs/algorithms.md, "Experiments"):
- (a) equal times: the methods' times to the target return are within noise of each other:
  no pair of method means differs beyond noise (Welch's t test at ``NOISE_LEVEL``);
- (b), (c) heterogeneous times: Rennala NIGT reaches the target first: its mean time is below
  every other method's beyond noise (Welch's t test at ``NOISE_LEVEL``); the claim fails
  when another method's mean is below Rennala NIGT's by more than that, and is undecided
  ("within noise") in between;
- (c) versus (b): Rennala NIGT's lead over AFedPG and over Synchronized NIGT (their mean time
  divided by Rennala's) is larger in (c).

Each claim is decided by learning, not by noise crossing the target: a panel counts only where
its target return is at least ``LEARNING_MARGIN`` times the mean evaluation return of θ_0 over
its runs (the summaries' ``initial_return``); a claim resting on a panel below that margin is
undecided ("?"). The report states each panel's margin.

A run that never reached the target counts at its simulated time budget (a lower bound on its
time to target, so the checks lean against the method that missed it). Claims are measured,
not inferred from budgets: (a) needs every run to reach the target; (b), (c) hold only if every
Rennala NIGT run reached it, and fail on another method only if every run of that method did.
A lead over a method that missed the target is a lower bound, and counting at the budget
does not lean against the last claim (it shrinks the lead in (b) too), so that claim is decided
only where the bounds decide it: it holds if (c)'s lead, exact or a lower bound, exceeds an
exact lead in (b); it fails if an exact lead in (c) is at most (b)'s, exact or a lower bound;
otherwise it is undecided at this budget (reported with "?", not a failure). Prints a markdown
report (with a note where a lead
rests on runs that missed the target); exits 1 when a claim fails.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from analysis import refuse
from asyncsim.analysis.fitting import time_to_target
from asyncsim.core.errors import AsyncSimError
from asyncsim.run.sweep import run_sweep
from asyncsim.scenario.loading import load_scenario_data, parse_override
from asyncsim.store.sweep_index import finished_runs

__all__ = [
    "FIGURE_1",
    "LEARNING_MARGIN",
    "NOISE_LEVEL",
    "Margin",
    "Times",
    "check_claims",
    "main",
    "run_figure_1",
    "times_to_target",
]

NOISE_LEVEL = 0.95
"""Two means differ beyond noise when Welch's t statistic exceeds the two-sided 95% quantile of
Student's t at Welch's degrees of freedom (a few seeds: the normal 1.96 would overstate it)."""
LEARNING_MARGIN = 2.0
"""A panel decides claims only when its target is at least this times θ_0's mean return."""
RENNALA, AFEDPG, SYNCHRONIZED = "rennala_nigt", "afedpg", "synchronized_nigt"
REDUCED_DIR = Path(__file__).resolve().parent.parent / "scenarios" / "paper" / "reduced"
FIGURE_1 = {
    "equal": "fig1a_humanoid_equal_times",
    "heterogeneous": "fig1b_humanoid_heterogeneous",
    "communication": "fig1c_humanoid_large_communication",
}
"""Command-line option → reduced scenario file stem of each Fig. 1 panel."""


@dataclass(frozen=True)
class Times:
    """One method's times to target across seeds (censored runs at the budget)."""

    values: tuple[float, ...]
    censored: int

    @property
    def mean(self) -> float:
        return sum(self.values) / len(self.values)

    @property
    def standard_error(self) -> float:
        n = len(self.values)
        if n < 2:
            return 0.0
        variance = sum((v - self.mean) ** 2 for v in self.values) / (n - 1)
        return math.sqrt(variance / n)


@dataclass(frozen=True)
class Margin:
    """A panel's target return against θ_0's mean evaluation return over its runs."""

    target: float | None
    initial: float | None

    @property
    def ratio(self) -> float | None:
        if self.target is None or self.initial is None or self.initial <= 0:
            return None
        return self.target / self.initial

    @property
    def learned(self) -> bool:
        """Whether reaching the target takes learning (the ratio is at least the margin)."""
        return self.ratio is not None and self.ratio >= LEARNING_MARGIN

    def describe(self) -> str:
        if self.ratio is None:
            return "no target or no evaluation of θ_0: claims undecided"
        return f"target {self.target:g} = {self.ratio:.1f}× θ_0's mean return {self.initial:.1f}"


def learning_margin(sweep_dir: str | Path) -> Margin:
    """The target return of a sweep's runs and θ_0's mean evaluation return over them."""
    targets, initials = set(), []
    for _, run in finished_runs(sweep_dir):
        targets.add(run.scenario.budget.target_return)
        initials += [m.summary.get("initial_return") for m in run.methods.values()]
    known = [value for value in initials if value is not None]
    target = targets.pop() if len(targets) == 1 else None
    return Margin(
        target, sum(known) / len(known) if known and len(known) == len(initials) else None
    )


def times_to_target(sweep_dir: str | Path) -> dict[str, Times]:
    """Per method, the time to target of every finished point of a sweep directory."""
    values: dict[str, list[float]] = {}
    censored: dict[str, int] = {}
    for _, run in finished_runs(sweep_dir):
        for key in run.methods:
            values.setdefault(key, []).append(time_to_target(run, key, censored="budget"))
            censored[key] = censored.get(key, 0) + (time_to_target(run, key) is None)
    return {key: Times(tuple(v), censored[key]) for key, v in values.items()}


def _student_t_quantile(level: float, df: float) -> float:
    """The ``level`` quantile (> 0.5) of Student's t with ``df`` degrees of freedom: bisection
    on its CDF, integrated from the density (trapezoids on 20,001 points)."""
    log_norm = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)

    def cdf(x: float) -> float:
        t = np.linspace(0.0, x, 20001)
        density = np.exp(log_norm - (df + 1) / 2 * np.log1p(t * t / df))
        return 0.5 + float(np.sum((density[1:] + density[:-1]) / 2) * (t[1] - t[0]))

    low, high = 0.0, 100.0
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if cdf(middle) < level else (low, middle)
    return (low + high) / 2


def _welch(a: Times, b: Times) -> float:
    """Welch's t of ``b``'s mean minus ``a``'s, in units of its noise width (the quantile of
    :data:`NOISE_LEVEL`): above 1, ``b`` is slower beyond noise; below −1, faster."""
    va, vb = a.standard_error**2, b.standard_error**2
    difference = b.mean - a.mean
    if va + vb == 0:
        return 0.0 if difference == 0 else math.copysign(math.inf, difference)
    df = (va + vb) ** 2 / (va**2 / max(len(a.values) - 1, 1) + vb**2 / max(len(b.values) - 1, 1))
    width = _student_t_quantile(1 - (1 - NOISE_LEVEL) / 2, df)
    return difference / math.sqrt(va + vb) / width


def _within_noise(times: Mapping[str, Times]) -> bool:
    if any(t.censored for t in times.values()):
        return False
    keys = sorted(times)
    return all(
        abs(_welch(times[first], times[second])) <= 1
        for i, first in enumerate(keys)
        for second in keys[i + 1 :]
    )


def _lead(times: Mapping[str, Times], other: str) -> float:
    return times[other].mean / times[RENNALA].mean


def _first(times: Mapping[str, Times]) -> bool | None:
    """Whether Rennala NIGT is first beyond noise; None when the runs do not decide it (module
    docstring): a censored mean is a lower bound, so it can only hold for a method that missed
    and only fail against one that did not."""
    others = [key for key in times if key != RENNALA]
    gaps = {key: _welch(times[RENNALA], times[key]) for key in others}
    if any(gaps[key] < -1 and not times[key].censored for key in others):
        return False
    if not times[RENNALA].censored and all(gaps[key] > 1 for key in others):
        return True
    return None


def _lead_grows(b: Mapping[str, Times], c: Mapping[str, Times], other: str) -> bool | None:
    """Whether Rennala NIGT's lead over ``other`` is larger in (c) than in (b); None when the
    lower bounds of censored runs cannot decide it (module docstring)."""
    if b[RENNALA].censored or c[RENNALA].censored:
        return None
    lead_b, lead_c = _lead(b, other), _lead(c, other)
    if lead_c > lead_b and not b[other].censored:
        return True
    if lead_c <= lead_b and not c[other].censored:
        return False
    return None


def _all(verdicts: Sequence[bool | None]) -> bool | None:
    """False if any verdict is, else None if any is undecided, else True."""
    if False in verdicts:
        return False
    return None if None in verdicts else True


def check_claims(
    equal: Mapping[str, Times],
    heterogeneous: Mapping[str, Times],
    communication: Mapping[str, Times],
    learned: Mapping[str, bool] | None = None,
) -> dict[str, bool | None]:
    """The four claims of the module docstring, by name: True, False, or None (undecided).

    ``learned`` says for panels "(a)", "(b)", "(c)" whether reaching the target takes learning
    (:class:`Margin`); a claim resting on a panel where it does not is None. Omitted: all do.
    """
    learned = {"(a)": True, "(b)": True, "(c)": True, **(learned or {})}
    claims = {
        "(a) equal times: within noise": (_within_noise(equal), ["(a)"]),
        "(b) Rennala NIGT first": (_first(heterogeneous), ["(b)"]),
        "(c) Rennala NIGT first": (_first(communication), ["(c)"]),
        "(c) lead over AFedPG and Synchronized NIGT larger than in (b)": (
            _all(
                [
                    _lead_grows(heterogeneous, communication, other)
                    for other in (AFEDPG, SYNCHRONIZED)
                ]
            ),
            ["(b)", "(c)"],
        ),
    }
    return {
        claim: verdict if all(learned[panel] for panel in panels) else None
        for claim, (verdict, panels) in claims.items()
    }


def report(
    figures: Mapping[str, Mapping[str, Times]],
    claims: Mapping[str, bool | None],
    margins: Mapping[str, Margin] | None = None,
) -> str:
    """Markdown: each panel's learning margin, a table of mean ± standard error per figure and
    method, then the verdicts."""
    lines = [
        f"- {figure}: {margin.describe()}"
        + ("" if margin.learned else f" (below {LEARNING_MARGIN:g}×: its claims are undecided)")
        for figure, margin in (margins or {}).items()
    ]
    lines += [
        "| figure | method | mean time to target | ± s.e. | missed target |",
        "|---|---|---|---|---|",
    ]
    for figure, times in figures.items():
        for key, t in sorted(times.items()):
            lines.append(
                f"| {figure} | {key} | {t.mean:.4g} | {t.standard_error:.2g} "
                f"| {t.censored}/{len(t.values)} |"
            )
    lines.append("")
    marks = {
        True: "✓",
        False: "✗",
        None: "? undecided at this budget (within noise or lower bounds):",
    }
    lines += [f"- {marks[ok]} {claim}" for claim, ok in claims.items()]
    lines += [
        f"- note: {figure} {key}: {t.censored}/{len(t.values)} runs missed the target; its mean "
        "(and lead over Rennala NIGT) is a lower bound"
        for figure, times in figures.items()
        for key, t in sorted(times.items())
        if t.censored and key != RENNALA
    ]
    return "\n".join(lines)


def run_figure_1(
    results: str | Path,
    overrides: Sequence[str] = (),
    workers: int | None = None,
    overwrite: bool = False,
) -> dict[str, Path]:
    """Run (or resume) the reduced Fig. 1 sweeps; option name → sweep directory (``overwrite``:
    into directories that hold other sweeps, as asyncsim sweep --overwrite)."""
    parsed = [parse_override(text) for text in overrides]
    directories = {}
    for option, stem in FIGURE_1.items():
        out = Path(results) / "paper_ordering" / stem
        print(f"sweep {stem} -> {out}", file=sys.stderr, flush=True)
        data = load_scenario_data(REDUCED_DIR / f"{stem}.yaml", parsed)
        index = run_sweep(data, out, workers=workers, overwrite=overwrite)
        if index.count("failed"):
            raise AsyncSimError(f"{out}: {index.count('failed')} points failed (see index.csv)")
        directories[option] = out
    return directories


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for option in FIGURE_1:
        parser.add_argument(f"--{option}", help=f"sweep dir of {FIGURE_1[option]}")
    parser.add_argument("--run", action="store_true", help="run the reduced Fig. 1 sweeps first")
    parser.add_argument("--results", type=Path, default=Path("results"), help="with --run")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE"
    )
    parser.add_argument("--workers", type=int, help="parallel points [default: all cores]")
    parser.add_argument(
        "--overwrite", action="store_true", help="with --run: into directories of other sweeps"
    )
    args = parser.parse_args(argv)
    try:
        if args.run:
            directories = run_figure_1(args.results, args.overrides, args.workers, args.overwrite)
        else:
            missing = [f"--{option}" for option in FIGURE_1 if getattr(args, option) is None]
            if missing:
                parser.error(f"{', '.join(missing)} required (or --run)")
            directories = {option: getattr(args, option) for option in FIGURE_1}
        panels = list(zip("abc", FIGURE_1, strict=True))
        figures = {f"({p})": times_to_target(directories[o]) for p, o in panels}
        margins = {f"({p})": learning_margin(directories[o]) for p, o in panels}
    except AsyncSimError as exc:
        return refuse(exc)
    learned = {figure: margin.learned for figure, margin in margins.items()}
    claims = check_claims(figures["(a)"], figures["(b)"], figures["(c)"], learned)
    print(report(figures, claims, margins))
    return 1 if False in claims.values() else 0


if __name__ == "__main__":
    sys.exit(main())
