"""Check the paper's Fig. 1 ordering on finished sweeps of the (reduced) Fig. 1 scenarios.

    python -m analysis.paper_ordering --equal DIR_A --heterogeneous DIR_B --communication DIR_C

Claims (Tyurin et al., App. H; SPEC §6):
- (a) equal times: the methods' times to the target return are within noise of each other:
  every pair of method means differs by at most ``NOISE_WIDTHS`` pooled standard errors;
- (b), (c) heterogeneous times: Rennala NIGT reaches the target first (smallest mean time);
- (c) versus (b): Rennala NIGT's lead over AFedPG and over Synchronized NIGT (their mean time
  divided by Rennala's) is larger in (c).

A run that never reached the target counts at its simulated time budget (a lower bound on its
time to target, so the checks lean against the method that missed it). Prints a markdown
report; exits 1 when a claim fails.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from asyncsim.results import load_run
from asyncsim.sweep import read_index

__all__ = ["NOISE_WIDTHS", "Times", "check_claims", "main", "times_to_target"]

NOISE_WIDTHS = 2.0
RENNALA, AFEDPG, SYNCHRONIZED = "rennala_nigt", "afedpg", "synchronized_nigt"


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


def times_to_target(sweep_dir: str | Path) -> dict[str, Times]:
    """Per method, the time to target of every finished point of a sweep directory."""
    values: dict[str, list[float]] = {}
    censored: dict[str, int] = {}
    for row in read_index(sweep_dir):
        if row.get("status") != "done":
            continue
        run = load_run(Path(sweep_dir) / "points" / str(row["hash"]))
        budget = run.scenario.budget.time
        for key, method in run.methods.items():
            reached = method.summary["time_to_target"]
            values.setdefault(key, []).append(reached if reached is not None else budget)
            censored[key] = censored.get(key, 0) + (reached is None)
    return {key: Times(tuple(v), censored[key]) for key, v in values.items()}


def _within_noise(times: Mapping[str, Times]) -> bool:
    keys = sorted(times)
    for i, first in enumerate(keys):
        for second in keys[i + 1 :]:
            a, b = times[first], times[second]
            pooled = math.hypot(a.standard_error, b.standard_error)
            if abs(a.mean - b.mean) > NOISE_WIDTHS * pooled:
                return False
    return True


def _lead(times: Mapping[str, Times], other: str) -> float:
    return times[other].mean / times[RENNALA].mean


def _first(times: Mapping[str, Times]) -> bool:
    return min(times, key=lambda key: times[key].mean) == RENNALA


def check_claims(
    equal: Mapping[str, Times],
    heterogeneous: Mapping[str, Times],
    communication: Mapping[str, Times],
) -> dict[str, bool]:
    """The four claims of the module docstring, by name."""
    return {
        "(a) equal times: within noise": _within_noise(equal),
        "(b) Rennala NIGT first": _first(heterogeneous),
        "(c) Rennala NIGT first": _first(communication),
        "(c) lead over AFedPG and Synchronized NIGT larger than in (b)": all(
            _lead(communication, other) > _lead(heterogeneous, other)
            for other in (AFEDPG, SYNCHRONIZED)
        ),
    }


def report(figures: Mapping[str, Mapping[str, Times]], claims: Mapping[str, bool]) -> str:
    """Markdown: a table of mean ± standard error per figure and method, then the verdicts."""
    lines = [
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
    lines += [f"- {'✓' if ok else '✗'} {claim}" for claim, ok in claims.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--equal", required=True, help="sweep dir of Fig. 1(a)")
    parser.add_argument("--heterogeneous", required=True, help="sweep dir of Fig. 1(b)")
    parser.add_argument("--communication", required=True, help="sweep dir of Fig. 1(c)")
    args = parser.parse_args(argv)
    figures = {
        "(a)": times_to_target(args.equal),
        "(b)": times_to_target(args.heterogeneous),
        "(c)": times_to_target(args.communication),
    }
    claims = check_claims(figures["(a)"], figures["(b)"], figures["(c)"])
    print(report(figures, claims))
    return 0 if all(claims.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
