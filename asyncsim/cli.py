"""The ``asyncsim`` command (the composition root): run, sweep, tune, report, plot, emulate,
bounds, validate, list, schema.

User errors (:class:`~asyncsim.errors.AsyncSimError`, unusable paths) print one line
``error: <message>`` on stderr and exit with status 2; an interrupted command exits with 130.
Progress goes to stderr, tables and result locations to stdout.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import re
import shutil
import signal
import sys
import textwrap
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import click

from asyncsim import __version__, bounds, guards, theory
from asyncsim.config import Scenario, scenario_json_schema, scenario_warnings, validate_scenario
from asyncsim.core.registry import METHODS, ORACLES, TIME_MODELS, TOPOLOGIES
from asyncsim.csvtables import table_text
from asyncsim.errors import AsyncSimError, ConfigError, quote
from asyncsim.locks import locked
from asyncsim.plugins import (
    TRUST_VARIABLE,
    PluginWarning,
    check_trusted,
    load_plugin,
    trust_plugins,
)
from asyncsim.progress import Progress, throttled
from asyncsim.recorder import watching
from asyncsim.report import format_table, report_text, report_warnings
from asyncsim.results import (
    EMULATION_FILE,
    atomic_write,
    check_run_dir,
    results_kind,
    write_run,
)
from asyncsim.runner import MethodResult, MethodsFailed, RunResult, simulate
from asyncsim.scenario import dump_yaml, load_scenario_data, parse_override
from asyncsim.sweep import SweepPoint, expand_sweep, run_sweep, sweep_axes
from asyncsim.tune import (
    edge_warnings,
    parse_grid,
    picks,
    tuned_scenario,
    tuning_sweep,
    tuning_table,
)

__all__ = ["main"]


class _Group(click.Group):
    """Turns user errors into one ``error:`` line and exit status 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:  # output piped into e.g. `head`: stop quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            ctx.exit(1)
        except (AsyncSimError, OSError) as exc:
            click.echo(f"error: {' '.join(str(exc).split())}", err=True)
            ctx.exit(2)
        except KeyboardInterrupt:
            click.echo("interrupted: finished work is kept; re-run to resume a sweep", err=True)
            ctx.exit(130)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="asyncsim")
def main() -> None:
    """Simulate the wall-clock time of asynchronous distributed RL methods."""
    # SIGTERM (a batch scheduler, `kill`) stops like Ctrl-C: finished work is kept, a sweep's
    # pool is shut down instead of being left running without its driver
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    warnings.showwarning = _show_warning


def _show_warning(message: Warning | str, category: type[Warning], *args: Any, **kw: Any) -> None:
    """A broken installed plug-in's warning as one ``warning:`` line; others as Python does."""
    if issubclass(category, PluginWarning):
        click.echo(f"warning: {' '.join(str(message).split())}", err=True)
    else:
        _PYTHON_SHOW_WARNING(message, category, *args, **kw)


_PYTHON_SHOW_WARNING = warnings.showwarning


_overrides = click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="PATH=VALUE",
    help="Override a field, e.g. --set cluster.n=8 --set 'methods[0].lr=1e-3' (repeatable).",
)
_quiet = click.option("--quiet", "-q", is_flag=True, help="No progress display on stderr.")
_out = click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Output dir.")
_force = click.option(
    "--force",
    is_flag=True,
    help="Accept a scenario even if its estimated memory or time says it cannot finish on "
    "this machine.",
)


def _load_plugins(ctx: click.Context, param: click.Parameter, paths: Sequence[str]) -> None:
    """Load the --plugin files; the command's scenario lists them too (``_load``)."""
    ctx.meta["plugins"] = [str(load_plugin(path)) for path in paths]


def _trust(ctx: click.Context, param: click.Parameter, trusted: bool) -> None:
    """--trust-plugins: the scenario's plug-in files may be imported, by this command only."""
    if trusted:
        trust_plugins()
        ctx.call_on_close(lambda: trust_plugins(False))


