"""Learning curves of a finished sweep of a policy-gradient scenario: does each run learn?

    python -m analysis.learning_curves DIR [DIR ...] [--out FIGURE_DIR]

For every method and seed the sweep has finished (also in points still running or interrupted),
from the evaluations of the iteration table (``eval_return`` and
``eval_episode_length`` of the model θ, every ``evaluation.period`` simulated seconds) and the
evaluation of θ_0 (the summary's ``initial_return``):

- initial: θ_0's evaluation return; end: the mean of the evaluations of the last fifth of the
  run; ratio: end / initial;
- first fifth and last fifth: the mean evaluation return over the evaluations whose
  transitions used (cumulative) fall in the first and the last fifth of the run's transitions,
  with the standard error of their difference (√(s₁²/n₁ + s₂²/n₂), evaluations taken as
  independent samples); z = (last − first) / that error;
- episode length at the start (the first evaluation, after the first update), the mean over the
  first fifth and over the last fifth, and the growth last fifth / start.

A run *learns* (``LEARNS``) when its end is at least ``RATIO`` times its initial return and
z > ``Z``. Prints a markdown table and the verdict per method; with ``--out`` it draws the
return and the episode length against transitions (mean over seeds, each seed thin) to
``learning_curves.png`` and writes the plotted data beside it (``learning_curves.csv``).
Several sweeps are read in turn: a run of a later one replaces an earlier one of the same method
and seed (a re-run with other settings or denser evaluations). Exits 1 when some run does not learn.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analysis import refuse
from asyncsim.store.runs import method_tables
from asyncsim.store.sweep_index import read_index

__all__ = ["RATIO", "Curve", "LearningSummary", "Z", "curve", "main", "summarize"]

RATIO = 3.0
"""A run learns when its end return is at least this times θ_0's."""
Z = 3.0
"""... and its last fifth is above its first fifth by more than this many standard errors."""


@dataclass(frozen=True)
class Curve:
    """A run's evaluations: cumulative transitions used, return and episode length."""

    transitions: tuple[float, ...]
    returns: tuple[float, ...]
    lengths: tuple[float | None, ...]


@dataclass(frozen=True)
class LearningSummary:
    """The figures of one run (module docstring)."""

    initial: float
    first: float
    last: float
    error: float
    length_start: float | None
    length_first: float | None
    length_last: float | None

    @property
    def ratio(self) -> float:
        return self.last / self.initial if self.initial > 0 else math.nan

    @property
    def z(self) -> float:
        gain = self.last - self.first
        if self.error > 0:
            return gain / self.error
        return math.inf if gain > 0 else -math.inf

    @property
    def length_growth(self) -> float | None:
        """The last fifth's mean episode length over the first evaluation's."""
        if self.length_start and self.length_last is not None:
            return self.length_last / self.length_start
        return None

    @property
    def learns(self) -> bool:
        return self.ratio >= RATIO and self.z > Z


def curve(rows: Sequence[Mapping[str, Any]]) -> Curve:
    """The evaluated rows of an iteration table, with the transitions used up to each."""
    used, points = 0.0, []
    for row in rows:
        used += row.get("transitions") or 0.0
        if row.get("eval_return") is not None:
            points.append((used, row["eval_return"], row.get("eval_episode_length")))
    if not points:
        raise ValueError("no evaluated rows (eval_return): run with evaluation.episodes > 0")
    transitions, returns, lengths = zip(*points, strict=True)
    return Curve(transitions, returns, lengths)


def _fifth(values: Sequence[Any], transitions: Sequence[float], last: bool) -> list[Any]:
    total = transitions[-1]
    if last:
        return [v for v, t in zip(values, transitions, strict=True) if t >= 0.8 * total]
    return [v for v, t in zip(values, transitions, strict=True) if t <= 0.2 * total]


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def _variance(values: Sequence[float]) -> float:
    if len(values) < 2:
        return 0.0
    mean = _mean(values)
    return sum((v - mean) ** 2 for v in values) / (len(values) - 1)


def summarize(run_curve: Curve, initial: float) -> LearningSummary:
    """The figures of one run from its curve and θ_0's evaluation return."""
    first = _fifth(run_curve.returns, run_curve.transitions, last=False)
    last = _fifth(run_curve.returns, run_curve.transitions, last=True)
    error = math.sqrt(_variance(first) / len(first) + _variance(last) / len(last))
    lengths = [
        [v for v in _fifth(run_curve.lengths, run_curve.transitions, last=end) if v is not None]
        for end in (False, True)
    ]
    start = next((v for v in run_curve.lengths if v is not None), None)
    return LearningSummary(
        initial,
        _mean(first),
        _mean(last),
        error,
        start,
        *(_mean(part) if part else None for part in lengths),
    )


