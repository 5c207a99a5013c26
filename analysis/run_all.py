"""Run the sweeps of ``scenarios/sweeps`` and then the theory check.

Usage::

    python -m analysis.run_all                # synthetic sweeps (about a minute on 2 cores)
    python -m analysis.run_all --quick        # thinned grids, one seed (a few seconds)
    python -m analysis.run_all --mujoco       # also the MuJoCo sweeps (much longer)

Each sweep ``scenarios/sweeps/<name>.yaml`` runs into ``RESULTS/sweeps/<name>/`` through
:func:`asyncsim.sweep.run_sweep`, so an interrupted run resumes and points finished by an
earlier run (``--quick`` ones included: a point's directory is named by its content hash) are
not run again. The report goes to ``RESULTS/theory_check/report.md`` with its figures.
Exit status: 0, or 1 if a sweep point failed or a round time differs from its closed form.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analysis import refuse
from asyncsim.core.errors import AsyncSimError
from asyncsim.run.progress import Progress
from asyncsim.run.sweep import run_sweep
from asyncsim.scenario.loading import load_scenario_data, parse_override

if TYPE_CHECKING:
    from analysis.theory_check import TheoryReport

__all__ = ["MUJOCO", "SWEEPS_DIR", "SYNTHETIC", "main", "quick_sweep", "run_sweeps"]

SWEEPS_DIR = Path(__file__).resolve().parent.parent / "scenarios" / "sweeps"
SYNTHETIC = ("n_agents_synthetic", "heterogeneity_synthetic", "async_sgd_baselines")
MUJOCO = ("n_agents_mujoco", "heterogeneity_mujoco")


def quick_sweep(
    data: Mapping[str, Any], every: int = 2, seeds: int = 1, max_n: int | None = 256
) -> dict[str, Any]:
    """A thinned copy of a sweep: every ``every``-th value of each axis (the first one kept),
    ``cluster.n`` values up to ``max_n``, and the first ``seeds`` seeds."""
    result = dict(data)
    axes = {}
    for axis, values in (data.get("sweep") or {}).items():
        if axis == "seed":
            kept = list(values)[:seeds]
        else:
            kept = list(values)[::every]
            if axis == "cluster.n" and max_n is not None:
                kept = [v for v in kept if v <= max_n] or kept[:1]
        axes[axis] = kept
    result["sweep"] = axes
    return result


def run_sweeps(
    names: Sequence[str],
    results: str | Path,
    overrides: Sequence[str] = (),
    quick: bool = False,
    workers: int | None = None,
    quiet: bool = False,
    overwrite: bool = False,
) -> tuple[list[Path], int]:
    """Run ``scenarios/sweeps/<name>.yaml`` for each name into ``results/sweeps/<name>``.

    Args:
        names: Sweep file stems.
        results: Results root directory.
        overrides: ``path=value`` overrides applied to every sweep file.
        quick: Thin the grids with :func:`quick_sweep`.
        workers: Parallel points (default: all cores).
        quiet: No progress display.
        overwrite: Run into a directory that holds another sweep (asyncsim sweep --overwrite).

    Returns:
        The sweep directories and the number of failed points.
    """
    directories, failed = [], 0
    parsed = [parse_override(text) for text in overrides]
    for name in names:
        data = load_scenario_data(SWEEPS_DIR / f"{name}.yaml", parsed)
        if quick:
            data = quick_sweep(data)
        out = Path(results) / "sweeps" / name
        if not quiet:
            print(f"sweep {name} -> {out}", file=sys.stderr)
        display = None if quiet else (lambda total: Progress(total, "points"))
        index = run_sweep(data, out, workers=workers, progress=display, overwrite=overwrite)
        failed += index.count("failed")
        directories.append(out)
    return directories, failed


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: run the sweeps, then write the theory-check report."""
    parser = argparse.ArgumentParser(
        prog="python -m analysis.run_all",
        description="Run the sweeps of scenarios/sweeps, then the theory check.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="thinned grids (every other value, n <= 256) and one seed",
    )
    parser.add_argument("--mujoco", action="store_true", help="also run the MuJoCo sweeps")
    parser.add_argument(
        "--results", type=Path, default=Path("results"), help="results root [default: %(default)s]"
    )
    parser.add_argument("--workers", type=int, help="parallel points [default: all cores]")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="PATH=VALUE",
        help="override a field of every sweep file",
    )
    parser.add_argument("--no-figures", action="store_true", help="skip the scaling figures")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress display")
    parser.add_argument(
        "--overwrite", action="store_true", help="run into directories holding other sweeps"
    )
    args = parser.parse_args(argv)
    # imported here: sweep workers import this module (forkserver), and need no matplotlib
    from analysis.theory_check import theory_check

    names = SYNTHETIC + (MUJOCO if args.mujoco else ())
    try:
        directories, failed = run_sweeps(
            names,
            args.results,
            args.overrides,
            args.quick,
            args.workers,
            args.quiet,
            args.overwrite,
        )
        report_path = args.results / "theory_check" / "report.md"
        report = theory_check(directories, report_path, figures=not args.no_figures)
    except AsyncSimError as exc:
        return refuse(exc)
    _print_summary(report, report_path, failed)
    return 1 if failed or report.mismatches or report.count_mismatches else 0


def _print_summary(report: TheoryReport, path: Path, failed: int) -> None:
    from analysis.theory_check import verdict_line

    print(
        f"{report.rounds_checked} rounds checked: {report.mismatches} time mismatches, "
        f"{report.count_mismatches} count mismatches"
    )
    for fit in report.fits:
        print(f"[{fit.source}] {verdict_line(fit)}")
    if failed:
        print(f"error: {failed} sweep points failed (see the index.csv files)", file=sys.stderr)
    print(f"report written to {path}")


if __name__ == "__main__":
    raise SystemExit(main())