_plugin = click.option(
    "--plugin",
    multiple=True,
    metavar="FILE",
    is_eager=True,
    expose_value=False,
    callback=_load_plugins,
    help="Python file registering methods, oracles or time models (repeatable); imported.",
)
_trust_plugins = click.option(
    "--trust-plugins",
    is_flag=True,
    is_eager=True,
    expose_value=False,
    callback=_trust,
    help="Import the plug-in files the scenario names (Python code run on this machine; "
    f"without this, or {TRUST_VARIABLE}=1, a scenario naming plug-ins is refused).",
)
_overwrite = click.option(
    "--overwrite",
    is_flag=True,
    help="Replace the results of another scenario (or of the other command) in --out, or "
    "write into a non-empty --out that holds no asyncsim results (its other files are kept).",
)


def _load(path: str, overrides: Sequence[str]) -> dict[str, Any]:
    data = load_scenario_data(path, [parse_override(text) for text in overrides])
    given = click.get_current_context().meta.get("plugins")
    if given:  # recorded in the scenario, so that sweep workers load them
        data["plugins"] = [*given, *(data.get("plugins") or [])]
    check_trusted(data.get("plugins") or [], "plugins")  # before anything else is validated
    return data


def _base_scenario(data: dict[str, Any], force: bool = True) -> Scenario:
    """The scenario without its sweep block, validated. Unless ``force``, one that cannot
    finish on this machine is refused first (the number of agents before validating:
    validation itself builds arrays of n values)."""
    if not force:
        for value in _raw_agents(data)[:1]:
            guards.check_agents(value)
    scenario = validate_scenario({key: value for key, value in data.items() if key != "sweep"})
    if not force:
        guards.check(scenario)
    return scenario


# ---------------------------------------------------------------- resource guards


def _raw_agents(data: Mapping[str, Any]) -> list[Any]:
    """The values ``cluster.n`` takes in the data and its sweep, as written (not validated)."""
    cluster = data.get("cluster")
    values = [cluster.get("n")] if isinstance(cluster, Mapping) else []
    axes = data.get("sweep")
    if isinstance(axes, Mapping):
        values += axes.get("cluster.n") or []
        values += [c.get("n") for c in axes.get("cluster") or [] if isinstance(c, Mapping)]
    return values


def _guarded_points(data: dict[str, Any], force: bool) -> list[SweepPoint]:
    """Every point of the sweep, validated and, unless ``force``, checked: the number of points
    before they are expanded, then each distinct point."""
    if not force:
        guards.check_sweep_size(sweep_axes(data))
        for value in _raw_agents(data):
            guards.check_agents(value)
    points = expand_sweep(data)
    if not force:
        checked: set[str] = set()
        for point in points:
            if point.key not in checked:
                checked.add(point.key)
                where = ", ".join(f"{path}={quote(value)}" for path, value in point.values.items())
                guards.check(point.scenario, f"sweep point {where}" if where else "")
    return points


WATCH_SECONDS = 0.25
"""Seconds between two looks at the running method (the display decides what it shows)."""


def _warn(warnings: Sequence[str]) -> None:
    """Valid, but probably not what was meant (:func:`scenario_warnings`): each once."""
    for warning in dict.fromkeys(warnings):
        click.echo(f"warning: {warning}", err=True)


def _warn_diverged(summaries: Sequence[dict[str, Any]]) -> None:
    for summary in summaries:
        if summary["stop_reason"] == "diverged":
            click.echo(
                f"warning: {summary['method']} diverged at iteration {summary['iterations']} "
                "(its gradient estimate, iterate or ||∇f|| stopped being finite); its tables "
                "end there",
                err=True,
            )


# ---------------------------------------------------------------- tables


# ---------------------------------------------------------------- run and sweep

