"""``asyncsim run``, ``sweep`` and ``tune``: simulate a scenario, its sweep, its step-size grid."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from asyncsim.analysis.report import format_table
from asyncsim.cli import app
from asyncsim.core.csvtables import table_text
from asyncsim.core.errors import AsyncSimError
from asyncsim.run.progress import Progress, throttled
from asyncsim.run.recorder import watching
from asyncsim.run.runner import MethodResult, MethodsFailed, RunResult, simulate
from asyncsim.run.sweep import run_sweep
from asyncsim.run.tune import (
    edge_warnings,
    parse_grid,
    picks,
    tuned_scenario,
    tuning_sweep,
    tuning_table,
)
from asyncsim.scenario.loading import dump_yaml
from asyncsim.scenario.schema import Scenario, scenario_warnings
from asyncsim.store.runs import (
    atomic_write,
    check_run_dir,
    write_run,
)

# ---------------------------------------------------------------- run and sweep

#: table column of `asyncsim run` → summary.json key
_RUN_COLUMNS = {
    "simulated time": "total_time",
    "time to target": "time_to_target",
    "iterations": "iterations",
    "gradients used": "gradients_used",
    "uploads": "uploads",
}


@app.scenario_command()
@app.out_option
@app.quiet_option
@click.option("--no-plots", is_flag=True, help="Do not write the figures.")
@app.overwrite_option
@app.force_option
def run(
    scenario_path: str,
    overrides: Sequence[str],
    out: Path | None,
    quiet: bool,
    no_plots: bool,
    overwrite: bool,
    force: bool,
) -> None:
    """Simulate every method of SCENARIO.

    Prints a summary table and writes a run directory (default: results/<name>) with its
    figures in DIRECTORY/plots. A scenario whose memory or time (lower bounds estimated from
    its fields) cannot fit this machine is refused unless --force is given. A method whose
    iterates diverge stops there, with a warning.
    """
    data = app.load_data(scenario_path, overrides)
    scenario = app.base_scenario(data, force)
    directory = out or Path("results") / scenario.name
    check_run_dir(directory, overwrite, scenario)  # refuse an unusable directory before simulating
    app.warn(scenario_warnings(scenario))
    if data.get("sweep"):
        click.echo(
            "note: running the base scenario only; `asyncsim sweep` runs the sweep", err=True
        )
    with app.writing_to(directory, "run"):
        started = time.time()
        try:
            result, failure = _simulated(scenario, quiet), None
        except MethodsFailed as exc:
            result, failure = exc.result, exc
        app.warn_diverged(result.summary_table())
        if result.methods:
            directory = write_run(result, directory, started, overwrite=overwrite)
            rows = [[s["method"], *(s[k] for k in _RUN_COLUMNS.values())]
                    for s in result.summary_table()]  # fmt: skip
            click.echo(format_table(["method", *_RUN_COLUMNS], rows))
            click.echo(f"results written to {directory}")
            if not no_plots:
                from asyncsim.analysis import plots

                plots.plot_run(result, directory / "plots")
                click.echo(f"figures written to {directory / 'plots'}")
    if failure is not None:
        kept = f"; the methods that finished are written to {directory}" if result.methods else ""
        raise AsyncSimError(f"{failure}{kept}")


def _simulated(scenario: Scenario, quiet: bool) -> RunResult:
    """Every method of ``scenario`` simulated, with progress on stderr unless ``quiet``: the
    running method's iteration, simulated time, transitions and ETA (progress.Progress)."""
    display = Progress(len(scenario.methods), "methods", quiet=quiet)

    def advance(key: str, method: MethodResult) -> None:
        display.advance(method.summary["total_time"] or 0.0, method.summary["iterations"])

    try:
        if quiet:
            return simulate(scenario, progress=advance)
        with watching(throttled(lambda status: display.update("", status), app.WATCH_SECONDS)):
            return simulate(scenario, progress=advance)
    finally:
        display.close()