def finished_methods(sweep_dir: Path) -> Iterator[tuple[str, int, list[dict], dict]]:
    """(method key, seed, iteration rows, summary) of every method a sweep has finished, in
    index and scenario order, also in points still running or interrupted: a sweep writes each
    method × seed as it finishes, so a long reproduction can be read while it runs."""
    for row in read_index(sweep_dir):
        for key, rows, summary in method_tables(sweep_dir / "points" / str(row["hash"])):
            yield key, row["seed"], rows, summary


def _runs(sweep_dirs: Sequence[Path]) -> list[tuple[str, int, Curve, LearningSummary]]:
    """The runs of every sweep directory in turn, listed by method (in order of first
    appearance), then seed; a run of a later directory replaces an earlier one of the same
    method and seed (a re-run with other settings)."""
    chosen = {}
    for sweep_dir in sweep_dirs:
        for key, seed, rows, summary in finished_methods(sweep_dir):
            run_curve = curve(rows)
            initial = summary.get("initial_return")
            if initial is None:
                raise ValueError(f"{key}, seed {seed}: no initial_return in summary.json")
            chosen[key, seed] = (key, seed, run_curve, summarize(run_curve, initial))
    methods = list(dict.fromkeys(key for key, _ in chosen))
    return sorted(chosen.values(), key=lambda run: (methods.index(run[0]), run[1]))


def report(runs: Sequence[tuple[str, int, Curve, LearningSummary]]) -> str:
    """Markdown: one row per run, then a verdict per method."""

    def length(value: float | None) -> str:
        return "-" if value is None else f"{value:.0f}"

    def growth(value: float | None) -> str:
        return "" if value is None else f" ({value:.1f}×)"

    lines = [
        "| method | seed | initial | first fifth | last fifth | ratio | z | "
        "episode length, first evaluation / first fifth → last fifth | learns |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for key, seed, _, s in runs:
        lines.append(
            f"| {key} | {seed} | {s.initial:.1f} | {s.first:.1f} | {s.last:.1f} ± {s.error:.1f} "
            f"| {s.ratio:.1f} | {s.z:.1f} | {length(s.length_start)} / {length(s.length_first)} → "
            f"{length(s.length_last)}{growth(s.length_growth)} | {'✓' if s.learns else '✗'} |"
        )
    lines.append("")
    for key in dict.fromkeys(key for key, *_ in runs):
        mine = [s for k, _, _, s in runs if k == key]
        ok = all(s.learns for s in mine)
        lines.append(
            f"- {'✓' if ok else '✗'} {key}: {sum(s.learns for s in mine)}/{len(mine)} runs end "
            f"≥ {RATIO:g}× θ_0's return with the last fifth > the first by {Z:g} s.e."
        )
    return "\n".join(lines)


def draw(runs: Sequence[tuple[str, int, Curve, LearningSummary]], out: Path) -> Path:
    """Return and episode length against transitions; the plotted data to a CSV beside it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    figure, axes = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    rows = ["series,seed,quantity,x,y"]
    colours = {}
    for key, seed, run_curve, _ in runs:
        colour = colours.setdefault(key, f"C{len(colours)}")
        for ax, quantity, values in (
            (axes[0], "return", run_curve.returns),
            (axes[1], "episode_length", run_curve.lengths),
        ):
            points = [(x, y) for x, y in zip(run_curve.transitions, values, strict=True) if y]
            if not points:
                continue
            xs, ys = zip(*points, strict=True)
            label = key if seed == min(s for k, s, *_ in runs if k == key) else None
            ax.plot(xs, ys, color=colour, lw=0.9, alpha=0.8, label=label)
            rows += [f"{key},{seed},{quantity},{x:.17g},{y:.17g}" for x, y in points]
    for ax, title in zip(axes, ("evaluation return", "evaluation episode length"), strict=True):
        ax.set_xlabel("transitions used")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    path = out / "learning_curves.png"
    figure.savefig(path, dpi=110)
    plt.close(figure)
    (out / "learning_curves.csv").write_text("\n".join(rows) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dirs", type=Path, nargs="+", metavar="DIR")
    parser.add_argument("--out", type=Path, help="folder for learning_curves.png and .csv")
    args = parser.parse_args(argv)
    try:
        runs = _runs(args.sweep_dirs)
    except (OSError, ValueError) as exc:
        return refuse(exc)
    if not runs:
        print(f"error: {' '.join(map(str, args.sweep_dirs))}: no finished methods", file=sys.stderr)
        return 2
    print(report(runs))
    if args.out is not None:
        print(f"\nfigure: {draw(runs, args.out)}")
    return 0 if all(s.learns for *_, s in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