#: table column of `asyncsim run` → summary.json key
_RUN_COLUMNS = {
    "simulated time": "total_time",
    "time to target": "time_to_target",
    "iterations": "iterations",
    "gradients used": "gradients_used",
    "uploads": "uploads",
}


@main.command()
@_plugin
@_trust_plugins
@click.argument("scenario_path", metavar="SCENARIO")
@_overrides
@_out
@_quiet
@click.option("--no-plots", is_flag=True, help="Do not write the figures.")
@_overwrite
@_force
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
    data = _load(scenario_path, overrides)
    scenario = _base_scenario(data, force)
    directory = out or Path("results") / scenario.name
    check_run_dir(directory, overwrite, scenario)  # refuse an unusable directory before simulating
    _warn(scenario_warnings(scenario))
    if data.get("sweep"):
        click.echo(
            "note: running the base scenario only; `asyncsim sweep` runs the sweep", err=True
        )
    with _writing_to(directory, "run"):
        started = time.time()
        try:
            result, failure = _simulated(scenario, quiet), None
        except MethodsFailed as exc:
            result, failure = exc.result, exc
        _warn_diverged(result.summary_table())
        if result.methods:
            directory = write_run(result, directory, started, overwrite=overwrite)
            rows = [[s["method"], *(s[k] for k in _RUN_COLUMNS.values())]
                    for s in result.summary_table()]  # fmt: skip
            click.echo(format_table(["method", *_RUN_COLUMNS], rows))
            click.echo(f"results written to {directory}")
            if not no_plots:
                from asyncsim import plots

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
        with watching(throttled(lambda status: display.update("", status), WATCH_SECONDS)):
            return simulate(scenario, progress=advance)
    finally:
        display.close()


@contextlib.contextmanager
def _writing_to(directory: Path, command: str) -> Iterator[None]:
    """Hold the lock of the output directory (created if needed) while ``command`` writes
    there: a second command writing there refuses with one line."""
    directory.mkdir(parents=True, exist_ok=True)
    with locked(directory, command):
        yield


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
        _quiet,
        _force,
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _run_sweep(data: dict[str, Any], out: Path, options: dict[str, Any]) -> None:
    """Run a sweep with the command's options; print its outcome; exit 1 if a point failed.
    Without --force, a sweep with too many points or a point that cannot finish here is
    refused first; then the points' warnings are given (this expands the points once more:
    0.1-0.3 ms each)."""
    points = _guarded_points(data, options["force"])
    _warn([warning for point in points for warning in scenario_warnings(point.scenario)])
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


@main.command()
@_plugin
@_trust_plugins
@click.argument("scenario_path", metavar="SCENARIO")
@_overrides
@_out
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
    data = _load(scenario_path, overrides)
    out = out or Path("results") / f"{data.get('name', Path(scenario_path).stem)}-sweep"
    _run_sweep(data, out, options)


@main.command()
@_plugin
@_trust_plugins
@click.argument("scenario_path", metavar="SCENARIO")
@_overrides
@_out
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
    data = _load(scenario_path, overrides)
    steps = parse_grid(grid)
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
    _warn(edge_warnings(table))
    chosen = picks(table)
    click.echo("picked: " + ", ".join(f"{method}: lr = {lr:g}" for method, lr in chosen.items()))
    if write is not None:
        atomic_write(write, dump_yaml(tuned_scenario(data, chosen)))
        click.echo(f"scenario with the picked steps written to {write}")


# ---------------------------------------------------------------- emulate

#: table column of `asyncsim emulate` → key of a method's report in emulation.json
_EMULATE_COLUMNS = {
    "simulated time": "simulated_total_time",
    "emulated time": "emulated_total_time",
    "total error": "total_time_error",
    "closest events (s)": "closest_events_s",
    "same decisions": "same_decisions",
}