def _sweep_options(command: Any) -> Any:
    """The options of the commands that run a sweep (sweep, tune)."""
    options = [
        click.option(
            "--executor",
            type=click.Choice(["local", "ray"]),
            default="local",
            show_default=True,
            help="Local process pool, or Ray.",
        ),
        click.option(
            "--workers",
            type=click.IntRange(min=1),
            help="Points run in parallel [default: all cores; 1 runs them in this process].",
        ),
        click.option(
            "--address",
            metavar="HOST:PORT",
            help="Ray cluster [default: start a local Ray instance].",
        ),
        click.option(
            "--wait", is_flag=True, help="If another sweep uses the output directory, wait for it."
        ),
        click.option(
            "--overwrite",
            is_flag=True,
            help="Run in an --out that holds another sweep (this sweep's index replaces its "
            "listing; its points stay in points/) or files of no sweep (kept).",
        ),
        app.quiet_option,
        app.force_option,
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _run_sweep(data: dict[str, Any], out: Path, options: dict[str, Any]) -> None:
    """Run a sweep with the command's options; print its outcome; exit 1 if a point failed.
    Without --force, a sweep with too many points or a point that cannot finish here is
    refused first; then the points' warnings are given (this expands the points once more:
    0.1-0.3 ms each)."""
    points = app.guarded_points(data, options["force"])
    app.warn([warning for point in points for warning in scenario_warnings(point.scenario)])
    display = None if options["quiet"] else (lambda total: Progress(total, "points"))
    index = run_sweep(
        data,
        out,
        options["executor"],
        options["workers"],
        options["address"],
        progress=display,
        wait=options["wait"],
        overwrite=options["overwrite"],
    )
    total, failed = len(index.points), index.count("failed")
    click.echo(
        f"{total} points: {index.count('done')} done ({index.skipped} already finished before), "
        f"{failed} failed"
    )
    click.echo(f"results written to {out} (index: {out / 'index.csv'})")
    if failed:
        click.echo(f"error: {failed} of {total} points failed; see {out / 'index.csv'}", err=True)
        raise SystemExit(1)


@app.scenario_command()
@app.out_option
@_sweep_options
def sweep(scenario_path: str, overrides: Sequence[str], out: Path | None, **options: Any) -> None:
    """Run the sweep of SCENARIO (resumable).

    Points already finished in the output directory (default: results/<name>-sweep) are
    skipped, so an interrupted sweep resumes where it stopped. One sweep at a time uses a
    directory: a second one refuses (or waits, with --wait).

    When several points run at once (--workers above 1, or Ray), a policy-gradient point
    whose oracle.workers is unset rolls out on its share of the cores (cores / points run at
    once, at least 1: in-process) instead of a pool over all cores per point; --set
    oracle.workers=N chooses instead. Results do not depend on it.

    --executor ray --address HOST:PORT uses a cluster started with `ray start --head
    --port=PORT` and the same Ray version; this machine's Ray token (RAY_AUTH_TOKEN,
    RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token) is sent unless RAY_AUTH_MODE says otherwise.
    """
    data = app.load_data(scenario_path, overrides)
    out = out or Path("results") / f"{data.get('name', Path(scenario_path).stem)}-sweep"
    _run_sweep(data, out, options)


@app.scenario_command()
@app.out_option
@click.option(
    "--lr",
    "grid",
    default="2**-k for k in 1..10",
    show_default=True,
    help="Step sizes: 'EXPR for k in A..B' or numbers separated by commas.",
)
@click.option(
    "--write",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write SCENARIO with the picked steps to this file (YAML; comments are not kept).",
)
@_sweep_options
def tune(
    scenario_path: str,
    overrides: Sequence[str],
    out: Path | None,
    grid: str,
    write: Path | None,
    **options: Any,
) -> None:
    """Tune each method's step size α over a grid, as the paper does.

    Runs a sweep (resumable, parallel: default directory results/<name>-tune) of every method
    with every α of the grid over the scenario's seeds (and any other swept field), then picks
    per method the α with the fewest runs that missed the target and the smallest mean time to
    target (missed runs counted at the end of their budget); ties: larger final return, else
    smaller final ||∇f||. A step with a run that diverged is never picked, and a pick at the
    edge of the grid is warned about. Writes DIRECTORY/tune.csv with every grid point and the
    picks.
    """
    data = app.load_data(scenario_path, overrides)
    steps = parse_grid(grid, "--lr")
    out = out or Path("results") / f"{data.get('name', Path(scenario_path).stem)}-tune"
    _run_sweep(tuning_sweep(data, steps), out, options)
    table = tuning_table(out)
    headers = [
        "method",
        "lr",
        "runs",
        "missed",
        "mean time to target",
        "final return",
        "final ||∇f||",
        "picked",
        "diverged",
    ]
    rows = [
        [
            p.method,
            p.lr,
            p.runs,
            p.missed,
            p.mean_time,
            p.mean_return,
            p.mean_grad_norm,
            "*" if p.picked else "",
            p.diverged,
        ]
        for p in table
    ]
    atomic_write(out / "tune.csv", table_text(headers, rows))
    click.echo(format_table(headers, rows))
    app.warn(edge_warnings(table))
    chosen = picks(table)
    click.echo("picked: " + ", ".join(f"{method}: lr = {lr:g}" for method, lr in chosen.items()))
    if write is not None:
        atomic_write(write, dump_yaml(tuned_scenario(data, chosen)))
        click.echo(f"scenario with the picked steps written to {write}")