@main.command()
@_plugin
@_trust_plugins
@click.argument("scenario_path", metavar="SCENARIO")
@_overrides
@_out
@click.option(
    "--time-scale",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="S: real seconds per modelled second.",
)
@click.option(
    "--executor",
    type=click.Choice(["local", "ray"]),
    default="local",
    show_default=True,
    help="A process per agent, or a Ray actor per agent.",
)
@click.option(
    "--address", metavar="HOST:PORT", help="Ray cluster [default: start a local Ray instance]."
)
@_quiet
@click.option("--no-plots", is_flag=True, help="Do not write the figures.")
@_overwrite
@click.option(
    "--force",
    is_flag=True,
    help="Start agents that may not fit this machine, or an emulation of more than a week.",
)
def emulate(
    scenario_path: str,
    overrides: Sequence[str],
    out: Path | None,
    time_scale: float,
    executor: str,
    address: str | None,
    quiet: bool,
    no_plots: bool,
    overwrite: bool,
    force: bool,
) -> None:
    """Run every method of SCENARIO on real asynchronous workers and measure the simulator's
    error.

    The server runs here with the method's own protocol code; each agent is a process (or a
    Ray actor) that computes real gradients and waits out its modelled times × S. Writes a run
    directory (default: results/<name>-emulated; times are real seconds ÷ S) with
    emulation.json, the comparison with the simulation of the same scenario, and prints it.

    Agents that cannot be started here (memory, descriptors, processes, more than 1,000) and
    an emulation of more than a week of real time (S × the simulated time) are refused unless
    --force; an S below the documented floor gets a warning.
    """
    from asyncsim.emulation import emulate as run_emulation
    from asyncsim.emulation import floor_warning
    from asyncsim.emulation.report import differences

    scenario = _base_scenario(_load(scenario_path, overrides))
    directory = out or Path("results") / f"{scenario.name}-emulated"
    check_run_dir(directory, overwrite, scenario, "emulation")
    warnings_due = [floor_warning(scenario, time_scale)]

    def announce(key: str, seconds: float) -> None:
        for warning in filter(None, warnings_due):  # once the refusals have passed
            click.echo(f"warning: {warning}", err=True)
        warnings_due.clear()
        if not quiet:
            click.echo(f"emulating {key}: about {seconds:.3g} s of real time", err=True)

    with _writing_to(directory, "emulate"):
        started = time.time()
        result = run_emulation(
            scenario, time_scale, executor, address, progress=announce, force=force
        )
        directory = write_run(
            result.emulated, directory, started, overwrite=overwrite, kind="emulation"
        )
        atomic_write(directory / EMULATION_FILE, json.dumps(result.report, indent=2) + "\n")
    methods = result.report["methods"]
    rows = [
        [key, *(report[k] for k in _EMULATE_COLUMNS.values())] for key, report in methods.items()
    ]
    click.echo(format_table(["method", *_EMULATE_COLUMNS], rows))
    for key, report in methods.items():
        for line in differences(report):
            click.echo(f"{key}: {line}")
    click.echo(f"results written to {directory} (comparison: {directory / 'emulation.json'})")
    if not no_plots:
        from asyncsim import plots

        plots.plot_run(directory, directory / "plots")
        click.echo(f"figures written to {directory / 'plots'}")


# ---------------------------------------------------------------- plot


@main.command()
@_plugin
@click.argument("directory", type=click.Path(path_type=Path))
@_out
def plot(directory: Path, out: Path | None) -> None:
    """Plot a run directory or a sweep directory.

    Figures (PNG and PDF) go to --out (default: DIRECTORY/plots).
    """
    from asyncsim import plots

    out = out or directory / "plots"
    if results_kind(directory) == "sweep":
        paths = plots.plot_sweep(directory, out)
    else:
        paths = plots.plot_run(directory, out)
    for path in paths:
        click.echo(str(path))


# ---------------------------------------------------------------- report


@main.command()
@_plugin
@click.argument("directory", type=click.Path(path_type=Path))
def report(directory: Path) -> None:
    """Paper-style table of a sweep or run directory.

    Per method and per value of the swept fields other than seed: time to target (total time
    without a target), mean ± standard error over the seeds (a run that missed the target counts
    at the end of its budget, marked "≥ ... (k/n missed)"), the closed-form cost per gradient,
    gradients used and uploads, and whether the measured order agrees with the closed forms
    (only where the runs reached a common target or used the same number of gradients).
    """
    results_kind(directory)  # one line for anything else
    _warn(report_warnings(directory))
    click.echo(report_text(directory))


# ---------------------------------------------------------------- bounds


def _bounds_row(scenario: Scenario, index: int) -> list[Any]:
    method = scenario.methods[index]
    row = bounds.method_bounds(scenario, method)
    batch = getattr(method.params, "batch", None)
    return [
        method.key,
        method.spec.protocol,
        batch,
        row.round_bound,
        row.first_round,
        row.round_time,
        row.total,
        row.gradient_cost,
    ]


@main.command(name="bounds")
@_plugin
@_trust_plugins
@click.argument("scenario_path", metavar="SCENARIO")
@_overrides
@click.option(
    "--eps", type=float, multiple=True, default=(0.1, 0.01), show_default=True, help="Target ε."
)
@click.option(
    "--constants",
    type=click.Choice(list(bounds.CONSTANTS_MODES)),
    default="oracle",
    show_default=True,
    help="L_g, L_h, σ², Δ of the shapes: "
    + "; ".join(f"{mode}: {text}" for mode, text in bounds.CONSTANTS_MODES.items()),
)
def bounds_(
    scenario_path: str, overrides: Sequence[str], eps: Sequence[float], constants: str
) -> None:
    """Closed-form round times, costs per gradient and complexity shapes (no simulation)."""
    for value in eps:
        if not 0 < value < math.inf:  # nan fails too
            raise ConfigError("--eps", f"must be a finite number > 0, got {value}")
    scenario = _base_scenario(_load(scenario_path, overrides))
    fixed = bounds.fixed_times(scenario)
    times = fixed if isinstance(fixed, theory.AgentTimes) else bounds.mean_times(scenario)
    kind = (
        "fixed times" if fixed is times else f"means of the time models ({fixed}; no exact forms)"
    )
    click.echo(
        f"n = {scenario.cluster.n}, H = {scenario.horizon}, τ_i = h_i·H from {kind}; "
        f"κ = max uplink = {times.kappa:.6g}, max(uplink, downlink) = {times.kappa_round:.6g}"
    )
    rows = [_bounds_row(scenario, index) for index in range(len(scenario.methods))]
    headers = [
        "method",
        "protocol",
        "M",
        "round bound",
        "exact t(M_init)",
        "exact t(M)",
        "total",
        "s/gradient",
    ]
    click.echo(format_table(headers, rows))
    cost = "exact" if fixed is times else "at mean times"
    click.echo(
        "round bound: the protocol's (Lemma C.1 rennala, Lemma C.2 malenia, max τ + 2κ "
        "synchronized), κ = max(uplink, downlink); total = t(M_init) + T·t(M) for an iteration "
        f"budget; s/gradient ({cost}): a round's time over its gradients, or the asynchronous "
        "steady state (Σ_i 1/(b_i + τ_i + κ_i))^-1; '-': the protocol has no closed form"
    )
    values = bounds.shape_constants(scenario, constants, {})
    click.echo(
        f"\nε-complexity shapes (logs dropped, O-constants 1; at τ_i = h_i·H and κ = max "
        f"uplink; {bounds.constants_text(values, constants)}):"
    )
    rows = [[label, *cells] for label, cells in bounds.shape_table(scenario, eps, values)]
    click.echo(format_table(["shape", *(f"eps={e:g}" for e in eps)], rows))


# ---------------------------------------------------------------- validate, list, schema


@main.command()
@_plugin
@_trust_plugins
@click.argument("scenario_path", metavar="SCENARIO")
@_overrides
@_force
def validate(scenario_path: str, overrides: Sequence[str], force: bool) -> None:
    """Check SCENARIO and every point of its sweep, and that each can finish on this machine
    (memory and time estimated from the fields; --force skips that check)."""
    data = _load(scenario_path, overrides)
    if data.get("sweep"):
        points = _guarded_points(data, force)
        distinct = len({point.key for point in points})
        what = f"sweep of {len(points)} points ({distinct} distinct)"
        scenario = points[0].scenario
        warnings = [w for point in points for w in scenario_warnings(point.scenario)]
    else:
        scenario = _base_scenario(data, force)
        what = f"{len(scenario.methods)} method(s), n = {scenario.cluster.n}"
        warnings = scenario_warnings(scenario)
    _warn(warnings)
    click.echo(f"OK: {scenario_path}: scenario {scenario.name!r} is valid; {what}")


def _environments() -> str:
    """The Gymnasium ids the policy-gradient oracle can use here, those of them on the MuJoCo
    fast path, then the others grouped by why not (a missing dependency, a discrete space)."""
    try:
        from asyncsim.rl.envs import buildable_env_ids
        from asyncsim.rl.mujoco_batch import fast_env_ids
    except ImportError as exc:
        return f"environments: none ({exc})"
    usable, unusable = buildable_env_ids()
    fast = [env_id for env_id in fast_env_ids() if env_id in usable]
    width = max(40, shutil.get_terminal_size().columns - 2)
    fill = functools.partial(textwrap.fill, width=width, subsequent_indent="    ")
    lines = [f"environments (Gymnasium ids for oracle.env, {len(usable)}):",
             fill(", ".join(usable), initial_indent="  "),
             f"  on the MuJoCo fast path (the others step through Gymnasium, {len(fast)}):",
             fill(", ".join(fast) or "none here", initial_indent="    ")]  # fmt: skip
    reasons: dict[str, list[str]] = {}
    for env_id, reason in unusable.items():
        reasons.setdefault(re.sub(r"Discrete\(\d+\)", "Discrete", reason), []).append(env_id)
    lines.append(f"not usable here ({len(unusable)}):")
    lines += [
        fill(f"{', '.join(ids)}: {reason}", initial_indent="  ") for reason, ids in reasons.items()
    ]
    return "\n".join(lines)


def _entries(entries: dict[str, str]) -> str:
    width = max(map(len, entries))
    return "\n".join(f"  {name.ljust(width)}  {text}" for name, text in entries.items())


@main.command(name="list")
@_plugin
def list_() -> None:
    """List methods (with their parameters), time models, oracles, topologies and
    environments."""
    methods = {}
    for name, spec in METHODS.items():
        aliases = METHODS.aliases_of(name)
        also = f"; also {', '.join(aliases)}" if aliases else ""
        fields = ", ".join(spec.params.model_fields)
        methods[name] = (
            f"{spec.title}: {spec.description} [{spec.protocol} × {spec.optimizer}{also}]"
            f" ({fields or 'no parameters'})"
        )
    click.echo("methods:\n" + _entries(methods))
    time_models = {kind: spec.description for kind, spec in TIME_MODELS.items()}
    click.echo("time models (cluster.compute/uplink/downlink kind):\n" + _entries(time_models))
    click.echo(
        "oracles (oracle.kind):\n" + _entries({k: s.description for k, s in ORACLES.items()})
    )
    topologies = {name: spec.description for name, spec in TOPOLOGIES.items()}
    click.echo("topologies (cluster.topology):\n" + _entries(topologies))
    click.echo(_environments())


@main.command()
@_plugin
def schema() -> None:
    """Print the JSON schema of a scenario file."""
    click.echo(json.dumps(scenario_json_schema(), indent=2))
